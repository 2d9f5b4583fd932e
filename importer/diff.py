"""What changed since the last import: the plan. Pure functions, no I/O.

``diff(checked, known, ...)`` compares the validated planning with a snapshot of the state
and returns a ``Plan``: one action per input row (create, modify, unchanged, delete,
invalid), the deletions of missions the file no longer holds, the missions to forget, and
the mass-delete guard's verdict. The rules:

- unknown key, or deleted before -> create (checked with a status query first when an
  earlier run recorded the intent to create but never saw Ocean's answer);
- payload differs from the one Ocean accepted -> modify; equal -> unchanged;
- ``action`` = delete -> delete that mission, whatever the scope;
- a key of this feed that the file no longer holds, inside the scope -> delete; but a
  mission already past is kept (unless ``delete_past``) and one past its expiry
  (``jourHeurePeremp``) is forgotten without a call; one outside the scope is kept, and
  listed (``kept``) with its reason, so that nobody believes that removing the row
  cancelled it; the scope is the file's days, every day from its first to its last
  (``range``), or the whole feed;
- a mission that Ocean no longer has (``missing_in_ocean``: deleted in Ocean's own screens,
  found by a drift check) is not believed to exist: created again if the file holds it,
  forgotten if not;
- invalid rows change nothing, and protect their key from deletion.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from importer.config import MASS_DELETE_FLOOR, Guard, Scope
from importer.i18n import _, number
from importer.results import Action
from importer.schemas.aliases import ACTION_COLUMN
from importer.schemas.api import (
    API_DATE_FORMAT,
    API_FALSE,
    API_TRUE,
    COORDINATE_FIELDS,
    DATE_FIELDS,
    MISSION_FIELDS,
)
from importer.schemas.state import customer_of, mission_keys
from importer.validate import Checked

# Columns of Plan.changes besides the payload fields.
CHANGE_COLUMNS = ("row", "action", "customer_id", "id_mission", "payload_hash", "verify_first")
KEPT_COLUMNS = ["customer_id", "id_mission", "intervention_at", "reason"]
KEPT_OUTSIDE_SCOPE = "outside_scope"  # its day is not one the file speaks for
KEPT_PAST = "past"  # already past (--delete-past deletes it)


@dataclass(frozen=True)
class Plan:
    """What ``run`` would do. ``changes`` holds one line per call to make, in order."""

    feed: str
    scope: Scope
    row_actions: pd.Series  # action per input row, indexed by row number
    changes: pd.DataFrame  # CHANGE_COLUMNS + the API fields (as strings), one line per call
    forgotten: pd.DataFrame  # (customer_id, id_mission) of expired missions: no call
    kept_past: int  # missions absent from the file but already past: kept
    active_in_scope: int  # the guard's denominator
    guard_message: str | None  # why the mass-delete guard stopped the run (None: it did not)
    skipped_deletions: int = 0  # deletions not planned because of --no-delete
    differs: dict[tuple[int, str], list[str]] = field(default_factory=dict)
    # What Ocean accepted last of each mission modified or deleted (for the review).
    previous: dict[tuple[int, str], dict[str, str]] = field(default_factory=dict)
    # Absent from the file but kept: customer_id, id_mission, intervention_at, reason
    # (KEPT_OUTSIDE_SCOPE, KEPT_PAST).
    kept: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=KEPT_COLUMNS))
    missing_in_ocean: frozenset[tuple[int, str]] = frozenset()

    def count(self, action: str) -> int:
        return int((self.changes["action"] == action).sum())

    @property
    def counts(self) -> dict[str, int]:
        counts = {str(action): int((self.row_actions == action).sum()) for action in Action}
        counts[Action.DELETE] = self.count(Action.DELETE)
        return counts

    @property
    def mutating(self) -> bool:
        return bool(len(self.changes))


def payloads(checked: Checked) -> pd.DataFrame:
    """Every row's API parameters as Ocean wants them: strings, UTC dates, blanks as ''."""
    missions = checked.missions
    out = pd.DataFrame(index=missions.index)
    for name in MISSION_FIELDS:
        column = missions[name]
        if name in DATE_FIELDS:
            # A planning has few distinct times: format each once.
            codes, distinct = pd.factorize(column)
            shown = np.empty(len(distinct) + 1, dtype=object)  # the last one: blank (code -1)
            shown[:-1] = pd.DatetimeIndex(distinct).strftime(API_DATE_FORMAT)
            text = pd.Series(shown[codes], index=column.index, dtype=object)
        elif name == "aEnvoyer":
            text = pd.Series(np.where(column.astype(bool), API_TRUE, API_FALSE), index=column.index)
        elif name in COORDINATE_FIELDS:
            text = _decimal_text(column)
        elif name == "customerId":
            text = column.astype("string")
        else:
            text = column  # text cells were trimmed when read
        out[name] = text.astype(object).where(text.notna(), "")
    return out


