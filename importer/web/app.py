"""The web page: log in, upload a planning, review the problems and the plan, confirm, download.

Server-rendered (Starlette + Jinja2). It calls the same functions as the command line:
``plan_file`` for the review (which saves the exact plan), ``import_file(saved_plan=...)``
on "Confirm" (exactly the reviewed plan, a stale one refused), ``history``, and ``undo``
(``undoing``). Reading, planning, hashing and the state run in the thread pool.

Security: users and scrypt hashes from the configuration; signed session cookies (HttpOnly,
SameSite=Strict, Secure but on loopback); a CSRF token per session on every form; uploads
limited in size; a page never shows a password or a token.
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from importer.config import ImportOptions, Settings
from importer.errors import OceanImportError
from importer.i18n import _, language, ngettext, pgettext, speaking, use
from importer.pipeline import is_address, open_state, plan_file
from importer.results import FILE_NOTICES, Action, ImportRun
from importer.web import guards, review, undoing
from importer.web.importing import run_import
from importer.web.jobs import Job, Jobs, new_job
from importer.web.passwords import check_password, hash_password
from importer.web.sessions import Attempts, Sessions, signing_key
from importer.words import counted, words, zone_words

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.add_extension("jinja2.ext.i18n")
# The templates speak the request's language: {{ _("...") }}, and the workbook's words.
TEMPLATES.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=_, ngettext=ngettext, pgettext=pgettext, newstyle=True
)
TEMPLATES.env.globals["words"] = words
TEMPLATES.env.globals["counted"] = counted
SHOWN_LINES = 500


@dataclass
class WebConfig:
    settings: Settings
    state_path: str  # a file, or a postgresql:// address shared with the job's hosts
    work: Path  # uploads, plans and workbooks, one folder per upload
    secure_cookies: bool = True


def create_web_app(config: WebConfig) -> Starlette:
    config.work.mkdir(parents=True, exist_ok=True)
    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", _needs_login(home)),
        Route("/upload", _needs_login(upload), methods=["POST"]),
        Route("/jobs/{job}/confirm", _needs_login(confirm), methods=["POST"]),
        Route("/jobs/{job}/force", _needs_login(force), methods=["POST"]),
        Route("/jobs/{job}/recheck", _needs_login(recheck), methods=["POST"]),
        Route("/jobs/{job}/sheet", _needs_login(other_sheet), methods=["POST"]),
        Route("/jobs/{job}", _needs_login(job_page)),
        Route("/jobs/{job}/download", _needs_login(download)),
        Route("/jobs/{job}/plan", _needs_login(plan_workbook)),
        Route("/jobs/{job}/progress", _needs_login(job_progress)),
        *undoing.routes(_needs_login),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
    upload_bytes = int(config.settings.web_max_upload_mb * 1024 * 1024) + guards.FORM_BYTES
    settings = config.settings
    beside = config.work if is_address(config.state_path) else Path(config.state_path).parent
    key_file = Path(settings.web_secret_key_file or beside / "web-secret.key")
    middleware = [
        Middleware(guards.SecurityHeaders),
        Middleware(guards.BodyLimit, upload_bytes=upload_bytes, lang=config.settings.lang),
        Middleware(
            SessionMiddleware,
            secret_key=signing_key(key_file),
            session_cookie="ocean_import",
            same_site="strict",
            https_only=config.secure_cookies,
            max_age=8 * 3600,
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=_lifespan,
                    exception_handlers={Exception: _unexpected_page})  # fmt: skip
    app.state.config = config
    with speaking(settings.lang):
        interrupted = _(
            "The page stopped during this import: what was sent is in the results workbook "
            "and the state; import the file again to send the rest."
        )
    app.state.jobs = Jobs(config.work, retention_days=settings.web_retention_days,
                          interrupted=interrupted)  # fmt: skip
    app.state.sessions = Sessions(key_file.with_name("web-sessions.json"),
                                  idle_seconds=settings.web_idle_minutes * 60)  # fmt: skip
    app.state.attempts = Attempts()
    # An unknown user's password is checked against this, so that it takes a known one's time.
    app.state.decoy = hash_password(secrets.token_urlsafe(16))
    return app


# --- helpers of the handlers ----------------------------------------------------------------


def _config(request: Request) -> WebConfig:
    config: WebConfig = request.app.state.config
    return config


def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


def _max_bytes(request: Request) -> int:
    return int(_config(request).settings.web_max_upload_mb * 1024 * 1024)


def _user_of(request: Request) -> str | None:
    """The logged-in user: the session record the cookie names, still open and not idle."""
    sessions: Sessions = request.app.state.sessions
    user = sessions.user(request.session.get("sid"))
    return user if user in _config(request).settings.web_users else None


def _is_admin(request: Request, user: str | None = None) -> bool:
    user = user or _user_of(request)
    return _config(request).settings.web_roles.get(user or "") == "admin"


def _csrf_token(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    return str(request.session["csrf"])


async def _checked_form(request: Request) -> dict[str, Any] | None:
    """The form's fields (an uploaded file as its name and bytes), or None without the
    session's CSRF token."""
    max_bytes = _max_bytes(request)
    async with request.form(max_part_size=max_bytes + 1024) as form:
        sent = form.get("csrf")
        if not isinstance(sent, str) or not secrets.compare_digest(sent, _csrf_token(request)):
            return None
        fields: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            else:
                fields[key] = (value.filename or "", await value.read(max_bytes + 1))
        return fields


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    user = _user_of(request)  # once: each look-up touches the session's record
    return TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "csrf": _csrf_token(request),
            "user": user,
            "lang": language(),
            "admin": bool(user) and _is_admin(request, user),
            **context,
        },
        status_code=status_code,
    )


