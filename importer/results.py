"""What a plan or a run did, as one typed model that every face renders.

``ImportRun`` is built once, when the run is over (``pipeline.plan_file``/``import_file``);
``ImportRun.lines()`` holds one line per input row and one per deletion; ``RunSummary`` is the
one summary the terminal, ``--json``, the watch log, the web page and the Summary sheet show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from importer.config import ImportOptions
from importer.errors import EXIT_OK, EXIT_PROBLEMS, EXIT_STOPPED
from importer.i18n import _, pgettext
from importer.schemas.state import Key, customer_of, mission_keys
from importer.words import words, zone_words

if TYPE_CHECKING:
    from importer.diff import Plan
    from importer.validate import Checked


class Action(StrEnum):
    """What the plan does with a row (or, for ``DELETE`` without a row, a mission)."""

    CREATE = "create"
    MODIFY = "modify"
    UNCHANGED = "unchanged"
    DELETE = "delete"
    INVALID = "invalid"
    KEPT = "kept"  # absent from the file, but kept in Ocean (outside the scope, or past)
    EXPIRED = "expired"  # its call failed before and its time has passed: not sent again
    IGNORED = "ignored"  # a line of the sheet that is not a mission (a total, a note)


class Outcome(StrEnum):
    """What happened to a line: its call's verdict, or why no call was made."""

    OK = "ok"
    FAILED = "failed"  # Ocean refused it, or it never got through: nothing changed
    UNKNOWN = "unknown"  # no answer: it may have been applied (checked by the next run)
    NOT_ATTEMPTED = "not_attempted"  # the run stopped (or it is only a plan)
    SKIPPED = "skipped"  # no call to make: unchanged or invalid
    HELD = "held"  # not touched: the driver has the mission in hand (--allow-started)


CALLS = (Action.CREATE, Action.MODIFY, Action.DELETE)  # the actions that call Ocean
FAILURES = (Outcome.FAILED, Outcome.UNKNOWN)  # the outcomes a person must look at
NEEDS_A_LOOK = (*FAILURES, Outcome.HELD)  # those that make the run exit 1
# Problems about the whole file, told by plan and run too (the terminal, --json, the review).
FILE_NOTICES = ("not_sent", "midnight", "ignored_lines", "sheet_chosen", "hidden_rows")


@dataclass(frozen=True)
class OutcomeRecord:
    """One line's outcome, as the state records it and the workbook shows it."""

    run_id: int
    row: int | None  # None: a deletion of a mission no longer in the file
    customer_id: int
    id_mission: str
    action: str  # an Action
    outcome: str  # an Outcome
    http_status: int | None = None
    message: str = ""
    attempts: int = 0


@dataclass(frozen=True)
class RunRecord:
    """One run as the state keeps it (``history``)."""

    id: int
    command: str
    file: str | None
    sha256: str | None
    feed: str | None
    dry_run: bool
    started_at: str
    finished_at: str | None
    exit_code: int | None
    counts: dict[str, int]
    stopped_reason: str | None
    report: str | None
    actor: str | None = None  # who ran it: user@host, or the web page's user


RESULT_COLUMNS = ("row", "action", "outcome", "http_status", "message", "attempts", "remote_status")


@dataclass(frozen=True)
class ImportRun:
    """One plan or run: the checked planning, the plan, and (for a run) what happened."""

    checked: Checked
    plan: Plan
    options: ImportOptions
    started: dt.datetime
    finished: dt.datetime
    outcomes: tuple[OutcomeRecord, ...] | None = None  # None: nothing was pushed
    stopped: str | None = None  # why the run stopped early (None: it went to the end)
    base_url: str | None = None  # None: Ocean was not contacted
    state_path: str | None = None
    run_id: int | None = None
    remote_statuses: dict[Key, str] = field(default_factory=dict)
    unknown_statuses: dict[Key, str] = field(default_factory=dict)  # not protected: listed
    refusals: dict[Key, str] = field(default_factory=dict)  # refused by the driver (--refresh)
    password_days: int | None = None  # when the Ocean password expires, as Ocean said

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return EXIT_STOPPED
        failed = any(o.outcome in NEEDS_A_LOOK for o in self.outcomes or ())
        expired = bool((self.plan.row_actions == Action.EXPIRED).any())
        return EXIT_PROBLEMS if failed or expired or self.checked.invalid_count else EXIT_OK

    @cached_property
    def _lines(self) -> pd.DataFrame:
        return result_lines(self)

    def lines(self) -> pd.DataFrame:
        """One line per input row, then one per deletion: action, outcome, status, message."""
        return self._lines

    def counts(self) -> dict[str, int]:
        lines = self.lines()
        counts = {f"action {k}": int(v) for k, v in lines["action"].value_counts().items()}
        counts |= {f"outcome {k}": int(v) for k, v in lines["outcome"].value_counts().items()}
        return counts

    def summary(self, report: Path | None = None, saved_plan: Path | None = None) -> RunSummary:
        return RunSummary.of(self, report, saved_plan)


