"""A big one-sheet workbook cut in two, so that the reader parses it on two cores.

python-calamine parses a sheet on one core (about 70 MB of sheet XML a second on the bench
machine: a second for a 100,000-row planning). A workbook with a single worksheet whose XML is
big enough is cut here into two workbooks, each holding every other part of the original and
half of the sheet's rows, cut just before a ``<row>`` element: each half is parsed in a process
of its own. Every row keeps its number, which its element carries (``r="50114"``): the cut is
made only before a row that says it. Anything unusual (several worksheets, a prefixed XML
namespace, a comment or CDATA in the sheet, a row without its number, a damaged archive) is
not cut: the file is read whole.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from importer.cells import Factorised, objects
from importer.isolation import beside


class Chosen(NamedTuple):
    """The sheet read, and why: the sheets passed over before it (no planning header in
    their first rows), and those after it that hold a planning header too (not read); and
    its rows that are hidden (by hand, or by a filter)."""

    name: str
    passed_over: tuple[str, ...] = ()
    also_plannings: tuple[str, ...] = ()
    hidden_rows: tuple[int, ...] = ()


# A sheet read: its rows' numbers, its columns, its first column (0-based), which sheet.
Typed = tuple[np.ndarray, tuple[Factorised, ...], int, Chosen]

# Below this much sheet XML, a second process costs more than it saves.
CUT_FROM_BYTES = 16 * 1024 * 1024
_WORKSHEET = re.compile(r"xl/worksheets/[^/]+\.xml")
_SHEET_DATA = b"<sheetData>"
_SHEET_DATA_END = b"</sheetData>"
_ROW = b"<row "
# A comment or a CDATA section may hold "<row " as text: such a rare sheet is read whole.
_UNCUTTABLE = b"<!"


def read_in_halves(
    data: bytes, read: Callable[[bytes], Typed], cut_from: int = CUT_FROM_BYTES
) -> Typed | None:
    """``read`` of the workbook, run on each half at once (the second in a child beside this
    process, under the same caps), the halves joined; None where the workbook is not cut.
    Each process inflates the sheet and cuts its own half: the cut is the same in both."""
    if not _worth_cutting(data, cut_from):
        return None
    second = beside(_read_half, data, 1, read)
    try:
        first = _read_half(data, 0, read)
    finally:
        second_read = second()  # always waited for: no child left behind
    if first is None or second_read is None:
        return None
    return joined(first, second_read)


def _read_half(data: bytes, which: int, read: Callable[[bytes], Typed]) -> Typed | None:
    workbook = half(data, which)
    return None if workbook is None else read(workbook)


def joined(first: Typed, second: Typed) -> Typed:
    """Two halves of a sheet as one: the rows of the first, then those of the second, each
    half's columns placed by its own first column (a half may start or end a column later).
    A value found in both halves is listed twice among a column's uniques: harmless, both are
    typed and parsed alike."""
    start = min(first[2], second[2])
    width = max(first[2] + len(first[1]), second[2] + len(second[1])) - start
    placed = [_placed(part, start, width) for part in (first, second)]
    columns = tuple(
        Factorised(
            np.concatenate([a.codes, b.codes + len(a.uniques)]),
            np.concatenate([a.uniques, b.uniques]),
        )
        for a, b in zip(*placed, strict=True)
    )
    chosen = first[3]._replace(hidden_rows=first[3].hidden_rows + second[3].hidden_rows)
    return np.concatenate([first[0], second[0]]), columns, start, chosen


def _placed(part: Typed, start: int, width: int) -> list[Factorised]:
    """A half's columns from ``start``, ``width`` of them: blank ones where it has none."""
    numbers, columns, first_column, _ = part
    blank = Factorised(np.zeros(len(numbers), dtype=np.intp), objects([None]))
    before = first_column - start
    return [blank] * before + list(columns) + [blank] * (width - before - len(columns))


def _worth_cutting(data: bytes, cut_from: int) -> bool:
    """Two cores, and one worksheet of at least ``cut_from`` bytes of XML (the zip's
    directory says so, nothing inflated)."""
    if len(os.sched_getaffinity(0)) < 2:
        return False
    try:
        sheets = [part for part in zipfile.ZipFile(io.BytesIO(data)).infolist() if _is_sheet(part)]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return False  # the whole read says what is wrong
    return len(sheets) == 1 and sheets[0].file_size >= cut_from


def half(data: bytes, which: int) -> bytes | None:
    """The workbook with only the upper (0) or lower (1) half of its one sheet's rows, every
    other part as it is; None where the sheet cannot be cut safely."""
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        [sheet] = [part for part in book.infolist() if _is_sheet(part)]
        xml = book.read(sheet)
        cut = _cut(xml)
        if cut is None:
            return None
        others = [(part.filename, book.read(part)) for part in book.infolist() if part != sheet]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return None
    start, middle, end = cut
    rows = memoryview(xml)[start:middle] if which == 0 else memoryview(xml)[middle:end]
    return _workbook(others, sheet.filename, (xml[:start], rows, xml[end:]))


def _is_sheet(part: zipfile.ZipInfo) -> bool:
    return _WORKSHEET.fullmatch(part.filename) is not None


def _cut(xml: bytes) -> tuple[int, int, int] | None:
    """Where the rows start, where the second half starts, where the rows end."""
    start = xml.find(_SHEET_DATA)
    end = xml.rfind(_SHEET_DATA_END)
    if start < 0 or end < start or (b"!" in xml and _UNCUTTABLE in xml):  # the first: memchr
        return None
    start += len(_SHEET_DATA)
    middle = xml.find(_ROW, (start + end) // 2, end)
    if middle < 0:
        return None
    tag_end = xml.find(b">", middle, end)
    if tag_end < 0 or b' r="' not in xml[middle:tag_end]:
        return None
    return start, middle, end


def _workbook(others: list[tuple[str, bytes]], sheet_name: str, sheet: tuple) -> bytes:
    """A zip of the other parts and the sheet's pieces, stored: calamine reads it unpacked."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as book:
        for name, content in others:
            book.writestr(name, content)
        with book.open(sheet_name, "w") as part:
            for piece in sheet:
                part.write(piece)
    return out.getvalue()
