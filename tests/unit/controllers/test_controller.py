"""The framework: workers, retries with backoff, one worker per key, forced reconciles."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.api.errors import Conflict
from orchestrator.client.clock import FakeClock, LoopClock
from orchestrator.client.informer import SharedInformerFactory
from orchestrator.controllers.controller import Controller, ControllerContext
from orchestrator.controllers.daemonset import DaemonSetController
from orchestrator.controllers.job import JobController
from orchestrator.controllers.replicaset import ReplicaSetController


class Recording(Controller):
    name = "recording"

    def __init__(self, ctx: ControllerContext, *, workers: int = 3, fail: int = 0, delay: float = 0.0) -> None:
        super().__init__(ctx, workers=workers)
        self.synced: list[str] = []
        self.fail = fail
        self.delay = delay
        self.concurrent: dict[str, int] = {}
        self.max_concurrent_per_key = 0

    async def sync(self, key: str) -> None:
        self.concurrent[key] = self.concurrent.get(key, 0) + 1
        self.max_concurrent_per_key = max(self.max_concurrent_per_key, self.concurrent[key])
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            self.synced.append(key)
            if self.fail > 0:
                self.fail -= 1
                raise Conflict("the object has been modified")
        finally:
            self.concurrent[key] -= 1


def ctx(clock: Any = None, observed: list[Any] | None = None) -> ControllerContext:
    def observe(*args: Any) -> None:
        if observed is not None:
            observed.append(args)

    return ControllerContext(client=None, factory=None, recorder=None, clock=clock or FakeClock(),  # type: ignore[arg-type]
                             observer=observe)


async def run_until(controller: Controller, condition: Any, clock: FakeClock | None = None) -> None:
    task = asyncio.create_task(controller.run())
    try:
        for _ in range(2000):
            if condition():
                return
            if clock is not None:
                clock.advance(0.001)
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(0.001)
        raise AssertionError("condition never met")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_keys_added_many_times_while_waiting_are_synced_once() -> None:
    c = Recording(ctx())
    for _ in range(5):
        c.queue.add("ns/a")
    c.queue.add("ns/b")
    await run_until(c, lambda: len(c.synced) == 2)
    assert sorted(c.synced) == ["ns/a", "ns/b"]
    assert c.stats.reconciles == 2 and c.stats.errors == 0


async def test_a_failed_sync_is_retried_with_backoff_and_recorded() -> None:
    clock = FakeClock()
    observed: list[Any] = []
    c = Recording(ctx(clock, observed), fail=2)
    c.queue.add("ns/a")
    await run_until(c, lambda: len(c.synced) == 3, clock)
    assert c.stats.errors == 2 and "Conflict" in c.stats.last_error and c.stats.last_error_key == "ns/a"
    assert c.queue.retries == 2
    assert c.queue.num_requeues("ns/a") == 0  # forgotten after the success
    assert [o[3] is None for o in observed] == [False, False, True]


async def test_one_key_is_never_synced_by_two_workers_at_once() -> None:
    c = Recording(ctx(asyncio_clock()), workers=4, delay=0.01)

    async def keep_adding() -> None:
        for _ in range(20):
            c.queue.add("ns/hot")
            await asyncio.sleep(0.002)

    adder = asyncio.create_task(keep_adding())
    await run_until(c, lambda: adder.done() and c.queue.depth == 0 and c.queue.in_flight == 0 and len(c.synced) > 1)
    assert c.max_concurrent_per_key == 1


async def test_reconcile_now_waits_for_that_sync_and_returns_its_error() -> None:
    c = Recording(ctx(asyncio_clock()), fail=1)
    task = asyncio.create_task(c.run())
    try:
        error = await c.reconcile_now("ns/a", timeout=5)
        assert isinstance(error, Conflict)
        assert await c.reconcile_now("ns/a", timeout=5) is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("cls", [ReplicaSetController, JobController, DaemonSetController])
async def test_a_sync_cancelled_mid_write_forgets_its_expectations_and_is_queued_again(cls: type[Any]) -> None:
    # The Lease lost while the creates were in flight: had the controller kept expecting them, its
    # next sync as leader would wait 5 minutes for pods that were never created.
    factory = SharedInformerFactory(None)  # type: ignore[arg-type]  # never started: no client needed
    c = cls(ControllerContext(client=None, factory=factory, recorder=None, clock=FakeClock()))  # type: ignore[arg-type]
    writing = asyncio.Event()

    async def sync(key: str) -> None:
        c.expectations.expect_creations(key, 3)
        writing.set()
        await asyncio.Event().wait()  # the creates never return

    c.sync = sync  # type: ignore[method-assign]
    task = asyncio.create_task(c.process("ns/web"))
    await writing.wait()
    assert not c.expectations.satisfied("ns/web")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert c.expectations.satisfied("ns/web")
    assert c.queue.depth == 1  # whoever leads next syncs it again


def asyncio_clock() -> Any:
    return LoopClock()