def result_lines(run: ImportRun) -> pd.DataFrame:
    checked, plan = run.checked, run.plan
    index = checked.missions.index
    actions = plan.row_actions.reindex(index).fillna(Action.INVALID)
    lines = pd.DataFrame({"row": index.to_numpy(), "action": actions.to_numpy()}, index=index)
    lines["outcome"] = str(Outcome.SKIPPED)
    lines["http_status"] = None
    lines["message"] = None
    lines["attempts"] = pd.Series(0, index=index, dtype=object)
    lines["remote_status"] = None
    problems = row_messages(checked)
    invalid = lines["action"] == Action.INVALID
    lines.loc[invalid, "message"] = [problems.get(row, _("invalid")) for row in index[invalid]]
    unchanged = lines["action"] == Action.UNCHANGED
    lines.loc[unchanged, "message"] = _("unchanged since the last import: no call")
    lines.loc[lines["action"] == Action.EXPIRED, "message"] = _(
        "its time has passed and its last call failed: not sent again (see the earlier results)"
    )
    if run.remote_statuses:
        customers, ids = mission_keys(checked.missions)
        keys = zip(customers.tolist(), ids.tolist(), strict=True)
        lines["remote_status"] = [run.remote_statuses.get(key) for key in keys]
    calls = _call_lines(run)
    with_row = calls["row"].notna().to_numpy()
    by_row = calls[with_row].set_index("row")[["outcome", "http_status", "message", "attempts"]]
    if len(by_row):
        lines.loc[by_row.index.astype("int64"), list(by_row.columns)] = by_row.to_numpy(
            dtype=object
        )
    deletions = calls[~with_row]
    extra = pd.DataFrame(
        {
            "row": None,
            "action": str(Action.DELETE),
            "outcome": deletions["outcome"].to_numpy(),
            "http_status": deletions["http_status"].to_numpy(),
            "message": deletions["message"].to_numpy(),
            "attempts": deletions["attempts"].to_numpy(),
            "remote_status": None,
            "idMission": deletions["id_mission"].to_numpy(),
            "customerId": [customer_of(c) for c in deletions["customer_id"]],
        },
        columns=[*lines.columns, "idMission", "customerId"],
    )
    kept = run.plan.kept
    reasons = {
        "outside_scope": _kept_outside(run.plan.scope),
        "past": _("already past: kept (--delete-past deletes it)"),
    }
    kept_lines = pd.DataFrame(
        {
            "row": None,
            "action": str(Action.KEPT),
            "outcome": str(Outcome.SKIPPED),
            "http_status": None,
            "message": [reasons[reason] for reason in kept["reason"]],
            "attempts": 0,
            "remote_status": None,
            "idMission": kept["id_mission"].to_numpy(),
            "customerId": [customer_of(c) for c in kept["customer_id"]],
        },
        columns=[*lines.columns, "idMission", "customerId"],
    )
    return pd.concat([lines, extra, *([kept_lines] if len(kept_lines) else [])], ignore_index=True)


def _kept_outside(scope: str) -> str:
    if scope == "range":
        return _("no longer in the file, but its day is outside the file's first to last day: kept")
    return _(
        "no longer in the file, but its day is not one the file covers: kept (--scope range or "
        "feed to cancel it)"
    )


