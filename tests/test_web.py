"""The web page, driven by a real browser (Playwright with Debian's chromium).

login -> upload the broken sample -> its errors -> upload the clean sample -> confirm ->
download the workbook -> the sandbox holds the missions; and the refusals: no access without
login, a forged form, an oversized upload. Screenshots of each step: test-output/web/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
import uvicorn
from click.testing import CliRunner

from importer.cli import main
from importer.config import OceanSettings, Secret, load_settings
from importer.sandbox import SandboxServer, World
from importer.sandbox.world import Account, Faults
from importer.store import open_state
from importer.web.app import WebConfig, create_web_app
from importer.web.jobs import Jobs, new_job
from importer.web.passwords import hash_password
from importer.web.sessions import Sessions
from tests.helpers import ROOT, SAMPLE_CONFIG, mission, rows_for, upcoming, write_planning
from tests.hostile_files import sparse_xlsx
from tests.speech import foreign_sentences

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "test-output" / "web"
USER, PASSWORD = "marie", "Planning-2026!"

# Never skipped for want of a browser (`make test` installs it): deselect them on purpose
# with `-m 'not browser'`.
pytestmark = pytest.mark.browser


class WebServer:
    """The page on a free loopback port, in a thread, importing into a sandbox."""

    def __init__(self, folder: Path, max_upload_mb: float = 20, lang: str = "fr",
                 admins: tuple[str, ...] = (), latency: float = 0,
                 state: str | None = None) -> None:  # fmt: skip
        self.folder = folder
        world = World([Account("demo", "demo", customers=(4242,))], faults=Faults(latency=latency))
        self.sandbox = SandboxServer(world).start()
        settings = load_settings(SAMPLE_CONFIG, {})
        settings = replace(
            settings,
            ocean=OceanSettings(
                base_url=self.sandbox.base_url, login="demo", password=Secret("demo")
            ),
            web_users={USER: hash_password(PASSWORD)}
            | {name: hash_password(PASSWORD) for name in admins},
            web_roles=dict.fromkeys(admins, "admin"),
            lang=lang,  # the site's language: French unless a test asks for English
            web_max_upload_mb=max_upload_mb,
        )
        app = create_web_app(WebConfig(settings, state or str(folder / "state.db"),
                                       folder / "work", secure_cookies=False))  # fmt: skip
        listening = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [listening]},
                                       daemon=True)  # fmt: skip
        self.thread.start()
        while not self.server.started:
            threading.Event().wait(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sandbox.stop()


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    """A browser per test (its pages, cookies and storage end with it). One for the module,
    Playwright's norm, keeps Playwright's event loop running in the main thread between tests,
    and a command a later test runs there (``asyncio.run``) is then refused."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed: `make browser` installs it")
    # The page's clock is the server's (this process); the browser and Playwright's driver
    # keep the real one, even when the suite runs with its clock set ahead (faketime).
    with _without(("LD_PRELOAD", "FAKETIME")):
        playwright = sync_playwright().start()
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@contextlib.contextmanager
def _without(names: tuple[str, ...]) -> Iterator[None]:
    """The environment without ``names`` for the processes started meanwhile."""
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def log_in(page: object, url: str, user: str = USER) -> None:
    page.goto(url + "/")  # type: ignore[attr-defined]
    page.fill("input[name=user]", user)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]


# What each language's pages say, and words of the other language they must not hold.
SAYS = {
    "fr": {"refused": "mot de passe incorrect", "invalid": "invalides", "create": "à créer",
           "problem": "l'identifiant de mission est vide", "severity": "erreur",
           "results": "Résultats", "home": "Importer un planning"},
    "en": {"refused": "wrong password", "invalid": "invalid", "create": "to create",
           "problem": "the mission id is empty", "severity": "error",
           "results": "Results", "home": "Import a planning"},
}  # fmt: skip
NEVER = {
    "fr": ["Import a planning", "Check the file", "to create", "Problems to fix", "Log out",
           "is empty", "Confirm and send", "Earlier imports", "Download the results"],
    "en": ["Importer un planning", "Vérifier le fichier", "à créer", "Problèmes à corriger",
           "Se déconnecter", "est vide", "Confirmer et envoyer", "Imports précédents",
           "Télécharger le classeur", "lignes"],
}  # fmt: skip


