"""Run one risky function in a child process with a memory and a time cap.

The spreadsheet readers are native code: a workbook that makes one allocate far beyond the
machine (a single cell at XFD200000 asks for 100 GB) aborts the process, which Python cannot
catch. Reading in a forked child limited to ``memory_bytes`` more than the parent holds turns
that into a refusal: the child dies, the caller gets ``ChildDied`` and says the file is over
the limits; the command, the scheduled job or the web server go on.

A fork costs a few milliseconds (the child shares the parent's pages) and the result comes
back pickled. A process with threads asks a fork server (started once) for its children
instead of forking itself. On a system without ``fork`` the function runs in the process.
A child may start one more beside it (``beside``: a second core for a big sheet), under the
same caps, tied to it: it dies with it.
"""

from __future__ import annotations

import faulthandler
import gc
import math
import multiprocessing
import multiprocessing.context
import os
import pickle
import re
import resource
import signal
import tempfile
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from importer.i18n import _, number

T = TypeVar("T")


class ChildDied(Exception):
    """The child ended without an answer: killed by a signal, over its caps, or crashed."""

    def __init__(self, reason: str, *, over_memory: bool, over_time: bool) -> None:
        super().__init__(reason)
        self.over_memory = over_memory
        self.over_time = over_time

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a reading child by the child beside it: sent to the parent pickled.
        return _child_died, (str(self), self.over_memory, self.over_time)


def _child_died(reason: str, over_memory: bool, over_time: bool) -> ChildDied:
    return ChildDied(reason, over_memory=over_memory, over_time=over_time)


def run_capped(function: Callable[..., T], *args: Any, memory_bytes: int, seconds: float) -> T:
    """``function(*args)`` in a child that may use ``memory_bytes`` more than this process
    and ``seconds`` of time; its exception is raised here, its death is ``ChildDied``.

    A process with one thread (a command, the scheduled job) forks itself: a few
    milliseconds. One with threads (the web server) must not: a lock another thread holds at
    the fork would stay held in the child forever. It asks a fork server instead, a clean
    single-threaded process started once, which forks the child.
    """
    if not hasattr(os, "fork"):
        return function(*args)
    if threading.active_count() > 1:
        return _run_from_fork_server(function, args, memory_bytes, seconds)
    return _run_forked(function, args, memory_bytes, seconds)


def _run_forked(
    function: Callable[..., T], args: tuple[Any, ...], memory_bytes: int, seconds: float
) -> T:
    # Counted here: the child opens nothing.
    return _fork(function, args, _address_space() + memory_bytes, seconds)()


def beside(function: Callable[..., T], *args: Any) -> Callable[[], T]:
    """Start ``function(*args)`` in a child of this capped child, under the same caps (its
    address space, the time left to this one), while this one goes on with its own work: the
    function returned waits for the answer (the result, the child's exception raised here, or
    ``ChildDied``). A reading child uses it to parse on a second core; being single-threaded
    (a fork of a one-thread process, or of the fork server), it may open the file this needs."""
    address_space, _hard = resource.getrlimit(resource.RLIMIT_AS)
    seconds_left = signal.alarm(0)
    signal.alarm(seconds_left)  # alarm(0) took it off: put it back as it was
    return _fork(function, args, address_space, seconds_left or _UNTIMED, tied=True)


_UNTIMED = 24 * 3600.0  # beside a process without an alarm: no cap of its own


def _fork(
    function: Callable[..., T],
    args: tuple[Any, ...],
    address_space: int,
    seconds: float,
    *,
    tied: bool = False,
) -> Callable[[], T]:
    parent = os.getpid()
    reading, writing = os.pipe()
    # The child's stderr goes to a file of its own: a native crash prints there, not on ours,
    # and a long backtrace can never block it.
    said = tempfile.TemporaryFile()  # noqa: SIM115 (answer() closes it, once the child is done)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(reading)
        os.dup2(said.fileno(), 2)
        if tied:
            _die_with(parent)
        _child(function, args, writing, address_space, seconds)
    os.close(writing)

    def answer() -> T:
        # Plain blocking reads until the child closes its end (it exits, or dies, or its
        # alarm ends it): no select() and no thread, which some preloaded libraries disturb.
        with said, os.fdopen(reading, "rb") as pipe:
            data = pipe.read()
            _, status = os.waitpid(pid, 0)
            said.seek(0)
            stderr = said.read(8192).decode(errors="replace")
        signalled = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        return _answer(data, signalled, os.waitstatus_to_exitcode(status), seconds, stderr)

    return answer


def _die_with(parent: int) -> None:
    """A child beside a reading child ends when that one does, whatever ends it: it holds the
    pipe to the reading child's own parent open, which would wait for it."""
    import ctypes  # Linux's prctl; elsewhere the child ends on its own alarm

    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before the prctl
        os._exit(70)


_PR_SET_PDEATHSIG = 1


