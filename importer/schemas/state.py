"""The state's snapshot, as the diff reads it, how it keys a mission, and its tables.

A mission is keyed ``(customer_id, id_mission)``; a row with no customerId (the login's only
customer) is stored under ``NO_CUSTOMER``, and sent to Ocean with no customerId at all.
"""

from __future__ import annotations

import pandas as pd

Key = tuple[int, str]

NO_CUSTOMER = 0

# One row per mission the state knows (``StateStore.known()``).
KNOWN_COLUMNS = (
    "customer_id",  # int, NO_CUSTOMER when not given
    "id_mission",  # str
    "feed",  # str
    "payload_hash",  # str, or None when Ocean never confirmed the mission
    "pending_create",  # bool: a create was sent (or about to be) and never confirmed
    "deleted",  # bool: deleted by an earlier run (a tombstone)
    "intervention_at",  # datetime64[UTC]
    "expires_at",  # datetime64[UTC], NaT when none
)


def customer_of(customer_id: int) -> int | None:
    """The customerId a key stands for: ``None`` for the login's own customer."""
    return None if customer_id == NO_CUSTOMER else int(customer_id)


def mission_keys(missions: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each row's key as the state stores it: customer (NO_CUSTOMER when blank), idMission."""
    customers = missions["customerId"].fillna(NO_CUSTOMER).astype("int64")
    return customers, missions["idMission"].astype(object)


# What each mission was before a run changed it (``undo``): one line per mission a run
# created, modified or deleted; ``before_payload`` NULL: the run created it; ``after_hash``
# NULL: the run deleted it. Kept ``journal_days`` (the runs' retention).
JOURNAL_TABLE = """
    CREATE TABLE journal (
        run_id INTEGER NOT NULL,
        customer_id INTEGER NOT NULL,
        id_mission TEXT NOT NULL,
        before_payload TEXT,
        before_hash TEXT,
        before_feed TEXT,
        before_intervention_at TEXT,
        before_expires_at TEXT,
        after_hash TEXT,
        PRIMARY KEY (run_id, customer_id, id_mission)
    );
    CREATE INDEX journal_mission ON journal (customer_id, id_mission)
"""
JOURNAL_DAYS = 90

# The tables a store holds, in an order that a copy can insert them in (runs before the
# outcomes that refer to them), with the columns a copy carries.
TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "generations": ("feed", "value"),
    "missions": (
        "customer_id", "id_mission", "feed", "payload", "payload_hash", "pending_create",
        "deleted", "intervention_at", "expires_at", "remote_status", "remote_status_code",
        "refuse_reason", "status_at", "updated_at",
    ),
    "runs": (
        "id", "command", "file", "sha256", "feed", "dry_run", "started_at", "finished_at",
        "exit_code", "counts", "stopped_reason", "report", "actor",
    ),
    "outcomes": (
        "run_id", "row", "customer_id", "id_mission", "action", "outcome", "http_status",
        "message", "attempts", "at",
    ),
    "journal": (
        "run_id", "customer_id", "id_mission", "before_payload", "before_hash", "before_feed",
        "before_intervention_at", "before_expires_at", "after_hash",
    ),
}  # fmt: skip
