"""The work queue keeps its four guarantees, and its delays run on an injected clock."""

from __future__ import annotations

import asyncio
import random

import pytest

from orchestrator.client.clock import FakeClock
from orchestrator.client.workqueue import (
    ExponentialBackoff,
    QueueShutDown,
    WorkQueue,
)


async def settle() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(20):
        await asyncio.sleep(0)


async def get_soon(queue: WorkQueue[str]) -> str:
    # A real-time bound so a broken queue fails the test instead of hanging it.
    return await asyncio.wait_for(queue.get(), timeout=2)


def make_queue() -> tuple[WorkQueue[str], FakeClock]:
    clock = FakeClock()
    return WorkQueue("test", clock=clock), clock


# --------------------------------------------------------------------------------------------
# Fair
# --------------------------------------------------------------------------------------------


async def test_keys_are_handed_out_in_the_order_they_were_added() -> None:
    queue, _ = make_queue()
    for key in ["c", "a", "b"]:
        queue.add(key)
    assert [await get_soon(queue) for _ in range(3)] == ["c", "a", "b"]


# --------------------------------------------------------------------------------------------
# De-duplicated
# --------------------------------------------------------------------------------------------


async def test_a_key_added_many_times_while_waiting_is_handed_out_once() -> None:
    queue, _ = make_queue()
    for key in ["a", "b", "a", "a", "b"]:
        queue.add(key)
    assert len(queue) == 2
    assert queue.adds == 2
    assert [await get_soon(queue), await get_soon(queue)] == ["a", "b"]
    assert queue.len() == 0


async def test_a_re_added_key_keeps_its_first_place_in_line() -> None:
    queue, _ = make_queue()
    for key in ["a", "b", "a"]:
        queue.add(key)
    assert [await get_soon(queue), await get_soon(queue)] == ["a", "b"]


# --------------------------------------------------------------------------------------------
# One worker per key
# --------------------------------------------------------------------------------------------


async def test_a_key_being_processed_is_not_handed_to_another_worker() -> None:
    queue, _ = make_queue()
    queue.add("a")
    assert await get_soon(queue) == "a"
    queue.add("a")  # changed again while the first sync runs
    assert len(queue) == 0
    second = asyncio.create_task(queue.get(), name="second worker")
    await settle()
    assert not second.done()
    queue.done("a")
    assert await asyncio.wait_for(second, timeout=2) == "a"
    assert queue.in_flight == 1


async def test_re_adds_during_processing_collapse_into_one_more_round() -> None:
    queue, _ = make_queue()
    queue.add("a")
    await get_soon(queue)
    queue.add("a")
    queue.add("a")
    queue.done("a")
    assert len(queue) == 1
    assert await get_soon(queue) == "a"
    queue.done("a")
    assert len(queue) == 0
    assert queue.in_flight == 0


async def test_done_without_a_re_add_does_not_requeue() -> None:
    queue, _ = make_queue()
    queue.add("a")
    await get_soon(queue)
    queue.done("a")
    assert len(queue) == 0
    assert queue.in_flight == 0


async def test_concurrent_workers_never_process_one_key_twice_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue("concurrency")
    rng = random.Random(7)
    keys = [f"ns/obj-{i}" for i in range(5)]
    active: set[str] = set()
    overlaps: list[str] = []
    processed_after_last_add: dict[str, bool] = {}
    syncs = 0

    async def worker() -> None:
        nonlocal syncs
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            try:
                if key in active:
                    overlaps.append(key)
                active.add(key)
                processed_after_last_add[key] = True
                for _ in range(rng.randint(0, 3)):
                    await asyncio.sleep(0)
                syncs += 1
            finally:
                active.discard(key)
                queue.done(key)

    async def producer() -> None:
        for _ in range(400):
            key = rng.choice(keys)
            processed_after_last_add[key] = False
            queue.add(key)
            if rng.random() < 0.5:
                await asyncio.sleep(0)

    async with asyncio.timeout(10):
        async with asyncio.TaskGroup() as group:
            for i in range(4):
                group.create_task(worker(), name=f"worker-{i}")
            await producer()
            await queue.shut_down_with_drain()

    assert overlaps == []
    # No change is lost: every key was synced at least once after its last add.
    assert all(processed_after_last_add.values())
    # De-duplication did its job: far fewer syncs than adds.
    assert 5 <= syncs < 400
    assert queue.in_flight == 0 and len(queue) == 0


