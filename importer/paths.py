"""Questions about the file system that the stages ask before they write."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def cannot_write_in(folder: Path) -> str | None:
    """Why nothing can be written in ``folder`` (None when a file can be).

    The folder is probed by creating (and removing) a file in it: the only test that a
    read-only mount, an immutable folder, a full quota or ``/proc`` cannot fool, whoever
    the process runs as (``os.access`` says yes to root).
    """
    if not folder.is_dir():
        return "it is not a folder" if folder.exists() else "it does not exist"
    try:
        handle, probe = tempfile.mkstemp(prefix=".ocean-import-", suffix=".probe", dir=folder)
    except OSError as exc:
        return exc.strerror or str(exc)
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
