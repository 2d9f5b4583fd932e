"""The state store: what Ocean accepted, every run, every row's outcome.

Per mission ``(customer_id, id_mission)`` it keeps the last payload Ocean confirmed and its
hash, the feed it came from, its intervention and expiry times, the intent to create it
(recorded before the call, cleared by the confirmation) and the last status Ocean reported.
Deleted missions stay as tombstones. Every change is committed at once, so a run killed at
any moment leaves a state the next run can trust. A run holds its feed's lock; the job
claims each inbox file it takes (both go away with the process).

Two backends, one contract (``base.SqlStore``, every query written once): SQLite, one file,
the zero-setup default (``sqlite``); PostgreSQL, shared by several hosts (``postgres``).
"""

from importer.state.base import MissionTimes, SqlStore
from importer.state.locks import Held
from importer.state.sqlite import _MIGRATIONS, DEFAULT_STATE_PATH, SCHEMA_VERSION, StateStore

__all__ = [
    "DEFAULT_STATE_PATH", "SCHEMA_VERSION", "_MIGRATIONS", "Held", "MissionTimes", "SqlStore",
    "StateStore",
]  # fmt: skip
