"""The stages wired together, for every face (CLI, scheduled job, web page).

read_planning -> map_columns -> validate -> (diff -> push) -> write_report
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import re
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from importer.columns import map_columns
from importer.config import Settings
from importer.diff import (
    NO_CUSTOMER,
    Guard,
    Plan,
    Scope,
    diff,
    differing_fields,
    dumps,
    mission_keys,
    plan_from_json,
    plan_to_json,
)
from importer.errors import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_STOPPED,
    OutputError,
    UnreportedRun,
    UsageError,
)
from importer.ocean import OceanClient
from importer.paths import remove_stale_temporaries, temporary_prefix
from importer.push import DEFAULT_CONCURRENCY, Outcome, fetch_statuses, push
from importer.read import read_planning
from importer.report import ReportContent, write_report
from importer.schemas.aliases import alias_table
from importer.state import OutcomeRecord, StateStore, StateUnavailable
from importer.validate import Checked, validate

log = logging.getLogger(__name__)
T = TypeVar("T")

_YEAR = r"(?:19|20)\d\d"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_SEP = r"[-_. ]"
_TIME = r"(?:[T_\- ]?(?:[01]\d|2[0-3])[h:\-]?[0-5]\d(?:[:\-]?[0-5]\d)?)?"
_DATE_STAMP = re.compile(
    r"(?<![0-9])(?:"
    rf"{_YEAR}{_SEP}{_MONTH}{_SEP}{_DAY}"  # 2026-11-24
    rf"|{_DAY}{_SEP}{_MONTH}{_SEP}{_YEAR}"  # 24-11-2026, 24.11.2026
    rf"|{_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"  # 20261124
    rf"|(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2]){_YEAR}"  # 24112026
    r"|(?:0[1-9]|[12]\d|3[01])[-_.](?:0[1-9]|1[0-2])"  # 24.11
    rf"){_TIME}(?![0-9])"
    r"|(?<![A-Za-z])[Jj] ?[+-] ?\d{1,2}(?![0-9])"  # J+1, J-2
)
_DIGITS = re.compile(r"\d+")
_SEPARATORS = re.compile(r"[\s_.\-]+")


def check_file(path: Path, settings: Settings, *, now: dt.datetime | None = None) -> Checked:
    """Read, map and validate a planning file (no network, nothing written)."""
    raw = read_planning(
        path,
        sheet=settings.sheet,
        max_bytes=settings.max_file_bytes,
        max_rows=settings.max_rows,
        max_memory_bytes=int(settings.max_memory_mb * 1024 * 1024),
    )
    sheet = map_columns(raw, alias_table(settings.columns), max_rows=settings.max_rows)
    return validate(sheet, settings, now=now)


def default_feed(path: Path) -> str:
    """The planning stream a file belongs to: its name without its date or time stamp.

    Stripped: ``2026-11-24``, ``24-11-2026``, ``24.11.2026``, ``20261124``, ``24112026``,
    ``24.11`` (with ``_`` ``.`` ``-`` or a space between), a time after any of them
    (``_0830``, ``T08-30-00``), and ``J+1`` / ``J-2``; every other digit is kept, so that
    ``equipe1`` and ``equipe2`` are two feeds.

    >>> default_feed(Path("Tournées-2026-11-24.xlsx")), default_feed(Path("equipe1_20261124.csv"))
    ('Tournées', 'equipe1')
    """
    stem = _DATE_STAMP.sub(" ", Path(path).stem)
    return _SEPARATORS.sub("-", stem).strip("-") or "planning"


def legacy_feed(path: Path) -> str:
    """The feed the first versions gave a file: its name without any digit (``equipe1`` and
    ``equipe2`` were one feed). Kept so that a site's state keeps its feeds (``feed_for``)."""
    stem = _DIGITS.sub(" ", Path(path).stem)
    return _SEPARATORS.sub("-", stem).strip("-") or "planning"


def with_feed(path: Path, options: ImportOptions, state: StateStore) -> ImportOptions:
    """The options with the feed of a file whose feed comes from its name (``--feed`` not
    given): ``default_feed``, unless the state already knows the file under the name the
    first versions gave it, and not under the new one; its missions stay in their feed
    (none orphaned, none deleted by surprise), and the summary says so."""
    if not options.feed_from_name:
        return options
    feed, legacy = default_feed(path), legacy_feed(path)
    if feed != legacy:
        known = state.feeds()
        if legacy in known and feed not in known:
            return replace(options, feed=legacy, feed_origin="legacy")
    return replace(options, feed=feed, feed_origin="name")


