"""Failures that know when to stop: a row whose call failed is tried again by the next runs
while it can still matter; once its intervention time has passed, it is reported as expired
(not sent) instead of being retried forever: a cab has no use of a delivery of yesterday."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from importer.diff import Plan
from importer.results import Action

if TYPE_CHECKING:
    from importer.store import Store


def expire_failed(plan: Plan, state: Store, now: dt.datetime) -> Plan:
    """The plan without the creates and modifies of past missions whose last call failed:
    those rows become ``expired``; the others are planned as before."""
    changes = plan.changes
    sending = changes["action"].isin([Action.CREATE, Action.MODIFY]) & changes["row"].notna()
    if not sending.any():
        return plan
    # Compared in UTC whatever the column's dtype (all missing: naive NaT; else UTC times).
    when = pd.to_datetime(changes["intervention_at"], utc=True)
    past = sending & (when < pd.Timestamp(now).tz_convert("UTC"))
    if not past.any():
        return plan
    keys = list(zip(changes.loc[past, "customer_id"].astype(int), changes.loc[past, "id_mission"],
                    strict=True))  # fmt: skip
    failed = state.failed_last(keys)
    expired = past & pd.Series(
        [(int(c), str(i)) in failed for c, i in zip(changes["customer_id"], changes["id_mission"],
                                                   strict=True)], index=changes.index,
    )  # fmt: skip
    if not expired.any():
        return plan
    row_actions = plan.row_actions.copy()
    row_actions.loc[changes.loc[expired, "row"].astype("int64").tolist()] = Action.EXPIRED
    return replace(plan, changes=changes[~expired].reset_index(drop=True), row_actions=row_actions)
