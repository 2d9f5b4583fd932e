"""The web page: log in, upload a planning, review the problems and the plan, confirm, download.

Server-rendered (Starlette + Jinja2), no JavaScript. It calls the same library functions as
the command line: ``check_file`` and ``make_plan`` for the review, ``save_plan`` so that
"Confirm" applies exactly the reviewed plan (``import_file(saved_plan=...)``, which refuses a
stale one), and the state's runs for the history.

Security: users and scrypt hashes come from the configuration (``[web] users``); sessions are
signed cookies (HttpOnly, SameSite=Strict, Secure unless served on loopback without TLS);
every form carries a CSRF token tied to the session; uploads are limited in size; a page
never shows a password or a token.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from importer.config import Settings
from importer.diff import Plan
from importer.errors import OceanImportError
from importer.pipeline import (
    ImportOptions,
    ImportRun,
    check_file,
    default_feed,
    import_file,
    make_plan,
    plan_settings,
    result_lines,
    save_plan,
    with_feed,
)
from importer.push import Outcome
from importer.state import StateStore
from importer.web.passwords import check_password

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_SAFE_NAME = re.compile(r"[^\w.\- ()]+")


@dataclass
class Job:
    """One upload: its file, its plan, and (once confirmed) the import's progress."""

    id: str
    user: str
    folder: Path
    file: Path
    total: int = 0
    done: int = 0
    finished: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class WebConfig:
    settings: Settings
    state_path: Path
    work: Path  # uploads, plans and workbooks, one folder per upload
    secure_cookies: bool = True


def create_web_app(config: WebConfig) -> Starlette:
    jobs: dict[str, Job] = {}
    max_bytes = int(config.settings.web_max_upload_mb * 1024 * 1024)
    config.work.mkdir(parents=True, exist_ok=True)

    def user_of(request: Request) -> str | None:
        user = request.session.get("user")
        return user if user in config.settings.web_users else None

    def csrf_token(request: Request) -> str:
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(32)
        return str(request.session["csrf"])

    async def checked_form(request: Request) -> dict[str, Any] | None:
        """The form's fields (an uploaded file as its name and bytes), or None without the
        session's CSRF token."""
        async with request.form(max_part_size=max_bytes + 1024) as form:
            sent = form.get("csrf")
            if not isinstance(sent, str) or not secrets.compare_digest(sent, csrf_token(request)):
                return None
            fields: dict[str, Any] = {}
            for key, value in form.multi_items():
                if isinstance(value, str):
                    fields[key] = value
                else:
                    fields[key] = (value.filename or "", await value.read(max_bytes + 1))
            return fields

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
        response = TEMPLATES.TemplateResponse(
            request,
            name,
            {"csrf": csrf_token(request), "user": user_of(request), **context},
            status_code=status_code,
        )
        return response

    def forbidden(request: Request) -> Response:
        return page(
            request,
            "message.html",
            403,
            title="Refused",
            message="This form has expired or did not come from this page: reload it.",
        )

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return page(request, "login.html")
        form = await checked_form(request)
        if form is None:
            return forbidden(request)
        name, password = str(form.get("user", "")), str(form.get("password", ""))
        stored = config.settings.web_users.get(name)
        if stored is None or not check_password(password, stored):
            return page(request, "login.html", 401, error="Unknown user or wrong password.")
        request.session.clear()
        request.session["user"] = name
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        if await checked_form(request) is not None:
            request.session.clear()
        return RedirectResponse("/login", status_code=303)

    def needs_login(handler: Any) -> Any:
        async def guarded(request: Request) -> Response:
            if user_of(request) is None:
                return RedirectResponse("/login", status_code=303)
            return await handler(request)

        return guarded

    async def home(request: Request) -> Response:
        with StateStore(config.state_path) as state:
            runs = state.runs(limit=30)
        reports = {job.result.get("run_id"): job.id for job in jobs.values() if job.finished}
        return page(
            request,
            "home.html",
            runs=runs,
            reports=reports,
            limit_mb=config.settings.web_max_upload_mb,
        )

    async def upload(request: Request) -> Response:
        declared = int(request.headers.get("content-length") or 0)
        if declared > max_bytes + 64 * 1024:
            return page(
                request,
                "message.html",
                413,
                title="File too large",
                message=f"The file is over the {config.settings.web_max_upload_mb:g} MB "
                "limit of this page.",
            )
        try:
            form = await checked_form(request)
        except Exception:  # multipart parser refusing an oversized or broken body
            return page(
                request,
                "message.html",
                413,
                title="File refused",
                message="The upload could not be read (too large, or cut short).",
            )
        if form is None:
            return forbidden(request)
        filename, data = form.get("planning") or ("", b"")
        if not filename:
            return page(request, "message.html", 400, title="No file", message="Choose a file.")
        if len(data) > max_bytes:
            return page(
                request,
                "message.html",
                413,
                title="File too large",
                message="The file is over the upload limit.",
            )
        job_id = secrets.token_urlsafe(12)
        folder = config.work / job_id
        name = _SAFE_NAME.sub("_", Path(filename).name) or "planning.xlsx"
        job = Job(job_id, str(user_of(request)), folder, folder / name)
        folder.mkdir(parents=True)
        job.file.write_bytes(data)
        jobs[job.id] = job
        return await review(request, job)

    async def review(request: Request, job: Job) -> Response:
        settings = config.settings
        try:
            checked = check_file(job.file, settings)
        except OceanImportError as refused:
            return page(request, "review.html", 422, job=job, refused=str(refused))
        options = ImportOptions(feed=default_feed(job.file), feed_from_name=True)
        with StateStore(config.state_path) as state:
            options = with_feed(job.file, options, state)
            plan = make_plan(checked, state, options, now=dt.datetime.now(dt.UTC))
            save_plan(
                plan, checked, state, job.folder / "plan.json", plan_settings(settings, options)
            )
        now = dt.datetime.now(dt.UTC)
        run = ImportRun(checked, plan, ImportOptions(feed=options.feed, dry_run=True), now, now)
        lines = result_lines(run)
        changes = lines[lines["action"].isin(["create", "modify"])].to_dict(orient="records")
        deletions = lines[lines["action"] == "delete"].to_dict(orient="records")
        problems = [p for p in checked.problems]
        return page(
            request,
            "review.html",
            job=job,
            checked=checked,
            plan=plan,
            counts=_counts(plan),
            changes=changes[:500],
            more=max(0, len(changes) - 500),
            deletions=deletions,
            problems=problems[:500],
        )

    async def confirm(request: Request) -> Response:
        job = jobs.get(request.path_params["job"])
        if job is None or job.user != user_of(request):
            return page(request, "message.html", 404, title="Unknown upload", message="")
        if await checked_form(request) is None:
            return forbidden(request)
        if not job.total and not job.finished:
            threading.Thread(target=_run_job, args=(config, job), daemon=True).start()
            job.total = -1  # started
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)

    async def job_page(request: Request) -> Response:
        job = jobs.get(request.path_params["job"])
        if job is None or job.user != user_of(request):
            return page(request, "message.html", 404, title="Unknown upload", message="")
        return page(request, "job.html", job=job)

    async def download(request: Request) -> Response:
        job = jobs.get(request.path_params["job"])
        if job is None or job.user != user_of(request) or not job.result.get("report"):
            return page(request, "message.html", 404, title="No workbook", message="")
        report = Path(job.result["report"])
        return FileResponse(
            report,
            filename=report.name,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )

    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", needs_login(home)),
        Route("/upload", needs_login(upload), methods=["POST"]),
        Route("/jobs/{job}/confirm", needs_login(confirm), methods=["POST"]),
        Route("/jobs/{job}", needs_login(job_page)),
        Route("/jobs/{job}/download", needs_login(download)),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=secrets.token_urlsafe(32),
            session_cookie="ocean_import",
            same_site="strict",
            https_only=config.secure_cookies,
            max_age=8 * 3600,
        )
    ]
    return Starlette(routes=routes, middleware=[*middleware, Middleware(_SecurityHeaders)])


