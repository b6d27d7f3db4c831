"""The controller framework: informers feed keys into a rate-limited work queue; N workers reconcile.

A controller is three things:

1. **Event handlers** on shared informers. They never reconcile: they compute the key of the
   object that should be looked at (``namespace/name`` of a ReplicaSet when one of its pods
   changed, say) and `enqueue` it.
2. **A work queue** (`orchestrator.client.workqueue.WorkQueue`): fair, de-duplicating, one worker
   per key — so a key is never reconciled by two workers at once, and ten changes while a key
   waits become one reconcile.
3. **`sync(key)`**: level-triggered and idempotent. It re-reads the current state from the
   informer caches (never trusting the event that queued it), does what is needed, and returns.
   Safe to run again at any time, after any crash: that is what lets a restarted controller
   manager simply carry on.

The worker loop, as client-go controllers write it::

    key = await queue.get()
    try:    await sync(key);  queue.forget(key)          # success resets the backoff
    except: queue.add_rate_limited(key)                  # 5 ms, 10 ms, 20 ms, ... 1000 s
    finally: queue.done(key)

Workers run only while this process leads (see `manager`); handlers and caches run always,
so a standby that takes over starts warm with every key already queued.

`ControllerStats` counts reconciles and errors and remembers the last error and sync time, for
the gRPC ``ListControllers`` and ``/metrics``.

Kubernetes equivalent: the shape every controller in pkg/controller/ has (Run, worker,
processNextWorkItem, handleErr), e.g. pkg/controller/replicaset/replica_set.go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from orchestrator.api.errors import ApiError, Conflict, NotFound
from orchestrator.client.clock import Clock
from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import DeletedFinalStateUnknown, SharedInformerFactory, meta_namespace_key
from orchestrator.client.rest import ApiClient
from orchestrator.client.workqueue import WorkQueue
from orchestrator.controllers.expectations import Expectations

__all__ = ["Controller", "ControllerContext", "ControllerStats", "Object", "SyncObserver"]

log = logging.getLogger(__name__)

Object = dict[str, Any]

SyncObserver = Callable[[str, str, float, BaseException | None], None]
"""Called after every sync: (controller name, key, seconds, error or None). Metrics use it."""


@dataclass
class ControllerContext:
    """What every controller is built from: the shared client, informers and event recorder."""

    client: ApiClient
    factory: SharedInformerFactory
    recorder: EventRecorder
    clock: Clock
    namespace: str | None = None  # watch only this namespace (labs, tests); None: all of them
    observer: SyncObserver | None = None


@dataclass
class ControllerStats:
    reconciles: int = 0
    errors: int = 0
    last_error: str = ""
    last_error_key: str = ""
    last_sync: float = 0.0  # wall-clock seconds of the last finished sync, 0 if none


class Controller:
    """Base class: subclasses set `name`, register handlers in ``__init__`` and implement `sync`."""

    name: ClassVar[str] = ""
    #: Workers when the manager is not told otherwise (--workers).
    default_workers: ClassVar[int] = 2
    #: What a subclass expects to see of its own writes, if it keeps such a record (ReplicaSet,
    #: Job, DaemonSet): forgotten per key when a sync is cut off (`interrupted`).
    expectations: Expectations | None = None

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        if not self.name:
            raise TypeError(f"{type(self).__name__} must set a class attribute `name`")
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = ctx.recorder
        self.clock = ctx.clock
        self.workers = workers if workers is not None else self.default_workers
        if self.workers < 1:
            raise ValueError(f"{self.name}: workers must be >= 1, got {self.workers}")
        self.queue: WorkQueue[str] = WorkQueue(self.name, clock=ctx.clock)
        self.stats = ControllerStats()
        self._waiters: dict[str, list[asyncio.Future[BaseException | None]]] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} workers={self.workers} depth={self.queue.depth}>"

    # --- what subclasses provide -----------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring the object named by `key` to its desired state. Level-triggered, idempotent."""
        raise NotImplementedError

    def key_for(self, namespace: str, name: str) -> str:
        """The queue key for a (namespace, name) given by a person (the Reconcile RPC)."""
        return f"{namespace}/{name}" if namespace else name

    def resync_all(self) -> None:
        """Queue every object this controller looks after (called when we start leading)."""

    def interrupted(self, key: str) -> None:
        """`sync(key)` was cancelled halfway (this process lost the Lease, or is stopping).

        Which of its writes reached the API server is unknown, so the `expectations` for `key`
        are forgotten: waiting for writes that were never sent stalls the owner until the
        expectations expire (5 minutes). When this process leads again its caches show what did
        land once their watches have caught up; a sync before that may write once too often, and
        the next sync, level-triggered, takes it back. kube-controller-manager exits on a lost
        Lease, which forgets everything; this process stands by again instead (see `manager`).
        """
        if self.expectations is not None:
            self.expectations.delete(key)

    # --- helpers for handlers ----------------------------------------------------------------

    def enqueue(self, obj: Object | DeletedFinalStateUnknown) -> None:
        self.queue.add(meta_namespace_key(obj))

    def enqueue_after(self, obj: Object, seconds: float) -> None:
        self.queue.add_after(meta_namespace_key(obj), seconds)

    # --- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run `workers` worker tasks until cancelled. The informers must already have synced."""
        self.resync_all()
        async with asyncio.TaskGroup() as tg:
            for i in range(self.workers):
                tg.create_task(self._worker(), name=f"{self.name}-worker-{i}")

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.process(key)
            finally:
                self.queue.done(key)

    async def process(self, key: str) -> BaseException | None:
        """One sync of `key` with the bookkeeping: stats, backoff, waiters. Returns the error."""
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            await self.sync(key)
        except asyncio.CancelledError:
            try:
                self.interrupted(key)
            finally:
                self.queue.add(key)  # not done: whoever leads next must look at it again
            raise
        except Exception as err:  # noqa: BLE001 - any failure is retried with backoff
            error = err
        elapsed = time.perf_counter() - started
        self.stats.reconciles += 1
        self.stats.last_sync = time.time()
        if error is None:
            self.queue.forget(key)
        else:
            self.stats.errors += 1
            self.stats.last_error = f"{type(error).__name__}: {error}"
            self.stats.last_error_key = key
            # Conflicts and vanished objects are routine in a level-triggered world: the
            # retry will see fresh state. Anything else is worth a louder line.
            level = logging.INFO if isinstance(error, Conflict | NotFound) else logging.WARNING
            log.log(level, "%s: syncing %r failed (retry %d): %s", self.name, key,
                    self.queue.num_requeues(key) + 1, self.stats.last_error,
                    exc_info=not isinstance(error, ApiError))
            self.queue.add_rate_limited(key)
        if self.ctx.observer is not None:
            self.ctx.observer(self.name, key, elapsed, error)
        for waiter in self._waiters.pop(key, []):
            if not waiter.done():
                waiter.set_result(error)
        return error

    async def reconcile_now(self, key: str, *, timeout: float = 30.0) -> BaseException | None:
        """Queue `key` ahead of its backoff and wait for that sync; returns its error (or None).

        Raises TimeoutError if no worker got to it in time (e.g. this process is a standby).
        """
        waiter: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(waiter)
        self.queue.forget(key)
        self.queue.add(key)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        finally:
            waiters = self._waiters.get(key)
            if waiters and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[key]


async def write_status(client: ApiClient, resource: str, obj: Object, status: dict[str, Any]) -> Object:
    """PUT `status` to obj's status subresource; on 409 re-read once and write it again.

    The status is computed from the caches, so writing it over a newer resourceVersion is what
    upstream's updateReplicaSetStatus does too (it retries on a fresh GET): status belongs to the
    controller alone, and the next sync corrects it if the newer object changed the answer.
    """
    body = {**obj, "status": status}
    for attempt in range(2):
        try:
            return await client.update_status(resource, body)
        except Conflict:
            if attempt == 1:
                raise
            m = obj.get("metadata") or {}
            fresh = await client.get(resource, m["name"], namespace=m.get("namespace"))
            body = {**fresh, "status": status}
    raise AssertionError("unreachable")


def ensure_indexer(informer: Any, name: str, fn: Callable[[Object], Any]) -> None:
    """Add an index to a shared informer unless another controller already added it."""
    try:
        informer.add_indexer(name, fn)
    except ValueError:
        pass  # already there: index functions of one name are the same everywhere


def by_namespace(obj: Object) -> str:
    return (obj.get("metadata") or {}).get("namespace") or ""
