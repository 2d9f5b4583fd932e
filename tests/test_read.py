"""Reading every format: header search, row numbers, typed cells, file-level refusals."""

from __future__ import annotations

import codecs
import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from importer.columns import map_columns
from importer.config import Settings
from importer.errors import FileLimitError, LayoutError, UnreadableFileError
from importer.pipeline import check_file
from importer.read import read_planning
from importer.schemas.aliases import alias_table
from tests.helpers import (
    FIXTURES,
    NOW,
    PARIS,
    TOMORROW_8_30,
    load_make_samples,
    mission,
    write_planning,
)

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
    # Read in Europe/Paris, the default zone.
    assert checked.missions.loc[6, "jourHeureInter"] == dt.datetime(
        2026, 11, 24, 9, 30, tzinfo=PARIS
    )


OFFICE_FILES = sorted((FIXTURES / "libreoffice").glob("planning-lo*")) + sorted(
    (FIXTURES / "gnumeric").glob("planning-gnumeric*")
)


@pytest.mark.parametrize("path", OFFICE_FILES, ids=[p.name for p in OFFICE_FILES])
def test_files_saved_by_office_suites_read_like_the_original(path: Path, tmp_path: Path) -> None:
    settings = Settings(timezone="Europe/Paris", customer_id=4242)
    # The fixtures are the clean sample of 24 November 2026, saved again by LibreOffice or
    # Gnumeric (whose .ods the fast reader refuses: the standard reader reads it).
    load_make_samples().write_samples(tmp_path, dt.date(2026, 11, 24))
    original = check_file(tmp_path / "planning-clean.xlsx", settings, now=NOW)
    checked = check_file(path, settings, now=NOW)

    assert checked.sheet.header_row == 3
    assert checked.row_count == 36 and checked.invalid_count == 0
    compared = ["idMission", "jourHeureInter", "nomVeh", "codPost", "aEnvoyer", "latitude"]
    assert checked.missions[compared].equals(original.missions[compared])
    # 07:00 in Lyon on 24 November is 06:00 UTC.
    assert checked.missions.iloc[0]["jourHeureInter"] == dt.datetime(
        2026, 11, 24, 6, 0, tzinfo=dt.UTC
    )


@pytest.mark.parametrize("suffix", ["txt", "csv"])
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_excel_unicode_text_is_read(tmp_path: Path, suffix: str, encoding: str) -> None:
    """Excel's "Texte Unicode": UTF-16 with its byte-order mark, tabs, CRLF."""
    bom = codecs.BOM_UTF16_LE if encoding == "utf-16-le" else codecs.BOM_UTF16_BE
    text = (
        "idMission\tjourHeureInter\tnomVeh\tville\r\n"
        "M-1\t24/11/2026 08:30\tVéhicule Élise\tOrléans\r\n"
        "M-2\t24/11/2026 09:30\tVL-2\t\r\n"
    )
    path = _write(tmp_path / f"export.{suffix}", bom + text.encode(encoding))
    raw = read_planning(path, **LIMITS)
    assert (raw.encoding, raw.delimiter) == (encoding, "\t")
    checked = check_file(path, Settings(), now=NOW)
    assert checked.invalid_count == 0, checked.problems
    assert list(checked.missions["nomVeh"]) == ["Véhicule Élise", "VL-2"]
    assert checked.missions.loc[2, "ville"] == "Orléans"


