"""How people write plannings, and what the validation makes of it: a day and a time in two
columns (combined), lines under the table that are not missions (a total, a count, a
signature: listed once, never invalid), rows hidden in the sheet, dates without a time (each
said, and counted once for the file). Pure functions over the mapped sheet and its typed
columns, called by ``validate``.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from importer import cells
from importer.columns import Sheet
from importer.i18n import _, ngettext, number, quoted
from importer.problems import Problem


def with_time(
    sheet: Sheet,
    name: str,
    time_field: str,
    time_label: str,
    days: pd.Series,
    found: list[tuple[pd.Index, str, str]],
) -> pd.Series:
    """A date field whose time of day is in a column of its own (« Date » and « Heure »): the
    time is put on each day that has none; a day with a time of its own keeps it, with a
    warning where the time column says another (a site's « Heure » may mean something else:
    its planning must not turn invalid). ``found`` is updated: a day given its time no longer
    warns that it has none."""
    times, kinds = cells.parse_column(
        sheet.cells[time_label], cells.parse_time_of_day, sheet.factorised.get(time_label)
    )
    for kind, rows in kinds.dropna().groupby(kinds.dropna()).groups.items():
        found.append((rows, time_field, str(kind)))
    no_time = {int(row) for rows, field, kind in found
               if field == name and kind == "date_without_time" for row in rows}  # fmt: skip
    has_day, has_time = days.notna(), times.notna()
    dated = has_day & has_time
    bare = dated & days.index.isin(list(no_time))
    own_time = dated & ~bare
    combined = days.copy()
    combined[bare] = [
        dt.datetime.combine(day.date(), time)
        for day, time in zip(days[bare], times[bare], strict=True)
    ]
    clash = own_time & pd.Series(
        [day.time() != time if isinstance(day, dt.datetime) else False
         for day, time in zip(days.where(own_time), times.where(own_time), strict=True)],
        index=days.index, dtype=bool,
    )  # fmt: skip
    if clash.any():
        found.append((days.index[clash.to_numpy()], time_field, "time_contradicts_date"))
    answered = days.index[bare.to_numpy()]
    # A time cell that cannot be read where the date cell has its own time: that time is used.
    kept = days.index[(has_day & ~days.index.isin(list(no_time))).to_numpy()]
    found[:] = [
        (rows.difference(answered) if field == name and kind == "date_without_time" else rows,
         field, kind)
        for rows, field, kind in found
    ]  # fmt: skip
    for position, (rows, field, kind) in enumerate(list(found)):
        if (
            field == time_field
            and kind == "time_format"
            and len(ignored := rows.intersection(kept))
        ):
            found[position] = (rows.difference(kept), field, kind)
            found.append((ignored, time_field, "time_ignored"))
    return combined


# A line under (or in) the table that is not a mission: a total, a count, a signature.
_NOT_A_MISSION = re.compile(
    r"\s*((sous[- ]?|grand )?(total|totaux)\b|somme\b|sum\b|nombre de\b|nb (de )?missions|"
    r"\d+ (missions?|lignes?|livraisons?|interventions?|rows?|lines?)\b|sign[ée]|visa\b)",
    re.IGNORECASE,
)


def not_missions(sheet: Sheet, columns: dict[str, pd.Series]) -> pd.Series:
    """The lines that are not missions: no id and no date, or a first cell that says Total,
    Sous-total, « 9 missions »... in the id column or on a line without a date (a client
    named « TOTAL ENERGIES » in the first column of a dated mission stays a mission). Listed
    once as ignored, never counted as invalid missions. A cancelling row (action: supprimer)
    needs only its id: one without an id is a line too. Column by column from the left, on
    each column's distinct values: no row is looked at one by one."""
    index = sheet.cells.index
    undated = columns["jourHeureInter"].isna().to_numpy()
    no_key = columns["idMission"].isna().to_numpy() & undated
    id_label = sheet.label_of("idMission")
    totals = np.zeros(len(index), dtype=bool)
    undecided = np.ones(len(index), dtype=bool)  # no non-blank cell yet, from the left
    for label in sheet.cells.columns:
        column = sheet.factorised.get(label) or cells.factorise(sheet.cells[label].to_numpy())
        uniques = column.uniques
        blank = np.fromiter((value is None for value in uniques), bool, len(uniques))
        says = np.fromiter(
            (isinstance(value, str) and _NOT_A_MISSION.match(value) is not None
             for value in uniques), bool, len(uniques),
        )  # fmt: skip
        first_here = undecided & ~blank[column.codes]
        totals |= first_here & says[column.codes] & (undated | (label == id_label))
        undecided &= blank[column.codes]
        if not undecided.any():
            break
    return pd.Series(no_key | totals, index=index, dtype=bool)


