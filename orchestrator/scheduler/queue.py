"""The scheduling queue: which pending pod to try next, and when to try a failed one again.

Three places a pod can wait (upstream's names, shown by ListQueue):

    activeQ            ready to be scheduled; a heap, highest spec.priority first, then the
                       oldest metadata.creationTimestamp, then first come first served.
    backoffQ           failed recently; waits out its backoff, then moves to activeQ.
                       Backoff doubles per attempt from 1 s up to 10 s: 1, 2, 4, 8, 10, 10...
    unschedulablePods  fit nowhere; waits for a cluster event that might change that (a node
                       added or updated, a pod deleted or finished) -> move_all_to_active_or_backoff,
                       or for 5 minutes at most (flush_unschedulable_left_over), whichever first.

A popped pod is "in flight" until the scheduler reports back: `done` after binding,
`add_unschedulable_if_not_present` after a failure. If a cluster event arrived while it was in
flight (the move request cycle is at least the pod's cycle) the failure may already be stale,
so it goes to backoffQ instead of waiting in unschedulablePods for an event that has passed.

Time comes from an injected Clock (orchestrator.client.clock.FakeClock in tests), so
backoff tests are instant; `run()` is the periodic flusher the scheduler owns as a named task.

Kubernetes equivalent: pkg/scheduler/internal/queue/scheduling_queue.go
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.api.timestamps import parse_rfc3339
from orchestrator.client.clock import Clock, LoopClock
from orchestrator.scheduler.framework.interfaces import Pod
from orchestrator.scheduler.framework.nodeinfo import pod_key

QueueName = Literal["activeQ", "backoffQ", "unschedulablePods", "inFlight"]

DEFAULT_POD_INITIAL_BACKOFF_SECONDS = 1.0
DEFAULT_POD_MAX_BACKOFF_SECONDS = 10.0
DEFAULT_POD_MAX_IN_UNSCHEDULABLE_SECONDS = 300.0
BACKOFF_FLUSH_INTERVAL_SECONDS = 1.0
UNSCHEDULABLE_FLUSH_INTERVAL_SECONDS = 30.0

# Cluster events that can make an unschedulable pod schedulable (upstream framework.ClusterEvent).
NODE_ADD = "NodeAdd"
NODE_UPDATE = "NodeUpdate"
ASSIGNED_POD_DELETE = "AssignedPodDelete"
UNSCHEDULABLE_TIMEOUT = "UnschedulableTimeout"


@dataclass(slots=True)
class QueuedPodInfo:
    """A pod in the queue with its scheduling history."""

    pod: Pod
    key: str
    timestamp: float
    """When the pod last entered a queue; backoff is counted from here."""
    initial_attempt_timestamp: float | None = None
    attempts: int = 0
    scheduling_cycle: int = 0
    unschedulable_plugins: frozenset[str] = frozenset()
    last_failure: str = ""
    _seq: int = field(default=0, repr=False)


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One row of ListQueue."""

    pod_key: str
    queue: QueueName
    attempts: int
    last_failure: str


def _priority(pod: Pod) -> int:
    return int((pod.get("spec") or {}).get("priority") or 0)


