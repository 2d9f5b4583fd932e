"""The files of an inbox: which are plannings, which are complete, and how each is opened.

A file is taken only once it is complete: its modification time must be at least ``settle``
seconds old (a file still being copied or saved keeps changing it). Office suites' lock and
temporary files (``~$name.xlsx``, ``.~lock.name#``, hidden files) are ignored. A file is
opened without following a link and without blocking, and checked on its handle to be a
regular file: whatever was put in the inbox (a link, a named pipe), the job never waits on it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from pathlib import Path

from importer.i18n import _, system_reason

PLANNING_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".txt"})


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


class SetAside(Exception):
    """A file of the inbox that must not be read: why (a sentence), for its error note."""


def open_planning(path: Path) -> int:
    """A descriptor on the inbox file ``path``, opened without following a link and without
    blocking (a named pipe swapped in after the listing would block for ever), checked on the
    handle itself to be a regular file; raise ``SetAside`` with the reason when it is not one,
    ``FileNotFoundError`` when it is gone (another job took it)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        handle = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SetAside(_symbolic_link(path)) from None
        raise SetAside(
            _("{file}: cannot be read ({why}); the job's user must be able to read the files "
              "dropped in the inbox (see docs/deployment.md)").format(
                file=path.name, why=system_reason(exc))
        ) from None  # fmt: skip
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise SetAside(
            _("{file}: is not a regular file (a named pipe, a device or a folder): only "
              "planning files are read").format(file=path.name)
        )  # fmt: skip
    return handle


def _symbolic_link(path: Path) -> str:
    # A link could point anywhere on the server: only real files dropped are read.
    return _("{file}: is a symbolic link; copy the planning itself into the inbox").format(
        file=path.name
    )


def sha256_of_handle(handle: int) -> str:
    """The SHA-256 of what ``handle`` holds, read from its start (the handle stays open)."""
    digest = hashlib.sha256()
    offset = 0
    while block := os.pread(handle, 1 << 20, offset):
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def sha256_now(path: Path) -> str | None:
    """The content's SHA-256 now, or None when the file is gone or cannot be read."""
    try:
        handle = open_planning(path)
    except (OSError, SetAside):
        return None
    try:
        return sha256_of_handle(handle)
    except OSError:
        return None
    finally:
        os.close(handle)


def shown_name(name: str) -> str:
    """A file's name as a sentence shows it: a control character (a line break) escaped."""
    return name if name.isprintable() else repr(name)[1:-1]
