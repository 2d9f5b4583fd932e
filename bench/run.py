"""Benchmarks: one line per figure, with its reference, ratio and target; bench/results.json.

    make bench                          # everything, about 6 minutes on 2 cores
    .venv/bin/python bench/run.py --only read,plan

Each figure is measured next to its reference in the same run, so that the ratio holds on a
noisy machine. Inputs are generated (seeded) under bench/data/, never committed. The sandbox
runs in its own process, as a remote service would.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import python_calamine
import xlsxwriter
from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import startup  # noqa: E402

from importer.config import ImportOptions, Settings  # noqa: E402
from importer.diff import payload_hashes, payloads  # noqa: E402
from importer.pipeline import check_file, make_plan  # noqa: E402
from importer.report import ReportContent, _results_frame  # noqa: E402
from importer.results import RESULT_COLUMNS, ImportRun  # noqa: E402
from importer.schemas.state import NO_CUSTOMER  # noqa: E402
from importer.state import StateStore  # noqa: E402
from importer.workbooks import import_report  # noqa: E402

CLI = [sys.executable, "-m", "importer"]
DATA = HERE / "data"
FIGURES: dict[str, dict[str, Any]] = {}


def record(
    name: str,
    value: float,
    unit: str,
    *,
    reference: float | None = None,
    ratio_of: str = "",
    target: str = "",
    met: bool | None = None,
) -> None:
    """Print one figure (with its ratio to the reference and its target) and keep it."""
    entry: dict[str, Any] = {"value": round(value, 4), "unit": unit}
    text = f"{name:<52} {value:>10.3f} {unit:<7}"
    if reference is not None:
        entry["ratio"] = round(value / reference, 3)
        text += f" {value / reference:6.2f} x {ratio_of}"
    if target:
        entry |= {"target": target, "met": met}
        text += f"   target {target}: {'met' if met else 'MISSED'}"
    FIGURES[name] = entry
    print(text, flush=True)


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of ``runs`` timings: the least disturbed by other load."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def planning(rows: int, suffix: str) -> Path:
    """The seeded planning of ``rows`` rows (dated from today: regenerated each day)."""
    path = DATA / f"planning-{rows}-{dt.date.today():%Y%m%d}{suffix}"
    if not path.exists():
        print(f"  (generating {path.name})", flush=True)
        generate.write(path, generate.rows(rows))
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Run the CLI in a child: wall seconds, CPU seconds, peak RSS in MB."""
    probe = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "code = subprocess.run(sys.argv[1:]).returncode; w = time.perf_counter() - t; "
        "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
        "print(w, u.ru_utime + u.ru_stime, u.ru_maxrss // 1024, code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *CLI, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    wall, cpu, rss, code = done.stdout.split()[-4:]
    if int(code) not in (0, 1):
        raise SystemExit(f"{args} exited {code}")
    return float(wall), float(cpu), int(rss)


# -- start-up and read + validate --------------------------------------------------------


def bench_startup(runs: int) -> None:
    """A command as a user types it, a new process each time (see bench/startup.py)."""
    command = str(Path(sys.executable).with_name("ocean-import"))
    startup.compile_bytecode()
    floor = startup.timed([sys.executable, "-c", "pass"], runs * 2)
    record("python -c pass (the floor)", floor, "s")
    for name, args in (("--help", ["--help"]), ("a mistyped line (run)", ["run"])):
        seconds = startup.timed([command, *args], runs * 2)
        record(f"ocean-import {name}", seconds, "s", reference=floor, ratio_of="the floor",
               target=f"<= {startup.TARGET} s", met=seconds <= startup.TARGET)  # fmt: skip