def assert_speaks(page: object, lang: str) -> None:
    """The page says nothing in the other language: its interface words, and any sentence of
    the catalog or English phrasing (``speech``)."""
    text = page.inner_text("body") or ""  # type: ignore[attr-defined]
    # The dispatcher's own values (marked data-planning) are in whatever language they wrote.
    for theirs in page.locator("[data-planning]").all_inner_texts():  # type: ignore[attr-defined]
        text = text.replace(theirs, " ", 1) if theirs.strip() else text
    assert [words for words in NEVER[lang] if words in text] == []
    assert foreign_sentences(text, lang) == []


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_upload_review_confirm_download(
    lang: str, browser: object, tmp_path: Path, samples: Path
) -> None:
    web, says, prefix = WebServer(tmp_path, lang=lang), SAYS[lang], "" if lang == "fr" else "en-"
    try:
        page = browser.new_page(accept_downloads=True)  # type: ignore[attr-defined]
        page.goto(web.url + "/")
        assert page.url.endswith("/login")
        assert_speaks(page, lang)
        shot(page, f"{prefix}1-login")
        page.fill("input[name=user]", USER)
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        assert says["refused"] in page.text_content("[role=alert]")
        log_in(page, web.url)
        assert page.url == web.url + "/"
        assert_speaks(page, lang)
        shot(page, f"{prefix}2-home")

        page.set_input_files("input[name=planning]", str(samples / "planning-broken.xlsx"))
        page.click("#check")
        problems = page.text_content("#kinds") + page.text_content("#id_required")
        assert "N° mission" in problems and says["severity"] in problems
        assert says["problem"] in problems
        assert page.text_content("#counts").count(says["invalid"]) == 1
        assert_speaks(page, lang)
        shot(page, f"{prefix}3-broken-sample-errors")

        page.goto(web.url + "/")
        page.set_input_files("input[name=planning]", str(samples / "planning-clean.xlsx"))
        page.click("#check")
        assert "36" in page.text_content("#counts")
        assert says["create"] in page.text_content("#counts")
        assert_speaks(page, lang)
        shot(page, f"{prefix}4-clean-sample-plan")
        assert web.sandbox.world.missions() == []  # nothing sent before the confirmation

        page.click("#confirm")
        page.wait_for_selector("#result", timeout=60_000)
        assert_speaks(page, lang)
        shot(page, f"{prefix}5-results")
        with page.expect_download() as download:
            page.click("#download")
        saved = tmp_path / "resultats.xlsx"
        download.value.save_as(saved)
        book = openpyxl.load_workbook(saved)
        results = list(book[says["results"]].iter_rows(min_row=2, values_only=True))
        assert len(results) == 36
        assert len(web.sandbox.world.missions()) == 36

        page.goto(web.url + "/")
        assert "planning-clean.xlsx" in page.text_content("table")
        assert_speaks(page, lang)
        shot(page, f"{prefix}6-history")
    finally:
        web.stop()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_error_pages_speak_one_language(
    lang: str, browser: object, tmp_path: Path, samples: Path
) -> None:
    """A form sent without its token, a file over the limit, an upload that does not exist,
    a workbook not there: each page in the site's language only."""
    web, prefix = WebServer(tmp_path, max_upload_mb=1, lang=lang), "" if lang == "fr" else "en-"
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        log_in(page, web.url)
        forged = forged_upload(page, web.url, samples)
        assert forged.status == 403
        page.set_content(forged.text())
        assert_speaks(page, lang)
        for address in ("/jobs/nope", "/jobs/nope/download"):
            assert page.goto(web.url + address).status == 404
            assert_speaks(page, lang)
        shot(page, f"{prefix}10-unknown-upload")
        page.goto(web.url + "/")
        page.set_input_files("input[name=planning]", files=[{
            "name": "enorme.csv", "mimeType": "text/csv", "buffer": b"x" * (3 * 1024 * 1024)}])  # fmt: skip
        page.click("#check")
        limit = "dépasse la limite de 1 Mo" if lang == "fr" else "over the 1 MB limit"
        assert limit in page.text_content("[role=alert]")
        assert_speaks(page, lang)
        page.goto(web.url + "/login")
        page.fill("input[name=user]", USER)
        page.fill("input[name=password]", "wrong")
        page.click("button[type=submit]")
        assert_speaks(page, lang)
    finally:
        web.stop()


def edited_sample(samples: Path, folder: Path, name: str, edit: Any) -> Path:
    """The clean sample with ``edit(sheet, headers, first_row)`` applied, saved as ``name``."""
    book = openpyxl.load_workbook(samples / "planning-clean.xlsx")
    sheet = book.active
    rows = list(sheet.iter_rows(values_only=True))
    header_row = next(n for n, row in enumerate(rows, start=1) if row.count(None) < 3)
    edit(sheet, list(rows[header_row - 1]), header_row + 1)
    book.save(folder / name)
    return folder / name


def test_a_mission_a_driver_has_in_hand_is_held_and_applied_only_when_asked(
    web: WebServer, browser: object, tmp_path: Path, samples: Path
) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    log_in(page, web.url)
    page.set_input_files("input[name=planning]", str(samples / "planning-clean.xlsx"))
    page.click("#check")
    assert "heures en Europe/Paris" in page.text_content("#zone")
    page.click("#confirm")
    page.wait_for_selector("#result", timeout=60_000)
    first = web.sandbox.world.missions()[0]["idMission"]
    web.sandbox.world.set_status(first, "En cours")

    def new_comment(sheet: Any, headers: list[Any], first_row: int) -> None:
        sheet.cell(first_row, headers.index("Commentaire") + 1).value = "Quai 4, pas 2"

    changed = edited_sample(samples, tmp_path, "planning-clean.xlsx", new_comment)
    page.goto(web.url + "/")
    page.set_input_files("input[name=planning]", str(changed))
    page.click("#check")
    page.click("#confirm")
    page.wait_for_selector("#result", timeout=60_000)
    held = page.text_content("#held")
    assert "a cette mission en main" in held and "En cours" in held
    assert_speaks(page, "fr")
    shot(page, "11-held-mission")
    comment = {m["idMission"]: m.get("commentaire") for m in web.sandbox.world.missions()}
    assert comment[first] != "Quai 4, pas 2"  # not touched
    page.click("#force")
    page.wait_for_selector("#result", timeout=60_000)
    comment = {m["idMission"]: m.get("commentaire") for m in web.sandbox.world.missions()}
    assert comment[first] == "Quai 4, pas 2"


