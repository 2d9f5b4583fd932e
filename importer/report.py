"""The results workbook: sheets Results, Errors and Summary.

``validate``, ``plan`` and ``run`` all write this shape. Results has one line per input row
(its original columns as read, then the columns the command adds), Errors one line per
problem, Summary the counts. Text that a spreadsheet would evaluate (``=``, ``+``, ``-``,
``@``, tab, carriage return) is written as plain text (and marked so, to stay text when a
person edits the cell); numbers stay numbers. The workbook is written to a temporary file and
renamed, so a crash never leaves half a workbook.

Written with XlsxWriter in constant-memory mode: rows stream to disk as they are written,
about twice as fast as openpyxl's write-only mode on a 100,000-row planning (bench/).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.exceptions import XlsxFileError
from xlsxwriter.worksheet import Worksheet

from importer.cells import MAX_CELL_CHARS
from importer.columns import Sheet
from importer.errors import OutputError
from importer.i18n import _, number, pgettext, system_reason
from importer.paths import cannot_write_in, remove_stale_temporaries, temporary_prefix
from importer.problems import Problem
from importer.words import vocabulary

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
DATE_TIME_FORMAT = "dd/mm/yyyy hh:mm"
TIME_FORMAT = "hh:mm"
DURATION_FORMAT = "[h]:mm"
ERRORS_HEADER = ("row", "cell", "column", "value", "problem", "severity")

_HEADER_STYLE = {"bold": True, "font_color": "#FFFFFF", "bg_color": "#305496", "valign": "vcenter"}
_FAILED_COLOUR = "#F8CBAD"
_WARNING_COLOUR = "#FFF2CC"
# Characters XML 1.0 cannot hold: replaced, so that a stray control code never breaks a file.
_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")
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


class _Styles:
    """The few formats every sheet uses, created once per workbook: for each fill (none, a
    failed line's, a warning's), one per kind of cell (plain, text kept as text, date-time,
    time of day, duration)."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.header = book.add_format(_HEADER_STYLE)
        self.text = book.add_format({"quote_prefix": True})
        self.unfilled = _CellFormats(
            None, self.text, None, book.add_format({"num_format": TIME_FORMAT}),
            book.add_format({"num_format": DURATION_FORMAT}),
        )  # fmt: skip
        self.fills = {
            colour: _CellFormats(
                book.add_format({"bg_color": colour}),
                book.add_format({"bg_color": colour, "quote_prefix": True}),
                book.add_format({"bg_color": colour, "num_format": DATE_TIME_FORMAT}),
                book.add_format({"bg_color": colour, "num_format": TIME_FORMAT}),
                book.add_format({"bg_color": colour, "num_format": DURATION_FORMAT}),
            )
            for colour in (_FAILED_COLOUR, _WARNING_COLOUR)
        }


class _CellFormats(NamedTuple):
    plain: Any
    text: Any
    date: Any  # None: the workbook's default date format
    time: Any
    duration: Any


def write_table(path: Path, title: str, frame: pd.DataFrame, highlighted: Sequence[bool]) -> Path:
    """A one-sheet workbook of ``frame`` (the status report), with the same care as the others."""

    def fill(book: xlsxwriter.Workbook, styles: _Styles) -> None:
        colours = [_FAILED_COLOUR if flag else None for flag in highlighted]
        _write_frame(book.add_worksheet(title), styles, frame, colours)

    return _save(path, fill)


def write_report(path: Path, content: ReportContent) -> Path:
    """Write the workbook atomically to ``path`` and return it."""

    def fill(book: xlsxwriter.Workbook, styles: _Styles) -> None:
        frame, failed = _results_frame(content)
        colours = [_FAILED_COLOUR if flag else None for flag in failed]
        _write_frame(book.add_worksheet(pgettext("sheet", "Results")), styles,
                     _translated(frame, list(content.added.columns)), colours)  # fmt: skip
        _write_errors(book.add_worksheet(pgettext("sheet", "Errors")), styles, content.problems)
        _write_summary(book.add_worksheet(pgettext("sheet", "Summary")), styles, content.summary)

    return _save(Path(path), fill)


def check_writable(path: Path, option: str = "--report") -> None:
    """Refuse, before anything is done, an output path that could not be written at the end.

    A missing folder is not created (a typo would scatter workbooks), and a name that starts
    with ``-`` is an option swallowed as a value (``--report --config``).
    """
    where = f"{option} {path}"
    if path.name.startswith("-"):
        raise OutputError(
            _(
                "{where}: a file name that starts with '-' is an option taken as a value (was a "
                "value forgotten?); write ./{name} if that is really the name"
            ).format(where=where, name=path.name)
        )
    if path.is_dir():
        raise OutputError(_("{where} is a folder: give the path of a file").format(where=where))
    problem = cannot_write_in(path.parent)
    if problem:
        raise OutputError(
            _(
                "{where}: nothing can be written in the folder {folder} ({why}); choose another "
                "path"
            ).format(where=where, folder=path.parent, why=problem)
        )