def bench_read(runs: int) -> None:
    settings = Settings()
    for rows in (10_000, 100_000):
        xlsx, csv = planning(rows, ".xlsx"), planning(rows, ".csv")
        calamine = best_of(
            runs,
            lambda p=xlsx: python_calamine.load_workbook(str(p)).get_sheet_by_index(0).to_python(),
        )
        record(f"bare calamine parse, xlsx {rows:,}", calamine, "s")
        ours = best_of(runs, lambda p=xlsx: check_file(p, settings))
        target = "<= 1.3 x calamine" if rows == 100_000 else ""
        record(
            f"read+validate, xlsx {rows:,}",
            ours,
            "s",
            reference=calamine,
            ratio_of="calamine",
            target=target,
            met=ours <= 1.3 * calamine,
        )
        read_csv = best_of(
            runs, lambda p=csv: pd.read_csv(p, sep=";", encoding="cp1252", dtype=str)
        )
        record(f"bare pandas.read_csv, csv {rows:,}", read_csv, "s")
        ours = best_of(runs, lambda p=csv: check_file(p, settings))
        target = "<= 2 s" if rows == 100_000 else ""
        record(
            f"read+validate, csv {rows:,}",
            ours,
            "s",
            reference=read_csv,
            ratio_of="read_csv",
            target=target,
            met=ours <= 2.0,
        )
        if rows == 100_000:
            bench_read_as_a_user(runs, xlsx, csv)


def whole(runs: int, command: list[str]) -> float:
    """The fastest of ``runs`` whole processes (start-up included, as a user pays it)."""
    return best_of(runs, lambda: subprocess.run(command, capture_output=True, cwd=ROOT,
                                                check=False))  # fmt: skip


def bench_read_as_a_user(runs: int, xlsx: Path, csv: Path) -> None:
    """``ocean-import validate --no-report --json`` as a new process, as a dispatcher or the
    job runs it: start-up, the reading child under its caps, the validation. The reference for
    the workbook is a bare python-calamine parse, as a process too."""
    command = str(Path(sys.executable).with_name("ocean-import"))
    parse = (
        "import python_calamine, sys; "
        "python_calamine.load_workbook(sys.argv[1]).get_sheet_by_index(0).to_python()"
    )
    calamine = whole(runs, [sys.executable, "-c", parse, str(xlsx)])
    record("bare calamine parse, xlsx 100,000 (process)", calamine, "s")
    ours = whole(runs, [command, "validate", str(xlsx), "--no-report", "--json"])
    record("validate --no-report --json, xlsx 100,000 (process)", ours, "s", reference=calamine,
           ratio_of="calamine", target="<= 1.3 x calamine", met=ours <= 1.3 * calamine)  # fmt: skip
    ours = whole(runs, [command, "validate", str(csv), "--no-report", "--json"])
    record("validate --no-report --json, csv 100,000 (process)", ours, "s", target="<= 2 s",
           met=ours <= 2.0)  # fmt: skip


# -- plan --------------------------------------------------------------------------------


def seeded_state(path: Path, source: Path, feed: str) -> None:
    """A state that accepted every mission of ``source`` (written in bulk: a bench shortcut)."""
    checked = check_file(source, Settings())
    sent = payloads(checked)
    hashes = payload_hashes(sent)
    StateStore(path).close()
    records = [
        (
            int(c) if c else NO_CUSTOMER,
            i,
            feed,
            json.dumps(p, ensure_ascii=False),
            h,
            when.isoformat(),
            None if pd.isna(until) else until.isoformat(),
            "2026-01-01",
        )
        for c, i, p, h, when, until in zip(
            sent["customerId"],
            sent["idMission"],
            sent.to_dict(orient="records"),
            hashes,
            checked.missions["jourHeureInter"],
            checked.missions["jourHeurePeremp"],
            strict=True,
        )
    ]
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO missions (customer_id, id_mission, feed, payload, payload_hash, "
            "intervention_at, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            records,
        )


def edited_planning(rows: int) -> Path:
    """The ``rows`` planning with 10% of the rows changed and 5% removed."""
    path = DATA / f"planning-{rows}-{dt.date.today():%Y%m%d}-edited.csv"
    if not path.exists():
        data = generate.rows(rows)
        kept = [row for n, row in enumerate(data) if n % 20 != 7]
        for n, row in enumerate(kept):
            if n % 10 == 3:
                row[7] = "Modifié pour le bench"
        generate.write(path, kept)
    return path


