"""A saved plan (``plan --out``, the web page's review): its format, and what it was made from.

The file holds the exact calls the plan makes and its fingerprint: the planning's SHA-256, the
state's generation and the settings that shape a plan. ``run --plan`` applies it only while
all three are unchanged: otherwise it would send what nobody reviewed.

Format version 1::

    {"format": 1, "input_file": ..., "input_sha256": ..., "state_generation": 7,
     "made_at": ..., "settings": {...}, "feed": ..., "scope": ..., "row_actions": {...},
     "changes": [...], "forgotten": [...], "kept_past": 0, "active_in_scope": 0,
     "guard_message": null, "skipped_deletions": 0}
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from importer.config import ImportOptions, Settings
from importer.diff import CHANGE_COLUMNS, Plan
from importer.errors import OutputError, UsageError
from importer.i18n import _, lazy, system_reason
from importer.paths import remove_stale_temporaries, temporary_prefix
from importer.schemas.api import MISSION_FIELDS

FORMAT = 1

# The settings that shape a plan, each with the words that name it for a person.
PLAN_SETTINGS = {
    "timezone": lazy("the time zone (--timezone, timezone)"),
    "customer_id": lazy("the customer id (--customer-id, customer_id)"),
    "multi_client": lazy("multi_client"),
    "send_by_default": lazy("the default of « À envoyer » (send_by_default)"),
    "columns": lazy("the column mapping ([columns])"),
    "sheet": lazy("the sheet (--sheet, sheet)"),
    "feed": lazy("the feed (--feed)"),
    "scope": lazy("the scope (--scope)"),
    "delete_past": lazy("--delete-past"),
    "never_delete": lazy("--no-delete"),
    "allow_mass_delete": lazy("--allow-mass-delete"),
    "mass_delete_share": lazy("the mass-delete share"),
    "mass_delete_count": lazy("the mass-delete count"),
}


@dataclass(frozen=True)
class Fingerprint:
    """What a plan was made from; a plan applies only while it is unchanged."""

    input_sha256: str
    state_generation: int
    settings: dict[str, object]  # PLAN_SETTINGS' values, as JSON values


def fingerprint(
    sha256: str, generation: int, settings: Settings, options: ImportOptions
) -> Fingerprint:
    return Fingerprint(sha256, generation, {
        "timezone": settings.timezone,
        "customer_id": settings.customer_id,
        "multi_client": settings.multi_client,
        "send_by_default": settings.send_by_default,
        "columns": dict(sorted(settings.columns.items())),
        "sheet": settings.sheet,
        "feed": options.feed,
        "scope": options.scope,
        "delete_past": options.delete_past,
        "never_delete": options.guard.never_delete,
        "allow_mass_delete": options.guard.allow,
        "mass_delete_share": options.guard.share,
        "mass_delete_count": options.guard.count,
    })  # fmt: skip


def save_plan(plan: Plan, made_from: Fingerprint, input_file: Path, path: Path) -> Path:
    """Write the exact plan and its fingerprint, atomically (never a half-written plan)."""
    data = {
        "format": FORMAT,
        "input_file": str(input_file),
        "input_sha256": made_from.input_sha256,
        "state_generation": made_from.state_generation,
        "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": made_from.settings,
        **plan_to_json(plan),
    }
    write_atomically(path, json.dumps(data, ensure_ascii=False, indent=1))
    return path


def load_plan(path: Path, now: Fingerprint, file_name: str) -> Plan:
    """The plan saved at ``path``; refused (``UsageError``) when the file, the state or a
    setting that shapes a plan changed since it was made."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = data.get("format", FORMAT)  # the first saved plans carried no number
        if version != FORMAT:
            raise ValueError(
                _("format {version}, this ocean-import reads format {format}").format(
                    version=version, format=FORMAT
                )
            )
        then = Fingerprint(data["input_sha256"], data["state_generation"], data["settings"])
        plan = plan_from_json(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            _("{path} is not a plan saved by `ocean-import plan --out`: {why}").format(
                path=path, why=exc
            )
        ) from None
    if reason := stale_reason(then, now, path.name, file_name):
        raise UsageError(reason)
    return plan


def stale_reason(then: Fingerprint, now: Fingerprint, plan_name: str, file_name: str) -> str | None:
    """Why a plan made from ``then`` must not be applied now (None: it may)."""
    for name, words in PLAN_SETTINGS.items():
        before, after = then.settings.get(name), now.settings[name]
        if before != after:
            return _(
                "the plan {plan} is stale: it was made with {setting} = {before}, and this run "
                "has {after}; make a new plan, or run with the same setting"
            ).format(plan=plan_name, setting=words, before=_shown(before), after=_shown(after))
    if then.input_sha256 != now.input_sha256:
        return _("the plan {plan} was made from another version of {file}: make a new plan").format(
            plan=plan_name, file=file_name
        )
    if then.state_generation != now.state_generation:
        return _(
            "the plan {plan} is stale: the state changed since it was made (another run "
            "imported in between); make a new plan"
        ).format(plan=plan_name)
    return None


def plan_to_json(plan: Plan) -> dict[str, Any]:
    changes = plan.changes.drop(columns=["intervention_at", "expires_at"])
    intervention = plan.changes["intervention_at"]
    expires = plan.changes["expires_at"]
    records = changes.astype(object).where(changes.notna(), None).to_dict(orient="records")
    for record, when, until in zip(records, intervention, expires, strict=True):
        record["intervention_at"] = None if pd.isna(when) else pd.Timestamp(when).isoformat()
        record["expires_at"] = None if pd.isna(until) else pd.Timestamp(until).isoformat()
        record["row"] = None if record["row"] is None else int(record["row"])
        record["customer_id"] = int(record["customer_id"])
        record["verify_first"] = bool(record["verify_first"])
    return {
        "feed": plan.feed,
        "scope": plan.scope,
        "row_actions": {str(row): action for row, action in plan.row_actions.items()},
        "changes": records,
        "forgotten": plan.forgotten.to_dict(orient="records"),
        "kept_past": plan.kept_past,
        "active_in_scope": plan.active_in_scope,
        "guard_message": plan.guard_message,
        "skipped_deletions": plan.skipped_deletions,
    }


def plan_from_json(data: Mapping[str, Any]) -> Plan:
    columns = [*CHANGE_COLUMNS, *MISSION_FIELDS, "intervention_at", "expires_at"]
    changes = pd.DataFrame(data["changes"], columns=columns)
    changes["intervention_at"] = pd.to_datetime(changes["intervention_at"], utc=True)
    changes["expires_at"] = pd.to_datetime(changes["expires_at"], utc=True)
    changes["verify_first"] = changes["verify_first"].astype(bool)
    row_actions = pd.Series(
        {int(row): action for row, action in data["row_actions"].items()}, name="action"
    )
    forgotten = pd.DataFrame(data["forgotten"], columns=["customer_id", "id_mission"])
    return Plan(
        feed=data["feed"],
        scope=data["scope"],
        row_actions=row_actions,
        changes=changes,
        forgotten=forgotten,
        kept_past=int(data["kept_past"]),
        active_in_scope=int(data["active_in_scope"]),
        guard_message=data["guard_message"],
        skipped_deletions=int(data["skipped_deletions"]),
    )


def _shown(value: object) -> str:
    return _("none") if value is None or value == {} else json.dumps(value, ensure_ascii=False)


def write_atomically(path: Path, text: str) -> None:
    remove_stale_temporaries(path)
    temporary = path.with_name(temporary_prefix(path) + "plan")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(
            _("the plan {path} could not be written ({why})").format(
                path=path, why=system_reason(exc)
            )
        ) from None
