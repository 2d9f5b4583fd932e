"""The scheduled job: import every planning file dropped in an inbox folder, once.

    INBOX/                      files dropped by the planning team
    INBOX/archive/YYYY-MM-DD/   each imported file, with its results workbook
    INBOX/failed/               each file that could not be read, with NAME.error.txt

Which files of the inbox are taken, and how each is opened: ``inbox``. Files are taken
oldest first. A file whose exact content was imported before (by SHA-256, from the state's
runs) is archived without a call. A run that stopped early (exit 3: Ocean unreachable, login
refused, the mass-delete guard) leaves its file in the inbox, for the next pass.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import signal
import time
import uuid
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
    InboxUnusable,
    OceanImportError,
    PlanningFileError,
    StateUnavailable,
    UsageError,
)
from importer.i18n import _, lazy, quoted, system_reason
from importer.inbox import (
    SetAside,
    open_planning,
    ready_files,
    settling_files,
    sha256_now,
    sha256_of_handle,
    shown_name,
)
from importer.pipeline import Store, default_feed, import_file
from importer.results import RunSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileResult:
    file: str
    exit_code: int
    outcome: str  # imported, duplicate, failed, left (for the next pass), settling, elsewhere
    moved_to: str | None
    message: str


BOND_NAME = ".ocean-import.store"  # hidden: never taken for a planning
FEED_WAIT_SECONDS = 120.0  # how long a file waits for another job's run of its feed
STOP_GRACE_SECONDS = 10  # after SIGTERM, the longest the job takes to end


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
        """SIGTERM or Ctrl-C: stop after the current file; and whatever the job is waiting
        on (another run's feed, a slow disk), end within ``STOP_GRACE_SECONDS``: the job is
        safe to kill at any point, the next pass takes up what was under way."""
        if not self.stopping:
            log.warning(_("stopping after the current file"), extra={"event": "stopping"})
            signal.signal(signal.SIGALRM, self._stop_now)
            signal.alarm(STOP_GRACE_SECONDS)
        self.stopping = True

    def _stop_now(self, signum: int = 0, frame: FrameType | None = None) -> None:
        log.warning(
            _("not stopped after {seconds} s: ending now (nothing is lost: the next pass takes "
              "up what was under way)").format(seconds=STOP_GRACE_SECONDS),
            extra={"event": "stopped", "forced": True},
        )  # fmt: skip
        os._exit(EXIT_STOPPED)

    def pass_once(self) -> list[FileResult]:
        """Process every ready file, oldest first; stop between files when asked to."""
        self._check_folders()
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

    def _check_folders(self) -> None:
        """archive/ and failed/ must be folders (or not yet exist): anything else would stop
        every file at its end. Said before any file is taken, so that none is lost."""
        for name in ("archive", "failed"):
            folder = self.inbox / name
            if os.path.lexists(folder) and (folder.is_symlink() or not folder.is_dir()):
                raise InboxUnusable(
                    _(
                        "{folder} is not a folder: the job keeps imported files in archive/ "
                        "and the files it cannot read in failed/; move {name} away (or "
                        "rename it), then the next pass takes the files, none of which was "
                        "touched"
                    ).format(folder=folder, name=quoted(name))
                )

    def _settling(self, path: Path, ready_at: float) -> FileResult:
        """Say that a file is left for a later pass, and from when it will be taken."""
        when = dt.datetime.fromtimestamp(ready_at).astimezone().strftime("%H:%M:%S %Z")
        message = _(
            "still being written: taken once unchanged for {seconds} s, by a pass from {when} on"
        ).format(seconds=f"{self.settle:g}", when=when)
        log.info(
            "%s: %s",
            shown_name(path.name),
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
        signal.alarm(0)  # stopped in time
        log.info(_("stopped"), extra={"event": "stopped"})
        return EXIT_STOPPED if worst == EXIT_STOPPED else EXIT_OK

    def _listen_for_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def process(self, path: Path) -> FileResult:
        """One file of the inbox: claimed, read once, imported, then archived or set aside.
        Whatever goes wrong with it that is not a stop, it is set aside with the reason (and a
        reference into the log), and the job goes on with the others."""
        started = time.monotonic()
        try:
            return self._process(path, started)
        except (OceanImportError, KeyboardInterrupt):
            raise  # a stop (the store, Ocean, a signal): the file waits for the next pass
        except Exception as exc:
            reference = f"E{uuid.uuid4().hex[:8].upper()}"
            log.exception(
                "%s: unexpected error %s", shown_name(path.name), reference,
                extra={"event": "file_error", "file": path.name, "reference": reference},
            )  # fmt: skip
            reason = _(
                "{file}: set aside after an unexpected error ({error}, reference {reference} in "
                "the job's log); the other files go on"
            ).format(file=path.name, error=type(exc).__name__, reference=reference)
            try:
                moved = self._quarantine(path, reason)
            except (OSError, OceanImportError):
                moved = None
            return self._done(path, EXIT_PROBLEMS, "failed", moved, reason, started)

    def _process(self, path: Path, started: float) -> FileResult:
        try:
            handle = open_planning(path)
        except FileNotFoundError:
            return self._done(path, EXIT_OK, "elsewhere", None, "", started)
        except SetAside as refusal:
            moved = self._quarantine(path, str(refusal))
            return self._done(path, EXIT_NOTHING_DONE, "failed", moved, str(refusal), started)
        try:
            return self._opened(path, handle, started)
        finally:
            os.close(handle)

    def _opened(self, path: Path, handle: int, started: float) -> FileResult:
        status = os.fstat(handle)
        if status.st_size > self.settings.max_file_bytes:
            # Told from its size alone: a huge (or sparse) file is never hashed nor read.
            reason = _(
                "{file}: is {size} MB, over the {limit} MB limit (limits.max_file_mb in the "
                "configuration)"
            ).format(file=path.name, size=f"{status.st_size / 1024 / 1024:,.1f}",
                     limit=f"{self.settings.max_file_bytes / 1024 / 1024:.0f}")  # fmt: skip
            moved = self._quarantine(path, reason)
            return self._done(path, EXIT_NOTHING_DONE, "failed", moved, reason, started)
        # The reading is recorded before the hash too: a file on which the job dies while it
        # hashes it (a disk that hangs, a kill) is set aside by the next pass, not retried.
        # Held while it is hashed, so that another job of this host does not take the file
        # for one that died on it; the reading by content (``_claimed``) takes over from it.
        probe = f"file {status.st_dev}:{status.st_ino} {status.st_size} {status.st_mtime_ns}"
        hashing = self.state.claim_file(probe)
        if hashing is None:
            return self._done(path, EXIT_OK, "elsewhere", None, "", started)
        try:
            if (when := self.state.died_reading(probe)) is not None:
                return self._died_on(path, probe, when, started)
            self.state.begin_reading(probe, path.name)
            sha256 = sha256_of_handle(handle)
            claim = self.state.claim_file(sha256)
            # Claimed, the file must still be the one read: another job may have imported and
            # moved it between our look at the inbox and our claim.
            if claim is None or sha256_now(path) != sha256:
                if claim is not None:
                    claim.release()
                return self._done(path, EXIT_OK, "elsewhere", None, "", started)
            try:
                return self._claimed(path, sha256, started, probe)
            finally:
                claim.release()  # once the file is archived, set aside or left
        finally:
            self._finished_reading(probe)
            hashing.release()

    def _died_on(self, path: Path, key: str, when: str, started: float) -> FileResult:
        """The pass that read it last never came back: a file that kills the reader must not
        block the inbox (one dead pass at most)."""
        reason = _(
            "{file}: the job died while reading it {when}: set aside so that the files "
            "behind it go through; check it, save it again and drop it back"
        ).format(file=path.name, when=when)
        moved = self._quarantine(path, reason)
        self.state.finish_reading(key)
        return self._done(path, EXIT_NOTHING_DONE, "failed", moved, reason, started)

    def _claimed(self, path: Path, sha256: str, started: float, probe: str) -> FileResult:
        earlier = self.state.imported(sha256)
        if earlier is not None:
            moved = self._archive(path, None)
            same = _("same content as {earlier}: nothing to do").format(earlier=earlier)
            return self._done(path, EXIT_OK, "duplicate", moved, same, started)
        if (when := self.state.died_reading(sha256)) is not None:
            return self._died_on(path, sha256, when, started)
        if self.fixed_feed:
            options = replace(self.options, command="watch")
        else:
            options = replace(self.options, feed=default_feed(path), feed_from_name=True,
                              command="watch")  # fmt: skip
        day_folder = self._archive_folder()
        report = _free_name(day_folder / f"{path.stem}.results.xlsx")
        try:
            self.state.begin_reading(sha256, path.name)
            self.state.finish_reading(probe)  # read by its content from now on
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
        if (now_sha := sha256_now(path)) != run.checked.sheet.raw.sha256:
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
        # A name the file system holds in another encoding (Latin-1 over SMB) is written escaped.
        note.write_text(f"{when}\n{reason}\n", encoding="utf-8", errors="backslashreplace")
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
            file=shown_name(path.name), outcome=_OUTCOME_WORDS[outcome], code=exit_code
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
