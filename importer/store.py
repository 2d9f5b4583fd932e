"""The state store's contract, ``open_state`` (the one way the pipeline opens a store) and
``copy_state`` (a site moved from one store to another).

``Store`` is what the pipeline, the push and the job ask of a store; the two backends of
``importer.state`` implement it (SQLite: a file path; PostgreSQL: a ``postgresql://``
address), and ``open_state`` picks one from the address it is given.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from importer.errors import ConfigError, StateError
from importer.i18n import _
from importer.results import OutcomeRecord, RunRecord
from importer.schemas.state import TABLES, Key
from importer.state import DEFAULT_STATE_PATH, Held, MissionTimes, StateStore


class Store(Protocol):
    """The state of one Ocean account's imports (see ``importer.state`` for what it keeps)."""

    path: Path | None  # the file, for the SQLite backend
    where: str  # the store as a person may read it (never a password)

    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...

    migrated_from: int | None

    def schema_version(self) -> int: ...

    # locks: each goes away with the process that holds it
    def feed_lock(
        self, customer: int, feed: str, *, wait: float = 0
    ) -> contextlib.AbstractContextManager[None]: ...
    def claim_file(self, sha256: str) -> Held | None: ...
    def try_hold(self, name: str) -> tuple[Held | None, str]: ...

    # reading
    def generation(self, feed: str) -> int: ...
    def identity(self) -> str: ...
    def known(self) -> pd.DataFrame: ...
    def accepted_payloads(self, keys: Iterable[Key]) -> dict[Key, dict[str, str]]: ...
    def mission(self, key: Key) -> dict[str, Any] | None: ...
    def active_keys(self) -> list[Key]: ...
    def keys_for(self, ids: list[str], default_customer: int | None) -> list[Key]: ...
    def runs(self, limit: int = 50) -> list[RunRecord]: ...
    def run(self, run_id: int) -> RunRecord | None: ...
    def imported(self, sha256: str) -> str | None: ...
    def outcomes(self, run_id: int) -> list[dict[str, Any]]: ...
    def feeds(self) -> set[str]: ...
    def failed_last(self, keys: Iterable[Key]) -> set[Key]: ...
    def remembered(self, key: str) -> str | None: ...
    def remember(self, key: str, value: str) -> None: ...
    def dump(self, table: str) -> list[tuple[Any, ...]]: ...
    def journal(self, run_id: int) -> list[dict[str, Any]]: ...
    def changed_after(self, run_id: int) -> dict[Key, int]: ...

    # the job's guard against a file that kills the reader
    def begin_reading(self, sha256: str, file: str) -> None: ...
    def finish_reading(self, sha256: str) -> None: ...
    def died_reading(self, sha256: str) -> str | None: ...

    # writing: each call is one committed transaction (inside ``batch``: one for them all)
    def batch(self) -> contextlib.AbstractContextManager[None]: ...
    def begin_run(
        self, command: str, *, file: str | None, sha256: str | None, feed: str | None,
        dry_run: bool, actor: str | None = None, journal_days: float = ...,
    ) -> int: ...  # fmt: skip
    def finish_run(
        self, run_id: int, *, exit_code: int, counts: Mapping[str, int],
        stopped_reason: str | None = None, report: str | None = None,
    ) -> None: ...  # fmt: skip
    def record_intent(self, key: Key, *, feed: str, when: MissionTimes) -> None: ...
    def confirm(
        self, key: Key, *, feed: str, payload: Mapping[str, str], payload_hash: str,
        when: MissionTimes, outcome: OutcomeRecord,
    ) -> None: ...  # fmt: skip
    def confirm_deleted(self, key: Key, *, outcome: OutcomeRecord) -> None: ...
    def forget(self, keys: Iterable[Key]) -> None: ...
    def record_outcome(self, outcome: OutcomeRecord) -> None: ...
    def record_outcomes(self, outcomes: Iterable[OutcomeRecord]) -> None: ...
    def store_status(self, key: Key, *, status: str, code: str, refuse_reason: str) -> None: ...
    def load(self, tables: Mapping[str, Iterable[Sequence[Any]]]) -> None: ...
    def after_load(self) -> None: ...


def open_state(address: Path | str | None) -> Store:
    """The store at ``address``: a file path (default ``.ocean-import/state.db``;
    ``:memory:`` for a throwaway one) or a ``postgresql://`` address. Use it as a context
    manager: leaving it closes the store and releases its locks."""
    if is_address(address):
        from importer.state.postgres import PostgresStore  # psycopg, for those who use it

        return PostgresStore(str(address))
    if str(address) == ":memory:":
        return StateStore(":memory:")
    target = Path(address) if address else DEFAULT_STATE_PATH
    if target.exists() and target.is_dir():
        raise ConfigError(
            _("--state {target} is a folder: give the path of a file").format(target=target)
        )
    return StateStore(target)


def is_address(address: Path | str | None) -> bool:
    """Whether a store is a server's address (not a file)."""
    return address is not None and str(address).startswith(("postgresql://", "postgres://"))


def shown_address(address: Path | str | None) -> str:
    """A store's address as a person may read it (a PostgreSQL one without its password)."""
    if is_address(address):
        from importer.state.postgres import shown

        return shown(str(address))
    return str(address or DEFAULT_STATE_PATH)


def copy_state(source: Store, target: Store) -> dict[str, int]:
    """Every mission, run and outcome of ``source`` into ``target``, which must hold none:
    all in one transaction (a copy cut short leaves the target empty). The rows copied,
    per table."""
    if target.dump("missions") or target.dump("runs"):
        raise StateError(
            _(
                "the state store {target} already holds missions or runs: a copy goes into an "
                "empty store only (nothing was copied)"
            ).format(target=target.where)
        )
    tables = {table: source.dump(table) for table in TABLES}
    # The target keeps its own schema version; the store's name goes with the copy (an inbox
    # bound to the store stays bound to it).
    tables["meta"] = [row for row in tables["meta"] if row[0] != "schema"]
    target.load(tables)
    target.after_load()
    return {table: len(rows) for table, rows in tables.items()}


__all__ = [
    "DEFAULT_STATE_PATH", "Store", "copy_state", "is_address", "open_state", "shown_address",
]  # fmt: skip