def bench_plan(runs: int) -> None:
    rows = 100_000
    edited = edited_planning(rows)
    folder = Path(tempfile.mkdtemp(dir=DATA))
    state_path = folder / "state.db"
    seeded_state(state_path, planning(rows, ".csv"), "planning")
    settings = Settings()
    options = ImportOptions(feed="planning")
    validate = best_of(runs, lambda: check_file(edited, settings))
    with StateStore(state_path) as state:
        now = dt.datetime.now(dt.UTC)

        def plan() -> None:
            make_plan(check_file(edited, settings), state, options, now=now)

        planned = best_of(runs, plan)
        result = make_plan(check_file(edited, settings), state, options, now=now)
    counts = result.counts
    print(
        f"  (plan: {counts['modify']:,} modify, {result.count('delete'):,} delete, "
        f"{counts['unchanged']:,} unchanged)"
    )
    record("validate, csv 100,000 (edited)", validate, "s")
    record(
        "plan, csv 100,000 vs state of 100,000",
        planned,
        "s",
        reference=validate,
        ratio_of="validate",
    )
    record(
        "plan adds over validate",
        planned - validate,
        "s",
        target="<= 1 s",
        met=planned - validate <= 1.0,
    )


# -- push --------------------------------------------------------------------------------


class Sandbox:
    """``ocean-import sandbox`` in its own process."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [*CLI, "sandbox", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.control = httpx.Client(base_url=f"http://127.0.0.1:{self.port}/_sandbox/")
        for _ in range(200):
            try:
                self.control.get("faults")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        self.base_url = f"http://127.0.0.1:{self.port}/ocean/restapi"
        self.env = {
            "OCEAN_BASE_URL": self.base_url,
            "OCEAN_LOGIN": "demo",
            "OCEAN_PASSWORD": "demo",
        }

    def reset(self, latency_ms: float, rate_limit: float = 0.0) -> None:
        self.control.post("reset")
        self.control.post("faults", json={"latency": latency_ms / 1000, "rate_limit": rate_limit})

    def answered(self, status: int) -> tuple[int, int]:
        """Mission calls answered ``status``, and mission calls in all."""
        calls = [e for e in self.control.get("requests").json() if e["operation"] != "authenticate"]
        return sum(e["http_status"] == status for e in calls), len(calls)

    def operations(self) -> list[str]:
        return [e["operation"] for e in self.control.get("requests").json()]

    def count(self) -> int:
        return len(self.control.get("missions").json())

    def close(self) -> None:
        self.control.close()
        self.process.terminate()
        self.process.wait()


def push_run(sandbox: Sandbox, file: Path, concurrency: int) -> tuple[float, float, float]:
    """Wall and CPU seconds of a whole `run`, and the seconds of its push phase alone (from
    the first confirmed change to the last, as the state's outcomes record them)."""
    with tempfile.TemporaryDirectory(dir=DATA) as folder:
        wall, cpu, _ = cli(
            "run", str(file), "--state", f"{folder}/state.db", "--concurrency", str(concurrency),
            "--report", f"{folder}/results.xlsx", env=sandbox.env,
        )  # fmt: skip
        with sqlite3.connect(f"{folder}/state.db") as db:
            first, last = db.execute(
                "SELECT MIN(at), MAX(at) FROM outcomes WHERE outcome = 'ok'"
            ).fetchone()
    push = (dt.datetime.fromisoformat(last) - dt.datetime.fromisoformat(first)).total_seconds()
    return wall, cpu, push


async def bare_loop(base_url: str, calls: list[dict[str, str]], concurrency: int) -> None:
    """The reference: a plain httpx.AsyncClient making the same creates, nothing else."""
    async with httpx.AsyncClient(
        base_url=base_url + "/",
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    ) as client:
        answer = await client.post("auth/authenticate2", json={"login": "demo", "password": "demo"})
        headers = {"X-AUTH-TOKEN": answer.json()["token"]}
        gate = asyncio.Semaphore(concurrency)

        async def one(params: dict[str, str]) -> None:
            async with gate:
                response = await client.post(
                    "geomission/ajoutMission", params=params, headers=headers
                )
                response.raise_for_status()

        await asyncio.gather(*(one(params) for params in calls))


def bench_push(creates: int) -> None:
    """Ocean answering in 100 ms: the push phase of a run beside a bare httpx.AsyncClient loop
    making the same creates on the same sandbox (target: within 5 %). The two take turns,
    twice, and each keeps its best: this machine's speed drifts within minutes."""
    file = planning(creates, ".csv")
    small = planning(200, ".csv")
    sent = payloads(check_file(file, Settings()))
    calls = [{k: v for k, v in row.items() if v != ""} for row in sent.to_dict(orient="records")]
    sandbox = Sandbox()
    try:
        for concurrency, source, count in ((1, small, 200), (8, file, creates)):
            sandbox.reset(100)
            wall, _, push = push_run(sandbox, source, concurrency)
            assert sandbox.count() == count
            record(f"push {count:,} creates, 100 ms, concurrency {concurrency}", count / wall,
                   "calls/s", reference=concurrency / 0.1, ratio_of="ideal")  # fmt: skip
        bare_runs, our_runs = [], []
        for _ in range(2):
            sandbox.reset(100)
            started = time.perf_counter()
            asyncio.run(bare_loop(sandbox.base_url, calls, 16))
            bare_runs.append(time.perf_counter() - started)
            assert sandbox.count() == len(calls)
            sandbox.reset(100)
            our_runs.append(push_run(sandbox, file, 16))
            assert sandbox.count() == creates
        bare_rate = len(calls) / min(bare_runs)
        wall, _, push = min(our_runs, key=lambda run: run[2])
        record(f"bare httpx loop {creates:,} creates, 100 ms, conc. 16", bare_rate, "calls/s",
               reference=16 / 0.1, ratio_of="ideal")  # fmt: skip
        push_rate = (creates - 1) / push
        record(
            f"push phase, {creates:,} creates, 100 ms, concurrency 16",
            push_rate,
            "calls/s",
            reference=bare_rate,
            ratio_of="bare loop",
            target=">= 0.95 x bare loop",
            met=push_rate >= 0.95 * bare_rate,
        )
        record(f"  the whole run, {creates:,} creates", creates / wall, "calls/s",
               reference=bare_rate, ratio_of="bare loop")  # fmt: skip
        record("  its start-up, read, validate, plan, workbook", wall - push, "s")
    finally:
        sandbox.close()


def bench_adaptive() -> None:
    """Ocean limited to 15 requests/s (it documents no limit): the run finds it, from the
    concurrency of 16 down, without a storm of 429s."""
    limit, creates = 15, 1000
    file = planning(creates, "-adaptive.csv")
    sandbox = Sandbox()
    try:
        sandbox.reset(20, rate_limit=limit)
        wall, _, push = push_run(sandbox, file, 16)
        assert sandbox.count() == creates
        throttled, calls = sandbox.answered(429)
    finally:
        sandbox.close()
    ideal = creates / limit
    record(f"push {creates:,} creates against {limit} requests/s, conc. 16", push, "s",
           reference=ideal, ratio_of="ideal", target="<= 1.15 x ideal",
           met=push <= 1.15 * ideal)  # fmt: skip
    share = throttled / calls * 100
    record("  calls answered 429", share, "%", target="<= 5 %", met=share <= 5)
    record("  whole run (start-up, reading, workbook included)", wall, "s")


def bench_daily() -> None:
    """A dispatcher's day: a 2,000-row planning already sent, one row changed, run again."""
    rows = 2000
    sent = planning(rows, "-daily.csv")
    changed = DATA / f"planning-{rows}-{dt.date.today():%Y%m%d}-daily-changed.csv"
    data = generate.rows(rows)
    data[1234][7] = "Sonner deux fois"
    generate.write(changed, data)
    sandbox = Sandbox()
    try:
        sandbox.reset(20)
        with tempfile.TemporaryDirectory(dir=DATA) as folder:
            state = ("--state", f"{folder}/state.db", "--feed", "tournees")
            cli("run", str(sent), *state, "--report", f"{folder}/first.xlsx", env=sandbox.env)
            before = len(sandbox.operations())
            validate, _, _ = cli("validate", str(changed), "--report", f"{folder}/v.xlsx")
            wall, _, _ = cli("run", str(changed), *state, "--report", f"{folder}/second.xlsx",
                             env=sandbox.env)  # fmt: skip
            calls = sandbox.operations()[before:]
    finally:
        sandbox.close()
    record(f"daily run, {rows:,} rows, one change (whole process)", wall, "s",
           reference=validate, ratio_of="validate")  # fmt: skip
    changes = sum(operation in ("create", "modify", "delete") for operation in calls)
    print(f"  (the second run's calls: {', '.join(calls)})")
    record("  changes sent to Ocean", changes, "calls", target="1", met=changes == 1)


# -- results workbook --------------------------------------------------------------------


def bench_workbook() -> None:
    rows = 100_000
    source = planning(rows, ".xlsx")
    checked = check_file(source, Settings())
    with StateStore(":memory:") as state:
        plan = make_plan(
            checked, state, ImportOptions(feed="bench", dry_run=True), now=dt.datetime.now(dt.UTC)
        )
    now = dt.datetime.now(dt.UTC)
    run = ImportRun(checked, plan, ImportOptions(feed="bench", dry_run=True), now, now)
    out = DATA / "results.xlsx"
    ours = best_of(1, lambda: import_report(run, out))
    # The same cells through the bare writers, for reference.
    lines = run.lines().iloc[: len(checked.missions)].set_index(checked.missions.index)
    frame, _ = _results_frame(
        ReportContent(
            checked.sheet, lines[list(RESULT_COLUMNS)], lines["outcome"] == "failed", [], []
        )
    )
    values = frame.astype(object).where(frame.notna(), None).values.tolist()
    header = [str(c) for c in frame.columns]

    def bare_xlsxwriter() -> None:
        book = xlsxwriter.Workbook(
            str(DATA / "bare-xlsxwriter.xlsx"),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "default_date_format": "dd/mm/yyyy hh:mm",
            },
        )
        sheet = book.add_worksheet("Results")
        sheet.write_row(0, 0, header)
        for n, row in enumerate(values, start=1):
            sheet.write_row(n, 0, row)
        book.close()

    def bare_openpyxl() -> None:
        book = Workbook(write_only=True)
        sheet = book.create_sheet("Results")
        sheet.append(header)
        for row in values:
            sheet.append(row)
        book.save(DATA / "bare-openpyxl.xlsx")

    fastest = best_of(1, bare_xlsxwriter)
    record("bare xlsxwriter, 100,000 rows", fastest, "s")
    record(
        "bare openpyxl write-only, 100,000 rows",
        best_of(1, bare_openpyxl),
        "s",
        reference=fastest,
        ratio_of="xlsxwriter",
    )
    record(
        "results workbook, 100,000 rows",
        ours,
        "s",
        reference=fastest,
        ratio_of="fastest writer",
        target="<= 1.2 x fastest",
        met=ours <= 1.2 * fastest,
    )


