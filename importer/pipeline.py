"""The stages wired together, for every face (CLI, scheduled job, web page).

read_planning -> map_columns -> validate -> (diff -> push) -> write_report
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from importer.columns import map_columns
from importer.config import Settings
from importer.read import read_planning
from importer.report import ReportContent, write_report
from importer.schemas.aliases import alias_table
from importer.validate import Checked, validate

_DIGITS_AND_DATES = re.compile(r"\d+")
_SEPARATORS = re.compile(r"[\s_.\-]+")


def check_file(path: Path, settings: Settings, *, now: dt.datetime | None = None) -> Checked:
    """Read, map and validate a planning file (no network, nothing written)."""
    raw = read_planning(
        path, sheet=settings.sheet, max_bytes=settings.max_file_bytes, max_rows=settings.max_rows
    )
    sheet = map_columns(raw, alias_table(settings.columns), max_rows=settings.max_rows)
    return validate(sheet, settings, now=now)


def default_feed(path: Path) -> str:
    """The planning stream a file belongs to: its name without dates and digits.

    >>> default_feed(Path("Tournées-2026-11-24.xlsx"))
    'Tournées'
    """
    stem = _DIGITS_AND_DATES.sub(" ", Path(path).stem)
    return _SEPARATORS.sub("-", stem).strip("-") or "planning"


def default_report_path(path: Path, command: str) -> Path:
    """``<stem>.validation.xlsx`` (validate), ``.plan.xlsx`` (plan), ``.results.xlsx`` (run)."""
    suffix = {"validate": "validation", "plan": "plan", "run": "results"}[command]
    return path.with_name(f"{path.stem}.{suffix}.xlsx")


@dataclass(frozen=True)
class ValidationRun:
    checked: Checked
    feed: str
    started: dt.datetime
    finished: dt.datetime


def validation_report(run: ValidationRun, report_path: Path) -> Path:
    """The validation workbook: every row with its verdict, every problem, the counts."""
    checked = run.checked
    messages: dict[int, list[str]] = {}
    for problem in checked.problems:
        if problem.row is not None and problem.row in checked.missions.index:
            where = f"{problem.column}: " if problem.column else ""
            messages.setdefault(problem.row, []).append(f"{where}{problem.message}")
    index = checked.missions.index
    warned = index.isin([p.row for p in checked.problems if not p.is_error])
    verdict = np.select([checked.invalid.to_numpy(), warned], ["invalid", "warning"], "valid")
    added = pd.DataFrame(
        {
            "row": index.to_numpy(),
            "verdict": verdict,
            "message": ["; ".join(messages.get(row, [])) or None for row in index],
        },
        index=index,
    )
    content = ReportContent(
        sheet=checked.sheet,
        added=added,
        failed=checked.invalid,
        problems=checked.problems,
        summary=validation_summary(run),
    )
    return write_report(report_path, content)


def validation_summary(run: ValidationRun) -> list[tuple[str, object]]:
    checked = run.checked
    raw = checked.sheet.raw
    return [
        ("command", "validate"),
        ("input file", str(raw.path)),
        ("input SHA-256", raw.sha256),
        (
            "format",
            raw.file_format + (f" ({raw.encoding}, '{raw.delimiter}')" if raw.encoding else ""),
        ),
        ("sheet", raw.sheet_name or ""),
        ("header row", checked.sheet.header_row),
        ("feed", run.feed),
        ("time zone", checked.timezone),
        ("started", run.started.isoformat(timespec="seconds")),
        ("finished", run.finished.isoformat(timespec="seconds")),
        ("dry run", "yes (validation only, Ocean not contacted)"),
        ("rows read", checked.row_count),
        ("valid rows", checked.valid_count),
        ("invalid rows", checked.invalid_count),
        ("errors", checked.error_count),
        ("warnings", checked.warning_count),
    ]