def test_the_review_says_when_nothing_will_reach_the_vehicles(
    web: WebServer, browser: object, tmp_path: Path, samples: Path
) -> None:
    def nothing_sent(sheet: Any, headers: list[Any], first_row: int) -> None:
        sheet.delete_cols(headers.index("À envoyer") + 1)

    unsent = edited_sample(samples, tmp_path, "planning-prepare.xlsx", nothing_sent)
    page = browser.new_page()  # type: ignore[attr-defined]
    log_in(page, web.url)
    page.set_input_files("input[name=planning]", str(unsent))
    page.click("#check")
    notice = " ".join(page.text_content("#not-sent").split())
    assert "aucune des 36 missions valides ne sera envoyée aux véhicules" in notice
    assert_speaks(page, "fr")
    shot(page, "12-nothing-sent")


def test_nothing_without_login(web: WebServer) -> None:
    with httpx.Client(base_url=web.url, follow_redirects=False) as client:
        for method, path in (("GET", "/"), ("POST", "/upload"), ("GET", "/jobs/x/download")):
            answer = client.request(method, path)
            assert answer.status_code == 303 and answer.headers["location"] == "/login"


def forged_upload(page: object, url: str, samples: Path) -> Any:
    """An upload posted without the form's CSRF token (as another site's page would)."""
    return page.request.post(url + "/upload", multipart={  # type: ignore[attr-defined]
        "planning": {"name": "p.xlsx", "mimeType": "application/octet-stream",
                     "buffer": (samples / "planning-clean.xlsx").read_bytes()}})  # fmt: skip


def test_a_forged_form_without_the_csrf_token_is_refused(
    web: WebServer, browser: object, samples: Path
) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    log_in(page, web.url)
    forged = forged_upload(page, web.url, samples)
    assert forged.status == 403
    page.set_content(forged.text())
    shot(page, "7-forged-form-refused")
    assert web.sandbox.world.missions() == []


def test_an_oversized_upload_is_refused(tmp_path: Path, browser: object) -> None:
    web = WebServer(tmp_path, max_upload_mb=1)
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        log_in(page, web.url)
        page.set_input_files("input[name=planning]", files=[{
            "name": "enorme.csv", "mimeType": "text/csv", "buffer": b"x" * (3 * 1024 * 1024)}])  # fmt: skip
        page.click("#check")
        assert "dépasse la limite de 1 Mo" in page.text_content("[role=alert]")
        shot(page, "8-oversized-upload-refused")
    finally:
        web.stop()


def test_a_workbook_that_would_kill_the_reader_gets_a_sentence_and_the_server_lives(
    web: WebServer, browser: object, tmp_path: Path
) -> None:
    """1.6 KB asking for a 100 GB grid: read in a capped child, refused; nobody else notices."""
    far = sparse_xlsx(tmp_path / "loin.xlsx", [("A1", "idMission"), ("XFD200000", "x")])
    dispatcher = browser.new_page()  # type: ignore[attr-defined]
    colleague = browser.new_context().new_page()  # type: ignore[attr-defined]
    log_in(dispatcher, web.url)
    log_in(colleague, web.url)
    dispatcher.set_input_files("input[name=planning]", str(far))
    dispatcher.click("#check")
    alert = dispatcher.text_content("[role=alert]")
    assert "loin.xlsx\u00a0: dépasse les limites" in alert and "600 Mo" in alert
    shot(dispatcher, "9-far-cell-refused")
    colleague.goto(web.url + "/")
    assert colleague.url == web.url + "/" and "Importer un planning" in colleague.content()
    assert web.thread.is_alive()


