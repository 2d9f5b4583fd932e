"""The web page's login: does an answer say whether a user exists? Times a wrong password for
a known user against any password for an unknown one, over loopback, the page in a thread
(as ``ocean-import serve`` runs it). The lockout is reset before each try (it would answer
429 at once after five).

    .venv/bin/python bench/web_login.py [--tries 15]
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from importer.config import Settings
from importer.web.app import WebConfig, create_web_app
from importer.web.passwords import hash_password
from importer.web.sessions import Attempts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=15)
    tries = parser.parse_args().tries
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(web_users={"marie": hash_password("Planning-2026!")})
        app = create_web_app(WebConfig(settings, Path(folder) / "state.db", Path(folder) / "work",
                                       secure_cookies=False))  # fmt: skip
        listening = socket.create_server(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        times: dict[str, list[float]] = {"known user, wrong password": [], "unknown user": []}
        with httpx.Client(base_url=url) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert token is not None
            for _ in range(tries):
                for what, user in (("known user, wrong password", "marie"),
                                   ("unknown user", "personne")):  # fmt: skip
                    app.state.attempts = Attempts()
                    started = time.perf_counter()
                    answer = client.post("/login", data={"user": user, "password": "x",
                                                         "csrf": token[1]})  # fmt: skip
                    times[what].append(time.perf_counter() - started)
                    assert answer.status_code == 401
        server.should_exit = True
        thread.join(10)
    known, unknown = (statistics.median(values) for values in times.values())
    print(f"login, known user, wrong password: {known * 1000:.1f} ms (median of {tries})")
    print(f"login, unknown user:               {unknown * 1000:.1f} ms")
    ratio = unknown / known
    print(f"ratio unknown / known: {ratio:.2f} (target: within 20%, 0.80 to 1.20: "
          f"{'met' if 0.8 <= ratio <= 1.2 else 'NOT met'})")  # fmt: skip


if __name__ == "__main__":
    main()
