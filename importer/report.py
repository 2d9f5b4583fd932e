"""The results workbook: sheets Results, Errors and Summary, written with openpyxl.

``validate``, ``plan`` and ``run`` all write this shape. Results has one line per input row
(its original columns as read, then the columns the command adds), Errors one line per
problem, Summary the counts. Text that a spreadsheet would evaluate (``=``, ``+``, ``-``,
``@``, tab, carriage return) is written as plain text; numbers stay numbers. The workbook is
written to a temporary file and renamed, so a crash never leaves half a workbook.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from importer.columns import Sheet
from importer.problems import Problem

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
DATE_TIME_FORMAT = "dd/mm/yyyy hh:mm"
ERRORS_HEADER = ("row", "cell", "column", "value", "problem", "severity")

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="305496")
_FAILED_FILL = PatternFill("solid", fgColor="F8CBAD")
_WARNING_FILL = PatternFill("solid", fgColor="FFF2CC")
_CELL_TYPES = (str, int, float, bool, dt.datetime, dt.date, dt.time, dt.timedelta)
_WIDTH_SAMPLE_ROWS = 300
_MAX_WIDTH = 60


@dataclass(frozen=True)
class ReportContent:
    """What a workbook shows; ``added`` is aligned with the sheet's rows (same index)."""

    sheet: Sheet
    added: pd.DataFrame  # columns the command adds: row, verdict or action, outcome, message...
    failed: pd.Series  # bool per row: highlighted in Results
    problems: Sequence[Problem]
    summary: Sequence[tuple[str, Any]]
    extra_rows: pd.DataFrame | None = None  # lines with no input row (deletions)
    extra_failed: Sequence[bool] = ()  # which of them to highlight


def write_table(path: Path, title: str, frame: pd.DataFrame, highlighted: Sequence[bool]) -> Path:
    """A one-sheet workbook of ``frame`` (the status report), with the same care as the others."""
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet(title)
    header = [str(name) for name in frame.columns]
    _start_table(ws, header, frame)
    records = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    for values, is_highlighted in zip(records, highlighted, strict=True):
        row = [_safe(ws, v) for v in values]
        ws.append([_filled(ws, v, _FAILED_FILL) for v in row] if is_highlighted else row)
    return _save(workbook, path)


def write_report(path: Path, content: ReportContent) -> Path:
    """Write the workbook atomically to ``path`` and return it."""
    path = Path(path)
    workbook = Workbook(write_only=True)
    _write_results(workbook.create_sheet("Results"), content)
    _write_errors(workbook.create_sheet("Errors"), content.problems)
    _write_summary(workbook.create_sheet("Summary"), content.summary)
    return _save(workbook, path)


def _save(workbook: Workbook, path: Path) -> Path:
    """Write to a temporary file, then rename: never half a workbook at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        workbook.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        for sheet in workbook.worksheets:  # finish openpyxl's row streams, or they leak
            with contextlib.suppress(Exception):
                sheet.close()
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return path


def _write_results(ws: WriteOnlyWorksheet, content: ReportContent) -> None:
    originals = content.sheet.cells
    added_names = list(content.added.columns)
    labels = [f"{label} (input)" if label in added_names else label for label in originals.columns]
    header = [*labels, *added_names]
    frame = pd.concat(
        [originals.set_axis(labels, axis=1), content.added.set_axis(added_names, axis=1)], axis=1
    )
    if content.extra_rows is not None and len(content.extra_rows):
        # Lines with no input row carry only some columns (named as in ``header``).
        extra = content.extra_rows.reindex(columns=header)
        frame = pd.concat([frame, extra], ignore_index=True)
        highlighted = list(content.extra_failed) or [False] * len(extra)
        failed = [*content.failed.tolist(), *highlighted]
    else:
        failed = content.failed.tolist()
    records = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    _start_table(ws, header, frame)
    for values, is_failed in zip(records, failed, strict=True):
        row = [_safe(ws, v) for v in values]
        ws.append([_filled(ws, v, _FAILED_FILL) for v in row] if is_failed else row)


def _write_errors(ws: WriteOnlyWorksheet, problems: Sequence[Problem]) -> None:
    frame = pd.DataFrame(
        [(p.row, p.cell, p.column, p.value, p.message, p.severity) for p in problems],
        columns=list(ERRORS_HEADER),
    )
    _start_table(ws, list(ERRORS_HEADER), frame)
    for problem in problems:
        values = (
            problem.row,
            problem.cell,
            problem.column,
            problem.value,
            problem.message,
            problem.severity,
        )
        fill = _FAILED_FILL if problem.is_error else _WARNING_FILL
        ws.append(
            [
                _filled(ws, _safe(ws, v), fill) if i == 5 else _safe(ws, v)
                for i, v in enumerate(values)
            ]
        )


def _write_summary(ws: WriteOnlyWorksheet, summary: Sequence[tuple[str, Any]]) -> None:
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 70
    ws.append([_header_cell(ws, "item"), _header_cell(ws, "value")])
    for key, value in summary:
        ws.append([_safe(ws, key), _safe(ws, value)])


def _start_table(ws: WriteOnlyWorksheet, header: list[str], frame: pd.DataFrame) -> None:
    """Column widths from a sample, a frozen styled header, a filter over the whole table."""
    sample = frame.head(_WIDTH_SAMPLE_ROWS)
    for position, name in enumerate(header, start=1):
        lengths = [len(_display(v)) for v in sample.iloc[:, position - 1]] if len(sample) else []
        width = min(max([len(str(name)) + 3, *lengths]) + 2, _MAX_WIDTH)
        ws.column_dimensions[get_column_letter(position)].width = width
    ws.freeze_panes = "A2"
    last_row = max(len(frame) + 1, 2)
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(header), 1))}{last_row}"
    ws.append([_header_cell(ws, name) for name in header])


def _header_cell(ws: WriteOnlyWorksheet, name: str) -> Cell:
    cell = _as_text(ws, str(name))
    cell.font = _HEADER_FONT
    cell.fill = _HEADER_FILL
    cell.alignment = Alignment(vertical="center")
    return cell


def _safe(ws: WriteOnlyWorksheet, value: Any) -> Any:
    """A value openpyxl writes as itself: text never becomes a formula, numbers stay numbers."""
    if isinstance(value, Cell):
        return value
    if isinstance(value, str):
        if ILLEGAL_CHARACTERS_RE.search(value):
            value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        if value.startswith(FORMULA_TRIGGERS):
            return _as_text(ws, value)
        return value
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        cell = WriteOnlyCell(
            ws,
            value=value.astimezone(dt.UTC).replace(tzinfo=None)
            if value.tzinfo is not None
            else value,
        )
        cell.number_format = DATE_TIME_FORMAT  # as a French planner writes it
        return cell
    if value is None or isinstance(value, _CELL_TYPES):
        return value
    # Anything else becomes its text, so that nothing can fail halfway through a sheet.
    return _safe(ws, str(value))


def _as_text(ws: WriteOnlyWorksheet, text: str) -> Cell:
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"  # never a formula, whatever the first character
    cell.quotePrefix = True  # and stays text when a person edits the cell
    return cell


def _filled(ws: WriteOnlyWorksheet, value: Any, fill: PatternFill) -> Cell:
    cell = value if isinstance(value, Cell) else WriteOnlyCell(ws, value=value)
    cell.fill = fill
    return cell


def _display(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, dt.datetime):
        return "dd/mm/yyyy hh:mm"
    return str(value)