def default_report_path(path: Path, command: str) -> Path:
    """``<stem>.validation.xlsx`` (validate), ``.plan.xlsx`` (plan), ``.results.xlsx`` (run)."""
    suffix = {"validate": "validation", "plan": "plan", "run": "results"}[command]
    return path.with_name(f"{path.stem}.{suffix}.xlsx")


@dataclass(frozen=True)
class ValidationRun:
    checked: Checked
    feed: str
    started: dt.datetime
    finished: dt.datetime


def validation_report(run: ValidationRun, report_path: Path) -> Path:
    """The validation workbook: every row with its verdict, every problem, the counts."""
    checked = run.checked
    messages = _row_messages(checked, errors_only=False)
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
        added=added,
        failed=checked.invalid,
        problems=checked.problems,
        summary=validation_summary(run),
    )
    return write_report(report_path, content)


def validation_summary(run: ValidationRun) -> list[tuple[str, object]]:
    checked = run.checked
    raw = checked.sheet.raw
    return [
        ("command", "validate"),
        ("input file", str(raw.path)),
        ("input SHA-256", raw.sha256),
        (
            "format",
            raw.file_format + (f" ({raw.encoding}, '{raw.delimiter}')" if raw.encoding else ""),
        ),
        ("sheet", raw.sheet_name or ""),
        ("header row", checked.sheet.header_row),
        ("feed", run.feed),
        ("time zone", checked.timezone),
        ("started", run.started.isoformat(timespec="seconds")),
        ("finished", run.finished.isoformat(timespec="seconds")),
        ("dry run", "yes (validation only, Ocean not contacted)"),
        ("rows read", checked.row_count),
        ("valid rows", checked.valid_count),
        ("invalid rows", checked.invalid_count),
        ("errors", checked.error_count),
        ("warnings", checked.warning_count),
    ]


# --- plan and run ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ImportOptions:
    feed: str
    feed_from_name: bool = False  # --feed not given: the feed comes from the file's name
    feed_origin: str | None = None  # once resolved (with_feed): "name" or "legacy"
    scope: Scope = "days"
    delete_past: bool = False
    guard: Guard = field(default_factory=Guard)
    concurrency: int = DEFAULT_CONCURRENCY
    dry_run: bool = False
    command: str = "run"  # recorded in the state's runs: run, watch


@dataclass
class ImportRun:
    """One plan or run: the checked planning, the plan, and (for a run) what happened."""

    checked: Checked
    plan: Plan
    options: ImportOptions
    started: dt.datetime
    finished: dt.datetime | None = None
    outcomes: list[Outcome] | None = None  # None: nothing was pushed (dry run, guard)
    stopped: str | None = None
    base_url: str | None = None
    state_path: str | None = None
    run_id: int | None = None
    remote_statuses: dict[tuple[int, str], str] = field(default_factory=dict)
    _lines: tuple[tuple[int, str | None, int], pd.DataFrame] | None = field(
        default=None, repr=False
    )

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return EXIT_STOPPED
        failed = any(o.outcome in ("failed", "unknown") for o in self.outcomes or [])
        return EXIT_PROBLEMS if failed or self.checked.invalid_count else EXIT_OK

    def lines(self) -> pd.DataFrame:
        """One line per input row, then one per deletion: action, outcome, status, message."""
        key = (id(self.outcomes), self.stopped, len(self.remote_statuses))
        if self._lines is None or self._lines[0] != key:
            self._lines = (key, result_lines(self))
        return self._lines[1]

    def counts(self) -> dict[str, int]:
        lines = self.lines()
        counts = {f"action {k}": int(v) for k, v in lines["action"].value_counts().items()}
        counts |= {f"outcome {k}": int(v) for k, v in lines["outcome"].value_counts().items()}
        return counts


def make_plan(
    checked: Checked, state: StateStore, options: ImportOptions, *, now: dt.datetime
) -> Plan:
    """The diff against the state, with the fields that differ for each modify."""
    plan = diff(
        checked,
        state.known(),
        feed=options.feed,
        now=now,
        scope=options.scope,
        delete_past=options.delete_past,
        guard=options.guard,
    )
    modifies = plan.changes[plan.changes["action"] == "modify"]
    keys = zip(modifies["customer_id"].astype(int), modifies["id_mission"], strict=True)
    return replace(plan, differs=differing_fields(plan.changes, state.accepted_payloads(keys)))


