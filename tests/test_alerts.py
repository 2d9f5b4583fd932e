"""Alerts to the operator, sent with Apprise to real receivers on loopback (a webhook server
and an SMTP server the test starts): once when the job starts needing a person, once when
it recovers, a late file, the Ocean password; never a secret; a receiver down never fails
an import."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result

from importer.cli import main
from importer.sandbox import SandboxServer, World
from importer.sandbox.world import Account
from tests.helpers import CUSTOMER, free_port, rows_for, write_planning

OCEAN_PASSWORD = "Ocean-S3cret-2026"
SMTP_PASSWORD = "smtp-S3cret"


class Receivers:
    """A webhook receiver and an SMTP server, each keeping what it got."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.mails: list[str] = []
        posts = self.posts

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                posts.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        mails = self.mails

        class Mailbox:
            async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
                mails.append(envelope.content.decode(errors="replace"))
                return "250 OK"

        self.smtp_port = free_port()
        self.smtp = Controller(Mailbox(), hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

    @property
    def urls(self) -> list[str]:
        return [f"json://127.0.0.1:{self.http.server_address[1]}/hook",
                f"mailto://127.0.0.1:{self.smtp_port}?from=job@depot.example"
                f"&to=ops@depot.example&mode=insecure"]  # fmt: skip

    def titles(self) -> list[str]:
        return [post["title"] for post in self.posts]

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.smtp.stop()


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    made = Receivers()
    yield made
    made.stop()


class Job:
    def __init__(
        self, sandbox: SandboxServer, folder: Path, urls: list[str], extra: str = ""
    ) -> None:
        self.sandbox, self.folder = sandbox, folder
        self.inbox = folder / "inbox"
        self.inbox.mkdir()
        self.config = folder / "site.toml"
        listed = ", ".join(json.dumps(url) for url in urls)
        self.config.write_text(f'timezone = "Europe/Paris"\ncustomer_id = {CUSTOMER}\n{extra}'
                               f"[alerts]\nurls = [{listed}]\n")  # fmt: skip
        self.env = {"OCEAN_BASE_URL": sandbox.base_url, "OCEAN_LOGIN": "dispatch",
                    "OCEAN_PASSWORD": OCEAN_PASSWORD, "OCEAN_IMPORT_CONFIG": ""}  # fmt: skip

    def watch(self) -> Result:
        line = ["watch", str(self.inbox), "--once", "--config", str(self.config),
                "--state", str(self.folder / "state.db")]  # fmt: skip
        return CliRunner().invoke(main, line, env=self.env, catch_exceptions=False)

    def drop(self, name: str, rows: list[dict[str, Any]]) -> None:
        path = write_planning(self.inbox / name, rows)
        settled = time.time() - 3600
        os.utime(path, (settled, settled))


@pytest.fixture
def account_sandbox() -> Iterator[SandboxServer]:
    world = World([Account("dispatch", OCEAN_PASSWORD, customers=(CUSTOMER,), password_days=5)])
    with SandboxServer(world) as sandbox:
        yield sandbox


def test_a_failing_job_alerts_once_and_its_recovery_once(
    account_sandbox: SandboxServer, receivers: Receivers, tmp_path: Path
) -> None:
    job = Job(account_sandbox, tmp_path, receivers.urls)
    broken = rows_for(1, 3)
    broken[1]["jourHeureInter"] = "pas une date"
    job.drop("tournee.xlsx", broken)
    assert job.watch().exit_code == 1
    feed_alerts = [t for t in receivers.titles() if "tournee" in t]
    assert feed_alerts == ["ocean-import: the feed tournee: needs a person"]
    [post] = [p for p in receivers.posts if "tournee" in p["title"]]
    assert "file: tournee.xlsx" in post["message"] and "exit code: 1" in post["message"]
    assert "outcome ok: 2" in post["message"]  # the counts

    job.drop("tournee.xlsx", [*broken, *rows_for(2, 1, prefix="B")])  # fails again: quiet
    assert job.watch().exit_code == 1
    assert [t for t in receivers.titles() if "tournee" in t] == feed_alerts

    job.drop("tournee.xlsx", rows_for(1, 3))  # mended
    assert job.watch().exit_code == 0
    assert [t for t in receivers.titles() if "tournee" in t] == [
        *feed_alerts,
        "ocean-import: the feed tournee: back to normal",
    ]
    assert job.watch().exit_code == 0  # fine again: quiet
    assert len([t for t in receivers.titles() if "tournee" in t]) == 2

    # The same alerts by e-mail; the Ocean password expiring soon said once.
    assert sum("the feed tournee" in mail for mail in receivers.mails) == 2
    assert receivers.titles().count("ocean-import: the Ocean password: needs a person") == 1
    for said in [*map(json.dumps, receivers.posts), *receivers.mails]:
        assert OCEAN_PASSWORD not in said and SMTP_PASSWORD not in said


def test_a_late_file_alerts_once_and_its_arrival_once(
    account_sandbox: SandboxServer, receivers: Receivers, tmp_path: Path
) -> None:
    # Due at midnight: late all day long until it comes, whatever the hour of the test.
    job = Job(account_sandbox, tmp_path, receivers.urls,
              extra='[feeds.tournee]\nexpected_by = "00:00"\n')  # fmt: skip
    assert job.watch().exit_code == 0  # an empty inbox
    late = [t for t in receivers.titles() if "expected by 00:00" in t]
    assert late == ["ocean-import: the file of the feed tournee, expected by 00:00: needs a person"]
    assert job.watch().exit_code == 0
    assert [t for t in receivers.titles() if "expected by" in t] == late  # once
    job.drop("tournee.xlsx", rows_for(1, 2))
    assert job.watch().exit_code == 0
    assert [t for t in receivers.titles() if "expected by" in t] == [
        *late,
        "ocean-import: the file of the feed tournee, expected by 00:00: back to normal",
    ]


def test_an_alert_that_cannot_be_sent_never_fails_the_import_and_is_tried_again(
    account_sandbox: SandboxServer, receivers: Receivers, tmp_path: Path
) -> None:
    down = f"json://user:{SMTP_PASSWORD}@127.0.0.1:{free_port()}/hook"  # nobody listens
    job = Job(account_sandbox, tmp_path, [down])
    broken = rows_for(1, 2)
    broken[0]["jourHeureInter"] = "pas une date"
    job.drop("tournee.xlsx", broken)
    result = job.watch()
    assert result.exit_code == 1  # the import's own code: the alert's failure changes nothing
    assert "an alert could not be sent" in result.output
    assert SMTP_PASSWORD not in result.output
    assert len(account_sandbox.world.missions()) == 1
    # The receiver back: the alert not sent is sent by the next failing run.
    job.config.write_text(job.config.read_text().replace(json.dumps(down),
                                                         json.dumps(receivers.urls[0])))  # fmt: skip
    job.drop("tournee.xlsx", [*broken, *rows_for(2, 1, prefix="B")])
    assert job.watch().exit_code == 1
    assert "ocean-import: the feed tournee: needs a person" in receivers.titles()
