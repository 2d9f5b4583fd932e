"""The web page's history, and its « Annuler cet import »: the same undo plan as
``ocean-import undo RUN``, reviewed on its own page (what each mission gets back, the
missions left alone because a later run changed them, the mass-delete guard), saved as it was
shown, then applied on a CSRF-checked "Confirm" exactly as reviewed (refused when the state
changed in between: the page says to review it again), through the protection of missions
under way, under a run of its own."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from importer.errors import OceanImportError, UsageError
from importer.i18n import _
from importer.pipeline import apply_undo, history, open_state, plan_undo, save_undo
from importer.results import RunRecord

if TYPE_CHECKING:
    from importer.undo import Undo

REVIEW_KEPT_SECONDS = 24 * 3600
_REVIEW = re.compile(r"[0-9a-f]{32}")  # the name of a saved review, as ``_saved`` makes it


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
    review_id = secrets.token_hex(16)
    try:
        made = await run_in_threadpool(_plan, config.state_path, run_id,
                                       _saved(config.work, run_id, review_id))  # fmt: skip
    except OceanImportError as refused:
        return web._page(request, "message.html", 404, title=_("Undo an import"),
                         message=str(refused))  # fmt: skip
    return web._page(request, "undo.html", undo=made, lines=_lines(made), done=None,
                     review=review_id)  # fmt: skip


async def confirm(request: Request) -> Response:
    web, run_id = _web(), int(request.path_params["run"])
    form = await web._checked_form(request)
    if form is None:
        return web._page(request, "message.html", 403, title=_("Refused"),
                         message=_("This form has expired: go back and try again."))  # fmt: skip
    config, user = web._config(request), web._user_of(request)
    review_id = str(form.get("review") or "")
    saved = _saved(config.work, run_id, review_id) if _REVIEW.fullmatch(review_id) else None
    if saved is None or not saved.is_file():
        return web._page(request, "message.html", 409, title=_("Undo an import"),
                         message=_("This review is no longer kept: open the undo page again, "
                                   "review it, then confirm."))  # fmt: skip

    def undo_it() -> Undo:
        try:
            with open_state(config.state_path) as state:
                reviewed = plan_undo(state, run_id, saved=saved)
                return apply_undo(reviewed, config.settings, state, actor=user)
        finally:
            saved.unlink(missing_ok=True)  # a review is confirmed once

    try:
        done = await run_in_threadpool(undo_it)
    except (
        UsageError
    ):  # the state changed since the review: what was reviewed is not what it would do
        return web._page(request, "message.html", 409, title=_("Undo an import"),
                         message=_("An import or an undo changed these missions since this "
                                   "review: nothing was sent. Open the undo page again to see "
                                   "what it would do now."))  # fmt: skip
    except OceanImportError as refused:
        return web._page(request, "message.html", 409, title=_("Undo an import"),
                         message=str(refused))  # fmt: skip
    return web._page(request, "undo.html", undo=done, lines=_lines(done), done=done)


def history_of(state_path: str) -> list[RunRecord]:
    """The home page's history: the latest runs of every host."""
    with open_state(state_path) as state:
        return history(state, limit=30)


def _saved(work: Path, run_id: int, review_id: str) -> Path:
    return work / "undo-reviews" / f"run-{run_id}-{review_id}.json"


def _plan(state_path: str, run_id: int, saved: Path) -> Undo:
    """The undo plan, saved as the page shows it: the confirmation applies this one."""
    with open_state(state_path) as state:
        made = plan_undo(state, run_id)
    saved.parent.mkdir(parents=True, exist_ok=True)
    for forgotten in saved.parent.glob("run-*.json"):  # reviews never confirmed, after a day
        if time.time() - forgotten.stat().st_mtime > REVIEW_KEPT_SECONDS:
            forgotten.unlink(missing_ok=True)
    save_undo(made, saved)
    return made


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
