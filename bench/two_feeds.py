"""Two depots at once: does a second feed wait behind the first? Times one ``run`` of a feed
alone, then two runs of two feeds started together (two processes, as two hosts would), into
one state store, against the sandbox with a remote Ocean's latency. The ratio is both-at-once
over one-alone: 1.0 is full overlap, 2.0 is one behind the other (the store-wide lock of
before). On a throwaway PostgreSQL server (Debian's, as the tests start it), and on SQLite.

    .venv/bin/python bench/two_feeds.py [--rows 300] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from importer.sandbox import Faults, SandboxServer, World  # noqa: E402
from tests.helpers import CUSTOMER, rows_for, write_planning  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402


def timed_runs(files: list[Path], state: str, sandbox: SandboxServer, folder: Path) -> float:
    """Wall time until every ``run`` started together has finished."""
    config = folder / "ocean-import.toml"
    config.write_text(f'timezone = "Europe/Paris"\ncustomer_id = {CUSTOMER}\n')
    env = {**os.environ, "OCEAN_BASE_URL": sandbox.base_url, "OCEAN_LOGIN": "demo",
           "OCEAN_PASSWORD": "demo", "OCEAN_IMPORT_CONFIG": ""}  # fmt: skip
    started = time.perf_counter()
    runs = [subprocess.Popen([sys.executable, "-m", "importer", "run", str(file), "--no-report",
                              "--config", str(config), "--state", state, "-q"],
                             env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
            for file in files]  # fmt: skip
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    postgres = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            north = write_planning(folder / "depot-nord.xlsx", rows_for(1, args.rows, "N"))
            south = write_planning(folder / "depot-sud.xlsx", rows_for(1, args.rows, "S"))
            print(f"{args.rows} creates per feed, Ocean latency {args.latency * 1000:.0f} ms, "
                  f"concurrency 8 per run")  # fmt: skip
            for backend in ("postgresql", "sqlite"):
                times = {}
                for case, files in (("one feed alone", [north]),
                                    ("two feeds at once", [north, south])):  # fmt: skip
                    with SandboxServer(World(faults=Faults(latency=args.latency))) as sandbox:
                        state = (postgres.new_database() if backend == "postgresql"
                                 else str(folder / f"{case}.db"))  # fmt: skip
                        times[case] = timed_runs(files, state, sandbox, folder)
                        calls = len(files) * args.rows
                        print(f"  {backend:10} {case:18} {times[case]:6.2f} s  "
                              f"{calls / times[case]:6.0f} creates/s")  # fmt: skip
                ratio = times["two feeds at once"] / times["one feed alone"]
                print(f"  {backend:10} ratio both / one: {ratio:.2f} (1.0: side by side, "
                      f"2.0: one behind the other)")  # fmt: skip
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
