"""Reading: a planning file on disk to its non-blank rows of typed cells.

Workbooks (.xlsx, .xlsm, .xls, .ods) are read with python-calamine; text files (.csv, .txt)
with pandas' C parser (the standard csv module where a file needs its exactness: a cell over
several lines, ragged lines), the delimiter sniffed and the encoding found. Every row keeps
the row number a person sees in the spreadsheet (the line number in a CSV). Cells stay typed:
a date cell is a ``datetime``, a whole number is an ``int`` (an id 12345 is not 12345.0), a
blank cell is ``None``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import python_calamine

from importer import halves
from importer.cells import Factorised, factorise, objects, typed_as_read
from importer.errors import FileLimitError, LayoutError, UnreadableFileError
from importer.halves import Chosen, Typed
from importer.i18n import _, language, number, system_reason, use
from importer.isolation import ChildDied, run_capped
from importer.schemas.aliases import HEADER_SEARCH_ROWS
from importer.screening import (
    OLE_MAGIC,
    ZIP_MAGIC,
    looks_like,
    refuse_huge_extent,
    refuse_other_documents,
    refuse_zip_bomb,
    too_many_rows,
)
from importer.screening import (
    damaged as _damaged,
)
from importer.sheets import (
    choose_sheet,
    error_cells,
    hidden_rows,
    ods_facts,
    sheet_xml,
)
from importer.standard_read import STANDARD_READERS, first_line, read_standard
from importer.text_read import TEXT_SUFFIXES, text_records

log = logging.getLogger(__name__)

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
SUPPORTED = ", ".join((*WORKBOOK_SUFFIXES, *TEXT_SUFFIXES))

# A workbook read apart (``max_memory_bytes``) must be read within this many seconds.
DEFAULT_READ_SECONDS = 60.0
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
    sheets_passed_over: tuple[str, ...] = ()  # before the one read: no planning header
    other_plannings: tuple[str, ...] = ()  # after the one read, with a planning header too
    hidden_rows: tuple[int, ...] = ()  # the sheet's hidden or filtered-out rows (.xlsx, .ods)

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
    aliases: Mapping[str, str] | None = None,
) -> RawSheet:
    """Read a planning file; raise a PlanningFileError subclass if it cannot be used at all.

    With ``max_memory_bytes``, a workbook is read in a child process capped to that much
    memory and ``max_seconds``: whatever the file, this process survives it. Without
    ``sheet``, the sheet read is the first whose first rows hold a planning header (by
    ``aliases``; the first sheet with content when none does).
    """
    path = Path(path)
    if not path.is_file() and (path.is_dir() or not path.exists()):
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
        if max_memory_bytes is None:
            return _sheet_of_text(path, digest, _read_text(path, data, row_cap, max_rows))
        reading: tuple[Any, ...] = (_read_text_in, language(), path, data, row_cap, max_rows)
    elif max_memory_bytes is None:
        typed = _read_workbook(path, data, suffix, sheet, row_cap, aliases)
        return _sheet_of(path, suffix, digest, typed)
    else:
        reading = (_read_workbook_in, language(), halves.CUT_FROM_BYTES, path, data, suffix,
                   sheet, row_cap, aliases)  # fmt: skip
    try:
        answer = run_capped(*reading, memory_bytes=max_memory_bytes, seconds=max_seconds)
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
    if suffix in TEXT_SUFFIXES:
        return _sheet_of_text(path, digest, answer)
    return _sheet_of(path, suffix, digest, answer)


def _read_text_in(lang: str, *args: Any) -> TypedText:
    """``_read_text`` in a capped child, speaking its parent's language: a text file is read
    under the same caps as a workbook."""
    use(lang)
    return _read_text(*args)


# A text file read: its rows' line numbers, its columns, its encoding and its delimiter.
TypedText = tuple[np.ndarray, tuple[Factorised, ...], str, str]


def _read_text(path: Path, data: bytes, row_cap: int, max_rows: int) -> TypedText:
    records = text_records(path, data, row_cap, max_rows)
    if isinstance(records.cells, np.ndarray):
        numbers, columns = _typed_cells(records.cells, records.lines)
    else:
        numbers, columns = _typed_grid(records.cells, records.lines)
    return numbers, columns, records.encoding, records.delimiter


def _sheet_of_text(path: Path, digest: str, typed: TypedText) -> RawSheet:
    numbers, columns, encoding, delimiter = typed
    cells = _grid(columns, len(numbers))
    return RawSheet(path, "csv", None, cells, numbers, 0, digest, encoding, delimiter, columns)


def _read_workbook_in(lang: str, cut_from: int, *args: Any) -> Typed:
    """``_read_workbook`` in a child, speaking its parent's language, a big sheet parsed in
    halves (the threshold comes from the parent too: a fork server's module is its own). The
    columns come back factorised: the grid is built here, from them."""
    use(lang)
    return _read_workbook(*args, cut_from=cut_from)


def _sheet_of(path: Path, suffix: str, digest: str, typed: Typed) -> RawSheet:
    numbers, columns, first_column, chosen = typed
    cells = _grid(columns, len(numbers))
    return RawSheet(path, suffix[1:], chosen.name, cells, numbers, first_column, digest,
                    columns=columns, sheets_passed_over=chosen.passed_over,
                    other_plannings=chosen.also_plannings,
                    hidden_rows=chosen.hidden_rows)  # fmt: skip


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, read through one handle opened without blocking (a named pipe put in
    its place would wait for ever) and checked on that handle: a regular file, within the size
    limit (told from its size alone: a huge or sparse file is never read)."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UnreadableFileError(
            path, _("cannot be opened: {why}").format(why=system_reason(exc))
        ) from None
    try:
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode):
            raise UnreadableFileError(
                path,
                _("is not a regular file (a named pipe, a device...): save the planning as a file"),
            )
        size = status.st_size
        if size > max_bytes:
            raise FileLimitError(
                path,
                _("is {size} MB, over the {limit} MB limit (limits.max_file_mb in the "
                  "configuration)").format(size=f"{size / 1024 / 1024:.1f}",
                                           limit=f"{max_bytes / 1024 / 1024:.0f}"),
            )  # fmt: skip
        if size == 0:
            raise LayoutError(path, _("is empty (0 bytes)"))
        with os.fdopen(os.dup(handle), "rb") as reading:
            return reading.read(max_bytes + 1)  # bounded, were it to grow meanwhile
    except OSError as exc:
        raise UnreadableFileError(
            path, _("cannot be opened: {why}").format(why=system_reason(exc))
        ) from None
    finally:
        os.close(handle)


# --- workbooks --------------------------------------------------------------------------------


def _read_workbook(
    path: Path,
    data: bytes,
    suffix: str,
    sheet: str | None,
    row_cap: int,
    aliases: Mapping[str, str] | None = None,
    *,
    cut_from: int | None = None,
) -> Typed:
    kind = suffix.lstrip(".")
    expected = OLE_MAGIC if suffix == ".xls" else ZIP_MAGIC
    if suffix != ".xls" and data.startswith(OLE_MAGIC) and _ENCRYPTED_MARK in data:
        raise UnreadableFileError(path, _protected())
    if not data.startswith(expected):
        hint = looks_like(data)
        raise UnreadableFileError(
            path, _("is not a valid .{kind} workbook{hint}").format(kind=kind, hint=hint)
        )
    if expected == ZIP_MAGIC:
        refuse_zip_bomb(path, data, kind)
        refuse_other_documents(path, data)
        refuse_huge_extent(path, data, kind, row_cap - HEADER_SEARCH_ROWS, row_cap)
    typed = None if cut_from is None else _read_in_halves(path, data, sheet, row_cap, cut_from)
    if typed is None:
        typed = _read_whole(path, data, kind, sheet, row_cap, aliases)
    return typed


def _with_errors(
    numbers: np.ndarray,
    columns: tuple[Factorised, ...],
    first_column: int,
    errors: list[tuple[int, int, str]],
) -> tuple[Factorised, ...]:
    """The columns with each error cell (#N/A...) as its text, where the reader left a blank:
    a person's column is carried to the workbooks as the cell shows it."""
    patched = list(columns)
    by_column: dict[int, list[tuple[int, str]]] = {}
    for row, column, text in errors:
        position, index = int(np.searchsorted(numbers, row)), column - first_column
        if position < len(numbers) and numbers[position] == row and 0 <= index < len(patched):
            by_column.setdefault(index, []).append((position, text))
    # One new column each (a column of #N/A, a lookup that found nothing, is common).
    for index, cells in by_column.items():
        old = patched[index]
        codes = old.codes.copy()
        texts = sorted({text for _, text in cells})
        code_of = {text: len(old.uniques) + n for n, text in enumerate(texts)}
        for position, text in cells:
            codes[position] = code_of[text]
        patched[index] = Factorised(codes, objects([*old.uniques, *texts]))
    return tuple(patched)


def _read_whole(
    path: Path,
    data: bytes,
    kind: str,
    sheet: str | None,
    row_cap: int,
    aliases: Mapping[str, str] | None,
) -> Typed:
    try:
        return _typed_sheet(path, data, sheet, row_cap, aliases)
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
    return (*_typed_grid(grid, numbers), first_column, Chosen(sheet_name))


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


def _typed_sheet(
    path: Path,
    data: bytes,
    sheet: str | None,
    row_cap: int,
    aliases: Mapping[str, str] | None = None,
) -> Typed:
    grid, first_row, first_column, chosen = _read_fast(path, data, sheet, row_cap, aliases)
    numbers = np.arange(first_row + 1, first_row + 1 + len(grid))
    numbers, columns = _typed_grid(grid, numbers)
    # What the fast reader does not say of an .xlsx sheet: its hidden rows, its error cells.
    # A half of a big sheet (``halves``) is a stored zip: its XML costs a copy, not an inflate.
    xml = sheet_xml(data, chosen.name) if data.startswith(ZIP_MAGIC) else None
    if xml is not None:
        columns = _with_errors(numbers, columns, first_column, error_cells(xml))
        chosen = chosen._replace(hidden_rows=hidden_rows(xml))
    elif data.startswith(ZIP_MAGIC):  # an OpenDocument sheet
        hidden, errors = ods_facts(data, chosen.name)
        columns = _with_errors(numbers, columns, first_column, errors)
        chosen = chosen._replace(hidden_rows=hidden)
    return numbers, columns, first_column, chosen


def _read_fast(
    path: Path, data: bytes, sheet: str | None, row_cap: int, aliases: Mapping[str, str] | None
) -> tuple[list[list[Any]], int, int, Chosen]:
    """python-calamine: several times faster than the standard readers, and reads .xls."""
    workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    calamine_sheet, chosen = choose_sheet(path, workbook, sheet, aliases)
    if calamine_sheet.height > row_cap:
        raise too_many_rows(path, row_cap - HEADER_SEARCH_ROWS)
    grid = calamine_sheet.to_python(skip_empty_area=True)
    first_row, first_column = calamine_sheet.start or (0, 0)
    return grid, first_row, first_column, chosen


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
