"""The state store: real SQLite files, migrations, the lock, a damaged file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from importer.errors import StateError, StateLocked
from importer.results import OutcomeRecord
from importer.state import _MIGRATIONS, SCHEMA_VERSION, MissionTimes, StateStore

TIMES = MissionTimes("2026-11-24T07:30:00+00:00", None)


def outcome(run_id: int, id_mission: str = "A") -> OutcomeRecord:
    return OutcomeRecord(run_id, 4, 4242, id_mission, "create", "ok", 201, "créée", 1)


def test_a_new_store_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as state:
        assert state._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert state._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert state.known().empty


def test_confirmed_changes_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path) as state:
        run_id = state.begin_run("run", file="p.xlsx", sha256="abc", feed="f", dry_run=False)
        generation = state.generation()
        state.record_intent((4242, "A"), feed="f", when=TIMES)
        state.confirm((4242, "A"), feed="f", payload={"idMission": "A"}, payload_hash="h1",
                      when=TIMES, outcome=outcome(run_id))  # fmt: skip
        state.finish_run(run_id, exit_code=0, counts={"action create": 1})
        assert state.generation() == generation + 2
    with StateStore(path) as state:
        [row] = state.known().to_dict(orient="records")
        assert (row["id_mission"], row["payload_hash"], row["pending_create"]) == ("A", "h1", False)
        assert state.accepted_payloads([(4242, "A")]) == {(4242, "A"): {"idMission": "A"}}
        [run] = state.runs()
        assert run.exit_code == 0 and run.counts == {"action create": 1}
        assert [o["outcome"] for o in state.outcomes(run.id)] == ["ok"]


def test_a_deleted_mission_leaves_a_tombstone(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as state:
        run_id = state.begin_run("run", file=None, sha256=None, feed="f", dry_run=False)
        state.confirm((4242, "A"), feed="f", payload={}, payload_hash="h", when=TIMES,
                      outcome=outcome(run_id))  # fmt: skip
        state.confirm_deleted((4242, "A"), outcome=outcome(run_id))
        [row] = state.known().to_dict(orient="records")
        assert row["deleted"] and row["payload_hash"] is None


def test_one_run_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path) as first:
        first.lock()
        # Another process (the lock is an OS lock between processes).
        other = subprocess.run(
            [sys.executable, "-c",
             "import sys; from importer.state import StateStore; from importer.errors import StateLocked\n"
             f"s = StateStore({str(path)!r})\n"
             "try:\n    s.lock()\nexcept StateLocked as e:\n    print(e); sys.exit(e.exit_code)"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert other.returncode == 3
        assert "another ocean-import run is using the state" in other.stdout
        assert "pid" in other.stdout
        with StateStore(path) as second, pytest.raises(StateLocked):
            second.lock()
    with StateStore(path) as after:
        after.lock()  # released when the first closed


def test_a_damaged_file_is_refused_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError) as refused:
        StateStore(path)
    assert refused.value.exit_code == 2
    assert "damaged or not a state file" in str(refused.value)


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateError) as refused:
        StateStore(path)
    assert "newer ocean-import" in str(refused.value)


def test_a_store_migrated_by_another_process_meanwhile_is_not_migrated_twice(
    tmp_path: Path,
) -> None:
    """The job creates the store while a status opens it: the status reads the schema version
    under the write lock, so it never runs a migration the job has just run."""
    path = tmp_path / "state.db"
    job = sqlite3.connect(path, isolation_level=None)
    job.execute("PRAGMA journal_mode = WAL")
    job.execute("BEGIN IMMEDIATE")  # the job migrating the new store, not yet committed
    for script in _MIGRATIONS:
        for statement in filter(str.strip, script.split(";")):
            job.execute(statement)
    job.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    opened: list[object] = []

    def open_store() -> None:
        try:
            StateStore(path).close()
            opened.append("ok")
        except Exception as exc:  # what the status would have shown
            opened.append(exc)

    status = threading.Thread(target=open_store)
    status.start()
    time.sleep(0.5)  # the status has read the version (0) and waits for the write lock
    job.execute("COMMIT")
    job.close()
    status.join(30)
    assert opened == ["ok"]
    with StateStore(path) as state:
        assert state._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
