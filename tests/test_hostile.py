"""Hostile and broken files: each is refused (exit 2, one sentence) or handled, quickly and in
bounded memory, by the real command in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import msoffcrypto
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msoffcrypto.format.ooxml import OOXMLFile

from tests.helpers import HEADERS, ROOT, mission, write_planning
from tests.hostile_files import repeated_ods, sparse_xlsx

pytestmark = pytest.mark.slow

SECONDS = 30  # every case answers well within this
MEGABYTES = 700  # and within this much memory


def validate(path: Path, *options: str) -> tuple[int, str, float, int]:
    """``ocean-import validate`` in a child: exit code, stderr, seconds, peak RSS (MB)."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], "
             "capture_output=True, text=True); sys.stderr.write(r.stderr); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)")  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "importer", "validate", str(path),
         "--no-report", *options],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    code, rss = (int(v) for v in done.stdout.split()[-2:])
    return code, done.stderr, time.perf_counter() - started, rss


def assert_refused(path: Path, words: str, *options: str) -> None:
    code, err, seconds, rss = validate(path, *options)
    assert code == 2, err
    assert err.startswith("ocean-import: ") and words in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert seconds < SECONDS and rss < MEGABYTES


def a_workbook(tmp_path: Path, name: str = "planning.xlsx") -> Path:
    return write_planning(tmp_path / name, [mission()])


def test_a_zip_bomb_dressed_as_a_workbook(tmp_path: Path) -> None:
    bomb = tmp_path / "bombe.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            block = b"0" * (1 << 20)
            for _ in range(2048):  # 2 GB of zeros, a few MB compressed
                member.write(block)
    assert bomb.stat().st_size < 5 * 1024 * 1024
    assert_refused(bomb, "zip bomb")


def test_an_xml_entity_expansion_inside_a_workbook(tmp_path: Path) -> None:
    source = a_workbook(tmp_path)
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
                        for n in range(1, 10))
              + ']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
              "</sheetData></worksheet>")  # fmt: skip
    hostile = tmp_path / "entites.xlsx"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(hostile, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = laughs.encode()
            copy.writestr(item, data)
    code, err, seconds, rss = validate(hostile)
    # Never expanded (a billion "lol"s would be GBs): refused, or read as a sheet with no header.
    assert code == 2 and "Traceback" not in err, err
    assert seconds < SECONDS and rss < MEGABYTES


def test_a_file_over_the_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "enorme.csv"
    with big.open("w") as handle:
        handle.write(";".join(HEADERS) + "\n")
        handle.write(("x" * 1000 + "\n") * 3000)
    assert_refused(big, "over the 1 MB limit", "--config", str(limits(tmp_path, max_file_mb=1)))


def limits(tmp_path: Path, **values: float) -> Path:
    config = tmp_path / "limits.toml"
    config.write_text("[limits]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
    return config


def test_a_csv_of_a_million_rows_over_the_row_limit(tmp_path: Path) -> None:
    huge = tmp_path / "million.csv"
    line = "M;24/11/2026 08:30;;VL-12;;;rue;69002;Lyon;oui;45.76;4.83\n"
    with huge.open("w") as handle:
        handle.write(";".join(HEADERS) + "\n")
        for _ in range(10):
            handle.write(line * 100_000)
    assert_refused(huge, "more than 200,000 mission rows")


def test_nul_bytes_in_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"idMission;jourHeureInter\nM1;24/11/2026 08:30\x00\x00\n")
    assert_refused(path, "is not a text (CSV) file")


def test_a_cell_of_one_megabyte(tmp_path: Path) -> None:
    # In a workbook: read, and the row checked like any other.
    book = write_planning(tmp_path / "long.xlsx", [mission(commentaire="C" * 1_000_000)])
    code, err, seconds, rss = validate(book)
    assert code == 0 and "Traceback" not in err, err
    assert seconds < SECONDS and rss < MEGABYTES
    # In a CSV (where it is more likely a quote left open, swallowing the file): refused.
    text = write_planning(tmp_path / "long.csv", [mission(commentaire="C" * 1_000_000)])
    assert_refused(text, "has a cell of more than 128 KB")


def test_a_csv_mixing_two_encodings(tmp_path: Path) -> None:
    path = tmp_path / "melange.csv"
    path.write_bytes(
        b"idMission;jourHeureInter;nomVeh;ville\n"
        + "M1;24/11/2026 08:30;VL-1;Orléans\n".encode()
        + "M2;24/11/2026 09:30;VL-2;Orléans\n".encode("cp1252")
    )
    assert_refused(path, "mixes UTF-8 text (line 2) with Windows-1252")


def test_a_password_protected_workbook(tmp_path: Path) -> None:
    plain = a_workbook(tmp_path)
    protected = tmp_path / "protege.xlsx"
    with plain.open("rb") as source, protected.open("wb") as target:
        OOXMLFile(source).encrypt("s3cret", target)
    with protected.open("rb") as handle:
        assert msoffcrypto.OfficeFile(handle).is_encrypted()
    assert_refused(protected, "is protected by a password")


def test_a_name_with_spaces_and_accents(tmp_path: Path) -> None:
    path = a_workbook(tmp_path, "Tournée du 24 novembre (équipe B).xlsx")
    code, err, _, _ = validate(path)
    assert code == 0, err


@pytest.mark.parametrize("target", ["planning", "missing", "folder"])
def test_a_symbolic_link(tmp_path: Path, target: str) -> None:
    link = tmp_path / "lien.xlsx"
    if target == "planning":
        os.symlink(a_workbook(tmp_path), link)
        code, err, _, _ = validate(link)
        assert code == 0, err  # a link the user names is followed
        return
    pointed = tmp_path / ("absent.xlsx" if target == "missing" else "dossier")
    if target == "folder":
        pointed.mkdir()
    os.symlink(pointed, link)
    assert_refused(link, "does not exist" if target == "missing" else "is a folder")


def test_truncated_and_random_bytes_workbooks(tmp_path: Path) -> None:
    whole = a_workbook(tmp_path).read_bytes()
    for n, data in enumerate([whole[: len(whole) // 2], b"PK\x03\x04" + os.urandom(4096),
                              os.urandom(10_000)]):  # fmt: skip
        path = tmp_path / f"casse-{n}.xlsx"
        path.write_bytes(data)
        code, err, _, _ = validate(path)
        assert code == 2 and "Traceback" not in err, err


# -- sheets whose cells reach far: refused before the reader builds the grid, or by the memory
# cap of the child that reads them; never a dead process.


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: sparse_xlsx(d / "loin.xlsx", [("A1", "idMission"), ("XFD200000", "x")]),
         "needs more than 600 MB to read (it asked for"),
        (lambda d: sparse_xlsx(d / "declare.xlsx", [("A1", "idMission"), ("XFD200000", "x")],
                               dimension="A1:XFD200000"), "its cells reach row 200,000 and column 16,384"),
        (lambda d: sparse_xlsx(d / "ment.xlsx", [("A1", "idMission"), ("ZZ150000", "x")],
                               dimension="A1:B2"), "is over the limits"),
        (lambda d: repeated_ods(d / "lignes.ods", rows=1_000_000, columns=100),
         "more than 200,000 mission rows"),
        (lambda d: repeated_ods(d / "cellules.ods", rows=1000, columns=1_000_000),
         "is over the limits"),
        (lambda d: repeated_ods(d / "trou.ods", gap=5_000_000), "more than 200,000 mission rows"),
    ],
    ids=["xlsx-far-cell", "xlsx-declared-far", "xlsx-declares-little", "ods-repeated-rows",
         "ods-repeated-cells", "ods-gap-then-a-row"],
)  # fmt: skip
def test_a_tiny_sheet_that_reaches_far_is_refused(tmp_path: Path, make: Any, words: str) -> None:
    path = make(tmp_path)
    assert path.stat().st_size < 2048  # a kilobyte or two
    assert_refused(path, words)