def _call_lines(run: ImportRun) -> pd.DataFrame:
    """One line per planned call: what happened to it, or (no push) what was planned."""
    columns = ["row", "customer_id", "id_mission", "outcome", "http_status", "message", "attempts"]
    if run.outcomes is not None:
        return pd.DataFrame(
            [(o.row, o.customer_id, o.id_mission, o.outcome, o.http_status, o.message,
              o.attempts) for o in run.outcomes],
            columns=columns,
        )  # fmt: skip
    changes = run.plan.changes
    action = changes["action"].to_numpy()
    has_row = changes["row"].notna().to_numpy()
    detail = np.select(
        [action == Action.MODIFY, (action == Action.DELETE) & ~has_row, action == Action.DELETE],
        [_("changes"), _("no longer in the file"), _("cancelled by the action column")],
        _("new mission"),
    ).astype(object)
    customers, ids = changes["customer_id"].tolist(), changes["id_mission"].tolist()
    for position in np.flatnonzero(action == Action.MODIFY).tolist():
        if fields := run.plan.differs.get((int(customers[position]), str(ids[position]))):
            detail[position] = _("changes: {fields}").format(fields=", ".join(fields))
    for position in np.flatnonzero(action == Action.CREATE).tolist():
        if (int(customers[position]), str(ids[position])) in run.plan.missing_in_ocean:
            detail[position] = _("missing in Ocean (deleted there): created again")
    if run.stopped:
        suffix = "; " + _("not attempted: the run stopped (see Summary)")
    else:
        suffix = "; " + (_("planned (dry run)") if run.options.dry_run else _("not attempted"))
    return pd.DataFrame(
        {
            "row": changes["row"].to_numpy(),
            "customer_id": changes["customer_id"].to_numpy(),
            "id_mission": changes["id_mission"].to_numpy(),
            "outcome": str(Outcome.NOT_ATTEMPTED),
            "http_status": None,
            "message": [text + suffix for text in detail],
            "attempts": 0,
        },
        columns=columns,
    )


def row_messages(checked: Checked, *, errors_only: bool = True) -> dict[int, str]:
    """Each row's problems as one message: ``column: problem; column: problem``."""
    messages: dict[int, list[str]] = {}
    for problem in checked.problems:
        if problem.row is not None and (problem.is_error or not errors_only):
            where = f"{problem.column}: " if problem.column else ""
            messages.setdefault(problem.row, []).append(f"{where}{problem.message}")
    return {row: "; ".join(texts) for row, texts in messages.items()}


