"""The one exception tree of ocean-import.

Every error a user can meet is one of these; each class owns the exit code a scheduler
sees, and its message is a sentence that says what to fix (never a traceback).

    OceanImportError (base, exit 2)
    ├── UsageError            bad options or arguments                       exit 2
    ├── ConfigError           unreadable or invalid configuration            exit 2
    ├── PlanningFileError     the planning file cannot be used at all        exit 2
    │   ├── UnreadableFileError   missing, corrupt, foreign or protected file
    │   ├── FileLimitError        over the configured size or row limit
    │   └── LayoutError           no header row, no idMission column, no rows
    ├── StateError            the state store cannot be used (damaged, newer)    exit 2
    │   ├── StateUnavailable      it cannot be written (read-only, full disk)     exit 3
    │   └── StateLocked           another run imports the same feed               exit 3
    ├── InboxBusy             the inbox is bound to another state store          exit 3
    ├── OutputError           a workbook or a saved plan cannot be written       exit 2
    │   └── UnreportedRun         Ocean was changed, but its workbook not written  exit 3
    └── OceanError            a call to Ocean did not succeed
        ├── MissionRejected       Ocean refused this change (4xx, or 200 "échec")  exit 1
        │   ├── MissionNotFound       the mission does not exist (404)
        │   └── MissionExists         a create for a mission that already exists
        ├── OceanUnavailable      still failing after the retries                  exit 3
        │   └── CircuitOpen           Ocean kept failing: calls stopped            exit 3
        └── AuthenticationError   the login was refused                            exit 3

Exit codes (the README's): 0 all good, 1 finished with invalid rows or failed changes,
2 nothing was done, 3 the run stopped before the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from importer.i18n import _, quoted

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_NOTHING_DONE = 2
EXIT_STOPPED = 3


class OceanImportError(Exception):
    """Base class: a problem explained in one sentence, with the exit code it implies."""

    exit_code = EXIT_NOTHING_DONE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(OceanImportError):
    """The command line asked for something that cannot be done."""


class ConfigError(OceanImportError):
    """The configuration (TOML file, environment, flags) is unreadable or inconsistent."""


class PlanningFileError(OceanImportError):
    """The planning file cannot be imported at all; no row was looked at."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(_("{file}: {problem}").format(file=self.path.name, problem=problem))

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in the reading child (isolation.py) and raised again here: pickled whole.
        return (type(self), (self.path, self.problem))


class UnreadableFileError(PlanningFileError):
    """Missing, corrupt, foreign (not a spreadsheet) or password-protected file."""


class FileLimitError(PlanningFileError):
    """The file is over the configured size or row limit."""


class LayoutError(PlanningFileError):
    """The file is readable but has no usable header row, id column or mission rows."""


class StateError(OceanImportError):
    """The state store cannot be used (unreadable, damaged, or from a newer version)."""

    @classmethod
    def damaged(cls, store: object, cause: object) -> StateError:
        return cls(
            _(
                "the state store {store} cannot be used ({cause}): it is damaged or not a "
                "state file; move it aside to start afresh (the next run then re-creates "
                "every mission)"
            ).format(store=store, cause=cause)
        )

    @classmethod
    def newer(cls, store: object, version: int, known: int) -> StateError:
        return cls(
            _(
                "the state store {store} was written by a newer ocean-import (schema "
                "{version}, this one knows {known}): upgrade ocean-import"
            ).format(store=store, version=version, known=known)
        )


