"""Benchmarks: print one line per figure and write bench/results.json.

    make bench            # or: .venv/bin/python bench/run.py [--rows 100000]

Each figure is measured next to its reference in the same run, so that ratios hold on a noisy
machine. Inputs are generated (seeded) under bench/data/, never committed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import python_calamine

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

from importer.config import Settings  # noqa: E402
from importer.pipeline import ValidationRun, check_file, validation_report  # noqa: E402

CLI = [sys.executable, "-m", "importer"]


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of ``runs`` wall-clock timings: the least disturbed by other load."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def cli_seconds(*args: str) -> tuple[float, int]:
    """Wall time of a whole CLI process (start-up included) and its peak RSS in MB."""
    started = time.perf_counter()
    completed = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, check=False, cwd=HERE.parent
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{args} failed ({completed.returncode}): {completed.stderr.strip()}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = args.rows
    data_dir = HERE / "data"
    data = generate.rows(rows)
    xlsx = data_dir / f"planning-{rows}.xlsx"
    csv = data_dir / f"planning-{rows}.csv"
    for path in (xlsx, csv):
        if not path.exists():
            print(f"generating {path.name} ...", flush=True)
            generate.write(path, data)

    figures: dict[str, float] = {}

    def record(name: str, value: float, unit: str, note: str = "") -> None:
        figures[name] = round(value, 3)
        print(f"{name:<44} {value:>10.3f} {unit:<6} {note}", flush=True)

    calamine = best_of(
        args.runs,
        lambda: python_calamine.load_workbook(str(xlsx)).get_sheet_by_index(0).to_python(),
    )
    record("xlsx bare calamine parse", calamine, "s", f"({rows} rows, reference)")
    read_csv = best_of(args.runs, lambda: pd.read_csv(csv, sep=";", encoding="cp1252", dtype=str))
    record("csv bare pandas.read_csv", read_csv, "s", "(reference)")

    settings = Settings()
    for label, path, reference in (("xlsx", xlsx, calamine), ("csv", csv, read_csv)):
        in_process = best_of(args.runs, lambda p=path: check_file(p, settings))
        record(f"{label} read+validate in process", in_process, "s",
               f"ratio {in_process / reference:.2f} x bare parse")  # fmt: skip
        wall, _ = min(cli_seconds("validate", str(path), "--no-report") for _ in range(args.runs))
        record(f"{label} `validate --no-report` whole command", wall, "s",
               f"{rows / wall:,.0f} rows/s, ratio {wall / reference:.2f} x bare parse")  # fmt: skip

    checked = check_file(xlsx, settings)
    now = dt.datetime.now(dt.UTC)
    out = data_dir / "report.validation.xlsx"
    writing = best_of(1, lambda: validation_report(ValidationRun(checked, "bench", now, now), out))
    record(
        "validation workbook write", writing, "s", f"({rows} rows, {rows / writing:,.0f} rows/s)"
    )

    _, peak_mb = cli_seconds("validate", str(xlsx), "--report", str(out))
    record("peak RSS of `validate` with workbook", peak_mb, "MB", "(xlsx, largest child so far)")

    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows": rows,
        "figures": figures,
        "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"figures written to {HERE / 'results.json'}")


if __name__ == "__main__":
    main()
