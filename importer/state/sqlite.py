"""The state store in one SQLite file: the zero-setup default, one host.

WAL mode (readers never wait for the writer); the schema is versioned (``PRAGMA
user_version``) and migrated forward. The locks (one per feed being imported, one per inbox
file being claimed) are OS locks on files of ``<state>.locks/``: they go away with the
process, even on ``kill -9``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from importer.errors import StateError, StateUnavailable
from importer.i18n import _, lazy, system_reason
from importer.paths import cannot_write_in, try_lock
from importer.schemas.state import JOURNAL_TABLE
from importer.state.base import SqlStore
from importer.state.locks import Held

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
    # 3: a generation per feed (another feed's run leaves a plan fresh), the store's name.
    """
    CREATE TABLE generations (feed TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO generations (feed, value) SELECT DISTINCT feed,
        (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation') FROM missions;
    INSERT INTO meta VALUES ('store_id', lower(hex(randomblob(16))))
    """,
    # 4: who ran each run; the journal of what each mission was before a run changed it.
    f"""
    ALTER TABLE runs ADD COLUMN actor TEXT;
    {JOURNAL_TABLE}
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


class StateStore(SqlStore):
    """The state in one SQLite file; ``StateStore(":memory:")`` for a throwaway one."""

    def __init__(self, path: Path | str = DEFAULT_STATE_PATH) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        self.where = str(self.path or ":memory:")
        if self.path is not None:
            _refuse_unwritable(self.path)
        try:
            # Two runs of two feeds write at once: the second waits for the first's
            # transaction (a few ms) rather than fail.
            self._db = sqlite3.connect(
                str(self.path or ":memory:"), isolation_level=None, check_same_thread=False,
                timeout=30,
            )  # fmt: skip
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
        self._held: list[Held] = []

    def close(self) -> None:
        for held in list(self._held):
            held.release()
        self._db.close()

    # -- schema and locks ------------------------------------------------------------------

    def _migrate(self) -> None:
        if self.schema_version() == SCHEMA_VERSION:
            return  # the usual case: no write lock taken to open the store
        # The version is read again under the write lock: another process (the job creating
        # the store while a status opens it) may have migrated it in between.
        with self._transaction():
            version = self.schema_version()
            self.migrated_from = version if version < SCHEMA_VERSION else None
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    def schema_version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError.newer(self.path, version, SCHEMA_VERSION)
        return version

    def try_hold(self, name: str) -> tuple[Held | None, str]:
        """An OS lock on a file of ``<state>.locks/`` per lock name (a throwaway store in
        memory is one process's own: always granted)."""
        if self.path is None:
            return Held(lambda: None), ""
        folder = self.path.with_name(self.path.name + ".locks")
        try:
            folder.mkdir(exist_ok=True)
            lock_file = folder / f"{_file_name(name)}.lock"
            # A file's claim is not kept once released (one per file ever imported); a feed's is.
            handle, holder = try_lock(lock_file, remove_on_release=name.startswith("file "))
        except OSError as exc:
            raise StateUnavailable.unwritable(self.where, system_reason(exc)) from None
        if handle is None:
            return None, holder

        def release() -> None:
            handle.release()
            self._held.remove(held)

        held = Held(release)
        self._held.append(held)
        return held, ""

    # -- the connection --------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, tuple(params)).fetchall()

    def _named_rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._db.execute(sql, tuple(params))
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
        """One atomic write; a storage failure (a full disk, a mount gone or read-only) is a
        ``StateUnavailable``: the run stops, and what was committed before stays true."""

        def execute(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            return self._db.execute(sql, tuple(params)).fetchall()

        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield execute
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
            raise StateUnavailable.unwritable(self.where, _sqlite_reason(exc)) from None


def _file_name(lock: str) -> str:
    """A lock's file name: readable, and unique whatever the feed's name holds."""
    readable = re.sub(r"[^A-Za-z0-9]+", "-", lock).strip("-")[:60]
    return f"{readable}-{hashlib.sha256(lock.encode()).hexdigest()[:12]}"


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
