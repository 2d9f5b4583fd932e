"""Apply a plan to Ocean, exactly once, with bounded concurrency.

Each change is one task for a pool of workers sharing one ``OceanClient``. What makes it
exactly once:
- the intent to create is committed to the state before the create is sent; a create
  whose answer never came (a crash, an ambiguous timeout) is checked with ``statutMission``
  by the next run before anything is sent again;
- a create refused because the mission exists becomes a status check and a modify; a
  modify answered 404 becomes a create; a delete answered 404 is already done;
- every confirmed change is committed to the state at once, with its outcome.

A run stops early (the rest ``not_attempted``, picked up by the next run) when the login is
refused, when Ocean keeps failing (the circuit breaker), or when asked to (Ctrl-C): the
calls in flight finish, or are recorded as ``unknown`` when they are cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd

from importer.config import DEFAULT_CONCURRENCY
from importer.diff import Plan
from importer.errors import (
    AuthenticationError,
    CircuitOpen,
    MissionExists,
    MissionNotFound,
    MissionRejected,
    OceanError,
    OceanUnavailable,
    StateUnavailable,
)
from importer.i18n import _, number
from importer.ocean.client import Answer, MissionStatus, OceanClient
from importer.results import Action, Outcome, OutcomeRecord
from importer.schemas.api import MISSION_FIELDS
from importer.schemas.state import Key, customer_of
from importer.state import MissionTimes
from importer.store import Store

log = logging.getLogger(__name__)


@dataclass
class PushResult:
    outcomes: list[OutcomeRecord] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early (None: it went to the end)


async def push(
    plan: Plan,
    ocean: OceanClient,
    state: Store,
    run_id: int,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    stop: asyncio.Event | None = None,
    on_outcome: Callable[[OutcomeRecord], None] | None = None,
) -> PushResult:
    """Make every call of ``plan.changes``; return one outcome per change."""
    stop = stop or asyncio.Event()
    result = PushResult()
    state.forget(zip(plan.forgotten["customer_id"], plan.forgotten["id_mission"], strict=True))
    lines: list[dict[str, Any]] = plan.changes.to_dict(orient="records")  # type: ignore[assignment]
    if not lines:
        return result
    try:
        await ocean.authenticate()
    except OceanError as exc:
        result.stopped = str(exc)
        result.outcomes = [not_attempted(line, run_id) for line in lines]
        state.record_outcomes(result.outcomes)
        return result

    commit = GroupCommit(state)
    queue: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
    for position, line in enumerate(lines):
        queue.put_nowait((position, line))
    done: dict[int, OutcomeRecord] = {}

    async def worker() -> None:
        while not stop.is_set():
            try:
                position, line = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                outcome = await _apply(line, plan.feed, ocean, state, commit, run_id)
            except (AuthenticationError, CircuitOpen) as exc:
                result.stopped = result.stopped or str(exc)
                stop.set()
                outcome = not_attempted(line, run_id, str(exc))
                _record_if_possible(state, outcome)
            except StateUnavailable as exc:
                # The call may have reached Ocean but its confirmation could not be kept: the
                # next run checks it (statutMission) before anything is sent again.
                result.stopped = result.stopped or str(exc)
                stop.set()
                outcome = line_outcome(
                    line, run_id, Outcome.UNKNOWN, message=_("not recorded: {why}").format(why=exc)
                )
            except asyncio.CancelledError:
                waiting = _("interrupted while waiting for Ocean")
                outcome = line_outcome(line, run_id, Outcome.UNKNOWN, message=waiting)
                state.record_outcome(outcome)
                done[position] = outcome
                raise
            done[position] = outcome
            if on_outcome:
                on_outcome(outcome)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        await asyncio.gather(*workers)
    except asyncio.CancelledError:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        result.stopped = result.stopped or "interrupted"
    if stop.is_set() and not result.stopped:
        result.stopped = "interrupted"
    skipped = [position for position in range(len(lines)) if position not in done]
    if skipped:
        for position in skipped:
            done[position] = not_attempted(lines[position], run_id)
        with contextlib.suppress(StateUnavailable):  # the stop already says why
            state.record_outcomes(done[position] for position in skipped)
    result.outcomes = [done[position] for position in range(len(lines))]
    _tell_pacing(ocean)
    return result


def _tell_pacing(ocean: OceanClient) -> None:
    """Say when Ocean limited the run, and how the client kept to it (see pacing.py)."""
    pacer = ocean.pacer
    if pacer is None or not (pacer.throttled or pacer.overloaded):
        return  # answers that slowed down only paced the calls: nothing to act on
    pace = _("the calls went on {limit} at a time (at most {ceiling})").format(
        limit=int(pacer.limit), ceiling=pacer.ceiling
    )
    if pacer.rate:
        pace += _(", {rate} per second").format(rate=number(round(pacer.rate, 1)))
    if pacer.throttled:
        log.warning(_("Ocean limited the calls ({count} answered 429, too many requests): %s")
                    .format(count=pacer.throttled), pace)  # fmt: skip
    else:
        log.warning(_("Ocean was overloaded ({count} answered 503): %s")
                    .format(count=pacer.overloaded), pace)  # fmt: skip


class GroupCommit:
    """The state writes the workers ask for in one turn of the event loop, committed in one
    transaction: a burst of answers costs one commit, not one each. A worker's ``await``
    returns once its own write is committed (an intent: before its create goes out), or
    raises what the commit raised (``StateUnavailable``: the run stops)."""

    def __init__(self, state: Store) -> None:
        self.state = state
        self._group: list[tuple[Callable[[], None], asyncio.Future[None]]] = []

    async def __call__(self, write: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()
        self._group.append((write, committed))
        if len(self._group) == 1:
            loop.call_soon(self._commit)  # after the other workers woken in this turn
        await asyncio.shield(committed)  # a worker cut short leaves its group whole

    def _commit(self) -> None:
        group, self._group = self._group, []
        try:
            with self.state.batch():
                for write, _ in group:
                    write()
        except Exception as exc:
            for _, committed in group:
                committed.set_exception(exc)
            return
        for _, committed in group:
            committed.set_result(None)


def _record_if_possible(state: Store, outcome: OutcomeRecord) -> None:
    with contextlib.suppress(StateUnavailable):
        state.record_outcome(outcome)


async def _apply(
    line: dict[str, Any],
    feed: str,
    ocean: OceanClient,
    state: Store,
    commit: GroupCommit,
    run_id: int,
) -> OutcomeRecord:
    """One change, resolved to a final outcome; confirmed changes are in the state on return."""
    key = (int(line["customer_id"]), str(line["id_mission"]))
    customer = customer_of(key[0])
    attempts = 0
    try:
        if line["action"] == Action.DELETE:
            try:
                answer = await ocean.delete(key[1], customer)
                message, status = answer.message, answer.http_status
                attempts += answer.attempts
            except MissionNotFound as gone:
                message = _("already gone from Ocean: {message}").format(
                    message=gone.vendor_message
                )
                status = 404
                attempts += gone.attempts
            outcome = line_outcome(line, run_id, Outcome.OK, status, message, attempts)
            await commit(partial(state.confirm_deleted, key, outcome=outcome))
            return outcome

        payload = {name: str(line[name]) for name in MISSION_FIELDS}
        times = _times(line)
        answer, attempts = await _create_or_modify(line, payload, key, customer, feed, times,
                                                   ocean, state, commit)  # fmt: skip
        outcome = line_outcome(
            line, run_id, Outcome.OK, answer.http_status, answer.message, attempts
        )
        confirm = partial(state.confirm, key, feed=feed, payload=payload, when=times,
                          payload_hash=str(line["payload_hash"]), outcome=outcome)  # fmt: skip
        await commit(confirm)
        return outcome
    except MissionRejected as refused:
        said = refused.vendor_message or str(refused)
        outcome = line_outcome(line, run_id, Outcome.FAILED, refused.http_status, said,
                               attempts + refused.attempts)  # fmt: skip
    except OceanUnavailable as unavailable:
        if isinstance(unavailable, CircuitOpen):
            raise
        verdict = Outcome.UNKNOWN if unavailable.maybe_applied else Outcome.FAILED
        outcome = line_outcome(line, run_id, verdict, unavailable.http_status, str(unavailable),
                               attempts + unavailable.attempts)  # fmt: skip
    await commit(partial(state.record_outcome, outcome))
    return outcome


async def _create_or_modify(
    line: dict[str, Any],
    payload: dict[str, str],
    key: Key,
    customer: int | None,
    feed: str,
    times: MissionTimes,
    ocean: OceanClient,
    state: Store,
    commit: GroupCommit,
) -> tuple[Answer, int]:
    attempts = 0
    action = line["action"]
    if action == Action.CREATE and line.get("verify_first"):
        # An earlier run sent this create and never saw the answer: does Ocean have it?
        try:
            found = await ocean.status(key[1], customer)
            attempts += found.attempts
            action = Action.MODIFY
        except MissionNotFound as missing:
            attempts += missing.attempts
    if action == Action.MODIFY:
        try:
            answer = await ocean.modify(_sent(payload, Action.MODIFY))
            return answer, attempts + answer.attempts
        except MissionNotFound as missing:  # gone from Ocean (deleted by hand?): create it
            attempts += missing.attempts
    await commit(partial(state.record_intent, key, feed=feed, when=times))  # before the call
    try:
        answer = await ocean.create(_sent(payload, Action.CREATE))
        return answer, attempts + answer.attempts
    except MissionExists as exists:
        # Ocean has it already (a lost answer, or made by hand): check, then bring it in line.
        attempts += exists.attempts
        found = await ocean.status(key[1], customer)
        answer = await ocean.modify(_sent(payload, Action.MODIFY))
        return answer, attempts + found.attempts + answer.attempts


def _sent(payload: dict[str, str], action: str) -> dict[str, str]:
    """What goes on the wire: a create leaves blanks out; a modify sends them empty, to clear
    them (whether Ocean clears omitted fields is undocumented). An empty customerId is never
    sent: it means the login's own customer."""
    if action == Action.CREATE:
        return {name: value for name, value in payload.items() if value != ""}
    return {name: value for name, value in payload.items() if value != "" or name != "customerId"}


