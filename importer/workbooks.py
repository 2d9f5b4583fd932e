"""The workbooks a run writes, made from its result: the validation workbook (every row with
its verdict) and the results (or plan) workbook (every row with its outcome). Each keeps the
planning's own sheet, a line for every line of it, and adds what the run found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from importer.i18n import _
from importer.report import ReportContent, write_report
from importer.results import FAILURES, RESULT_COLUMNS, Action, ImportRun, Outcome, row_messages
from importer.validate import Checked
from importer.validation import ValidationRun


def validation_report(run: ValidationRun, report_path: Path) -> Path:
    """The validation workbook: every row with its verdict, every problem, the counts."""
    checked = run.checked
    messages = row_messages(checked, errors_only=False)
    index = checked.missions.index
    warned = index.isin([p.row for p in checked.problems if not p.is_error])
    verdict = np.select([checked.invalid.to_numpy(), warned], ["invalid", "warning"], "valid")
    added = pd.DataFrame(
        {
            "row": index.to_numpy(),
            "verdict": verdict,
            "message": [messages.get(row) for row in index],
        },
        index=index,
    )
    content = ReportContent(
        sheet=checked.sheet,
        added=with_ignored_lines(added, checked, verdict="ignored"),
        failed=checked.invalid.reindex(checked.sheet.cells.index, fill_value=False),
        problems=checked.problems,
        summary=run.sheet_rows(),
    )
    return write_report(report_path, content)


def with_ignored_lines(added: pd.DataFrame, checked: Checked, **values: str) -> pd.DataFrame:
    """The columns a workbook adds, with a line for each line of the sheet that is not a
    mission (a total, a note: ``checked.left_out``), in its place: every input row is
    accounted for. (And, with ``hidden_rows = "skip"``, each hidden row.)"""
    if not checked.left_out:
        return added
    lines = added.reindex(checked.sheet.cells.index).astype(object)
    ignored = list(checked.left_out)
    lines.loc[ignored, "row"] = ignored
    for name, value in values.items():
        lines.loc[ignored, name] = value
    why = {
        "ignored": _("not a mission (a total, a count, a note): ignored"),
        "hidden": _('hidden in the sheet: left out (hidden_rows = "skip")'),
    }
    lines.loc[ignored, "message"] = [why[checked.left_out[row]] for row in ignored]
    return lines.where(lines.notna(), None)


def import_report(run: ImportRun, report_path: Path) -> Path:
    """The results (or plan) workbook: every row with its outcome, every problem, the counts."""
    checked = run.checked
    lines = run.lines()
    rows_part = lines.iloc[: len(checked.missions)].set_index(checked.missions.index)
    added = rows_part[list(RESULT_COLUMNS)]
    failed = rows_part["outcome"].isin(FAILURES) | (rows_part["action"] == Action.INVALID)
    extra = lines.iloc[len(checked.missions) :]
    id_label = checked.sheet.label_of("idMission") or "idMission"
    customer_label = checked.sheet.label_of("customerId") or "customerId"
    extra_rows = extra[list(RESULT_COLUMNS)].copy()
    extra_rows[id_label] = extra["idMission"].to_numpy()
    if customer_label in checked.sheet.cells.columns:
        extra_rows[customer_label] = extra["customerId"].to_numpy()
    content = ReportContent(
        sheet=checked.sheet,
        added=with_ignored_lines(
            added, checked, action=str(Action.IGNORED), outcome=str(Outcome.SKIPPED)
        ),
        failed=failed.reindex(checked.sheet.cells.index, fill_value=False),
        problems=checked.problems,
        summary=run.summary().sheet_rows(),
        extra_rows=extra_rows,
        extra_failed=extra["outcome"].isin(FAILURES).tolist(),
    )
    return write_report(report_path, content)
