"""The review page's content, from a plan: the problems grouped by kind (errors first, with
their true counts), and the changes as the cab will receive them (mission, local date and
time, vehicle or person, address, comment; a modify as old -> new for each field that
differs; a deletion with the mission it removes). Pure functions of an ``ImportRun``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from importer.problems import KINDS, Problem, problems_by_kind
from importer.results import FILE_NOTICES, Action, ImportRun
from importer.statuses import local_time

EXAMPLES = 50  # problems shown per kind (the workbook has them all)
SHOWN = 100  # changes shown before "see the plan workbook"
FILTERS = ("all", "errors", "warnings")


@dataclass(frozen=True)
class ProblemGroup:
    kind: str
    title: str
    severity: str
    count: int
    examples: list[Problem] = field(default_factory=list)


def problem_groups(run: ImportRun, show: str = "all") -> list[ProblemGroup]:
    """Every kind of problem with its count, errors before warnings; the examples of the
    kinds the filter shows (``errors``, ``warnings`` or ``all``)."""
    problems = [p for p in run.checked.problems if p.kind not in FILE_NOTICES]
    groups = []
    for kind, found in problems_by_kind(problems).items():
        severity = KINDS[kind].severity
        shown = show == "all" or (show == "errors") == (severity == "error")
        examples = found[:EXAMPLES] if shown else []
        groups.append(ProblemGroup(kind, str(KINDS[kind].title), severity, len(found), examples))
    return sorted(groups, key=lambda g: (g.severity != "error", -g.count))


def cab_lines(run: ImportRun, zone: ZoneInfo) -> tuple[list[dict[str, Any]], int]:
    """The creates and modifies as the cab will receive them (the first ``SHOWN``), and how
    many there are in all."""
    changes = run.plan.changes
    sent = changes[changes["action"].isin([Action.CREATE, Action.MODIFY])]
    lines = []
    records: list[dict[str, Any]] = sent.head(SHOWN).to_dict(orient="records")  # type: ignore[assignment]
    for line in records:
        key = (int(line["customer_id"]), str(line["id_mission"]))
        before = run.plan.previous.get(key, {})
        differs = run.plan.differs.get(key, []) if line["action"] == Action.MODIFY else []
        changed = [(_label(run, name), _shown(name, before.get(name, ""), zone),
                    _shown(name, line[name], zone)) for name in differs]  # fmt: skip
        lines.append({**_mission(line, zone), "row": line["row"], "action": line["action"],
                      "changes": changed})  # fmt: skip
    return lines, len(sent)


def deletion_lines(run: ImportRun, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Each deletion with the mission it removes, as Ocean holds it now."""
    changes = run.plan.changes
    lines = []
    records: list[dict[str, Any]] = changes[changes["action"] == Action.DELETE].to_dict(
        orient="records"
    )  # type: ignore[assignment]
    for line in records:
        key = (int(line["customer_id"]), str(line["id_mission"]))
        removed: dict[str, Any] = run.plan.previous.get(key) or line
        row = line["row"]
        lines.append({**_mission({**removed, "idMission": key[1]}, zone),
                      "row": None if row is None or row != row else int(row)})  # fmt: skip
    return lines


def _mission(fields: dict[str, Any], zone: ZoneInfo) -> dict[str, str]:
    person = " ".join(filter(None, (str(fields.get("prenomIndi") or ""),
                                    str(fields.get("nomIndi") or ""))))  # fmt: skip
    address = " ".join(filter(None, (str(fields.get(name) or "") for name in
                                     ("rue", "codPost", "ville"))))  # fmt: skip
    return {
        "idMission": str(fields.get("idMission") or ""),
        "when": local_time(str(fields.get("jourHeureInter") or ""), zone) or "",
        "who": str(fields.get("nomVeh") or fields.get("nomPrenom") or person),
        "address": address or str(fields.get("adrRefCli") or ""),
        "comment": str(fields.get("commentaire") or ""),
    }


def _label(run: ImportRun, name: str) -> str:
    """A field as the planning names it (its header), else its API name."""
    return run.checked.sheet.label_of(name) or name


def _shown(name: str, value: Any, zone: ZoneInfo) -> str:
    text = "" if value is None else str(value)
    if name in ("jourHeureInter", "jourHeurePeremp") and text:
        return local_time(text, zone) or text
    return text


def local_moment(at: str, zone: ZoneInfo) -> str:
    """A time the state keeps (ISO, UTC) in the site's zone: ``02/12/2026 08:30``."""
    try:
        return dt.datetime.fromisoformat(at).astimezone(zone).strftime("%d/%m/%Y %H:%M")
    except (TypeError, ValueError):
        return at or ""
