"""The one exception tree of ocean-import.

Every error a user can meet is one of these; each class owns the exit code a scheduler
sees, and its message is a sentence that says what to fix (never a traceback).

    ImportError_ (base, exit 2)
    ├── UsageError            bad options or arguments                       exit 2
    ├── ConfigError           unreadable or invalid configuration            exit 2
    └── PlanningFileError     the planning file cannot be used at all        exit 2
        ├── UnreadableFileError   missing, corrupt, foreign or protected file
        ├── FileLimitError        over the configured size or row limit
        └── LayoutError           no header row, no idMission column, no rows

Exit codes (DESIGN.md): 0 all good, 1 finished with invalid rows or failed changes,
2 nothing was done, 3 the run stopped before the end.
"""

from __future__ import annotations

from pathlib import Path

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
        super().__init__(f"{self.path.name}: {problem}")


class UnreadableFileError(PlanningFileError):
    """Missing, corrupt, foreign (not a spreadsheet) or password-protected file."""


class FileLimitError(PlanningFileError):
    """The file is over the configured size or row limit."""


class LayoutError(PlanningFileError):
    """The file is readable but has no usable header row, id column or mission rows."""
