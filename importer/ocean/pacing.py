"""How many calls go to Ocean at once, and how fast: as many as it answers without slowing
down or throttling, never more than the configured concurrency.

Ocean documents no rate limit, so the client finds it (additive increase, multiplicative
decrease, in the manner of TCP and of Netflix's concurrency-limits):

- **Concurrency** starts at the ceiling (``--concurrency``). It is cut by a quarter when
  Ocean answers 503 (overloaded) or when the answers take more than twice as long as the
  fastest seen lately, and 50 ms more at least (a queue is building up there), at most once
  per round trip; it grows back by one per round trip of answers that stay fast.
- **Rate**: none until the first 429. Then calls start at most at 90% of what Ocean
  accepted in the last second, evenly spaced; the rate creeps up (a tenth of a call per
  second each second) while calls pass, and is cut again at the next 429. A 429 when Ocean
  accepted fewer calls in the last second than are allowed in flight (the run has just
  begun, or was waiting) tells no rate: it halves the concurrency instead.
- **Retry-After**: a 429 that says how long to wait holds every new call until then, not
  only the one refused (a call that was already waiting for it goes when it ends).

A pacer serves one client and one event loop; its waits are real ones: flow control, not
the retries' backoff (which tests jump over).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

RATE_BACKOFF = 0.9  # a 429: the rate goes to this share of what was accepted
RATE_GROWTH_PER_SECOND = 0.1  # calls per second gained each second without a 429
CONCURRENCY_BACKOFF = 0.75  # a 503, or answers slowing down: the concurrency kept
SLOW_FACTOR = 2.0  # answers this many times slower than the fastest seen: a queue,
SLOW_MARGIN_SECONDS = 0.05  # and by this much at least (a few ms more is only noise)
LATENCY_SMOOTHING = 0.1  # weight of each new answer in the smoothed latency
BASELINE_DRIFT = 0.01  # how fast the fastest-seen latency forgets (a faster path may end)


class Turn:
    """One call's place in the pacer: say how it was answered (nothing: it failed)."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.retry_after: float | None = None

    def answered(self, status: int, retry_after: float | None = None) -> None:
        self.status, self.retry_after = status, retry_after


class Pacer:
    """The pace of one client's calls: ``async with pacer.turn() as turn`` around each."""

    def __init__(
        self,
        ceiling: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = float(self.ceiling)  # calls allowed in flight
        self.rate: float | None = None  # calls allowed to start per second (None: no cap)
        self.clock = clock
        self.sleep = sleep
        self.in_flight = 0
        self.throttled = 0  # 429s seen, for the run's log and the benchmark
        self.overloaded = 0  # 503s seen
        self._free: asyncio.Condition | None = None
        self._next_start = 0.0  # the earliest start of the next call, when the rate is capped
        self._not_before = 0.0  # Retry-After: no new call before this
        self._accepted: deque[float] = deque()  # when calls were accepted, the last second
        self._smoothed: float | None = None  # latency of the answers, smoothed
        self._fastest: float | None = None  # the lowest smoothed latency, slowly forgetting
        self._last_cut = -1e9  # when the concurrency or the rate was last cut
        self._last_growth = 0.0

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[Turn]:
        """Wait for a place (concurrency, rate, Retry-After), then hold it for one call."""
        free = self._free = self._free or asyncio.Condition()
        async with free:
            await free.wait_for(lambda: self.in_flight < max(1, int(self.limit)))
            self.in_flight += 1
        try:
            await self._wait_for_start()
            started = self.clock()
            turn = Turn()
            yield turn
            if turn.status is not None:
                self._learn(turn, self.clock() - started)
        finally:
            async with free:
                self.in_flight -= 1
                free.notify_all()

    async def _wait_for_start(self) -> None:
        now = self.clock()
        start = max(now, self._not_before)
        if self.rate is not None:
            # Reserve the next evenly spaced start at once (no await in between), so that
            # calls waiting together take successive places instead of the same one.
            start = max(start, self._next_start)
            self._next_start = start + 1.0 / self.rate
        if start > now:
            await self.sleep(start - now)

    def _learn(self, turn: Turn, latency: float) -> None:
        now = self.clock()
        if turn.retry_after is not None:
            self._not_before = max(self._not_before, now + turn.retry_after)
        if turn.status == 429:
            self.throttled += 1
            if self._may_cut(now):
                accepted = self._accepted_last_second(now)
                if accepted >= int(self.limit):
                    self.rate = RATE_BACKOFF * min(self.rate or accepted, accepted)
                else:  # too few answers to tell a rate (the run just began): fewer at once
                    self.limit = max(1.0, self.limit / 2)
            return
        if turn.status == 503:
            self.overloaded += 1
            if self._may_cut(now):
                self.limit = max(1.0, self.limit * CONCURRENCY_BACKOFF)
            return
        self._accepted.append(now)
        self._accepted_last_second(now)  # keeps only the last second's
        self._smoothed = (
            latency
            if self._smoothed is None
            else self._smoothed + LATENCY_SMOOTHING * (latency - self._smoothed)
        )
        fastest = self._fastest
        self._fastest = (
            self._smoothed
            if fastest is None
            else min(self._smoothed, fastest + BASELINE_DRIFT * (self._smoothed - fastest))
        )
        slow = max(SLOW_FACTOR * self._fastest, self._fastest + SLOW_MARGIN_SECONDS)
        if self._smoothed > slow:
            if self._may_cut(now):
                self.limit = max(1.0, self.limit * CONCURRENCY_BACKOFF)
        else:
            self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)
        if self.rate is not None and now - self._last_growth >= 1.0:
            self.rate += RATE_GROWTH_PER_SECOND * min(now - self._last_growth, 2.0)
            self._last_growth = now

    def _may_cut(self, now: float) -> bool:
        """One cut per round trip (at least a second): the answers of one burst are one signal."""
        if now - self._last_cut < max(1.0, self._smoothed or 0.0):
            return False
        self._last_cut = self._last_growth = now
        return True

    def _accepted_last_second(self, now: float) -> int:
        while self._accepted and self._accepted[0] <= now - 1.0:
            self._accepted.popleft()
        return len(self._accepted)