def logged_in_client(url: str) -> httpx.Client:
    """An HTTP client with a logged-in session (the form's CSRF token read from the page)."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    answer = client.post("/login", data={"user": USER, "password": PASSWORD, "csrf": token[1]})
    assert answer.status_code == 303
    return client


def test_reading_and_planning_an_upload_leave_the_page_free_for_others(
    web: WebServer, tmp_path: Path
) -> None:
    """The review of a big planning runs in the thread pool: a colleague's page is served
    while it is under way (were it on the event loop, the colleague would wait for it)."""
    rows = [mission(idMission=f"G-{n:05d}", jourHeureInter=upcoming(1, 7) + dt.timedelta(
        seconds=n)) for n in range(20_000)]  # fmt: skip
    planning = write_planning(tmp_path / "grand.csv", rows)
    dispatcher, colleague = logged_in_client(web.url), logged_in_client(web.url)
    token = re.search(r'name="csrf" value="([^"]+)"', dispatcher.get("/").text)
    assert token is not None
    answered: list[str] = []

    def upload() -> None:
        files = {"planning": ("grand.csv", planning.read_bytes(), "text/csv")}
        sent = dispatcher.post("/upload", data={"csrf": token[1]}, files=files)
        assert sent.status_code == 303, sent.text  # then the review has its own address
        review = dispatcher.get(sent.headers["location"])
        assert review.status_code == 200 and "grand.csv" in review.text
        answered.append("review")

    uploading = threading.Thread(target=upload)
    uploading.start()
    work = tmp_path / "work"
    while uploading.is_alive() and not any(p.suffix == ".csv" for p in work.rglob("*.csv")):
        threading.Event().wait(0.005)  # the upload is kept: its review starts now
    assert colleague.get("/").status_code == 200
    answered.append("colleague")
    uploading.join(120)
    assert answered == ["colleague", "review"]
    dispatcher.close()
    colleague.close()


def chunked_gigabyte(sent: list[int]) -> Iterator[bytes]:
    """1 GB in 1 MB chunks, without a Content-Length; ``sent`` counts what left."""
    chunk = b"x" * (1024 * 1024)
    for _ in range(1024):
        sent[0] += len(chunk)
        yield chunk


@pytest.mark.parametrize("path", ["/login", "/upload"])
def test_a_chunked_gigabyte_is_refused_before_25_mb_reach_the_disk(
    web: WebServer, path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before logging in (/login) and after (/upload): the body is counted as it arrives,
    and the form parser's temporary files (in the server's temporary folder, watched here)
    never grow past the limit (20 MB for an upload, 64 KB for any other form)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # the server runs in this process
    # The parser's files are unnamed (O_TMPFILE): what the file system holds is measured.
    baseline = shutil.disk_usage(spool).used
    peak, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], shutil.disk_usage(spool).used - baseline)
            done.wait(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    sent = [0]
    client = logged_in_client(web.url) if path == "/upload" else httpx.Client(base_url=web.url)
    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    body = b'--xyz\r\nContent-Disposition: form-data; name="planning"; filename="g.csv"\r\n\r\n'
    try:
        answer = client.post(path, content=itertools.chain([body], chunked_gigabyte(sent)),
                             headers=headers)  # fmt: skip
        assert answer.status_code == 413
    except httpx.TransportError:
        pass  # the server closed the connection on a body it will not read: as good
    finally:
        client.close()
        done.set()
        watcher.join()
    assert peak[0] < 25 * 1024 * 1024
    with httpx.Client(base_url=web.url) as fresh:
        assert fresh.get("/login").status_code == 200  # and the page lives on


@pytest.mark.parametrize(
    "name", ["..", "../../etc/passwd.xlsx", "é" * 200 + ".xlsx", "con\\..\\x.csv"]
)
def test_an_upload_with_any_name_gets_its_review(web: WebServer, samples: Path, name: str) -> None:
    client = logged_in_client(web.url)
    files = {"planning": (name, (samples / "planning-clean.xlsx").read_bytes())}
    sent = client.post("/upload", data={"csrf": csrf_of(client)}, files=files)
    assert sent.status_code == 303, sent.text
    review = client.get(sent.headers["location"])
    client.close()
    assert review.status_code in (200, 422), review.text  # a review, or a sentence: never 500
    kept = [p.name for p in (web.folder / "work").rglob("*") if p.is_file() and p.suffix != ".json"]
    assert kept and all(len(n.encode()) <= 200 and not n.startswith(".") for n in kept)


def test_an_error_nobody_foresaw_is_a_page_with_a_reference(
    web: WebServer, samples: Path, caplog: pytest.LogCaptureFixture
) -> None:
    work = web.folder / "work"
    shutil.rmtree(work)
    work.write_text("a file where the uploads' folder should be")  # the disk changed under it
    client = logged_in_client(web.url)
    files = {"planning": ("p.xlsx", (samples / "planning-clean.xlsx").read_bytes())}
    page = client.post("/upload", data={"csrf": csrf_of(client)}, files=files)
    again = client.get("/")
    client.close()
    assert page.status_code == 500
    ref = re.search(r"référence ([0-9a-f]{8})", page.text)
    assert ref is not None and "Traceback" not in page.text
    assert any(ref[1] in record.getMessage() for record in caplog.records)
    assert again.status_code == 200  # the next page is served as before


def csrf_of(client: httpx.Client, path: str = "/") -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert token is not None
    return token[1]


def test_a_restart_keeps_the_session_and_a_logout_revokes_the_cookie(tmp_path: Path) -> None:
    first = WebServer(tmp_path)
    try:
        client = logged_in_client(first.url)
        cookie = client.cookies["ocean_import"]
        client.close()
    finally:
        first.stop()
    key = tmp_path / "web-secret.key"  # beside the state store, owner-only
    assert key.stat().st_mode & 0o777 == 0o600
    second = WebServer(tmp_path)  # the same folders: a restart
    try:
        with httpx.Client(base_url=second.url, cookies={"ocean_import": cookie}) as again:
            assert again.get("/").status_code == 200  # still logged in
            again.post("/logout", data={"csrf": csrf_of(again)})
        with httpx.Client(base_url=second.url, cookies={"ocean_import": cookie}) as stolen:
            answer = stolen.get("/")  # the cookie as it was before the logout
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
    finally:
        second.stop()


def test_wrong_passwords_lock_the_user_out_and_the_page_says_for_how_long(web: WebServer) -> None:
    with httpx.Client(base_url=web.url) as client:
        token = csrf_of(client, "/login")
        tries = [client.post("/login", data={"user": USER, "password": f"essai-{n}",
                                             "csrf": token}) for n in range(10)]  # fmt: skip
        right = client.post("/login", data={"user": USER, "password": PASSWORD, "csrf": token})
        other = client.post("/login", data={"user": "personne", "password": "x", "csrf": token})
    assert [t.status_code for t in tries] == [401] * 5 + [429] * 5
    assert right.status_code == 429  # locked: even the right password waits
    assert re.search(r"réessayez dans \d+\u00a0s", right.text)
    assert other.status_code == 429  # the address is locked too, whatever the name


def test_a_session_left_idle_is_closed_and_a_saved_one_survives_a_restart(tmp_path: Path) -> None:
    now = [1000.0]
    sessions = Sessions(tmp_path / "s.json", idle_seconds=60, clock=lambda: now[0])
    kept, idle = sessions.open("marie"), sessions.open("paul")
    now[0] += 50
    assert sessions.user(kept) == "marie"  # used: its idle time starts again
    now[0] += 50
    assert sessions.user(kept) == "marie" and sessions.user(idle) is None
    restarted = Sessions(tmp_path / "s.json", idle_seconds=60, clock=lambda: now[0])
    assert restarted.user(kept) == "marie"
    restarted.close(kept)
    assert Sessions(tmp_path / "s.json", idle_seconds=60, clock=lambda: now[0]).user(kept) is None


def upload_file(client: httpx.Client, path: Path) -> str:
    """Upload ``path`` as the page does; the address of its review."""
    files = {"planning": (path.name, path.read_bytes())}
    sent = client.post("/upload", data={"csrf": csrf_of(client)}, files=files)
    assert sent.status_code == 303, sent.text
    return str(sent.headers["location"])


def wait_for_result(client: httpx.Client, address: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page = client.get(address).text
        if 'id="result"' in page:
            return page
        time.sleep(0.1)
    raise AssertionError(f"no result at {address} after {seconds} s")


def test_a_refresh_sends_nothing_twice_and_a_restart_keeps_history_and_downloads(
    tmp_path: Path, samples: Path
) -> None:
    first = WebServer(tmp_path)
    try:
        client = logged_in_client(first.url)
        done = upload_file(client, samples / "planning-clean.xlsx")
        assert client.get(done).status_code == 200  # the review, at its own address
        folders = sorted((tmp_path / "work").iterdir())
        client.get(done)  # a refresh of the review: no new upload
        assert sorted((tmp_path / "work").iterdir()) == folders
        confirm = {"csrf": csrf_of(client, done)}
        assert client.post(f"{done}/confirm", data=confirm).status_code == 303
        wait_for_result(client, done)
        calls = len(first.sandbox.world.requests())
        assert client.post(f"{done}/confirm", data=confirm).status_code == 303  # sent again
        assert len(first.sandbox.world.requests()) == calls  # ... and nothing re-submitted
        pending = upload_file(client, samples / "planning-broken.xlsx")  # reviewed, not confirmed
        cookie = client.cookies["ocean_import"]
        client.close()
    finally:
        first.stop()
    second = WebServer(tmp_path)  # a restart over the same folders
    try:
        with httpx.Client(base_url=second.url, cookies={"ocean_import": cookie}) as again:
            home = again.get("/").text
            assert f"{done}/download" in home  # the history keeps its download link
            book = again.get(f"{done}/download")
            assert book.status_code == 200 and book.content[:2] == b"PK"
            assert "Terminé" in again.get(done).text
            review = again.get(pending)  # planned again from the kept file
            assert review.status_code == 200 and "planning-broken.xlsx" in review.text
    finally:
        second.stop()


def test_an_import_cut_short_by_sigterm_is_stopped_with_its_workbook_after_a_restart(
    tmp_path: Path, samples: Path, unused_port: int
) -> None:
    """The real ``ocean-import serve`` process, a slow sandbox: SIGTERM mid-import."""
    config = tmp_path / "site.toml"
    config.write_text(
        SAMPLE_CONFIG.read_text() + f'\n[web.users]\n{USER} = "{hash_password(PASSWORD)}"\n'
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        ocean_port = probe.getsockname()[1]
    ocean = subprocess.Popen([sys.executable, "-m", "importer", "sandbox", "--port", str(ocean_port),
                              "--latency", "1500"], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    env = {**os.environ, "OCEAN_BASE_URL": f"http://127.0.0.1:{ocean_port}/ocean/restapi",
           "OCEAN_LOGIN": "demo", "OCEAN_PASSWORD": "demo", "OCEAN_IMPORT_LANG": "fr"}  # fmt: skip
    serve = [
        sys.executable,
        "-m",
        "importer",
        "serve",
        "--port",
        str(unused_port),
        "--config",
        str(config),
        "--work",
        str(tmp_path / "work"),
        "--state",
        str(tmp_path / "state.db"),
    ]
    url = f"http://127.0.0.1:{unused_port}"

    def started() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                httpx.get(url + "/login")
                return process
            time.sleep(0.05)
        raise AssertionError("the page did not start")

    page = started()
    try:
        client = logged_in_client(url)
        address = upload_file(client, samples / "planning-clean.xlsx")
        client.post(f"{address}/confirm", data={"csrf": csrf_of(client, address)})
        deadline = time.monotonic() + 30
        while "Envoi" not in client.get(address).text and time.monotonic() < deadline:
            time.sleep(0.1)
        page.send_signal(signal.SIGTERM)
        # uvicorn stops gracefully, then ends with the signal it caught (its own convention)
        assert page.wait(60) in (0, -signal.SIGTERM)
        cookie = client.cookies["ocean_import"]
        client.close()
        page = started()
        with httpx.Client(base_url=url, cookies={"ocean_import": cookie}) as again:
            result = wait_for_result(again, address, 5)
            assert "Interrompu" in result
            book = again.get(f"{address}/download")
            assert book.status_code == 200 and book.content[:2] == b"PK"
    finally:
        page.terminate()
        page.wait(30)
        ocean.terminate()
        ocean.wait(30)


def test_a_plan_gone_stale_offers_to_check_the_same_file_again(
    web: WebServer, samples: Path
) -> None:
    client = logged_in_client(web.url)
    older = upload_file(client, samples / "planning-clean.xlsx")  # reviewed...
    newer = upload_file(client, samples / "planning-clean.xlsx")
    client.post(f"{newer}/confirm", data={"csrf": csrf_of(client, newer)})
    wait_for_result(client, newer)  # ... and someone imported in between
    client.post(f"{older}/confirm", data={"csrf": csrf_of(client, older)})
    stale = wait_for_result(client, older)
    assert 'id="recheck"' in stale
    again = client.post(f"{older}/recheck", data={"csrf": csrf_of(client, older)})
    assert again.status_code == 303 and again.headers["location"] != older
    review = client.get(again.headers["location"]).text
    assert "planning-clean.xlsx" in review and "Rien à envoyer" in review  # now up to date
    client.close()


def test_the_review_of_a_big_planning_fits_its_first_screen_and_shows_old_and_new(
    web: WebServer, browser: object, tmp_path: Path
) -> None:
    rows = rows_for(1, 2000)
    first = write_planning(tmp_path / "semaine.xlsx", rows)
    client = logged_in_client(web.url)
    done = upload_file(client, first)
    client.post(f"{done}/confirm", data={"csrf": csrf_of(client, done)})
    wait_for_result(client, done, 120)
    client.close()
    changed = [dict(row, jourHeureInter="demain matin") if n % 6 == 1 and n < 1800 else row
               for n, row in enumerate(rows)]  # 300 problems  # fmt: skip
    broken = sum(row["jourHeureInter"] == "demain matin" for row in changed)
    changed[0] = dict(changed[0], commentaire="Sonner chez le gardien")
    second = write_planning(tmp_path / "semaine.xlsx", changed)
    page = browser.new_page(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    log_in(page, web.url)
    page.set_input_files("input[name=planning]", str(second))
    page.click("#check")
    kinds = page.text_content("#kinds")
    assert "n'est pas une date" in page.text_content("#problems ~ details") and str(broken) in kinds
    confirm = page.locator("#confirm").bounding_box()
    assert confirm is not None and confirm["y"] + confirm["height"] < 800  # on the first screen
    modify = page.text_content("#changes .modify")
    assert "Livraison 0" in modify and "→" in modify and "Sonner chez le gardien" in modify
    assert_speaks(page, "fr")
    shot(page, "13-big-planning-review")
    page.goto(page.url + "?show=warnings")
    assert page.locator("#kinds").is_visible() and page.locator("details .failed").count() == 0
    page.goto(page.url.split("?")[0] + "?show=errors")
    assert page.locator("details .failed").count() > 0


def test_only_an_admin_confirms_what_the_mass_delete_guard_stopped_after_typing_the_count(
    tmp_path: Path, browser: object
) -> None:
    web = WebServer(tmp_path, admins=("chef",))
    try:
        rows = rows_for(1, 10)
        planning = write_planning(tmp_path / "jour.xlsx", rows)
        dispatcher = logged_in_client(web.url)
        done = upload_file(dispatcher, planning)
        dispatcher.post(f"{done}/confirm", data={"csrf": csrf_of(dispatcher, done)})
        wait_for_result(dispatcher, done)
        truncated = write_planning(tmp_path / "jour.xlsx", rows[:2])  # 8 of 10 would go
        stopped = upload_file(dispatcher, truncated)
        review = dispatcher.get(stopped).text
        assert 'id="guard"' in review and 'id="guard-override"' not in review
        assert "Seul un administrateur peut les confirmer" in review
        tried = dispatcher.post(f"{stopped}/confirm",
                                data={"csrf": csrf_of(dispatcher, stopped), "deletions": "8"})  # fmt: skip
        assert tried.status_code == 403 and len(web.sandbox.world.missions()) == 10
        dispatcher.close()
        page = browser.new_page()  # type: ignore[attr-defined]
        log_in(page, web.url, "chef")
        said = {}
        for typed, left in (("7", 10), ("8", 2)):
            page.goto(web.url + "/")
            page.set_input_files("input[name=planning]", str(truncated))
            page.click("#check")
            page.fill("input[name=deletions]", typed)
            if typed == "8":
                shot(page, "14-admin-past-the-guard")
            page.click("#confirm-deletions")
            page.wait_for_selector("#result", timeout=60_000)
            said[typed] = " ".join(page.text_content("#result").split())
            assert len(web.sandbox.world.missions()) == left
        assert "7 n'est pas le nombre de suppressions (8)" in said["7"]
    finally:
        web.stop()


def test_a_file_dropped_on_the_zone_is_imported_with_live_progress(
    tmp_path: Path, browser: object, samples: Path
) -> None:
    """The page's one script: drag and drop, and the progress asked for without reloading."""
    web = WebServer(tmp_path, latency=1.0)
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        log_in(page, web.url)
        data = list((samples / "planning-clean.xlsx").read_bytes())
        page.evaluate(
            """(bytes) => {
                const files = new DataTransfer();
                files.items.add(new File([new Uint8Array(bytes)], "planning-clean.xlsx"));
                const zone = document.querySelector("#drop");
                zone.dispatchEvent(new DragEvent("drop", {dataTransfer: files, bubbles: true,
                                                          cancelable: true}));
            }""",
            data,
        )
        assert page.text_content("#drop .chosen") == "planning-clean.xlsx"
        page.click("#check")
        assert "36" in page.text_content("#counts")
        loads: list[str] = []
        page.on("load", lambda _: loads.append(page.url))
        page.click("#confirm")
        page.wait_for_selector("#result", timeout=60_000)
        # The import took some 5 s at 1 s a call: the page after the confirmation and the
        # one when it ended (and at most one more on a busy machine), never one per second.
        assert len(loads) <= 3 and len(web.sandbox.world.missions()) == 36
    finally:
        web.stop()


