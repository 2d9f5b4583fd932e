"""Reading: a planning file on disk to its non-blank rows of typed cells.

Workbooks (.xlsx, .xlsm, .xls, .ods) are read with python-calamine; text files (.csv, .txt)
with pandas' C parser (the standard csv module where a file needs its exactness: a cell over
several lines, ragged lines), the delimiter sniffed and the encoding found. Every row keeps
the row number a person sees in the spreadsheet (the line number in a CSV). Cells stay typed:
a date cell is a ``datetime``, a whole number is an ``int`` (an id 12345 is not 12345.0), a
blank cell is ``None``.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import logging
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import python_calamine

from importer import halves
from importer.cells import Factorised, factorise, typed_as_read
from importer.encodings import decode
from importer.errors import FileLimitError, LayoutError, UnreadableFileError
from importer.halves import Typed
from importer.i18n import _, language, number, system_reason, use
from importer.isolation import ChildDied, run_capped
from importer.screening import (
    damaged as _damaged,
)
from importer.screening import (
    refuse_huge_extent,
    refuse_other_documents,
    refuse_zip_bomb,
    too_many_rows,
)
from importer.standard_read import STANDARD_READERS, Grid, first_line, no_sheet, read_standard

log = logging.getLogger(__name__)

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
TEXT_SUFFIXES = (".csv", ".txt")
SUPPORTED = ", ".join((*WORKBOOK_SUFFIXES, *TEXT_SUFFIXES))

# A workbook read apart (``max_memory_bytes``) must be read within this many seconds.
DEFAULT_READ_SECONDS = 60.0
# The header is looked for in this many first non-blank rows.
HEADER_SEARCH_ROWS = 20
CSV_DELIMITERS = (";", ",", "\t")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Office saves a password-protected .xlsx as an OLE container holding this stream.
_ENCRYPTED_MARK = "EncryptedPackage".encode("utf-16-le")


def _protected() -> str:
    return _("is protected by a password: save an unprotected copy and import that")


@dataclass(frozen=True)
class RawSheet:
    """The non-blank rows of one sheet, before the header is found."""

    path: Path
    file_format: str  # xlsx, xlsm, xls, ods or csv
    sheet_name: str | None  # None for a text file
    rows: np.ndarray  # 2-D, object cells; fully blank rows already dropped
    row_numbers: np.ndarray  # the spreadsheet row number of each row, 1-based
    first_column: int  # 0-based index of the sheet's first column (for cell letters)
    sha256: str
    encoding: str | None = None  # text files only
    delimiter: str | None = None  # text files only
    columns: tuple[Factorised, ...] = ()  # the same cells, column by column, factorised

    def __post_init__(self) -> None:
        if len(self.columns) != self.rows.shape[1]:
            factorised = tuple(factorise(self.rows[:, i]) for i in range(self.rows.shape[1]))
            object.__setattr__(self, "columns", factorised)


def _grid(columns: tuple[Factorised, ...], height: int) -> np.ndarray:
    grid = np.empty((height, len(columns)), dtype=object)
    for position, column in enumerate(columns):
        grid[:, position] = column.values()
    return grid


def read_planning(
    path: Path,
    *,
    sheet: str | None = None,
    max_bytes: int,
    max_rows: int,
    max_memory_bytes: int | None = None,
    max_seconds: float = DEFAULT_READ_SECONDS,
) -> RawSheet:
    """Read a planning file; raise a PlanningFileError subclass if it cannot be used at all.

    With ``max_memory_bytes``, a workbook is read in a child process capped to that much
    memory and ``max_seconds``: whatever the file, this process survives it.
    """
    path = Path(path)
    if not path.is_file():
        what = _("is a folder, not a file") if path.is_dir() else _("does not exist")
        raise UnreadableFileError(path, f"{what} ({path})")
    suffix = path.suffix.lower()
    if suffix not in WORKBOOK_SUFFIXES + TEXT_SUFFIXES:
        raise UnreadableFileError(
            path,
            _("'{suffix}' files are not planning files; use one of {supported}").format(
                suffix=suffix or path.name, supported=SUPPORTED
            ),
        )
    data = _read_bytes(path, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    # Stop reading early when a file is far over the row limit: memory stays bounded.
    row_cap = max_rows + HEADER_SEARCH_ROWS
    if suffix in TEXT_SUFFIXES:
        return _read_text(path, data, digest, row_cap)
    if max_memory_bytes is None:
        return _sheet_of(path, suffix, digest, _read_workbook(path, data, suffix, sheet, row_cap))
    try:
        typed = run_capped(
            _read_workbook_in, language(), halves.CUT_FROM_BYTES, path, data, suffix, sheet,
            row_cap, memory_bytes=max_memory_bytes, seconds=max_seconds,
        )  # fmt: skip
    except ChildDied as death:
        if death.over_time:
            limit = _("takes more than {seconds} s to read").format(seconds=f"{max_seconds:g}")
        else:
            limit = _("needs more than {mb} MB to read ({why})").format(
                mb=number(round(max_memory_bytes / 1024 / 1024)), why=death
            )
        raise FileLimitError(
            path,
            _(
                "is over the limits: it {limit}, far beyond any real planning; open it in your "
                "spreadsheet program, delete the empty rows and columns after the table, and "
                "save it again (limits.max_memory_mb in the configuration)"
            ).format(limit=limit),
        ) from None
    return _sheet_of(path, suffix, digest, typed)


def _read_workbook_in(lang: str, cut_from: int, *args: Any) -> Typed:
    """``_read_workbook`` in a child, speaking its parent's language, a big sheet parsed in
    halves (the threshold comes from the parent too: a fork server's module is its own). The
    columns come back factorised: the grid is built here, from them."""
    use(lang)
    return _read_workbook(*args, cut_from=cut_from)


def _sheet_of(path: Path, suffix: str, digest: str, typed: Typed) -> RawSheet:
    numbers, columns, first_column, name = typed
    cells = _grid(columns, len(numbers))
    return RawSheet(path, suffix[1:], name, cells, numbers, first_column, digest, columns=columns)


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FileLimitError(
                path,
                _("is {size} MB, over the {limit} MB limit (limits.max_file_mb in the "
                  "configuration)").format(size=f"{size / 1024 / 1024:.1f}",
                                           limit=f"{max_bytes / 1024 / 1024:.0f}"),
            )  # fmt: skip
        if size == 0:
            raise LayoutError(path, _("is empty (0 bytes)"))
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(
            path, _("cannot be opened: {why}").format(why=system_reason(exc))
        ) from None


# --- workbooks --------------------------------------------------------------------------------


def _read_workbook(
    path: Path,
    data: bytes,
    suffix: str,
    sheet: str | None,
    row_cap: int,
    *,
    cut_from: int | None = None,
) -> Typed:
    kind = suffix.lstrip(".")
    expected = _OLE_MAGIC if suffix == ".xls" else _ZIP_MAGIC
    if suffix != ".xls" and data.startswith(_OLE_MAGIC) and _ENCRYPTED_MARK in data:
        raise UnreadableFileError(path, _protected())
    if not data.startswith(expected):
        hint = _looks_like(data)
        raise UnreadableFileError(
            path, _("is not a valid .{kind} workbook{hint}").format(kind=kind, hint=hint)
        )
    if expected == _ZIP_MAGIC:
        refuse_zip_bomb(path, data, kind)
        refuse_other_documents(path, data)
        refuse_huge_extent(path, data, kind, row_cap - HEADER_SEARCH_ROWS, row_cap)
    typed = None if cut_from is None else _read_in_halves(path, data, sheet, row_cap, cut_from)
    return typed if typed is not None else _read_whole(path, data, kind, sheet, row_cap)


def _read_whole(path: Path, data: bytes, kind: str, sheet: str | None, row_cap: int) -> Typed:
    try:
        return _typed_sheet(path, data, sheet, row_cap)
    except python_calamine.PasswordError:
        raise UnreadableFileError(path, _protected()) from None
    except (UnreadableFileError, LayoutError, FileLimitError):
        raise
    except BaseException as exc:  # calamine's errors share no base class; a Rust panic neither
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        # Office suites other than Excel and LibreOffice write the same formats with their own
        # habits, which the fast reader may refuse: a standard reader has the last word.
        log.debug("calamine refused %s: %s", path, first_line(exc))
        if kind not in STANDARD_READERS:
            raise UnreadableFileError(path, _damaged(kind)) from None
        grid, first_row, first_column, sheet_name = read_standard(
            path, data, kind, sheet, row_cap, row_cap - HEADER_SEARCH_ROWS
        )
    numbers = np.arange(first_row + 1, first_row + 1 + len(grid))
    return (*_typed_grid(grid, numbers), first_column, sheet_name)


def _read_in_halves(
    path: Path, data: bytes, sheet: str | None, row_cap: int, cut_from: int
) -> Typed | None:
    """A big one-sheet workbook parsed in two halves on two cores (``halves``), or None: the
    file is read whole, which has the last word on anything unusual."""
    try:
        typed = halves.read_in_halves(
            data, functools.partial(_typed_half, path, sheet=sheet, row_cap=row_cap), cut_from
        )
    except (FileLimitError, ChildDied):
        raise
    except Exception as exc:
        log.debug("%s read whole, not in halves: %s", path, first_line(exc))
        return None
    if typed is not None and len(typed[0]) and typed[0][-1] - typed[0][0] >= row_cap:
        raise too_many_rows(path, row_cap - HEADER_SEARCH_ROWS)  # each half was under the cap
    return typed


def _typed_half(path: Path, data: bytes, sheet: str | None, row_cap: int) -> Typed:
    """``_typed_sheet`` of a half; a Rust panic (no Exception) made one, so that it comes back
    from the child beside and the file is read whole, where the standard reader has its say."""
    try:
        return _typed_sheet(path, data, sheet, row_cap)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        if isinstance(exc, Exception):
            raise
        raise RuntimeError(first_line(exc)) from None


def _typed_sheet(path: Path, data: bytes, sheet: str | None, row_cap: int) -> Typed:
    grid, first_row, first_column, sheet_name = _read_fast(path, data, sheet, row_cap)
    numbers = np.arange(first_row + 1, first_row + 1 + len(grid))
    return (*_typed_grid(grid, numbers), first_column, sheet_name)


def _read_fast(path: Path, data: bytes, sheet: str | None, row_cap: int) -> Grid:
    """python-calamine: several times faster than the standard readers, and reads .xls."""
    workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    calamine_sheet = _choose_sheet(path, workbook, sheet)
    if calamine_sheet.height > row_cap:
        raise too_many_rows(path, row_cap - HEADER_SEARCH_ROWS)
    grid = calamine_sheet.to_python(skip_empty_area=True)
    first_row, first_column = calamine_sheet.start or (0, 0)
    return grid, first_row, first_column, calamine_sheet.name


def _choose_sheet(
    path: Path, workbook: python_calamine.CalamineWorkbook, wanted: str | None
) -> python_calamine.CalamineSheet:
    names = list(workbook.sheet_names)
    if wanted is not None:
        if wanted in names:
            return workbook.get_sheet_by_name(wanted)
        raise LayoutError(path, no_sheet(wanted, names))
    for meta in workbook.sheets_metadata:
        visible = meta.visible == python_calamine.SheetVisibleEnum.Visible
        if not visible or meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
            continue
        candidate = workbook.get_sheet_by_name(meta.name)
        if candidate.height > 0:
            return candidate
    raise LayoutError(path, _("has no sheet with any content"))


def _typed_grid(
    grid: list[list[Any]], numbers: np.ndarray
) -> tuple[np.ndarray, tuple[Factorised, ...]]:
    """Type every cell and drop fully blank rows: the row numbers kept, and the columns
    factorised (each typed once per distinct value)."""
    widths = set(map(len, grid))
    width = max(widths, default=0)
    if len(widths) <= 1:
        cells = np.array(grid, dtype=object).reshape(len(grid), width)  # one C call
    else:
        cells = np.empty((len(grid), width), dtype=object)
        for position, row in enumerate(grid):
            cells[position, : len(row)] = row
    return _typed_cells(cells, numbers)


def _typed_cells(
    cells: np.ndarray, numbers: np.ndarray
) -> tuple[np.ndarray, tuple[Factorised, ...]]:
    """Each column factorised and its distinct values typed; fully blank rows dropped."""
    columns = []
    blank_rows = np.ones(len(cells), dtype=bool)
    for position in range(cells.shape[1]):
        column = factorise(cells[:, position])
        column.uniques = typed_as_read(column.uniques)
        blank_rows &= (column.uniques == None)[column.codes]  # noqa: E711 (elementwise)
        columns.append(column)
    keep = np.flatnonzero(~blank_rows)
    kept = tuple(column.of_rows(keep) for column in columns)
    return numbers[keep], kept


# --- text files -------------------------------------------------------------------------------


def _read_text(path: Path, data: bytes, digest: str, row_cap: int) -> RawSheet:
    if data.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
        raise UnreadableFileError(path, _not_text(data))
    text, encoding = decode(path, data)
    if "\x00" in text:
        raise UnreadableFileError(path, _not_text(data))
    delimiter, width = _sniff_delimiter(text)
    fast = _fast_records(text, delimiter, width, row_cap)
    if fast is None:
        rows, starts = _exact_records(path, text, delimiter, row_cap)
        numbers, columns = _typed_grid(rows, np.array(starts, dtype=np.int64))
    else:
        numbers = np.arange(1, len(fast) + 1, dtype=np.int64)  # line i+1 in row i
        numbers, columns = _typed_cells(fast, numbers)
    cells = _grid(columns, len(numbers))
    return RawSheet(path, "csv", None, cells, numbers, 0, digest, encoding, delimiter, columns)


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
    path: Path, text: str, delimiter: str, row_cap: int
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
                    raise too_many_rows(path, row_cap - HEADER_SEARCH_ROWS)
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
    sample = [line for line in text.splitlines()[:200] if line.strip()][: HEADER_SEARCH_ROWS + 30]
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


# --- helpers ----------------------------------------------------------------------------------


def _looks_like(data: bytes) -> str:
    if data.startswith(_ZIP_MAGIC):
        return _(" (it looks like a zip or a workbook: check the file's extension)")
    if data.startswith(_OLE_MAGIC):
        return _(" (it looks like an old Excel .xls workbook: check the file's extension)")
    if data.startswith(b"%PDF"):
        return _(" (it is a PDF document)")
    if data[:1] in (b"<", b"\xef") and b"<html" in data[:512].lower():
        return _(" (it is a web page)")
    return ""


def _not_text(data: bytes) -> str:
    return _("is not a text (CSV) file{hint}").format(hint=_looks_like(data))
