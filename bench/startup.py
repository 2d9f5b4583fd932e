"""Start-up: how long a command takes before it does any work, as a user runs it (a new
process each time). The CLI's help and a mistyped line should answer in 0.3 s at most; the
reference, a bare `python -c pass`, is measured in the same run. Also which heavy libraries a
`validate` loads (it needs none of the network side nor the web page).

    .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import rows_for, write_planning  # noqa: E402

TARGET = 0.3
NETWORK_SIDE = ("httpx", "psycopg", "starlette", "uvicorn", "apprise", "importer.web",
                "importer.ocean.client")  # fmt: skip


def compile_bytecode() -> None:
    """The project's modules compiled ahead, as an installed package has them (pip compiles
    on install, `make install` too): where PYTHONDONTWRITEBYTECODE is set, as on the machine
    of these figures, an editable checkout would otherwise compile its sources at every start
    (0.04-0.06 s here), which no user's install pays."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "importer")], check=True)


def timed(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, cwd=ROOT, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    cli = str(Path(sys.executable).with_name("ocean-import"))
    compile_bytecode()
    with tempfile.TemporaryDirectory() as folder:
        planning = write_planning(Path(folder) / "tournee.xlsx", rows_for(1, 20))
        bare = timed([sys.executable, "-c", "pass"], runs)
        print(f"python -c pass (the floor)           {bare:6.3f} s")
        for name, command in (
            ("ocean-import --help", [cli, "--help"]),
            ("ocean-import run --help", [cli, "run", "--help"]),
            ("ocean-import run (a mistyped line)", [cli, "run"]),
            ("ocean-import validate (20 rows)", [cli, "validate", str(planning), "--no-report"]),
        ):
            seconds = timed(command, runs)
            verdict = (
                ""
                if "validate" in name
                else (f"  target <= {TARGET} s: {'met' if seconds <= TARGET else 'MISSED'}")
            )
            print(f"{name:36} {seconds:6.3f} s  ({seconds / bare:4.1f} x the floor){verdict}")
        probe = (
            "import sys; from importer.cli import main\n"
            f"try:\n    main(['validate', {str(planning)!r}, '--no-report'])\n"
            "except SystemExit:\n    pass\n"
            f"print(sorted({{m.split('.')[0] if not m.startswith('importer') else m for m in "
            f"sys.modules if m.startswith({NETWORK_SIDE!r})}}))"
        )
        loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                cwd=ROOT, check=False).stdout.strip().splitlines()[-1]  # fmt: skip
        print(f"network side or web loaded by validate: {loaded}")


if __name__ == "__main__":
    main()
