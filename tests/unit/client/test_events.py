"""The event recorder writes core/v1 Events, aggregates repeats, and never raises into its caller."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from orchestrator.client.clock import FakeClock
from orchestrator.client.events import EventRecorder
from orchestrator.client.rest import ApiClient
from tests.unit.client.test_rest import FakeApiServer, status

START = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


class WallClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "prod", "uid": "uid-1", "resourceVersion": "42"}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "uid": "uid-n", "resourceVersion": "7"}}


@pytest.fixture
async def server() -> FakeApiServer:
    return FakeApiServer()


@pytest.fixture
async def client(server: FakeApiServer) -> AsyncIterator[ApiClient]:
    async with server.client(read_retries=0) as c:
        yield c


@pytest.fixture
async def wall() -> WallClock:
    return WallClock()


@pytest.fixture
async def recorder(client: ApiClient, wall: WallClock) -> AsyncIterator[EventRecorder]:
    rec = EventRecorder(client, component="default-scheduler", host="host-a", wall_clock=wall)
    task = asyncio.create_task(rec.run(), name="event-recorder")
    yield rec
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def events(server: FakeApiServer) -> list[dict[str, Any]]:
    return [o for (gr, _, _), o in server.objects.items() if gr == "events"]


async def test_an_event_becomes_a_core_v1_event_naming_the_object_and_the_component(
    server: FakeApiServer, recorder: EventRecorder
) -> None:
    recorder.event(POD, "Warning", "FailedScheduling", "0/3 nodes are available")
    await asyncio.wait_for(recorder.flush(), timeout=3)
    [event] = events(server)
    assert re.fullmatch(r"web\.[0-9a-f]{16}", event["metadata"]["name"])
    assert event["metadata"]["namespace"] == "prod"
    assert event["involvedObject"] == {"kind": "Pod", "namespace": "prod", "name": "web", "uid": "uid-1",
                                       "apiVersion": "v1", "resourceVersion": "42"}
    assert (event["type"], event["reason"], event["message"]) == (
        "Warning", "FailedScheduling", "0/3 nodes are available")
    assert event["source"] == {"component": "default-scheduler", "host": "host-a"}
    assert event["reportingComponent"] == "default-scheduler" and event["reportingInstance"] == "host-a"
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2024-05-01T12:00:00Z"
    assert event["count"] == 1
    post = server.requests[-1]
    assert (post.method, post.url.path) == ("POST", "/api/v1/namespaces/prod/events")


async def test_events_about_cluster_scoped_objects_go_to_the_default_namespace(
    server: FakeApiServer, recorder: EventRecorder
) -> None:
    recorder.event(NODE, "Normal", "NodeReady", "Node node-1 status is now: NodeReady")
    await asyncio.wait_for(recorder.flush(), timeout=3)
    [event] = events(server)
    assert event["metadata"]["namespace"] == "default"
    assert event["involvedObject"]["namespace"] == ""


async def test_a_repeat_within_ten_minutes_patches_count_and_last_timestamp(
    server: FakeApiServer, recorder: EventRecorder, wall: WallClock
) -> None:
    recorder.event(POD, "Warning", "BackOff", "Back-off restarting failed container")
    wall.now = START + dt.timedelta(minutes=3)
    recorder.event(POD, "Warning", "BackOff", "Back-off restarting failed container")
    wall.now = START + dt.timedelta(minutes=12)  # 9 minutes after the last one: still the same
    recorder.event(POD, "Warning", "BackOff", "Back-off restarting failed container")
    await asyncio.wait_for(recorder.flush(), timeout=3)
    [event] = events(server)
    assert event["count"] == 3
    assert event["firstTimestamp"] == "2024-05-01T12:00:00Z"
    assert event["lastTimestamp"] == "2024-05-01T12:12:00Z"
    patches = [r for r in server.requests if r.method == "PATCH"]
    assert len(patches) == 2
    assert patches[-1].headers["content-type"] == "application/merge-patch+json"
    assert json.loads(patches[-1].content) == {"count": 3, "lastTimestamp": "2024-05-01T12:12:00Z"}


async def test_a_repeat_after_ten_quiet_minutes_or_with_another_message_is_a_new_event(
    server: FakeApiServer, recorder: EventRecorder, wall: WallClock
) -> None:
    recorder.event(POD, "Warning", "BackOff", "first")
    recorder.event(POD, "Warning", "BackOff", "second")
    wall.now = START + dt.timedelta(minutes=10, seconds=1)
    recorder.event(POD, "Warning", "BackOff", "first")
    await asyncio.wait_for(recorder.flush(), timeout=3)
    assert sorted((e["message"], e["count"]) for e in events(server)) == [
        ("first", 1), ("first", 1), ("second", 1)]
    assert len({e["metadata"]["name"] for e in events(server)}) == 3


async def test_a_repeat_whose_event_was_deleted_creates_it_again_with_the_count(
    server: FakeApiServer, recorder: EventRecorder
) -> None:
    recorder.event(POD, "Normal", "Pulled", "image pulled")
    await asyncio.wait_for(recorder.flush(), timeout=3)
    [first] = events(server)
    server.objects.pop(("events", "prod", first["metadata"]["name"]))
    recorder.event(POD, "Normal", "Pulled", "image pulled")
    await asyncio.wait_for(recorder.flush(), timeout=3)
    [again] = events(server)
    assert again["count"] == 2 and again["firstTimestamp"] == first["firstTimestamp"]


async def test_bad_input_is_dropped_and_logged_never_raised(
    server: FakeApiServer, recorder: EventRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.event(POD, "Error", "Oops", "not a valid type")  # type: ignore[arg-type]
    recorder.event({"metadata": {"name": "x"}}, "Normal", "NoKind", "object without kind")
    recorder.event(None, "Normal", "NotAnObject", "")  # type: ignore[arg-type]
    await asyncio.wait_for(recorder.flush(), timeout=3)
    assert events(server) == [] and recorder.dropped == 3
    assert "unsupported event type 'Error'" in caplog.text
    assert "without kind and name" in caplog.text


async def test_a_server_error_drops_the_event_and_the_recorder_keeps_going(
    server: FakeApiServer, recorder: EventRecorder
) -> None:
    server.intercept = lambda r: status(403, "Forbidden", "events is forbidden")
    recorder.event(POD, "Normal", "Scheduled", "one")
    await asyncio.wait_for(recorder.flush(), timeout=3)
    assert recorder.dropped == 1
    server.intercept = None
    recorder.event(POD, "Normal", "Scheduled", "two")
    await asyncio.wait_for(recorder.flush(), timeout=3)
    assert [e["message"] for e in events(server)] == ["two"]


async def test_an_unavailable_server_is_retried_with_backoff_before_giving_up(
    server: FakeApiServer, client: ApiClient, wall: WallClock
) -> None:
    clock = FakeClock()
    failures = 2

    def flaky(request: httpx.Request) -> httpx.Response | None:
        nonlocal failures
        if failures:
            failures -= 1
            return status(503, "ServiceUnavailable", "storage is down")
        return None

    server.intercept = flaky
    rec = EventRecorder(client, component="kubelet", wall_clock=wall, clock=clock, retry_delay=1.0)
    task = asyncio.create_task(rec.run(), name="event-recorder")
    try:
        rec.event(POD, "Normal", "Started", "Started container c")
        for expected_sleep in (1.0, 2.0):
            async with asyncio.timeout(3):
                while clock.sleepers == 0:
                    await asyncio.sleep(0.002)
            clock.advance(expected_sleep)
        await asyncio.wait_for(rec.flush(), timeout=3)
        assert [e["reason"] for e in events(server)] == ["Started"] and rec.dropped == 0
        assert "host" not in events(server)[0]["source"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_full_queue_drops_new_events_without_blocking(client: ApiClient, wall: WallClock) -> None:
    rec = EventRecorder(client, component="c", wall_clock=wall, max_queued=2)
    for i in range(3):
        rec.event(POD, "Normal", "R", f"m{i}")  # no run task: nothing is sent
    assert rec.dropped == 1
