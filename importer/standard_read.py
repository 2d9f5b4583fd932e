"""The standard readers of the workbook formats, for the rare file that python-calamine refuses:
office suites other than Excel and LibreOffice write the same formats with their own habits."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from importer.errors import FileLimitError, LayoutError, UnreadableFileError
from importer.i18n import _, quoted
from importer.screening import damaged, too_many_rows

Grid = tuple[list[list[Any]], int, int, str]  # rows, first row and column (0-based), sheet


STANDARD_READERS = {"xlsx": "openpyxl", "xlsm": "openpyxl", "ods": "odf"}


def read_standard(
    path: Path, data: bytes, kind: str, wanted: str | None, row_cap: int, max_rows: int
) -> Grid:
    """The format's standard reader (openpyxl for OOXML, odfpy for OpenDocument), for a file
    the fast reader refused; only a file that both refuse is called damaged, with the reason."""
    try:
        if STANDARD_READERS[kind] == "openpyxl":
            sheets = _openpyxl_sheets(data)
        else:
            sheets = _odf_sheets(data)
        names = [name for name, _ in sheets]
        if wanted is not None and wanted not in names:
            raise LayoutError(path, no_sheet(wanted, names))
        for name, rows in sheets:
            if wanted not in (None, name):
                continue
            grid = []
            for row in rows():
                grid.append(list(row))
                if len(grid) > row_cap:
                    raise too_many_rows(path, max_rows)
            if any(any(cell is not None and cell != "" for cell in row) for row in grid):
                return grid, 0, 0, name
        raise LayoutError(path, _("has no sheet with any content"))
    except (LayoutError, FileLimitError):
        raise
    except Exception as exc:  # each reader raises its own kinds of error on a broken file
        raise UnreadableFileError(path, damaged(kind, first_line(exc))) from None


def _openpyxl_sheets(data: bytes) -> list[tuple[str, Any]]:
    import openpyxl  # only for the rare file the fast reader refuses

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    return [
        (sheet.title, lambda sheet=sheet: sheet.iter_rows(min_row=1, min_col=1, values_only=True))
        for sheet in book.worksheets
        if sheet.sheet_state == "visible"
    ]


def _odf_sheets(data: bytes) -> list[tuple[str, Any]]:
    import pandas as pd  # pandas' OpenDocument reader is odfpy's

    book = pd.ExcelFile(io.BytesIO(data), engine="odf")

    def rows(name: str) -> Any:
        frame = pd.read_excel(book, sheet_name=name, header=None, dtype=object)
        for row in frame.itertuples(index=False):
            yield [_plain_cell(cell) for cell in row]

    return [(str(name), lambda name=str(name): rows(name)) for name in book.sheet_names]


def _plain_cell(cell: Any) -> Any:
    """pandas' cell values as the fast reader gives them (None, datetime, float, str, bool)."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return None
    if hasattr(cell, "to_pydatetime"):
        return cell.to_pydatetime()
    return cell


def no_sheet(wanted: str, names: list[str]) -> str:
    return _("has no sheet named {wanted}; its sheets are {names}").format(
        wanted=quoted(wanted), names=_quoted(names)
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__


def _quoted(names: list[str]) -> str:
    return ", ".join(quoted(n) for n in names)