def _message(request: Request, status_code: int, title: str, message: str = "") -> Response:
    return _page(request, "message.html", status_code, title=title, message=message)


def _forbidden(request: Request) -> Response:
    expired = _("This form has expired or did not come from this page: reload it.")
    return _message(request, 403, _("Refused"), expired)


def _language_of(request: Request) -> str:
    """The user's language (``[web.users.NAME] lang``), else the site's."""
    settings = _config(request).settings
    return settings.web_langs.get(_user_of(request) or "", settings.lang)


def _needs_login(handler: Any) -> Any:
    async def guarded(request: Request) -> Response:
        if _user_of(request) is None:
            return RedirectResponse("/login", status_code=303)
        use(_language_of(request))  # this request only: each runs in its own context
        try:
            return await handler(request)
        except Exception as error:  # answered here: re-raised, the server would drop the line
            return await _unexpected_page(request, error)

    return guarded


# --- the endpoints --------------------------------------------------------------------------


async def login(request: Request) -> Response:
    use(_config(request).settings.lang)
    if request.method == "GET":
        return _page(request, "login.html")
    form = await _checked_form(request)
    if form is None:
        return _forbidden(request)
    name, password = str(form.get("user", "")), str(form.get("password", ""))
    attempts: Attempts = request.app.state.attempts
    address = request.client.host if request.client else ""
    if wait := attempts.locked_for(name, address):
        said = _("Too many wrong passwords: try again in {seconds} s.").format(
            seconds=math.ceil(wait)
        )
        return _page(request, "login.html", 429, error=said)
    known = _config(request).settings.web_users.get(name)
    # An unknown user costs the same hashing as a known one: no answer says which exists.
    right = await run_in_threadpool(check_password, password, known or request.app.state.decoy)
    if known is None or not right:
        attempts.failed(name, address)
        return _page(request, "login.html", 401, error=_("Unknown user or wrong password."))
    attempts.succeeded(name, address)
    request.session.clear()
    request.session["sid"] = request.app.state.sessions.open(name)
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> Response:
    if await _checked_form(request) is not None:
        request.app.state.sessions.close(request.session.get("sid"))  # the cookie opens nothing
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    config = _config(request)
    runs = await run_in_threadpool(undoing.history_of, config.state_path)
    zone = config.settings.zone
    return _page(request, "home.html", runs=runs, reports=_jobs(request).reports(),
                 limit_mb=config.settings.web_max_upload_mb, zone_name=str(zone),
                 local=lambda at: review.local_moment(at, zone))  # fmt: skip


