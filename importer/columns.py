"""Column mapping: find the header row, then tell which column holds which API field.

Headers match API field names or French labels (schemas/columns.toml), ignoring case,
accents, spaces and punctuation; a site's ``[columns]`` table adds its own. Unknown columns
are carried through untouched, with one warning that suggests the closest known name.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from importer.cells import Factorised, parse_datetime
from importer.errors import LayoutError
from importer.i18n import _, quoted
from importer.problems import Problem
from importer.read import HEADER_SEARCH_ROWS, RawSheet, too_many_rows
from importer.schemas.aliases import (
    ID_FIELD,
    MIN_KNOWN_HEADERS,
    SPLIT_DATE_FIELDS,
    known_fields,
    normalise_header,
)


@dataclass(frozen=True)
class Column:
    label: str  # the header as written in the file (made unique if repeated)
    letter: str  # the spreadsheet column letter
    field: str | None  # the API field (or "action") it holds; None if unknown


@dataclass(frozen=True)
class Sheet:
    """The planning's rows under its header, cells still as read."""

    raw: RawSheet
    header_row: int
    columns: list[Column]
    cells: pd.DataFrame  # one column per label, indexed by spreadsheet row number ("row")
    problems: list[Problem] = field(default_factory=list)
    factorised: dict[str, Factorised] = field(default_factory=dict)  # the cells, by label

    def label_of(self, field_name: str) -> str | None:
        """The file's header for an API field, or None when the file has no such column. A
        date field without its own column is the day column's (« Date » with « Heure »)."""
        for column in self.columns:
            if column.field == field_name:
                return column.label
        if field_name in SPLIT_DATE_FIELDS:
            return self.label_of(SPLIT_DATE_FIELDS[field_name][0])
        return None

    def letter_of(self, label: str) -> str | None:
        for column in self.columns:
            if column.label == label:
                return column.letter
        return None


def map_columns(raw: RawSheet, aliases: Mapping[str, str], *, max_rows: int) -> Sheet:
    """Find the header row of ``raw`` and map its columns; raise LayoutError if there is none."""
    header_index = _find_header(raw, aliases)
    header_row = int(raw.row_numbers[header_index])
    header = list(raw.rows[header_index])
    data = raw.rows[header_index + 1 :]
    if not len(data):
        raise LayoutError(
            raw.path,
            no_mission_rows(header_row),
        )
    if len(data) > max_rows:
        raise too_many_rows(raw.path, max_rows)
    columns, keep = _columns(raw, header, data, aliases)
    numbers = raw.row_numbers[header_index + 1 :]
    frame = pd.DataFrame(
        data[:, keep],
        index=pd.Index(numbers, name="row"),
        columns=[c.label for c in columns],
        dtype=object,  # cells stay as read: no inference of dates or numbers here
    )
    rows = slice(header_index + 1, None)
    factorised = {c.label: raw.columns[k].of_rows(rows) for c, k in zip(columns, keep, strict=True)}
    dated = {c.field for c in columns} & {"jourHeureInter", SPLIT_DATE_FIELDS["jourHeureInter"][0]}
    problems = [*_sheet_choice(raw)]
    problems += [
        _unknown_column_warning(c, header_row, aliases,
                                dates=not dated and _holds_dates(factorised[c.label]))
        for c in columns if c.field is None
    ]  # fmt: skip
    return Sheet(raw, header_row, columns, frame, problems, factorised)


def _sheet_choice(raw: RawSheet) -> list[Problem]:
    """Which sheet was read, said when the workbook had others that could have been: those
    passed over before it (no planning header), and those after it that hold one too."""
    if not raw.sheets_passed_over and not raw.other_plannings:
        return []
    read = _("the planning was read from the sheet {sheet}").format(
        sheet=quoted(raw.sheet_name or "")
    )
    parts = [read]
    if raw.sheets_passed_over:
        parts.append(_("passed over (no planning header in their first rows): {names}").format(
            names=", ".join(map(quoted, raw.sheets_passed_over))))  # fmt: skip
    if raw.other_plannings:
        parts.append(_(
            "the sheets {names} hold a planning too and were not read: choose with --sheet "
            "NAME (sheet = \"NAME\" in the configuration, or the sheet list on the web page)"
        ).format(names=", ".join(map(quoted, raw.other_plannings))))  # fmt: skip
    return [Problem(None, None, None, _("; ").join(parts), "warning", "sheet_chosen")]


