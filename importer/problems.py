"""A problem found in a planning: what a person needs to find the cell and fix it; and the
kinds of problems (``KINDS``), each with its severity, its title and its sentence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from importer.i18n import lazy

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One problem in one cell (or one row, or the header).

    ``row`` is the spreadsheet row number a person sees; ``column`` the header as written in
    the file (None for a problem about the whole row); ``kind`` a stable code that groups
    problems of the same sort (``date_format``, ``duplicate_id``...).
    """

    row: int | None
    column: str | None
    value: Any
    message: str
    severity: Severity
    kind: str
    cell: str | None = None  # A1-style reference, when the column is known

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class Kind(NamedTuple):
    """A sort of problem: its severity, a short title, and the sentence for one cell."""

    severity: Severity
    title: str
    message: str  # formatted with value=, zone=, shown=


KINDS: dict[str, Kind] = {
    # errors
    "id_required": Kind(
        "error",
        lazy("mission id missing"),
        lazy("the mission id is empty: every row needs one"),
    ),
    "duplicate_id": Kind(
        "error",
        lazy("mission id used twice"),
        lazy("mission id {value} is on more than one row ({shown}): give each mission its own id"),
    ),
    "customer_required": Kind(
        "error",
        lazy("customerId missing"),
        lazy("customerId is empty, and the account is multi-client: say which Ocean customer"),
    ),
    "not_an_integer": Kind(
        "error",
        lazy("customerId not a whole number"),
        lazy("{value} is not a customer id (a whole number)"),
    ),
    "date_required": Kind(
        "error",
        lazy("intervention date missing"),
        lazy("the intervention date is empty: every mission needs one"),
    ),
    "date_format": Kind(
        "error",
        lazy("not a date"),
        lazy(
            "{value} is not a date: write it as dd/MM/yyyy HH:mm (24/11/2026 08:30) or yyyy-MM-dd "
            "HH:mm"
        ),
    ),
    "two_digit_year": Kind(
        "error",
        lazy("two-digit year"),
        lazy("{value} has a two-digit year, which is ambiguous: write the year in full (2026)"),
    ),
    "impossible_date": Kind(
        "error",
        lazy("impossible date"),
        lazy("{value} is not a real date or time"),
    ),
    "implausible_year": Kind(
        "error",
        lazy("implausible year"),
        lazy("{value} is not a plausible mission date: check the year"),
    ),
    "number_not_date": Kind(
        "error",
        lazy("number instead of a date"),
        lazy(
            "the number {value} is not a date: format the cell as a date, or write dd/MM/yyyy "
            "HH:mm (24/11/2026 08:30) or yyyy-MM-dd HH:mm"
        ),
    ),
    "time_without_date": Kind(
        "error",
        lazy("time without a date"),
        lazy(
            "{value} is a time with no date: write dd/MM/yyyy HH:mm (24/11/2026 08:30) or "
            "yyyy-MM-dd HH:mm"
        ),
    ),
    "time_format": Kind(
        "error",
        lazy("not a time of day"),
        lazy("{value} is not a time of day: write it as 8h30, 08:30 or 830"),
    ),
    "time_slot_start": Kind(
        "warning",
        lazy("a time slot"),
        lazy("{value} is a time slot: the mission is due at its start"),
    ),
    "time_ignored": Kind(
        "warning",
        lazy("time column not read"),
        lazy("{value} is not a time of day: the time of the date cell is used"),
    ),
    "time_contradicts_date": Kind(
        "warning",
        lazy("two different times"),
        lazy(
            "the time {value} differs from the time the date cell has of its own: the date "
            "cell's is sent (the time column only completes a date written without a time)"
        ),
    ),
    "date_column_missing": Kind(
        "error",
        lazy("no intervention date column"),
        lazy(
            "the file has no intervention date column (jourHeureInter, « Date d'intervention », "
            "or « Date » with « Heure »): name it so, or map yours in [columns]"
        ),
    ),
    "sheet_chosen": Kind(  # about the whole file: which sheet was read, and which were not
        "warning",
        lazy("sheet read"),
        lazy("{value}"),
    ),
    "hidden_rows": Kind(  # about the whole file: rows hidden or filtered out in the sheet
        "warning",
        lazy("hidden rows"),
        lazy("{value}"),
    ),
    "ignored_lines": Kind(  # about the whole file: the lines that are not missions
        "warning",
        lazy("lines that are not missions"),
        lazy("{value}"),
    ),
    "time_in_clock_change_gap": Kind(
        "error",
        lazy("time skipped by a clock change"),
        lazy(
            "{value} does not exist in {zone} (the clocks go forward that night): pick another time"
        ),
    ),
    "expiry_not_after_intervention": Kind(
        "error",
        lazy("expiry not after intervention"),
        lazy(
            "the expiry date {value} is not after the intervention date: the mission would leave "
            "the cab's screen before it is due"
        ),
    ),
    "no_recipient": Kind(
        "error",
        lazy("no vehicle or individual"),
        lazy(
            "no vehicle (nomVeh) and no individual (nomIndi with prenomIndi, or nomPrenom): say "
            "who does the mission"
        ),
    ),
    "not_a_number": Kind(
        "error",
        lazy("not a number"),
        lazy("{value} is not a number (decimal degrees)"),
    ),
    "latitude_range": Kind(
        "error",
        lazy("latitude out of range"),
        lazy("latitude {value} is out of range: it must be within -90..90"),
    ),
    "longitude_range": Kind(
        "error",
        lazy("longitude out of range"),
        lazy("longitude {value} is out of range: it must be within -180..180"),
    ),
    "latitude_without_longitude": Kind(
        "error",
        lazy("latitude without longitude"),
        lazy("a latitude without a longitude: give both or neither"),
    ),
    "longitude_without_latitude": Kind(
        "error",
        lazy("longitude without latitude"),
        lazy("a longitude without a latitude: give both or neither"),
    ),
    "flag_value": Kind(
        "error",
        lazy("not a yes/no value"),
        lazy("{value} is not a yes/no value: write oui/non, vrai/faux, true/false, 1/0, or x"),
    ),
    "action_value": Kind(
        "error",
        lazy("unknown action"),
        lazy(
            "{value} is not an action: leave it blank, or write supprimer (delete) to cancel the "
            "mission"
        ),
    ),
    # warnings
    "unknown_column": Kind(
        "warning",
        lazy("unknown column"),
        lazy("{value}"),
    ),
    "seconds_dropped": Kind(
        "warning",
        lazy("seconds dropped"),
        lazy("the seconds of {value} are dropped: Ocean takes minutes"),
    ),
    "date_without_time": Kind(
        "warning",
        lazy("date without a time"),
        lazy(
            "{value} has no time of day: the mission goes out at 00:00 (write the time in the "
            "cell, or add an « Heure » column)"
        ),
    ),
    "expiry_without_time": Kind(
        "warning",
        lazy("expiry date without a time"),
        lazy(
            "{value} has no time of day: the mission leaves the cab's screen at 00:00 that day "
            "(write the time in the cell, or add an « Heure fin » column)"
        ),
    ),
    "midnight": Kind(  # about the whole file: how many missions a missing time sends at 00:00
        "warning",
        lazy("missions at 00:00"),
        lazy("{value}"),
    ),
    "outside_area": Kind(
        "warning",
        lazy("point outside the operating area"),
        lazy(
            "the point {shown} is outside the operating area ({area}): check the coordinates "
            "([area] in the configuration widens it)"
        ),
    ),
    "coordinates_swapped": Kind(
        "warning",
        lazy("latitude and longitude swapped?"),
        lazy(
            "the point {shown} is outside the operating area ({area}), but inside once latitude "
            "and longitude are swapped: they look swapped"
        ),
    ),
    "time_repeated_by_clock_change": Kind(
        "warning",
        lazy("time repeated by a clock change"),
        lazy(
            "{value} happens twice in {zone} (the clocks go back that night): the first one is used"
        ),
    ),
    "not_sent": Kind(  # about the whole file: told once, before anything is sent
        "warning",
        lazy("missions not sent to the vehicles"),
        lazy("none of the missions will be sent to the vehicles"),
    ),
    "past_intervention": Kind(
        "warning",
        lazy("intervention already past"),
        lazy("the intervention time {value} is already past"),
    ),
    "postcode_zero_restored": Kind(
        "warning",
        lazy("postcode lost its leading zero"),
        lazy("postcode {value} lost its leading zero: it is sent as {shown}"),
    ),
    "vehicle_and_individual": Kind(
        "warning",
        lazy("vehicle and individual both given"),
        lazy("both a vehicle and an individual are given: the vehicle is used, as Ocean does"),
    ),
    "no_location": Kind(
        "warning",
        lazy("no destination"),
        lazy("no coordinates and no address: the driver is given no destination"),
    ),
    "address_name_long": Kind(
        "warning",
        lazy("address name too long"),
        lazy("over {name_chars} characters: the cab shows only {shown}"),
    ),
    "text_too_long": Kind(
        "error",
        lazy("text too long"),
        lazy(
            "{shown} characters, more than a spreadsheet cell holds ({max_chars}): Ocean would not "
            "take it whole and nothing is cut without a word; shorten it"
        ),
    ),
}


def problems_by_kind(problems: list[Problem]) -> dict[str, list[Problem]]:
    """Problems grouped by kind, errors' kinds first, each kind in row order."""
    groups: dict[str, list[Problem]] = {}
    for problem in sorted(problems, key=lambda p: (not p.is_error, p.row or 0)):
        groups.setdefault(problem.kind, []).append(problem)
    return groups
