"""The state store on a PostgreSQL server (psycopg 3): several hosts, one state.

``--state postgresql://user@host:5432/db`` (or ``[state] url``, ``OCEAN_IMPORT_STATE``). The
password comes from the address, libpq's password file (``passfile=`` in the address, or
``~/.pgpass``) or ``PGPASSWORD``; it is never shown: the store is named without it.

One connection per store, in autocommit: each write of the contract is one transaction,
committed before the call to Ocean it announces (the intent) or after the answer it records
(the confirmation), as in SQLite. The locks are session advisory locks held on that
connection, so that a killed process, or a host gone (TCP keepalives: about a minute),
releases them; who holds one is written in ``holders`` for the sentence another run shows.
The schema is versioned (``meta.schema``), migrated under a transaction-level advisory lock
so that two hosts upgrading at once migrate once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import conninfo

from importer.errors import StateError, StateUnavailable
from importer.i18n import _
from importer.paths import holder_words
from importer.schemas.state import JOURNAL_TABLE, TABLES
from importer.state.base import SqlStore
from importer.state.locks import Held, holder_now, lock_number

_MIGRATIONS = (
    # 1: the schema of SQLite's version 3, in PostgreSQL's types.
    """
    CREATE TABLE missions (
        customer_id BIGINT NOT NULL,
        id_mission TEXT NOT NULL,
        feed TEXT NOT NULL,
        payload TEXT,
        payload_hash TEXT,
        pending_create SMALLINT NOT NULL DEFAULT 0,
        deleted SMALLINT NOT NULL DEFAULT 0,
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
        id BIGSERIAL PRIMARY KEY,
        command TEXT NOT NULL,
        file TEXT,
        sha256 TEXT,
        feed TEXT,
        dry_run SMALLINT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        exit_code INTEGER,
        counts TEXT,
        stopped_reason TEXT,
        report TEXT
    );
    CREATE INDEX runs_sha256 ON runs (sha256);
    CREATE TABLE outcomes (
        seq BIGSERIAL PRIMARY KEY,
        run_id BIGINT NOT NULL REFERENCES runs (id),
        row INTEGER,
        customer_id BIGINT NOT NULL,
        id_mission TEXT NOT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        http_status INTEGER,
        message TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        at TEXT NOT NULL
    );
    CREATE INDEX outcomes_run ON outcomes (run_id);
    CREATE TABLE generations (feed TEXT PRIMARY KEY, value BIGINT NOT NULL);
    CREATE TABLE reading (
        sha256 TEXT PRIMARY KEY,
        file TEXT NOT NULL,
        started_at TEXT NOT NULL,
        pid INTEGER NOT NULL
    );
    CREATE TABLE holders (name TEXT PRIMARY KEY, holder TEXT NOT NULL);
    INSERT INTO meta VALUES ('generation', '0'),
        ('store_id', md5(random()::text || clock_timestamp()::text))
    """,
    # 2: as SQLite's 4: who ran each run, the journal.
    f"""
    ALTER TABLE runs ADD COLUMN actor TEXT;
    {JOURNAL_TABLE.replace("INTEGER", "BIGINT")}
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)
_MIGRATION_LOCK = lock_number("ocean-import schema")
# A host that dies holding a lock (no FIN ever comes): the server drops its connection, and
# the lock, after about 30 + 3 x 10 s; the client gives up on a server gone just as soon.
_KEEPALIVES: dict[str, Any] = {
    "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
    "options": "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 "
               "-c tcp_keepalives_count=3",
}  # fmt: skip


def shown(address: str) -> str:
    """The address without its password (what every sentence and the workbooks show)."""
    try:
        parts = conninfo.conninfo_to_dict(address)
    except psycopg.ProgrammingError:
        return "postgresql://?"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