@dataclass(frozen=True)
class RunSummary:
    """The facts of one plan or run, once: every face renders these and nothing else."""

    command: str  # "run", "watch", or "plan" for a plan (a dry run)
    file: Path
    sha256: str
    sheet: str | None
    feed: str
    feed_origin: str | None  # "name", "legacy", or None when --feed gave it
    scope: str
    timezone: str
    timezone_given: bool
    dry_run: bool
    started: dt.datetime
    finished: dt.datetime
    base_url: str | None
    state_path: str | None
    run_id: int | None
    rows: int
    invalid: int
    actions: dict[str, int]  # per Action, counted over the lines (deletions included)
    outcomes: dict[str, int]  # per Outcome, over every line
    call_outcomes: dict[str, int]  # per Outcome, over the lines that call Ocean
    pushed: bool  # the plan was pushed (False: a plan, or the guard stopped it)
    deletions: int  # missions no longer in the file
    kept_past: int
    kept: list[dict[str, Any]]  # absent from the file, kept: idMission, customerId, reason
    forgotten: int
    notices: list[dict[str, str]]  # said once about the whole file (kind, message)
    unknown_statuses: dict[str, str]  # idMission: a status the importer does not know
    missing_in_ocean: list[str]  # idMission: gone from Ocean (--refresh), planned again
    refusals: dict[str, str]  # idMission: its status and the driver's reason (--refresh)
    stopped: str | None
    mass_delete_guard: str | None
    exit_code: int
    report: Path | None
    saved_plan: Path | None

    @classmethod
    def of(cls, run: ImportRun, report: Path | None, saved_plan: Path | None) -> RunSummary:
        lines, plan, checked = run.lines(), run.plan, run.checked
        calls = lines.loc[lines["action"].isin(CALLS), "outcome"]
        return cls(
            command="plan" if run.options.dry_run else run.options.command,
            file=checked.sheet.raw.path,
            sha256=checked.sheet.raw.sha256,
            sheet=checked.sheet.raw.sheet_name,
            feed=plan.feed,
            feed_origin=run.options.feed_origin,
            scope=plan.scope,
            timezone=checked.timezone,
            timezone_given=checked.timezone_given,
            dry_run=run.options.dry_run,
            started=run.started,
            finished=run.finished,
            base_url=run.base_url,
            state_path=run.state_path,
            run_id=run.run_id,
            rows=checked.row_count,
            invalid=checked.invalid_count,
            actions=_counted(lines["action"]),
            outcomes=_counted(lines["outcome"]),
            call_outcomes=_counted(calls),
            pushed=run.outcomes is not None,
            deletions=int(plan.changes["row"].isna().sum()),
            kept_past=plan.kept_past,
            kept=[
                {
                    "idMission": str(id_mission),
                    "customerId": customer_of(int(customer)),
                    "reason": str(reason),
                }
                for customer, id_mission, reason in zip(
                    plan.kept["customer_id"],
                    plan.kept["id_mission"],
                    plan.kept["reason"],
                    strict=True,
                )
            ],
            forgotten=len(plan.forgotten),
            notices=[
                {"kind": p.kind, "message": p.message}
                for p in checked.problems
                if p.row is None and p.kind in FILE_NOTICES
            ],
            unknown_statuses={key[1]: said for key, said in run.unknown_statuses.items()},
            missing_in_ocean=_created_again(plan),
            refusals={key[1]: said for key, said in run.refusals.items()},
            stopped=run.stopped,
            mass_delete_guard=plan.guard_message,
            exit_code=run.exit_code,
            report=report,
            saved_plan=saved_plan,
        )

    def counts(self) -> dict[str, int]:
        """``action create``, ``outcome ok``...: as the state's runs and the Summary list them."""
        return {f"action {k}": n for k, n in self.actions.items()} | {
            f"outcome {k}": n for k, n in self.outcomes.items()
        }

    def as_json(self) -> dict[str, Any]:
        """``--json``: what a script reads."""
        return {
            "exit_code": self.exit_code,
            "file": str(self.file),
            "feed": self.feed,
            "scope": self.scope,
            "timezone": self.timezone,
            "timezone_default": not self.timezone_given,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "invalid": self.invalid,
            "actions": self.actions,
            "outcomes": self.outcomes,
            "stopped": self.stopped,
            "mass_delete_guard": self.mass_delete_guard,
            "kept": self.kept,
            "notices": self.notices,
            "unknown_statuses": self.unknown_statuses,
            "missing_in_ocean": self.missing_in_ocean,
            "refusals": self.refusals,
            "report": str(self.report) if self.report else None,
            "plan": str(self.saved_plan) if self.saved_plan else None,
        }

    def log_fields(self) -> dict[str, Any]:
        """The fields of the log event a machine reads (``--log-format json``)."""
        return {"file": str(self.file), "feed": self.feed, "counts": self.counts(),
                "exit_code": self.exit_code}  # fmt: skip

    def sheet_rows(self) -> list[tuple[str, object]]:
        """The workbook's Summary sheet, in the language in force."""
        rows: list[tuple[str, object]] = [
            (_("command"), _("plan (dry run)") if self.dry_run else _("run")),
            (_("input file"), str(self.file)),
            (_("input SHA-256"), self.sha256),
            (_("sheet"), self.sheet or ""),
            (_("feed"), self.feed),
            (_("scope"), self.scope),
            (_("time zone"), zone_words(self.timezone, self.timezone_given)),
            (_("started"), self.started.isoformat(timespec="seconds")),
            (_("finished"), self.finished.isoformat(timespec="seconds")),
            (_("Ocean"), self.base_url or _("not contacted")),
            (_("state"), self.state_path or ""),
            (_("dry run"), _("yes: nothing was sent") if self.dry_run else _("no")),
            (_("stopped"), self.stopped or _("no: went to the end")),
            (_("rows read"), self.rows),
            (_("invalid rows"), self.invalid),
            (_("deletions (missions no longer in the file)"), self.deletions),
            (_("kept: absent but already past"), self.kept_past),
            (_("kept: absent, outside the file's scope"), len(self.kept) - self.kept_past),
            (_("forgotten: past their expiry"), self.forgotten),
        ]
        counted = [(pgettext("summary", "action {action}").format(action=words("action", k)), n)
                   for k, n in self.actions.items()]  # fmt: skip
        counted += [(pgettext("summary", "outcome {outcome}").format(outcome=words("outcome", k)),
                     n) for k, n in self.outcomes.items()]  # fmt: skip
        rows += sorted(counted)
        rows.append((_("exit code"), self.exit_code))
        return rows


def _created_again(plan: Plan) -> list[str]:
    """The missions Ocean no longer had that the plan creates again (the others are forgotten)."""
    creates = plan.changes[plan.changes["action"] == Action.CREATE]
    created = set(zip(creates["customer_id"].astype(int), creates["id_mission"], strict=True))
    return sorted(key[1] for key in plan.missing_in_ocean if key in created)


def _counted(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().items()}
