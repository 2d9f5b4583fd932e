"""The web page's history, and its « Annuler cet import »: the same undo plan as
``ocean-import undo RUN``, reviewed on its own page (what each mission gets back, the
missions left alone because a later run changed them, the mass-delete guard), then applied
on a CSRF-checked "Confirm", through the protection of missions under way, under a run of
its own."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from importer.errors import OceanImportError
from importer.i18n import _
from importer.pipeline import history, open_state
from importer.results import RunRecord
from importer.undo import Undo, apply_undo, plan_undo


def routes(needs_login: Any) -> list[Route]:
    return [
        Route("/runs/{run:int}/undo", needs_login(review)),
        Route("/runs/{run:int}/undo", needs_login(confirm), methods=["POST"]),
    ]


def _web() -> Any:
    from importer.web import app  # the page's helpers (app imports this module)

    return app


async def review(request: Request) -> Response:
    web, run_id = _web(), int(request.path_params["run"])
    config = web._config(request)
    try:
        made = await run_in_threadpool(_plan, config.state_path, run_id)
    except OceanImportError as refused:
        return web._page(request, "message.html", 404, title=_("Undo an import"),
                         message=str(refused))  # fmt: skip
    return web._page(request, "undo.html", undo=made, lines=_lines(made), done=None)


async def confirm(request: Request) -> Response:
    web, run_id = _web(), int(request.path_params["run"])
    if await web._checked_form(request) is None:
        return web._page(request, "message.html", 403, title=_("Refused"),
                         message=_("This form has expired: go back and try again."))  # fmt: skip
    config, user = web._config(request), web._user_of(request)

    def undo_it() -> Undo:
        with open_state(config.state_path) as state:
            return apply_undo(plan_undo(state, run_id), config.settings, state, actor=user)

    try:
        done = await run_in_threadpool(undo_it)
    except OceanImportError as refused:
        return web._page(request, "message.html", 409, title=_("Undo an import"),
                         message=str(refused))  # fmt: skip
    return web._page(request, "undo.html", undo=done, lines=_lines(done), done=done)


def history_of(state_path: str) -> list[RunRecord]:
    """The home page's history: the latest runs of every host."""
    with open_state(state_path) as state:
        return history(state, limit=30)


def _plan(state_path: str, run_id: int) -> Undo:
    with open_state(state_path) as state:
        return plan_undo(state, run_id)


def _lines(undo: Undo) -> list[dict[str, Any]]:
    """One line per call: the mission, what it gets back (the previous time and address)."""
    outcomes = {o.id_mission: o for o in (*undo.held, *(undo.outcomes or ()))}
    lines = []
    for change in undo.plan.changes.to_dict(orient="records"):
        outcome = outcomes.get(str(change["id_mission"]))
        lines.append({
            "id": change["id_mission"], "action": change["action"],
            "when": change.get("jourHeureInter") or "", "where": change.get("ville") or "",
            "outcome": outcome.outcome if outcome else None,
            "message": outcome.message if outcome else "",
        })  # fmt: skip
    return lines
