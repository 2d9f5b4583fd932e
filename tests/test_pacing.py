"""The pacer: Ocean's limit found from its answers (AIMD), on a clock the test turns.

The end-to-end case (a rate-limited sandbox, a whole run) is in test_faults.py; its figures
(1,000 creates against 15 requests/s) in bench/run.py.
"""

from __future__ import annotations

import asyncio

import pytest

from importer.ocean.pacing import Pacer

pytestmark = pytest.mark.anyio


class Clock:
    """A clock that moves only when told to, or when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


async def answer(pacer: Pacer, status: int, *, after: float = 0.01, retry_after: float | None = None,
                 clock: Clock) -> None:  # fmt: skip
    """One call through the pacer, answered ``status`` ``after`` seconds."""
    async with pacer.turn() as turn:
        clock.now += after
        turn.answered(status, retry_after)


async def test_without_a_429_calls_go_at_the_ceiling_unspaced() -> None:
    clock = Clock()
    pacer = Pacer(8, clock=clock, sleep=clock.sleep)
    for _ in range(200):
        await answer(pacer, 200, clock=clock)
    assert pacer.limit == 8 and pacer.rate is None and clock.sleeps == []


async def test_a_429_caps_the_rate_below_what_ocean_accepted_and_retry_after_holds_every_call() -> (
    None
):
    clock = Clock()
    pacer = Pacer(8, clock=clock, sleep=clock.sleep)
    for _ in range(24):  # answered every 1/16 s: sixteen of them in the last second
        await answer(pacer, 200, after=0.0625, clock=clock)
    await answer(pacer, 429, after=0.0, retry_after=1.0, clock=clock)
    assert pacer.rate == pytest.approx(0.9 * 16) and pacer.throttled == 1
    # The next call waits what Ocean asked; those after it go evenly spaced at the rate.
    for _ in range(3):
        await answer(pacer, 200, after=0.0, clock=clock)
    assert clock.sleeps[0] == pytest.approx(1.0)
    assert clock.sleeps[1:] == pytest.approx([1 / 14.4, 1 / 14.5], rel=1e-4)  # a second on: +0.1


async def test_the_rate_creeps_back_up_and_a_burst_of_429s_is_one_cut() -> None:
    clock = Clock()
    pacer = Pacer(4, clock=clock, sleep=clock.sleep)
    for _ in range(24):
        await answer(pacer, 200, after=0.0625, clock=clock)
    for _ in range(5):  # the answers of one burst: one signal, one cut
        await answer(pacer, 429, after=0.0, clock=clock)
    assert pacer.rate == pytest.approx(14.4) and pacer.throttled == 5
    for _ in range(150):  # ten seconds of calls accepted at the capped rate
        await answer(pacer, 200, after=0.0, clock=clock)
    assert 14.4 + 0.8 <= pacer.rate <= 14.4 + 1.2  # a tenth of a call per second, each second
    await answer(pacer, 429, after=0.0, clock=clock)
    assert pacer.rate < 14.4  # cut again, below what passed in the last second


async def test_a_429_before_a_second_of_answers_halves_the_concurrency_instead() -> None:
    clock = Clock()
    pacer = Pacer(16, clock=clock, sleep=clock.sleep)
    for _ in range(3):  # the run has just begun: three answers are no rate
        await answer(pacer, 200, clock=clock)
    await answer(pacer, 429, clock=clock)
    assert pacer.rate is None and pacer.limit == 8


async def test_503_or_slower_answers_cut_the_concurrency_and_fast_ones_grow_it_to_the_ceiling() -> (
    None
):
    clock = Clock()
    pacer = Pacer(16, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        await answer(pacer, 200, after=0.02, clock=clock)
    await answer(pacer, 503, clock=clock)
    assert pacer.limit == 12  # a quarter off
    await answer(pacer, 503, clock=clock)
    assert pacer.limit == 12  # once per round trip (at least a second)
    for _ in range(40):  # answers five times slower: a queue builds up at Ocean
        await answer(pacer, 200, after=0.1, clock=clock)
    assert pacer.limit < 12
    for _ in range(400):  # fast again: back to the ceiling, never beyond
        await answer(pacer, 200, after=0.02, clock=clock)
    assert pacer.limit == 16 and pacer.rate is None


async def test_no_more_calls_in_flight_than_the_ceiling() -> None:
    pacer = Pacer(2)
    in_flight, peak = 0, 0

    async def one() -> None:
        nonlocal in_flight, peak
        async with pacer.turn() as turn:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            turn.answered(200)

    await asyncio.gather(*(one() for _ in range(12)))
    assert peak == 2 and pacer.in_flight == 0
