"""Plannings as dispatchers really write them (issue 34): a column the importer does not know
holding any kind of cell, the day and the time in two columns, a date without a time, a total
line under the table, swapped coordinates, invisible characters. Each through the command a
dispatcher types, against the sandbox, with the workbook read back."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner, Result
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

from importer.cli import main
from importer.sandbox import SandboxServer
from tests.helpers import Importer, read_sheet, upcoming, utc_text, write_planning

COMMANDS = ("validate", "plan", "run")


class Dispatcher(Importer):
    """``ocean-import`` as a dispatcher types it: ``validate`` reads no state."""

    def __call__(self, command: str, file: Path, *options: str) -> Result:
        if command != "validate":
            return super().__call__(command, file, *options)
        args = [command, str(file), "--config", str(self.config), *options]
        return CliRunner().invoke(main, args, env=self.env, catch_exceptions=False)


@pytest.fixture
def importer(sandbox: SandboxServer, tmp_path: Path) -> Importer:
    return Dispatcher(sandbox, tmp_path)


def problems(result: Result) -> list[dict[str, Any]]:
    """``validate --json``'s problems."""
    return list(json.loads(result.output)["problems"])


def notices(result: Result) -> dict[str, str]:
    """``plan --json`` / ``run --json``'s notices about the whole file, by kind."""
    return {notice["kind"]: notice["message"] for notice in json.loads(result.output)["notices"]}


def results_sheet(result_path: Path) -> list[dict[str, Any]]:
    return read_sheet(result_path, openpyxl.load_workbook(result_path).sheetnames[0])


def report_of(file: Path, command: str) -> Path:
    kind = {"validate": "validation", "plan": "plan", "run": "results"}[command]
    return file.with_name(f"{file.stem}.{kind}.xlsx")


def test_the_issue_s_three_rows_no_longer_crash_any_command(importer: Importer) -> None:
    """``Heure`` (an unknown column then) with a time cell, then an empty cell: every command
    died in the workbook writer (NAN/INF not supported in write_number)."""
    headers = ["idMission", "jourHeureInter", "nomVeh", "ville", "codPost", "rue", "Code interne"]
    rows = [
        ["M1", upcoming(hour=8), "VL12", "Lyon", "69001", "1 rue X", dt.time(8, 30)],
        ["M2", upcoming(hour=9), "VL12", "Lyon", "69001", "1 rue X", None],
    ]
    file = write_planning(importer.folder / "tournee.xlsx", rows, headers)
    for command in COMMANDS:
        result = importer(command, file)
        assert result.exit_code == 0, result.output
        lines = results_sheet(report_of(file, command))
        assert [line["Code interne"] for line in lines] == [dt.time(8, 30), None]


def test_an_unknown_column_carries_every_kind_of_cell_to_every_workbook(
    importer: Importer,
) -> None:
    when = upcoming(days=2, hour=10)
    cells: list[Any] = [
        dt.time(8, 30), dt.timedelta(hours=1, minutes=15), dt.datetime(2026, 3, 4, 7, 0),
        2.5, 12345, True, "#N/A", CellRichText(["ab", TextBlock(InlineFont(b=True), "cd")]),
        None, 1e300, "=SOMME(A1:A3)", "texte libre",
    ]  # fmt: skip
    headers = ["idMission", "jourHeureInter", "nomVeh", "ville", "Code interne"]
    rows = [[f"K{n:02d}", when, "VL12", "Lyon", cell] for n, cell in enumerate(cells)]
    file = write_planning(importer.folder / "tournee.xlsx", rows, headers)
    book = openpyxl.load_workbook(file)
    book.active["E8"].data_type = "e"  # an error cell, as Excel keeps #N/A
    book.save(file)
    for command in COMMANDS:
        result = importer(command, file)
        assert result.exit_code == 0, result.output
        shown = [line["Code interne"] for line in results_sheet(report_of(file, command))]
        assert shown[:6] == [dt.time(8, 30), dt.timedelta(hours=1, minutes=15),
                             dt.datetime(2026, 3, 4, 7, 0), 2.5, 12345, True]  # fmt: skip
        assert shown[7:] == ["abcd", None, 1e300, "=SOMME(A1:A3)", "texte libre"]
    assert len(importer.missions()) == len(cells)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [(dt.time(8, 30), (8, 30)), ("8h30", (8, 30)), ("08:30", (8, 30)), ("830", (8, 30)),
     ("8h", (8, 0)), ("14 h 05", (14, 5))],
    ids=["time-cell", "8h30", "08:30", "830", "8h", "14-h-05"],
)  # fmt: skip
def test_a_date_and_an_heure_column_are_combined(
    importer: Importer, typed: Any, expected: tuple[int, int]
) -> None:
    day = upcoming(days=2).date()
    headers = ["N° mission", "Date", "Heure", "Véhicule", "Ville", "Date fin", "Heure fin"]
    rows = [["D1", day, typed, "VL12", "Lyon", day, "23h"]]
    file = write_planning(importer.folder / "tournee.xlsx", rows, headers)
    checked = importer("validate", file, "--json")
    assert [p["kind"] for p in problems(checked)] == ["not_sent"]  # no word of a missing time
    assert importer("run", file).exit_code == 0
    mission = importer.missions()["D1"]
    assert mission["jourHeureInter"] == utc_text(dt.datetime.combine(day, dt.time(*expected)))
    assert mission["jourHeurePeremp"] == utc_text(dt.datetime.combine(day, dt.time(23, 0)))


