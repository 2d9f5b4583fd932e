"""What the tests share: real planning files in every format, the product driven as a user
drives it (``Importer``), and the few edges tests replace (a clock, the sleep)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
from click.testing import CliRunner, Result

from importer.cli import main
from importer.config import DEFAULT_CONCURRENCY, ImportOptions, load_settings
from importer.ocean.client import OceanClient
from importer.ocean.resilience import RetryPolicy
from importer.pipeline import default_report_path, import_file, open_state
from importer.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = ROOT / "samples" / "ocean-import.toml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# --- planning files -------------------------------------------------------------------------

HEADERS = [
    "idMission", "jourHeureInter", "jourHeurePeremp", "nomVeh", "nomIndi", "prenomIndi",
    "rue", "codPost", "ville", "aEnvoyer", "latitude", "longitude",
]  # fmt: skip

# A fixed "now" for the tests that pass their clock in, and a mission time safely after it.
# A test that runs the real clock (the CLI, the job, the web page) dates its rows with
# ``upcoming`` instead, so that it passes whatever day it runs.
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
TOMORROW_8_30 = dt.datetime(2026, 11, 24, 8, 30)


def upcoming(days: int = 1, hour: int = 8, minute: int = 30) -> dt.datetime:
    """A local time ``days`` after the real today (a naive cell value, as a planner types it)."""
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime.combine(today + dt.timedelta(days=days), dt.time(hour, minute))


def upcoming_mission(**changes: Any) -> dict[str, Any]:
    """``mission()`` dated tomorrow, counted from the real today."""
    return mission(jourHeureInter=upcoming(), jourHeurePeremp=upcoming(hour=16), **changes)


def mission(**changes: Any) -> dict[str, Any]:
    """A valid mission row (as cells), with ``changes`` applied."""
    row: dict[str, Any] = {
        "idMission": "M-001",
        "jourHeureInter": TOMORROW_8_30,
        "jourHeurePeremp": TOMORROW_8_30 + dt.timedelta(hours=8),
        "nomVeh": "VL-12",
        "nomIndi": None,
        "prenomIndi": None,
        "rue": "12 rue de la République",
        "codPost": "69002",
        "ville": "Lyon",
        "aEnvoyer": True,
        "latitude": 45.7621,
        "longitude": 4.8357,
    }
    row.update(changes)
    return row


def write_planning(
    path: Path,
    rows: Sequence[dict[str, Any]] | Sequence[Sequence[Any]],
    headers: Sequence[str] | None = None,
    *,
    title_rows: Sequence[Sequence[Any]] = (),
    encoding: str = "utf-8",
    delimiter: str = ";",
    errors: str = "strict",
) -> Path:
    """Write a planning as ``path``'s suffix says: xlsx, xlsm, xls, ods, csv or txt (a text
    file in ``encoding``; ``errors="replace"`` for what it cannot hold)."""
    headers = list(headers or (rows[0].keys() if rows and isinstance(rows[0], dict) else HEADERS))
    grid = [list(r.values()) if isinstance(r, dict) else list(r) for r in rows]
    lines = [*map(list, title_rows), headers, *grid]
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        _write_xlsx(path, lines)
    elif suffix == ".xls":
        _write_xls(path, lines)
    elif suffix == ".ods":
        _write_ods(path, lines)
    else:
        with path.open("w", encoding=encoding, newline="", errors=errors) as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            for line in lines:
                writer.writerow(["" if v is None else _csv_text(v) for v in line])
    return path


def _csv_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def _write_xlsx(path: Path, lines: list[list[Any]]) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Planning"
    for line in lines:
        sheet.append(line)
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text typed by a person, not a formula
    workbook.save(path)


def _write_xls(path: Path, lines: list[list[Any]]) -> None:
    import xlwt

    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Planning")
    styles = {dt.datetime: xlwt.easyxf(num_format_str="dd/mm/yyyy hh:mm"),
              dt.date: xlwt.easyxf(num_format_str="dd/mm/yyyy")}  # fmt: skip
    for r, line in enumerate(lines):
        for c, value in enumerate(line):
            if value is None:
                continue
            if type(value) in styles:
                sheet.write(r, c, value, styles[type(value)])
            else:
                sheet.write(r, c, value)
    workbook.save(str(path))


def _write_ods(path: Path, lines: list[list[Any]]) -> None:
    width = max(len(line) for line in lines)
    frame = pd.DataFrame([[*line, *[None] * (width - len(line))] for line in lines])
    with pd.ExcelWriter(path, engine="odf") as writer:
        frame.to_excel(writer, sheet_name="Planning", header=False, index=False)


def read_sheet(path: Path, name: str) -> list[dict[str, Any]]:
    """A report sheet as a list of {header: value}."""
    sheet = openpyxl.load_workbook(path)[name]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def load_make_samples() -> Any:
    """``samples/make_samples.py``, the generator of the bundled samples, as a module."""
    path = Path(__file__).resolve().parent.parent / "samples" / "make_samples.py"
    spec = importlib.util.spec_from_file_location("make_samples", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the product, as a user runs it ---------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")
CUSTOMER = 4242


def day(offset: int) -> dt.date:
    """A calendar day counted from today, in the planning's time zone."""
    return dt.datetime.now(PARIS).date() + dt.timedelta(days=offset)