# -- memory ------------------------------------------------------------------------------


def bench_memory() -> None:
    sandbox = Sandbox()
    peaks = {}
    try:
        for rows in (10_000, 100_000):
            sandbox.reset(0)
            folder = Path(tempfile.mkdtemp(dir=DATA))
            # Ocean already holds the planning; 5% of it changed: a realistic daily re-import.
            seeded_state(folder / "state.db", planning(rows, ".csv"), f"planning-{rows}")
            edited = edited_planning(rows)
            target = folder / f"planning-{rows}.csv"
            target.write_bytes(edited.read_bytes())
            _, _, peaks[rows] = cli(
                "run",
                str(target),
                "--state",
                str(folder / "state.db"),
                "--concurrency",
                "16",
                "--no-delete",
                env=sandbox.env,
            )
            record(
                f"peak RSS of run, {rows:,} rows",
                peaks[rows],
                "MB",
                target="<= 600 MB" if rows == 100_000 else "",
                met=peaks[rows] <= 600,
            )
    finally:
        sandbox.close()
    ratio = peaks[100_000] / peaks[10_000]
    record("peak RSS 10k -> 100k ratio", ratio, "x", target="<= 11", met=ratio <= 11)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--creates", type=int, default=4000)
    parser.add_argument("--only", default="startup,read,plan,push,adaptive,daily,workbook,memory")
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    started = time.perf_counter()
    parts = {
        "startup": lambda: bench_startup(args.runs),
        "read": lambda: bench_read(args.runs),
        "plan": lambda: bench_plan(args.runs),
        "push": lambda: bench_push(args.creates),
        "adaptive": bench_adaptive,
        "daily": bench_daily,
        "workbook": bench_workbook,
        "memory": bench_memory,
    }
    for name in args.only.split(","):
        print(f"== {name}", flush=True)
        parts[name]()
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "figures": FIGURES,
        "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started),
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    missed = [name for name, f in FIGURES.items() if f.get("met") is False]
    print(f"{len(FIGURES)} figures in {results['seconds']} s; targets missed: {missed or 'none'}")


if __name__ == "__main__":
    main()
