"""What both backends share: every query of the state store, written once.

The SQL is the common ground of SQLite and PostgreSQL (``?`` placeholders, which the
PostgreSQL backend turns into psycopg's; ``INSERT ... ON CONFLICT (...) DO UPDATE``;
``RETURNING``; integers for flags, ISO 8601 text for times), so that the two stores cannot
drift apart. A backend gives the connection, the transaction, the migrations and the locks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pandas as pd

from importer.errors import StateLocked
from importer.i18n import _, moment
from importer.results import OutcomeRecord, RunRecord
from importer.schemas.state import JOURNAL_DAYS, KNOWN_COLUMNS, TABLES, Key
from importer.state.locks import Held

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MissionTimes:
    intervention_at: str | None  # ISO 8601, UTC
    expires_at: str | None


class SqlStore:
    """The state store's contract over a SQL connection (see ``importer.state``)."""

    path: Path | None = None  # the file, for SQLite
    where: str  # the store as a person may read it (never a password)
    migrated_from: int | None = None  # the schema version found, when opening migrated it
    _outcome_order = "rowid"  # the order outcomes were recorded in

    # -- what a backend provides -----------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _named_rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
        """One atomic write: yields ``execute(sql, params) -> rows`` (the backend's)."""
        raise NotImplementedError
        yield

    _batch: Callable[..., list[tuple[Any, ...]]] | None = None  # the open batch's execute

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """The writes made inside share one transaction (a group commit): all are committed
        when it ends, or none is."""
        with self._begin() as execute:
            self._batch = execute
            try:
                yield
            finally:
                self._batch = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
        """One atomic write, or a part of the open batch's."""
        if self._batch is not None:
            yield self._batch
            return
        with self._begin() as execute:
            yield execute

    def try_hold(self, name: str) -> tuple[Held | None, str]:
        """Take the lock ``name`` for this process: ``(held, "")``, or ``(None, holder)``
        (who holds it: pid, host, since) when another process has it. A lock goes away with
        the process that holds it, even killed."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        raise NotImplementedError

    def after_load(self) -> None:
        """What a backend must do once a copy has filled it (nothing, for most)."""

    # -- locks -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def feed_lock(self, customer: int, feed: str, *, wait: float = 0) -> Iterator[None]:
        """Hold the feed ``(customer, feed)`` for one run: two runs of one feed never
        interleave, two feeds proceed at once. Waits up to ``wait`` seconds for a run of the
        feed to finish; then ``StateLocked`` naming the holder."""
        key, deadline = f"feed {customer} {feed}", time.monotonic() + wait
        held, holder = self.try_hold(key)
        if held is None and wait > 0:
            said = StateLocked.waiting(feed, holder, wait)
            log.info(said, extra={"event": "feed_wait", "feed": feed})
        while held is None and time.monotonic() < deadline:
            time.sleep(0.2)
            held, holder = self.try_hold(key)
        if held is None:
            raise StateLocked.feed_held(self.where, feed, holder)
        try:
            yield
        finally:
            held.release()

    def claim_file(self, sha256: str) -> Held | None:
        """Claim a file of the inbox (by its content) for this watcher: None when another
        watcher is on it. The claim goes away with the watcher, even killed."""
        held, _holder = self.try_hold(f"file {sha256}")
        return held

    # -- reading ---------------------------------------------------------------------------

    def generation(self, feed: str) -> int:
        """A number that changes whenever a mission of the feed does (a plan made before is
        then stale); other feeds' runs leave it alone."""
        rows = self._rows("SELECT value FROM generations WHERE feed = ?", (feed,))
        return int(rows[0][0]) if rows else 0

    def identity(self) -> str:
        """The store's own name (kept by a copy): an inbox is bound to one store."""
        return str(self._rows("SELECT value FROM meta WHERE key = 'store_id'")[0][0])

    def known(self) -> pd.DataFrame:
        """The snapshot the diff reads (``schemas.state.KNOWN_COLUMNS``)."""
        names = ["customer_id", "id_mission", "feed", "payload_hash", "pending_create",
                 "deleted", "intervention_at", "expires_at"]  # fmt: skip
        rows = self._rows(f"SELECT {', '.join(names)} FROM missions")
        frame = pd.DataFrame(rows, columns=names, dtype=object)  # None stays None
        frame["customer_id"] = frame["customer_id"].astype("int64")
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
            rows = self._rows(
                f"SELECT customer_id, id_mission, payload FROM missions WHERE {clause}",
                [value for key in chunk for value in key],
            )
            for customer_id, id_mission, payload in rows:
                if payload:
                    found[(int(customer_id), id_mission)] = json.loads(payload)
        return found

    def mission(self, key: Key) -> dict[str, Any] | None:
        rows = self._named_rows(
            "SELECT * FROM missions WHERE customer_id = ? AND id_mission = ?", key
        )
        return rows[0] if rows else None

    def active_keys(self) -> list[Key]:
        rows = self._rows(
            "SELECT customer_id, id_mission FROM missions WHERE deleted = 0 "
            "AND payload IS NOT NULL ORDER BY intervention_at, id_mission"
        )
        return [(int(c), str(i)) for c, i in rows]

    def keys_for(self, ids: list[str], default_customer: int | None) -> list[Key]:
        """The keys of the given missions: the customer the state knows, else the default."""
        keys = []
        for id_mission in ids:
            known = self._rows(
                "SELECT customer_id FROM missions WHERE id_mission = ? AND deleted = 0",
                (id_mission,),
            )
            if known:
                keys += [(int(customer), id_mission) for (customer,) in known]
            else:
                keys.append((default_customer or 0, id_mission))
        return keys

    def runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self._rows(
            f"SELECT {', '.join(TABLES['runs'])} FROM runs ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_run_record(*row) for row in rows]

    def run(self, run_id: int) -> RunRecord | None:
        rows = self._rows(f"SELECT {', '.join(TABLES['runs'])} FROM runs WHERE id = ?", (run_id,))
        return _run_record(*rows[0]) if rows else None

    def imported(self, sha256: str) -> str | None:
        """If a file with this exact content was imported before: which, and when."""
        rows = self._rows(
            "SELECT file, started_at FROM runs WHERE sha256 = ? AND dry_run = 0 "
            "AND exit_code IN (0, 1) ORDER BY id LIMIT 1",
            (sha256,),
        )
        if not rows:
            return None
        file, started_at = rows[0]
        return _("{file} imported at {when}").format(
            file=os.path.basename(file), when=moment(dt.datetime.fromisoformat(started_at))
        )

    def outcomes(self, run_id: int) -> list[dict[str, Any]]:
        return self._named_rows(
            f"SELECT {', '.join(TABLES['outcomes'])} FROM outcomes WHERE run_id = ? "
            f"ORDER BY {self._outcome_order}",
            (run_id,),
        )

    def feeds(self) -> set[str]:
        """The feeds of the missions the state holds (deleted ones included)."""
        return {row[0] for row in self._rows("SELECT DISTINCT feed FROM missions")}

    def died_reading(self, sha256: str) -> str | None:
        """When a file with this content was being read by a process that never finished
        reading it (it died on it): ``"at <time> (pid N)"``, else None."""
        rows = self._rows("SELECT started_at, pid FROM reading WHERE sha256 = ?", (sha256,))
        if not rows:
            return None
        when = moment(dt.datetime.fromisoformat(rows[0][0]))
        return _("at {when} (pid {pid})").format(when=when, pid=rows[0][1])

    def journal(self, run_id: int) -> list[dict[str, Any]]:
        """What each mission the run changed was before it (``JOURNAL_TABLE``)."""
        return self._named_rows(
            f"SELECT {', '.join(TABLES['journal'])} FROM journal WHERE run_id = ? "
            "ORDER BY customer_id, id_mission",
            (run_id,),
        )

    def changed_after(self, run_id: int) -> dict[Key, int]:
        """The missions of a run that a later run changed again: the last run that did."""
        rows = self._rows(
            "SELECT later.customer_id, later.id_mission, MAX(later.run_id) FROM journal later "
            "JOIN journal this ON this.customer_id = later.customer_id "
            "AND this.id_mission = later.id_mission AND this.run_id = ? "
            "WHERE later.run_id > ? GROUP BY later.customer_id, later.id_mission",
            (run_id, run_id),
        )
        return {(int(c), str(i)): int(r) for c, i, r in rows}

    def failed_last(self, keys: Iterable[Key]) -> set[Key]:
        """The missions whose last call (in any run) failed: Ocean never took that version."""
        last: dict[Key, str] = {}
        for key in keys:
            rows = self._rows(
                "SELECT outcome FROM outcomes WHERE customer_id = ? AND id_mission = ? "
                f"AND outcome NOT IN ('skipped') ORDER BY {self._outcome_order} DESC LIMIT 1",
                key,
            )
            if rows:
                last[key] = rows[0][0]
        return {key for key, outcome in last.items() if outcome == "failed"}

    def remembered(self, key: str) -> str | None:
        """A value kept for the site (what the alerts last said of a subject)."""
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def remember(self, key: str, value: str) -> None:
        with self._transaction() as execute:
            execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def dump(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of a table, its ``TABLES`` columns (``state copy``)."""
        return self._rows(f"SELECT {', '.join(TABLES[table])} FROM {table}")

    # -- writing: each call is one committed transaction -----------------------------------

    def begin_reading(self, sha256: str, file: str) -> None:
        """Record, before a file is read, that it is being read (``finish_reading`` after)."""
        with self._transaction() as execute:
            execute(
                "INSERT INTO reading (sha256, file, started_at, pid) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (sha256) DO UPDATE SET file = excluded.file, "
                "started_at = excluded.started_at, pid = excluded.pid",
                (sha256, file, _now(), os.getpid()),
            )

    def finish_reading(self, sha256: str) -> None:
        with self._transaction() as execute:
            execute("DELETE FROM reading WHERE sha256 = ?", (sha256,))

    def begin_run(
        self, command: str, *, file: str | None, sha256: str | None, feed: str | None,
        dry_run: bool, actor: str | None = None, journal_days: float = JOURNAL_DAYS,
    ) -> int:  # fmt: skip
        """Open a run's record (``actor``: who; default user@host); the journal of runs older
        than ``journal_days`` goes (they can no longer be undone)."""
        horizon = dt.datetime.now(dt.UTC) - dt.timedelta(days=journal_days)
        with self._transaction() as execute:
            [(run_id,)] = execute(
                "INSERT INTO runs (command, file, sha256, feed, dry_run, started_at, actor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (command, file, sha256, feed, int(dry_run), _now(), actor or _actor()),
            )
            execute(
                "DELETE FROM journal WHERE run_id IN (SELECT id FROM runs WHERE started_at < ?)",
                (horizon.isoformat(timespec="milliseconds"),),
            )
        return int(run_id)

    def finish_run(
        self,
        run_id: int,
        *,
        exit_code: int,
        counts: Mapping[str, int],
        stopped_reason: str | None = None,
        report: str | None = None,
    ) -> None:
        with self._transaction() as execute:
            execute(
                "UPDATE runs SET finished_at = ?, exit_code = ?, counts = ?, stopped_reason = ?, "
                "report = ? WHERE id = ?",
                (_now(), exit_code, json.dumps(dict(counts)), stopped_reason, report, run_id),
            )

    def record_intent(self, key: Key, *, feed: str, when: MissionTimes) -> None:
        """Before a create is sent: if no answer comes, the next run asks Ocean first."""
        with self._transaction() as execute:
            execute(
                "INSERT INTO missions (customer_id, id_mission, feed, pending_create, deleted, "
                "intervention_at, expires_at, updated_at) VALUES (?, ?, ?, 1, 0, ?, ?, ?) "
                "ON CONFLICT (customer_id, id_mission) DO UPDATE SET pending_create = 1, "
                "feed = excluded.feed, intervention_at = excluded.intervention_at, "
                "expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                (*key, feed, when.intervention_at, when.expires_at, _now()),
            )
            _bump(execute, [feed])

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
        with self._transaction() as execute:
            before = _feeds_of(execute, [key])
            _journal(execute, outcome.run_id, key, payload_hash)
            execute(
                "INSERT INTO missions (customer_id, id_mission, feed, payload, payload_hash, "
                "pending_create, deleted, intervention_at, expires_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?) "
                "ON CONFLICT (customer_id, id_mission) DO UPDATE SET feed = excluded.feed, "
                "payload = excluded.payload, payload_hash = excluded.payload_hash, "
                "pending_create = 0, deleted = 0, intervention_at = excluded.intervention_at, "
                "expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                (*key, feed, json.dumps(dict(payload), ensure_ascii=False), payload_hash,
                 when.intervention_at, when.expires_at, _now()),
            )  # fmt: skip
            _bump(execute, {feed, *before})
            _insert_outcome(execute, outcome)

    def confirm_deleted(self, key: Key, *, outcome: OutcomeRecord) -> None:
        """The mission is gone from Ocean: keep a tombstone (an explicit delete is then done)."""
        with self._transaction() as execute:
            _journal(execute, outcome.run_id, key, None)
            execute(
                "UPDATE missions SET deleted = 1, payload = NULL, payload_hash = NULL, "
                "pending_create = 0, updated_at = ? WHERE customer_id = ? AND id_mission = ?",
                (_now(), *key),
            )
            _bump(execute, _feeds_of(execute, [key]))
            _insert_outcome(execute, outcome)

    def forget(self, keys: Iterable[Key]) -> None:
        """Drop missions past their expiry: the cab no longer shows them."""
        keys = list(keys)
        if not keys:
            return
        with self._transaction() as execute:
            feeds = _feeds_of(execute, keys)
            for key in keys:
                execute("DELETE FROM missions WHERE customer_id = ? AND id_mission = ?", key)
            _bump(execute, feeds)

    def record_outcome(self, outcome: OutcomeRecord) -> None:
        self.record_outcomes([outcome])

    def record_outcomes(self, outcomes: Iterable[OutcomeRecord]) -> None:
        with self._transaction() as execute:
            for outcome in outcomes:
                _insert_outcome(execute, outcome)

    def store_status(self, key: Key, *, status: str, code: str, refuse_reason: str) -> None:
        with self._transaction() as execute:
            execute(
                "UPDATE missions SET remote_status = ?, remote_status_code = ?, "
                "refuse_reason = ?, status_at = ? WHERE customer_id = ? AND id_mission = ?",
                (status, code, refuse_reason, _now(), *key),
            )

    def load(self, tables: Mapping[str, Iterable[Sequence[Any]]]) -> None:
        """Add rows (``dump``'s) to tables, in one transaction (``state copy``)."""
        with self._transaction() as execute:
            for table, rows in tables.items():
                columns = TABLES[table]
                insert = (
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})"
                )
                if table in ("meta", "generations"):  # a new store has its own: copied win
                    insert += f" ON CONFLICT ({columns[0]}) DO UPDATE SET value = excluded.value"
                for row in rows:
                    execute(insert, tuple(row))


def _bump(execute: Callable[..., Any], feeds: Iterable[str]) -> None:
    for feed in sorted(set(feeds)):
        execute(
            "INSERT INTO generations (feed, value) VALUES (?, 1) "
            "ON CONFLICT (feed) DO UPDATE SET value = generations.value + 1",
            (feed,),
        )


def _feeds_of(execute: Callable[..., list[tuple[Any, ...]]], keys: Iterable[Key]) -> set[str]:
    feeds: set[str] = set()
    for key in keys:
        rows = execute("SELECT feed FROM missions WHERE customer_id = ? AND id_mission = ?", key)
        feeds |= {row[0] for row in rows}
    return feeds


def _journal(execute: Callable[..., Any], run_id: int, key: Key, after: str | None) -> None:
    """Before a run changes a mission: what it was (the first change of a run wins)."""
    execute(
        "INSERT INTO journal (run_id, customer_id, id_mission, before_payload, before_hash, "
        "before_feed, before_intervention_at, before_expires_at, after_hash) "
        "SELECT ?, ?, ?, payload, payload_hash, feed, intervention_at, expires_at, ? "
        "FROM (SELECT 1) AS one LEFT JOIN missions ON customer_id = ? AND id_mission = ? "
        "WHERE true "  # SQLite's upsert after a SELECT needs one
        "ON CONFLICT (run_id, customer_id, id_mission) "
        "DO UPDATE SET after_hash = excluded.after_hash",
        (run_id, *key, after, *key),
    )


def _actor() -> str:
    with contextlib.suppress(OSError, KeyError):
        return f"{getpass.getuser()}@{socket.gethostname()}"
    return socket.gethostname()


def _insert_outcome(execute: Callable[..., Any], outcome: OutcomeRecord) -> None:
    execute(
        "INSERT INTO outcomes (run_id, row, customer_id, id_mission, action, outcome, "
        "http_status, message, attempts, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (outcome.run_id, outcome.row, outcome.customer_id, outcome.id_mission,
         outcome.action, outcome.outcome, outcome.http_status, outcome.message,
         outcome.attempts, _now()),
    )  # fmt: skip


def _run_record(
    id: int, command: str, file: str | None, sha256: str | None, feed: str | None,
    dry_run: int, started_at: str, finished_at: str | None, exit_code: int | None,
    counts: str | None, stopped_reason: str | None, report: str | None, actor: str | None,
) -> RunRecord:  # fmt: skip
    return RunRecord(
        int(id), command, file, sha256, feed, bool(dry_run), started_at, finished_at, exit_code,
        json.loads(counts) if counts else {}, stopped_reason, report, actor,
    )  # fmt: skip


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
