"""The workbook: cells as a person reads them, formulas neutralised, written atomically."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import xlsxwriter

from importer.config import Settings
from importer.errors import OutputError
from importer.pipeline import check_file
from importer.report import ReportContent, write_report
from importer.validation import ValidationRun
from importer.workbooks import validation_report
from tests.helpers import NOW, mission, read_sheet, write_planning

HOSTILE = ["=1+1", "+33 6 12 34 56 78", "-2", "@SUM(A1)", "\tindent", "\rreturn",
           '=HYPERLINK("http://example.invalid","clic")', '   =HYPERLINK("http://x.invalid")']  # fmt: skip


def report_for(tmp_path: Path, rows: list[dict], suffix: str = "xlsx") -> Path:
    headers = list(rows[0])
    path = write_planning(tmp_path / f"p.{suffix}", [list(r.values()) for r in rows], headers)
    checked = check_file(path, Settings(), now=NOW)
    run = ValidationRun(checked, "p", NOW, NOW)
    (tmp_path / "out").mkdir(exist_ok=True)
    return validation_report(run, tmp_path / "out" / "p.validation.xlsx")


def test_results_sheet_keeps_every_input_row_with_its_verdict(tmp_path: Path) -> None:
    report = report_for(
        tmp_path,
        [
            mission(),
            mission(idMission="M-2", latitude=99.0),
            mission(idMission="M-3", codPost=1000),
        ],
    )
    results = read_sheet(report, "Results")
    assert [(r["idMission"], r["row"], r["verdict"]) for r in results] == [
        ("M-001", 2, "valid"),
        ("M-2", 3, "invalid"),
        ("M-3", 4, "warning"),
    ]
    assert "latitude: latitude 99 is out of range" in results[1]["message"]
    assert results[0]["jourHeureInter"] == dt.datetime(2026, 11, 24, 8, 30)  # the cell as read
    assert results[2]["codPost"] == 1000  # the input as read; the problem explains the change

    errors = read_sheet(report, "Errors")
    assert [(e["row"], e["cell"], e["column"], e["severity"]) for e in errors] == [
        (3, "K3", "latitude", "error"),
        (4, "H4", "codPost", "warning"),
    ]
    assert errors[0]["value"] == 99

    summary = {r["item"]: r["value"] for r in read_sheet(report, "Summary")}
    assert summary["rows read"] == 3
    assert (summary["valid rows"], summary["invalid rows"]) == (2, 1)
    assert (summary["errors"], summary["warnings"]) == (1, 1)
    assert len(summary["input SHA-256"]) == 64


def test_header_is_styled_frozen_and_filtered_and_failures_highlighted(tmp_path: Path) -> None:
    report = report_for(tmp_path, [mission(), mission(idMission="M-2", latitude=99.0)])
    sheet = openpyxl.load_workbook(report)["Results"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, sheet.max_column).column_letter}3"
    assert sheet["A1"].font.bold
    assert sheet["A2"].fill.fgColor.rgb in (None, "00000000")
    assert sheet["A3"].fill.fgColor.rgb.endswith("F8CBAD")  # the invalid row stands out
    assert sheet.column_dimensions["H"].width > 10


@pytest.mark.parametrize(
    "text",
    HOSTILE,
    ids=["equals", "plus", "minus", "at", "tab", "cr", "hyperlink", "spaces-then-equals"],
)
def test_text_that_looks_like_a_formula_is_never_evaluated(tmp_path: Path, text: str) -> None:
    report = report_for(tmp_path, [{**mission(), "commentaire": text, "nombre": -2.5}])
    sheet = openpyxl.load_workbook(report)["Results"]
    header = [c.value for c in sheet[1]]
    comment = sheet.cell(2, header.index("commentaire") + 1)
    number = sheet.cell(2, header.index("nombre") + 1)
    # (An XML reader may turn a bare carriage return into a line feed.)
    assert comment.value in (text, text.replace("\r", "\n")) and comment.data_type == "s"
    # stays text when a person edits the cell (a bare CR comes back as LF: nothing to guard)
    assert comment.quotePrefix or comment.value.startswith("\n")
    assert number.value == -2.5 and number.data_type == "n"  # numbers stay numbers
    with zipfile.ZipFile(report) as archive:
        xml = "".join(
            archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/worksheets")
        )
    assert "<f>" not in xml and "<f " not in xml


def test_control_characters_do_not_break_the_workbook(tmp_path: Path) -> None:
    report = report_for(tmp_path, [{**mission(), "commentaire": "bip\x07bip"}], suffix="csv")
    results = read_sheet(report, "Results")
    assert results[0]["commentaire"] == "bip\ufffdbip"


def test_a_failed_write_leaves_the_previous_report_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = report_for(tmp_path, [mission()])
    before = report.read_bytes()
    checked = check_file(tmp_path / "p.xlsx", Settings(), now=NOW)
    content = ReportContent(
        sheet=checked.sheet,
        added=pd.DataFrame({"row": [2]}, index=checked.missions.index),
        failed=checked.invalid,
        problems=[],
        summary=[("odd value", object())],  # written as its text, never a crash mid-sheet
    )

    close = xlsxwriter.Workbook.close

    def disk_full(self: xlsxwriter.Workbook) -> None:
        close(self)
        Path(self.filename).write_bytes(b"PK half a workbook")
        raise OSError(28, "No space left on device")

    # A full disk cannot be made real in a test: the save is the one thing replaced.
    monkeypatch.setattr(xlsxwriter.Workbook, "close", disk_full)
    with pytest.raises(OutputError, match=r"could not be written \(no space left on the disk\)"):
        write_report(report, content)
    assert report.read_bytes() == before
    assert sorted(p.name for p in report.parent.iterdir()) == [report.name]


def test_a_text_longer_than_a_cell_is_an_error_and_never_cut_silently(tmp_path: Path) -> None:
    long_text = "Livraison en trois temps. " * 1600 + "Fin"  # 41,603 characters
    rows = [mission(), {**mission(idMission="M-2"), "commentaire": long_text}]
    path = write_planning(tmp_path / "p.csv", [list(r.values()) for r in rows], list(rows[1]))
    checked = check_file(path, Settings(), now=NOW)
    [problem] = [p for p in checked.problems if p.kind == "text_too_long"]
    assert (problem.row, problem.cell, problem.severity) == (3, "M3", "error")
    assert problem.message.startswith("41,603 characters, more than a spreadsheet cell holds")
    assert checked.invalid.tolist() == [False, True]  # its mission is not sent
    report = validation_report(ValidationRun(checked, "p", NOW, NOW), tmp_path / "r.xlsx")
    results = read_sheet(report, "Results")
    shown = results[1]["commentaire"]
    assert len(shown) <= 32_767 and shown.endswith(
        "(41,603 characters: cut here to fit a spreadsheet cell)"
    )
    errors = read_sheet(report, "Errors")
    assert next(e["value"] for e in errors if e["row"] == 3).endswith(
        "cut here to fit a spreadsheet cell)"
    )


def test_each_kind_of_cell_keeps_its_type_and_its_row_colour(tmp_path: Path) -> None:
    """Every kind of cell a table holds, in a plain row and a highlighted one: the value and
    its type, the fill of every cell (blanks included), text kept as text, dates as dates."""
    from importer.report import write_table

    when = dt.datetime(2027, 3, 4, 8, 30)
    cells = {
        "text": "quai 3", "formula": "=1+1", "empty": "", "blank": None, "whole": 12345,
        "decimal": 2.5, "flag": True, "moment": when, "stamp": pd.Timestamp(when),
        "day": dt.date(2027, 3, 4), "duration": dt.timedelta(hours=1),
    }  # fmt: skip
    frame = pd.DataFrame([cells, cells], dtype=object)
    path = write_table(tmp_path / "t.xlsx", "Table", frame, [False, True])

    sheet = openpyxl.load_workbook(path)["Table"]
    for row in (2, 3):
        read = {name: sheet.cell(row, column) for column, name in enumerate(cells, start=1)}
        assert {name: cell.value for name, cell in read.items()} == {
            **cells, "empty": None, "stamp": when, "day": dt.datetime(2027, 3, 4),
            "duration": dt.timedelta(hours=1),
        }  # fmt: skip
        assert read["formula"].data_type == "s" and read["formula"].quotePrefix
        assert not read["text"].quotePrefix
        assert all(read[name].is_date for name in ("moment", "stamp", "day"))
        fills = {name: (cell.fill.fgColor.rgb or "") for name, cell in read.items()}
        if row == 2:
            assert not any(rgb.endswith("F8CBAD") for rgb in fills.values()), fills
        else:
            assert all(rgb.endswith("F8CBAD") for rgb in fills.values()), fills