# The settings that shape a plan, each with the words that name it for a person. A saved
# plan records them; applying it with any of them changed would send what was not reviewed.
PLAN_SETTINGS = {
    "timezone": "the time zone (--timezone, timezone)",
    "customer_id": "the customer id (--customer-id, customer_id)",
    "multi_client": "multi_client",
    "send_by_default": "the default of « À envoyer » (send_by_default)",
    "columns": "the column mapping ([columns])",
    "sheet": "the sheet (--sheet, sheet)",
    "feed": "the feed (--feed)",
    "scope": "the scope (--scope)",
    "delete_past": "--delete-past",
    "never_delete": "--no-delete",
    "allow_mass_delete": "--allow-mass-delete",
    "mass_delete_share": "the mass-delete share",
    "mass_delete_count": "the mass-delete count",
}


def plan_settings(settings: Settings, options: ImportOptions) -> dict[str, object]:
    """The settings that shaped a plan, as the saved plan records them (JSON values)."""
    return {
        "timezone": settings.timezone,
        "customer_id": settings.customer_id,
        "multi_client": settings.multi_client,
        "send_by_default": settings.send_by_default,
        "columns": dict(sorted(settings.columns.items())),
        "sheet": settings.sheet,
        "feed": options.feed,
        "scope": options.scope,
        "delete_past": options.delete_past,
        "never_delete": options.guard.never_delete,
        "allow_mass_delete": options.guard.allow,
        "mass_delete_share": options.guard.share,
        "mass_delete_count": options.guard.count,
    }


def load_saved_plan(
    path: Path, checked: Checked, state: StateStore, shaped_by: dict[str, object]
) -> Plan:
    """A plan saved by ``plan --out``; refused when the file, the state or a setting that
    shapes a plan (``plan_settings``) changed since."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        saved_sha, saved_generation = data["input_sha256"], data["state_generation"]
        saved_settings = data["settings"]
        plan = plan_from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"{path} is not a plan saved by `ocean-import plan --out`: {exc}"
        ) from None
    for name, words in PLAN_SETTINGS.items():
        then, now = saved_settings.get(name), shaped_by[name]
        if then != now:
            raise UsageError(
                f"the plan {path.name} is stale: it was made with {words} = {_shown(then)}, "
                f"and this run has {_shown(now)}; make a new plan, or run with the same setting"
            )
    if saved_sha != checked.sheet.raw.sha256:
        raise UsageError(
            f"the plan {path.name} was made from another version of {checked.sheet.raw.path.name}: "
            "make a new plan"
        )
    if saved_generation != state.generation():
        raise UsageError(
            f"the plan {path.name} is stale: the state changed since it was made "
            "(another run imported in between); make a new plan"
        )
    return plan


def plan_file(
    path: Path,
    settings: Settings,
    state: StateStore,
    options: ImportOptions,
    *,
    report_path: Path | None,
    out_path: Path | None = None,
    now: dt.datetime | None = None,
) -> tuple[ImportRun, Path | None]:
    """What ``run`` would do with a planning, Ocean not contacted: check and diff, then the
    plan workbook and (``out_path``) the exact plan for ``run --plan`` to apply."""
    started = now or dt.datetime.now(dt.UTC)
    options = with_feed(path, options, state)
    checked = check_file(path, settings, now=started)
    plan = make_plan(checked, state, options, now=started)
    run = ImportRun(checked, plan, options, started, dt.datetime.now(dt.UTC),
                    state_path=str(state.path or ":memory:"))  # fmt: skip
    if out_path:
        save_plan(plan, checked, state, out_path, plan_settings(settings, options))
    return run, import_report(run, report_path) if report_path else None


def _shown(value: object) -> str:
    return "none" if value is None or value == {} else json.dumps(value, ensure_ascii=False)


def save_plan(
    plan: Plan, checked: Checked, state: StateStore, path: Path, shaped_by: dict[str, object]
) -> Path:
    """Save the exact plan (``plan --out``), with what it was made from: the file's hash,
    the state's generation and the settings that shaped it (``plan_settings``)."""
    data = plan_to_json(
        plan,
        input_file=str(checked.sheet.raw.path),
        input_sha256=checked.sheet.raw.sha256,
        state_generation=state.generation(),
        made_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        settings=shaped_by,
    )
    _write_atomically(path, dumps(data))
    return path