def _save(path: Path, fill: Any) -> Path:
    """Write to a temporary file, then rename: never half a workbook at ``path``."""
    try:
        return _save_through_temporary(path, fill)
    except (OSError, XlsxFileError) as exc:
        cause = exc.args[0] if isinstance(exc, XlsxFileError) and exc.args else exc
        reason = system_reason(cause) if isinstance(cause, BaseException) else str(cause)
        raise OutputError(
            _("the workbook {path} could not be written ({why})").format(path=path, why=reason)
        ) from None


def _save_through_temporary(path: Path, fill: Any) -> Path:
    # The workbook and XlsxWriter's row files live in a private folder beside the target
    # (same disk, so the final rename is atomic) that goes away whatever happens.
    remove_stale_temporaries(path)
    with tempfile.TemporaryDirectory(prefix=temporary_prefix(path), dir=path.parent) as folder:
        temporary = Path(folder) / path.name
        book = xlsxwriter.Workbook(
            str(temporary),
            {
                "constant_memory": True,
                # Text is text: never turned into a formula, a link or a number.
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "remove_timezone": True,
                "default_date_format": DATE_TIME_FORMAT,
                "tmpdir": folder,
            },
        )
        try:
            fill(book, _Styles(book))
        finally:
            book.close()
        os.replace(temporary, path)
    return path


def _results_frame(content: ReportContent) -> tuple[pd.DataFrame, list[bool]]:
    originals = content.sheet.cells
    added_names = list(content.added.columns)
    labels = [f"{label} (input)" if label in added_names else label for label in originals.columns]
    header = [*labels, *added_names]
    frame = pd.concat(
        [originals.set_axis(labels, axis=1), content.added.set_axis(added_names, axis=1)], axis=1
    )
    failed = content.failed.tolist()
    if content.extra_rows is not None and len(content.extra_rows):
        # Lines with no input row carry only some columns (named as in ``header``).
        extra = content.extra_rows.reindex(columns=header)
        frame = pd.concat([frame, extra], ignore_index=True)
        failed += list(content.extra_failed) or [False] * len(extra)
    return frame, failed


def _write_frame(
    ws: Worksheet,
    styles: _Styles,
    frame: pd.DataFrame,
    colours: Sequence[str | None],
    *,
    colour_only: int | None = None,
) -> None:
    """A table: styled, frozen, filtered header, then one row per line. A line with a colour
    is filled with it (only its column ``colour_only``, when given)."""
    header = [str(name) for name in frame.columns]
    _start_table(ws, styles, header, frame)
    prepared = [_cell_values(frame.iloc[:, position]) for position in range(len(header))]
    columns = [values for values, _ in prepared]
    quoted = [mask for _, mask in prepared]  # per column: which cells to keep as text
    coloured = [colour_only is None or column == colour_only for column in range(len(header))]
    # Each cell through the method of its type: XlsxWriter's write_row asks every cell its
    # type again, then its options (a third of the workbook's time).
    for position, values in enumerate(zip(*columns, strict=True)):
        row = position + 1
        colour = colours[position]
        filled = styles.fills[colour] if colour else styles.unfilled
        for column, value in enumerate(values):
            formats = filled if coloured[column] else styles.unfilled
            kind = type(value)
            if kind is str and value:
                mask = quoted[column]
                ws.write_string(row, column, value, formats.text if mask is not None
                                and mask[position] else formats.plain)  # fmt: skip
            elif kind is int or kind is float:
                ws.write_number(row, column, value, formats.plain)
            elif value is None or kind is str:  # a blank: drawn only when filled
                if formats.plain is not None:
                    ws.write_blank(row, column, None, formats.plain)
            elif kind is bool:
                ws.write_boolean(row, column, value, formats.plain)
            elif isinstance(value, dt.datetime | dt.date):
                ws.write_datetime(row, column, value, formats.date)
            elif kind is dt.time:
                ws.write_datetime(row, column, value, formats.time)
            elif kind is dt.timedelta:
                ws.write_datetime(row, column, value, formats.duration)
            else:
                ws.write(row, column, value, formats.plain)


_SIMPLE = {type(None), int, float, bool, dt.datetime, dt.date, pd.Timestamp}
# The largest number a spreadsheet holds (Excel's 9.99999999999999E+307): beyond, its text.
_LARGEST_NUMBER = 9.99999999999999e307


def _cell_values(column: pd.Series) -> tuple[list[Any], np.ndarray | None]:
    """A column as values XlsxWriter writes as themselves (None for blanks), and which of its
    cells hold text a spreadsheet would read as a formula (None: no text at all).

    A planning's own columns hold whatever its cells held (a time, a duration, an infinite
    or huge number, an error cell's text): each is written as a cell can hold it, never
    refused. Lists, not ``Series.map``: pandas would infer a string column and turn the
    blanks into NaN."""
    values = column.astype(object).where(column.notna(), None)
    kinds = set(map(type, values))
    if kinds - _SIMPLE - {str} or (float in kinds and not _all_writable_numbers(values)):
        values = pd.Series([_writable(value) for value in values], index=values.index,
                           dtype=object)  # fmt: skip
    elif str in kinds:
        illegal = values.str.contains(_ILLEGAL, na=False)
        if illegal.any():
            values[illegal] = values[illegal].str.replace(_ILLEGAL, "\ufffd", regex=True)
        too_long = values.str.len() > MAX_CELL_CHARS
        if too_long.any():
            values[too_long] = [_fit(text) for text in values[too_long]]
    else:
        return values.tolist(), None
    if str not in set(map(type, values)):
        return values.tolist(), None
    # Leading blanks do not stop a spreadsheet from reading " =1+1" as a formula.
    triggered = values.str.lstrip(" ").str.startswith(FORMULA_TRIGGERS, na=False)
    mask = triggered.to_numpy(dtype=bool)
    return values.tolist(), mask if mask.any() else None


