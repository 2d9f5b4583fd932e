"""The few edges tests replace: the clock and the sleep (everything else is real)."""

from __future__ import annotations

from importer.resilience import RetryPolicy
from tests.plannings import NOW


class FakeClock:
    """A clock that moves only when told to; starts at the tests' NOW."""

    def __init__(self, start: float = NOW.timestamp()) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordedSleeps(list[float]):
    """An async sleep that records how long it was asked to wait, and returns at once."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def quick_policy(sleeps: RecordedSleeps, **options: float) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps, **options)  # type: ignore[arg-type]