def no_mission_rows(header_row: int) -> str:
    return _(
        "has a header (row {row}) but no mission rows; an empty planning is refused so that it "
        "can never delete a day's missions"
    ).format(row=header_row)


def _find_header(raw: RawSheet, aliases: Mapping[str, str]) -> int:
    for index, row in enumerate(raw.rows[:HEADER_SEARCH_ROWS]):
        fields = known_fields(row, aliases)
        if len(fields) >= MIN_KNOWN_HEADERS:
            if ID_FIELD not in fields:
                raise LayoutError(
                    raw.path,
                    _(
                        "has no mission id column: the header (row {row}) needs a column named "
                        "idMission or 'N° mission'"
                    ).format(row=int(raw.row_numbers[index])),
                )
            return index
    where = (_(" (sheet {sheet})").format(sheet=quoted(raw.sheet_name))
             if raw.sheet_name is not None else "")  # fmt: skip
    raise LayoutError(
        raw.path,
        _(
            "has no header row in its first {n} rows{where}: expected column names such as "
            "idMission ('N° mission'), jourHeureInter ('Date d'intervention'), nomVeh"
        ).format(n=HEADER_SEARCH_ROWS, where=where),
    )


def _columns(
    raw: RawSheet, header: list[Any], data: np.ndarray, aliases: Mapping[str, str]
) -> tuple[list[Column], list[int]]:
    columns: list[Column] = []
    keep: list[int] = []
    seen_labels: set[str] = set()
    field_owner: dict[str, Column] = {}
    for position, text in enumerate(header):
        letter = column_letter(raw.first_column + position)
        if text is None:
            if pd.isna(data[:, position]).all():
                continue  # an empty column: nothing to carry
            label = f"(column {letter})"
        else:
            label = str(text).strip()
        # The field is found from the header as written: a header written twice ("Véhicule"
        # in C and in D) means the same field twice, which is refused below, never first-wins.
        target = aliases.get(normalise_header(label)) if text is not None else None
        written = label
        if label in seen_labels:
            label = f"{label} ({letter})"
        seen_labels.add(label)
        column = Column(label, letter, target)
        if target is not None and target in field_owner:
            first = field_owner[target]
            raise LayoutError(
                raw.path,
                _(
                    "columns {first} ({first_label}) and {second} ({second_label}) both mean "
                    "{field}: rename or remove one, or map it in the [columns] configuration"
                ).format(
                    first=first.letter,
                    first_label=quoted(first.label),
                    second=letter,
                    second_label=quoted(written),
                    field=target,
                ),
            )
        if target is not None:
            field_owner[target] = column
        columns.append(column)
        keep.append(position)
    return columns, keep


def _holds_dates(column: Factorised) -> bool:
    """Most of the column's values are date cells: a date column the file names its own way."""
    values = [value for value in column.uniques[:100] if value is not None]
    dates = sum(isinstance(v, dt.date) or parse_datetime(v)[0] is not None for v in values)
    return bool(values) and dates * 2 > len(values)


def _unknown_column_warning(
    column: Column, header_row: int, aliases: Mapping[str, str], *, dates: bool = False
) -> Problem:
    suggestion = _closest_field(column.label, aliases)
    hint = _("; did you mean {field}?").format(field=suggestion) if suggestion else ""
    if dates and suggestion is None:
        hint = _(
            "; its cells are dates and the file has no intervention date column: if these are "
            "the missions' dates, map it once in the configuration ([columns] {label} = "
            '"jourHeureInter")'
        ).format(label=quoted(column.label))
    return Problem(
        row=header_row,
        column=column.label,
        value=column.label,
        message=_("unknown column, carried through to the report untouched{hint}").format(
            hint=hint
        ),
        severity="warning",
        kind="unknown_column",
        cell=f"{column.letter}{header_row}",
    )


def _closest_field(label: str, aliases: Mapping[str, str]) -> str | None:
    key = normalise_header(label)
    if not key:
        return None
    match = difflib.get_close_matches(key, list(aliases), n=1, cutoff=0.75)
    return aliases[match[0]] if match else None


def column_letter(index: int) -> str:
    """Spreadsheet letters of a 0-based column index: 0 -> A, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