def _creation(pod: Pod) -> float:
    stamp = (pod.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return math.inf  # unknown age: after dated pods, then first come first served
    try:
        return parse_rfc3339(stamp).timestamp()
    except ValueError:
        return math.inf


_IGNORED_META = frozenset({"resourceVersion", "generation", "managedFields"})


def _pod_changed(old: Pod, new: Pod) -> bool:
    """Whether an update could change scheduling: anything but status and bookkeeping metadata."""
    def strip(pod: Pod) -> Pod:
        meta = {k: v for k, v in (pod.get("metadata") or {}).items() if k not in _IGNORED_META}
        return {**{k: v for k, v in pod.items() if k != "status"}, "metadata": meta}

    return strip(old) != strip(new)


class SchedulingQueue:
    """activeQ + backoffQ + unschedulablePods, with `pop()` for the scheduling loop."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        initial_backoff_seconds: float = DEFAULT_POD_INITIAL_BACKOFF_SECONDS,
        max_backoff_seconds: float = DEFAULT_POD_MAX_BACKOFF_SECONDS,
        max_in_unschedulable_seconds: float = DEFAULT_POD_MAX_IN_UNSCHEDULABLE_SECONDS,
    ) -> None:
        self._clock: Clock = clock if clock is not None else LoopClock()
        self.initial_backoff_seconds = initial_backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.max_in_unschedulable_seconds = max_in_unschedulable_seconds
        self._active: dict[str, QueuedPodInfo] = {}
        self._active_heap: list[tuple[int, float, int, str]] = []
        self._backoff: dict[str, QueuedPodInfo] = {}
        self._backoff_heap: list[tuple[float, int, str]] = []
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._in_flight_changed: set[str] = set()
        self._in_flight_deleted: set[str] = set()
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._closed = False
        self.scheduling_cycle = 0
        self.move_request_cycle = -1

    # -- informer events --------------------------------------------------------------------

    def add(self, pod: Pod) -> None:
        """A new pending pod: straight to activeQ (an already-known pod is an update)."""
        key = pod_key(pod)
        if self._find(key) is not None:
            self.update(None, pod)
            return
        self._push_active(QueuedPodInfo(pod, key, self._clock.now()))

    def update(self, old: Pod | None, new: Pod) -> None:
        """A pending pod changed. In activeQ/backoffQ it is replaced in place; in
        unschedulablePods a change that could matter (not just status) moves it out."""
        key = pod_key(new)
        if key in self._active:
            info = self._active.pop(key)
            info.pod = new
            self._push_active(info)  # priority may have changed: re-heap
        elif key in self._backoff:
            self._backoff[key].pod = new
        elif key in self._unschedulable:
            info = self._unschedulable[key]
            changed = _pod_changed(info.pod, new)
            info.pod = new
            if changed:
                del self._unschedulable[key]
                self._requeue(info)
        elif key in self._in_flight:
            if _pod_changed(self._in_flight[key].pod, new):
                self._in_flight_changed.add(key)
            self._in_flight[key].pod = new
        else:
            self.add(new)

    def delete(self, pod: Pod) -> None:
        """The pod was deleted or got a node: it leaves whichever queue holds it."""
        key = pod_key(pod)
        self._active.pop(key, None)  # heap entry is skipped lazily on pop
        self._backoff.pop(key, None)
        self._unschedulable.pop(key, None)
        if key in self._in_flight:
            self._in_flight_deleted.add(key)

    def move_all_to_active_or_backoff(self, event: str) -> int:
        """A cluster event (node added/updated, pod deleted...) may have made room: every
        unschedulable pod goes to backoffQ if still backing off, else to activeQ. Returns how many."""
        moved = list(self._unschedulable.values())
        self._unschedulable.clear()
        for info in moved:
            self._requeue(info)
        self.move_request_cycle = self.scheduling_cycle
        return len(moved)

    # -- the scheduling loop ----------------------------------------------------------------

    async def pop(self) -> QueuedPodInfo | None:
        """The next pod to schedule, waiting until there is one; None once the queue is closed."""
        while True:
            info = self._pop_active()
            if info is not None:
                self.scheduling_cycle += 1
                info.attempts += 1
                info.scheduling_cycle = self.scheduling_cycle
                if info.initial_attempt_timestamp is None:
                    info.initial_attempt_timestamp = self._clock.now()
                self._in_flight[info.key] = info
                return info
            if self._closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()

    def done(self, key: str) -> None:
        """The pod was scheduled (assumed and sent to binding): it leaves the queue for good."""
        self._forget_in_flight(key)

    def add_unschedulable_if_not_present(
        self,
        info: QueuedPodInfo,
        *,
        message: str = "",
        unschedulable_plugins: Iterable[str] = (),
    ) -> QueueName | None:
        """Put back a pod whose attempt failed; returns the queue it went to (None: dropped).

        Plugins that rejected it are recorded; with none (an Error, not a misfit) or after a
        cluster event during its cycle it goes to backoffQ, otherwise to unschedulablePods.
        """
        key = info.key
        changed = key in self._in_flight_changed
        deleted = key in self._in_flight_deleted
        self._forget_in_flight(key)
        if deleted or self._find(key) is not None:
            return None
        info.timestamp = self._clock.now()
        info.last_failure = message
        info.unschedulable_plugins = frozenset(unschedulable_plugins)
        if changed or not info.unschedulable_plugins or self.move_request_cycle >= info.scheduling_cycle:
            self._push_backoff(info)
            return "backoffQ"
        self._unschedulable[key] = info
        return "unschedulablePods"

    def backoff_duration(self, attempts: int) -> float:
        """initial * 2^(attempts-1), capped. Worked numbers (1 s, 10 s): 1, 2, 4, 8, 10, 10."""
        duration = self.initial_backoff_seconds
        for _ in range(1, attempts):
            duration += duration
            if duration >= self.max_backoff_seconds:
                return self.max_backoff_seconds
        return min(duration, self.max_backoff_seconds)

    def backoff_expiry(self, info: QueuedPodInfo) -> float:
        return info.timestamp + self.backoff_duration(info.attempts)

    def flush_backoff_completed(self) -> int:
        """Move pods whose backoff has expired to activeQ; returns how many."""
        now = self._clock.now()
        moved = 0
        heap = self._backoff_heap
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            info = self._backoff.get(key)
            if info is None or info._seq != seq:
                continue  # deleted or re-queued since this entry was pushed
            del self._backoff[key]
            self._push_active(info)
            moved += 1
        return moved

    def flush_unschedulable_left_over(self) -> int:
        """Pods unschedulable for longer than the maximum (5 min) get another chance."""
        now = self._clock.now()
        stale = [
            info
            for info in self._unschedulable.values()
            if now - info.timestamp > self.max_in_unschedulable_seconds
        ]
        for info in stale:
            del self._unschedulable[info.key]
            self._requeue(info)
        return len(stale)

    async def run(self) -> None:
        """Flush backoffQ every second and unschedulablePods every 30 s, until closed.
        The scheduler runs this as a named task in its TaskGroup."""
        since_unschedulable_flush = 0.0
        while not self._closed:
            await self._clock.sleep(BACKOFF_FLUSH_INTERVAL_SECONDS)
            self.flush_backoff_completed()
            since_unschedulable_flush += BACKOFF_FLUSH_INTERVAL_SECONDS
            if since_unschedulable_flush >= UNSCHEDULABLE_FLUSH_INTERVAL_SECONDS:
                since_unschedulable_flush = 0.0
                self.flush_unschedulable_left_over()

    def close(self) -> None:
        """Wake every waiting `pop()`, which then returns None once activeQ is empty."""
        self._closed = True
        self._wakeup.set()

    # -- reading ----------------------------------------------------------------------------

    def list(self) -> list[QueueEntry]:
        """Every pod the queue holds: activeQ in pop order, then backoffQ by expiry, then the rest."""
        entries = [
            QueueEntry(key, "activeQ", self._active[key].attempts, self._active[key].last_failure)
            for *_, key in sorted(e for e in self._active_heap if self._is_live_active(e))
        ]
        entries += [
            QueueEntry(key, "backoffQ", self._backoff[key].attempts, self._backoff[key].last_failure)
            for _, _, key in sorted(e for e in self._backoff_heap if self._is_live_backoff(e))
        ]
        entries += [
            QueueEntry(i.key, "unschedulablePods", i.attempts, i.last_failure) for i in self._unschedulable.values()
        ]
        entries += [QueueEntry(i.key, "inFlight", i.attempts, i.last_failure) for i in self._in_flight.values()]
        return entries

    def __len__(self) -> int:
        return len(self._active) + len(self._backoff) + len(self._unschedulable)

    def counts(self) -> dict[str, int]:
        return {
            "activeQ": len(self._active),
            "backoffQ": len(self._backoff),
            "unschedulablePods": len(self._unschedulable),
            "inFlight": len(self._in_flight),
        }

    # -- internals --------------------------------------------------------------------------

    def _find(self, key: str) -> QueuedPodInfo | None:
        return (
            self._active.get(key)
            or self._backoff.get(key)
            or self._unschedulable.get(key)
            or self._in_flight.get(key)
        )

    def _requeue(self, info: QueuedPodInfo) -> None:
        if self.backoff_expiry(info) > self._clock.now():
            self._push_backoff(info)
        else:
            self._push_active(info)

    def _push_active(self, info: QueuedPodInfo) -> None:
        info._seq = next(self._seq)
        self._active[info.key] = info
        heapq.heappush(self._active_heap, (-_priority(info.pod), _creation(info.pod), info._seq, info.key))
        self._wakeup.set()

    def _push_backoff(self, info: QueuedPodInfo) -> None:
        info._seq = next(self._seq)
        self._backoff[info.key] = info
        heapq.heappush(self._backoff_heap, (self.backoff_expiry(info), info._seq, info.key))

    def _is_live_active(self, entry: tuple[int, float, int, str]) -> bool:
        info = self._active.get(entry[3])
        return info is not None and info._seq == entry[2]

    def _is_live_backoff(self, entry: tuple[float, int, str]) -> bool:
        info = self._backoff.get(entry[2])
        return info is not None and info._seq == entry[1]

    def _pop_active(self) -> QueuedPodInfo | None:
        heap = self._active_heap
        while heap:
            entry = heapq.heappop(heap)
            if self._is_live_active(entry):
                return self._active.pop(entry[3])
        return None

    def _forget_in_flight(self, key: str) -> None:
        self._in_flight.pop(key, None)
        self._in_flight_changed.discard(key)
        self._in_flight_deleted.discard(key)
