"""Every validation rule of DESIGN.md, on real files: errors, warnings, typed values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from importer.config import Settings
from importer.pipeline import check_file
from importer.problems import KINDS
from importer.validate import Checked
from tests.helpers import HEADERS, NOW, PARIS, TOMORROW_8_30, mission, write_planning

EXTRA = ["customerId", "nomPrenom", "adrRefCli", "action"]


def check(tmp_path: Path, *rows: dict[str, Any], suffix: str = "xlsx", **settings: Any) -> Checked:
    headers = [*HEADERS, *EXTRA]
    grid = [[row.get(h) for h in headers] for row in rows]
    path = write_planning(tmp_path / f"p.{suffix}", grid, headers)
    return check_file(path, Settings(**settings), now=NOW)


def kinds(checked: Checked) -> set[tuple[int | None, str | None, str]]:
    return {(p.row, p.column, p.kind) for p in checked.problems}


# (id, changes to a valid row, (column, kind) expected; None = no problem, the row is clean)
ERROR_CASES = [
    ("id-missing", {"idMission": None}, ("idMission", "id_required")),
    ("id-blank-text", {"idMission": "   "}, ("idMission", "id_required")),
    ("customer-not-integer", {"customerId": "ACME"}, ("customerId", "not_an_integer")),
    ("customer-decimal", {"customerId": 12.5}, ("customerId", "not_an_integer")),
    ("date-missing", {"jourHeureInter": None}, ("jourHeureInter", "date_required")),
    ("date-words", {"jourHeureInter": "demain 8h"}, ("jourHeureInter", "date_format")),
    ("date-us-order", {"jourHeureInter": "11/24/2026 08:30"}, ("jourHeureInter", "impossible_date")),
    ("date-31-feb", {"jourHeureInter": "31/02/2027 08:00"}, ("jourHeureInter", "impossible_date")),
    ("date-hour-25", {"jourHeureInter": "24/11/2026 25:00"}, ("jourHeureInter", "impossible_date")),
    ("date-two-digit-year", {"jourHeureInter": "24/11/26 08:30"}, ("jourHeureInter", "two_digit_year")),
    ("date-slashes-iso-order", {"jourHeureInter": "2026/11/24 08:30"}, ("jourHeureInter", "date_format")),
    ("date-serial-number", {"jourHeureInter": 46350.5}, ("jourHeureInter", "number_not_date")),
    ("date-time-only", {"jourHeureInter": dt.time(8, 30)}, ("jourHeureInter", "time_without_date")),
    ("date-year-1926", {"jourHeureInter": "24/11/1926 08:00"}, ("jourHeureInter", "implausible_year")),
    ("expiry-format", {"jourHeurePeremp": "bientôt"}, ("jourHeurePeremp", "date_format")),
    ("expiry-before", {"jourHeurePeremp": TOMORROW_8_30 - dt.timedelta(hours=1)},
     ("jourHeurePeremp", "expiry_not_after_intervention")),
    ("expiry-equal", {"jourHeurePeremp": TOMORROW_8_30},
     ("jourHeurePeremp", "expiry_not_after_intervention")),
    ("no-recipient", {"nomVeh": None}, ("nomVeh", "no_recipient")),
    ("last-name-only", {"nomVeh": None, "nomIndi": "Dupont"}, ("nomVeh", "no_recipient")),
    ("latitude-range", {"latitude": 95.2}, ("latitude", "latitude_range")),
    ("latitude-range-negative", {"latitude": -90.5}, ("latitude", "latitude_range")),
    ("longitude-range", {"longitude": 180.01}, ("longitude", "longitude_range")),
    ("latitude-not-number", {"latitude": "45,7a"}, ("latitude", "not_a_number")),
    ("latitude-alone", {"longitude": None}, ("longitude", "latitude_without_longitude")),
    ("longitude-alone", {"latitude": None}, ("latitude", "longitude_without_latitude")),
    ("flag-unknown-word", {"aEnvoyer": "peut-être"}, ("aEnvoyer", "flag_value")),
    ("flag-number-2", {"aEnvoyer": 2}, ("aEnvoyer", "flag_value")),
    ("action-unknown", {"action": "annuler"}, ("action", "action_value")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "expected"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_each_error_makes_its_row_invalid_and_names_the_cell(
    tmp_path: Path, changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    checked = check(tmp_path, mission(**changes), mission(idMission="M-OK"))
    column, kind = expected
    assert (2, column, kind) in kinds(checked)
    errors = [p for p in checked.problems if p.is_error]
    assert [(p.row, p.column, p.kind) for p in errors] == [(2, column, kind)]  # nothing else
    assert list(checked.invalid) == [True, False]
    problem = errors[0]
    assert problem.cell and problem.cell.endswith("2")
    assert problem.message and "{" not in problem.message


WARNING_CASES = [
    ("vehicle-and-individual", {"nomIndi": "Dupont", "prenomIndi": "Marie"},
     ("nomVeh", "vehicle_and_individual")),
    ("vehicle-and-full-name", {"nomPrenom": "Marie Dupont"}, ("nomVeh", "vehicle_and_individual")),
    ("no-location", {"rue": None, "codPost": None, "ville": None, "latitude": None, "longitude": None},
     ("rue", "no_location")),
    ("postcode-lost-zero", {"codPost": 1000}, ("codPost", "postcode_zero_restored")),
    ("postcode-lost-zero-text", {"codPost": "1000"}, ("codPost", "postcode_zero_restored")),
    ("address-name-long", {"adrRefCli": "Centre hospitalier régional"}, ("adrRefCli", "address_name_long")),
    ("seconds", {"jourHeureInter": "24/11/2026 08:30:15"}, ("jourHeureInter", "seconds_dropped")),
    ("seconds-in-date-cell", {"jourHeureInter": dt.datetime(2026, 11, 24, 8, 30, 15)},
     ("jourHeureInter", "seconds_dropped")),
    ("date-without-time", {"jourHeureInter": "25/11/2026", "jourHeurePeremp": None},
     ("jourHeureInter", "date_without_time")),
    ("past", {"jourHeureInter": "02/01/2025 09:00", "jourHeurePeremp": None},
     ("jourHeureInter", "past_intervention")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "expected"), [c[1:] for c in WARNING_CASES], ids=[c[0] for c in WARNING_CASES]
)
def test_each_warning_is_reported_and_keeps_the_row_valid(
    tmp_path: Path, changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    checked = check(tmp_path, mission(**changes))
    column, kind = expected
    # A mission sent at 00:00 is also counted once for the whole file.
    notice = [(None, None, "midnight")] if kind == "date_without_time" else []
    assert [(p.row, p.column, p.kind) for p in checked.problems] == [(2, column, kind), *notice]
    assert KINDS[kind].severity == "warning"
    assert checked.invalid_count == 0


def test_duplicate_ids_are_all_errors_and_name_each_other(tmp_path: Path) -> None:
    checked = check(
        tmp_path, mission(idMission="M-1"), mission(idMission="M-2"), mission(idMission="M-1")
    )
    duplicates = [p for p in checked.problems if p.kind == "duplicate_id"]
    assert [(p.row, p.column) for p in duplicates] == [(2, "idMission"), (4, "idMission")]
    assert "rows 2, 4" in duplicates[0].message
    assert list(checked.invalid) == [True, False, True]


def test_same_id_for_two_customers_is_not_a_duplicate(tmp_path: Path) -> None:
    checked = check(tmp_path, mission(customerId=1), mission(customerId=2))
    assert checked.invalid_count == 0


def test_customer_id_comes_from_the_settings_when_the_row_has_none(tmp_path: Path) -> None:
    checked = check(tmp_path, mission(), mission(idMission="M-2", customerId=77), customer_id=4242)
    assert list(checked.missions["customerId"]) == [4242, 77]


def test_multi_client_account_requires_a_customer_id_on_every_row(tmp_path: Path) -> None:
    checked = check(tmp_path, mission(), mission(idMission="M-2", customerId=77), multi_client=True)
    assert kinds(checked) == {(2, "customerId", "customer_required")}


@pytest.mark.parametrize(
    ("cell", "utc"),
    [
        (dt.datetime(2026, 11, 24, 8, 30), dt.datetime(2026, 11, 24, 7, 30)),
        ("24/11/2026 08:30", dt.datetime(2026, 11, 24, 7, 30)),
        ("24/11/2026 8:30", dt.datetime(2026, 11, 24, 7, 30)),
        ("24/11/2026 08:30:00", dt.datetime(2026, 11, 24, 7, 30)),
        ("2026-11-24 8:30", dt.datetime(2026, 11, 24, 7, 30)),
        ("2026-11-24 8:30:00", dt.datetime(2026, 11, 24, 7, 30)),
        ("2026-11-24T08:30", dt.datetime(2026, 11, 24, 7, 30)),
        ("24/06/2027 08:30", dt.datetime(2027, 6, 24, 6, 30)),  # summer time: UTC+2
    ],
    ids=["date-cell", "dd/MM/yyyy HH:mm", "dd/MM/yyyy H:mm", "with-seconds", "iso-H:mm",
         "iso-seconds-office-csv", "iso-T", "summer"],
)  # fmt: skip
def test_accepted_date_formats_are_converted_from_the_planning_zone_to_utc(
    tmp_path: Path, cell: Any, utc: dt.datetime
) -> None:
    checked = check(
        tmp_path, mission(jourHeureInter=cell, jourHeurePeremp=None), timezone="Europe/Paris"
    )
    assert checked.invalid_count == 0, checked.problems
    assert checked.missions.iloc[0]["jourHeureInter"] == utc.replace(tzinfo=dt.UTC)


def test_a_midnight_date_cell_is_midnight_with_a_warning(tmp_path: Path) -> None:
    # The readers give a plain date for a date cell at 00:00 in any format: never silent.
    checked = check(tmp_path, mission(jourHeureInter=dt.date(2026, 11, 25), jourHeurePeremp=None))
    assert [(p.row, p.kind) for p in checked.problems] == [(2, "date_without_time"),
                                                          (None, "midnight")]  # fmt: skip
    assert checked.missions.iloc[0]["jourHeureInter"] == dt.datetime(2026, 11, 25, tzinfo=PARIS)


def test_dates_are_read_in_paris_time_by_default_never_in_the_machine_zone(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    checked = check(tmp_path, mission(jourHeureInter="24/11/2026 08:30"))
    assert checked.timezone == "Europe/Paris" and not checked.timezone_given
    assert checked.missions.iloc[0]["jourHeureInter"] == dt.datetime(
        2026, 11, 24, 7, 30, tzinfo=dt.UTC
    )


def test_spring_gap_is_an_error_and_autumn_repeat_takes_the_first(tmp_path: Path) -> None:
    checked = check(
        tmp_path,
        mission(idMission="gap", jourHeureInter="28/03/2027 02:30", jourHeurePeremp=None),
        mission(idMission="repeat", jourHeureInter="31/10/2027 02:30", jourHeurePeremp=None),
        timezone="Europe/Paris",
    )
    assert kinds(checked) == {
        (2, "jourHeureInter", "time_in_clock_change_gap"),
        (3, "jourHeureInter", "time_repeated_by_clock_change"),
    }
    assert list(checked.invalid) == [True, False]
    # The first 02:30 of that night is still summer time (UTC+2).
    assert checked.missions.loc[3, "jourHeureInter"] == dt.datetime(
        2027, 10, 31, 0, 30, tzinfo=dt.UTC
    )


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(True, True), (False, False), (1, True), (0, False), (1.0, True), ("vrai", True),
     ("FAUX", False), ("Oui", True), ("non", False), ("yes", True), ("no", False), ("x", True),
     ("X", True), ("1", True), ("0", False), ("true", True), ("false", False), (None, False)],
    ids=lambda v: repr(v),
)  # fmt: skip
def test_send_flag_vocabulary(tmp_path: Path, cell: Any, expected: bool) -> None:
    checked = check(tmp_path, mission(aEnvoyer=cell))
    assert checked.invalid_count == 0
    assert bool(checked.missions.iloc[0]["aEnvoyer"]) is expected


def test_blank_send_flag_takes_the_configured_default(tmp_path: Path) -> None:
    checked = check(tmp_path, mission(aEnvoyer=None), send_by_default=True)
    assert bool(checked.missions.iloc[0]["aEnvoyer"]) is True


@pytest.mark.parametrize(
    ("latitude", "longitude", "expected"),
    [("45,7621", "4,8357", (45.7621, 4.8357)), ("45.7621", "4.8357", (45.7621, 4.8357)),
     (45.7621, 4.8357, (45.7621, 4.8357)), ("-0,5", " 12 ", (-0.5, 12.0))],
    ids=["decimal-comma", "decimal-point", "number-cells", "negative-and-spaces"],
)  # fmt: skip
def test_coordinates_accept_decimal_commas(tmp_path: Path, latitude, longitude, expected) -> None:
    checked = check(tmp_path, mission(latitude=latitude, longitude=longitude))
    assert checked.invalid_count == 0
    assert tuple(checked.missions.iloc[0][["latitude", "longitude"]]) == expected


def test_postcode_keeps_text_and_restores_a_lost_zero(tmp_path: Path) -> None:
    checked = check(tmp_path, mission(codPost=1000), mission(idMission="M-2", codPost="06000"))
    assert list(checked.missions["codPost"]) == ["01000", "06000"]


def test_text_cells_are_trimmed_and_id_numbers_lose_no_digit(tmp_path: Path) -> None:
    checked = check(tmp_path, mission(idMission=12345, nomVeh="  VL-12  "))
    assert checked.missions.iloc[0]["idMission"] == "12345"
    assert checked.missions.iloc[0]["nomVeh"] == "VL-12"


def test_delete_action_is_recognised_in_french_and_english(tmp_path: Path) -> None:
    checked = check(
        tmp_path, mission(action="Supprimer"), mission(idMission="M-2", action="delete")
    )
    assert list(checked.missions["action"]) == ["delete", "delete"]
    assert checked.invalid_count == 0


def test_all_problems_of_all_rows_are_collected_at_once(tmp_path: Path) -> None:
    checked = check(
        tmp_path,
        mission(idMission="A", latitude=100.0, aEnvoyer="?"),
        mission(idMission="B", jourHeureInter="hier"),
        mission(idMission="C", nomVeh=None),
    )
    assert kinds(checked) == {
        (2, "latitude", "latitude_range"),
        (2, "aEnvoyer", "flag_value"),
        (3, "jourHeureInter", "date_format"),
        (4, "nomVeh", "no_recipient"),
    }
    assert checked.invalid_count == 3
