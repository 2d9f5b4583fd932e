"""Validation: a mapped sheet to typed missions and every problem of every row at once.

Cells are first typed column by column (``importer.cells``: dates, numbers, flags,
postcodes), local times are converted to UTC, then the pandera schemas of
``importer.schemas.planning`` check the typed frame lazily. Errors make a row invalid (it is
not pushed); warnings do not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pandera.pandas as pa

from importer import cells
from importer.columns import Sheet
from importer.config import Settings
from importer.i18n import _, lazy, number, quoted
from importer.problems import Problem, Severity
from importer.schemas.aliases import ACTION_COLUMN
from importer.schemas.api import (
    ADDRESS_NAME_SHOWN_CHARS,
    COORDINATE_FIELDS,
    DATE_FIELDS,
    TEXT_FIELDS,
)
from importer.schemas.planning import BLAMED_FIELD, REQUIRED_KIND, errors_schema, warnings_schema


class Kind(NamedTuple):
    """A sort of problem: its severity, a short title, and the sentence for one cell."""

    severity: Severity
    title: str
    message: str  # formatted with value=, zone=, shown=


MAX_CELL_CHARS = cells.MAX_CELL_CHARS

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
        lazy("{value} has no time of day: it is read as 00:00"),
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

_PARSERS: dict[str, Callable[[Any], cells.Parsed]] = {
    "customerId": cells.parse_integer,
    "idMission": cells.parse_text,
    **{name: cells.parse_datetime for name in DATE_FIELDS},
    **{name: cells.parse_text for name in TEXT_FIELDS},
    "codPost": cells.parse_postcode,
    "aEnvoyer": cells.parse_flag,
    **{name: cells.parse_number for name in COORDINATE_FIELDS},
    ACTION_COLUMN: cells.parse_action,
}


@dataclass(frozen=True)
class Checked:
    """The validated planning: typed missions, their problems, and which rows are invalid."""

    sheet: Sheet
    missions: pd.DataFrame  # one column per API field (+ action), indexed by row number
    problems: list[Problem]
    invalid: pd.Series  # bool, indexed by row number
    timezone: str
    timezone_given: bool = True  # False: the default zone, and the summaries say so

    @property
    def row_count(self) -> int:
        return len(self.missions)

    @property
    def invalid_count(self) -> int:
        return int(self.invalid.sum())

    @property
    def valid_count(self) -> int:
        return self.row_count - self.invalid_count

    @property
    def error_count(self) -> int:
        return sum(p.is_error for p in self.problems)

    @property
    def warning_count(self) -> int:
        return len(self.problems) - self.error_count


# The problems that still matter on a row whose action is to delete the mission.
_KEY_KINDS = frozenset(
    {"id_required", "duplicate_id", "customer_required", "not_an_integer", "action_value"}
)


def validate(sheet: Sheet, settings: Settings, *, now: dt.datetime | None = None) -> Checked:
    """Type every cell and check every rule; never stops at the first problem."""
    now_utc = pd.Timestamp(now or dt.datetime.now(dt.UTC)).tz_convert("UTC")
    index = sheet.cells.index
    found: list[tuple[pd.Index, str, str]] = []  # (rows, field, kind)
    columns: dict[str, pd.Series] = {}
    for name, parser in _PARSERS.items():
        label = sheet.label_of(name)
        if label is None:
            columns[name] = pd.Series(None, index=index, dtype=object)
            continue
        values, kinds = cells.parse_column(sheet.cells[label], parser, sheet.factorised.get(label))
        columns[name] = values
        for kind, rows in kinds.dropna().groupby(kinds.dropna()).groups.items():
            found.append((rows, name, str(kind)))

    missions = pd.DataFrame(columns, index=index)
    missions["customerId"] = missions["customerId"].astype("Int64")
    if settings.customer_id is not None:
        missions["customerId"] = missions["customerId"].fillna(settings.customer_id)
    for name in COORDINATE_FIELDS:
        missions[name] = pd.to_numeric(missions[name]).astype("float64")
    missions["aEnvoyer"] = (
        missions["aEnvoyer"]
        .where(missions["aEnvoyer"].notna(), settings.send_by_default)
        .astype(bool)
    )
    for name in DATE_FIELDS:
        missions[name], gaps, repeats = _to_utc(missions[name], settings.timezone)
        found.append((index[gaps], name, "time_in_clock_change_gap"))
        found.append((index[repeats], name, "time_repeated_by_clock_change"))

    found += _schema_problems(errors_schema(multi_client=settings.multi_client), missions)
    warning_columns = ["jourHeureInter", "adrRefCli", "nomVeh", "nomIndi", "prenomIndi",
                       "nomPrenom", "latitude", "longitude", "rue", "ville", "codPost"]  # fmt: skip
    found += _schema_problems(warnings_schema(now=now_utc), missions[warning_columns])

    problems = _describe(found, sheet, missions, settings.timezone)
    # A row that cancels a mission (action: supprimer) needs only its key to be right.
    cancelling = set(index[missions[ACTION_COLUMN].eq("delete").to_numpy()])
    if cancelling:
        problems = [p for p in problems if p.row not in cancelling or p.kind in _KEY_KINDS]
    error_rows = {p.row for p in problems if p.is_error and p.row is not None}
    invalid = pd.Series(index.isin(list(error_rows)), index=index, dtype=bool)
    all_problems = [*sheet.problems, *problems, *_not_sent(sheet, missions, invalid)]
    return Checked(sheet, missions, all_problems, invalid, settings.timezone,
                   settings.timezone_given)  # fmt: skip


def _not_sent(sheet: Sheet, missions: pd.DataFrame, invalid: pd.Series) -> list[Problem]:
    """A file whose valid rows all stay "prepared": said once, so that nobody believes the
    drivers got them (Ocean's aEnvoyer is false unless a row or send_by_default says so)."""
    sent = missions.loc[~invalid.to_numpy(), "aEnvoyer"]
    if not len(sent) or sent.any():
        return []
    label = sheet.label_of("aEnvoyer")
    n = number(len(sent))
    if label is None:
        message = _(
            "none of the {n} valid missions will be sent to the vehicles: the file has no "
            "« À envoyer » column and send_by_default is false, so they are only prepared in "
            "Ocean; add the column (oui on the rows to send), or set send_by_default = true "
            "in the configuration"
        ).format(n=n)
    else:
        message = _(
            "none of the {n} valid missions will be sent to the vehicles: no row of the "
            "column {column} asks for it, so they are only prepared in Ocean; write oui on the "
            "rows to send"
        ).format(n=n, column=quoted(label))
    return [Problem(None, label, None, message, "warning", "not_sent")]


def _to_utc(local: pd.Series, timezone: str) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Local wall-clock times to UTC; also the rows in a spring gap and the repeated ones."""
    naive = pd.to_datetime(local)
    if timezone == "UTC":
        none = np.zeros(len(local), dtype=bool)
        return naive.dt.tz_localize("UTC"), none, none
    # In autumn the first occurrence (still summer time) is the one a planner means.
    first = naive.dt.tz_localize(
        timezone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="NaT"
    )
    strict = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    gaps = (naive.notna() & first.isna()).to_numpy()
    repeats = (first.notna() & strict.isna()).to_numpy()
    return first.dt.tz_convert("UTC"), gaps, repeats


def _schema_problems(
    schema: pa.DataFrameSchema, frame: pd.DataFrame
) -> list[tuple[pd.Index, str, str]]:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return []
    # A whole-frame check reports each failing row once per column: one entry per check.
    cases = cases.assign(column=cases["column"].where(cases["schema_context"] == "Column", None))
    found: list[tuple[pd.Index, str, str]] = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        rows = pd.Index(group["index"].dropna().unique())
        if check == "not_nullable":
            kind = REQUIRED_KIND.get(str(column))
            if kind:
                found.append((rows, str(column), kind))
            continue
        kind = str(check)
        if kind not in KINDS:
            raise RuntimeError(f"pandera reported an unexpected check {check!r} on {column!r}")
        field = BLAMED_FIELD.get(kind, str(column))
        found.append((rows, field, kind))
    return found


def _describe(
    found: list[tuple[pd.Index, str, str]], sheet: Sheet, missions: pd.DataFrame, zone: str
) -> list[Problem]:
    """One Problem per (row, field, kind), a cell parse error hiding schema noise on that cell."""
    seen: set[tuple[int, str]] = set()
    problems: list[Problem] = []
    # Cell-level problems first, so that a cell's own parse error is the one kept.
    for rows, field, kind in found:
        if not len(rows):
            continue
        info = KINDS[kind]
        label = sheet.label_of(field)
        letter = sheet.letter_of(label) if label else None
        originals = sheet.cells[label].reindex(rows) if label else pd.Series(None, index=rows)
        shown = _shown(kind, rows, field, missions, originals)
        values = originals.to_dict()
        for row in rows:
            row = int(row)
            if (row, field) in seen and info.severity == "error":
                continue
            if info.severity == "error":
                seen.add((row, field))
            value = values.get(row)
            problems.append(
                Problem(
                    row=row,
                    column=label,
                    value=value,
                    message=info.message.format(
                        value=_quote(value),
                        zone=zone,
                        shown=shown.get(row, ""),
                        max_chars=number(MAX_CELL_CHARS),
                        name_chars=ADDRESS_NAME_SHOWN_CHARS,
                    ),
                    severity=info.severity,
                    kind=kind,
                    cell=f"{letter}{row}" if letter else None,
                )
            )
    problems.sort(key=lambda p: (p.row or 0, 0 if p.is_error else 1))
    return problems


def _shown(
    kind: str, rows: pd.Index, field: str, missions: pd.DataFrame, originals: pd.Series
) -> dict[int, str]:
    """The extra detail a kind's message shows: what is sent, or the other rows involved."""
    if kind == "postcode_zero_restored":
        return {int(r): str(missions.at[r, field]) for r in rows}
    if kind == "text_too_long":
        return {int(r): number(len(str(missions.at[r, field]))) for r in rows}
    if kind == "address_name_long":
        return {int(r): _quote(str(missions.at[r, field])[:ADDRESS_NAME_SHOWN_CHARS]) for r in rows}
    if kind == "duplicate_id":
        subset = missions.loc[rows, ["customerId", "idMission"]]
        groups = subset.groupby(["customerId", "idMission"], dropna=False).groups
        shown: dict[int, str] = {}
        for members in groups.values():
            label = _("rows {rows}").format(rows=", ".join(str(int(r)) for r in sorted(members)))
            shown.update({int(r): label for r in members})
        return shown
    return {}


def _quote(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return _("(empty)")
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M:%S" if value.second else "%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, str):
        # The quotation marks of the reader's language: « LIV-01 » in French.
        return quoted(value)
    return str(value)


def problems_by_kind(problems: list[Problem]) -> dict[str, list[Problem]]:
    """Problems grouped by kind, errors' kinds first, each kind in row order."""
    groups: dict[str, list[Problem]] = {}
    for problem in sorted(problems, key=lambda p: (not p.is_error, p.row or 0)):
        groups.setdefault(problem.kind, []).append(problem)
    return groups