def payload_hashes(frame: pd.DataFrame) -> pd.Series:
    """A short digest of each row's payload, stable across runs and versions."""
    columns = [frame[name].astype(str).tolist() for name in MISSION_FIELDS]
    return pd.Series(
        [
            hashlib.blake2b("\x1f".join(values).encode(), digest_size=16).hexdigest()
            for values in zip(*columns, strict=True)
        ],
        index=frame.index,
        dtype=object,
    )


def diff(
    checked: Checked,
    known: pd.DataFrame,
    *,
    feed: str,
    now: dt.datetime,
    scope: Scope = "days",
    delete_past: bool = False,
    guard: Guard | None = None,
    missing_in_ocean: frozenset[tuple[int, str]] = frozenset(),
) -> Plan:
    """The plan that brings Ocean from what ``known`` says to what the planning says."""
    guard = guard or Guard()
    if missing_in_ocean and len(known):  # what Ocean no longer has is not believed to exist
        keys = zip(known["customer_id"].tolist(), known["id_mission"].tolist(), strict=True)
        missing = np.array([key in missing_in_ocean for key in keys], dtype=bool)
        known = known.assign(deleted=known["deleted"].astype(bool) | missing)
    now_utc = pd.Timestamp(now).tz_convert("UTC")
    missions = checked.missions
    index = missions.index
    customers, ids = mission_keys(missions)
    cancelling = missions[ACTION_COLUMN].eq("delete").to_numpy() & ~checked.invalid.to_numpy()
    valid = ~checked.invalid.to_numpy() & ~cancelling

    live = known[~known["deleted"].astype(bool)] if len(known) else known
    file_rows = pd.DataFrame({"customer_id": customers, "id_mission": ids}, index=index)
    merged = file_rows.merge(
        live[["customer_id", "id_mission", "payload_hash", "pending_create"]],
        on=["customer_id", "id_mission"],
        how="left",
    ).set_index(index)

    sent = payloads(checked)
    hashes = payload_hashes(sent)
    confirmed = merged["payload_hash"].notna().to_numpy()
    same = confirmed & (merged["payload_hash"].to_numpy() == hashes.to_numpy())
    pending = merged["pending_create"].fillna(False).astype(bool).to_numpy() & ~confirmed
    actions = np.select(
        [~valid & ~cancelling, cancelling, same, confirmed],
        [Action.INVALID, Action.DELETE, Action.UNCHANGED, Action.MODIFY],
        Action.CREATE,
    )
    # An explicit delete of a mission the state already deleted has nothing left to do.
    tombstones = known[known["deleted"].astype(bool)] if len(known) else known
    if cancelling.any() and len(tombstones):
        gone_keys = set(zip(tombstones["customer_id"], tombstones["id_mission"], strict=True))
        gone = np.array([(c, i) in gone_keys for c, i in zip(customers, ids, strict=True)])
        actions = np.where(cancelling & gone, Action.UNCHANGED, actions)
    row_actions = pd.Series(actions, index=index, name="action")

    to_send = np.isin(actions, (Action.CREATE, Action.MODIFY)) | (actions == Action.DELETE)
    changes = sent[to_send].copy()
    changes.insert(0, "row", index[to_send].to_numpy())
    changes.insert(1, "action", actions[to_send])
    changes.insert(2, "customer_id", customers[to_send].to_numpy())
    changes.insert(3, "id_mission", ids[to_send].to_numpy())
    changes.insert(4, "payload_hash", hashes[to_send].to_numpy())
    # A create some earlier run may have sent without seeing the answer: ask Ocean first.
    changes.insert(5, "verify_first", (pending & (actions == Action.CREATE))[to_send])
    changes["intervention_at"] = missions.loc[to_send, "jourHeureInter"].to_numpy()
    changes["expires_at"] = missions.loc[to_send, "jourHeurePeremp"].to_numpy()

    # Missions of this feed that the file no longer holds (any key it names, valid or not,
    # is not absent: an invalid row protects its mission).
    candidates = live[live["feed"] == feed] if len(live) else live
    named = set(zip(customers.tolist(), ids.tolist(), strict=True))
    if len(candidates):
        not_named = [
            key not in named
            for key in zip(candidates["customer_id"].tolist(), candidates["id_mission"].tolist(),
                           strict=True)
        ]  # fmt: skip
        candidates = candidates[np.array(not_named, dtype=bool)]
    in_scope = _in_scope(candidates, scope, missions, checked.timezone)
    outside = candidates[~in_scope & (candidates["intervention_at"] >= now_utc).to_numpy()]
    candidates = candidates[in_scope]
    expired = candidates["expires_at"].notna() & (candidates["expires_at"] < now_utc)
    forgotten = candidates.loc[expired, ["customer_id", "id_mission"]].reset_index(drop=True)
    if vanished := sorted(missing_in_ocean - named):  # gone from Ocean and from the file
        forgotten = pd.concat([forgotten, pd.DataFrame(vanished, columns=forgotten.columns)],
                              ignore_index=True)  # fmt: skip
    remaining = candidates[~expired]
    past = remaining["intervention_at"] < now_utc
    active_in_scope = _active_in_scope(live, feed, scope, missions, checked.timezone, now_utc)
    absent = remaining if delete_past else remaining[~past]
    past_kept = remaining.iloc[0:0] if delete_past else remaining[past]
    kept_past = len(past_kept)
    kept = pd.concat(
        [outside.assign(reason=KEPT_OUTSIDE_SCOPE), past_kept.assign(reason=KEPT_PAST)],
        ignore_index=True,
    )[KEPT_COLUMNS].sort_values(["intervention_at", "id_mission"], ignore_index=True)

    deletions = _deletion_lines(absent)
    guard_message = None
    skipped = 0
    if guard.never_delete:
        skipped = len(deletions) + int((changes["action"] == Action.DELETE).sum())
        deletions = deletions.iloc[0:0]
        changes = changes[changes["action"] != Action.DELETE]
        row_actions = row_actions.where(row_actions != Action.DELETE, Action.UNCHANGED)
    elif not guard.allow:
        guard_message = mass_delete_message(len(deletions), active_in_scope, guard)
    changes = pd.concat([changes, deletions], ignore_index=True) if len(deletions) else changes
    changes = changes.reset_index(drop=True)
    return Plan(
        feed=feed,
        scope=scope,
        row_actions=row_actions,
        changes=changes,
        forgotten=forgotten,
        kept_past=kept_past,
        active_in_scope=active_in_scope,
        guard_message=guard_message,
        skipped_deletions=skipped,
        kept=kept,
        missing_in_ocean=missing_in_ocean,
    )


