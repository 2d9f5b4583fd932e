"""Where missions stand in Ocean, as a table a person reads: one line per mission, the times
in the planning's zone (Ocean sends UTC), refusals flagged; ``mission_statuses`` asks."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd

from importer.config import Settings
from importer.i18n import _, pgettext
from importer.report import write_table
from importer.schemas.api import API_DATE_FORMAT
from importer.schemas.state import Key, customer_of

if TYPE_CHECKING:
    from importer.ocean.client import MissionStatus, OceanClient
    from importer.store import Store


def status_table(
    keys: list[Key], statuses: dict[Key, MissionStatus], zone: ZoneInfo
) -> pd.DataFrame:
    """One line per mission; ``time`` in the planning's zone, named (Ocean sends UTC)."""
    rows = []
    for key in keys:
        found = statuses.get(key)
        rows.append(
            {
                "idMission": key[1],
                "customerId": customer_of(key[0]),
                "status": found.status if found else None,
                "statusCode": found.status_code if found else None,
                "time": local_time(found.time, zone) if found else None,
                "complement": found.complement if found else _("unknown to Ocean, or no answer"),
                "commentRefuseReason": found.refuse_reason if found else None,
                "externalMissionId": found.external_id if found else None,
                "refused": bool(found and found.refused),
            }
        )
    columns = ["idMission", "customerId", "status", "statusCode", "time", "complement",
               "commentRefuseReason", "externalMissionId", "refused"]  # fmt: skip
    # object columns keep None for what is missing (never a NaN printed as "nan")
    return pd.DataFrame(rows, columns=columns, dtype=object)


def local_time(ocean_time: str, zone: ZoneInfo) -> str | None:
    """Ocean's UTC ``dd/MM/yyyy HH:mm`` as the planning's local time, with its zone's name."""
    if not ocean_time:
        return None
    try:
        moment = dt.datetime.strptime(ocean_time, API_DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return _("{time} (as Ocean wrote it)").format(time=ocean_time)
    local = moment.astimezone(zone)
    return f"{local.strftime(API_DATE_FORMAT)} {local.tzname()}"


def status_headers() -> dict[str, str]:
    """The status workbook's column headers, in the reader's language (``--json`` keeps the
    API's names)."""
    return {
        "idMission": pgettext("statuses", "mission id"),
        "customerId": pgettext("statuses", "customer"),
        "status": pgettext("statuses", "status"),
        "statusCode": pgettext("statuses", "status code"),
        "time": pgettext("statuses", "time"),
        "complement": pgettext("statuses", "detail"),
        "commentRefuseReason": pgettext("statuses", "refusal reason"),
        "externalMissionId": pgettext("statuses", "Ocean id"),
        "refused": pgettext("statuses", "refused"),
    }


def mission_statuses(
    settings: Settings,
    state: Store,
    ids: list[str] | None = None,
    *,
    concurrency: int,
    report_path: Path | None = None,
    ocean: OceanClient | None = None,
) -> tuple[pd.DataFrame, Path | None]:
    """Where missions stand in Ocean (``results.status_table``): the given ids, or every
    active mission the state knows; each status is stored in the state, and (``report_path``)
    written to a workbook, refused missions highlighted."""
    from importer.ocean.client import OceanClient
    from importer.push import fetch_statuses

    ocean = ocean or OceanClient.from_settings(settings.ocean, max_connections=concurrency)
    keys = state.keys_for(ids, settings.customer_id) if ids else state.active_keys()

    async def fetch() -> dict[Key, MissionStatus]:
        async with ocean:
            if keys:
                await ocean.authenticate()
            return await fetch_statuses(ocean, state, keys, concurrency=concurrency)

    table = status_table(keys, asyncio.run(fetch()), settings.zone)
    if report_path is None:
        return table, None
    shown = table.rename(columns=status_headers())
    return table, write_table(report_path, pgettext("sheet", "Statuses"), shown,
                              table["refused"].tolist())  # fmt: skip
