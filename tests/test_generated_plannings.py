"""Plannings nobody here wrote (issue 34): generated the way spreadsheet programs and hurried
dispatchers write them, in every format the product reads. The known columns in any order and
any header spelling the product accepts; unknown columns holding every kind of cell; blank,
total and note lines; hidden rows and columns; a sheet of instructions before the planning;
merged title rows. For every file, ``validate``, ``plan`` and ``run`` (against the sandbox)
end with 0, 1 or 2 and sentences, never a traceback; every input row has its line in the
workbook; every unknown column's cells reach the Results sheet. Some are then opened and saved
again by LibreOffice, as a dispatcher does, and go through the same.

Bounded: ``EXAMPLES`` files a run (each through the three commands: about 40 s here);
``OCEAN_IMPORT_EXAMPLES=2000`` for a longer hunt.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

from importer.cli import main
from importer.sandbox import SandboxServer, World
from importer.schemas.aliases import builtin_aliases, normalise_header
from tests.helpers import CUSTOMER, upcoming, write_planning

EXAMPLES = int(os.environ.get("OCEAN_IMPORT_EXAMPLES", "100"))
LIBREOFFICE_EXAMPLES = int(os.environ.get("OCEAN_IMPORT_LIBREOFFICE_EXAMPLES", "16"))  # 1.5 s each
FORMATS = ("xlsx", "xls", "ods", "csv")
COMMANDS = ("validate", "plan", "run")
REPORT = {"validate": "validation", "plan": "plan", "run": "results"}

# Every header the product accepts for each field it needs or often meets.
LABELS: dict[str, list[str]] = tomllib.loads(
    resources.files("importer.schemas").joinpath("columns.toml").read_text("utf-8")
)
# Headers of columns the importer does not know (none of them an alias, nor a column the
# workbooks add).
UNKNOWN_HEADERS = [
    h for h in ("Code interne", "Colis", "Poids (kg)", "Tournée n°", "Créneau", "Client final",
                "Réf. commande", "Contrôle", "Statut interne", "Palettes", "Montant TTC")
    if normalise_header(h) not in builtin_aliases()
]  # fmt: skip
_counter = itertools.count()


@dataclass
class Planning:
    """A generated planning: what the file holds, and what must come out of it."""

    format: str
    headers: list[str]
    rows: list[list[Any]]  # under the header, blank rows included
    title_rows: list[list[Any]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    hidden_rows: list[int] = field(default_factory=list)  # positions in ``rows``
    hidden_columns: list[int] = field(default_factory=list)
    instructions_sheet: bool = False
    merged_title: bool = False
    encoding: str = "utf-8"
    delimiter: str = ";"

    @property
    def header_row(self) -> int:
        return len(self.title_rows) + 1

    def non_blank_rows(self) -> list[int]:
        """The spreadsheet row numbers of the lines under the header that hold anything."""
        return [self.header_row + 1 + n for n, row in enumerate(self.rows)
                if any(not _blank(cell) for cell in row)]  # fmt: skip


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _cell_kinds(fmt: str) -> st.SearchStrategy[Any]:
    """The cells an unknown column may hold, as the format can store them."""
    common = st.one_of(
        st.none(), st.integers(-10**6, 10**9), st.floats(-1e6, 1e6, allow_nan=False),
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
        st.sampled_from(["#N/A", "=1+1", "-", "+33 6 12 34 56 78", "  ", "Total", "8h30"]),
    )  # fmt: skip
    if fmt == "csv":
        return common
    dated = st.one_of(
        st.booleans(), st.dates(dt.date(2000, 1, 1), dt.date(2040, 1, 1)),
        st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2040, 1, 1)).map(
            lambda d: d.replace(microsecond=0)),
    )  # fmt: skip
    if fmt == "xlsx":
        odd = st.sampled_from([
            dt.time(8, 30), dt.timedelta(hours=26, minutes=5), 1e300,
            CellRichText(["ab", TextBlock(InlineFont(b=True), "cd")]),
        ])  # fmt: skip
        return st.one_of(common, dated, odd)
    return st.one_of(common, dated)


def _known_value(field: str, n: int, prefix: str, draw: st.DrawFn) -> Any:
    """A cell of a known column: mostly right, sometimes as a hurried person types it."""
    when = upcoming(days=draw(st.integers(1, 3)), hour=draw(st.integers(6, 20)),
                    minute=draw(st.sampled_from([0, 15, 30, 45])))  # fmt: skip
    values = {
        "idMission": draw(st.sampled_from([f"{prefix}-{n}", f" {prefix}-{n} ", None])),
        "jourHeureInter": draw(
            st.sampled_from([when, when.strftime("%d/%m/%Y %H:%M"), when.date(), "demain", None])
        ),
        "dateInter": draw(st.sampled_from([when.date(), when.strftime("%d/%m/%Y")])),
        "heureInter": draw(st.sampled_from(["8h30", "14:05", "830", "9h", None])),
        "nomVeh": draw(st.sampled_from(["VL-12", "VL\u00a012", "PL 3", None])),
        "ville": draw(st.sampled_from(["Lyon", "Saint-Étienne", "", None])),
        "codPost": draw(st.sampled_from([69002, "01000", 1000, None])),
        "latitude": draw(st.sampled_from([45.76, "45,76", 4.83, None])),
        "longitude": draw(st.sampled_from([4.83, "4,83", 45.76, None])),
        "aEnvoyer": draw(st.sampled_from(["oui", "non", "x", True, None, "peut-être"])),
        "commentaire": draw(st.sampled_from(["Sonner 2 fois", '=HYPERLINK("x")', None])),
    }
    return values[field]


NON_MISSION_LINES = [
    ["Total", None, 12], ["Sous-total :", None, 3], ["9 missions"],
    [None, None, "Signé : M. Durand, chef de quai"], ["TOTAL GÉNÉRAL"],
]  # fmt: skip


@st.composite
def plannings(draw: st.DrawFn) -> Planning:
    fmt = draw(st.sampled_from(FORMATS))
    prefix = f"G{next(_counter)}"
    split_date = draw(st.booleans())
    fields = ["idMission", *(["dateInter", "heureInter"] if split_date else ["jourHeureInter"])]
    fields += draw(st.lists(st.sampled_from(["nomVeh", "ville", "codPost", "latitude",
                                              "longitude", "aEnvoyer", "commentaire"]),
                            unique=True, min_size=1))  # fmt: skip
    if "nomVeh" not in fields:
        fields.append("nomVeh")
    unknown = draw(st.lists(st.sampled_from(UNKNOWN_HEADERS), unique=True, max_size=3))
    columns = draw(st.permutations([*fields, *(f"?{u}" for u in unknown)]))
    headers = []
    for column in columns:
        if column.startswith("?"):
            headers.append(column[1:])
            continue
        label = draw(st.sampled_from(LABELS[column]))
        headers.append(draw(st.sampled_from([label, label.upper(), f" {label} "])))
    kinds = _cell_kinds(fmt)
    rows: list[list[Any]] = []
    for n in range(draw(st.integers(1, 8))):
        rows.append([draw(kinds) if c.startswith("?") else _known_value(c, n, prefix, draw)
                     for c in columns])  # fmt: skip
        if draw(st.integers(0, 5)) == 0:
            rows.append([None] * len(columns))  # a blank line between missions
    for line in draw(st.lists(st.sampled_from(NON_MISSION_LINES), max_size=2)):
        rows.append([*line, *[None] * len(columns)][: len(columns)])
    planning = Planning(fmt, headers, rows, unknown=unknown)
    if draw(st.booleans()):
        planning.title_rows = [[f"Tournées du {upcoming().date():%d/%m/%Y}"], []]
    if fmt == "xlsx":
        planning.hidden_rows = draw(
            st.lists(st.integers(0, len(rows) - 1), unique=True, max_size=2)
        )
        planning.hidden_columns = draw(st.lists(st.integers(0, len(headers) - 1), unique=True,
                                                max_size=1))  # fmt: skip
        planning.merged_title = bool(planning.title_rows) and draw(st.booleans())
    if fmt in ("xlsx", "ods"):
        planning.instructions_sheet = draw(st.booleans())
    if fmt == "csv":
        planning.encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
        planning.delimiter = draw(st.sampled_from([";", ",", "\t"]))
    return planning


def write(planning: Planning, folder: Path) -> Path:
    path = folder / f"tournee-{next(_counter)}.{planning.format}"
    lines = [*planning.title_rows, planning.headers, *planning.rows]
    if planning.format == "xlsx":
        book = openpyxl.Workbook()
        sheet = book.active
        if planning.instructions_sheet:
            sheet.title = "Consignes"
            sheet.append(["Appeler le client 30 minutes avant"])
            sheet = book.create_sheet("Planning")
        for line in lines:
            sheet.append(line)
        for row in sheet.iter_rows(min_row=planning.header_row + 1):
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # typed text, not a formula
        for position in planning.hidden_rows:
            sheet.row_dimensions[planning.header_row + 1 + position].hidden = True
        for position in planning.hidden_columns:
            sheet.column_dimensions[openpyxl.utils.get_column_letter(position + 1)].hidden = True
        if planning.merged_title:
            sheet.merge_cells(start_row=1, start_column=1, end_row=1,
                              end_column=len(planning.headers))  # fmt: skip
        book.save(path)
    elif planning.format == "ods":
        width = max(map(len, lines))
        frame = pd.DataFrame([[*line, *[None] * (width - len(line))] for line in lines])
        with pd.ExcelWriter(path, engine="odf") as writer:
            if planning.instructions_sheet:
                pd.DataFrame([["Badge requis au quai 3"]]).to_excel(
                    writer, sheet_name="Consignes", header=False, index=False)  # fmt: skip
            frame.to_excel(writer, sheet_name="Planning", header=False, index=False)
    else:  # xls and csv, as the other tests write them
        write_planning(path, planning.rows, planning.headers, title_rows=planning.title_rows,
                       encoding=planning.encoding, delimiter=planning.delimiter,
                       errors="replace")  # fmt: skip
    return path


def results_of(report: Path) -> list[dict[str, Any]]:
    book = openpyxl.load_workbook(report, read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _same(read: Any, written: Any, fmt: str) -> bool:
    """A cell of an unknown column as the Results sheet shows it, against what was written."""
    if _blank(written):
        return read is None or read == written
    if isinstance(written, str):
        return read == written.strip() or read == written or (fmt == "csv" and read is not None)
    if isinstance(written, bool):
        return read in (written, int(written), str(written))
    if isinstance(written, int | float) and not isinstance(written, bool):
        return read is not None and (read == written or str(read) == str(written)
                                     or abs(float(read) - float(written)) < 1e-6 * max(1.0, abs(written)))  # fmt: skip
    return read is not None  # a date, a time, a duration, rich text: carried, in its own form


@pytest.fixture(scope="module")
def ocean() -> Iterator[SandboxServer]:
    """One sandbox for every generated file (each has missions of its own)."""
    with SandboxServer(World(seed=1)) as sandbox:
        yield sandbox


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(planning=plannings())
def test_any_generated_planning_goes_through_every_command_with_sentences(
    ocean: SandboxServer, planning: Planning
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        check_every_command(ocean, planning, write(planning, folder), folder, exact=True)


# LibreOffice's Calc, headless: each file opened and saved again, as a dispatcher does.
SOFFICE = shutil.which("soffice")
SAVED_AS = {"xlsx": "xlsx:Calc MS Excel 2007 XML", "ods": "ods"}
# The CSV import filter: separator, quote, character set (76 UTF-8, 1252 Windows), first line.
_CHARSETS = {"utf-8": 76, "utf-8-sig": 76, "cp1252": 1252}


@settings(max_examples=LIBREOFFICE_EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(planning=plannings(), target=st.sampled_from(sorted(SAVED_AS)))
def test_a_generated_planning_saved_again_by_libreoffice_goes_through_too(
    ocean: SandboxServer, planning: Planning, target: str
) -> None:
    """LibreOffice writes the formats its own way (its styles, repeats, hidden rows, dates):
    the file it saves goes through every command as the original does."""
    assert SOFFICE, "LibreOffice's soffice is missing: `make libreoffice` installs it"
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "original").mkdir()
        original = write(planning, folder / "original")
        command = [SOFFICE, "--headless", "--norestore",
                   f"-env:UserInstallation=file://{folder}/profile",
                   "--convert-to", SAVED_AS[target], "--outdir", str(folder)]  # fmt: skip
        if planning.format == "csv":
            charset = _CHARSETS[planning.encoding]
            command.append(f"--infilter=CSV:{ord(planning.delimiter)},34,{charset},1")
        # LibreOffice keeps the real clock under `make test-future` (as the browser does).
        real_clock = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")}
        subprocess.run([*command, str(original)], capture_output=True, timeout=120, check=True,
                       env=real_clock)  # fmt: skip
        saved = folder / f"{original.stem}.{target}"
        assert saved.is_file(), f"LibreOffice did not save {saved.name}"
        check_every_command(ocean, planning, saved, folder, exact=False)


def check_every_command(
    sandbox: SandboxServer, planning: Planning, file: Path, folder: Path, *, exact: bool
) -> None:
    """validate, plan and run of ``file``: 0, 1 or 2 with sentences; every row accounted for;
    the unknown columns' cells carried (``exact``: as written; else: present)."""
    config = folder / "ocean-import.toml"
    config.write_text(f'timezone = "Europe/Paris"\ncustomer_id = {CUSTOMER}\n')
    env = {"OCEAN_BASE_URL": sandbox.base_url, "OCEAN_LOGIN": "demo",
           "OCEAN_PASSWORD": "demo", "OCEAN_IMPORT_CONFIG": ""}  # fmt: skip
    for command in COMMANDS:
        state = [] if command == "validate" else ["--state", str(folder / "state.db")]
        result = CliRunner().invoke(main, [command, str(file), "--config", str(config),
                                           *state], env=env)  # fmt: skip
        said = result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), said
        assert result.exit_code in (0, 1, 2), (command, said)
        assert "Traceback" not in said
        event(f"{planning.format} {command} exit {result.exit_code}")
        if result.exit_code == 2:
            assert said.strip().startswith("ocean-import: "), said  # one sentence
            continue
        lines = results_of(file.with_name(f"{file.stem}.{REPORT[command]}.xlsx"))
        rows = [line["row"] for line in lines if line["row"] is not None]
        assert sorted(rows) == planning.non_blank_rows(), command
        for header in planning.unknown:
            position = planning.headers.index(header)
            by_row = {line["row"]: line[header] for line in lines if line["row"] is not None}
            for n, row in enumerate(planning.rows):
                number = planning.header_row + 1 + n
                if number in by_row:
                    read, written = by_row[number], row[position]
                    same = (
                        _same(read, written, planning.format)
                        if exact
                        else (read is not None or _blank(written) or not isinstance(written, str))
                    )
                    assert same, (command, header, number, read, written)  # fmt: skip
