"""Writing real planning files, in every format, for the tests."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd

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
) -> Path:
    """Write a planning as ``path``'s suffix says: xlsx, xlsm, xls, ods, csv or txt."""
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
        with path.open("w", encoding=encoding, newline="") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            for line in lines:
                writer.writerow(["" if v is None else _csv_text(v) for v in line])
    return path


def _csv_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
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
    date_style = xlwt.easyxf(num_format_str="dd/mm/yyyy hh:mm")
    for r, line in enumerate(lines):
        for c, value in enumerate(line):
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                sheet.write(r, c, value, date_style)
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
