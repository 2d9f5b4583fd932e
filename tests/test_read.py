"""Reading every format: header search, row numbers, typed cells, file-level refusals."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest

from importer.columns import map_columns
from importer.config import Settings
from importer.errors import FileLimitError, LayoutError, UnreadableFileError
from importer.pipeline import check_file
from importer.read import read_planning
from importer.schemas.aliases import alias_table
from tests.conftest import FIXTURES, SAMPLES
from tests.plannings import NOW, TOMORROW_8_30, mission, write_planning

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_rows": 1000}
TITLE = [["Planning du 24/11/2026"], []]  # a title row, then a blank row: header on row 3


def read_mapped(path: Path, **kwargs):
    raw = read_planning(path, **{**LIMITS, **kwargs})
    return map_columns(raw, alias_table(), max_rows=LIMITS["max_rows"])


FORMATS = [
    ("xlsx", {}),
    ("xlsm", {}),
    ("xls", {}),
    ("ods", {}),
    ("csv", {"encoding": "utf-8", "delimiter": ";"}),
    ("csv", {"encoding": "utf-8-sig", "delimiter": ","}),
    ("csv", {"encoding": "cp1252", "delimiter": ";"}),
    ("csv", {"encoding": "utf-8", "delimiter": "\t"}),
    ("txt", {"encoding": "cp1252", "delimiter": "\t"}),
]
FORMAT_IDS = [
    "xlsx", "xlsm", "xls", "ods", "csv-utf8-semicolon", "csv-utf8-bom-comma",
    "csv-cp1252-semicolon", "csv-tab", "txt-cp1252-tab",
]  # fmt: skip


@pytest.mark.parametrize(("suffix", "options"), FORMATS, ids=FORMAT_IDS)
def test_every_format_reads_rows_at_their_spreadsheet_row_numbers(
    tmp_path: Path, suffix: str, options: dict
) -> None:
    rows = [
        mission(idMission=12345, nomVeh="Véhicule Élise"),
        [None] * 12,  # a blank row in the middle is skipped, numbers stay true
        mission(idMission="M-2", jourHeureInter=TOMORROW_8_30 + dt.timedelta(hours=1)),
    ]
    path = write_planning(tmp_path / f"planning.{suffix}", rows, title_rows=TITLE, **options)

    sheet = read_mapped(path)

    assert sheet.header_row == 3
    assert list(sheet.cells.index) == [4, 6]
    assert sheet.cells.loc[6, "nomVeh"] == "VL-12"
    assert sheet.cells.loc[4, "nomVeh"] == "Véhicule Élise"  # accents survive every encoding
    first_id = sheet.cells.loc[4, "idMission"]
    if suffix in ("csv", "txt"):
        assert first_id == "12345"
    else:
        assert first_id == 12345 and isinstance(first_id, int)  # not 12345.0
        assert isinstance(sheet.cells.loc[4, "jourHeureInter"], dt.datetime)  # a date stays a date
    checked = check_file(path, Settings(), now=NOW)
    assert checked.invalid_count == 0, checked.problems
    assert checked.missions.loc[4, "idMission"] == "12345"
    assert checked.missions.loc[6, "jourHeureInter"] == dt.datetime(
        2026, 11, 24, 9, 30, tzinfo=dt.UTC
    )


LIBREOFFICE_FILES = sorted((FIXTURES / "libreoffice").glob("planning-lo*"))


@pytest.mark.parametrize("path", LIBREOFFICE_FILES, ids=[p.name for p in LIBREOFFICE_FILES])
def test_files_saved_by_libreoffice_read_like_the_original(path: Path) -> None:
    settings = Settings(timezone="Europe/Paris", customer_id=4242)
    original = check_file(SAMPLES / "planning-clean.xlsx", settings, now=NOW)
    checked = check_file(path, settings, now=NOW)

    assert checked.sheet.header_row == 3
    assert checked.row_count == 36 and checked.invalid_count == 0
    compared = ["idMission", "jourHeureInter", "nomVeh", "codPost", "aEnvoyer", "latitude"]
    assert checked.missions[compared].equals(original.missions[compared])
    # 07:00 in Lyon on 24 November is 06:00 UTC.
    assert checked.missions.iloc[0]["jourHeureInter"] == dt.datetime(
        2026, 11, 24, 6, 0, tzinfo=dt.UTC
    )


def test_header_is_found_below_title_rows_and_blank_rows(tmp_path: Path) -> None:
    titles = [["Transports Rhône Express"], ["Planning"], [], ["édité le 23/11"], []]
    path = write_planning(tmp_path / "p.xlsx", [mission()], title_rows=titles)
    assert read_mapped(path).header_row == 6


def test_header_beyond_the_search_window_is_a_layout_error(tmp_path: Path) -> None:
    titles = [[f"ligne {n}"] for n in range(25)]
    path = write_planning(tmp_path / "p.xlsx", [mission()], title_rows=titles)
    with pytest.raises(LayoutError, match="no header row in its first 20 rows"):
        read_mapped(path)


def test_default_sheet_is_the_first_non_empty_one_and_sheet_can_be_chosen(tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = "Notes"  # empty
    for name, vehicle in (("Lundi", "VL-1"), ("Mardi", "VL-2")):
        sheet = workbook.create_sheet(name)
        sheet.append(["idMission", "jourHeureInter", "nomVeh"])
        sheet.append(["M-1", TOMORROW_8_30, vehicle])
    workbook.save(path)

    assert read_mapped(path).cells.iloc[0]["nomVeh"] == "VL-1"
    assert read_mapped(path, sheet="Mardi").cells.iloc[0]["nomVeh"] == "VL-2"
    with pytest.raises(
        LayoutError, match="no sheet named 'Jeudi'; its sheets are 'Notes', 'Lundi', 'Mardi'"
    ):
        read_mapped(path, sheet="Jeudi")


def test_csv_line_numbers_count_quoted_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "idMission;jourHeureInter;nomVeh;commentaire\n"
        'M-1;24/11/2026 08:30;VL-1;"sur\ndeux lignes"\n'
        "M-2;24/11/2026 09:30;VL-2;\n",
        encoding="utf-8",
    )
    sheet = read_mapped(path)
    assert list(sheet.cells.index) == [2, 4]  # what a text editor shows


def _zip_named(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated_copy(path: Path) -> Path:
    data = (SAMPLES / "planning-clean.xlsx").read_bytes()
    return _write(path, data[: len(data) // 2])


REFUSED = [
    ("empty", lambda d: _write(d / "p.xlsx", b""), LayoutError, "is empty"),
    ("missing", lambda d: d / "nope.xlsx", UnreadableFileError, "does not exist"),
    ("folder", lambda d: d, UnreadableFileError, "is a folder"),
    ("pdf", lambda d: _write(d / "p.pdf", b"%PDF-1.4"), UnreadableFileError, "not planning files"),
    ("text-named-xlsx", lambda d: _write(d / "p.xlsx", b"idMission;nomVeh\n"), UnreadableFileError,
     "not a valid .xlsx workbook"),
    ("zip-not-workbook", lambda d: _zip_named(d / "p.xlsx"), UnreadableFileError, "damaged or not a real"),
    ("truncated-xlsx", lambda d: _truncated_copy(d / "p.xlsx"), UnreadableFileError, "damaged"),
    ("garbage-xls", lambda d: _write(d / "p.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
     UnreadableFileError, "damaged"),
    ("xlsx-named-csv", lambda d: _write(d / "p.csv", (SAMPLES / "planning-clean.xlsx").read_bytes()),
     UnreadableFileError, "looks like a zip or a workbook"),
    ("binary-csv", lambda d: _write(d / "p.csv", b"idMission;nom\x00\x01\n"), UnreadableFileError,
     "not a text"),
    ("undecodable-csv", lambda d: _write(d / "p.csv", b"idMission;nomVeh\n\x81\x8d;\x90\n"),
     UnreadableFileError, "neither UTF-8 nor Windows-1252"),
    ("no-header", lambda d: _write(d / "p.csv", b"a;b;c\n1;2;3\n"), LayoutError, "no header row"),
    ("no-id-column", lambda d: _write(d / "p.csv", b"jourHeureInter;nomVeh\n24/11/2026 08:30;V\n"),
     LayoutError, "no mission id column"),
    ("header-only", lambda d: _write(d / "p.csv", b"idMission;jourHeureInter;nomVeh\n;;\n"),
     LayoutError, "no mission rows"),
    ("same-field-twice", lambda d: _write(d / "p.csv", b"idMission;Nom;nomIndi\nM;a;b\n"),
     LayoutError, "both mean nomIndi"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "error", "sentence"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_unusable_files_are_refused_with_a_sentence(tmp_path: Path, make, error, sentence) -> None:
    path = make(tmp_path)
    with pytest.raises(error, match=sentence) as caught:
        read_mapped(path)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = write_planning(tmp_path / "p.csv", [mission()] * 50)
    with pytest.raises(FileLimitError, match="over the 0 MB limit"):
        read_planning(path, max_bytes=100, max_rows=1000)


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_file_over_the_row_limit_is_refused(tmp_path: Path, suffix: str) -> None:
    path = write_planning(
        tmp_path / f"p.{suffix}", [mission(idMission=f"M-{n}") for n in range(60)]
    )
    raw = read_planning(path, max_bytes=LIMITS["max_bytes"], max_rows=100)
    with pytest.raises(FileLimitError, match="more than 50 mission rows"):
        map_columns(raw, alias_table(), max_rows=50)
    with pytest.raises(FileLimitError, match="more than 10 mission rows"):
        read_planning(path, max_bytes=LIMITS["max_bytes"], max_rows=10)