async def run_import(
    checked: Checked,
    plan: Plan,
    options: ImportOptions,
    state: StateStore,
    ocean: OceanClient,
    *,
    started: dt.datetime,
    stop: asyncio.Event | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> ImportRun:
    """Push the plan (unless the guard stops it) and record the run in the state."""
    raw = checked.sheet.raw
    run = ImportRun(
        checked,
        plan,
        options,
        started,
        base_url=ocean.base_url,
        state_path=str(state.path or ":memory:"),
    )
    try:
        run.run_id = state.begin_run(
            options.command, file=str(raw.path), sha256=raw.sha256, feed=options.feed,
            dry_run=False,
        )  # fmt: skip
        if plan.guard_message:
            run.stopped = f"mass-delete guard: {plan.guard_message}"
        else:
            result = await push(
                plan,
                ocean,
                state,
                run.run_id,
                concurrency=options.concurrency,
                stop=stop,
                on_outcome=on_outcome,
            )
            run.outcomes, run.stopped = result.outcomes, result.stopped
    except StateUnavailable as exc:  # before any call, or between two: a stop, told as one
        run.stopped = run.stopped or str(exc)
    run.finished = dt.datetime.now(dt.UTC)
    return run


Progress = Callable[[int], tuple[Callable[[Outcome], None], Callable[[], None]]]


def import_file(
    path: Path,
    settings: Settings,
    state: StateStore,
    options: ImportOptions,
    *,
    report_path: Path | None,
    saved_plan: Path | None = None,
    progress: Progress | None = None,
    refresh_status: bool = False,
    now: dt.datetime | None = None,
    after_reading: Callable[[Checked], None] | None = None,
) -> tuple[ImportRun, Path | None]:
    """Import one planning file: check, plan (or load a saved plan), push, report, record.

    The caller holds the state's lock. SIGINT/SIGTERM during the push stop it cleanly (see
    ``interruptible``); the workbook is written and the run recorded whatever happens.
    ``after_reading`` is told once the file is read and checked (the job's poison-file guard).
    """
    ocean = OceanClient.from_settings(settings.ocean, max_connections=options.concurrency)
    started = now or dt.datetime.now(dt.UTC)
    options = with_feed(path, options, state)
    checked = check_file(path, settings, now=started)
    if after_reading:
        after_reading(checked)
    plan = (
        load_saved_plan(saved_plan, checked, state, plan_settings(settings, options))
        if saved_plan
        else make_plan(checked, state, options, now=started)
    )
    on_outcome, finish_progress = progress(len(plan.changes)) if progress else (None, None)
    try:
        run = asyncio.run(
            interruptible(
                lambda stop: _run_and_refresh(
                    checked, plan, options, state, ocean, started, stop, on_outcome,
                    refresh_status,
                )
            )
        )  # fmt: skip
    finally:
        if finish_progress:
            finish_progress()
    try:
        written = import_report(run, report_path) if report_path else None
    except OutputError as exc:
        failure = unreported(run, exc)
        run.stopped = f"the results workbook could not be written: {exc}"
        with contextlib.suppress(StateUnavailable):  # the sentence already says what is lost
            finish_run(run, state, None)
        raise failure from None
    try:
        finish_run(run, state, written)
    except StateUnavailable as exc:
        where = f"; the results workbook {written} has what was done" if written else ""
        raise StateUnavailable(f"{exc}{where}") from None
    return run, written


def unreported(run: ImportRun, failure: OutputError) -> UnreportedRun:
    """The sentence for a run whose workbook could not be written: what reached Ocean."""
    calls = run.lines()
    calls = calls[calls["action"].isin(["create", "modify", "delete"])]
    done = calls.loc[calls["outcome"] == "ok", "action"].value_counts()
    applied = ", ".join(
        f"{int(done.get(action, 0))} {verb}"
        for action, verb in (("create", "created"), ("modify", "modified"), ("delete", "deleted"))
    )
    failed = int(calls["outcome"].isin(["failed", "unknown"]).sum())
    return UnreportedRun(
        f"Ocean was changed ({applied}; {failed} failed) but {failure}; every row's outcome "
        f"is in the state (run {run.run_id}): the same command again writes a workbook "
        "and sends only what is still to do"
    )


async def _run_and_refresh(
    checked: Checked,
    plan: Plan,
    options: ImportOptions,
    state: StateStore,
    ocean: OceanClient,
    started: dt.datetime,
    stop: asyncio.Event,
    on_outcome: Callable[[Outcome], None] | None,
    refresh_status: bool,
) -> ImportRun:
    async with ocean:
        run = await run_import(checked, plan, options, state, ocean, started=started,
                               stop=stop, on_outcome=on_outcome)  # fmt: skip
        if refresh_status and not run.stopped:
            keys = _file_keys(checked, run)
            statuses = await fetch_statuses(ocean, state, keys, concurrency=options.concurrency)
            run.remote_statuses = {key: s.describe() for key, s in statuses.items()}
    return run


def _file_keys(checked: Checked, run: ImportRun) -> list[tuple[int, str]]:
    """The missions of the file that Ocean should now hold."""
    lines = run.lines().iloc[: len(checked.missions)]
    live = lines["action"].isin(["create", "modify", "unchanged"]).to_numpy()
    customers, ids = mission_keys(checked.missions)
    return list(zip(customers[live].tolist(), ids[live].tolist(), strict=True))


async def interruptible(work: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run ``work(stop)``: a first Ctrl-C (or SIGTERM) sets ``stop`` so that the calls in
    flight finish and nothing new starts; a second cuts them short (recorded as unknown, and
    checked by the next run)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
            return
        stop.set()
        log.warning("stopping after the calls in flight (again to cut them short)")

    # Signals reach the main thread only: an import run by the web page's worker thread
    # is stopped by its own ``stop`` event instead.
    listening = threading.current_thread() is threading.main_thread()
    if listening:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal)
    try:
        return await work(stop)
    finally:
        if listening:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


def finish_run(run: ImportRun, state: StateStore, report: Path | None) -> None:
    """Close the run's record: its counts, and an outcome for every row that made no call."""
    if run.run_id is not None:
        missions = run.checked.missions
        lines = run.lines().iloc[: len(missions)]
        quiet = lines["action"].isin(["unchanged", "invalid"]).to_numpy()
        customers, ids = (keys.to_numpy() for keys in mission_keys(missions))
        state.record_outcomes(
            OutcomeRecord(run.run_id, int(row), int(customer), str(id_mission or ""), action,
                          "skipped", None, str(message or ""), 0)
            for row, customer, id_mission, action, message in zip(
                lines["row"][quiet], customers[quiet], ids[quiet], lines["action"][quiet],
                lines["message"][quiet], strict=True,
            )
        )  # fmt: skip
        state.finish_run(
            run.run_id,
            exit_code=run.exit_code,
            counts=run.counts(),
            stopped_reason=run.stopped,
            report=str(report) if report else None,
        )


def result_lines(run: ImportRun) -> pd.DataFrame:
    checked, plan = run.checked, run.plan
    index = checked.missions.index
    actions = plan.row_actions.reindex(index).fillna("invalid")
    lines = pd.DataFrame({"row": index.to_numpy(), "action": actions.to_numpy()}, index=index)
    lines["outcome"] = "skipped"
    lines["http_status"] = None
    lines["message"] = None
    lines["attempts"] = pd.Series(0, index=index, dtype=object)
    lines["remote_status"] = None
    problems = _row_messages(checked)
    invalid = lines["action"] == "invalid"
    lines.loc[invalid, "message"] = [problems.get(row, "invalid") for row in index[invalid]]
    unchanged = lines["action"] == "unchanged"
    lines.loc[unchanged, "message"] = "unchanged since the last import: no call"
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
            "action": "delete",
            "outcome": deletions["outcome"].to_numpy(),
            "http_status": deletions["http_status"].to_numpy(),
            "message": deletions["message"].to_numpy(),
            "attempts": deletions["attempts"].to_numpy(),
            "remote_status": None,
            "idMission": deletions["id_mission"].to_numpy(),
            "customerId": [None if c == NO_CUSTOMER else c for c in deletions["customer_id"]],
        },
        columns=[*lines.columns, "idMission", "customerId"],
    )
    return pd.concat([lines, extra], ignore_index=True)


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
        [action == "modify", (action == "delete") & ~has_row, action == "delete"],
        ["changes", "no longer in the file", "cancelled by the action column"],
        "new mission",
    ).astype(object)
    customers, ids = changes["customer_id"].tolist(), changes["id_mission"].tolist()
    for position in np.flatnonzero(action == "modify").tolist():
        if fields := run.plan.differs.get((int(customers[position]), str(ids[position]))):
            detail[position] = f"changes: {', '.join(fields)}"
    if run.stopped:
        suffix = "; not attempted: the run stopped (see Summary)"
    else:
        suffix = "; planned (dry run)" if run.options.dry_run else "; not attempted"
    return pd.DataFrame(
        {
            "row": changes["row"].to_numpy(),
            "customer_id": changes["customer_id"].to_numpy(),
            "id_mission": changes["id_mission"].to_numpy(),
            "outcome": "not_attempted",
            "http_status": None,
            "message": [text + suffix for text in detail],
            "attempts": 0,
        },
        columns=columns,
    )


