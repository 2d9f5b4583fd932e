"""Questions about the file system that the stages ask before they write."""

from __future__ import annotations

import os
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