def test_uploads_older_than_the_retention_are_removed_at_start(tmp_path: Path) -> None:
    work = tmp_path / "work"
    jobs = Jobs(work, retention_days=30, interrupted="")
    old, recent = new_job(work, USER, "ancien.xlsx", b"x"), new_job(work, USER, "recent.xlsx", b"x")
    old.created -= 31 * 86400  # a month and a day ago
    jobs.add(old)
    jobs.add(recent)  # their records, as the page writes them
    Jobs(work, retention_days=30, interrupted="")  # the next start
    assert not old.folder.exists() and recent.file.is_file()


def test_the_page_and_the_job_on_two_hosts_share_the_runs_through_postgresql(
    tmp_path: Path, samples: Path, pg_url: str
) -> None:
    web = WebServer(tmp_path / "web-host", state=pg_url)
    try:
        client = logged_in_client(web.url)
        done = upload_file(client, samples / "planning-clean.xlsx")
        client.post(f"{done}/confirm", data={"csrf": csrf_of(client, done)})
        assert "Terminé" in wait_for_result(client, done)
        # The nightly job, on another host: the same store, another feed.
        job_host = tmp_path / "job-host"
        job_host.mkdir()
        planning = write_planning(job_host / "depot-sud.xlsx", rows_for(2, 3, prefix="S"))
        env = {"OCEAN_BASE_URL": web.sandbox.base_url, "OCEAN_LOGIN": "demo",
               "OCEAN_PASSWORD": "demo", "OCEAN_IMPORT_CONFIG": "", "OCEAN_IMPORT_STATE": pg_url}  # fmt: skip
        job = CliRunner().invoke(main, ["run", str(planning), "--customer-id", "4242"], env=env)
        assert job.exit_code == 0, job.output
        home = client.get("/").text
        assert "depot-sud.xlsx" in home and "planning-clean.xlsx" in home  # both hosts' runs
        with open_state(pg_url) as state:
            assert {run.file and Path(run.file).name for run in state.runs()} == {
                "planning-clean.xlsx",
                "depot-sud.xlsx",
            }
        client.close()
    finally:
        web.stop()


