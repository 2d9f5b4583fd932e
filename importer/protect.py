"""Ask Ocean before changing what a driver may already hold, and what Ocean no longer has.

Two checks by ``statutMission`` (bounded concurrency), both before a single change is sent:
- ``hold_started``: the missions a plan would modify or delete; one whose status says the
  driver has it in hand (accepted, under way, done: ``Settings.started_statuses``) is held,
  not touched: it gets the outcome ``held`` and the run exits 1 with the rest applied. Ocean
  documents no list of statuses: one the importer does not know is not protected, and listed.
- ``drift``: the missions of the file's scope that the state believes Ocean holds; one that
  Ocean no longer has (deleted in its own screens) is planned again as a create.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from importer.config import DEFAULT_SCOPE, NOT_STARTED_STATUSES, ImportOptions, Settings
from importer.diff import Plan, believed
from importer.i18n import _, quoted
from importer.ocean.answers import plain
from importer.ocean.client import MissionStatus, OceanClient
from importer.push import fetch_statuses, line_outcome
from importer.results import Action, Outcome, OutcomeRecord
from importer.schemas.state import Key
from importer.store import Store
from importer.validate import Checked

TOUCHING = (Action.MODIFY, Action.DELETE)


def in_hand(status: MissionStatus, settings: Settings) -> bool | None:
    """True: the driver has it in hand; False: not yet (or refused); None: a status the
    importer does not know (not protected). Words compared without case and accents."""
    said = plain(status.status.strip())
    if said in {plain(word) for word in settings.started_statuses}:
        return True
    if status.status_code and status.status_code in settings.started_codes:
        return True
    if said in {plain(word) for word in NOT_STARTED_STATUSES}:
        return False
    return None  # unknown, or no status at all: not protected, and listed


@dataclass(frozen=True)
class Holding:
    """The plan to push (without the held missions), and what the statuses said."""

    plan: Plan
    held: list[OutcomeRecord] = field(default_factory=list)
    statuses: dict[Key, str] = field(default_factory=dict)  # for the workbook
    unknown: dict[Key, str] = field(default_factory=dict)  # statuses the importer does not know


async def hold_started(
    plan: Plan,
    ocean: OceanClient,
    state: Store,
    settings: Settings,
    *,
    run_id: int,
    concurrency: int,
) -> Holding:
    """Leave out of ``plan`` every modify and delete of a mission the driver has in hand."""
    changes = plan.changes
    touching = changes["action"].isin(TOUCHING).to_numpy()
    keys = list(zip(changes["customer_id"].astype(int), changes["id_mission"], strict=True))
    asked = sorted({key for key, touches in zip(keys, touching, strict=True) if touches})
    if not asked:
        return Holding(plan)
    missing: set[Key] = set()
    found = await fetch_statuses(ocean, state, asked, concurrency=concurrency, missing=missing)
    verdicts: dict[Key, bool | None] = {k: in_hand(status, settings) for k, status in found.items()}
    # A mission whose status could not be had is not touched either (it may be under way);
    # one Ocean does not have is left to its call, which says so.
    verdicts |= {key: True for key in asked if key not in found and key not in missing}
    pairs = zip(keys, touching, strict=True)
    held_mask = np.array([touches and verdicts.get(key) is True for key, touches in pairs])
    held = [
        _held(line, found.get((int(line["customer_id"]), str(line["id_mission"]))), run_id)
        for line in changes[held_mask].to_dict(orient="records")
    ]
    return Holding(
        replace(plan, changes=changes[~held_mask].reset_index(drop=True)),
        held,
        {key: status.describe() for key, status in found.items()},
        {key: found[key].describe() for key, verdict in verdicts.items() if verdict is None},
    )


def _held(line: dict[Any, Any], status: MissionStatus | None, run_id: int) -> OutcomeRecord:
    if status is None:
        message = _(
            "Ocean did not say where this mission stands, so it is not touched (it may "
            "be under way); the next run asks again"
        )
    elif line["action"] == Action.DELETE:
        message = _(
            "the driver has this mission in hand (Ocean: {status}), so it is not deleted; "
            "to delete it anyway: --allow-started, or « Apply anyway » on the web page"
        ).format(status=quoted(status.status or status.status_code))
    else:
        message = _(
            "the driver has this mission in hand (Ocean: {status}), so it is not "
            "modified; to send the change anyway: --allow-started, or « Apply anyway » on the "
            "web page"
        ).format(status=quoted(status.status or status.status_code))
    return line_outcome(line, run_id, Outcome.HELD, message=message)


async def drift(
    checked: Checked,
    state: Store,
    options: ImportOptions,
    ocean: OceanClient,
    now: dt.datetime,
    closing: bool = False,
) -> tuple[frozenset[Key], dict[Key, str], dict[Key, str]]:
    """``--refresh``: which of the missions the state believes Ocean holds (``believed``) it
    no longer has, where the others stand, and which of them their driver refused
    (``closing``: the client is closed after, for a plan that asks nothing else)."""
    keys = believed(checked, state.known(), feed=options.feed,
                    scope=options.scope or DEFAULT_SCOPE, now=now)  # fmt: skip
    missing: set[Key] = set()
    async with ocean if closing else contextlib.nullcontext(ocean):
        found = await fetch_statuses(ocean, state, keys, concurrency=options.concurrency,
                                     missing=missing)  # fmt: skip
    said = {key: status.describe() for key, status in found.items()}
    refused = {key: said[key] for key, status in found.items() if status.refused}
    return frozenset(missing), said, refused