class _SecurityHeaders:
    """Headers every page carries: no framing, no sniffing, no caching, scripts from nowhere."""

    HEADERS = (
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", b"default-src 'self'; style-src 'unsafe-inline'"),
        (b"cache-control", b"no-store"),
    )

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def _counts(plan: Plan) -> dict[str, int]:
    counts = plan.counts
    return {k: counts.get(k, 0) for k in ("create", "modify", "unchanged", "delete", "invalid")}


def _run_job(config: WebConfig, job: Job) -> None:
    """Apply the reviewed plan (in a worker thread); the page polls ``job`` for progress."""

    def progress(total: int) -> tuple[Any, Any]:
        job.total = total

        def tick(_: Outcome) -> None:
            job.done += 1

        return tick, lambda: None

    report = job.folder / f"{job.file.stem}.results.xlsx"
    try:
        with StateStore(config.state_path) as state:
            state.lock()
            run, written = import_file(
                job.file,
                config.settings,
                state,
                ImportOptions(feed=default_feed(job.file), feed_from_name=True),
                report_path=report,
                saved_plan=job.folder / "plan.json",
                progress=progress,
            )
        lines = run.lines()
        failed = lines[lines["outcome"].isin(["failed", "unknown"])]
        job.result = {
            "run_id": run.run_id,
            "exit_code": run.exit_code,
            "stopped": run.stopped,
            "report": str(written) if written else None,
            "outcomes": lines["outcome"].value_counts().to_dict(),
            "actions": lines["action"].value_counts().to_dict(),
            "failed": failed.to_dict(orient="records"),
        }
    except OceanImportError as exc:
        job.error = str(exc)
    finally:
        job.finished = True


__all__ = ["WebConfig", "create_web_app"]
