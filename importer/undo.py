"""Undo an import: the plan that puts Ocean back as it was before one run, and its push.

The state's journal keeps, per run, what each mission it changed was before: a mission the
run created is deleted, one it modified gets its previous payload back, one it deleted is
created again with its previous payload. A mission a later run changed again is not touched
(a conflict, listed; ``force`` undoes it anyway). The plan goes through what every plan goes
through: the mass-delete guard, the protection of missions a driver has in hand, a saved
plan applied exactly (refused when the state changed since), one outcome per call recorded
under a run of its own (``undo``), which can itself be undone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from importer.config import DEFAULT_CONCURRENCY, Guard, Settings
from importer.diff import CHANGE_COLUMNS, Plan, mass_delete_message
from importer.errors import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_STOPPED,
    AuthenticationError,
    OceanUnavailable,
    StateUnavailable,
    UsageError,
)
from importer.i18n import _
from importer.ocean.client import OceanClient
from importer.plans import plan_from_json, plan_to_json, write_atomically
from importer.protect import Holding, hold_started
from importer.push import push
from importer.results import NEEDS_A_LOOK, Action, OutcomeRecord, RunRecord
from importer.schemas.api import MISSION_FIELDS
from importer.schemas.state import JOURNAL_DAYS, Key
from importer.stopping import interruptible
from importer.store import Store

UNDO_FORMAT = 1


@dataclass(frozen=True)
class Conflict:
    key: Key
    later_run: int | None  # the run that changed it again (None: changed since, run unknown)


@dataclass(frozen=True)
class Undo:
    """What undoing ``run`` would do: ``plan.changes`` (one line per call), and the missions
    left alone because a later run changed them again."""

    run: RunRecord
    plan: Plan
    conflicts: tuple[Conflict, ...]
    generation: int  # the state's, for the feed, when the plan was made
    outcomes: tuple[OutcomeRecord, ...] | None = None  # once applied
    held: tuple[OutcomeRecord, ...] = ()
    stopped: str | None = None
    undo_run_id: int | None = None
    unknown_statuses: dict[Key, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return EXIT_STOPPED
        looks = any(o.outcome in NEEDS_A_LOOK for o in (self.outcomes or ()))
        return EXIT_PROBLEMS if looks or self.held or self.conflicts else EXIT_OK

    def counts(self) -> dict[str, int]:
        actions = self.plan.changes["action"].value_counts()
        counts = {f"action {k}": int(v) for k, v in actions.items()}
        outcomes = pd.Series([o.outcome for o in (*self.held, *(self.outcomes or ()))])
        counts |= {f"outcome {k}": int(v) for k, v in outcomes.value_counts().items()}
        return counts | ({"conflicts": len(self.conflicts)} if self.conflicts else {})


def plan_undo(
    state: Store, run_id: int, *, force: bool = False, guard: Guard | None = None
) -> Undo:
    """The plan that undoes run ``run_id`` (``UsageError`` when there is no such run or
    nothing of it is left to undo)."""
    run = state.run(run_id)
    if run is None:
        raise UsageError(_("there is no run {run} in the state (see ocean-import history)").format(
            run=run_id
        ))  # fmt: skip
    journal = state.journal(run_id)
    if not journal and run.counts.get("outcome ok"):
        raise UsageError(
            _(
                "run {run} cannot be undone: what its missions were before is no longer kept "
                "(the journal keeps {days} days)"
            ).format(run=run_id, days=JOURNAL_DAYS)
        )
    later = state.changed_after(run_id)
    known = state.known()  # one read of every mission, not one query per mission
    current = {(int(c), str(i)): {"payload_hash": h, "deleted": d}
               for c, i, h, d in known[["customer_id", "id_mission", "payload_hash", "deleted"]]
               .itertuples(index=False)}  # fmt: skip
    lines, conflicts = [], []
    for entry in journal:
        key = (int(entry["customer_id"]), str(entry["id_mission"]))
        now = current.get(key) or {}
        changed = key in later or now.get("payload_hash") != entry["after_hash"]
        if changed and not force:
            conflicts.append(Conflict(key, later.get(key)))
            continue
        gone_now = bool(now.get("deleted")) or not now
        if _already_back(entry, now, gone_now):
            continue  # an earlier undo (or a later run) put it back already
        lines.append(_undoing(entry, gone_now))
    changes = pd.DataFrame(lines, columns=[*CHANGE_COLUMNS, *MISSION_FIELDS, "intervention_at",
                                           "expires_at"])  # fmt: skip
    for name in ("intervention_at", "expires_at"):
        changes[name] = pd.to_datetime(changes[name], utc=True, format="ISO8601")
    feed = run.feed or ""
    active = int(
        ((known["feed"] == feed) & ~known["deleted"] & known["payload_hash"].notna()).sum()
    )
    guard = guard or Guard()
    deletions = int((changes["action"] == Action.DELETE).sum())
    plan = Plan(
        feed=feed, scope="feed", row_actions=pd.Series(dtype=object, name="action"),
        changes=changes, forgotten=pd.DataFrame(columns=["customer_id", "id_mission"]),
        kept_past=0, active_in_scope=active,
        guard_message=None if guard.allow else mass_delete_message(deletions, active, guard),
    )  # fmt: skip
    return Undo(run, plan, tuple(conflicts), state.generation(feed))


def _already_back(entry: dict[str, Any], now: dict[str, Any], gone_now: bool) -> bool:
    if entry["before_payload"] is None:
        return gone_now
    return not gone_now and now.get("payload_hash") == entry["before_hash"]


def _undoing(entry: dict[str, Any], gone_now: bool) -> dict[str, Any]:
    """The call that gives a mission back what it was before the run."""
    key = (int(entry["customer_id"]), str(entry["id_mission"]))
    before = json.loads(entry["before_payload"]) if entry["before_payload"] else None
    line: dict[str, Any] = dict.fromkeys(MISSION_FIELDS, "")
    if before is None:  # the run created it: it goes
        action = Action.DELETE
        line |= {"idMission": key[1], "customerId": str(key[0] or "")}
    else:  # modified (it gets its payload back) or deleted (made again with it)
        action = Action.CREATE if gone_now else Action.MODIFY
        line |= {name: str(before.get(name, "")) for name in MISSION_FIELDS}
    return line | {
        "row": None, "action": action, "customer_id": key[0], "id_mission": key[1],
        "payload_hash": entry["before_hash"], "verify_first": False,
        "intervention_at": entry["before_intervention_at"],
        "expires_at": entry["before_expires_at"],
    }  # fmt: skip


def save_undo(undo: Undo, path: Path) -> Path:
    data = {
        "format": UNDO_FORMAT, "undo_of_run": undo.run.id, "state_generation": undo.generation,
        "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "conflicts": [list(c.key) for c in undo.conflicts], **plan_to_json(undo.plan),
    }  # fmt: skip
    write_atomically(path, json.dumps(data, ensure_ascii=False, indent=1))
    return path


def load_undo(path: Path, undo: Undo) -> Undo:
    """The saved undo plan, checked against the one made now: the same run, the state
    unchanged since (else ``UsageError``: make it again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != UNDO_FORMAT or data.get("undo_of_run") is None:
            raise ValueError(_("not an undo plan"))
        plan = plan_from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            _("the undo plan {plan} cannot be read: {why}").format(plan=path, why=exc)
        ) from None
    if data["undo_of_run"] != undo.run.id:
        raise UsageError(_("the undo plan {plan} undoes run {saved}, not run {run}").format(
            plan=path, saved=data["undo_of_run"], run=undo.run.id
        ))  # fmt: skip
    if data["state_generation"] != undo.generation:
        raise UsageError(
            _(
                "the undo plan {plan} is stale: the state changed since it was made; make it again"
            ).format(plan=path)
        )
    return replace(undo, plan=plan)


