"""Which sheet of a workbook is the planning, and which of its rows a person cannot see.

Without a sheet named by the person, the first visible worksheet whose first rows hold a
planning header is read (a sheet of instructions before it is passed over); the sheets passed
over and the other plannings are named, so that the summaries can say so. The rows hidden by
hand or by a filter (.xlsx) are found from the sheet's XML, for the summaries to say.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import python_calamine

from importer.errors import LayoutError
from importer.halves import Chosen
from importer.i18n import _
from importer.schemas.aliases import HEADER_SEARCH_ROWS, is_planning_header
from importer.standard_read import no_sheet

# The header of a planning is looked for in this many first rows of each sheet.
_PEEK_ROWS = 200


def choose_sheet(
    path: Path,
    workbook: python_calamine.CalamineWorkbook,
    wanted: str | None,
    aliases: Mapping[str, str] | None,
) -> tuple[python_calamine.CalamineSheet, Chosen]:
    """The sheet named ``wanted``; else the first visible worksheet with a planning header in
    its first rows (a « Consignes » sheet before it is passed over, and said), or, when none
    has one, the first with content (whose reading then says what is missing)."""
    names = list(workbook.sheet_names)
    if wanted is not None:
        if wanted in names:
            return workbook.get_sheet_by_name(wanted), Chosen(wanted)
        raise LayoutError(path, no_sheet(wanted, names))
    candidates = []
    for meta in workbook.sheets_metadata:
        visible = meta.visible == python_calamine.SheetVisibleEnum.Visible
        if not visible or meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
            continue
        candidate = workbook.get_sheet_by_name(meta.name)
        if candidate.height > 0:
            candidates.append(candidate)
    if not candidates:
        raise LayoutError(path, _("has no sheet with any content"))
    if len(candidates) == 1 or aliases is None:
        return candidates[0], Chosen(candidates[0].name)
    plannings = [sheet for sheet in candidates if has_planning_header(sheet, aliases)]
    if not plannings:
        return candidates[0], Chosen(candidates[0].name)
    chosen = plannings[0]
    before = tuple(sheet.name for sheet in candidates[: candidates.index(chosen)])
    return chosen, Chosen(chosen.name, before, tuple(sheet.name for sheet in plannings[1:]))


def has_planning_header(sheet: python_calamine.CalamineSheet, aliases: Mapping[str, str]) -> bool:
    rows = sheet.to_python(skip_empty_area=True, nrows=_PEEK_ROWS)
    non_blank = [row for row in rows if any(cell not in ("", None) for cell in row)]
    return any(is_planning_header(row, aliases) for row in non_blank[:HEADER_SEARCH_ROWS])


_SHEET_ENTRY = re.compile(rb'<(?:\w+:)?sheet\b[^>]*?\bname="([^"]*)"[^>]*?\br:id="([^"]*)"')
_RELATION = re.compile(rb'<Relationship\b[^>]*?\bId="([^"]*)"[^>]*?\bTarget="([^"]*)"')
_RELATION_REVERSED = re.compile(rb'<Relationship\b[^>]*?\bTarget="([^"]*)"[^>]*?\bId="([^"]*)"')
_HIDDEN_ROW = re.compile(rb'<(?:\w+:)?row\b[^>]*?\bhidden="(?:1|true)"[^>]*>')
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')


def sheet_xml(data: bytes, sheet_name: str) -> bytes | None:
    """The XML of the sheet ``sheet_name`` of a workbook (.xlsx), or None when anything is
    unusual (then nothing more is said of the sheet, and nothing changes)."""
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        workbook = book.read("xl/workbook.xml")
        relations = book.read("xl/_rels/workbook.xml.rels")
        targets = dict(_RELATION.findall(relations))
        targets |= {ident: target for target, ident in _RELATION_REVERSED.findall(relations)}
        wanted = html.escape(sheet_name, quote=True).encode()
        ident = next((i for name, i in _SHEET_ENTRY.findall(workbook) if name == wanted), None)
        if ident is None or ident not in targets:
            return None
        target = targets[ident].decode().lstrip("/")
        return book.read(target if target.startswith("xl/") else f"xl/{target}")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, UnicodeDecodeError):
        return None


def hidden_rows(xml: bytes) -> tuple[int, ...]:
    """The row numbers a sheet's XML hides: by hand or by a filter (both write
    ``hidden="1"`` on the row)."""
    if b"hidden=" not in xml:  # memchr: the common case costs nothing
        return ()
    rows = []
    for row in _HIDDEN_ROW.finditer(xml):
        number = _ROW_NUMBER.search(row.group(0))
        if number:
            rows.append(int(number.group(1)))
    return tuple(rows)


_ODS_REPEATED = re.compile(rb'table:number-(rows|columns)-repeated="(\d+)"')
_ODS_HIDDEN = re.compile(rb'table:visibility="(?:collapse|filter)"')
# A row's start, or a cell (covered or not: each takes its place in the row).
_ODS_ROW_OR_CELL = re.compile(
    rb"<table:table-row\b([^>]*)>|<table:(?:covered-)?table-cell\b([^>]*)>"
)
_ODS_ERROR = b'calcext:value-type="error"'
_ODS_TEXT = re.compile(rb"<text:p>(.*?)</text:p>", re.DOTALL)
_TAG = re.compile(rb"<[^>]*>")


def ods_facts(data: bytes, sheet_name: str) -> tuple[tuple[int, ...], list[tuple[int, int, str]]]:
    """What the fast reader does not say of an OpenDocument sheet: the rows it hides
    (``table:visibility`` collapse or filter: by hand or by a filter), and its error cells
    (#N/A, #DIV/0!..., read as blanks), as ``error_cells`` gives them; counted through the
    repeated rows and cells. Nothing when anything is unusual."""
    try:
        xml = zipfile.ZipFile(io.BytesIO(data)).read("content.xml")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError):
        return (), []
    hides, fails = b'table:visibility="' in xml, _ODS_ERROR in xml  # memchr: usually neither
    start = xml.find(b'<table:table table:name="' + html.escape(sheet_name).encode() + b'"')
    end = xml.find(b"</table:table>", start)
    if not (hides or fails) or start < 0 or end < 0:
        return (), []
    hidden: list[int] = []
    errors: list[tuple[int, int, str]] = []
    row, column, rows_repeated = 0, 0, 1
    for tag in _ODS_ROW_OR_CELL.finditer(xml, start, end):
        attributes = tag.group(1) if tag.group(1) is not None else tag.group(2)
        repeated = _ODS_REPEATED.search(attributes)
        count = int(repeated.group(2)) if repeated else 1
        if tag.group(1) is not None:  # a row: after the previous one's repeats
            row, column, rows_repeated = row + rows_repeated, 0, count
            if _ODS_HIDDEN.search(attributes) and count <= 1_000:  # not the sheet's empty tail
                hidden.extend(range(row, row + count))
            continue
        if fails and _ODS_ERROR in attributes:
            text = _ODS_TEXT.search(xml, tag.end(), min(end, tag.end() + 4096))
            shown = _TAG.sub(b"", text.group(1)) if text else b"#N/A"
            errors.append((row, column, html.unescape(shown.decode("utf-8", "replace"))))
        column += count
    return tuple(hidden), errors


_ERROR_CELL = re.compile(rb'<(?:\w+:)?c\b([^>]*?\bt="e"[^>]*)>(.*?)</(?:\w+:)?c>', re.DOTALL)
_CELL_REFERENCE = re.compile(rb'\br="([A-Z]{1,3})(\d+)"')
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")


def error_cells(xml: bytes) -> list[tuple[int, int, str]]:
    """The error cells of a sheet's XML (#N/A, #DIV/0!, #REF!...), which the fast reader reads
    as blanks: (row number, 0-based column, the error as the cell shows it)."""
    if b't="e"' not in xml:
        return []
    found = []
    for cell in _ERROR_CELL.finditer(xml):
        reference, value = _CELL_REFERENCE.search(cell.group(1)), _VALUE.search(cell.group(2))
        if reference and value:
            column = 0
            for letter in reference.group(1):
                column = column * 26 + letter - ord("A") + 1
            text = html.unescape(value.group(1).decode("utf-8", "replace"))
            found.append((int(reference.group(2)), column - 1, text))
    return found
