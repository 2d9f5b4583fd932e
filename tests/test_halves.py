"""A big one-sheet workbook parsed in two halves on two cores reads as the whole file does."""

from __future__ import annotations

import ctypes
import io
import os
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import python_calamine

from importer import halves, read
from importer.isolation import ChildDied, run_capped
from importer.read import read_planning
from tests.helpers import mission, write_planning

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_rows": 1000}
MB = 1024 * 1024


@pytest.fixture
def cut_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sheet is big enough to cut (the reading child is told the threshold)."""
    monkeypatch.setattr(halves, "CUT_FROM_BYTES", 1)


def _planning(path: Path) -> Path:
    """A title, a blank row, the table, a blank row in it; its lower half starts one column to
    the right (its first column empty), and its last rows are a column wider."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Planning de la semaine"])
    sheet.append([])
    rows = [mission(idMission=f"M-{n}", commentaire=f"n°{n % 3}") for n in range(200)]
    sheet.append(list(rows[0]))
    for n, row in enumerate(rows):
        values = list(row.values())
        if n >= 60:
            values[0] = None
        if n == 50:
            values = [None] * len(values)
        if n >= 190:
            values.append("en plus")
        sheet.append(values)
    book.save(path)
    return path


def _sheet(workbook: bytes) -> python_calamine.CalamineSheet:
    return python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(workbook)).get_sheet_by_index(
        0
    )


def _rows_of(workbook: bytes) -> list[list]:
    return _sheet(workbook).to_python(skip_empty_area=False)


@pytest.mark.parametrize("threads", [False, True], ids=["forked", "from-the-fork-server"])
def test_a_sheet_read_in_halves_comes_back_as_the_whole_read(
    tmp_path: Path, cut_small, threads: bool
) -> None:
    path = _planning(tmp_path / "semaine.xlsx")
    first, second = halves.half(path.read_bytes(), 0), halves.half(path.read_bytes(), 1)
    whole = _rows_of(path.read_bytes())
    # Each half holds rows of its own, at their own numbers (calamine pads from row 1).
    upper = [n for n, row in enumerate(_rows_of(first)) if any(c not in ("", None) for c in row)]
    lower = [n for n, row in enumerate(_rows_of(second)) if any(c not in ("", None) for c in row)]
    assert upper and lower and max(upper) < min(lower)
    assert _sheet(second).start[1] == 1  # the lower half starts a column to the right
    assert sorted(upper + lower) == [n for n, row in enumerate(whole) if any(row)]

    here = read_planning(path, **LIMITS)  # in this process: whole
    done = threading.Event()
    if threads:  # the web server has threads: its reading children come from a fork server
        threading.Thread(target=done.wait, daemon=True).start()
    try:
        apart = read_planning(path, **LIMITS, max_memory_bytes=500 * MB)  # a child: in halves
    finally:
        done.set()
    assert apart.row_numbers.tolist() == here.row_numbers.tolist()
    assert 53 in here.row_numbers.tolist() and 54 not in here.row_numbers.tolist()  # blank
    assert apart.first_column == here.first_column == 0
    assert apart.rows.tolist() == here.rows.tolist()
    assert apart.rows[-1, -1] == "en plus" and apart.rows[-2, 0] is None
    assert [c.values().tolist() for c in apart.columns] == here.rows.T.tolist()


def _any_read(workbook: bytes) -> halves.Typed:
    return np.arange(1), (), 0, halves.Chosen("Planning")


def _cut(data: bytes, cut_from: int = 1) -> bool:
    return halves.read_in_halves(data, _any_read, cut_from) is not None


def test_unusual_sheets_are_not_cut(tmp_path: Path) -> None:
    path = _planning(tmp_path / "semaine.xlsx")
    data = path.read_bytes()
    assert _cut(data)
    two_sheets = openpyxl.load_workbook(path)
    two_sheets.create_sheet("Autre").append(["x"])
    two_sheets.save(tmp_path / "deux.xlsx")
    assert not _cut((tmp_path / "deux.xlsx").read_bytes())
    comment = b"<!-- <row r='1'> --><sheetData>"
    assert not _cut(_rewritten(data, lambda xml: xml.replace(b"<sheetData>", comment)))
    assert not _cut(_rewritten(data, lambda xml: xml.replace(b'<row r="', b'<row x="')))
    assert not _cut(data[: len(data) // 2])  # damaged: the whole read says so


def test_small_sheets_are_read_whole(tmp_path: Path) -> None:
    path = write_planning(tmp_path / "jour.xlsx", [mission()])
    assert not _cut(path.read_bytes(), halves.CUT_FROM_BYTES)


def _rewritten(data: bytes, change) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for part in source.infolist():
            content = source.read(part)
            if part.filename.startswith("xl/worksheets/"):
                content = change(content)
            target.writestr(part.filename, content)
    return out.getvalue()


def _one_half_aborts(data: bytes, dying: str) -> halves.Typed | None:
    """``read_in_halves`` where the half read by this process (``"reader"``) or by the one
    beside it (``"beside"``) dies as a native reader does under its cap."""
    reader = os.getpid()

    def read(half: bytes) -> halves.Typed:
        if (os.getpid() == reader) == (dying == "reader"):
            ctypes.CDLL(None).abort()
        if dying == "reader":
            time.sleep(30)  # the other half, still at work
        return np.arange(0), (), 0, "Planning"  # this half read well: the other's death wins

    return halves.read_in_halves(data, read, cut_from=1)


def test_a_half_that_dies_ends_the_read_as_over_the_limits(tmp_path: Path) -> None:
    data = _planning(tmp_path / "semaine.xlsx").read_bytes()
    with pytest.raises(ChildDied) as death:
        run_capped(_one_half_aborts, data, "beside", memory_bytes=500 * MB, seconds=30)
    assert death.value.over_memory and "SIGABRT" in str(death.value)


def test_a_reader_that_dies_takes_its_other_half_with_it(tmp_path: Path) -> None:
    """The half beside it holds the pipe to the command open: it must not keep the command
    waiting (nor go on burning a core) once the reader it works for is dead."""
    data = _planning(tmp_path / "semaine.xlsx").read_bytes()
    started = time.monotonic()
    with pytest.raises(ChildDied) as death:
        run_capped(_one_half_aborts, data, "reader", memory_bytes=500 * MB, seconds=60)
    assert "SIGABRT" in str(death.value) and time.monotonic() - started < 15


class _Panic(BaseException):
    """What python-calamine raises on a Rust panic: no Exception."""


def test_a_half_the_fast_reader_panics_on_is_read_whole_by_the_standard_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _planning(tmp_path / "semaine.xlsx")
    expected = read_planning(path, **LIMITS)

    def panics(*args: object, **kwargs: object) -> halves.Typed:
        raise _Panic("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(read, "_typed_sheet", panics)
    # Read in this process, the second half forked from it: it sees the patch (a reading
    # child from the fork server, when another test left a thread, would not).
    numbers, columns, _, _ = read._read_workbook(
        path, path.read_bytes(), ".xlsx", None, LIMITS["max_rows"], cut_from=1
    )
    assert numbers.tolist() == expected.row_numbers.tolist()
    assert [column.values().tolist() for column in columns] == expected.rows.T.tolist()