def test_a_time_that_contradicts_the_date_cell_s_own_time_is_said_and_the_date_cell_wins(
    importer: Importer,
) -> None:
    """A site's « Heure » may mean something else (a loading time): its planning stays valid,
    the date cell's own time is sent, and the row says so."""
    headers = ["N° mission", "Date d'intervention", "Heure", "Véhicule", "Ville"]
    nine = upcoming(days=2, hour=9, minute=0)
    rows = [["D1", nine, "14h", "VL12", "Lyon"], ["D2", nine, "9h", "VL12", "Lyon"]]
    file = write_planning(importer.folder / "tournee.xlsx", rows, headers)
    result = importer("validate", file, "--json")
    assert result.exit_code == 0
    said = [(p["row"], p["column"], p["kind"], p["severity"]) for p in problems(result)
            if p["kind"] == "time_contradicts_date"]  # fmt: skip
    assert said == [(2, "Heure", "time_contradicts_date", "warning")]
    assert importer("run", file).exit_code == 0
    assert importer.missions()["D1"]["jourHeureInter"] == utc_text(nine)


def test_a_date_column_the_importer_does_not_know_is_suggested_not_ten_false_blanks(
    importer: Importer,
) -> None:
    headers = ["N° mission", "Jour de tournée", "Véhicule", "Ville"]
    rows = [[f"D{n}", upcoming(days=2, hour=9), "VL12", "Lyon"] for n in range(10)]
    file = write_planning(importer.folder / "tournee.xlsx", rows, headers)
    found = problems(importer("validate", file, "--json"))
    [unknown] = [p for p in found if p["kind"] == "unknown_column"]
    assert "its cells are dates" in unknown["problem"]
    assert "([columns] 'Jour de tournée' = \"jourHeureInter\")" in unknown["problem"]
    kinds = {p["kind"] for p in found if p["severity"] == "error"}
    assert kinds == {"date_column_missing"}  # never « the intervention date is empty »


def test_a_date_without_a_time_is_said_on_its_row_and_counted_in_the_summary(
    importer: Importer,
) -> None:
    day = upcoming(days=2).date()
    headers = ["idMission", "jourHeureInter", "nomVeh", "ville"]
    rows = [["A1", day, "VL12", "Lyon"], ["A2", day.strftime("%d/%m/%Y"), "VL12", "Lyon"],
            ["A3", upcoming(days=2, hour=9), "VL12", "Lyon"]]  # fmt: skip
    file = write_planning(importer.folder / "tournee.xlsx", rows, headers)
    result = importer("plan", file, "--json")
    assert result.exit_code == 0, result.output
    said = "2 missions go out at 00:00: their dates have no time of day (rows 2, 3)"
    assert notices(result)["midnight"] == said
    checked = problems(importer("validate", file, "--json"))
    assert [p["row"] for p in checked if p["kind"] == "date_without_time"] == [2, 3]
    assert [p["problem"] for p in checked if p["kind"] == "midnight"] == [said]


