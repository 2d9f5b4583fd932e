"""The scheduled job: import every planning file dropped in an inbox folder, once.

    INBOX/                      files dropped by the planning team
    INBOX/archive/YYYY-MM-DD/   each imported file, with its results workbook
    INBOX/failed/               each file that could not be read, with NAME.error.txt

A file is taken only once it is complete: its modification time must be at least ``settle``
seconds old (a file still being copied or saved keeps changing it). Office suites' lock and
temporary files (``~$name.xlsx``, ``.~lock.name#``, hidden files) are ignored. Files are taken
oldest first. A file whose exact content was imported before (by SHA-256, from the state's
runs) is archived without a call. A run that stopped early (exit 3: Ocean unreachable, login
refused, the mass-delete guard) leaves its file in the inbox, for the next pass.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

from importer.alerts import Alerts, check_deadlines, run_alert
from importer.config import (
    DEFAULT_SETTLE_SECONDS,
    ImportOptions,
    Settings,
)
from importer.errors import (
    EXIT_NOTHING_DONE,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_STOPPED,
    InboxBusy,
    OceanImportError,
    PlanningFileError,
    StateUnavailable,
    UsageError,
)
from importer.i18n import _, lazy, system_reason
from importer.pipeline import Store, default_feed, import_file
from importer.results import RunSummary

log = logging.getLogger(__name__)

PLANNING_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".txt"})


@dataclass(frozen=True)
class FileResult:
    file: str
    exit_code: int
    outcome: str  # imported, duplicate, failed, left (for the next pass), settling, elsewhere
    moved_to: str | None
    message: str


BOND_NAME = ".ocean-import.store"  # hidden: never taken for a planning
FEED_WAIT_SECONDS = 120.0  # how long a file waits for another job's run of its feed


def bind_inbox(inbox: Path, state: Store) -> None:
    """Bind the inbox to the job's state store: several jobs (one per host) may work on one
    inbox through one store, which claims each file for one of them; a job with another
    store would import every file a second time, and is refused before taking any. The
    bond is ``INBOX/.ocean-import.store`` (the store's name, kept by ``state copy``)."""
    bond = inbox / BOND_NAME
    mine = {"store": state.identity(), "where": state.where}
    try:
        with contextlib.suppress(FileExistsError), bond.open("x", encoding="utf-8") as handle:
            json.dump(mine, handle)
        bound = json.loads(bond.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(
            _(
                "the inbox {inbox} cannot be used ({why}): the job needs to write in it (its "
                "{bond}, archive/ and failed/)"
            ).format(inbox=inbox, why=system_reason(exc), bond=BOND_NAME)
        ) from None
    except ValueError:
        bound = {}
    if bound.get("store") != mine["store"]:
        raise InboxBusy(
            _(
                "the inbox {inbox} is worked with another state store ({other}): jobs on one "
                "inbox share one store, or every file would be imported twice; this one takes "
                "no file (give it that store, or remove {bond} if that store is no longer used)"
            ).format(inbox=inbox, other=bound.get("where", "?"), bond=bond)
        )


def job_exit_code(results: list[FileResult]) -> int:
    """The job's exit code: 3 if a file's run stopped early (it waits in the inbox), 1 if a
    file had invalid rows, failed changes or could not be read (see failed/), else 0."""
    codes = {result.exit_code for result in results}
    if EXIT_STOPPED in codes:
        return EXIT_STOPPED
    return EXIT_PROBLEMS if codes - {EXIT_OK} else EXIT_OK


def is_planning(path: Path) -> bool:
    """A file the job should look at (not an office lock file, not a temporary file)."""
    name = path.name
    if name.startswith(("~$", ".~lock.", ".")) or name.endswith(("#", "~", ".tmp")):
        return False
    if path.suffixes[-2:-1] in ([".results"], [".validation"], [".plan"]):
        return False  # our own workbooks, were they copied back here
    return path.suffix.lower() in PLANNING_SUFFIXES and (path.is_symlink() or path.is_file())


def ready_files(inbox: Path, settle: float, now: float | None = None) -> list[Path]:
    """The complete planning files of the inbox, oldest first."""
    return [path for path, ready_at in _planning_files(inbox, settle, now) if ready_at is None]


def settling_files(
    inbox: Path, settle: float, now: float | None = None
) -> list[tuple[Path, float]]:
    """The planning files still being written, with the time each will be taken if it
    stops changing (an empty file waits for its content)."""
    return [(path, at) for path, at in _planning_files(inbox, settle, now) if at is not None]


def _planning_files(
    inbox: Path, settle: float, now: float | None
) -> list[tuple[Path, float | None]]:
    now = time.time() if now is None else now
    found = []
    for path in inbox.iterdir():
        if not is_planning(path):
            continue
        stat = path.lstat()
        settled = stat.st_size > 0 and now - stat.st_mtime >= settle
        found.append((stat.st_mtime, path.name, path, None if settled else stat.st_mtime + settle))
    return [(path, ready_at) for _, _, path, ready_at in sorted(found)]


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:
        return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# What the log line says of a file (the JSON log's ``outcome`` keeps the code).
_OUTCOME_WORDS = {
    "imported": lazy("imported"),
    "duplicate": lazy("already imported, set aside"),
    "failed": lazy("failed, set aside"),
    "left": lazy("left in the inbox for the next pass"),
    "settling": lazy("still being written"),
    "elsewhere": lazy("taken by another job"),
}


class Watcher:
    """One job on one inbox and one state store; other jobs (other hosts) may work on the
    same inbox through the same store: each file is claimed by one of them."""

    def __init__(
        self,
        inbox: Path,
        settings: Settings,
        state: Store,
        options: ImportOptions,
        *,
        settle: float = DEFAULT_SETTLE_SECONDS,
        fixed_feed: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inbox = inbox
        self.settings = settings
        self.state = state
        self.options = options
        self.settle = settle
        self.fixed_feed = fixed_feed
        self.clock = clock
        self.stopping = False
        self.alerts = Alerts(settings, state)

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        if not self.stopping:
            log.warning(_("stopping after the current file"), extra={"event": "stopping"})
        self.stopping = True

    def pass_once(self) -> list[FileResult]:
        """Process every ready file, oldest first; stop between files when asked to."""
        results = []
        for path in ready_files(self.inbox, self.settle, self.clock()):
            if self.stopping:
                break
            results.append(self.process(path))
            self._listen_for_signals()  # the import's own handlers were removed with its loop
        for path, ready_at in settling_files(self.inbox, self.settle, self.clock()):
            results.append(self._settling(path, ready_at))
        check_deadlines(self.settings, self.state, self.alerts, self.clock)
        return results

    def _settling(self, path: Path, ready_at: float) -> FileResult:
        """Say that a file is left for a later pass, and from when it will be taken."""
        when = dt.datetime.fromtimestamp(ready_at).astimezone().strftime("%H:%M:%S %Z")
        message = _(
            "still being written: taken once unchanged for {seconds} s, by a pass from {when} on"
        ).format(seconds=f"{self.settle:g}", when=when)
        log.info(
            "%s: %s",
            path.name,
            message,
            extra={"event": "file_settling", "file": path.name, "ready_at": when},
        )
        return FileResult(path.name, EXIT_OK, "settling", None, message)

    def loop(self, interval: float) -> int:
        """Pass over the inbox every ``interval`` seconds until SIGTERM or SIGINT."""
        self._listen_for_signals()
        worst = EXIT_OK
        while not self.stopping:
            for result in self.pass_once():
                worst = max(worst, result.exit_code)
            deadline = self.clock() + interval
            while not self.stopping and self.clock() < deadline:
                time.sleep(min(0.2, interval))
        log.info(_("stopped"), extra={"event": "stopped"})
        return EXIT_STOPPED if worst == EXIT_STOPPED else EXIT_OK

    def _listen_for_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def process(self, path: Path) -> FileResult:
        started = time.monotonic()
        if path.is_symlink():
            # A link could point anywhere on the server: only real files dropped are read.
            reason = _(
                "{file}: is a symbolic link; copy the planning itself into the inbox"
            ).format(file=path.name)
            moved = self._quarantine(path, reason)
            return self._done(path, EXIT_NOTHING_DONE, "failed", moved, reason, started)
        sha256 = _sha256_or_none(path)
        claim = self.state.claim_file(sha256) if sha256 else None
        # Claimed, the file must still be the one read: another job may have imported and
        # moved it between our look at the inbox and our claim.
        if sha256 is None or claim is None or _sha256_or_none(path) != sha256:
            if claim is not None:
                claim.release()
            return self._done(path, EXIT_OK, "elsewhere", None, "", started)
        try:
            return self._claimed(path, sha256, started)
        finally:
            claim.release()  # once the file is archived, set aside or left

    def _claimed(self, path: Path, sha256: str, started: float) -> FileResult:
        earlier = self.state.imported(sha256)
        if earlier is not None:
            moved = self._archive(path, None)
            same = _("same content as {earlier}: nothing to do").format(earlier=earlier)
            return self._done(path, EXIT_OK, "duplicate", moved, same, started)
        if (when := self.state.died_reading(sha256)) is not None:
            # The pass that read it last never came back: a file that kills the reader must
            # not block the inbox (one dead pass at most).
            reason = _(
                "{file}: the job died while reading it {when}: set aside so that the files "
                "behind it go through; check it, save it again and drop it back"
            ).format(file=path.name, when=when)
            moved = self._quarantine(path, reason)
            self.state.finish_reading(sha256)
            return self._done(path, EXIT_NOTHING_DONE, "failed", moved, reason, started)
        if self.fixed_feed:
            options = replace(self.options, command="watch")
        else:
            options = replace(self.options, feed=default_feed(path), feed_from_name=True,
                              command="watch")  # fmt: skip
        day_folder = self._archive_folder()
        report = _free_name(day_folder / f"{path.stem}.results.xlsx")
        try:
            self.state.begin_reading(sha256, path.name)
            run, written = import_file(
                path, self.settings, self.state, options, report_path=report,
                after_reading=lambda _: self.state.finish_reading(sha256),
                feed_wait=FEED_WAIT_SECONDS,
            )  # fmt: skip
            self._password_alert(run.password_days)
        except PlanningFileError as exc:
            self._finished_reading(sha256)
            moved = self._quarantine(path, str(exc))
            return self._done(path, EXIT_NOTHING_DONE, "failed", moved, str(exc), started)
        except OceanImportError as exc:
            self._finished_reading(sha256)
            if exc.exit_code == EXIT_STOPPED:
                return self._done(path, EXIT_STOPPED, "left", None, str(exc), started)
            moved = self._quarantine(path, str(exc))
            return self._done(path, exc.exit_code, "failed", moved, str(exc), started)
        if (now_sha := _sha256_or_none(path)) != run.checked.sheet.raw.sha256:
            # Saved again while it was imported: Ocean got the version read, the new one
            # waits in the inbox for the next pass; the workbook of the old stays archived.
            if written is not None:
                written = written.rename(
                    _free_name(written.with_name(f"{path.stem}.earlier-version.results.xlsx"))
                )
            message = _(
                "changed while it was imported: the version read is the one sent (its results: "
                "{results}); {then}"
            ).format(
                results=written.relative_to(self.inbox) if written else _("none"),
                then=_("the new version stays in the inbox for the next pass") if now_sha
                else _("the file is gone from the inbox"),
            )  # fmt: skip
            return self._done(path, run.exit_code, "left", None, message, started,
                              run.summary(written))  # fmt: skip
        if run.stopped:
            if run.stopped == "interrupted":
                self.stopping = True
            if written is not None:  # the file waits in the inbox; keep what was done apart
                stamp = dt.datetime.fromtimestamp(self.clock()).strftime("%H%M%S")
                written.rename(written.with_name(f"{path.stem}.stopped-{stamp}.results.xlsx"))
            return self._done(path, run.exit_code, "left", None, run.stopped, started,
                              run.summary(written))  # fmt: skip
        moved = self._archive(path, written)
        return self._done(path, run.exit_code, "imported", moved, "", started,
                          run.summary(written))  # fmt: skip

    def _password_alert(self, days: int | None) -> None:
        if days is not None:
            said = _("it expires in {days} days: change it in Ocean, then update OCEAN_PASSWORD "
                     "or the password file").format(days=days)  # fmt: skip
            self.alerts.track("password", days <= self.settings.alert_password_days,
                              _("the Ocean password"), said)  # fmt: skip

    def _alert(self, path: Path, exit_code: int, outcome: str, message: str,
               summary: RunSummary | None) -> None:  # fmt: skip
        """Once when a feed's runs start needing a person, once when they are fine again."""
        if outcome not in ("imported", "failed", "left"):
            return
        feed = summary.feed if summary else (self.options.feed if self.fixed_feed
                                             else default_feed(path))  # fmt: skip
        body = run_alert(feed, path.name, exit_code, message, summary.counts() if summary else {})
        self.alerts.track(f"feed {feed}", exit_code != EXIT_OK,
                          _("the feed {feed}").format(feed=feed), body)  # fmt: skip

    def _finished_reading(self, sha256: str) -> None:
        with contextlib.suppress(StateUnavailable):  # a full disk: the stop says so already
            self.state.finish_reading(sha256)

    def _archive_folder(self) -> Path:
        folder = self.inbox / "archive" / dt.date.fromtimestamp(self.clock()).isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _archive(self, path: Path, report: Path | None) -> Path:
        target = _free_name(self._archive_folder() / path.name)
        if report is not None and report.stem != f"{target.stem}.results":
            # Keep the pair together when the file had to be renamed.
            report.rename(report.with_name(f"{target.stem}.results.xlsx"))
        shutil.move(path, target)
        return target

    def _quarantine(self, path: Path, reason: str) -> Path:
        folder = self.inbox / "failed"
        folder.mkdir(parents=True, exist_ok=True)
        target = _free_name(folder / path.name)
        shutil.move(path, target)
        when = dt.datetime.fromtimestamp(self.clock(), dt.UTC).isoformat(timespec="seconds")
        note = target.with_name(target.name + ".error.txt")
        note.write_text(f"{when}\n{reason}\n", encoding="utf-8")
        return target

    def _done(
        self,
        path: Path,
        exit_code: int,
        outcome: str,
        moved: Path | None,
        message: str,
        started: float,
        summary: RunSummary | None = None,
    ) -> FileResult:
        duration = round(time.monotonic() - started, 3)
        text = _("{file}: {outcome}, exit {code}").format(
            file=path.name, outcome=_OUTCOME_WORDS[outcome], code=exit_code
        )
        if moved:
            text += f" -> {moved.relative_to(self.inbox)}"
        if message:
            text += f" ({message})"
        log.log(
            logging.WARNING if exit_code else logging.INFO,
            _("%s [%.1f s]"),
            text,
            duration,
            extra={
                "event": "file_done",
                "file": path.name,
                "feed": summary.feed if summary else None,
                "outcome": outcome,
                "exit_code": exit_code,
                "counts": summary.counts() if summary else {},
                "duration": duration,
                "moved_to": str(moved) if moved else None,
                "reason": message or None,
            },
        )
        self._alert(path, exit_code, outcome, message, summary)
        return FileResult(path.name, exit_code, outcome, str(moved) if moved else None, message)


def _free_name(path: Path) -> Path:
    """``path``, or ``stem-2.suffix``, ``stem-3.suffix``... if it is taken."""
    if not path.exists() and not os.path.lexists(path):
        return path
    stem, suffix = path.name.split(".", 1) if "." in path.name else (path.name, "")
    dot = "." if suffix else ""
    number = 2
    while (candidate := path.with_name(f"{stem}-{number}{dot}{suffix}")).exists():
        number += 1
    return candidate
