import asyncio

from orchestrator.client.clock import FakeClock
from orchestrator.scheduler.queue import NODE_ADD, SchedulingQueue
from tests.unit.scheduler.builders import make_pod


def new_queue(clock: FakeClock, **kwargs) -> SchedulingQueue:
    return SchedulingQueue(clock=clock, **kwargs)


async def pop_keys(queue: SchedulingQueue, n: int) -> list[str]:
    return [(await queue.pop()).key for _ in range(n)]


async def test_active_queue_pops_highest_priority_then_oldest():
    queue = new_queue(FakeClock())
    queue.add(make_pod("low-old", priority=0, created="2024-01-01T00:00:00Z"))
    queue.add(make_pod("high", priority=100, created="2024-01-03T00:00:00Z"))
    queue.add(make_pod("low-new", priority=0, created="2024-01-02T00:00:00Z"))
    queue.add(make_pod("low-oldest", priority=0, created="2023-12-31T00:00:00Z"))
    assert await pop_keys(queue, 4) == ["default/high", "default/low-oldest", "default/low-old", "default/low-new"]


async def test_pods_without_timestamps_pop_first_come_first_served():
    queue = new_queue(FakeClock())
    for name in "cab":
        queue.add(make_pod(name))
    assert await pop_keys(queue, 3) == ["default/c", "default/a", "default/b"]


def test_backoff_doubles_from_one_second_and_caps_at_ten():
    queue = new_queue(FakeClock())
    assert [queue.backoff_duration(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    custom = new_queue(FakeClock(), initial_backoff_seconds=2, max_backoff_seconds=5)
    assert [custom.backoff_duration(n) for n in range(1, 4)] == [2, 4, 5]


async def test_failed_pod_with_error_waits_out_its_backoff_before_returning_to_active():
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("p"))
    for attempt, wait in [(1, 1), (2, 2), (3, 4)]:
        info = await queue.pop()
        assert info.attempts == attempt
        assert queue.add_unschedulable_if_not_present(info, message="boom") == "backoffQ"
        clock.advance(wait - 0.5)
        assert queue.flush_backoff_completed() == 0
        clock.advance(0.5)
        assert queue.flush_backoff_completed() == 1


async def test_unschedulable_pod_moves_back_on_a_node_event():
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("p"))
    info = await queue.pop()
    where = queue.add_unschedulable_if_not_present(
        info, message="0/1 nodes are available: 1 Insufficient cpu.", unschedulable_plugins=["NodeResourcesFit"]
    )
    assert where == "unschedulablePods"
    assert [(e.pod_key, e.queue, e.attempts, e.last_failure) for e in queue.list()] == [
        ("default/p", "unschedulablePods", 1, "0/1 nodes are available: 1 Insufficient cpu.")
    ]
    clock.advance(5)  # past its 1 s backoff: straight to activeQ
    assert queue.move_all_to_active_or_backoff(NODE_ADD) == 1
    assert queue.list()[0].queue == "activeQ"
    assert (await queue.pop()).attempts == 2


async def test_node_event_during_backoff_sends_the_pod_to_backoff_queue():
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("p"))
    queue.add_unschedulable_if_not_present(await queue.pop(), unschedulable_plugins=["X"])
    queue.move_all_to_active_or_backoff(NODE_ADD)
    assert queue.counts()["backoffQ"] == 1


async def test_event_while_in_flight_sends_the_failed_pod_to_backoff_not_unschedulable():
    queue = new_queue(FakeClock())
    queue.add(make_pod("p"))
    info = await queue.pop()
    queue.move_all_to_active_or_backoff(NODE_ADD)
    assert queue.add_unschedulable_if_not_present(info, unschedulable_plugins=["X"]) == "backoffQ"


async def test_pods_stuck_in_unschedulable_for_five_minutes_are_flushed_back():
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("p"))
    queue.add_unschedulable_if_not_present(await queue.pop(), unschedulable_plugins=["X"])
    clock.advance(300)
    assert queue.flush_unschedulable_left_over() == 0
    clock.advance(1)
    assert queue.flush_unschedulable_left_over() == 1
    assert queue.counts()["activeQ"] == 1


async def test_spec_update_moves_an_unschedulable_pod_but_status_update_does_not():
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("p"))
    queue.add_unschedulable_if_not_present(await queue.pop(), unschedulable_plugins=["X"])
    status_only = make_pod("p")
    status_only["status"]["conditions"] = [{"type": "PodScheduled", "status": "False"}]
    queue.update(make_pod("p"), status_only)
    assert queue.counts()["unschedulablePods"] == 1
    queue.update(status_only, make_pod("p", cpu="100m"))
    assert queue.counts()["unschedulablePods"] == 0


async def test_deleted_pod_leaves_the_queue_and_is_dropped_if_in_flight():
    queue = new_queue(FakeClock())
    queue.add(make_pod("a"))
    queue.add(make_pod("b"))
    queue.delete(make_pod("b"))
    info = await queue.pop()
    queue.delete(make_pod("a"))
    assert queue.add_unschedulable_if_not_present(info, unschedulable_plugins=["X"]) is None
    assert len(queue) == 0


async def test_pop_waits_for_a_pod_and_close_releases_waiters():
    queue = new_queue(FakeClock())
    waiter = asyncio.create_task(queue.pop(), name="test-pop")
    await asyncio.sleep(0)
    queue.add(make_pod("p"))
    assert (await asyncio.wait_for(waiter, 1)).key == "default/p"
    closing = asyncio.create_task(queue.pop(), name="test-pop-closed")
    await asyncio.sleep(0)
    queue.close()
    assert await asyncio.wait_for(closing, 1) is None


async def test_run_flushes_backoff_every_second():
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("p"))
    queue.add_unschedulable_if_not_present(await queue.pop(), message="boom")
    runner = asyncio.create_task(queue.run(), name="test-queue-flusher")
    await asyncio.sleep(0)
    clock.advance(1)
    info = await asyncio.wait_for(queue.pop(), 1)
    assert info.attempts == 2
    queue.close()
    clock.advance(1)
    await asyncio.wait_for(runner, 1)


async def test_done_forgets_an_in_flight_pod():
    queue = new_queue(FakeClock())
    queue.add(make_pod("p"))
    info = await queue.pop()
    assert queue.counts()["inFlight"] == 1
    queue.done(info.key)
    assert queue.list() == []
