"""Where components read the time and wait: the event loop's clock, or a test's `FakeClock`.

Every component that waits (work queues' backoff, informers' resync, leader election, the
scheduler's queue and cache, the node agent's probes and pod workers) takes a `Clock`, so a test
drives minutes of timers with `FakeClock.advance` in no real time.

Kubernetes equivalent: k8s.io/utils/clock (clock.go; testing/fake_clock.go)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Protocol

__all__ = ["Clock", "FakeClock", "LoopClock"]


class Clock(Protocol):
    """Where the queue reads the time and waits. Seconds, monotonic, any epoch."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's monotonic clock (the default)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class FakeClock:
    """A clock that stands still until the test calls `advance`.

    Sleepers whose deadline is reached are resumed in deadline order; they run the next
    time the test yields to the event loop (for example by awaiting the task it is testing).
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # still a suspension point, like asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), wake))
        await wake

    def advance(self, seconds: float) -> None:
        """Move time forward and release every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError(f"time only moves forward, got {seconds}")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():  # a cancelled sleeper has nothing to resume
                wake.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting on this clock (to let a test wait until one is asleep)."""
        return sum(1 for _, _, wake in self._sleepers if not wake.done())
