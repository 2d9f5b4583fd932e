"""The diff is pure: a checked planning and a state snapshot in, a plan out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from importer.config import MASS_DELETE_FLOOR, Guard, Settings
from importer.diff import diff, differing_fields, payload_hashes, payloads
from importer.pipeline import check_file
from importer.schemas.state import KNOWN_COLUMNS
from importer.validate import Checked
from tests.helpers import NOW, TOMORROW_8_30, mission, write_planning

SETTINGS = Settings(timezone="Europe/Paris", customer_id=4242)
TOMORROW = TOMORROW_8_30.date()


def checked_from(tmp_path: Path, rows: list[dict[str, Any]]) -> Checked:
    return check_file(write_planning(tmp_path / "planning.xlsx", rows), SETTINGS, now=NOW)


def known(*entries: dict[str, Any]) -> pd.DataFrame:
    """A state snapshot; each entry names what differs from a live mission of feed 'f'."""
    base = {
        "customer_id": 4242, "feed": "f", "payload_hash": "old", "pending_create": False,
        "deleted": False, "intervention_at": pd.Timestamp("2026-11-24 07:30", tz="UTC"),
        "expires_at": pd.NaT,
    }  # fmt: skip
    frame = pd.DataFrame([{**base, **entry} for entry in entries], columns=list(KNOWN_COLUMNS))
    frame["expires_at"] = pd.to_datetime(frame["expires_at"], utc=True)
    return frame


def current_hash(checked: Checked, row: int = 0) -> str:
    return str(payload_hashes(payloads(checked)).iloc[row])


def test_an_empty_state_creates_every_valid_row(tmp_path: Path) -> None:
    checked = checked_from(tmp_path, [mission(idMission="A"), mission(idMission="B", nomVeh=None)])
    plan = diff(checked, known(), feed="f", now=NOW)
    assert plan.row_actions.tolist() == ["create", "invalid"]
    assert plan.changes["id_mission"].tolist() == ["A"]
    assert plan.counts["create"] == 1 and plan.counts["invalid"] == 1


def test_payloads_are_what_ocean_wants(tmp_path: Path) -> None:
    checked = checked_from(tmp_path, [mission(latitude=0.00001, longitude=-1.5, aEnvoyer=None)])
    sent = payloads(checked).iloc[0]
    assert sent["jourHeureInter"] == "24/11/2026 07:30"  # 08:30 in Paris is 07:30 UTC
    assert sent["latitude"] == "0.00001" and sent["longitude"] == "-1.5"
    assert sent["aEnvoyer"] == "false"
    assert sent["customerId"] == "4242"
    assert sent["nomIndi"] == ""


def test_same_payload_is_unchanged_and_a_difference_is_a_modify(tmp_path: Path) -> None:
    checked = checked_from(tmp_path, [mission(idMission="A"), mission(idMission="B")])
    state = known({"id_mission": "A", "payload_hash": current_hash(checked, 0)},
                  {"id_mission": "B", "payload_hash": "something else"})  # fmt: skip
    plan = diff(checked, state, feed="f", now=NOW)
    assert plan.row_actions.tolist() == ["unchanged", "modify"]
    accepted = {(4242, "B"): {**payloads(checked).iloc[1].to_dict(), "ville": "Bron"}}
    assert differing_fields(plan.changes, accepted) == {(4242, "B"): ["ville"]}


def test_a_create_never_confirmed_is_verified_first(tmp_path: Path) -> None:
    checked = checked_from(tmp_path, [mission(idMission="A")])
    state = known({"id_mission": "A", "payload_hash": None, "pending_create": True})
    plan = diff(checked, state, feed="f", now=NOW)
    assert plan.changes[["action", "verify_first"]].values.tolist() == [["create", True]]


def test_a_deleted_mission_in_the_file_again_is_created(tmp_path: Path) -> None:
    checked = checked_from(tmp_path, [mission(idMission="A")])
    state = known({"id_mission": "A", "payload_hash": None, "deleted": True})
    assert diff(checked, state, feed="f", now=NOW).row_actions.tolist() == ["create"]


def test_deletions_stay_in_the_feed_and_the_days_the_file_covers(tmp_path: Path) -> None:
    checked = checked_from(tmp_path, [mission(idMission="A")])
    other_day = pd.Timestamp("2026-11-25 07:30", tz="UTC")
    state = known(
        {"id_mission": "GONE"},
        {"id_mission": "OTHER-DAY", "intervention_at": other_day},
        {"id_mission": "OTHER-FEED", "feed": "g"},
    )
    plan = diff(checked, state, feed="f", now=NOW)
    deleted = plan.changes.loc[plan.changes["action"] == "delete", "id_mission"].tolist()
    assert deleted == ["GONE"]
    whole_feed = diff(checked, state, feed="f", now=NOW, scope="feed")
    assert sorted(whole_feed.changes.loc[whole_feed.changes["action"] == "delete", "id_mission"]) == [
        "GONE", "OTHER-DAY",
    ]  # fmt: skip


def test_past_missions_are_kept_and_expired_ones_forgotten(tmp_path: Path) -> None:
    checked = checked_from(tmp_path, [mission(idMission="A", jourHeureInter=dt.datetime(2026, 11, 23, 9, 0),
                                              jourHeurePeremp=dt.datetime(2026, 11, 23, 23, 0))])  # fmt: skip
    this_morning = pd.Timestamp("2026-11-23 07:00", tz="UTC")
    state = known(
        {"id_mission": "PAST", "intervention_at": this_morning},
        {"id_mission": "EXPIRED", "intervention_at": this_morning,
         "expires_at": pd.Timestamp("2026-11-23 10:00", tz="UTC")},
    )  # fmt: skip
    plan = diff(checked, state, feed="f", now=NOW)
    assert plan.count("delete") == 0
    assert plan.kept_past == 1
    assert plan.forgotten["id_mission"].tolist() == ["EXPIRED"]
    overridden = diff(checked, state, feed="f", now=NOW, delete_past=True)
    assert overridden.changes.loc[
        overridden.changes["action"] == "delete", "id_mission"
    ].tolist() == ["PAST"]


def test_an_invalid_row_protects_its_mission_from_deletion(tmp_path: Path) -> None:
    checked = checked_from(tmp_path, [mission(idMission="A"), mission(idMission="B", nomVeh=None)])
    state = known({"id_mission": "B"})
    plan = diff(checked, state, feed="f", now=NOW)
    assert plan.count("delete") == 0 and plan.count("modify") == 0


@pytest.mark.parametrize(
    "live, kept, tripped",
    [(MASS_DELETE_FLOOR - 1, 1, False), (10, 6, False), (10, 4, True), (10, 5, False)],
    ids=["under-the-floor", "40%-deleted", "60%-deleted", "exactly-half"],
)
def test_the_mass_delete_guard(tmp_path: Path, live: int, kept: int, tripped: bool) -> None:
    rows = [mission(idMission=f"M{n}") for n in range(kept)]
    checked = checked_from(tmp_path, rows)
    state = known(*({"id_mission": f"M{n}", "payload_hash": current_hash(checked, n)}
                    if n < kept else {"id_mission": f"M{n}"} for n in range(live)))  # fmt: skip
    plan = diff(checked, state, feed="f", now=NOW)
    assert (plan.guard_message is not None) is tripped
    assert diff(checked, state, feed="f", now=NOW, guard=Guard(allow=True)).guard_message is None
    never = diff(checked, state, feed="f", now=NOW, guard=Guard(never_delete=True))
    assert never.count("delete") == 0 and never.skipped_deletions == live - kept


def test_the_guard_has_an_absolute_limit(tmp_path: Path) -> None:
    checked = checked_from(tmp_path, [mission(idMission=f"M{n}") for n in range(20)])
    state = known(*({"id_mission": f"X{n}"} for n in range(5)))
    plan = diff(checked, state, feed="f", now=NOW, guard=Guard(count=4, share=1.0))
    assert plan.guard_message and "more than the limit of 4" in plan.guard_message