def _all_writable_numbers(values: pd.Series) -> bool:
    floats = np.array([value for value in values if type(value) is float], dtype=float)
    return bool(np.isfinite(floats).all() and (np.abs(floats) <= _LARGEST_NUMBER).all())


def _fit(text: str) -> str:
    """A text as a cell can hold it: a longer one is cut with a mark that says so."""
    if len(text) <= MAX_CELL_CHARS:
        return text
    mark = " […] " + _("({n} characters: cut here to fit a spreadsheet cell)").format(
        n=number(len(text))
    )
    return text[: MAX_CELL_CHARS - len(mark)] + mark


def _writable(value: Any) -> Any:
    """A value as a cell can hold it: a time and a duration as themselves, a number a
    spreadsheet cannot hold (infinite, too large) as its text, NaN blank, anything else its
    text."""
    if value is None or isinstance(value, bool | dt.datetime | dt.date | dt.time):
        return value
    if isinstance(value, dt.timedelta):
        return value if value >= dt.timedelta(0) else str(value)  # no negative durations
    if isinstance(value, int | float | np.integer | np.floating):
        try:
            number = float(value)
        except OverflowError:  # a whole number past any float
            return str(value)
        if math.isnan(number):
            return None
        if math.isinf(number) or abs(number) > _LARGEST_NUMBER:
            return str(value)
        return value.item() if isinstance(value, np.generic) else value
    text = value if isinstance(value, str) else str(value)  # anything else: its text
    return _fit(_ILLEGAL.sub("\ufffd", text) if _ILLEGAL.search(text) else text)


def _labels() -> dict[str, str]:
    """The headers of the columns a workbook adds, in the language in force."""
    return {
        "row": pgettext("column", "row"),
        "action": pgettext("column", "action"),
        "outcome": pgettext("column", "outcome"),
        "http_status": pgettext("column", "http_status"),
        "message": pgettext("column", "message"),
        "attempts": pgettext("column", "attempts"),
        "remote_status": pgettext("column", "remote_status"),
        "verdict": pgettext("column", "verdict"),
        "cell": pgettext("column", "cell"),
        "column": pgettext("column", "column"),
        "value": pgettext("column", "value"),
        "problem": pgettext("column", "problem"),
        "severity": pgettext("column", "severity"),
    }


def _translated(frame: pd.DataFrame, added: Sequence[str]) -> pd.DataFrame:
    """``frame`` with the columns a workbook adds, and their words, in the language in force
    (the planning's own columns and cells as they are)."""
    labels, values = _labels(), vocabulary()
    frame = frame.copy()
    for name in added:
        if name in values:
            frame[name] = frame[name].map(lambda v, words=values[name]: words.get(v, v))
    return frame.rename(columns={name: labels.get(name, name) for name in added})


def _write_errors(ws: Worksheet, styles: _Styles, problems: Sequence[Problem]) -> None:
    frame = pd.DataFrame(
        [(p.row, p.cell, p.column, p.value, p.message, p.severity) for p in problems],
        columns=list(ERRORS_HEADER),
    )
    frame = _translated(frame, ["severity"]).rename(columns=_labels())
    colours = [_FAILED_COLOUR if p.is_error else _WARNING_COLOUR for p in problems]
    _write_frame(ws, styles, frame, colours, colour_only=ERRORS_HEADER.index("severity"))


def _write_summary(ws: Worksheet, styles: _Styles, summary: Sequence[tuple[str, Any]]) -> None:
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 70)
    ws.write_row(0, 0, [pgettext("column", "item"), pgettext("column", "value")], styles.header)
    for row, (key, value) in enumerate(summary, start=1):
        ws.write_row(row, 0, [_writable(key), _writable(value)])


def _start_table(ws: Worksheet, styles: _Styles, header: list[str], frame: pd.DataFrame) -> None:
    """Column widths from a sample, a frozen styled header, a filter over the whole table."""
    sample = frame.head(_WIDTH_SAMPLE_ROWS)
    for position, name in enumerate(header):
        lengths = [len(_display(v)) for v in sample.iloc[:, position]] if len(sample) else []
        ws.set_column(position, position, min(max([len(name) + 3, *lengths]) + 2, _MAX_WIDTH))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(frame), 1), max(len(header) - 1, 0))
    ws.write_row(0, 0, [_writable(name) for name in header], styles.header)


def _display(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, dt.datetime):
        return DATE_TIME_FORMAT
    return str(value)
