"""What a workbook is checked for before it is parsed: a zip bomb, another kind of document
under a workbook's name, and a sheet whose declared extent no planning has. Cheap checks on
the file's bytes; the reading child's memory cap (``isolation``) backs them up.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

from importer.errors import FileLimitError, UnreadableFileError
from importer.i18n import _, lazy, number

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_INFLATE_RATIO = 100
MAX_INFLATED_BYTES_PER_FILE_BYTE = 20


def too_many_rows(path: Path, max_rows: int) -> FileLimitError:
    return FileLimitError(
        path,
        _(
            "has more than {n} mission rows, over the row limit (limits.max_rows in the "
            "configuration); split the planning"
        ).format(n=number(max_rows)),
    )


def damaged(kind: str, reason: str | None = None) -> str:
    because = f" ({reason})" if reason else _(" (truncated, or still being written?)")
    return _(
        "is damaged or not a real .{kind} workbook{because}: open it in your spreadsheet "
        "program and save it again"
    ).format(kind=kind, because=because)


def refuse_zip_bomb(path: Path, data: bytes, kind: str) -> None:
    """Refuse a workbook (a zip) that would inflate far beyond any real planning."""
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UnreadableFileError(path, damaged(kind)) from None
    inflated = sum(member.file_size for member in members)
    worst = max(
        (m.file_size / max(m.compress_size, 1) for m in members if m.file_size > 1 << 20),
        default=0,
    )
    if inflated > MAX_INFLATED_BYTES_PER_FILE_BYTE * max(len(data), 1 << 20) or (
        worst > MAX_INFLATE_RATIO
    ):
        raise UnreadableFileError(
            path,
            _(
                "would inflate to {mb} MB ({ratio} times its compressed size): not a real "
                "planning (a 'zip bomb'?), refused unread"
            ).format(mb=number(round(inflated / 1024 / 1024)), ratio=number(round(worst))),
        )


# A planning has a few dozen columns and at most max_rows rows. The fast reader builds a dense
# grid from the first to the last cell, so one far cell (XFD200000) or one row repeated a
# million times (OpenDocument's number-rows-repeated) asks for billions of cells. What a sheet
# declares is checked first, cheaply; it is not trusted alone: the reading child's memory cap
# (isolation.py) refuses whatever the declaration hides.
MAX_COLUMNS = 1024
MAX_CELLS = 10_000_000


def refuse_huge_extent(path: Path, data: bytes, kind: str, max_rows: int, row_cap: int) -> None:
    """Refuse a sheet whose cells reach beyond ``row_cap`` rows (``max_rows`` mission rows
    and the header's search), ``MAX_COLUMNS`` columns or ``MAX_CELLS`` cells."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if kind == "ods":
            parts = [n for n in archive.namelist() if n == "content.xml"]
        else:
            parts = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        for name in parts:
            with archive.open(name) as part:
                if kind == "ods":
                    rows, columns = _ods_extent(part.read(), row_cap)
                else:
                    rows, columns = _xlsx_extent(part, row_cap)
            if rows > row_cap:
                raise too_many_rows(path, max_rows)
            if columns > MAX_COLUMNS or rows * columns > MAX_CELLS:
                raise FileLimitError(
                    path,
                    _(
                        "is over the limits: its cells reach row {rows} and column {columns} "
                        "({cells} cells to read), far beyond any real planning; open it in your "
                        "spreadsheet program, delete the empty rows and columns after the table, "
                        "and save it again"
                    ).format(
                        rows=number(rows), columns=number(columns), cells=number(rows * columns)
                    ),
                )


_DIMENSION = re.compile(
    rb'<(?:\w+:)?dimension\b[^>]*?\bref="([A-Z]{1,3})?(\d{1,7})?:?([A-Z]{1,3})(\d{1,7})"'
)
# Cell references, found with a literal prefix (` r="`) so that the scan runs at C speed.
_CELL_REF = re.compile(rb' r="([A-Z]{1,3})([0-9]{1,7})"')


def _xlsx_extent(part: Any, row_cap: int) -> tuple[int, int]:
    """The extent a worksheet declares (``<dimension ref="A1:M37"/>``); when it declares more
    than a planning can hold, the cells themselves are counted (a declaration can be wrong
    both ways: the memory cap is there for the sheet that declares little and holds much)."""
    head = part.read(4096)
    declared = _DIMENSION.search(head)
    if declared is None:
        return 0, 0
    rows, columns = int(declared.group(4)), _column_number(declared.group(3))
    if rows <= row_cap and columns <= MAX_COLUMNS and rows * columns <= MAX_CELLS:
        return rows, columns
    rows = columns = 0
    tail, block = b"", head
    while block:
        chunk, tail = tail + block, block[-32:]
        block = part.read(4 << 20)
        for letters, digits in _CELL_REF.findall(chunk):
            columns = max(columns, _column_number(letters))
            rows = max(rows, int(digits))
    return rows, columns


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


# A repeat that matters: a thousand or more (found at C speed; smaller ones are bounded by the
# XML's own size, which the zip-bomb check bounds).
_BIG_REPEAT = re.compile(rb'number-(rows|columns)-repeated="([0-9]{4,})"')
_HAS_VALUE = (b"office:value-type", b"<text:p")


def _ods_extent(xml: bytes, row_cap: int) -> tuple[int, int]:
    """The rows and columns OpenDocument's big repeats make the reader build: a repeated row
    or cell that holds a value, or empty ones with values after them in the same table or row.
    Empty repeats at the end (LibreOffice closes every sheet with a million) cost nothing."""
    rows, columns = 0, 0
    for repeat in _BIG_REPEAT.finditer(xml):
        count = int(repeat.group(2))
        start = xml.rfind(b"<table:", 0, repeat.start())
        element = xml[start + 7 : start + 7 + 32].split(None, 1)[0]
        if element not in (b"table-row", b"table-cell", b"covered-table-cell"):
            continue  # a column's style (table-column) makes no cell
        tag_end = xml.find(b">", repeat.end())
        if xml[tag_end - 1 : tag_end] == b"/":
            end = tag_end + 1
        else:
            end = xml.find(b"</table:" + element + b">", tag_end)
            end = len(xml) if end < 0 else end
        body = xml[start:end]
        # where a value after this element would still be in its table (rows) or row (cells)
        scope_end = xml.find(
            b"</table:table>" if element == b"table-row" else b"</table:table-row>", end
        )
        after = xml[end : len(xml) if scope_end < 0 else scope_end]
        if any(mark in body for mark in _HAS_VALUE) or any(mark in after for mark in _HAS_VALUE):
            if element == b"table-row":
                rows += count
            else:
                columns = max(columns, count)
    return rows, max(columns, 1) if rows else columns


# Office documents are zips too: what a zip holds says which document it is.
_OTHER_DOCUMENTS = {
    "word/document.xml": lazy("a Word document (.docx)"),
    "ppt/presentation.xml": lazy("a PowerPoint presentation (.pptx)"),
    "application/vnd.oasis.opendocument.text": lazy("a Writer text document (.odt)"),
    "application/vnd.oasis.opendocument.presentation": lazy("an Impress presentation (.odp)"),
}


def refuse_other_documents(path: Path, data: bytes) -> None:
    """A text document or a presentation renamed as a workbook is said to be one."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        marks = set(names)
        if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
            marks.add(archive.read("mimetype").decode("ascii", "replace").strip())
    for mark, document in _OTHER_DOCUMENTS.items():
        if mark in marks:
            raise UnreadableFileError(
                path,
                _(
                    "is {document}, not a workbook: open the planning itself, or copy its "
                    "table into a spreadsheet and save that"
                ).format(document=document),
            )


def looks_like(data: bytes) -> str:
    """What a file that is not what its name says looks like, as a clause (or nothing)."""
    if data.startswith(ZIP_MAGIC):
        return _(" (it looks like a zip or a workbook: check the file's extension)")
    if data.startswith(OLE_MAGIC):
        return _(" (it looks like an old Excel .xls workbook: check the file's extension)")
    if data.startswith(b"%PDF"):
        return _(" (it is a PDF document)")
    if data[:1] in (b"<", b"\xef") and b"<html" in data[:512].lower():
        return _(" (it is a web page)")
    return ""
