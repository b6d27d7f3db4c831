"""The controller work queue: keys waiting to be reconciled, handed to worker tasks.

Event handlers never reconcile; they compute a key (``namespace/name``) and `add` it. Worker
tasks loop ``key = await queue.get(); try: sync(key) finally: queue.done(key)``. Because the
queue holds *keys*, not events, ten changes to one object while it waits become one sync —
which is why ``sync`` must re-read current state (level-triggered), never trust an event.

The four guarantees:

- **Fair**: keys are handed out in the order they were first added (FIFO).
- **De-duplicated**: a key added N times while it waits is handed out once.
- **One worker per key**: a key being processed is not handed to another worker. If it is
  added again meanwhile, it is marked dirty and queued again when the first worker calls
  `done` — so the change that arrived during the sync is not lost, and two syncs of one
  object never race.
- **Clean shutdown**: after `shut_down` new adds are ignored, getters are woken, and `get`
  keeps handing out the keys already queued; once the queue is empty it raises
  `QueueShutDown` (an exception, not ``None``, so a worker loop cannot mistake it for a key).
  `shut_down_with_drain` also waits until every handed-out key is `done`.

On top of that, the delaying and rate-limited layers: `add_after` holds a key back until a
moment has passed (the earlier deadline wins if the key is already waiting), and
`add_rate_limited` waits longer each time the same key fails — `ExponentialBackoff`
(base 5 ms, cap 1000 s, as client-go's default item limiter) gives 5 ms, 10 ms, 20 ms, ...
so after ten failures in a row a key waits 5 ms * 2**9 = 2.56 s, and after 18 it waits the
full cap. `forget` resets the count after a successful sync.

Time comes from an injected `Clock` (orchestrator/client/clock.py), so tests drive backoff with a `FakeClock` in no real time.
Delayed keys become ready lazily: a getter that finds no ready key sleeps on the clock until
the earliest deadline, so no background task is needed (and none can leak).

Metrics for a controller's status report: `adds` (keys newly queued), `retries`
(`add_rate_limited` calls), `depth` (keys ready and waiting), `in_flight` (being processed).

Kubernetes equivalent: k8s.io/client-go/util/workqueue (queue.go, delaying_queue.go,
rate_limiting_queue.go, default_rate_limiters.go).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from orchestrator.client.clock import Clock, LoopClock

__all__ = [
    "ExponentialBackoff",
    "QueueShutDown",
    "RateLimiter",
    "WorkQueue",
]

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


class QueueShutDown(Exception):
    """Raised by `WorkQueue.get` once the queue is shut down and empty: the worker should exit."""


# --------------------------------------------------------------------------------------------
# Rate limiters
# --------------------------------------------------------------------------------------------


class RateLimiter(Protocol[K_contra]):
    """How long a key should wait before its next retry."""

    def when(self, key: K_contra) -> float:
        """The delay in seconds for this retry; counts the retry."""
        ...

    def forget(self, key: K_contra) -> None:
        """Stop tracking the key (its sync succeeded): the next failure starts from scratch."""
        ...

    def num_requeues(self, key: K_contra) -> int:
        """How many retries `when` has counted for the key since it was last forgotten."""
        ...


@dataclass
class ExponentialBackoff(Generic[K]):
    """``base * 2**failures``, capped: 5 ms, 10 ms, 20 ms, ... 1000 s with the defaults.

    Kubernetes equivalent: workqueue.ItemExponentialFailureRateLimiter (its default limiter
    for controllers uses the same 5 ms base and 1000 s cap).
    """

    base: float = 0.005
    cap: float = 1000.0
    _failures: dict[K, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError(f"need 0 < base <= cap, got base={self.base} cap={self.cap}")

    def when(self, key: K) -> float:
        exponent = self._failures.get(key, 0)
        self._failures[key] = exponent + 1
        # 2.0**1000 still fits a float; past it the result is the cap anyway, without overflow.
        return min(self.base * 2.0 ** min(exponent, 1000), self.cap)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)


# --------------------------------------------------------------------------------------------
# The queue
# --------------------------------------------------------------------------------------------


class WorkQueue(Generic[K]):
    """A fair, de-duplicating, per-key-serialized asyncio work queue with delays and backoff.

    Use from a single event loop. See the module docstring for the guarantees.
    """

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock | None = None,
        rate_limiter: RateLimiter[K] | None = None,
    ) -> None:
        self.name = name
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._rate_limiter: RateLimiter[K] = (
            rate_limiter if rate_limiter is not None else ExponentialBackoff()
        )
        # The three sets of client-go's queue: `_queue` holds ready keys in order; `_dirty`
        # holds keys that need processing (queued, or re-added while processing);
        # `_processing` holds keys handed to a worker and not yet done.
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        # Keys held back by add_after: a heap of (ready_at, seq, key), and the live entry per
        # key; heap entries that no longer match `_waiting` are stale and skipped.
        self._delayed: list[tuple[float, int, K]] = []
        self._waiting: dict[K, tuple[float, int]] = {}
        self._seq = itertools.count()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._idle: list[asyncio.Future[None]] = []  # shut_down_with_drain waiters
        self._shutting_down = False
        self.adds = 0
        self.retries = 0

    # -- metrics --------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Keys ready and waiting for a worker (not counting delayed or in-flight keys)."""
        self._promote_due()
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Keys handed to a worker and not yet `done`."""
        return len(self._processing)

    @property
    def delayed(self) -> int:
        """Keys waiting for their `add_after` deadline."""
        return len(self._waiting)

    def __len__(self) -> int:
        return self.depth

    def len(self) -> int:
        """Same as ``len(queue)``; named like client-go's ``Len()``."""
        return self.depth

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    # -- the basic queue ------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue `key` for processing; a no-op if it is already waiting or the queue is shut down."""
        if self._shutting_down or key in self._dirty:
            return
        self.adds += 1
        self._dirty.add(key)
        if key in self._processing:
            return  # requeued by done(): one worker per key
        self._queue.append(key)
        self._wake_one_getter()

    async def get(self) -> K:
        """The next key, waiting for one. Raises `QueueShutDown` once shut down and empty.

        The caller owns the key until it calls `done(key)`; call it in a ``finally``.
        """
        while True:
            self._promote_due()
            if self._queue:
                key = self._queue.popleft()
                self._processing.add(key)
                self._dirty.discard(key)
                return key
            if self._shutting_down:
                raise QueueShutDown(self.name or "work queue")
            await self._wait_for_work()

    def done(self, key: K) -> None:
        """The worker finished with `key`; if it was added again meanwhile, queue it now."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one_getter()
        elif not self._processing:
            self._notify_idle()

    def shut_down(self) -> None:
        """Refuse new keys, drop delayed ones, and wake every getter (see the module docstring)."""
        self._shutting_down = True
        self._delayed.clear()
        self._waiting.clear()
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
        if not self._processing and not self._queue:
            self._notify_idle()

    async def shut_down_with_drain(self) -> None:
        """`shut_down`, then wait until workers have taken and finished every queued key.

        Waits forever if no worker is running; bound it with ``asyncio.timeout`` if unsure.
        """
        self.shut_down()
        while self._queue or self._processing:
            idle: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle.append(idle)
            try:
                await idle
            finally:
                if idle in self._idle:
                    self._idle.remove(idle)

    # -- delays and rate limiting ---------------------------------------------------------

    def add_after(self, key: K, delay_seconds: float) -> None:
        """Add `key` once `delay_seconds` have passed; at once if the delay is not positive.

        A key already waiting keeps the earlier of its two deadlines.
        """
        if self._shutting_down:
            return
        if delay_seconds <= 0:
            self.add(key)
            return
        ready_at = self._clock.now() + delay_seconds
        current = self._waiting.get(key)
        if current is not None and current[0] <= ready_at:
            return
        seq = next(self._seq)
        self._waiting[key] = (ready_at, seq)
        heapq.heappush(self._delayed, (ready_at, seq, key))
        # A getter asleep until a later deadline must wake up to sleep until this one.
        self._wake_one_getter()

    def add_rate_limited(self, key: K) -> None:
        """Retry `key` after the rate limiter's delay (longer after each failure)."""
        if self._shutting_down:
            return
        self.retries += 1
        self.add_after(key, self._rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset `key`'s backoff; call it after a successful sync."""
        self._rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many rate-limited retries `key` has had since it was last forgotten."""
        return self._rate_limiter.num_requeues(key)

    # -- internals ------------------------------------------------------------------------

    def _promote_due(self) -> None:
        """Move delayed keys whose deadline has passed into the queue, earliest first."""
        if not self._delayed:
            return
        now = self._clock.now()
        while self._delayed and self._delayed[0][0] <= now:
            ready_at, seq, key = heapq.heappop(self._delayed)
            if self._waiting.get(key) == (ready_at, seq):
                del self._waiting[key]
                self.add(key)

    def _next_deadline(self) -> float | None:
        while self._delayed:
            ready_at, seq, key = self._delayed[0]
            if self._waiting.get(key) == (ready_at, seq):
                return ready_at
            heapq.heappop(self._delayed)  # stale: superseded by an earlier deadline
        return None

    def _wake_one_getter(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _notify_idle(self) -> None:
        for idle in self._idle:
            if not idle.done():
                idle.set_result(None)

    async def _wait_for_work(self) -> None:
        """Sleep until an add wakes us, or the earliest delayed key is due."""
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._getters.append(wake)
        deadline = self._next_deadline()
        timer: asyncio.Task[None] | None = None
        try:
            if deadline is None:
                await wake
            else:
                timer = asyncio.create_task(self._sleep_until(deadline), name=f"workqueue {self.name} timer")
                done, _ = await asyncio.wait((wake, timer), return_when=asyncio.FIRST_COMPLETED)
                if timer in done:
                    timer.result()  # surface a failing clock instead of losing its exception
        except asyncio.CancelledError:
            # We were woken for a key but will not take it: pass the wake-up on, so the key
            # does not sit in the queue while other getters sleep.
            if wake.done() and not wake.cancelled():
                self._wake_one_getter()
            raise
        finally:
            if timer is not None and not timer.done():
                timer.cancel()
            if not wake.done():
                wake.cancel()
            if wake in self._getters:
                self._getters.remove(wake)

    async def _sleep_until(self, deadline: float) -> None:
        # The delay is computed when the timer task starts, not when it is created, so a
        # clock that moved in between (a FakeClock advanced by a test) is accounted for.
        delay = deadline - self._clock.now()
        if delay > 0:
            await self._clock.sleep(delay)