def believed(
    checked: Checked, known: pd.DataFrame, *, feed: str, scope: Scope, now: dt.datetime
) -> list[tuple[int, str]]:
    """The missions a drift check asks Ocean about: those the state believes Ocean holds
    (confirmed, not deleted, not past, not expired) that the file names, or that are of its
    feed and in its scope."""
    if not len(known):
        return []
    now_utc = pd.Timestamp(now).tz_convert("UTC")
    live = known[~known["deleted"].astype(bool) & known["payload_hash"].notna()]
    live = live[(live["intervention_at"] >= now_utc)
                & ~(live["expires_at"].notna() & (live["expires_at"] < now_utc))]  # fmt: skip
    customers, ids = mission_keys(checked.missions)
    named = set(zip(customers.tolist(), ids.tolist(), strict=True))
    keys = list(zip(live["customer_id"].tolist(), live["id_mission"].tolist(), strict=True))
    ours = (live["feed"] == feed).to_numpy() & _in_scope(live, scope, checked.missions,
                                                          checked.timezone)  # fmt: skip
    return sorted(key for key, mine in zip(keys, ours, strict=True) if mine or key in named)


def differing_fields(
    changes: pd.DataFrame, accepted: Mapping[tuple[int, str], Mapping[str, str]]
) -> dict[tuple[int, str], list[str]]:
    """For each modify, the API fields whose value differs from the accepted payload."""
    modifies = changes[changes["action"] == Action.MODIFY]
    found: dict[tuple[int, str], list[str]] = {}
    for line in modifies[["customer_id", "id_mission", *MISSION_FIELDS]].itertuples(index=False):
        key = (int(line[0]), str(line[1]))
        old = accepted.get(key, {})
        new = dict(zip(MISSION_FIELDS, line[2:], strict=True))
        found[key] = [name for name in MISSION_FIELDS if str(old.get(name, "")) != str(new[name])]
    return found


