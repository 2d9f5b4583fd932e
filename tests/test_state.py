"""The state store's contract, on both backends (a real SQLite file, a real PostgreSQL
server started by the suite): migrations, what survives a reopen, the locks per feed and
the file claims between processes, a copy from one store to another, a damaged store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from importer.errors import StateError, StateLocked, StateUnavailable
from importer.results import OutcomeRecord
from importer.state import _MIGRATIONS, SCHEMA_VERSION, MissionTimes, StateStore
from importer.state.postgres import SCHEMA_VERSION as PG_SCHEMA_VERSION
from importer.store import copy_state, open_state
from tests.helpers import free_port
from tests.postgres import PASSWORD, PostgresServer

TIMES = MissionTimes("2026-11-24T07:30:00+00:00", None)


def outcome(run_id: int, id_mission: str = "A") -> OutcomeRecord:
    return OutcomeRecord(run_id, 4, 4242, id_mission, "create", "ok", 201, "créée", 1)


def confirm(state: object, id_mission: str, feed: str = "f", run_id: int = 1) -> None:
    state.confirm((4242, id_mission), feed=feed, payload={"idMission": id_mission},  # type: ignore[attr-defined]
                  payload_hash=f"h-{id_mission}", when=TIMES, outcome=outcome(run_id, id_mission))  # fmt: skip


def _script(address: str, code: str) -> list[str]:
    return [sys.executable, "-c", "import sys, time\nfrom importer.store import open_state\n"
            "from importer.errors import StateLocked\n"
            f"store = open_state({address!r})\n{code}"]  # fmt: skip


def in_another_process(address: str, code: str) -> subprocess.CompletedProcess[str]:
    """Python in another process, with ``store`` open on ``address``; its outcome."""
    return subprocess.run(_script(address, code), capture_output=True, text=True, timeout=60,
                          env={**os.environ, "OCEAN_IMPORT_LANG": "en"})  # fmt: skip


def started_process(address: str, code: str) -> subprocess.Popen[str]:
    """The same, left running (use it as a context manager)."""
    return subprocess.Popen(_script(address, code), stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OCEAN_IMPORT_LANG": "en"})  # fmt: skip


def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_new_store_is_migrated_empty_and_keeps_its_name(store_address: str) -> None:
    with open_state(store_address) as state:
        assert state.known().empty and state.runs() == [] and state.feeds() == set()
        name = state.identity()
        assert state.migrated_from == 0
    with open_state(store_address) as state:
        assert state.identity() == name and state.migrated_from is None
        assert state.schema_version() in (SCHEMA_VERSION, PG_SCHEMA_VERSION)


def test_confirmed_changes_survive_a_reopen(store_address: str) -> None:
    with open_state(store_address) as state:
        run_id = state.begin_run("run", file="p.xlsx", sha256="abc", feed="f", dry_run=False)
        before, other = state.generation("f"), state.generation("g")
        state.record_intent((4242, "A"), feed="f", when=TIMES)
        [row] = state.known().to_dict(orient="records")
        assert row["pending_create"] and row["payload_hash"] is None
        confirm(state, "A", run_id=run_id)
        state.finish_run(run_id, exit_code=0, counts={"action create": 1})
        assert state.generation("f") == before + 2
        assert state.generation("g") == other  # another feed's plans stay fresh
    with open_state(store_address) as state:
        [row] = state.known().to_dict(orient="records")
        assert (row["id_mission"], row["payload_hash"], row["pending_create"]) == (
            "A",
            "h-A",
            False,
        )
        assert row["intervention_at"].isoformat() == "2026-11-24T07:30:00+00:00"
        assert state.accepted_payloads([(4242, "A")]) == {(4242, "A"): {"idMission": "A"}}
        [run] = state.runs()
        assert run.exit_code == 0 and run.counts == {"action create": 1} and run.feed == "f"
        assert [o["outcome"] for o in state.outcomes(run.id)] == ["ok"]
        assert state.imported("abc") is not None and state.imported("other") is None
        assert state.feeds() == {"f"} and state.active_keys() == [(4242, "A")]
        assert state.keys_for(["A", "Z"], 99) == [(4242, "A"), (99, "Z")]


def test_deletions_statuses_and_expiry(store_address: str) -> None:
    with open_state(store_address) as state:
        run_id = state.begin_run("run", file=None, sha256=None, feed="f", dry_run=False)
        for id_mission in ("A", "B", "C"):
            confirm(state, id_mission, run_id=run_id)
        state.confirm_deleted((4242, "A"), outcome=outcome(run_id, "A"))
        state.store_status((4242, "B"), status="En cours", code="3", refuse_reason="")
        state.forget([(4242, "C")])
        rows = {r["id_mission"]: r for r in state.known().to_dict(orient="records")}
        assert set(rows) == {"A", "B"}
        assert rows["A"]["deleted"] and rows["A"]["payload_hash"] is None  # a tombstone
        assert state.mission((4242, "B"))["remote_status"] == "En cours"  # type: ignore[index]
        assert [o["id_mission"] for o in state.outcomes(run_id)] == ["A", "B", "C", "A"]


def test_the_reading_guard_names_the_process(store_address: str) -> None:
    with open_state(store_address) as state:
        state.begin_reading("sha", "big.csv")
        assert f"(pid {os.getpid()})" in (state.died_reading("sha") or "")
        state.finish_reading("sha")
        assert state.died_reading("sha") is None


def test_one_run_per_feed_and_two_feeds_at_once(store_address: str) -> None:
    with open_state(store_address) as state, state.feed_lock(4242, "depot-nord"):
        # Another process: the same feed is refused, naming the holder; another feed goes on.
        same = in_another_process(store_address, (
            "try:\n    with store.feed_lock(4242, 'depot-nord'): pass\n"
            "except StateLocked as e:\n    print(e); sys.exit(e.exit_code)"))  # fmt: skip
        assert same.returncode == 3, same.stderr
        said = same.stdout
        assert "is importing the feed 'depot-nord'" in said
        assert f"pid {os.getpid()} on " in said and " since " in said
        other = in_another_process(store_address,
                                   "with store.feed_lock(4242, 'depot-sud'): print('ok')")  # fmt: skip
        assert other.returncode == 0 and other.stdout == "ok\n"
        with open_state(store_address) as second, pytest.raises(StateLocked):
            second.feed_lock(4242, "depot-nord").__enter__()
    with open_state(store_address) as after, after.feed_lock(4242, "depot-nord"):
        pass  # released when the first let go


def test_a_feed_waits_its_turn_when_asked_to(store_address: str) -> None:
    with started_process(store_address, (
        "with store.feed_lock(1, 'f'):\n    print('held', flush=True)\n    time.sleep(1.5)"),
    ) as holder, open_state(store_address) as state:  # fmt: skip
        assert holder.stdout.readline() == "held\n"  # type: ignore[union-attr]
        with state.feed_lock(1, "f", wait=30):
            assert holder.wait(5) == 0  # it had finished: we waited for it


def test_a_killed_holder_releases_its_feed_and_its_claims(store_address: str) -> None:
    with started_process(store_address, (
        "store.try_hold('feed 1 f'); store.claim_file('sha-1')\n"
        "print('held', flush=True)\ntime.sleep(600)"),
    ) as holder, open_state(store_address) as state:  # fmt: skip
        assert holder.stdout.readline() == "held\n"  # type: ignore[union-attr]
        assert state.claim_file("sha-1") is None and state.try_hold("feed 1 f")[0] is None
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
        # PostgreSQL ends the dead client's session (and its locks) once it sees the socket shut.
        until(lambda: state.try_hold("feed 1 f")[0] is not None)
        claim = state.claim_file("sha-1")
        assert claim is not None


def test_a_file_is_claimed_by_one_process_at_a_time(store_address: str) -> None:
    with open_state(store_address) as state:
        claim = state.claim_file("sha-1")
        assert claim is not None
        taken = in_another_process(store_address, "print(store.claim_file('sha-1') is None, "
                                                  "store.claim_file('sha-2') is None)")  # fmt: skip
        assert taken.stdout == "True False\n"
        claim.release()
        again = in_another_process(store_address, "print(store.claim_file('sha-1') is None)")
        assert again.stdout == "False\n"


@pytest.mark.parametrize("direction", ["sqlite-to-postgresql", "postgresql-to-sqlite"])
def test_a_copy_carries_every_mission_run_and_outcome(
    direction: str, tmp_path: Path, pg_url: str
) -> None:
    source, target = str(tmp_path / "state.db"), pg_url
    if direction == "postgresql-to-sqlite":
        source, target = target, source
    with open_state(source) as state:
        first = state.begin_run("run", file="p.xlsx", sha256="abc", feed="f", dry_run=False)
        for id_mission in ("A", "B"):
            confirm(state, id_mission, run_id=first)
        state.confirm_deleted((4242, "B"), outcome=outcome(first, "B"))
        state.finish_run(first, exit_code=0, counts={"action create": 2})
        name, generation, known = state.identity(), state.generation("f"), state.known()
    with open_state(source) as origin, open_state(target) as destination:
        copied = copy_state(origin, destination)
    assert (copied["missions"], copied["runs"], copied["outcomes"]) == (2, 1, 3)
    with open_state(target) as state:
        assert (
            state.known()
            .sort_values("id_mission")
            .reset_index(drop=True)
            .equals(known.sort_values("id_mission").reset_index(drop=True))
        )
        assert state.identity() == name and state.generation("f") == generation
        assert [o["id_mission"] for o in state.outcomes(first)] == ["A", "B", "B"]
        assert state.begin_run("run", file=None, sha256=None, feed="f", dry_run=False) > first
        assert state.imported("abc") is not None
    with (open_state(source) as origin, open_state(target) as destination,
          pytest.raises(StateError, match="a copy goes into an empty store only")):  # fmt: skip
        copy_state(origin, destination)


def test_a_store_from_a_newer_version_is_refused(store_address: str) -> None:
    open_state(store_address).close()
    if store_address.startswith("postgresql://"):
        with psycopg.connect(store_address, autocommit=True) as db:
            db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    else:
        with sqlite3.connect(store_address) as db:
            db.execute("PRAGMA user_version = 99")
    with pytest.raises(StateError, match="was written by a newer ocean-import"):
        open_state(store_address)


def test_a_damaged_store_is_refused_with_a_sentence(store_address: str) -> None:
    if store_address.startswith("postgresql://"):
        open_state(store_address).close()
        with psycopg.connect(store_address, autocommit=True) as db:
            db.execute("DROP TABLE outcomes")
        cause = "the table outcomes is missing"
    else:
        Path(store_address).write_bytes(b"this is not a database" * 100)
        cause = "the file is not a database"
    with pytest.raises(StateError) as refused:
        open_state(store_address)
    assert refused.value.exit_code == 2
    assert "damaged or not a state file" in str(refused.value) and cause in str(refused.value)


def test_two_hosts_opening_a_new_database_at_once_migrate_it_once(pg_url: str) -> None:
    openers = [started_process(pg_url, "print(store.schema_version())") for _ in range(4)]
    for opener in openers:
        out, _ = opener.communicate(timeout=60)
        assert opener.returncode == 0 and out == f"{PG_SCHEMA_VERSION}\n"
    with open_state(pg_url) as state:
        assert state.schema_version() == PG_SCHEMA_VERSION and state.runs() == []


def test_the_password_comes_from_the_environment_or_a_passfile_and_is_never_said(
    postgres: PostgresServer, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = pg_url.replace(f":{PASSWORD}@", "@")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with pytest.raises(StateUnavailable) as refused:
        open_state(bare)
    assert refused.value.exit_code == 3 and "cannot be reached" in str(refused.value)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with open_state(bare) as state:
        assert PASSWORD not in state.where
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres.port}:*:ocean:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    open_state(bare).close()
    wrong = pg_url.replace(PASSWORD, "wrong-password")
    with pytest.raises(StateUnavailable) as refused:
        open_state(wrong)
    assert "wrong-password" not in str(refused.value) and "password" in str(refused.value)
    down = pg_url.replace(f":{postgres.port}/", f":{free_port()}/")
    with pytest.raises(StateUnavailable) as refused:
        open_state(down)
    assert PASSWORD not in str(refused.value) and "127.0.0.1" in str(refused.value)


def test_an_sqlite_store_is_in_wal_mode_with_its_locks_beside_it(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as state, state.feed_lock(1, "Tournées nord"):
        assert state._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert state._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        [lock] = (tmp_path / "state.db.locks").iterdir()
        assert lock.name.startswith("feed-1-Tourn-es-nord-")


def test_an_sqlite_store_of_the_previous_version_keeps_its_feeds_generations(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:  # a store as version 2 left it
        for script in _MIGRATIONS[:2]:
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
        db.execute("PRAGMA user_version = 2")
        db.execute("UPDATE meta SET value = '7' WHERE key = 'generation'")
        db.execute("INSERT INTO missions (customer_id, id_mission, feed, updated_at) "
                   "VALUES (1, 'A', 'f', 'x')")  # fmt: skip
    with StateStore(path) as state:
        assert state.migrated_from == 2
        assert state.generation("f") == 7  # a plan saved before the upgrade is still fresh
        assert len(state.identity()) == 32


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
