"""The state's snapshot, as the diff reads it, and how it keys a mission.

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
