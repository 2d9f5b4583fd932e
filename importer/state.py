"""The state store: what Ocean accepted, every run, every row's outcome. One SQLite file.

Per mission ``(customer_id, id_mission)`` it keeps the last payload Ocean confirmed and its
hash, the feed it came from, its intervention and expiry times, the intent to create it
(recorded before the call, cleared by the confirmation) and the last status Ocean reported.
Deleted missions stay as tombstones. Every change is committed at once, so a run killed at
any moment leaves a state the next run can trust.

WAL mode (readers never wait for the writer); the schema is versioned (``PRAGMA
user_version``) and migrated forward. One run at a time holds the lock file
``<state>.lock`` (an OS lock: it goes away with the process, even on ``kill -9``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from importer.errors import StateError, StateLocked, StateUnavailable
from importer.i18n import _, lazy, moment, system_reason
from importer.paths import cannot_write_in, try_lock
from importer.results import OutcomeRecord, RunRecord
from importer.schemas.state import KNOWN_COLUMNS, Key

DEFAULT_STATE_PATH = Path(".ocean-import") / "state.db"

_MIGRATIONS = (
    # 1: the first schema.
    """
    CREATE TABLE missions (
        customer_id INTEGER NOT NULL,
        id_mission TEXT NOT NULL,
        feed TEXT NOT NULL,
        payload TEXT,
        payload_hash TEXT,
        pending_create INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0,
        intervention_at TEXT,
        expires_at TEXT,
        remote_status TEXT,
        remote_status_code TEXT,
        refuse_reason TEXT,
        status_at TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (customer_id, id_mission)
    );
    CREATE INDEX missions_feed ON missions (feed);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        file TEXT,
        sha256 TEXT,
        feed TEXT,
        dry_run INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        exit_code INTEGER,
        counts TEXT,
        stopped_reason TEXT,
        report TEXT
    );
    CREATE INDEX runs_sha256 ON runs (sha256);
    CREATE TABLE outcomes (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        row INTEGER,
        customer_id INTEGER NOT NULL,
        id_mission TEXT NOT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        http_status INTEGER,
        message TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        at TEXT NOT NULL
    );
    CREATE INDEX outcomes_run ON outcomes (run_id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta VALUES ('generation', '0');
    """,
    # 2: the files the scheduled job is reading, so that one that killed it is recognised.
    """
    CREATE TABLE reading (
        sha256 TEXT PRIMARY KEY,
        file TEXT NOT NULL,
        started_at TEXT NOT NULL,
        pid INTEGER NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


class StateStore:
    """The state of one Ocean account's imports; ``StateStore(":memory:")`` for a throwaway one."""

    def __init__(self, path: Path | str = DEFAULT_STATE_PATH) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        if self.path is not None:
            _refuse_unwritable(self.path)
        try:
            self._db = sqlite3.connect(
                str(self.path or ":memory:"), isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            # A file cut short (a power cut mid-copy, a full disk) must not be trusted: the
            # quick check reads every page once (a few ms for a day's missions).
            verdict = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(
                    _("integrity check failed: {verdict}").format(verdict=verdict)
                )
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError.damaged(path, _sqlite_reason(exc)) from None
        self._lock_file: int | None = None

    def close(self) -> None:
        self.unlock()
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema and lock -----------------------------------------------------------------

    def _migrate(self) -> None:
        if self._schema_version() == SCHEMA_VERSION:
            return  # the usual case: no write lock taken to open the store
        # The version is read again under the write lock: another process (the job creating
        # the store while a status opens it) may have migrated it in between.
        with self._transaction():
            version = self._schema_version()
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    def _schema_version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError.newer(self.path, version, SCHEMA_VERSION)
        return version

    def lock(self) -> None:
        """Hold the store for this run; raises ``StateLocked`` when another run holds it."""
        if self.path is None or self._lock_file is not None:
            return
        handle, holder = try_lock(self.path.with_name(self.path.name + ".lock"))
        if handle is None:
            raise StateLocked.held(self.path, holder)
        self._lock_file = handle

    def unlock(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)  # closing releases the lock
            self._lock_file = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; a storage failure (a full disk, a mount gone or read-only) is a
        ``StateUnavailable``: the run stops, and what was committed before stays true."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
                raise  # a bug, not the disk
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise StateUnavailable.unwritable(
                self.path or ":memory:", _sqlite_reason(exc)
            ) from None

    def _bump(self) -> None:
        self._db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
        )

    # -- reading -------------------------------------------------------------------------

    def generation(self) -> int:
        """A number that changes whenever a mission's state does (a plan made before is stale)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0])

    def known(self) -> pd.DataFrame:
        """The snapshot the diff reads (``schemas.state.KNOWN_COLUMNS``)."""
        frame = pd.read_sql_query(
            "SELECT customer_id, id_mission, feed, payload_hash, pending_create, deleted, "
            "intervention_at, expires_at FROM missions",
            self._db,
        )
        frame["customer_id"] = frame["customer_id"].astype("int64")
        frame["id_mission"] = frame["id_mission"].astype(object)
        frame["pending_create"] = frame["pending_create"].astype(bool)
        frame["deleted"] = frame["deleted"].astype(bool)
        for name in ("intervention_at", "expires_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
        return frame[list(KNOWN_COLUMNS)]

    def accepted_payloads(self, keys: Iterable[Key]) -> dict[Key, dict[str, str]]:
        wanted = list(keys)
        found: dict[Key, dict[str, str]] = {}
        for start in range(0, len(wanted), 400):
            chunk = wanted[start : start + 400]
            clause = " OR ".join(["(customer_id = ? AND id_mission = ?)"] * len(chunk))
            rows = self._db.execute(
                f"SELECT customer_id, id_mission, payload FROM missions WHERE {clause}",
                [value for key in chunk for value in key],
            )
            for customer_id, id_mission, payload in rows:
                if payload:
                    found[(customer_id, id_mission)] = json.loads(payload)
        return found

    def mission(self, key: Key) -> dict[str, Any] | None:
        cursor = self._db.execute(
            "SELECT * FROM missions WHERE customer_id = ? AND id_mission = ?", key
        )
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row, strict=True))

    def active_keys(self) -> list[Key]:
        rows = self._db.execute(
            "SELECT customer_id, id_mission FROM missions WHERE deleted = 0 "
            "AND payload IS NOT NULL ORDER BY intervention_at, id_mission"
        )
        return [(int(c), str(i)) for c, i in rows]

    def keys_for(self, ids: list[str], default_customer: int | None) -> list[Key]:
        """The keys of the given missions: the customer the state knows, else the default."""
        keys = []
        for id_mission in ids:
            known = self._db.execute(
                "SELECT customer_id FROM missions WHERE id_mission = ? AND deleted = 0",
                (id_mission,),
            ).fetchall()
            if len(known) == 1:
                keys.append((int(known[0][0]), id_mission))
            elif known:
                keys += [(int(customer), id_mission) for (customer,) in known]
            else:
                keys.append((default_customer or 0, id_mission))
        return keys

    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT id, command, file, sha256, feed, dry_run, started_at, finished_at, "
            "exit_code, counts, stopped_reason, report FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_run_record(*row) for row in rows]

    def imported(self, sha256: str) -> str | None:
        """If a file with this exact content was imported before: which, and when."""
        row = self._db.execute(
            "SELECT file, started_at FROM runs WHERE sha256 = ? AND dry_run = 0 "
            "AND exit_code IN (0, 1) ORDER BY id LIMIT 1",
            (sha256,),
        ).fetchone()
        return (
            None
            if row is None
            else _("{file} imported at {when}").format(
                file=Path(row[0]).name, when=moment(dt.datetime.fromisoformat(row[1]))
            )
        )

    def outcomes(self, run_id: int) -> list[dict[str, Any]]:
        cursor = self._db.execute(
            "SELECT * FROM outcomes WHERE run_id = ? ORDER BY rowid", (run_id,)
        )
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    # -- writing: each call is one committed transaction ---------------------------------

    def feeds(self) -> set[str]:
        """The feeds of the missions the state holds (deleted ones included)."""
        return {row[0] for row in self._db.execute("SELECT DISTINCT feed FROM missions")}

    def begin_reading(self, sha256: str, file: str) -> None:
        """Record, before a file is read, that it is being read (``finish_reading`` after)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO reading (sha256, file, started_at, pid) "
                "VALUES (?, ?, ?, ?)",
                (sha256, file, _now(), os.getpid()),
            )

    def finish_reading(self, sha256: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM reading WHERE sha256 = ?", (sha256,))

    def died_reading(self, sha256: str) -> str | None:
        """When a file with this content was being read by a process that never finished
        reading it (it died on it): ``"at <time> (pid N)"``, else None."""
        row = self._db.execute(
            "SELECT started_at, pid FROM reading WHERE sha256 = ?", (sha256,)
        ).fetchone()
        if row is None:
            return None
        when = moment(dt.datetime.fromisoformat(row[0]))
        return _("at {when} (pid {pid})").format(when=when, pid=row[1])

    def begin_run(
        self, command: str, *, file: str | None, sha256: str | None, feed: str | None, dry_run: bool
    ) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (command, file, sha256, feed, dry_run, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (command, file, sha256, feed, int(dry_run), _now()),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(
        self,
        run_id: int,
        *,
        exit_code: int,
        counts: Mapping[str, int],
        stopped_reason: str | None = None,
        report: str | None = None,
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, exit_code = ?, counts = ?, stopped_reason = ?, "
                "report = ? WHERE id = ?",
                (_now(), exit_code, json.dumps(dict(counts)), stopped_reason, report, run_id),
            )

    def record_intent(self, key: Key, *, feed: str, when: MissionTimes) -> None:
        """Before a create is sent: if no answer comes, the next run asks Ocean first."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO missions (customer_id, id_mission, feed, pending_create, deleted, "
                "intervention_at, expires_at, updated_at) VALUES (?, ?, ?, 1, 0, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET pending_create = 1, feed = excluded.feed, "
                "intervention_at = excluded.intervention_at, expires_at = excluded.expires_at, "
                "updated_at = excluded.updated_at",
                (*key, feed, when.intervention_at, when.expires_at, _now()),
            )
            self._bump()

    def confirm(
        self,
        key: Key,
        *,
        feed: str,
        payload: Mapping[str, str],
        payload_hash: str,
        when: MissionTimes,
        outcome: OutcomeRecord,
    ) -> None:
        """Ocean confirmed a create or modify: remember exactly what it now holds."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO missions (customer_id, id_mission, feed, payload, payload_hash, "
                "pending_create, deleted, intervention_at, expires_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET feed = excluded.feed, payload = excluded.payload, "
                "payload_hash = excluded.payload_hash, pending_create = 0, deleted = 0, "
                "intervention_at = excluded.intervention_at, expires_at = excluded.expires_at, "
                "updated_at = excluded.updated_at",
                (*key, feed, json.dumps(dict(payload), ensure_ascii=False), payload_hash,
                 when.intervention_at, when.expires_at, _now()),
            )  # fmt: skip
            self._bump()
            self._insert_outcome(db, outcome)

    def confirm_deleted(self, key: Key, *, outcome: OutcomeRecord) -> None:
        """The mission is gone from Ocean: keep a tombstone (an explicit delete is then done)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE missions SET deleted = 1, payload = NULL, payload_hash = NULL, "
                "pending_create = 0, updated_at = ? WHERE customer_id = ? AND id_mission = ?",
                (_now(), *key),
            )
            self._bump()
            self._insert_outcome(db, outcome)

    def forget(self, keys: Iterable[Key]) -> None:
        """Drop missions past their expiry: the cab no longer shows them."""
        keys = list(keys)
        if not keys:
            return
        with self._transaction() as db:
            db.executemany("DELETE FROM missions WHERE customer_id = ? AND id_mission = ?", keys)
            self._bump()

    def record_outcome(self, outcome: OutcomeRecord) -> None:
        with self._transaction() as db:
            self._insert_outcome(db, outcome)

    def record_outcomes(self, outcomes: Iterable[OutcomeRecord]) -> None:
        with self._transaction() as db:
            for outcome in outcomes:
                self._insert_outcome(db, outcome)

    def store_status(self, key: Key, *, status: str, code: str, refuse_reason: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE missions SET remote_status = ?, remote_status_code = ?, "
                "refuse_reason = ?, status_at = ? WHERE customer_id = ? AND id_mission = ?",
                (status, code, refuse_reason, _now(), *key),
            )

    @staticmethod
    def _insert_outcome(db: sqlite3.Connection, outcome: OutcomeRecord) -> None:
        db.execute(
            "INSERT INTO outcomes (run_id, row, customer_id, id_mission, action, outcome, "
            "http_status, message, attempts, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (outcome.run_id, outcome.row, outcome.customer_id, outcome.id_mission,
             outcome.action, outcome.outcome, outcome.http_status, outcome.message,
             outcome.attempts, _now()),
        )  # fmt: skip


@dataclass(frozen=True)
class MissionTimes:
    intervention_at: str | None  # ISO 8601, UTC
    expires_at: str | None


def _refuse_unwritable(path: Path) -> None:
    """Say what is wrong with a store that could be read but not written (rather than let
    SQLite call it damaged): every run writes, and WAL mode writes beside the file."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateUnavailable.no_folder(path, folder, system_reason(exc)) from None
    problem = cannot_write_in(folder)
    if problem:
        raise StateUnavailable.folder_read_only(path, folder, problem)
    if path.is_file():
        try:
            with path.open("r+b"):
                pass
        except OSError as exc:
            raise StateUnavailable.read_only(path, system_reason(exc)) from None


# SQLite's own words are English: the usual ones, said in the reader's language.
_SQLITE_REASONS = {
    "file is not a database": lazy("the file is not a database"),
    "database disk image is malformed": lazy("the database is malformed"),
    "database or disk is full": lazy("the disk is full"),
    "attempt to write a readonly database": lazy("the database is read-only"),
    "disk I/O error": lazy("input/output error on the disk"),
    "unable to open database file": lazy("the database file cannot be opened"),
    "database is locked": lazy("the database is locked by another process"),
}


def _sqlite_reason(error: sqlite3.Error) -> str:
    words = str(error)
    return str(_SQLITE_REASONS.get(words, words))


def _run_record(
    id: int, command: str, file: str | None, sha256: str | None, feed: str | None,
    dry_run: int, started_at: str, finished_at: str | None, exit_code: int | None,
    counts: str | None, stopped_reason: str | None, report: str | None,
) -> RunRecord:  # fmt: skip
    return RunRecord(
        id, command, file, sha256, feed, bool(dry_run), started_at, finished_at, exit_code,
        json.loads(counts) if counts else {}, stopped_reason, report,
    )  # fmt: skip


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
