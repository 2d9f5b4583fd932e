"""Column mapping: find the header row, then tell which column holds which API field.

Headers match API field names or French labels (schemas/columns.toml), ignoring case,
accents, spaces and punctuation; a site's ``[columns]`` table adds its own. Unknown columns
are carried through untouched, with one warning that suggests the closest known name.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from importer.cells import Factorised
from importer.errors import LayoutError
from importer.i18n import _, quoted
from importer.problems import Problem
from importer.read import HEADER_SEARCH_ROWS, RawSheet, too_many_rows
from importer.schemas.aliases import normalise_header

# A header row names at least this many known columns (a title row rarely does).
MIN_KNOWN_HEADERS = 2
ID_FIELD = "idMission"


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
        """The file's header for an API field, or None when the file has no such column."""
        for column in self.columns:
            if column.field == field_name:
                return column.label
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
            _(
                "has a header (row {row}) but no mission rows; an empty planning is refused so "
                "that it can never delete a day's missions"
            ).format(row=header_row),
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
    problems = [_unknown_column_warning(c, header_row, aliases) for c in columns if c.field is None]
    rows = slice(header_index + 1, None)
    factorised = {c.label: raw.columns[k].of_rows(rows) for c, k in zip(columns, keep, strict=True)}
    return Sheet(raw, header_row, columns, frame, problems, factorised)


def _find_header(raw: RawSheet, aliases: Mapping[str, str]) -> int:
    for index, row in enumerate(raw.rows[:HEADER_SEARCH_ROWS]):
        fields = _known_fields(row, aliases)
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
    raise LayoutError(
        raw.path,
        _(
            "has no header row in its first {n} rows: expected column names such as idMission "
            "('N° mission'), jourHeureInter ('Date d'intervention'), nomVeh"
        ).format(n=HEADER_SEARCH_ROWS),
    )


def _known_fields(row: Any, aliases: Mapping[str, str]) -> set[str]:
    names = (aliases.get(normalise_header(cell)) for cell in row if isinstance(cell, str))
    return {name for name in names if name}


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


def _unknown_column_warning(column: Column, header_row: int, aliases: Mapping[str, str]) -> Problem:
    suggestion = _closest_field(column.label, aliases)
    hint = _("; did you mean {field}?").format(field=suggestion) if suggestion else ""
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