# --------------------------------------------------------------------------------------------
# Clean shutdown
# --------------------------------------------------------------------------------------------


async def test_shut_down_wakes_every_waiting_getter_with_queue_shut_down() -> None:
    queue, _ = make_queue()
    getters = [asyncio.create_task(queue.get(), name=f"getter-{i}") for i in range(3)]
    await settle()
    assert not any(g.done() for g in getters)
    queue.shut_down()
    results = await asyncio.wait_for(asyncio.gather(*getters, return_exceptions=True), timeout=2)
    assert all(isinstance(r, QueueShutDown) for r in results)
    assert queue.shutting_down


async def test_after_shut_down_queued_keys_are_still_handed_out_then_get_raises() -> None:
    queue, _ = make_queue()
    queue.add("a")
    queue.add("b")
    queue.shut_down()
    queue.add("c")  # ignored
    assert [await get_soon(queue), await get_soon(queue)] == ["a", "b"]
    with pytest.raises(QueueShutDown):
        await get_soon(queue)


async def test_shut_down_drops_delayed_and_rate_limited_keys() -> None:
    queue, clock = make_queue()
    queue.add_after("later", 1.0)
    queue.shut_down()
    queue.add_rate_limited("retry")
    clock.advance(10.0)
    assert len(queue) == 0 and queue.delayed == 0
    assert queue.retries == 0
    with pytest.raises(QueueShutDown):
        await get_soon(queue)


async def test_shut_down_with_drain_waits_for_in_flight_keys() -> None:
    queue, _ = make_queue()
    queue.add("a")
    assert await get_soon(queue) == "a"
    drain = asyncio.create_task(queue.shut_down_with_drain(), name="drain")
    await settle()
    assert not drain.done()
    queue.done("a")
    await asyncio.wait_for(drain, timeout=2)


async def test_shut_down_with_drain_returns_at_once_when_idle() -> None:
    queue, _ = make_queue()
    await asyncio.wait_for(queue.shut_down_with_drain(), timeout=2)
    assert queue.shutting_down


async def test_a_cancelled_getter_passes_its_wake_up_to_another_getter() -> None:
    queue, _ = make_queue()
    first = asyncio.create_task(queue.get(), name="first")
    second = asyncio.create_task(queue.get(), name="second")
    await settle()
    queue.add("a")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it can take the key
    assert await asyncio.wait_for(second, timeout=2) == "a"
    with pytest.raises(asyncio.CancelledError):
        await first


# --------------------------------------------------------------------------------------------
# add_after
# --------------------------------------------------------------------------------------------


async def test_add_after_holds_a_key_back_until_its_delay_has_passed() -> None:
    queue, clock = make_queue()
    queue.add_after("a", 2.0)
    assert len(queue) == 0 and queue.delayed == 1
    clock.advance(1.999)
    assert len(queue) == 0
    clock.advance(0.001)
    assert len(queue) == 1 and queue.delayed == 0
    assert await get_soon(queue) == "a"


async def test_a_waiting_getter_wakes_when_the_clock_reaches_the_deadline() -> None:
    queue, clock = make_queue()
    queue.add_after("a", 5.0)
    getter = asyncio.create_task(queue.get(), name="getter")
    await settle()
    assert clock.sleepers == 1
    clock.advance(4.0)
    await settle()
    assert not getter.done()
    clock.advance(1.0)
    assert await asyncio.wait_for(getter, timeout=2) == "a"


async def test_an_earlier_deadline_wakes_a_getter_sleeping_towards_a_later_one() -> None:
    queue, clock = make_queue()
    queue.add_after("late", 10.0)
    getter = asyncio.create_task(queue.get(), name="getter")
    await settle()
    queue.add_after("early", 1.0)
    await settle()
    clock.advance(1.0)
    assert await asyncio.wait_for(getter, timeout=2) == "early"


