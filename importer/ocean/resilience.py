"""How the client copes with a flaky service: retry policy and circuit breaker, in one place.

What is worth retrying is decided where the answer is read (``ocean.py`` raises
``TransientFailure`` for connection errors, timeouts, 429 and 5xx); this module decides how:

- exponential backoff with jitter between attempts, or exactly ``Retry-After`` when the
  service sends one;
- at most ``max_attempts`` failed attempts per call, not counting 429s (throttling is flow
  control, not failure), and at most ``max_wait`` seconds spent waiting in all;
- ``sleep`` is injectable, so tests record the waits instead of sleeping them.

The circuit breaker is a few lines of our own: the well-kept breaker libraries are built
for synchronous code (or for Tornado), and this one needs only to count failures in a row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential, wait_random

from importer.errors import CircuitOpen

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_WAIT_SECONDS = 120.0
DEFAULT_INITIAL_BACKOFF_SECONDS = 0.5
DEFAULT_MAX_BACKOFF_SECONDS = 20.0
DEFAULT_BREAKER_THRESHOLD = 10
DEFAULT_BREAKER_COOLDOWN_SECONDS = 30.0

Sleep = Callable[[float], Awaitable[None]]


class TransientFailure(Exception):
    """One attempt failed in a way that may pass if tried again later."""

    def __init__(
        self,
        reason: str,
        *,
        http_status: int | None = None,
        vendor_message: str = "",
        retry_after: float | None = None,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status
        self.vendor_message = vendor_message
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied

    @property
    def throttled(self) -> bool:
        return self.http_status == 429


class wait_retry_after(wait_base):
    """Wait what the service asked for (``Retry-After``), else what ``fallback`` says."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(failure, TransientFailure) and failure.retry_after is not None:
            return failure.retry_after
        return self.fallback(retry_state)


class stop_after_failures(stop_base):
    """Stop after ``count`` failed attempts, not counting throttled ones (one instance per call)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.failures = 0

    def __call__(self, retry_state: RetryCallState) -> bool:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        if not (isinstance(failure, TransientFailure) and failure.throttled):
            self.failures += 1
        return self.failures >= self.count


class stop_after_waiting(stop_base):
    """Stop when the next wait would take the total waited past ``seconds``.

    Counts the waits themselves (not the wall clock), so that it holds with an injected sleep.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.seconds


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """The one retry policy of the Ocean client."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_wait: float = DEFAULT_MAX_WAIT_SECONDS
    initial_backoff: float = DEFAULT_INITIAL_BACKOFF_SECONDS
    max_backoff: float = DEFAULT_MAX_BACKOFF_SECONDS
    sleep: Sleep = asyncio.sleep
    before_sleep: Callable[[RetryCallState], None] | None = None

    def retrying(self) -> AsyncRetrying:
        """A fresh retry loop for one call (its stop strategies keep per-call counts)."""
        return AsyncRetrying(
            retry=retry_if_exception_type(TransientFailure),
            wait=wait_retry_after(
                wait_exponential(multiplier=self.initial_backoff, max=self.max_backoff)
                + wait_random(0, self.initial_backoff)
            ),
            stop=stop_after_failures(self.max_attempts) | stop_after_waiting(self.max_wait),
            sleep=self.sleep,
            before_sleep=self.before_sleep,
            reraise=True,
        )


class CircuitBreaker:
    """Stops calling a service that keeps failing.

    After ``threshold`` failed attempts in a row (throttling aside) the circuit opens: every
    call fails at once with ``CircuitOpen`` for ``cooldown`` seconds. After that, calls go
    through again; the first success closes the circuit, a failure opens it again.
    """

    def __init__(
        self,
        threshold: int = DEFAULT_BREAKER_THRESHOLD,
        cooldown: float = DEFAULT_BREAKER_COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures_in_a_row = 0
        self.opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None and self.clock() < self.opened_at + self.cooldown

    def before_attempt(self) -> None:
        if self.is_open:
            raise CircuitOpen(
                f"Ocean failed {self.failures_in_a_row} times in a row: "
                f"calls are stopped for {self.cooldown:g} s"
            )

    def record_success(self) -> None:
        self.failures_in_a_row = 0
        self.opened_at = None

    def record_failure(self) -> None:
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= self.threshold:
            self.opened_at = self.clock()