def _answer(data: bytes, signalled: int | None, exit_code: int, seconds: float, stderr: str) -> Any:
    """The child's result, or its exception raised, or ``ChildDied``."""
    if data:
        try:
            kind, value = pickle.loads(data)
        except Exception:  # a truncated answer: the child died while writing it
            kind, value = None, None
        if kind == "ok":
            return value
        if isinstance(value, MemoryError):  # Python's own allocation refused by the cap
            raise ChildDied(_("it ran out of memory"), over_memory=True, over_time=False)
        if kind == "error":
            raise value
    raise _death(signalled, exit_code, seconds, stderr)


_SERVER_LOCK = threading.Lock()
_server: multiprocessing.context.ForkServerContext | None = None


def _run_from_fork_server(
    function: Callable[..., T], args: tuple[Any, ...], memory_bytes: int, seconds: float
) -> T:
    global _server
    with _SERVER_LOCK:
        if _server is None:
            _server = multiprocessing.get_context("forkserver")
            # The server imports the function's module once; each child is then a fork of it.
            _server.set_forkserver_preload([function.__module__])
    # Its stderr in a file of its own, as a forked child's; the cap counts from its own size.
    with tempfile.NamedTemporaryFile(prefix="ocean-import-reader-", suffix=".err") as said:
        reading, writing = _server.Pipe(duplex=False)
        child = _server.Process(
            target=_served_child,
            args=(function, args, writing, memory_bytes, seconds, said.name),
            daemon=True,
        )
        child.start()
        writing.close()
        try:
            data = reading.recv_bytes()
        except EOFError:
            data = b""
        child.join()
        said.seek(0)
        stderr = said.read(8192).decode(errors="replace")
    exit_code = child.exitcode or 0  # negative: the signal that ended it
    signalled = -exit_code if exit_code < 0 else None
    return _answer(data, signalled, exit_code, seconds, stderr)


def _served_child(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    writing: Any,
    memory_bytes: int,
    seconds: float,
    stderr_path: str,
) -> None:
    """A child of the fork server (single-threaded: it may open files and read clocks)."""
    os.dup2(os.open(stderr_path, os.O_WRONLY | os.O_APPEND), 2)
    _child(function, args, writing, _address_space() + memory_bytes, seconds)


def _child(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    writing: Any,
    address_space: int,
    seconds: float,
) -> None:
    """The child's life: its caps, the work, the answer down the pipe, then ``_exit``. It
    opens no file and reads no clock of its own: a lock another thread of the parent held at
    the fork (a preloaded library's, around such calls) would never be released here."""
    code = 0
    try:
        # A crash here is the expected end of a hostile file: no dump of every thread on
        # the parent's stderr (pytest and python -X faulthandler install one).
        faulthandler.disable()
        # Wall-clock time: the alarm's default action ends the child, whatever it is doing.
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(max(1, math.ceil(seconds)))
        # A Rust reader that fails under the cap must not symbolize a backtrace (asked for by
        # RUST_BACKTRACE=1 in the environment): that allocates, fails again, and deadlocks on
        # the backtrace lock, until the alarm.
        os.environ["RUST_BACKTRACE"] = os.environ["RUST_LIB_BACKTRACE"] = "0"
        # Address space: what the child inherits, plus the budget. A native allocation past
        # it fails at once (the reader aborts: this child only).
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        soft = address_space if hard == resource.RLIM_INFINITY else min(address_space, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        # A reader makes millions of cells and no cycles worth finding: the collector's passes
        # over them would cost a tenth of the read, in a process that lives for one answer.
        gc.disable()
        try:
            answer: tuple[str, Any] = ("ok", function(*args))
        except Exception as exc:  # handed to the parent, which raises it
            answer = ("error", exc)
        data = memoryview(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        if isinstance(writing, int):
            while data:
                data = data[os.write(writing, data) :]
        else:  # a fork server's connection
            writing.send_bytes(data)
    except BaseException:  # MemoryError, an unpicklable answer: no answer
        code = 70
    finally:
        os._exit(code)


_ALLOCATION = re.compile(r"memory allocation of (\d+) bytes failed")


def _death(signalled: int | None, exit_code: int, seconds: float, stderr: str) -> ChildDied:
    if signalled in (signal.SIGALRM, signal.SIGXCPU):
        took = _("took more than {seconds} s").format(seconds=f"{seconds:g}")
        return ChildDied(took, over_memory=False, over_time=True)
    if asked := _ALLOCATION.search(stderr):
        size = int(asked.group(1)) / 1024 / 1024
        asked_for = _("it asked for {mb} MB at once").format(mb=number(round(size)))
        return ChildDied(asked_for, over_memory=True, over_time=False)
    if signalled is not None:
        name = signal.Signals(signalled).name
        # SIGABRT: a native allocation refused by the cap (Rust aborts); SIGKILL: the kernel.
        over_memory = signalled in (signal.SIGABRT, signal.SIGKILL, signal.SIGSEGV)
        died = _("the reader died ({signal})").format(signal=name)
        return ChildDied(died, over_memory=over_memory, over_time=False)
    return ChildDied(
        _("the reader ended without an answer (exit {code})").format(code=exit_code),
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
