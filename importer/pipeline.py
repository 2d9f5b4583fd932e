"""The stages wired together: the one place that orchestrates, for every face (the command
line, the scheduled job, the web page). The faces call these functions and render what
they return (``results``); they never speak to Ocean or to the state themselves.

    validate_file   read_planning -> map_columns -> validate -> validation workbook
    plan_file       ... -> diff -> plan workbook (and the saved plan)
    import_file     ... -> diff (or the saved plan) -> push -> results workbook, recorded
    mission_statuses  Ocean's status of the state's missions
    history         the state's runs
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.columns import map_columns
from importer.config import DEFAULT_CONCURRENCY, DEFAULT_SCOPE, Guard, ImportOptions, Settings
from importer.diff import Plan, diff, differing_fields
from importer.errors import (
    AuthenticationError,
    OceanUnavailable,
    OutputError,
    StateUnavailable,
    UnreportedRun,
    UsageError,
)
from importer.expiry import expire_failed
from importer.feeds import default_feed, with_feed
from importer.i18n import _
from importer.paths import default_report_path
from importer.plans import fingerprint, load_plan, save_plan
from importer.read import read_planning
from importer.results import CALLS, FAILURES, Action, ImportRun, Outcome, OutcomeRecord, RunRecord
from importer.schemas.aliases import alias_table
from importer.schemas.state import Key, mission_keys
from importer.statuses import mission_statuses
from importer.stopping import interruptible
from importer.store import (
    DEFAULT_STATE_PATH,
    Store,
    copy_state,
    is_address,
    open_state,
    shown_address,
)  # fmt: skip
from importer.validate import Checked, validate
from importer.validation import ValidationRun
from importer.workbooks import import_report, validation_report

if TYPE_CHECKING:  # the network side is imported by the commands that call Ocean only
    from importer.ocean.client import OceanClient
    from importer.undo import Undo

log = logging.getLogger(__name__)

# What the faces need besides the functions below.
__all__ = [
    "DEFAULT_STATE_PATH", "Store", "copy_state", "default_feed", "default_report_path",
    "is_address", "mission_statuses", "open_state", "shown_address",
]  # fmt: skip


def check_file(path: Path, settings: Settings, *, now: dt.datetime | None = None) -> Checked:
    """Read, map and validate a planning file (no network, nothing written)."""
    aliases = alias_table(settings.columns)
    raw = read_planning(
        path,
        sheet=settings.sheet,
        max_bytes=settings.max_file_bytes,
        max_rows=settings.max_rows,
        max_memory_bytes=int(settings.max_memory_mb * 1024 * 1024),
        aliases=aliases,
    )
    sheet = map_columns(raw, aliases, max_rows=settings.max_rows)
    return validate(sheet, settings, now=now)


# --- validate -------------------------------------------------------------------------------


def validate_file(
    path: Path,
    settings: Settings,
    *,
    feed: str | None = None,
    report_path: Path | None = None,
    now: dt.datetime | None = None,
) -> tuple[ValidationRun, Path | None]:
    """Check every row of a planning and write the validation workbook; Ocean not contacted."""
    started = now or dt.datetime.now(dt.UTC)
    checked = check_file(path, settings, now=now)
    run = ValidationRun(checked, feed or default_feed(path), started, dt.datetime.now(dt.UTC))
    return run, validation_report(run, report_path) if report_path else None


# --- plan -----------------------------------------------------------------------------------


def make_plan(
    checked: Checked,
    state: Store,
    options: ImportOptions,
    *,
    now: dt.datetime,
    missing_in_ocean: frozenset[Key] = frozenset(),
) -> Plan:
    """The diff against the state, with the fields that differ for each modify, and what
    Ocean holds now of every mission modified or deleted (the review shows old -> new)."""
    plan = diff(
        checked,
        state.known(),
        feed=options.feed,
        now=now,
        scope=options.scope or DEFAULT_SCOPE,  # resolved by with_feed
        delete_past=options.delete_past,
        guard=options.guard,
        missing_in_ocean=missing_in_ocean,
    )
    touched = plan.changes[plan.changes["action"].isin([Action.MODIFY, Action.DELETE])]
    keys = zip(touched["customer_id"].astype(int), touched["id_mission"], strict=True)
    previous = state.accepted_payloads(keys)
    plan = expire_failed(plan, state, now)  # a failed row of the past is not retried forever
    return replace(plan, differs=differing_fields(plan.changes, previous), previous=previous)


def plan_file(
    path: Path,
    settings: Settings,
    state: Store,
    options: ImportOptions,
    *,
    report_path: Path | None,
    out_path: Path | None = None,
    now: dt.datetime | None = None,
    ocean: OceanClient | None = None,
) -> tuple[ImportRun, Path | None]:
    """What ``run`` would do with a planning: check and diff, then the plan workbook and
    (``out_path``) the exact plan for ``run --plan`` to apply. Ocean is not contacted, but
    with ``options.drift`` (``plan --refresh``): then it is asked about the missions the state
    believes it holds, and what it no longer has is planned again."""
    started = now or dt.datetime.now(dt.UTC)
    options = replace(with_feed(path, options, state, settings), dry_run=True)
    checked = check_file(path, settings, now=started)
    missing: frozenset[Key] = frozenset()
    statuses: dict[Key, str] = {}
    refused: dict[Key, str] = {}
    base_url = None
    if options.drift:
        from importer.ocean.client import OceanClient
        from importer.protect import drift

        ocean = ocean or OceanClient.from_settings(settings.ocean,
                                                   max_connections=options.concurrency)  # fmt: skip
        missing, statuses, refused = asyncio.run(
            drift(checked, state, options, ocean, started, True)
        )
        base_url = ocean.base_url
    plan = make_plan(checked, state, options, now=started, missing_in_ocean=missing)
    run = ImportRun(checked, plan, options, started, dt.datetime.now(dt.UTC), base_url=base_url,
                    state_path=state.where, remote_statuses=statuses,
                    refusals=refused)  # fmt: skip
    if out_path:
        made_from = fingerprint(
            checked.sheet.raw.sha256, state.generation(options.feed), settings, options
        )
        save_plan(plan, made_from, checked.sheet.raw.path, out_path)
    return run, import_report(run, report_path) if report_path else None


# --- run ------------------------------------------------------------------------------------

Progress = Callable[[int], tuple[Callable[[OutcomeRecord], None], Callable[[], None]]]


def import_file(
    path: Path,
    settings: Settings,
    state: Store,
    options: ImportOptions,
    *,
    report_path: Path | None,
    saved_plan: Path | None = None,
    progress: Progress | None = None,
    refresh_status: bool = False,
    now: dt.datetime | None = None,
    after_reading: Callable[[Checked], None] | None = None,
    ocean: OceanClient | None = None,
    halt: threading.Event | None = None,
    confirmed_deletions: int | None = None,
    feed_wait: float = 0,
) -> tuple[ImportRun, Path | None]:
    """Import one planning file: check, plan (or load a saved plan), push, report, record.

    The run holds its feed's lock (``feed_wait``: how long to wait for another run of it
    before ``StateLocked``; other feeds go on at once). SIGINT/SIGTERM during the push stop
    it cleanly (``interruptible``); the workbook is written and the run recorded anyway.
    ``after_reading``: told once the file is read and checked (the job's poison-file guard).
    ``ocean``: the client to push with (transport, retries, clock; default: the settings').
    ``halt``: set from another thread (the page stopping), the run stops as on SIGTERM.
    ``confirmed_deletions``: the deletions a person typed past the mass-delete guard."""
    from importer.ocean.client import OceanClient

    ocean = ocean or OceanClient.from_settings(settings.ocean, max_connections=options.concurrency)
    started = now or dt.datetime.now(dt.UTC)
    options = with_feed(path, options, state, settings)
    # The feed is held for the whole run: another run of it waits its turn or stops (exit 3).
    with state.feed_lock(settings.customer_id or 0, options.feed, wait=feed_wait):
        checked = check_file(path, settings, now=started)
        if after_reading:
            after_reading(checked)
        replan = None
        if saved_plan:
            current = fingerprint(
                checked.sheet.raw.sha256, state.generation(options.feed), settings, options
            )
            plan = load_plan(saved_plan, current, checked.sheet.raw.path.name)
        else:
            plan = make_plan(checked, state, options, now=started)
            if options.drift:  # asked once the client is open: the plan made again from its answer

                def replan(missing: frozenset[Key]) -> Plan:
                    return make_plan(checked, state, options, now=started, missing_in_ocean=missing)

        if plan.guard_message and confirmed_deletions is not None:
            _check_typed(plan, confirmed_deletions)  # a wrong count: refused, nothing sent
            plan = replace(plan, guard_message=None)
        on_outcome, finish_progress = progress(len(plan.changes)) if progress else (None, None)
        try:
            run = asyncio.run(
                interruptible(
                    halt=halt,
                    work=lambda stop: _push_and_refresh(
                        checked, plan, options, settings, state, ocean, started, stop, on_outcome,
                        refresh_status, replan,
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
            run = replace(
                run, stopped=_("the results workbook could not be written: {why}").format(why=exc)
            )
            with contextlib.suppress(StateUnavailable):  # the sentence already says what is lost
                finish_run(run, state, None)
            raise failure from None
        try:
            finish_run(run, state, written)
        except StateUnavailable as exc:
            where = (
                "; " + _("the results workbook {path} has what was done").format(path=written)
                if written
                else ""
            )
            raise StateUnavailable(f"{exc}{where}") from None
        return run, written


async def _push_and_refresh(
    checked: Checked,
    plan: Plan,
    options: ImportOptions,
    settings: Settings,
    state: Store,
    ocean: OceanClient,
    started: dt.datetime,
    stop: asyncio.Event,
    on_outcome: Callable[[OutcomeRecord], None] | None,
    refresh_status: bool,
    replan: Callable[[frozenset[Key]], Plan] | None,
) -> ImportRun:
    """Push the plan (unless the guard stops it), then (``refresh_status``) fetch where the
    file's missions stand; the run's record is opened first, so that every outcome has one.
    Before the push: the drift check (``replan``: the plan made again from what Ocean no
    longer has), then the missions under way held (``protect``)."""
    from importer.protect import Holding, drift, hold_started
    from importer.push import fetch_statuses, not_attempted, push

    raw = checked.sheet.raw
    run_id: int | None = None
    outcomes: list[OutcomeRecord] | None = None
    stopped: str | None = None
    statuses: dict[tuple[int, str], str] = {}
    refused: dict[Key, str] = {}
    holding = Holding(plan)
    async with ocean:
        try:
            run_id = state.begin_run(options.command, file=str(raw.path), sha256=raw.sha256,
                                     feed=options.feed, dry_run=False,
                                     actor=options.actor)  # fmt: skip
            if replan is not None:
                missing, statuses, refused = await drift(checked, state, options, ocean, started)
                plan = replan(missing)
            if plan.guard_message:
                stopped = _("mass-delete guard: {why}").format(why=plan.guard_message)
            else:
                if options.protect_started and not options.allow_started:
                    holding = await hold_started(plan, ocean, state, settings, run_id=run_id,
                                                 concurrency=options.concurrency)  # fmt: skip
                    state.record_outcomes(holding.held)
                pushed = await push(holding.plan, ocean, state, run_id, stop=stop,
                                    concurrency=options.concurrency,
                                    on_outcome=on_outcome)  # fmt: skip
                outcomes, stopped = [*holding.held, *pushed.outcomes], pushed.stopped
                statuses |= holding.statuses
        except StateUnavailable as exc:  # before any call, or between two: a stop, told as one
            stopped = stopped or str(exc)
        except (AuthenticationError, OceanUnavailable) as exc:  # asking before the push
            stopped = stopped or str(exc)
            outcomes = [not_attempted(line, run_id or 0) for line in _lines_of(plan)]
        if refresh_status and not stopped and outcomes is not None:
            keys = _live_keys(checked, plan)
            found = await fetch_statuses(ocean, state, keys, concurrency=options.concurrency)
            statuses = {key: status.describe() for key, status in found.items()}
    return ImportRun(
        checked, plan, options, started, dt.datetime.now(dt.UTC),
        outcomes=tuple(outcomes) if outcomes is not None else None, stopped=stopped,
        base_url=ocean.base_url, state_path=state.where, run_id=run_id,
        remote_statuses=statuses, unknown_statuses=holding.unknown, refusals=refused,
        password_days=ocean.password_expires_in_days,
    )  # fmt: skip


def _check_typed(plan: Plan, typed: int) -> None:
    """Refuse unless a person typed the plan's number of deletions."""
    deletions = plan.count(Action.DELETE)
    if typed != deletions:
        raise UsageError(
            _("{typed} is not the number of deletions ({n}): nothing was sent").format(
                typed=typed, n=deletions
            )
        )


def _lines_of(plan: Plan) -> list[dict[str, Any]]:
    return plan.changes.to_dict(orient="records")  # type: ignore[return-value]


def _live_keys(checked: Checked, plan: Plan) -> list[tuple[int, str]]:
    """The missions of the file that Ocean should now hold."""
    actions = plan.row_actions.reindex(checked.missions.index).fillna(Action.INVALID)
    live = actions.isin([Action.CREATE, Action.MODIFY, Action.UNCHANGED]).to_numpy()
    customers, ids = mission_keys(checked.missions)
    return list(zip(customers[live].tolist(), ids[live].tolist(), strict=True))


def unreported(run: ImportRun, failure: OutputError) -> UnreportedRun:
    """The sentence for a run whose workbook could not be written: what reached Ocean."""
    calls = run.lines()
    calls = calls[calls["action"].isin(CALLS)]
    done = calls.loc[calls["outcome"] == Outcome.OK, "action"].value_counts()
    failed = int(calls["outcome"].isin(FAILURES).sum())
    return UnreportedRun(
        _(
            "Ocean was changed ({created} created, {modified} modified, {deleted} deleted; "
            "{failed} failed) but {why}; every row's outcome is in the state (run {run}): the "
            "same command again writes a workbook and sends only what is still to do"
        ).format(
            created=int(done.get(Action.CREATE, 0)), modified=int(done.get(Action.MODIFY, 0)),
            deleted=int(done.get(Action.DELETE, 0)), failed=failed, why=failure, run=run.run_id,
        )
    )  # fmt: skip


def finish_run(run: ImportRun, state: Store, report: Path | None) -> None:
    """Close the run's record: its counts, and an outcome for every row that made no call."""
    if run.run_id is None:
        return
    missions = run.checked.missions
    lines = run.lines().iloc[: len(missions)]
    quiet = lines["action"].isin([Action.UNCHANGED, Action.INVALID]).to_numpy()
    customers, ids = (keys.to_numpy() for keys in mission_keys(missions))
    state.record_outcomes(
        OutcomeRecord(run.run_id, int(row), int(customer), str(id_mission or ""), action,
                      Outcome.SKIPPED, None, str(message or ""), 0)
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


# --- undo ------------------------------------------------------------------------------------


def plan_undo(
    state: Store, run_id: int, *, force: bool = False, guard: Guard | None = None,
    saved: Path | None = None,
) -> Undo:  # fmt: skip
    """The plan that puts Ocean back as it was before run ``run_id``; with ``saved``, exactly
    that saved plan (refused, ``UsageError``, when the state changed since it was made)."""
    from importer import undo

    made = undo.plan_undo(state, run_id, force=force, guard=guard or Guard())
    return undo.load_undo(saved, made) if saved else made


def save_undo(made: Undo, path: Path) -> Path:
    """The undo plan written for review (``plan_undo(..., saved=path)`` applies it)."""
    from importer import undo

    return undo.save_undo(made, path)


def apply_undo(
    made: Undo, settings: Settings, state: Store, *, allow_started: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY, actor: str | None = None,
    halt: threading.Event | None = None,
) -> Undo:  # fmt: skip
    """Apply the undo plan that was reviewed, as an import is applied (see ``undo.py``)."""
    from importer import undo

    return undo.apply_undo(made, settings, state, allow_started=allow_started,
                           concurrency=concurrency, actor=actor, halt=halt)  # fmt: skip


# --- the state's missions and runs ----------------------------------------------------------


def check_connection_settings(settings: Settings) -> None:
    """Say now (``ConfigError``) what the Ocean connection lacks, before any work."""
    from importer.ocean.client import OceanClient

    OceanClient.from_settings(settings.ocean)


def history(state: Store, limit: int = 50) -> list[RunRecord]:
    """The state's latest runs, newest first."""
    return state.runs(limit=limit)
