"""Validation: a mapped sheet to typed missions and every problem of every row at once.

Cells are first typed column by column (``importer.cells``: dates, numbers, flags,
postcodes), local times are converted to UTC, then the pandera schemas of
``importer.schemas.planning`` check the typed frame lazily. Errors make a row invalid (it is
not pushed); warnings do not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from babel.numbers import format_decimal

from importer import cells, habits
from importer.columns import Sheet, no_mission_rows
from importer.config import Settings
from importer.errors import LayoutError
from importer.i18n import _, language, number, quoted
from importer.problems import KINDS, Problem
from importer.schemas.aliases import ACTION_COLUMN, SPLIT_DATE_FIELDS
from importer.schemas.api import (
    ADDRESS_NAME_SHOWN_CHARS,
    COORDINATE_FIELDS,
    DATE_FIELDS,
    TEXT_FIELDS,
)
from importer.schemas.area import FRANCE_AREA, Area
from importer.schemas.planning import (
    BLAMED_FIELD,
    REQUIRED_KIND,
    errors_schema,
    warnings_schema,
)

# Texts that name something (a vehicle, a person, a site): on one line, single spaces.
NAME_FIELDS = frozenset({"nomVeh", "nomIndi", "prenomIndi", "nomPrenom", "adrRefCli", "ville"})

_PARSERS: dict[str, Callable[[Any], cells.Parsed]] = {
    "customerId": cells.parse_integer,
    "idMission": cells.parse_name,
    **{name: cells.parse_datetime for name in DATE_FIELDS},
    **{name: cells.parse_name if name in NAME_FIELDS else cells.parse_text for name in TEXT_FIELDS},
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
    # Lines under the header that are not missions: "ignored" (a total, a note) or "hidden"
    # (hidden in the sheet, left out as the configuration says), by row.
    left_out: dict[int, str] = dataclasses.field(default_factory=dict)

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
    for name, (_day, time_field) in SPLIT_DATE_FIELDS.items():
        if (time_label := sheet.label_of(time_field)) is not None:
            columns[name] = habits.with_time(
                sheet, name, time_field, time_label, columns[name], found
            )

    ignored = habits.not_missions(sheet, columns)
    hidden = tuple(row for row in sheet.raw.hidden_rows if row in index)
    if hidden and settings.hidden_rows == "skip":
        ignored |= index.isin(hidden)
    if ignored.any():
        if ignored.all():
            raise LayoutError(sheet.raw.path, no_mission_rows(sheet.header_row))
        kept = ~ignored.to_numpy()
        sheet_rows, index = index, index[kept]
        columns = {name: values[kept] for name, values in columns.items()}
        found = [(rows[~rows.isin(sheet_rows[~kept])], name, kind) for rows, name, kind in found]

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
    if sheet.label_of("jourHeureInter") is None:
        found = [(rows, name, "date_column_missing" if kind == "date_required" else kind)
                 for rows, name, kind in found]  # fmt: skip
    # An expiry with no time of day makes the mission leave the cab's screen at 00:00.
    found = [(rows, name, "expiry_without_time" if (name, kind) == ("jourHeurePeremp",
              "date_without_time") else kind) for rows, name, kind in found]  # fmt: skip
    warning_columns = ["jourHeureInter", "adrRefCli", "nomVeh", "nomIndi", "prenomIndi",
                       "nomPrenom", "latitude", "longitude", "rue", "ville", "codPost"]  # fmt: skip
    found += _schema_problems(
        warnings_schema(now=now_utc, area=settings.area), missions[warning_columns]
    )

    problems = _describe(found, sheet, missions, settings.timezone, settings.area)
    # A row that cancels a mission (action: supprimer) needs only its key to be right.
    cancelling = set(index[missions[ACTION_COLUMN].eq("delete").to_numpy()])
    if cancelling:
        problems = [p for p in problems if p.row not in cancelling or p.kind in _KEY_KINDS]
    error_rows = {p.row for p in problems if p.is_error and p.row is not None}
    invalid = pd.Series(index.isin(list(error_rows)), index=index, dtype=bool)
    ignored_rows = tuple(int(row) for row in ignored.index[ignored.to_numpy()])
    skipped = settings.hidden_rows == "skip"
    ignored_rows = tuple(row for row in ignored_rows if not (skipped and row in hidden))
    intervention = sheet.label_of("jourHeureInter")
    all_problems = [*sheet.problems, *habits.hidden_rows_notice(hidden, skipped),
                    *habits.ignored_lines_notice(sheet, ignored_rows), *problems,
                    *_not_sent(sheet, missions, invalid),
                    *habits.midnight_notice(problems, invalid, intervention)]  # fmt: skip
    left_out = dict.fromkeys(ignored_rows, "ignored") | dict.fromkeys(
        hidden if skipped else (), "hidden"
    )
    return Checked(sheet, missions, all_problems, invalid, settings.timezone,
                   settings.timezone_given, left_out)  # fmt: skip


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
    found: list[tuple[pd.Index, str, str]],
    sheet: Sheet,
    missions: pd.DataFrame,
    zone: str,
    area: Area = FRANCE_AREA,
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
                        max_chars=number(cells.MAX_CELL_CHARS),
                        name_chars=ADDRESS_NAME_SHOWN_CHARS,
                        area=area_words(area),
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
    if kind in ("outside_area", "coordinates_swapped"):
        points = missions.loc[rows, ["latitude", "longitude"]].astype(float)
        return {
            int(r): _("latitude {lat}, longitude {lon}").format(
                lat=_degrees(lat), lon=_degrees(lon)
            )
            for r, lat, lon in zip(rows, points["latitude"], points["longitude"], strict=True)
        }
    if kind == "duplicate_id":
        subset = missions.loc[rows, ["customerId", "idMission"]]
        groups = subset.groupby(["customerId", "idMission"], dropna=False).groups
        shown: dict[int, str] = {}
        for members in groups.values():
            label = _("rows {rows}").format(rows=", ".join(str(int(r)) for r in sorted(members)))
            shown.update({int(r): label for r in members})
        return shown
    return {}


def _degrees(value: float) -> str:
    """Decimal degrees as the reader writes them: 45,7621 in French, 45.7621 in English."""
    return format_decimal(value, format="0.######", locale=language())


def area_words(area: Area) -> str:
    """The operating area as a person reads it: latitudes, then longitudes."""
    south, west, north, east = map(_degrees, area)
    return _("latitude {south} to {north}, longitude {west} to {east}").format(
        south=south, north=north, west=west, east=east
    )


def _quote(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return _("(empty)")
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M:%S" if value.second else "%d/%m/%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    if isinstance(value, dt.timedelta):
        minutes = int(value.total_seconds() // 60)
        return f"{minutes // 60}:{minutes % 60:02d}"
    if isinstance(value, str):
        # The quotation marks of the reader's language: « LIV-01 » in French.
        return quoted(value)
    return str(value)