async def upload(request: Request) -> Response:
    config = _config(request)
    max_bytes = _max_bytes(request)
    declared = int(request.headers.get("content-length") or 0)
    if declared > max_bytes + 64 * 1024:
        return _message(request, 413, _("File too large"),
                        _("The file is over the {mb} MB limit of this page.").format(
                            mb=f"{config.settings.web_max_upload_mb:g}"))  # fmt: skip
    try:
        form = await _checked_form(request)
    except Exception:  # multipart parser refusing an oversized or broken body
        return _message(request, 413, _("File refused"),
                        _("The upload could not be read (too large, or cut short)."))  # fmt: skip
    if form is None:
        return _forbidden(request)
    filename, data = form.get("planning") or ("", b"")
    if not filename:
        return _message(request, 400, _("No file"), _("Choose a file."))
    if len(data) > max_bytes:
        return _message(request, 413, _("File too large"), _("The file is over the upload limit."))
    job = await run_in_threadpool(new_job, config.work, str(_user_of(request)), filename, data)
    _jobs(request).add(job)
    await _prepare_review(config, job)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)  # a refresh sends nothing again


async def _prepare_review(config: WebConfig, job: Job) -> None:
    """Plan the upload (the plan saved beside it), or say why it cannot be imported."""
    try:
        job.review = await run_in_threadpool(_review, config, job)
    except OceanImportError as refused:
        job.refused = str(refused)


def _review_page(request: Request, job: Job) -> Response:
    if job.refused:
        return _page(request, "review.html", 422, job=job, refused=job.refused)
    run, zone = job.review, _config(request).settings.zone
    show = request.query_params.get("show", "all")
    lines = run.lines()
    summary = run.summary()
    changes, changes_total = review.cab_lines(run, zone)
    return _page(
        request,
        "review.html",
        job=job,
        checked=run.checked,
        plan=run.plan,
        zone=zone_words(summary.timezone, summary.timezone_given),
        notices=summary.notices,
        kept=lines[lines["action"] == Action.KEPT].head(SHOWN_LINES).to_dict(orient="records"),
        counts={action: summary.actions.get(action, 0) for action in Action},
        changes=changes,
        more=changes_total - len(changes),
        deletions=review.deletion_lines(run, zone),
        groups=review.problem_groups(run, show if show in review.FILTERS else "all"),
        show=show,
        problems_total=sum(p.kind not in FILE_NOTICES for p in run.checked.problems),
        plan_book=(job.folder / f"{job.file.stem}.plan.xlsx").is_file(),
    )


def _settings_of(config: WebConfig, job: Job) -> Settings:
    """The site's settings, with the sheet the person chose for this upload."""
    return config.settings if job.sheet is None else replace(config.settings, sheet=job.sheet)


def _review(config: WebConfig, job: Job) -> ImportRun:
    """The plan of an upload, saved beside it: "Confirm" applies exactly this one."""
    options = ImportOptions(feed="", feed_from_name=True)
    with open_state(config.state_path) as state:
        run, _ = plan_file(job.file, _settings_of(config, job), state, options,
                           out_path=job.folder / "plan.json",
                           report_path=job.folder / f"{job.file.stem}.plan.xlsx")  # fmt: skip
    return run


async def confirm(request: Request) -> Response:
    jobs = _jobs(request)
    job = jobs.of(request.path_params["job"], _user_of(request))
    if job is None:
        return _message(request, 404, _("Unknown upload"))
    form = await _checked_form(request)
    if form is None:
        return _forbidden(request)
    if "deletions" in form:  # past the mass-delete guard: an admin's, after typing the count
        if not _is_admin(request):
            return _message(request, 403, _("Refused"), _(
                "Only an administrator can confirm deletions that the guard stopped."))  # fmt: skip
        try:
            job.confirmed_deletions = int(str(form["deletions"]).strip())
        except ValueError:
            return _message(request, 400, _("Refused"), _("Type the number of deletions."))
    _start(request, job)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _start(request: Request, job: Job) -> None:
    """Apply the upload's plan in a thread of its own (once: a second click does nothing)."""
    config, jobs, lang = _config(request), _jobs(request), _language_of(request)
    jobs.start(job, lambda: run_import(_settings_of(config, job), config.state_path, jobs, job,
                                      lang))  # fmt: skip