class PostgresStore(SqlStore):
    """The state in a PostgreSQL database (created empty by its administrator)."""

    _outcome_order = "seq"

    def __init__(self, address: str) -> None:
        self.where = shown(address)
        self._secret = str(conninfo.conninfo_to_dict(address).get("password") or "")
        try:
            self._db = psycopg.connect(
                address, autocommit=True, application_name="ocean-import", connect_timeout=15,
                **_KEEPALIVES,
            )  # fmt: skip
        except psycopg.Error as exc:
            raise StateUnavailable.unreachable(self.where, self._reason(exc)) from None
        try:
            self._migrate()
            self._check()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        # closing the connection releases every advisory lock it holds
        self._db.close()

    # -- schema and locks ------------------------------------------------------------------

    def schema_version(self) -> int:
        if self._rows("SELECT to_regclass('meta')")[0][0] is None:
            return 0
        rows = self._rows("SELECT value FROM meta WHERE key = 'schema'")
        version = int(rows[0][0]) if rows else 0
        if version > SCHEMA_VERSION:
            raise StateError.newer(self.where, version, SCHEMA_VERSION)
        return version

    def _migrate(self) -> None:
        if self.schema_version() == SCHEMA_VERSION:
            return
        with self._transaction() as execute:
            execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            version = self.schema_version()  # again, under the lock: another host may have
            self.migrated_from = version if version < SCHEMA_VERSION else None
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    execute(statement)
                execute(
                    "INSERT INTO meta VALUES ('schema', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(number),),
                )

    def _check(self) -> None:
        """The integrity check on open: every table there (PostgreSQL checks its pages)."""
        for table in (*TABLES, "reading", "holders"):
            if self._rows("SELECT to_regclass(?)", (table,))[0][0] is None:
                raise StateError.damaged(
                    self.where, _("the table {table} is missing").format(table=table)
                )

    def try_hold(self, name: str) -> tuple[Held | None, str]:
        key = lock_number(name)
        [(taken,)] = self._rows("SELECT pg_try_advisory_lock(?)", (key,))
        if not taken:
            rows = self._rows("SELECT holder FROM holders WHERE name = ?", (name,))
            return None, holder_words(rows[0][0]) if rows else ""
        with self._transaction() as execute:
            execute(
                "INSERT INTO holders VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder",
                (name, json.dumps(holder_now())),
            )

        def release() -> None:
            if self._db.closed:
                return  # gone with the connection
            if name.startswith("file "):  # one per file ever imported: not kept
                self._rows("DELETE FROM holders WHERE name = ? RETURNING name", (name,))
            self._rows("SELECT pg_advisory_unlock(?)", (key,))

        return Held(release), ""

    def after_load(self) -> None:
        """After a copy: the run numbers go on from the copied ones."""
        self._rows(
            "SELECT setval(pg_get_serial_sequence('runs', 'id'), COALESCE(MAX(id), 0) + 1, "
            "false) FROM runs"
        )

    # -- the connection --------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._failures():
            cursor = self._db.execute(_dialect(sql), tuple(params))
            return cursor.fetchall() if cursor.description else []

    def _named_rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._failures():
            cursor = self._db.execute(_dialect(sql), tuple(params))
            names = [c.name for c in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
        def execute(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            cursor = self._db.execute(_dialect(sql), tuple(params))
            return cursor.fetchall() if cursor.description else []

        with self._failures(), self._db.transaction():
            yield execute

    @contextlib.contextmanager
    def _failures(self) -> Iterator[None]:
        """The server gone, its disk full or read-only: a stop (``StateUnavailable``), and
        what was committed before stays true; a refused statement is a bug, raised as is."""
        try:
            yield
        except (psycopg.OperationalError, psycopg.errors.DiskFull,
                psycopg.errors.ReadOnlySqlTransaction) as exc:  # fmt: skip
            raise StateUnavailable.unwritable(self.where, self._reason(exc)) from None

    def _reason(self, error: psycopg.Error) -> str:
        words = " ".join(str(error).split())
        return words.replace(self._secret, "***") if self._secret else words


def _dialect(sql: str) -> str:
    """The shared SQL's ``?`` placeholders as psycopg's (the queries hold no other ``?``)."""
    return sql.replace("?", "%s")
