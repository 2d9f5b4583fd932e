"""What the backends' locks share: a lock held, its number, who holds it."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
from collections.abc import Callable
from typing import Any


class Held:
    """A lock this process holds (a feed, a file being imported); ``release`` lets it go."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None


def lock_number(name: str) -> int:
    """A lock's name as a signed 64-bit number (PostgreSQL's advisory lock keys)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def holder_now() -> dict[str, Any]:
    """Who this process is, for a lock it takes: what another one is told."""
    since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