class StateUnavailable(StateError):
    """The state store cannot be written (its folder or file read-only, a full disk, a mount
    gone): a stop, not damage; the next run picks up."""

    exit_code = EXIT_STOPPED

    @classmethod
    def unwritable(cls, store: object, cause: object) -> StateUnavailable:
        return cls(
            _(
                "the state store {store} could not be written ({cause}): the run stops "
                "here; free space or mend the disk, then run again: the next run picks up, "
                "and nothing is sent twice"
            ).format(store=store, cause=cause)
        )

    @classmethod
    def no_folder(cls, store: object, folder: object, cause: object) -> StateUnavailable:
        return cls(
            _(
                "the state store {store} cannot be used: its folder {folder} cannot be "
                "created ({cause}); create it, or choose another --state"
            ).format(store=store, folder=folder, cause=cause)
        )

    @classmethod
    def folder_read_only(cls, store: object, folder: object, cause: object) -> StateUnavailable:
        return cls(
            _(
                "the state store {store} cannot be used: its folder {folder} is not "
                "writable ({cause}), and the store writes its journal beside it; give this "
                "user write access to the folder, or choose another --state (a permission "
                "problem: do not move the store aside)"
            ).format(store=store, folder=folder, cause=cause)
        )

    @classmethod
    def unreachable(cls, store: object, cause: object) -> StateUnavailable:
        return cls(
            _(
                "the state store {store} cannot be reached ({cause}): nothing was done; "
                "check the address, the server and the password, then run again"
            ).format(store=store, cause=cause)
        )

    @classmethod
    def read_only(cls, store: object, cause: object) -> StateUnavailable:
        return cls(
            _(
                "the state store {store} is read-only ({cause}): give this user write access "
                "to it (a permission problem: do not move the store aside)"
            ).format(store=store, cause=cause)
        )


class StateLocked(StateError):
    """Another run is importing the same feed into the state store."""

    exit_code = EXIT_STOPPED

    @staticmethod
    def waiting(feed: str, holder: str, wait: float) -> str:
        """What a run that waits for another run of its feed logs."""
        return _(
            "the feed {feed} is being imported by another run ({holder}): waiting up to "
            "{seconds} s for it"
        ).format(feed=quoted(feed), holder=holder or "?", seconds=f"{wait:g}")

    @classmethod
    def feed_held(cls, store: object, feed: str, holder: str) -> StateLocked:
        """Another run is importing the same feed (other feeds go on meanwhile)."""
        sentence = _(
            "another ocean-import run is importing the feed {feed} into the state {store}: "
            "wait for it to finish"
        )
        if holder:
            sentence = _(
                "another ocean-import run is importing the feed {feed} into the state {store} "
                "({holder}): wait for it to finish"
            )
        return cls(sentence.format(feed=quoted(feed), store=store, holder=holder))


class InboxBusy(OceanImportError):
    """The inbox is worked with another state store: this job stops before taking any file."""

    exit_code = EXIT_STOPPED


class InboxUnusable(OceanImportError):
    """The inbox cannot be worked as it is (its archive/ or failed/ is not a folder): the job
    takes no file until a person puts it right, and loses none."""

    exit_code = EXIT_STOPPED


class OutputError(OceanImportError):
    """A workbook or a saved plan cannot be written where it was asked for (checked before
    anything is done, so that nothing is changed in Ocean without its record)."""


class UnreportedRun(OutputError):
    """The changes reached Ocean (and the state), but the results workbook could not be
    written: the run did not finish what it promised; the same command again writes one."""

    exit_code = EXIT_STOPPED


class OceanError(OceanImportError):
    """A call to Ocean did not succeed; carries what Ocean said, verbatim, and the attempts."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        vendor_message: str = "",
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.vendor_message = vendor_message
        self.attempts = attempts


class MissionRejected(OceanError):
    """Ocean refused this one change (a 4xx, or a 200 whose message reports a failure).

    The row fails; the run goes on. Retrying would get the same answer.
    """

    exit_code = EXIT_PROBLEMS


class MissionNotFound(MissionRejected):
    """Ocean does not know the mission (404)."""


class MissionExists(MissionRejected):
    """A create was refused because the mission already exists."""


class OceanUnavailable(OceanError):
    """Ocean could not be reached or kept failing, through every retry.

    ``maybe_applied`` is True when a request may have reached Ocean before the failure (a
    timeout or a connection dropped after sending): the change may or may not be done.
    """

    exit_code = EXIT_STOPPED

    def __init__(self, message: str, *, maybe_applied: bool = False, **context: Any) -> None:
        super().__init__(message, **context)
        self.maybe_applied = maybe_applied


class CircuitOpen(OceanUnavailable):
    """Ocean failed so many times in a row that the client stopped calling it."""


class AuthenticationError(OceanError):
    """Ocean refused the login (or a fresh token): nothing more can be done in this run."""

    exit_code = EXIT_STOPPED
