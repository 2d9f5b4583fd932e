"""The state store's contract, and ``open_state``: the one way the pipeline opens a store.

``Store`` is what the pipeline, the push and the job ask of a store; ``state.StateStore``
(SQLite) implements it. A second backend implements the same methods and ``open_state``
picks it from the address it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from importer.errors import ConfigError
from importer.results import OutcomeRecord, RunRecord
from importer.schemas.state import Key
from importer.state import DEFAULT_STATE_PATH, MissionTimes, StateStore


class Store(Protocol):
    """The state of one Ocean account's imports (see ``state`` for what it keeps)."""

    path: Path | None

    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...
    def lock(self) -> None: ...
    def unlock(self) -> None: ...

    # reading
    def generation(self) -> int: ...
    def known(self) -> pd.DataFrame: ...
    def accepted_payloads(self, keys: Iterable[Key]) -> dict[Key, dict[str, str]]: ...
    def mission(self, key: Key) -> dict[str, Any] | None: ...
    def active_keys(self) -> list[Key]: ...
    def keys_for(self, ids: list[str], default_customer: int | None) -> list[Key]: ...
    def runs(self, limit: int = 50) -> list[RunRecord]: ...
    def imported(self, sha256: str) -> str | None: ...
    def outcomes(self, run_id: int) -> list[dict[str, Any]]: ...
    def feeds(self) -> set[str]: ...

    # the job's guard against a file that kills the reader
    def begin_reading(self, sha256: str, file: str) -> None: ...
    def finish_reading(self, sha256: str) -> None: ...
    def died_reading(self, sha256: str) -> str | None: ...

    # writing: each call is one committed transaction
    def begin_run(
        self, command: str, *, file: str | None, sha256: str | None, feed: str | None, dry_run: bool
    ) -> int: ...
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


def open_state(path: Path | str | None, *, lock: bool = False) -> Store:
    """The store at ``path`` (default ``.ocean-import/state.db``; ``:memory:`` for a throwaway
    one), held for this run when ``lock`` (``StateLocked`` when another run holds it).
    Use it as a context manager: leaving it closes the store and releases the lock."""
    if str(path) == ":memory:":
        store = StateStore(":memory:")
    else:
        target = Path(path) if path else DEFAULT_STATE_PATH
        if target.exists() and target.is_dir():
            raise ConfigError(f"--state {target} is a folder: give the path of a file")
        store = StateStore(target)
    if lock:
        try:
            store.lock()
        except BaseException:
            store.close()
            raise
    return store


__all__ = ["DEFAULT_STATE_PATH", "Store", "open_state"]