def test_total_count_and_note_lines_are_listed_once_and_change_nothing(
    importer: Importer,
) -> None:
    headers = ["idMission", "jourHeureInter", "nomVeh", "ville", "Colis"]
    rows: list[list[Any]] = [[f"T{n}", upcoming(days=2, hour=8 + n), "VL12", "Lyon", n]
                             for n in range(3)]  # fmt: skip
    rows += [
        ["Total", None, None, None, 3],
        [None, None, None, None, None],
        ["9 missions", None, None, None, None],
        [None, None, "Signé : M. Durand, chef de quai", None, None],
        ["Sous-total", upcoming(days=2, hour=23), None, None, 3],
    ]
    file = write_planning(importer.folder / "tournee.csv", rows, headers)
    result = importer("run", file, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["invalid"] == 0
    assert sorted(importer.missions()) == ["T0", "T1", "T2"]
    notice = notices(result)["ignored_lines"]
    assert notice.startswith("4 lines are not missions")
    assert "row 5 ('Total 3')" in notice
    lines = results_sheet(report_of(file, "run"))
    assert [(line["row"], line["action"]) for line in lines] == [
        (2, "create"), (3, "create"), (4, "create"), (5, "ignored"), (7, "ignored"),
        (8, "ignored"), (9, "ignored"),
    ]  # fmt: skip


def test_swapped_coordinates_and_a_point_outside_the_area_are_warned(importer: Importer) -> None:
    headers = ["idMission", "jourHeureInter", "nomVeh", "latitude", "longitude"]
    when = upcoming(days=2, hour=9)
    rows = [["C1", when, "VL12", 4.8357, 45.7621],  # Lyon, swapped: in Somalia
            ["C2", when, "VL12", -33.8688, 151.2093],  # Sydney
            ["C3", when, "VL12", 42.6977, 9.4503]]  # Bastia: inside (Corsica)  # fmt: skip
    file = write_planning(importer.folder / "tournee.xlsx", rows, headers)
    found = [(p["row"], p["kind"], p["problem"]) for p in problems(importer("validate", file, "--json"))
             if p["kind"] in ("coordinates_swapped", "outside_area")]  # fmt: skip
    assert [(row, kind) for row, kind, _ in found] == [
        (2, "coordinates_swapped"),
        (3, "outside_area"),
    ]
    assert "latitude 4.8357, longitude 45.7621" in found[0][2] and "look swapped" in found[0][2]
    # A site that works further away widens its area.
    importer.config.write_text(importer.config.read_text() + "[area]\nsouth = -50\neast = 160\n")
    kinds = {p["kind"] for p in problems(importer("validate", file, "--json"))}
    assert not kinds & {"coordinates_swapped", "outside_area"}


def test_invisible_characters_make_one_vehicle_and_one_mission(importer: Importer) -> None:
    when = upcoming(days=2, hour=9)
    headers = ["idMission", "jourHeureInter", "nomVeh", "nomIndi", "ville"]
    typed = [["M\u200b-1", when, "VL\u00a012", None, "Lyon"],
             ["M-2\t", when, "VL\t12", None, "Saint\u00a0Priest"]]  # fmt: skip
    first = write_planning(importer.folder / "tournee.xlsx", typed, headers)
    assert importer("run", first).exit_code == 0
    held = importer.missions()
    assert sorted(held) == ["M-1", "M-2"]
    assert {m["nomVeh"] for m in held.values()} == {"VL 12"}
    assert held["M-2"]["ville"] == "Saint Priest"
    plain = [["M-1", when, "VL 12", None, "Lyon"], ["M-2", when, "VL  12", None, "Saint Priest"]]
    again = write_planning(importer.folder / "tournee.xlsx", plain, headers)
    calls = len(importer.mutating_calls())
    result = importer("run", again, "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["actions"] == {"unchanged": 2}
    assert len(importer.mutating_calls()) == calls  # the same missions: no call


def workbook_of_sheets(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, lines in sheets.items():
        sheet = book.create_sheet(name)
        for line in lines:
            sheet.append(line)
    book.save(path)
    return path


def planning_lines(prefix: str) -> list[list[Any]]:
    return [["idMission", "jourHeureInter", "nomVeh", "ville"],
            *[[f"{prefix}{n}", upcoming(days=2, hour=8 + n), "VL12", "Lyon"] for n in range(2)]]  # fmt: skip


def test_the_planning_on_a_second_sheet_is_found_and_the_sheet_named(importer: Importer) -> None:
    advice = [["Consignes aux chauffeurs"], ["Appeler le client 30 min avant"], ["Badge requis"]]
    file = workbook_of_sheets(importer.folder / "tournee.xlsx",
                              {"Consignes": advice, "Planning": planning_lines("P")})  # fmt: skip
    result = importer("run", file, "--json")
    assert result.exit_code == 0, result.output
    assert sorted(importer.missions()) == ["P0", "P1"]
    said = notices(result)["sheet_chosen"]
    assert said.startswith("the planning was read from the sheet 'Planning'")
    assert "passed over (no planning header in their first rows): 'Consignes'" in said
    summary = results_sheet(report_of(file, "run").with_name("tournee.results.xlsx"))
    assert len(summary) == 2


def test_two_sheets_that_hold_a_planning_are_said_and_the_person_chooses(
    importer: Importer,
) -> None:
    file = workbook_of_sheets(importer.folder / "semaine.xlsx",
                              {"Lundi": planning_lines("L"), "Mardi": planning_lines("M")})  # fmt: skip
    result = importer("plan", file, "--json")
    said = notices(result)["sheet_chosen"]
    assert "the sheets 'Mardi' hold a planning too and were not read: choose with --sheet" in said
    assert importer("run", file, "--sheet", "Mardi").exit_code == 0
    assert sorted(importer.missions()) == ["M0", "M1"]


def test_a_workbook_without_a_planning_header_names_the_sheet_it_read(importer: Importer) -> None:
    file = workbook_of_sheets(importer.folder / "notes.xlsx",
                              {"Notes": [["rien"], ["à voir"]], "Autres": [["x", "y"]]})  # fmt: skip
    result = importer("validate", file)
    assert result.exit_code == 2
    assert "has no header row in its first 20 rows (sheet 'Notes')" in result.output


def hidden_rows_workbook(path: Path) -> Path:
    """Five missions, the second hidden by hand and the fourth filtered out."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Planning"
    sheet.append(["idMission", "jourHeureInter", "nomVeh", "ville"])
    for n in range(5):
        sheet.append([f"H{n}", upcoming(days=2, hour=8 + n), "VL12", "Lyon"])
    sheet.row_dimensions[3].hidden = True
    sheet.auto_filter.ref = "A1:D6"
    sheet.row_dimensions[5].hidden = True
    book.save(path)
    return path


def test_hidden_and_filtered_out_rows_are_imported_and_said(importer: Importer) -> None:
    file = hidden_rows_workbook(importer.folder / "tournee.xlsx")
    result = importer("run", file, "--json")
    assert result.exit_code == 0, result.output
    assert sorted(importer.missions()) == ["H0", "H1", "H2", "H3", "H4"]
    said = notices(result)["hidden_rows"]
    assert said.startswith("2 rows are hidden in the sheet (by hand or by a filter): rows 3, 5;")
    assert "they are imported like the others" in said


def test_a_site_that_hides_rows_to_leave_them_out_says_so_once(importer: Importer) -> None:
    importer.config.write_text(importer.config.read_text() + 'hidden_rows = "skip"\n')
    file = hidden_rows_workbook(importer.folder / "tournee.xlsx")
    result = importer("run", file, "--json")
    assert result.exit_code == 0, result.output
    assert sorted(importer.missions()) == ["H0", "H2", "H4"]
    assert "they are left out, as the configuration says" in notices(result)["hidden_rows"]
    lines = results_sheet(report_of(file, "run"))
    assert [(line["row"], line["action"]) for line in lines] == [
        (2, "create"), (3, "ignored"), (4, "create"), (5, "ignored"), (6, "create")
    ]  # fmt: skip


def test_a_time_slot_is_due_at_its_start_and_an_unreadable_time_beside_a_full_date_is_only_said(
    importer: Importer,
) -> None:
    day = upcoming(days=2).date()
    headers = ["N° mission", "Date", "Heure", "Véhicule", "Ville"]
    rows = [["S1", day, "8h-10h", "VL12", "Lyon"],
            ["S2", upcoming(days=2, hour=9, minute=0), "matin", "VL12", "Lyon"],
            ["S3", day, "matin", "VL12", "Lyon"]]  # fmt: skip
    file = write_planning(importer.folder / "tournee.xlsx", rows, headers)
    found = problems(importer("validate", file, "--json"))
    assert [(p["row"], p["kind"], p["severity"]) for p in found if p["row"]] == [
        (2, "time_slot_start", "warning"),
        (3, "time_ignored", "warning"),
        (4, "time_format", "error"),  # no time anywhere: never a guess
        (4, "date_without_time", "warning"),
    ]
    assert importer("run", file).exit_code == 1
    held = importer.missions()
    assert sorted(held) == ["S1", "S2"]
    assert held["S1"]["jourHeureInter"] == utc_text(dt.datetime.combine(day, dt.time(8, 0)))


def test_hidden_rows_of_an_opendocument_sheet_are_said_too(importer: Importer) -> None:
    """LibreOffice writes a hidden or filtered-out row as table:visibility, counted through
    its repeated rows."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    table = Table(name="Planning")
    lines = [["idMission", "jourHeureInter", "nomVeh", "ville"],
             *[[f"O{n}", upcoming(days=2, hour=8 + n).strftime("%d/%m/%Y %H:%M"), "VL12",
                "Lyon"] for n in range(4)]]  # fmt: skip
    for number, line in enumerate(lines, start=1):
        row = TableRow(visibility="collapse") if number in (3, 4) else TableRow()
        for value in line:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    document.spreadsheet.addElement(table)
    file = importer.folder / "tournee.ods"
    document.save(str(file))
    result = importer("plan", file, "--json")
    assert result.exit_code == 0, result.output
    assert notices(result)["hidden_rows"].startswith("2 rows are hidden in the sheet")
    assert "rows 3, 4;" in notices(result)["hidden_rows"]


def test_a_dated_mission_whose_first_cell_reads_like_a_total_stays_a_mission(
    importer: Importer,
) -> None:
    """« TOTAL ENERGIES », a client in the first column of a dated mission, is no total line."""
    headers = ["Client", "N° mission", "Date d'intervention", "Véhicule", "Ville"]
    rows = [["TOTAL ENERGIES", "C1", upcoming(days=2, hour=9), "VL12", "Lyon"],
            ["Somme Logistique", "C2", upcoming(days=2, hour=10), "VL12", "Amiens"],
            ["Total", None, None, None, None]]  # fmt: skip
    file = write_planning(importer.folder / "tournee.xlsx", rows, headers)
    result = importer("run", file, "--json")
    assert result.exit_code == 0, result.output
    assert sorted(importer.missions()) == ["C1", "C2"]
    assert notices(result)["ignored_lines"].startswith("1 line is not a mission")


def test_an_error_cell_is_carried_from_a_workbook_libreoffice_saved(importer: Importer) -> None:
    """#N/A and #DIV/0! in an unknown column, the workbook saved again as .ods by LibreOffice
    (which writes them as error cells the fast reader reads blank)."""
    import os
    import shutil
    import subprocess

    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice's soffice is missing: `make libreoffice` installs it"
    headers = ["idMission", "jourHeureInter", "nomVeh", "ville", "Contrôle"]
    rows = [["E1", upcoming(days=2, hour=9), "VL12", "Lyon", "#N/A"],
            ["E2", upcoming(days=2, hour=10), "VL12", "Lyon", "#DIV/0!"]]  # fmt: skip
    (importer.folder / "source").mkdir()
    original = write_planning(importer.folder / "source" / "tournee.xlsx", rows, headers)
    book = openpyxl.load_workbook(original)
    for cell in ("E2", "E3"):
        book.active[cell].data_type = "e"
    book.save(original)
    real_clock = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")}
    subprocess.run([soffice, "--headless", "--norestore",
                    f"-env:UserInstallation=file://{importer.folder}/profile", "--convert-to",
                    "ods", "--outdir", str(importer.folder), str(original)],
                   capture_output=True, timeout=120, check=True, env=real_clock)  # fmt: skip
    saved = importer.folder / "tournee.ods"
    for file in (original, saved):
        assert importer("validate", file).exit_code == 0
        lines = results_sheet(report_of(file, "validate"))
        assert [line["Contrôle"] for line in lines] == ["#N/A", "#DIV/0!"], file.name