def _utf16_parts(source: Path, target: Path) -> Path:
    """``source`` with its worksheet's XML in UTF-16, which XML allows (some exporters write
    it), and which the fast reader refuses."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for member in original.infolist():
            data = original.read(member.filename)
            if member.filename.startswith("xl/worksheets/"):
                text = data.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
                if not text.startswith("<?xml"):
                    text = '<?xml version="1.0" encoding="UTF-16"?>' + text
                data = text.encode("utf-16")
            copy.writestr(member, data)
    return target


def test_a_workbook_the_fast_reader_refuses_is_read_by_the_standard_one(tmp_path: Path) -> None:
    rows = [mission(idMission=f"M-{n}") for n in range(3)]
    source = write_planning(tmp_path / "source.xlsx", rows)
    path = _utf16_parts(source, tmp_path / "export.xlsx")
    with pytest.raises(Exception):  # noqa: B017 (the premise: the fast reader refuses it)
        python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    checked = check_file(path, Settings(), now=NOW)
    assert checked.invalid_count == 0 and list(checked.missions["idMission"]) == [
        "M-0",
        "M-1",
        "M-2",
    ]
    assert checked.missions.iloc[0]["jourHeureInter"] == TOMORROW_8_30.replace(tzinfo=PARIS)


def test_a_workbook_both_readers_refuse_is_called_damaged_with_the_reason(tmp_path: Path) -> None:
    source = write_planning(tmp_path / "source.xlsx", [mission()])
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(broken, "w") as copy:
        for member in original.infolist():
            data = original.read(member.filename)
            if member.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]  # the sheet cut mid-row
            copy.writestr(member, data)
    with pytest.raises(UnreadableFileError) as refused:
        read_planning(broken, **LIMITS)
    sentence = str(refused.value)
    assert sentence.startswith("broken.xlsx: is damaged or not a real .xlsx workbook (")
    assert "(truncated, or still being written?)" not in sentence  # the reader's own reason


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


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("wider_line", [False, True], ids=["even", "one-line-wider"])
def test_csv_rows_keep_their_line_numbers_whichever_parser_reads_them(
    tmp_path: Path, newline: str, wider_line: bool
) -> None:
    # The C parser reads a plain file; a line wider than the first ones sends it to the
    # exact reader: either way, the same rows, cells and line numbers.
    lines = [
        "Planning semaine 49",
        "",
        "idMission;jourHeureInter;nomVeh;commentaire",
        "M-1;24/11/2026 08:30;VL-1;  ",
        " ; ;  ;",
        "M-2;24/11/2026 09:30;VL-2;Quai 3" + (";;" if wider_line else ""),
        "M-3;24/11/2026 10:30;VL-3",
    ]
    path = tmp_path / "p.csv"
    path.write_bytes(newline.join(lines).encode("cp1252"))
    sheet = read_mapped(path)
    assert list(sheet.cells.index) == [4, 6, 7]
    assert sheet.cells["nomVeh"].tolist() == ["VL-1", "VL-2", "VL-3"]
    assert sheet.cells["commentaire"].tolist() == [None, "Quai 3", None]


def test_many_distinct_numbers_and_texts_parse_as_each_one_alone() -> None:
    # Coordinates and ids are nearly all distinct: parsed as arrays, with the same values
    # (to the last digit) and the same problems as the one-cell parsers give.
    import random

    import pandas as pd

    from importer import cells

    rng = random.Random(7)
    odd = ["1,5", " 2 ", "1 000,5", "1\u00a0000,5", "1e5", "inf", "nan", "1_0", "٣,5", "1.5.5",
           "1,5,5", "+.5", "5.", ".", "-", "", "  ", "abc", "1e999", "\t4,5\n", "1E-3"]  # fmt: skip
    numbers = [f"{rng.uniform(-90, 90):.{rng.randrange(1, 17)}f}" for _ in range(2000)]
    values = odd + [n.replace(".", rng.choice(",.")) for n in numbers] + [3, 2.5, True, None]
    values += [rng.uniform(-180, 180) for _ in range(600)] + [float("inf"), -0.0, 7]  # cells
    for parser in (cells.parse_number, cells.parse_text):
        typed, kinds = cells.parse_column(pd.Series(values, dtype=object), parser)
        expected = [parser(value) for value in values]
        assert [(type(t), t, k) for t, k in zip(typed, kinds, strict=True)] == [
            (type(t), t, k) for t, k in expected
        ]


def _zip_named(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _a_workbook(folder: Path) -> bytes:
    return write_planning(folder / "whole.xlsx", [mission()]).read_bytes()


def _truncated_copy(path: Path) -> Path:
    data = _a_workbook(path.parent)
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
    ("xlsx-named-csv", lambda d: _write(d / "p.csv", _a_workbook(d)),
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
    ("same-header-twice", lambda d: _write(d / "p.csv", "idMission;Véhicule;Véhicule\nM;a;b\n".encode()),
     LayoutError, r"columns B \('Véhicule'\) and C \('Véhicule'\) both mean nomVeh"),
    ("word-named-xlsx", lambda d: _word_document(d / "planning.xlsx"), UnreadableFileError,
     r"is a Word document \(\.docx\), not a workbook"),
    ("writer-named-ods", lambda d: _writer_document(d / "planning.ods"), UnreadableFileError,
     r"is a Writer text document \(\.odt\), not a workbook"),
]  # fmt: skip


def _word_document(path: Path) -> Path:
    """The parts every .docx has (as Word writes them), holding one line of text."""
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as document:
        document.writestr(
            "[Content_Types].xml",
            (
                '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
                '/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd'
                '.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
                f'"application/xml"/><Override PartName="/word/document.xml" ContentType="{main}"/>'
                "</Types>"
            ),
        )
        document.writestr(
            "_rels/.rels",
            (
                '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http:'
                '//schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
                'Target="word/document.xml"/></Relationships>'
            ),
        )
        document.writestr(
            "word/document.xml",
            (
                '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
                'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Planning du '
                "jour</w:t></w:r></w:p></w:body></w:document>"
            ),
        )
    return path


def _writer_document(path: Path) -> Path:
    """A real OpenDocument text, written by odfpy, named as a spreadsheet."""
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    document = OpenDocumentText()
    document.text.addElement(P(text="Planning du jour"))
    document.save(str(path))
    return path


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


def test_cells_equal_across_types_stay_as_written(tmp_path: Path) -> None:
    """A column is typed once per distinct value: TRUE and 1 (equal for Python) in one column
    must not become one value (the comment "1" read as "True")."""
    rows = [
        mission(idMission=f"M-{n}", commentaire=comment)
        for n, comment in enumerate([True, 1, "1", "x", 2.5, None])
    ]
    path = write_planning(tmp_path / "commentaires.xlsx", rows)
    checked = check_file(path, Settings(), now=NOW)
    assert checked.missions["commentaire"].tolist() == ["True", "1", "1", "x", "2.5", None]


def test_a_workbook_read_apart_comes_back_cell_for_cell(tmp_path: Path) -> None:
    """The reading child sends its columns factorised: the grid rebuilt here is the one read."""
    rows = [mission(idMission=f"M-{n}", commentaire=f"n°{n % 3}") for n in range(40)]
    rows[7]["latitude"] = None
    path = write_planning(tmp_path / "tournee.xlsx", rows, title_rows=TITLE)
    here = read_planning(path, **LIMITS)
    apart = read_planning(path, **LIMITS, max_memory_bytes=500 * 1024 * 1024)
    assert apart.row_numbers.tolist() == here.row_numbers.tolist() == [1, *range(3, 44)]
    assert apart.rows.tolist() == here.rows.tolist()
    assert [type(cell) for cell in apart.rows[5]] == [type(cell) for cell in here.rows[5]]
    assert [c.values().tolist() for c in apart.columns] == here.rows.T.tolist()