async def force(request: Request) -> Response:
    """ "Apply anyway": the missions held because a driver has them in hand, sent after all
    (the file planned again: what the first run applied is now unchanged)."""
    return await _again(request, allow_started=True)


async def recheck(request: Request) -> Response:
    """ "Check again": the same file planned anew (a plan gone stale, an import that failed)."""
    return await _again(request, allow_started=False)


async def _again(request: Request, *, allow_started: bool) -> Response:
    jobs = _jobs(request)
    earlier = jobs.of(request.path_params["job"], _user_of(request))
    if earlier is None or not earlier.finished or not earlier.file.is_file():
        return _message(request, 404, _("Unknown upload"))
    if await _checked_form(request) is None:
        return _forbidden(request)
    config = _config(request)
    data = await run_in_threadpool(earlier.file.read_bytes)
    job = await run_in_threadpool(new_job, config.work, earlier.user, earlier.file.name, data,
                                  allow_started=allow_started)  # fmt: skip
    jobs.add(job)
    if allow_started:
        _start(request, job)
    else:
        await _prepare_review(config, job)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


async def other_sheet(request: Request) -> Response:
    """Another sheet of the same workbook, chosen on the review (the reader named the sheets
    that hold a planning too): the same file planned again from that sheet."""
    jobs = _jobs(request)
    earlier = jobs.of(request.path_params["job"], _user_of(request))
    if earlier is None or earlier.started or earlier.review is None:
        return _message(request, 404, _("Unknown upload"))
    form = await _checked_form(request)
    if form is None:
        return _forbidden(request)
    raw = earlier.review.checked.sheet.raw
    if str(form.get("sheet", "")) not in raw.other_plannings:
        return _message(request, 400, _("Refused"), _("Choose one of the sheets listed."))
    config = _config(request)
    data = await run_in_threadpool(earlier.file.read_bytes)
    job = await run_in_threadpool(new_job, config.work, earlier.user, earlier.file.name, data,
                                  sheet=str(form["sheet"]))  # fmt: skip
    jobs.add(job)
    await _prepare_review(config, job)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


async def job_page(request: Request) -> Response:
    """The upload's page: its review until it is confirmed, then the import's progress and
    result (its own address: a refresh shows it again, and sends nothing)."""
    job = _jobs(request).of(request.path_params["job"], _user_of(request))
    if job is None:
        return _message(request, 404, _("Unknown upload"))
    if not job.started:
        if job.review is None and not job.refused:  # after a restart: planned again
            await _prepare_review(_config(request), job)
        return _review_page(request, job)
    return _page(request, "job.html", job=job)


async def job_progress(request: Request) -> Response:
    """How far an import is, for the page's script (the page itself needs no reload)."""
    job = _jobs(request).of(request.path_params["job"], _user_of(request))
    if job is None:
        return JSONResponse({"finished": True}, status_code=404)
    return JSONResponse({"done": job.done, "total": job.total, "finished": job.finished})


async def plan_workbook(request: Request) -> Response:
    """The reviewed plan's workbook: every row, every change, every problem."""
    job = _jobs(request).of(request.path_params["job"], _user_of(request))
    book = job.folder / f"{job.file.stem}.plan.xlsx" if job else None
    if book is None or not book.is_file():
        return _message(request, 404, _("No workbook"))
    return FileResponse(book, filename=book.name)


async def download(request: Request) -> Response:
    job = _jobs(request).of(request.path_params["job"], _user_of(request), admin=_is_admin(request))
    if job is None or not job.result.get("report"):
        return _message(request, 404, _("No workbook"))
    report = Path(job.result["report"])
    return FileResponse(
        report,
        filename=report.name,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await run_in_threadpool(app.state.jobs.stop)  # the imports end cleanly, workbooks written


async def _unexpected_page(request: Request, error: Exception) -> Response:
    """An error nobody foresaw: a page with a sentence and a reference to the log."""
    use(_config(request).settings.lang)
    said = guards.unexpected(error, request.url.path)
    return TEMPLATES.TemplateResponse(request, "message.html", {
        "csrf": "", "user": None, "lang": language(), "title": _("Unexpected error"),
        "message": said}, status_code=500)  # fmt: skip