def rows_for(offset: int, count: int, prefix: str = "M") -> list[dict[str, Any]]:
    """``count`` valid missions on the day ``offset`` days from today, 07:00 onwards."""
    start = dt.datetime.combine(day(offset), dt.time(7, 0))
    return [
        mission(
            idMission=f"{prefix}{day(offset):%m%d}-{n:03d}",
            jourHeureInter=start + dt.timedelta(minutes=5 * (n % 144)),
            jourHeurePeremp=start + dt.timedelta(minutes=5 * (n % 144), hours=8),
            nomVeh=f"VL-{n % 4:02d}",
            commentaire=f"Livraison {n}",
        )
        for n in range(count)
    ]


def utc_text(local: dt.datetime) -> str:
    return local.replace(tzinfo=PARIS).astimezone(dt.UTC).strftime("%d/%m/%Y %H:%M")


class Importer:
    """``ocean-import`` as a user types it, pointed at one sandbox and one state store."""

    def __init__(self, sandbox: SandboxServer, folder: Path) -> None:
        self.sandbox = sandbox
        self.folder = folder
        self.state = folder / "state.db"
        self.config = folder / "ocean-import.toml"
        self.config.write_text(f'timezone = "Europe/Paris"\ncustomer_id = {CUSTOMER}\n')
        self.env = {
            "OCEAN_BASE_URL": sandbox.base_url,
            "OCEAN_LOGIN": "demo",
            "OCEAN_PASSWORD": "demo",
            "OCEAN_IMPORT_CONFIG": "",
        }

    def __call__(self, command: str, file: Path, *options: str) -> Result:
        args = [command, str(file), "--config", str(self.config), "--state", str(self.state),
                *options]  # fmt: skip
        return CliRunner().invoke(main, args, env=self.env, catch_exceptions=False)

    def run_with_sleep(self, file: Path, sleep: Callable[[float], Awaitable[None]]) -> int:
        """``run FILE`` through the pipeline, as the command does, the retries waiting with
        ``sleep`` (a ``WarpClock``'s, a ``RecordedSleeps``): its exit code."""
        settings = load_settings(self.config, self.env)
        ocean = OceanClient.from_settings(settings.ocean, max_connections=DEFAULT_CONCURRENCY,
                                          retry=RetryPolicy(sleep=sleep))  # fmt: skip
        with open_state(self.state) as state:
            run, _ = import_file(file, settings, state, ImportOptions(feed="", feed_from_name=True),
                                 report_path=default_report_path(file, "run"), ocean=ocean)  # fmt: skip
        return run.exit_code

    def in_a_process(self, file: Path, *options: str) -> subprocess.Popen[str]:
        """``ocean-import run`` in its own process (to kill it, or to interrupt it)."""
        command = [sys.executable, "-m", "importer", "run", str(file), "--config",
                   str(self.config), "--state", str(self.state), *options]  # fmt: skip
        return subprocess.Popen(command, env={**os.environ, **self.env}, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip

    def wait_for_calls(self, count: int, seconds: float = 30) -> None:
        """Until the sandbox has received ``count`` creates, modifies or deletes; a test that
        waits in vain fails here, not later on a state it never reached."""
        deadline = time.monotonic() + seconds
        while len(self.mutating_calls()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the sandbox received {len(self.mutating_calls())} "
                    f"mutating calls in {seconds} s, not the {count} awaited"
                )
            time.sleep(0.02)

    def planning(self, name: str, rows: list[dict[str, Any]]) -> Path:
        return write_planning(self.folder / name, rows)

    def mutating_calls(self) -> list[tuple[str, str | None, int]]:
        return [
            (e.operation, e.id_mission, e.http_status)
            for e in self.sandbox.world.requests()
            if e.operation in ("create", "modify", "delete")
        ]

    def missions(self) -> dict[str, dict[str, Any]]:
        return {m["idMission"]: m for m in self.sandbox.world.missions()}


def assert_holds_exactly(importer: Importer, rows: list[dict[str, Any]]) -> None:
    held = importer.missions()
    assert sorted(held) == sorted(r["idMission"] for r in rows)
    for row in rows:
        mission = held[row["idMission"]]
        assert mission["jourHeureInter"] == utc_text(row["jourHeureInter"])
        assert mission["commentaire"] == row["commentaire"]
        assert mission["customerId"] == CUSTOMER


def created_twice(importer: Importer) -> list[str]:
    confirmed = Counter(i for op, i, status in importer.mutating_calls()
                        if op == "create" and status in (200, 201))  # fmt: skip
    # A create the sandbox applied but whose answer was dropped counts too.
    applied = Counter(
        e.id_mission for e in importer.sandbox.world.requests()
        if e.operation == "create" and e.applied and e.http_status == 0
    )  # fmt: skip
    return [key for key, n in (confirmed + applied).items() if n > 1]


# --- the edges tests replace ----------------------------------------------------------------


class FakeClock:
    """A clock that moves only when told to; starts at the tests' NOW."""

    def __init__(self, start: float = NOW.timestamp()) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordedSleeps(list[float]):
    """An async sleep that records how long it was asked to wait, and returns at once (or,
    with ``scale``, after that share of the wait: time still goes by, only faster)."""

    def __init__(self, scale: float = 0.0) -> None:
        super().__init__()
        self.scale = scale

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(seconds * self.scale)


def quick_policy(sleeps: RecordedSleeps, **options: float) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps, **options)  # type: ignore[arg-type]


class WarpClock:
    """Real time, plus the waits that were jumped over: a retry's backoff is recorded and
    skipped, and the sandbox (which reads this clock) sees that time go by, so that its rate
    limit and its tokens' lifetime behave as if the client had waited. Waits made at once
    overlap, as they do in real time: a wait ends at the latest when it began plus its length."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return time.time() + self.skipped

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.skipped = max(self.skipped, self() + seconds - time.time())
        await asyncio.sleep(0)


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[Path]:
    """``folder`` made really unwritable for this process, then given back.

    Its mode says read-only; when the tests run as root (who ignores modes, as CI does here)
    it is also made immutable (``chattr +i``), which root must obey too.
    """
    immutable = os.geteuid() == 0
    folder.chmod(0o555)
    if immutable:
        subprocess.run(["chattr", "+i", str(folder)], check=True, capture_output=True)
    try:
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True, capture_output=True)
        folder.chmod(0o755)


def free_port() -> int:
    """A loopback port that was free a moment ago (for a server started later, or none)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