def apply_undo(
    undo: Undo,
    settings: Settings,
    state: Store,
    *,
    allow_started: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    actor: str | None = None,
    ocean: OceanClient | None = None,
    halt: threading.Event | None = None,
) -> Undo:
    """Push the undo plan (unless the guard stops it), holding the missions under way,
    under a run of its own; the feed is locked as for an import. A Ctrl-C or SIGTERM (or
    ``halt``, from the web page's thread) stops it as it stops an import: the calls in flight
    finish, nothing new starts, and the run is recorded with what was done."""
    ocean = ocean or OceanClient.from_settings(settings.ocean, max_connections=concurrency)
    with state.feed_lock(settings.customer_id or 0, undo.plan.feed):
        run_id = state.begin_run("undo", file=_("undo of run {run}").format(run=undo.run.id),
                                 sha256=None, feed=undo.plan.feed, dry_run=False,
                                 actor=actor)  # fmt: skip
        done = asyncio.run(interruptible(halt=halt, work=lambda stop: _push(
            undo, settings, state, ocean, run_id, allow_started, concurrency, stop)))  # fmt: skip
        state.finish_run(run_id, exit_code=done.exit_code, counts=done.counts(),
                         stopped_reason=done.stopped)  # fmt: skip
    return done


async def _push(
    undo: Undo, settings: Settings, state: Store, ocean: OceanClient, run_id: int,
    allow_started: bool, concurrency: int, stop: asyncio.Event,
) -> Undo:  # fmt: skip
    if undo.plan.guard_message:
        stopped = _("mass-delete guard: {why}").format(why=undo.plan.guard_message)
        return replace(undo, stopped=stopped, undo_run_id=run_id)
    holding = Holding(undo.plan)
    async with ocean:
        try:
            if not allow_started:
                holding = await hold_started(undo.plan, ocean, state, settings, run_id=run_id,
                                             concurrency=concurrency)  # fmt: skip
                state.record_outcomes(holding.held)
            pushed = await push(holding.plan, ocean, state, run_id, concurrency=concurrency,
                                stop=stop)  # fmt: skip
        except (StateUnavailable, AuthenticationError, OceanUnavailable) as exc:
            return replace(undo, stopped=str(exc), undo_run_id=run_id)
    return replace(undo, outcomes=tuple(pushed.outcomes), held=tuple(holding.held),
                   stopped=pushed.stopped, undo_run_id=run_id,
                   unknown_statuses=holding.unknown)  # fmt: skip
