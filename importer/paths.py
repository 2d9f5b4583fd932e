"""Questions about the file system that the stages ask before they write."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

from importer.i18n import _, moment, system_reason


def cannot_write_in(folder: Path) -> str | None:
    """Why nothing can be written in ``folder`` (None when a file can be).

    The folder is probed by creating (and removing) a file in it: the only test that a
    read-only mount, an immutable folder, a full quota or ``/proc`` cannot fool, whoever
    the process runs as (``os.access`` says yes to root).
    """
    if not folder.is_dir():
        return _("it is not a folder") if folder.exists() else _("it does not exist")
    try:
        handle, probe = tempfile.mkstemp(prefix=".ocean-import-", suffix=".probe", dir=folder)
    except OSError as exc:
        return system_reason(exc)
    os.close(handle)
    os.unlink(probe)
    return None


# A temporary beside its target is named after it and after the process writing it, so that
# one left by a process that died (kill -9 mid-write) is recognised and removed next time.
_TEMPORARY = ".{name}.ocean-import-{pid}-"


def temporary_prefix(target: Path) -> str:
    """The prefix of this process's temporaries for ``target`` (``tempfile``'s ``prefix``)."""
    return _TEMPORARY.format(name=target.name, pid=os.getpid())


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporaries for ``target`` that processes now gone left behind."""
    removed = []
    pattern = _TEMPORARY.format(name=target.name, pid="*") + "*"
    for leftover in target.parent.glob(pattern):
        pid_text = leftover.name[len(f".{target.name}.ocean-import-") :].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        try:
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        except OSError:
            continue  # not ours to remove after all: left alone
        removed.append(leftover)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class LockFile:
    """An OS lock held on a file (``try_lock``); ``release`` lets it go."""

    def __init__(self, path: Path, handle: int, remove_on_release: bool) -> None:
        self.path, self.handle, self.remove = path, handle, remove_on_release

    def release(self) -> None:
        if self.handle < 0:
            return
        if self.remove:  # unlinked while still held: whoever opens the name next gets a new file
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(self.handle)  # closing releases the lock
        self.handle = -1


def try_lock(path: Path, *, remove_on_release: bool = False) -> tuple[LockFile | None, str]:
    """Take the OS lock on ``path`` (created if missing): ``(lock, "")``, held until released
    or the process ends (even killed); or ``(None, holder)`` when another process holds it,
    ``holder`` being what that one wrote in the file (pid, host, since)."""
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(handle, 400).decode(errors="replace").strip()
            os.close(handle)
            return None, holder_words(holder)
        try:
            same = os.stat(path).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(handle)  # its holder removed it as we opened it: take the name's new file
    os.ftruncate(handle, 0)
    since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    written = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
    os.write(handle, json.dumps(written).encode())
    return LockFile(path, handle, remove_on_release), ""


def holder_words(written: str) -> str:
    """Who holds a lock, from what it wrote (JSON: pid, host, since), in the reader's language."""
    try:
        holder = json.loads(written)
        since = dt.datetime.fromisoformat(holder["since"])
        return _("pid {pid} on {host} since {since}").format(
            pid=holder["pid"], host=holder["host"], since=moment(since)
        )
    except (ValueError, KeyError, TypeError):
        return written  # written by an older version: shown as it is


def default_report_path(path: Path, command: str) -> Path:
    """``<stem>.validation.xlsx`` (validate), ``.plan.xlsx`` (plan), ``.results.xlsx`` (run)."""
    suffix = {"validate": "validation", "plan": "plan", "run": "results"}[command]
    return path.with_name(f"{path.stem}.{suffix}.xlsx")
