"""Properties, checked on many generated cases (hypothesis)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.columns import map_columns
from importer.config import Guard, Settings
from importer.diff import diff, payload_hashes, payloads
from importer.errors import PlanningFileError
from importer.read import RawSheet
from importer.schemas.aliases import alias_table
from importer.schemas.api import API_DATE_FORMAT
from importer.schemas.state import KNOWN_COLUMNS
from importer.validate import Checked, validate
from tests.helpers import HEADERS, NOW, mission

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Sydney"]


def checked_from(rows: list[list[Any]], headers: list[str], zone: str = "UTC") -> Checked:
    """Validate cells given as Python values, straight from memory (no file in between)."""
    grid = np.empty((len(rows) + 1, len(headers)), dtype=object)
    grid[0, :] = headers
    for n, row in enumerate(rows, start=1):
        grid[n, :] = row
    raw = RawSheet(Path("memoire.xlsx"), "xlsx", "Planning", grid,
                   np.arange(1, len(rows) + 2), 0, "0" * 64)  # fmt: skip
    sheet = map_columns(raw, alias_table(), max_rows=1000)
    return validate(sheet, Settings(timezone=zone, customer_id=7), now=NOW)


# -- applying the plan gives exactly the planning ------------------------------------------

keys = st.sampled_from([f"M{n}" for n in range(12)])


@st.composite
def a_planning_and_a_state(draw: st.DrawFn) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    ids = draw(st.lists(keys, unique=True, min_size=1, max_size=10))  # an empty file is refused
    rows = [
        mission(idMission=i, commentaire=draw(st.sampled_from(["a", "b", None])),
                nomVeh=draw(st.sampled_from(["VL-1", "VL-2", None])))  # None: an invalid row
        for i in ids
    ]  # fmt: skip
    state = []
    for key in draw(st.lists(keys, unique=True, max_size=12)):
        state.append({
            "customer_id": 7, "id_mission": key,
            "feed": draw(st.sampled_from(["f", "f", "other"])),
            "payload_hash": draw(st.sampled_from([None, "stale", "x"])),
            "pending_create": draw(st.booleans()), "deleted": draw(st.booleans()),
            "intervention_at": pd.Timestamp(draw(st.sampled_from(
                ["2026-11-22 08:00", "2026-11-24 07:30", "2026-11-30 07:30"])), tz="UTC"),
            "expires_at": pd.NaT,
        })  # fmt: skip
    frame = pd.DataFrame(state, columns=list(KNOWN_COLUMNS))
    frame["expires_at"] = pd.to_datetime(frame["expires_at"], utc=True)
    frame["intervention_at"] = pd.to_datetime(frame["intervention_at"], utc=True)
    frame["customer_id"] = frame["customer_id"].astype("int64")
    return rows, frame


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a_planning_and_a_state())
def test_applying_the_plan_gives_exactly_the_planning(
    case: tuple[list[dict[str, Any]], pd.DataFrame],
) -> None:
    rows, known = case
    headers = [*HEADERS, "commentaire"]
    checked = checked_from([[row.get(h) for h in headers] for row in rows], headers)
    plan = diff(checked, known, feed="f", now=NOW, scope="feed", delete_past=True,
                guard=Guard(allow=True))  # fmt: skip
    changed = list(zip(plan.changes["customer_id"], plan.changes["id_mission"], strict=True))
    assert len(changed) == len(set(changed)), "one call per mission at most"

    # Apply the plan to the state, as the push does when every call succeeds.
    live = {(r.customer_id, r.id_mission): (r.payload_hash, r.feed)
            for r in known.itertuples() if not r.deleted and
            (r.payload_hash is not None or r.pending_create)}  # fmt: skip
    for change in plan.changes.itertuples():
        key = (change.customer_id, change.id_mission)
        if change.action == "delete":
            live.pop(key, None)
        else:
            live[key] = (change.payload_hash, "f")
    for key in zip(plan.forgotten["customer_id"], plan.forgotten["id_mission"], strict=True):
        live.pop(key, None)

    valid = ~checked.invalid
    expected = dict(zip(
        zip([7] * int(valid.sum()), checked.missions.loc[valid, "idMission"], strict=True),
        payload_hashes(payloads(checked))[valid], strict=True))  # fmt: skip
    invalid_ids = set(checked.missions.loc[~valid, "idMission"])
    in_feed = {k: h for k, (h, feed) in live.items() if feed == "f" and k[1] not in invalid_ids}
    assert in_feed == expected  # no missing, no extra, the accepted payloads
    # Invalid rows changed nothing: their missions are as the state had them.
    for key in invalid_ids:
        assert (7, key) not in changed


# -- dates round-trip across time zones and clock changes ----------------------------------

local_times = st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0))  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(ZONES), st.lists(local_times, min_size=1, max_size=20))
def test_dates_round_trip_through_utc(zone: str, times: list[dt.datetime]) -> None:
    headers = list(HEADERS)
    rows = [[f"M{n}", when.strftime("%d/%m/%Y %H:%M"), None, "VL-1", None, None, "rue", "69002",
             "Lyon", "oui", 45.7, 4.8] for n, when in enumerate(times)]  # fmt: skip
    checked = checked_from(rows, headers, zone)
    sent = payloads(checked)["jourHeureInter"]
    tz = ZoneInfo(zone)
    for position, when in enumerate(times):
        row = position + 2
        problems = {p.kind for p in checked.problems if p.row == row}
        exists = (
            when.replace(tzinfo=tz).astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) == when
        )
        if not exists:  # in the spring-forward gap
            assert "time_in_clock_change_gap" in problems
            continue
        back = dt.datetime.strptime(sent.iloc[position], API_DATE_FORMAT).replace(tzinfo=dt.UTC)
        local = back.astimezone(tz)
        assert local.replace(tzinfo=None) == when
        assert local.fold == 0  # a repeated autumn time: the first occurrence
        if when.replace(tzinfo=tz, fold=1).utcoffset() != when.replace(tzinfo=tz).utcoffset():
            assert "time_repeated_by_clock_change" in problems


# -- any cell value: a located problem, never a crash --------------------------------------

cells = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
    st.integers(min_value=-(10**18), max_value=10**18),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.sampled_from(["24/11/2026 08:30", "31/02/2026 08:30", "=1+1", "oui", "1,5", " ", "\x00"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(cells, min_size=len(HEADERS), max_size=len(HEADERS)), min_size=1,
                max_size=8))  # fmt: skip
def test_any_cell_value_is_a_located_problem_never_a_crash(rows: list[list[Any]]) -> None:
    try:
        checked = checked_from(rows, list(HEADERS))
    except PlanningFileError as refused:  # the whole file refused: still a sentence
        assert str(refused)
        return
    assert checked.row_count == len(checked.missions)
    for problem in checked.problems:
        assert problem.message
        if problem.row is not None:
            assert problem.row in checked.missions.index
    sent = payloads(checked)  # what would be sent: strings only, whatever came in
    assert sent.map(lambda v: isinstance(v, str)).all().all()
    assert set(sent["customerId"]) == {"7"}