def _deletion_lines(absent: pd.DataFrame) -> pd.DataFrame:
    lines = pd.DataFrame(
        {
            "row": pd.Series([None] * len(absent), dtype=object),
            "action": Action.DELETE,
            "customer_id": absent["customer_id"].to_numpy(),
            "id_mission": absent["id_mission"].to_numpy(),
            "payload_hash": None,
            "verify_first": False,
        }
    )
    for name in MISSION_FIELDS:
        lines[name] = ""
    lines["idMission"] = lines["id_mission"]
    lines["customerId"] = [str(customer_of(c) or "") for c in lines["customer_id"]]
    lines["intervention_at"] = absent["intervention_at"].to_numpy()
    lines["expires_at"] = absent["expires_at"].to_numpy()
    return lines


def _active_in_scope(
    live: pd.DataFrame,
    feed: str,
    scope: Scope,
    missions: pd.DataFrame,
    timezone: str,
    now_utc: pd.Timestamp,
) -> int:
    """Missions of the feed, in scope, not past and not expired: what deletions compare to."""
    if not len(live):
        return 0
    mine = live[live["feed"] == feed]
    mine = mine[_in_scope(mine, scope, missions, timezone)]
    active = (mine["intervention_at"] >= now_utc) & ~(
        mine["expires_at"].notna() & (mine["expires_at"] < now_utc)
    )
    return int(active.sum())


def mass_delete_message(deletions: int, active: int, guard: Guard) -> str | None:
    if deletions > guard.count:
        return _(
            "{n} missions would be deleted, more than the limit of {limit}: check the file; if "
            "it is right, run again with --allow-mass-delete"
        ).format(n=number(deletions), limit=number(guard.count))
    if deletions >= MASS_DELETE_FLOOR and active and deletions > guard.share * active:
        return _(
            "{n} of the {active} active missions the file covers would be deleted (more than "
            "{share}): a truncated or wrong file? If it is right, run again with "
            "--allow-mass-delete"
        ).format(n=number(deletions), active=number(active), share=f"{guard.share:.0%}")
    return None


def _in_scope(
    candidates: pd.DataFrame, scope: Scope, missions: pd.DataFrame, timezone: str
) -> np.ndarray:
    """Which of the state's missions the file speaks for: those of its days (``days``), of
    every day from its first to its last (``range``), or all of its feed (``feed``)."""
    if scope == "feed" or not len(candidates):
        return np.ones(len(candidates), dtype=bool)
    days = _local_days(missions["jourHeureInter"].dropna(), timezone)
    theirs = _local_days(candidates["intervention_at"], timezone)
    if scope == "range":
        if not len(days):
            return np.zeros(len(candidates), dtype=bool)
        return theirs.between(days.min(), days.max()).to_numpy()
    return theirs.isin(days).to_numpy()


def _local_days(times: pd.Series, timezone: str) -> pd.Series:
    """The calendar day (in the planning's time zone) of each UTC time."""
    return pd.Series(
        pd.DatetimeIndex(times).tz_convert(timezone).normalize().tz_localize(None),
        index=times.index,
    )


def _decimal_text(column: pd.Series) -> pd.Series:
    """Plain decimals (never 1e-05: Ocean wants a number with a point)."""
    text = [
        None if value != value else (shown if "e" not in (shown := repr(value))
                                     else np.format_float_positional(value, trim="-"))
        for value in column.tolist()
    ]  # fmt: skip
    return pd.Series(text, index=column.index, dtype=object)