def hidden_rows_notice(rows: tuple[int, ...], skipped: bool) -> list[Problem]:
    """The rows hidden in the sheet (by hand or by a filter), said once: a person looking at
    the sheet does not see them."""
    if not rows:
        return []
    n, shown = len(rows), shown_rows(list(rows))
    if skipped:
        message = ngettext(
            "{n} row is hidden in the sheet (by hand or by a filter): row {rows}; it is left out, "
            'as the configuration says (hidden_rows = "skip"), as if it were not in the file',
            "{n} rows are hidden in the sheet (by hand or by a filter): rows {rows}; they are "
            'left out, as the configuration says (hidden_rows = "skip"), as if they were not '
            "in the file",
            n,
        )
    else:
        message = ngettext(
            "{n} row is hidden in the sheet (by hand or by a filter): row {rows}; it is imported "
            'like the others (hidden_rows = "skip" in the configuration leaves hidden rows out)',
            "{n} rows are hidden in the sheet (by hand or by a filter): rows {rows}; they are "
            'imported like the others (hidden_rows = "skip" in the configuration leaves hidden '
            "rows out)",
            n,
        )
    return [Problem(None, None, None, message.format(n=number(n), rows=shown), "warning",
                    "hidden_rows")]  # fmt: skip


def ignored_lines_notice(sheet: Sheet, rows: tuple[int, ...]) -> list[Problem]:
    """The lines that are not missions, said once (with the first words of each)."""
    if not rows:
        return []
    shown = []
    for row in rows[:5]:
        words = [str(cell) for cell in sheet.cells.loc[row] if cell is not None and cell == cell]
        text = " ".join(words)[:40]
        shown.append(_("row {row} ({text})").format(row=row, text=quoted(text)) if text
                     else _("row {row}").format(row=row))  # fmt: skip
    more = _(", and {n} more").format(n=number(len(rows) - 5)) if len(rows) > 5 else ""
    message = ngettext(
        "{n} line is not a mission (a total, a count, a note: no mission id and no date) and is "
        "ignored: {rows}{more}",
        "{n} lines are not missions (totals, counts, notes: no mission id and no date) and are "
        "ignored: {rows}{more}",
        len(rows),
    ).format(n=number(len(rows)), rows="; ".join(shown), more=more)
    return [Problem(None, None, None, message, "warning", "ignored_lines")]


def midnight_notice(
    problems: list[Problem], invalid: pd.Series, label: str | None
) -> list[Problem]:
    """How many valid missions go out at 00:00 because their date has no time: said once
    for the file, beside each row's own warning."""
    rows = {p.row for p in problems if p.kind == "date_without_time" and p.row is not None
            and p.column == label and not invalid.get(p.row, False)}  # fmt: skip
    if not rows:
        return []
    message = ngettext(
        "{n} mission goes out at 00:00: its date has no time of day (row {rows})",
        "{n} missions go out at 00:00: their dates have no time of day (rows {rows})",
        len(rows),
    ).format(n=number(len(rows)), rows=shown_rows(sorted(rows)))
    return [Problem(None, None, None, message, "warning", "midnight")]


def shown_rows(rows: list[int], most: int = 10) -> str:
    """``2, 5, 9`` or ``2, 5, 9... (+12)``: the rows a sentence names."""
    shown = ", ".join(map(str, rows[:most]))
    return shown if len(rows) <= most else f"{shown}... (+{number(len(rows) - most)})"
