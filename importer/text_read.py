"""Reading a text planning (.csv, .txt): its records, each with the line it starts on.

The encoding is found (``encodings``), the delimiter sniffed (``;``, ``,`` or tab), then the
lines are split by pandas' C parser, or by the standard csv reader where a file needs its
exactness (a cell over several lines, ragged lines). A file wider than a sheet, or with more
cells than a planning ever has, is refused from a count of its delimiters before it is
parsed: as a workbook is from its declared extent (``screening``).
"""

from __future__ import annotations

import csv
import io
import warnings
from collections import Counter
from operator import methodcaller
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from importer.encodings import decode
from importer.errors import FileLimitError, UnreadableFileError
from importer.i18n import _, number
from importer.screening import MAX_CELLS, OLE_MAGIC, ZIP_MAGIC, looks_like, too_many_rows

TEXT_SUFFIXES = (".csv", ".txt")
CSV_DELIMITERS = (";", ",", "\t")
# A sheet's width (Excel's XFD): a text file saved from a spreadsheet is never wider.
MAX_TEXT_COLUMNS = 16_384
# The delimiter is sniffed on this many first non-blank lines.
_SNIFF_LINES = 50


class Records(NamedTuple):
    """A text file's records as read: ``cells`` (a grid, or ragged rows) and the
    line each starts on."""

    cells: np.ndarray | list[list[str]]
    lines: np.ndarray
    encoding: str
    delimiter: str


def text_records(path: Path, data: bytes, row_cap: int, max_rows: int) -> Records:
    """The records of a text planning; raise a PlanningFileError when it is not one, or is
    over the limits (``row_cap`` lines read at most, ``max_rows`` said in the sentence)."""
    if data.startswith((ZIP_MAGIC, OLE_MAGIC)):
        raise UnreadableFileError(path, not_text(data))
    text, encoding = decode(path, data)
    if "\x00" in text:
        raise UnreadableFileError(path, not_text(data))
    delimiter, width = _sniff_delimiter(text)
    _refuse_too_big(path, text, delimiter, row_cap, max_rows)
    fast = _fast_records(text, delimiter, width, row_cap)
    if fast is None:
        rows, starts = _exact_records(path, text, delimiter, row_cap, max_rows)
        return Records(rows, np.array(starts, dtype=np.int64), encoding, delimiter)
    lines = np.arange(1, len(fast) + 1, dtype=np.int64)  # line i+1 in row i
    return Records(fast, lines, encoding, delimiter)


def _refuse_too_big(path: Path, text: str, delimiter: str, row_cap: int, max_rows: int) -> None:
    """Refuse, from a count of its lines and delimiters (at C speed, nothing parsed), a file
    with more rows than the limit, wider than a sheet or with more cells than a planning has:
    100,000 columns, or 150,000 lines of 500 empty cells, took minutes and gigabytes to parse.
    Quoted delimiters and line breaks count too: only a file far beyond any planning comes
    near these limits (the exact reader counts records where it matters)."""
    lines = text.split("\n")
    filled = len(lines) - lines.count("") - lines.count("\r")
    if filled > 2 * row_cap:  # far over: quoted line breaks cannot explain it
        raise too_many_rows(path, max_rows)
    widest = 1 + max(map(methodcaller("count", delimiter), lines), default=0)
    cells = widest * min(filled, row_cap)
    if widest > MAX_TEXT_COLUMNS or cells > MAX_CELLS:
        raise FileLimitError(
            path,
            _(
                "is over the limits: its widest line has {columns} cells ({cells} cells in "
                "all), far beyond any real planning; open it in your spreadsheet program, "
                "delete the empty columns after the table, and save it again"
            ).format(columns=number(widest), cells=number(cells)),
        )


def _fast_records(text: str, delimiter: str, width: int, row_cap: int) -> np.ndarray | None:
    """Every line's cells by pandas' C parser, or None where its answer could differ from the
    exact reader's: a record over several lines (a quoted line break: line numbers would
    drift), a line wider than the first ones, a cell over the csv field limit (the exact
    reader refuses it with its line), more lines than the row limit (the exact reader stops
    early and says so)."""
    lines = text.count("\n") + text.count("\r") - text.count("\r\n")
    lines += not text.endswith(("\n", "\r"))
    if lines > row_cap:
        return None
    try:
        with warnings.catch_warnings():
            # A first line wider than ``names``: pandas would drop its last cells, and warns.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text), sep=delimiter, header=None, names=range(max(width, 1)),
                index_col=False, dtype=object, na_filter=False, skip_blank_lines=False,
                engine="c",
            )  # fmt: skip
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError):
        return None
    if len(frame) != lines:
        return None
    cells = frame.to_numpy(dtype=object)
    limit = csv.field_size_limit()
    # Lines first (a cell is no longer than its line; split at "\n" only, so that a piece is
    # never shorter than its line), the cells only when a line is that long.
    if (
        len(text) > limit
        and max(map(len, text.split("\n"))) > limit
        and any(max(map(len, column)) > limit for column in cells.T)
    ):
        return None
    return cells


def _exact_records(
    path: Path, text: str, delimiter: str, row_cap: int, max_rows: int
) -> tuple[list[list[str]], list[int]]:
    """The standard csv reader, record by record: the line each record starts on, and the
    exact sentence for a file that is not CSV."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    starts: list[int] = []
    next_line = 1
    try:
        for record in reader:
            start, next_line = next_line, reader.line_num + 1
            if any(record):
                rows.append(record)
                starts.append(start)
                if len(rows) > row_cap:
                    raise too_many_rows(path, max_rows)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise UnreadableFileError(
                path,
                _("line {line} has a cell of more than {kb} KB: not a planning cell (a quote "
                  "left open?)").format(line=reader.line_num, kb=csv.field_size_limit() // 1024),
            ) from None  # fmt: skip
        raise UnreadableFileError(
            path, _("line {line} is not valid CSV ({why})").format(line=reader.line_num, why=exc)
        ) from None
    return rows, starts


def _sniff_delimiter(text: str) -> tuple[str, int]:
    """The delimiter that splits the first lines into the most consistent number of fields,
    and the most fields a line of them has."""
    sample = [line for line in text.splitlines()[:200] if line.strip()][:_SNIFF_LINES]
    best, best_score, best_width = CSV_DELIMITERS[0], (0, 0), 1
    for delimiter in CSV_DELIMITERS:
        try:
            widths = [len(record) for record in csv.reader(sample, delimiter=delimiter)]
        except csv.Error:
            continue
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        score = (count if width > 1 else 0, width)
        if score > best_score:
            best, best_score, best_width = delimiter, score, max(widths)
    return best, best_width


def not_text(data: bytes) -> str:
    return _("is not a text (CSV) file{hint}").format(hint=looks_like(data))
