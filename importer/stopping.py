"""How a run stops before its end without losing anything: a first Ctrl-C or SIGTERM lets
the calls in flight finish and starts nothing new (a second one cuts them short); an import
run by the web page's worker thread, which no signal reaches, stops the same way when the
page stops (``halt``)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from importer.i18n import _

log = logging.getLogger(__name__)
T = TypeVar("T")


async def interruptible(
    work: Callable[[asyncio.Event], Awaitable[T]], halt: threading.Event | None = None
) -> T:
    """Run ``work(stop)``: a first Ctrl-C (or SIGTERM) sets ``stop`` so that the calls in
    flight finish and nothing new starts; a second cuts them short (recorded as unknown, and
    checked by the next run)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
            return
        stop.set()
        log.warning(_("stopping after the calls in flight (again to cut them short)"))

    # Signals reach the main thread only: an import run by the web page's worker thread
    # is stopped by its own ``stop`` event instead.
    listening = threading.current_thread() is threading.main_thread()
    if listening:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal)
    watching = asyncio.create_task(_watch(halt, stop)) if halt is not None else None
    try:
        return await work(stop)
    finally:
        if watching is not None:
            watching.cancel()
        if listening:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


async def _watch(halt: threading.Event, stop: asyncio.Event) -> None:
    while not halt.is_set():
        await asyncio.sleep(0.2)
    stop.set()
