"""What hostile text files and inbox entries cost (issue 34, items 9-11), as a user pays it.

Each case is a whole process: ``ocean-import validate FILE --no-report --json`` for the text
files, ``ocean-import watch INBOX --once`` for the inbox entries; each bounded by ``--timeout``
(a case over it is printed as such: the code before issue 34 took minutes on some). Prints wall
seconds, peak memory and the exit code; ``--code DIR`` times another checkout of the project
(``git worktree add /tmp/before 5513492``), with this checkout's virtual environment.

    .venv/bin/python bench/hostile.py [--code /tmp/before] [--timeout 120]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = "idMission;jourHeureInter;nomVeh;ville"
# A mission the day after tomorrow (these files are refused before their dates are read).
WHEN = (dt.date.today() + dt.timedelta(days=2)).strftime("%d/%m/%Y 08:30")


def wide(path: Path, columns: int) -> Path:
    """One mission under a header of ``columns`` columns."""
    names = ";".join(f"c{i}" for i in range(columns - 4))
    path.write_text(f"{HEADER};{names}\nM1;{WHEN};VL;Lyon{';' * (columns - 4)}\n")
    return path


def empty_cells(path: Path, rows: int, width: int) -> Path:
    """``rows`` missions, each followed by empty cells up to ``width`` columns."""
    padding = ";" * (width - 4)
    with path.open("w") as handle:
        handle.write(HEADER + padding + "\n")
        for n in range(rows):
            handle.write(f"M{n};{WHEN};VL;Lyon{padding}\n")
    return path


# Runs the command in a child of its own, so that the peak memory is that command's.
_PROBE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "code = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
    "w = time.perf_counter() - t; p = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
    "print(w, p // 1024, code)"
)


def timed(command: list[str], cwd: Path, timeout: float) -> str:
    """Wall seconds, peak memory and exit code, or that it ran past ``timeout`` (killed)."""
    probe = subprocess.Popen([sys.executable, "-c", _PROBE, *command], cwd=cwd, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             start_new_session=True,  # its own group: killed whole, if late
                             env={**os.environ, "OCEAN_IMPORT_CONFIG": ""})  # fmt: skip
    try:
        out, _ = probe.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(probe.pid, signal.SIGKILL)
        probe.communicate()
        return f"> {timeout:g} s (killed)"
    wall, peak, code = out.split()
    return f"{float(wall):7.2f} s, peak {int(peak):6,d} MB, exit {code}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", type=Path, default=HERE.parent)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    python = [sys.executable, "-m", "importer"]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        cases = {
            "csv of 20,000 columns": wide(work / "wide-20k.csv", 20_000),
            "csv of 100,000 columns": wide(work / "wide-100k.csv", 100_000),
            "csv of 1,000,000 columns": wide(work / "wide-1m.csv", 1_000_000),
            "150,000 rows of 500 empty cells": empty_cells(work / "empty.csv", 150_000, 500),
        }
        for name, file in cases.items():
            size = file.stat().st_size / 1024
            command = [*python, "validate", str(file), "--no-report", "--json"]
            print(f"{name:<34} {size:>9,.0f} KB  {timed(command, args.code, args.timeout)}",
                  flush=True)  # fmt: skip
        inbox = work / "inbox"
        inbox.mkdir()
        config = work / "site.toml"
        config.write_text('customer_id = 1\n[ocean]\nbase_url = "http://127.0.0.1:9"\n'
                          'login = "x"\npassword = "x"\n')  # fmt: skip
        sparse = inbox / "tournee.csv"
        with sparse.open("wb") as handle:
            handle.truncate(200 * 1024**3)
        os.utime(sparse, (time.time() - 3600, time.time() - 3600))
        command = [*python, "watch", str(inbox), "--once", "--config", str(config),
                   "--state", str(work / "state.db")]  # fmt: skip
        print(
            f"{'watch --once, a 200 GB sparse file':<46} {timed(command, args.code, args.timeout)}"
        )
        sparse.unlink(missing_ok=True)
        # A named pipe in the inbox is never listed (not a regular file); the job's own step for
        # one file, given one (as if swapped in after the listing), is timed instead.
        os.mkfifo(inbox / "equipe.csv")
        step = ("import sys; from pathlib import Path; from importer.config import "
                "ImportOptions, load_settings; from importer.pipeline import open_state; "
                "from importer.watch import Watcher; i, s, c = map(Path, sys.argv[1:4]); "
                "store = open_state(s).__enter__(); "
                "print(Watcher(i, load_settings(c), store, ImportOptions(feed='', "
                "feed_from_name=True)).process(i / 'equipe.csv').outcome)")  # fmt: skip
        command = [sys.executable, "-c", step, str(inbox), str(work / "state.db"), str(config)]
        print(f"{'the job given a named pipe':<46} {timed(command, args.code, args.timeout)}")


if __name__ == "__main__":
    main()
