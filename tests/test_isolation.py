"""The capped child that reads workbooks: answers, exceptions, and deaths come back as such."""

from __future__ import annotations

import ctypes
import threading
import time

import pytest

from importer.errors import LayoutError
from importer.isolation import ChildDied, run_capped

MB = 1024 * 1024


def answer(n: int) -> list[int]:
    return list(range(n))


def refuse() -> None:
    raise LayoutError("p.xlsx", "has no sheet with any content")


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def grab_python(megabytes: int) -> int:
    return len(bytearray(megabytes * MB))


def abort() -> None:
    ctypes.CDLL(None).abort()  # what a native reader does when its allocation is refused


def test_the_answer_comes_back() -> None:
    assert run_capped(answer, 100_000, memory_bytes=200 * MB, seconds=30) == list(range(100_000))


def test_an_exception_comes_back_whole() -> None:
    with pytest.raises(LayoutError) as refused:
        run_capped(refuse, memory_bytes=200 * MB, seconds=30)
    assert str(refused.value) == "p.xlsx: has no sheet with any content"


def test_a_child_over_its_time_is_ended() -> None:
    started = time.monotonic()
    with pytest.raises(ChildDied) as death:
        run_capped(sleep, 30, memory_bytes=200 * MB, seconds=1)
    assert death.value.over_time and time.monotonic() - started < 10


def test_a_child_over_its_memory_dies_alone() -> None:
    with pytest.raises(ChildDied) as death:
        run_capped(grab_python, 4000, memory_bytes=200 * MB, seconds=30)
    assert death.value.over_memory
    with pytest.raises(ChildDied) as death:
        run_capped(abort, memory_bytes=200 * MB, seconds=30)
    assert death.value.over_memory and "SIGABRT" in str(death.value)
    assert run_capped(answer, 3, memory_bytes=200 * MB, seconds=30) == [0, 1, 2]  # we live on


def test_a_process_with_threads_reads_through_the_fork_server() -> None:
    """The web server has threads: its children come from a clean fork server, with the same
    answers, exceptions and deaths."""
    ready, done = threading.Event(), threading.Event()
    busy = threading.Thread(target=lambda: (ready.set(), done.wait()), daemon=True)
    busy.start()
    ready.wait()
    try:
        assert run_capped(answer, 1000, memory_bytes=200 * MB, seconds=30) == list(range(1000))
        with pytest.raises(LayoutError):
            run_capped(refuse, memory_bytes=200 * MB, seconds=30)
        with pytest.raises(ChildDied) as death:
            run_capped(abort, memory_bytes=200 * MB, seconds=30)
        assert death.value.over_memory and "SIGABRT" in str(death.value)
        with pytest.raises(ChildDied) as death:
            run_capped(sleep, 30, memory_bytes=200 * MB, seconds=1)
        assert death.value.over_time
    finally:
        done.set()