def _times(line: dict[str, Any]) -> MissionTimes:
    def iso(value: Any) -> str | None:
        return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()

    return MissionTimes(iso(line.get("intervention_at")), iso(line.get("expires_at")))


def line_outcome(
    line: dict[str, Any],
    run_id: int,
    outcome: Outcome,
    http_status: int | None = None,
    message: str = "",
    attempts: int = 0,
) -> OutcomeRecord:
    row = line.get("row")
    return OutcomeRecord(
        run_id=run_id,
        row=None if row is None or pd.isna(row) else int(row),
        customer_id=int(line["customer_id"]),
        id_mission=str(line["id_mission"]),
        action=str(line["action"]),
        outcome=str(outcome),
        http_status=http_status,
        message=message,
        attempts=attempts,
    )


def not_attempted(line: dict[str, Any], run_id: int, message: str = "") -> OutcomeRecord:
    return line_outcome(line, run_id, Outcome.NOT_ATTEMPTED,
                        message=message or _("not attempted: the run stopped"))  # fmt: skip


async def fetch_statuses(
    ocean: OceanClient,
    state: Store,
    keys: list[Key],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    missing: set[Key] | None = None,
) -> dict[Key, MissionStatus]:
    """Ask Ocean where each mission stands (bounded concurrency); store each in the state.

    A mission Ocean does not know (added to ``missing`` when given), or whose query fails,
    is left out (and logged).
    """
    gate = asyncio.Semaphore(concurrency)
    found: dict[Key, MissionStatus] = {}

    async def one(key: Key) -> None:
        async with gate:
            try:
                status = await ocean.status(key[1], customer_of(key[0]))
            except MissionRejected as refused:
                if missing is not None and isinstance(refused, MissionNotFound):
                    missing.add(key)
                log.warning(_("status of mission %s: %s"), key[1], refused)
                return
            except OceanUnavailable as unavailable:
                if isinstance(unavailable, CircuitOpen):
                    raise
                log.warning(_("status of mission %s: %s"), key[1], unavailable)
                return
        found[key] = status
        state.store_status(key, status=status.status, code=status.status_code,
                           refuse_reason=status.refuse_reason)  # fmt: skip

    await asyncio.gather(*(one(key) for key in keys))
    return found
