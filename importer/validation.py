"""One ``validate`` as the faces show it: the checked planning, nothing planned, Ocean not
contacted; its Summary sheet and its ``--json``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.errors import EXIT_OK, EXIT_PROBLEMS
from importer.i18n import _
from importer.problems import Problem
from importer.validate import Checked
from importer.words import zone_words


@dataclass(frozen=True)
class ValidationRun:
    """One ``validate``: the checked planning, nothing planned, Ocean not contacted."""

    checked: Checked
    feed: str
    started: dt.datetime
    finished: dt.datetime

    @property
    def exit_code(self) -> int:
        return EXIT_PROBLEMS if self.checked.invalid_count else EXIT_OK

    def sheet_rows(self) -> list[tuple[str, object]]:
        """The validation workbook's Summary sheet."""
        checked = self.checked
        raw = checked.sheet.raw
        return [
            (_("command"), _("validate")),
            (_("input file"), str(raw.path)),
            (_("input SHA-256"), raw.sha256),
            (
                _("format"),
                raw.file_format + (f" ({raw.encoding}, '{raw.delimiter}')" if raw.encoding else ""),
            ),
            (_("sheet"), raw.sheet_name or ""),
            (_("header row"), checked.sheet.header_row),
            (_("feed"), self.feed),
            (_("time zone"), zone_words(checked.timezone, checked.timezone_given)),
            (_("started"), self.started.isoformat(timespec="seconds")),
            (_("finished"), self.finished.isoformat(timespec="seconds")),
            (_("dry run"), _("yes (validation only, Ocean not contacted)")),
            (_("rows read"), checked.row_count),
            (_("valid rows"), checked.valid_count),
            (_("invalid rows"), checked.invalid_count),
            (_("errors"), checked.error_count),
            (_("warnings"), checked.warning_count),
        ]

    def as_json(self, report: Path | None) -> dict[str, Any]:
        """``validate --json``: the counts, and every problem with its cell."""
        checked = self.checked
        raw = checked.sheet.raw
        return {
            "command": "validate",
            "file": str(raw.path),
            "sha256": raw.sha256,
            "sheet": raw.sheet_name,
            "header_row": checked.sheet.header_row,
            "feed": self.feed,
            "timezone": checked.timezone,
            "timezone_default": not checked.timezone_given,
            "rows": checked.row_count,
            "valid": checked.valid_count,
            "invalid": checked.invalid_count,
            "errors": checked.error_count,
            "warnings": checked.warning_count,
            "report": str(report) if report else None,
            "exit_code": self.exit_code,
            "problems": [_problem_json(p) for p in checked.problems],
        }


def _problem_json(problem: Problem) -> dict[str, Any]:
    value = problem.value
    if value is not None and not isinstance(value, str | int | float | bool):
        value = str(value)
    return {
        "row": problem.row,
        "cell": problem.cell,
        "column": problem.column,
        "value": value,
        "problem": problem.message,
        "severity": problem.severity,
        "kind": problem.kind,
    }