def test_the_history_undoes_an_import_after_its_review(tmp_path: Path, samples: Path) -> None:
    web = WebServer(tmp_path)
    try:
        client = logged_in_client(web.url)
        imported_through_the_page(client, samples / "planning-clean.xlsx")
        first = {m["idMission"]: m for m in web.sandbox.world.missions()}

        def edit(sheet: Any, headers: list[Any], first_row: int) -> None:
            town = headers.index("Ville") + 1 if "Ville" in headers else None
            assert town is not None, headers
            sheet.cell(first_row, town).value = "Lille"  # one modified
            sheet.delete_rows(first_row + 1, 2)  # two deleted

        imported_through_the_page(
            client, edited_sample(samples, tmp_path, "planning-clean.xlsx", edit)
        )
        assert {m["idMission"] for m in web.sandbox.world.missions()} != set(first)

        home = client.get("/").text
        links = re.findall(r'href="(/runs/(\d+)/undo)"', home)
        assert len(links) == 2  # both imports can be undone
        latest = max(links, key=lambda link: int(link[1]))[0]
        review_page = client.get(latest).text
        assert "2 créations" in review_page and "1 modification" in review_page
        assert 'id="confirm"' in review_page
        forged = client.post(latest, data={**hidden_fields(review_page), "csrf": "forged"})
        assert forged.status_code == 403
        undone = client.post(latest, data=hidden_fields(review_page)).text
        assert 'id="result"' in undone and "Terminé" in undone
        now = {m["idMission"]: m for m in web.sandbox.world.missions()}
        assert set(now) == set(first)
        assert all(now[i]["ville"] == first[i]["ville"] for i in first)
        again = client.post(latest, data=hidden_fields(review_page))  # one review, one undo
        assert again.status_code == 409 and "plus conservée" in again.text
        client.close()
    finally:
        web.stop()