async def test_add_after_keeps_the_earlier_deadline_for_a_waiting_key() -> None:
    queue, clock = make_queue()
    queue.add_after("a", 5.0)
    queue.add_after("a", 1.0)  # earlier: wins
    queue.add_after("a", 3.0)  # later: ignored
    assert queue.delayed == 1
    clock.advance(1.0)
    assert len(queue) == 1
    assert await get_soon(queue) == "a"
    clock.advance(10.0)
    assert len(queue) == 0  # the superseded 5 s entry does not fire again


async def test_add_after_with_no_delay_adds_at_once() -> None:
    queue, _ = make_queue()
    queue.add_after("a", 0)
    queue.add_after("b", -1)
    assert len(queue) == 2 and queue.delayed == 0


async def test_delayed_keys_become_ready_in_deadline_order() -> None:
    queue, clock = make_queue()
    queue.add_after("c", 3.0)
    queue.add_after("a", 1.0)
    queue.add_after("b", 2.0)
    clock.advance(3.0)
    assert [await get_soon(queue) for _ in range(3)] == ["a", "b", "c"]


async def test_add_after_runs_on_the_event_loop_clock_by_default() -> None:
    queue: WorkQueue[str] = WorkQueue("real time")
    loop = asyncio.get_running_loop()
    start = loop.time()
    queue.add_after("a", 0.02)
    assert await asyncio.wait_for(queue.get(), timeout=2) == "a"
    assert loop.time() - start >= 0.02


# --------------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------------


def test_exponential_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff()
    delays = [backoff.when("a") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert delays[9] == pytest.approx(2.56)
    assert delays[17] == pytest.approx(655.36)
    assert delays[18] == 1000.0 and delays[19] == 1000.0
    assert backoff.num_requeues("a") == 20
    assert backoff.when("b") == pytest.approx(0.005)  # per key


def test_exponential_backoff_does_not_overflow_after_very_many_failures() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff(base=1.0, cap=60.0)
    for _ in range(5000):
        delay = backoff.when("a")
    assert delay == 60.0


def test_exponential_backoff_rejects_a_cap_below_the_base() -> None:
    with pytest.raises(ValueError, match="need 0 < base <= cap"):
        ExponentialBackoff(base=2.0, cap=1.0)


async def test_add_rate_limited_waits_longer_after_each_failure() -> None:
    queue, clock = make_queue()
    for attempt, delay in enumerate([0.005, 0.01, 0.02, 0.04]):
        queue.add_rate_limited("a")
        assert queue.num_requeues("a") == attempt + 1
        clock.advance(delay * 0.99)
        assert len(queue) == 0, f"attempt {attempt} came back too early"
        clock.advance(delay * 0.02)  # a 1 % overshoot absorbs float rounding of the clock sum
        assert await get_soon(queue) == "a"
        queue.done("a")
    assert queue.retries == 4


async def test_forget_resets_the_backoff_of_a_key() -> None:
    queue, clock = make_queue()
    for _ in range(3):
        queue.add_rate_limited("a")
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    clock.advance(0.02)  # drain the pending retry
    await get_soon(queue)
    queue.done("a")
    queue.add_rate_limited("a")
    clock.advance(0.005)
    assert len(queue) == 1  # back to the 5 ms base delay


async def test_a_custom_rate_limiter_is_used() -> None:
    class Fixed:
        def when(self, key: str) -> float:
            return 7.0

        def forget(self, key: str) -> None:
            pass

        def num_requeues(self, key: str) -> int:
            return 0

    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("fixed", clock=clock, rate_limiter=Fixed())
    queue.add_rate_limited("a")
    clock.advance(6.9)
    assert len(queue) == 0
    clock.advance(0.1)
    assert len(queue) == 1


# --------------------------------------------------------------------------------------------
# The fake clock
# --------------------------------------------------------------------------------------------


async def test_fake_clock_releases_sleepers_only_when_advanced_past_their_deadline() -> None:
    clock = FakeClock(start=100.0)
    sleeper = asyncio.create_task(clock.sleep(3.0), name="sleeper")
    await settle()
    clock.advance(2.0)
    await settle()
    assert not sleeper.done()
    clock.advance(1.0)
    await asyncio.wait_for(sleeper, timeout=2)
    assert clock.now() == 103.0
    with pytest.raises(ValueError, match="time only moves forward"):
        clock.advance(-1)
