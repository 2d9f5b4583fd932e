"""Who is logged in, kept on the server.

- The key that signs the session cookie lives in a file (``[web] secret_key_file``, by
  default beside the state store), created owner-only on the first start: a restart keeps
  everyone logged in.
- Each login opens a session record (its id is all the cookie carries); a logout closes it
  and an idle timeout expires it, so an old cookie opens nothing. The records are saved
  beside the key at each login and logout (one small JSON file, replaced atomically).
- Failed logins are counted per user and per address: past ``MAX_FAILURES`` within
  ``WINDOW_SECONDS``, both are locked for ``LOCKOUT_SECONDS``, and the page says for how long.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60
LOCKOUT_SECONDS = 60.0

Clock = Callable[[], float]


def signing_key(path: Path) -> str:
    """The key in ``path``, or a new one written there (owner-only) on the first start."""
    try:
        key = path.read_text(encoding="ascii").strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key


class Sessions:
    """The open sessions: id -> (user, last seen); ``user(id)`` is None once closed or idle."""

    def __init__(self, path: Path, idle_seconds: float, clock: Clock = time.time) -> None:
        self.path, self.idle_seconds, self.clock = path, idle_seconds, clock
        self._lock = threading.Lock()
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            self._open = {sid: (str(user), float(seen)) for sid, (user, seen) in saved.items()}
        except (FileNotFoundError, ValueError, TypeError, AttributeError):
            self._open = {}

    def open(self, user: str) -> str:
        sid = secrets.token_urlsafe(24)
        with self._lock:
            self._open[sid] = (user, self.clock())
            self._save()
        return sid

    def user(self, sid: object) -> str | None:
        if not isinstance(sid, str):
            return None
        now = self.clock()
        with self._lock:
            entry = self._open.get(sid)
            if entry is None:
                return None
            if now - entry[1] > self.idle_seconds:
                del self._open[sid]
                self._save()
                return None
            self._open[sid] = (entry[0], now)
            return entry[0]

    def close(self, sid: object) -> None:
        with self._lock:
            if isinstance(sid, str) and self._open.pop(sid, None) is not None:
                self._save()

    def _save(self) -> None:
        now = self.clock()
        live = {sid: [user, seen] for sid, (user, seen) in self._open.items()
                if now - seen <= self.idle_seconds}  # fmt: skip
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(live, out)
        os.replace(temporary, self.path)


class Attempts:
    """Failed logins per user and per address, and the lockout they earn."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)
        self._locked_until: dict[str, float] = {}

    def locked_for(self, user: str, address: str) -> float:
        """Seconds before ``user`` may try again from ``address`` (0: now)."""
        now = self.clock()
        with self._lock:
            until = max(self._locked_until.get(key, 0.0) for key in _keys(user, address))
        return max(0.0, until - now)

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in _keys(user, address):
                failures = self._failures[key]
                failures.append(now)
                while failures and now - failures[0] > WINDOW_SECONDS:
                    failures.popleft()
                if len(failures) >= MAX_FAILURES:
                    self._locked_until[key] = now + LOCKOUT_SECONDS
                    failures.clear()

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            for key in _keys(user, address):
                self._failures.pop(key, None)


def _keys(user: str, address: str) -> tuple[str, str]:
    return f"user:{user.casefold()}", f"address:{address}"
