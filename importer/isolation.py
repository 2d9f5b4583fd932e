"""Run one risky function in a child process with a memory and a time cap.

The spreadsheet readers are native code: a workbook that makes one allocate far beyond the
machine (a single cell at XFD200000 asks for 100 GB) aborts the process, which Python cannot
catch. Reading in a forked child limited to ``memory_bytes`` more than the parent holds turns
that into a refusal: the child dies, the caller gets ``ChildDied`` and says the file is over
the limits; the command, the scheduled job or the web server go on.

A fork costs a few milliseconds (the child shares the parent's pages) and the result comes
back pickled; on a system without ``fork`` the function runs in the process itself.
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import re
import resource
import select
import signal
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class ChildDied(Exception):
    """The child ended without an answer: killed by a signal, over its caps, or crashed."""

    def __init__(self, reason: str, *, over_memory: bool, over_time: bool) -> None:
        super().__init__(reason)
        self.over_memory = over_memory
        self.over_time = over_time


def run_capped(function: Callable[..., T], *args: Any, memory_bytes: int, seconds: float) -> T:
    """``function(*args)`` in a child that may use ``memory_bytes`` more than this process
    and ``seconds`` of time; its exception is raised here, its death is ``ChildDied``."""
    if not hasattr(os, "fork"):
        return function(*args)
    reading, writing = os.pipe()
    said, saying = os.pipe()  # the child's stderr: a native crash prints there, not on ours
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(reading)
        os.close(said)
        os.dup2(saying, 2)
        _child(function, args, writing, memory_bytes, seconds)
    os.close(writing)
    os.close(saying)
    try:
        (data, stderr), timed_out = _read_all((reading, said), deadline=started + seconds)
    finally:
        os.close(reading)
        os.close(said)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if data:
        try:
            kind, value = pickle.loads(data)
        except Exception:  # a truncated answer: the child died while writing it
            kind, value = None, None
        if kind == "ok":
            return value
        if kind == "error":
            raise value
    raise _death(status, timed_out, seconds, stderr.decode(errors="replace"))


def _child(
    function: Callable[..., Any], args: tuple[Any, ...], writing: int, budget: int, seconds: float
) -> None:
    code = 0
    try:
        # A crash here is the expected end of a hostile file: no dump of every thread on
        # the parent's stderr (pytest and python -X faulthandler install one).
        faulthandler.disable()
        # Address space: what the child inherits, plus the budget. A native allocation past
        # it fails at once (the reader aborts: this child only).
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        soft = _address_space() + budget
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        cpu = max(1, int(seconds) + 1)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        try:
            answer: tuple[str, Any] = ("ok", function(*args))
        except Exception as exc:  # handed to the parent, which raises it
            answer = ("error", exc)
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(writing, "wb") as pipe:
            pipe.write(data)
    except BaseException:  # MemoryError, an unpicklable answer: no answer
        code = 70
    finally:
        os._exit(code)


def _read_all(fds: tuple[int, int], deadline: float) -> tuple[tuple[bytes, bytes], bool]:
    """Everything written to the two pipes until both close, or the deadline."""
    received: dict[int, list[bytes]] = {fd: [] for fd in fds}
    sizes = dict.fromkeys(fds, 0)
    open_fds = list(fds)
    timed_out = False
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select(open_fds, [], [], left)
        for fd in ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                open_fds.remove(fd)
            elif fd == fds[0] or sizes[fd] < 8192:  # the answer whole, a crash's first words
                received[fd].append(chunk)
                sizes[fd] += len(chunk)
    return (b"".join(received[fds[0]]), b"".join(received[fds[1]])), timed_out


_ALLOCATION = re.compile(r"memory allocation of (\d+) bytes failed")


def _death(status: int, timed_out: bool, seconds: float, stderr: str) -> ChildDied:
    if timed_out or (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU):
        return ChildDied(f"took more than {seconds:g} s", over_memory=False, over_time=True)
    if asked := _ALLOCATION.search(stderr):
        size = int(asked.group(1)) / 1024 / 1024
        return ChildDied(f"it asked for {size:,.0f} MB at once", over_memory=True, over_time=False)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        # SIGABRT: a native allocation refused by the cap (Rust aborts); SIGKILL: the kernel.
        over_memory = os.WTERMSIG(status) in (signal.SIGABRT, signal.SIGKILL, signal.SIGSEGV)
        return ChildDied(f"the reader died ({name})", over_memory=over_memory, over_time=False)
    return ChildDied(
        f"the reader ended without an answer (exit {os.WEXITSTATUS(status)})",
        over_memory=True,
        over_time=False,
    )


def _address_space() -> int:
    """This process's virtual size now (the child starts as a copy of it)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 * 4