def imported_through_the_page(client: httpx.Client, path: Path) -> str:
    """``path`` uploaded, confirmed and imported to its end: the upload's address."""
    job = upload_file(client, path)
    client.post(f"{job}/confirm", data={"csrf": csrf_of(client, job)})
    wait_for_result(client, job)
    return job


def hidden_fields(page: str) -> dict[str, str]:
    """A form's hidden fields, as the browser sends them back."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))


def test_an_undo_confirmed_after_the_state_changed_sends_nothing(
    tmp_path: Path, samples: Path
) -> None:
    """The confirmation applies the plan the dispatcher reviewed, never another: when an
    import changed the missions in between, it is refused and Ocean is left as it is."""
    web = WebServer(tmp_path)
    try:
        client = logged_in_client(web.url)

        def imported(path: Path) -> dict[str, str]:
            imported_through_the_page(client, path)
            return {m["idMission"]: m["ville"] for m in web.sandbox.world.missions()}

        def town(name: str) -> Callable[[Any, list[Any], int], None]:
            def edit(sheet: Any, headers: list[Any], first_row: int) -> None:
                sheet.cell(first_row, headers.index("Ville") + 1).value = name

            return edit

        imported(samples / "planning-clean.xlsx")
        imported(edited_sample(samples, tmp_path, "planning-clean.xlsx", town("Lille")))
        links = re.findall(r'href="(/runs/(\d+)/undo)"', client.get("/").text)
        latest = max(links, key=lambda link: int(link[1]))[0]
        review_page = client.get(latest).text  # the undo of « Lille »
        assert 'id="confirm"' in review_page and "1 modification" in review_page
        (tmp_path / "again").mkdir()
        edited = edited_sample(samples, tmp_path / "again", "planning-clean.xlsx", town("Paris"))
        after_import = imported(edited)
        assert "Paris" in after_import.values()
        refused = client.post(latest, data=hidden_fields(review_page))
        assert refused.status_code == 409 and "rien n&#39;a été envoyé" in refused.text
        assert {m["idMission"]: m["ville"] for m in web.sandbox.world.missions()} == after_import
        client.close()
    finally:
        web.stop()


def spaced(text: str) -> str:
    """A French page with its no-break spaces (« Mardi », « ; ») as plain ones."""
    return text.replace("\u202f", " ").replace("\xa0", " ")


def test_a_workbook_with_a_planning_a_day_lets_the_dispatcher_read_another_sheet(
    web: WebServer, tmp_path: Path
) -> None:
    """Two sheets hold a planning: the review names the other one and offers it; the sheet
    chosen is the one imported."""
    from tests.helpers import upcoming

    book = openpyxl.Workbook()
    book.remove(book.active)
    for day, prefix in (("Lundi", "L"), ("Mardi", "M")):
        sheet = book.create_sheet(day)
        sheet.append(["N° mission", "Date d'intervention", "Véhicule", "Ville", "À envoyer"])
        for n in range(2):
            sheet.append([f"{prefix}{n}", upcoming(days=2, hour=8 + n), "VL-12", "Lyon", "oui"])
    workbook = tmp_path / "semaine.xlsx"
    book.save(workbook)
    client = logged_in_client(web.url)
    try:
        review = upload_file(client, workbook)
        page = spaced(client.get(review).text)
        assert "les feuilles « Mardi » contiennent aussi un planning" in page
        assert "<option>Mardi</option>" in page
        chosen = client.post(f"{review}/sheet",
                             data={"csrf": csrf_of(client, review), "sheet": "Mardi"})  # fmt: skip
        assert chosen.status_code == 303
        mardi = str(chosen.headers["location"])
        page = client.get(mardi).text
        assert 'id="sheet">Feuille lue : Mardi<' in spaced(page) and 'id="other-sheet"' not in page
        refused = client.post(f"{review}/sheet", data={"csrf": csrf_of(client, review),
                                                       "sheet": "Dimanche"})  # fmt: skip
        assert refused.status_code == 400
        client.post(f"{mardi}/confirm", data={"csrf": csrf_of(client, mardi)})
        wait_for_result(client, mardi)
    finally:
        client.close()
    assert sorted(m["idMission"] for m in web.sandbox.world.missions()) == ["M0", "M1"]


def test_a_csv_far_wider_than_a_sheet_is_refused_at_once_and_the_page_stays_free(
    web: WebServer, tmp_path: Path
) -> None:
    """100,000 columns in 770 KB took a minute and gigabytes to read in the server's own
    process: refused from a count of its delimiters, and a colleague's page answers."""
    from tests.helpers import upcoming

    wide = tmp_path / "large.csv"
    names = ";".join(f"c{n}" for n in range(100_000))
    when = upcoming(days=2).strftime("%d/%m/%Y %H:%M")
    wide.write_text(f"idMission;jourHeureInter;{names}\nM1;{when}{';' * 100_000}\n")
    dispatcher, colleague = logged_in_client(web.url), logged_in_client(web.url)
    try:
        review = upload_file(dispatcher, wide)
        page = spaced(dispatcher.get(review).text)
        assert "large.csv : dépasse les limites : sa ligne la plus large a 100 002 cellules" in page
        assert colleague.get("/").status_code == 200
    finally:
        dispatcher.close()
        colleague.close()