def _row_messages(checked: Checked, *, errors_only: bool = True) -> dict[int, str]:
    """Each row's problems as one message: ``column: problem; column: problem``."""
    messages: dict[int, list[str]] = {}
    for problem in checked.problems:
        if problem.row is not None and (problem.is_error or not errors_only):
            where = f"{problem.column}: " if problem.column else ""
            messages.setdefault(problem.row, []).append(f"{where}{problem.message}")
    return {row: "; ".join(texts) for row, texts in messages.items()}


def import_report(run: ImportRun, report_path: Path) -> Path:
    """The results (or plan) workbook: every row with its outcome, every problem, the counts."""
    checked = run.checked
    lines = run.lines()
    rows_part = lines.iloc[: len(checked.missions)].set_index(checked.missions.index)
    added = rows_part[list(RESULT_COLUMNS)]
    failed = rows_part["outcome"].isin(["failed", "unknown"]) | (rows_part["action"] == "invalid")
    extra = lines.iloc[len(checked.missions) :]
    id_label = checked.sheet.label_of("idMission") or "idMission"
    customer_label = checked.sheet.label_of("customerId") or "customerId"
    extra_rows = extra[list(RESULT_COLUMNS)].copy()
    extra_rows[id_label] = extra["idMission"].to_numpy()
    if customer_label in checked.sheet.cells.columns:
        extra_rows[customer_label] = extra["customerId"].to_numpy()
    content = ReportContent(
        sheet=checked.sheet,
        added=added,
        failed=failed,
        problems=checked.problems,
        summary=import_summary(run),
        extra_rows=extra_rows,
        extra_failed=extra["outcome"].isin(["failed", "unknown"]).tolist(),
    )
    return write_report(report_path, content)