def test_lean_repeats_as_libreoffice_writes_them_cost_nothing(tmp_path: Path) -> None:
    """LibreOffice ends every sheet with a million empty repeated rows: that is no extent."""
    path = repeated_ods(tmp_path / "fin.ods", rows=1_048_000, columns=1024, value=False)
    code, err, _, _ = validate(path)
    # read as what it is, a sheet with one header cell, not refused as over the limits
    assert code == 2 and "has no header row" in err and "over the limits" not in err, err


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(["xlsx", "ods"]),
    far_row=st.integers(1, 3_000_000),
    far_column=st.integers(1, 16_384),
    declared=st.sampled_from(["none", "true", "small"]),
    repeat_rows=st.integers(1, 3_000_000),
    repeat_columns=st.integers(1, 100_000),
    gap=st.sampled_from([0, 10, 250_000, 2_000_000]),
)
def test_fuzzed_sparse_and_repeated_sheets_never_take_the_process_down(
    tmp_path_factory: pytest.TempPathFactory, kind: str, far_row: int, far_column: int,
    declared: str, repeat_rows: int, repeat_columns: int, gap: int,
) -> None:  # fmt: skip
    folder = tmp_path_factory.mktemp("fuzz")
    if kind == "xlsx":
        ref = f"{column_letters(far_column)}{far_row}"
        dimension = {"none": None, "true": f"A1:{ref}", "small": "A1:C3"}[declared]
        path = sparse_xlsx(folder / "p.xlsx", [("A1", "idMission"), (ref, "x")], dimension)
    else:
        path = repeated_ods(folder / "p.ods", rows=repeat_rows, columns=repeat_columns, gap=gap)
    code, err, seconds, rss = validate(path)
    assert code == 2, err  # refused or no usable header: never a crash (134), never a traceback
    assert err.startswith("ocean-import: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert seconds < SECONDS and rss < MEGABYTES


def test_a_reader_failing_under_the_cap_with_rust_backtraces_asked_for_still_answers_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the fuzz above: with RUST_BACKTRACE=1 in the environment, python-calamine
    failing under the memory cap symbolized a backtrace, which allocates, failed again and
    deadlocked on the backtrace lock: 60 s until the alarm. The child turns backtraces off."""
    monkeypatch.setenv("RUST_BACKTRACE", "1")
    far = sparse_xlsx(tmp_path / "p.xlsx", [("A1", "idMission"), ("KM58484", "x")])
    code, err, seconds, rss = validate(far)
    assert code == 2 and "Traceback" not in err, err
    assert "60 s" not in err and seconds < SECONDS and rss < MEGABYTES


def column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