RESULT_COLUMNS = ("row", "action", "outcome", "http_status", "message", "attempts", "remote_status")


def import_summary(run: ImportRun) -> list[tuple[str, object]]:
    checked, plan = run.checked, run.plan
    raw = checked.sheet.raw
    command = "plan (dry run)" if run.options.dry_run else "run"
    summary: list[tuple[str, object]] = [
        ("command", command),
        ("input file", str(raw.path)),
        ("input SHA-256", raw.sha256),
        ("sheet", raw.sheet_name or ""),
        ("feed", plan.feed),
        ("scope", plan.scope),
        ("time zone", checked.timezone),
        ("started", run.started.isoformat(timespec="seconds")),
        ("finished", (run.finished or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")),
        ("Ocean", run.base_url or "not contacted"),
        ("state", run.state_path or ""),
        ("dry run", "yes: nothing was sent" if run.options.dry_run else "no"),
        ("stopped", run.stopped or "no: went to the end"),
        ("rows read", checked.row_count),
        ("invalid rows", checked.invalid_count),
        ("deletions (missions no longer in the file)", int(plan.changes["row"].isna().sum())),
        ("kept: absent but already past", plan.kept_past),
        ("forgotten: past their expiry", len(plan.forgotten)),
    ]
    summary += sorted(run.counts().items())
    summary.append(("exit code", run.exit_code))
    return summary


def _write_atomically(path: Path, text: str) -> None:
    remove_stale_temporaries(path)
    temporary = path.with_name(temporary_prefix(path) + "plan")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"the plan {path} could not be written ({exc.strerror or exc})") from None
