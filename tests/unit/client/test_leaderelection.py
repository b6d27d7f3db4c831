"""Leader election acquires, renews, gives up and takes over on a Lease like client-go, on a fake clock."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from orchestrator.api.resources import lookup
from orchestrator.client.clock import FakeClock
from orchestrator.client.leaderelection import LeaderElector, format_micro_time, parse_micro_time
from orchestrator.client.rest import ApiClient
from tests.unit.client.test_rest import FakeApiServer, status

LEASES = lookup("coordination.k8s.io", "leases")
assert LEASES is not None
EPOCH = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


async def eventually(condition: Callable[[], bool], *, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.002)


class Candidate:
    """A LeaderElector on a fake clock, with its callbacks written down."""

    def __init__(self, client: ApiClient, clock: FakeClock, identity: str, **kwargs: Any) -> None:
        self.clock = clock
        self.calls: list[str] = []
        self.elector = LeaderElector(
            client,
            lease_name="kube-scheduler",
            identity=identity,
            on_started_leading=lambda: self.calls.append("started"),
            on_stopped_leading=lambda: self.calls.append("stopped"),
            on_new_leader=lambda who: self.calls.append(f"leader {who}"),
            clock=clock,
            wall_clock=lambda: EPOCH + dt.timedelta(seconds=clock.now()),
            jitter=0.0,
            **kwargs,
        )
        self.task = asyncio.create_task(self.elector.run(), name=f"elector-{identity}")

    async def stop(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


async def advance(clock: FakeClock, seconds: float, *, step: float = 1.0, sleepers: int = 1) -> None:
    """Move the fake clock in steps, letting the electors run (and go back to sleep) in between."""
    moved = 0.0
    while moved < seconds:
        await eventually(lambda: clock.sleepers >= sleepers)
        clock.advance(step)
        moved += step
    await eventually(lambda: clock.sleepers >= sleepers)


def lease(server: FakeApiServer) -> dict[str, Any]:
    return server.objects[("leases.coordination.k8s.io", "kube-system", "kube-scheduler")]


@pytest.fixture
async def server() -> FakeApiServer:
    return FakeApiServer()


@pytest.fixture
async def client(server: FakeApiServer) -> AsyncIterator[ApiClient]:
    async with server.client(read_retries=0) as c:
        yield c


def test_micro_time_is_rfc3339_with_microseconds_in_utc() -> None:
    moment = dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    assert format_micro_time(moment) == "2024-05-01T12:00:00.123456Z"
    assert parse_micro_time("2024-05-01T12:00:00.123456Z") == moment


def test_timings_that_would_allow_two_leaders_are_refused(client: ApiClient) -> None:
    with pytest.raises(ValueError, match="lease_duration .* must be greater than renew_deadline"):
        LeaderElector(client, lease_name="l", identity="a", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError, match="renew_deadline .* must be greater than 1.2 \\* retry_period"):
        LeaderElector(client, lease_name="l", identity="a", renew_deadline=2, retry_period=2)


async def test_a_candidate_creates_an_absent_lease_and_leads(server: FakeApiServer, client: ApiClient) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a")
    try:
        await eventually(lambda: a.elector.is_leader)
        assert a.calls == ["leader a", "started"]
        spec = lease(server)["spec"]
        assert spec == {
            "holderIdentity": "a", "leaseDurationSeconds": 15, "acquireTime": "2024-05-01T12:00:00.000000Z",
            "renewTime": "2024-05-01T12:00:00.000000Z", "leaseTransitions": 0,
        }
        post = [r for r in server.requests if r.method == "POST"][0]
        assert post.url.path == "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    finally:
        await a.stop()


async def test_the_leader_renews_every_retry_period(server: FakeApiServer, client: ApiClient) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a")
    try:
        await eventually(lambda: a.elector.is_leader)
        await advance(clock, 4)
        spec = lease(server)["spec"]
        assert spec["renewTime"] == "2024-05-01T12:00:04.000000Z"
        assert spec["acquireTime"] == "2024-05-01T12:00:00.000000Z"
        assert [r.method for r in server.requests if r.method == "PUT"] == ["PUT", "PUT"]
        assert a.elector.is_leader
    finally:
        await a.stop()


async def test_a_leader_that_cannot_renew_within_the_deadline_stops_leading(
    server: FakeApiServer, client: ApiClient
) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a")
    await eventually(lambda: a.elector.is_leader)
    server.intercept = lambda r: status(503, "ServiceUnavailable", "storage is down")
    await advance(clock, 2 + 8)  # the round starts at 2 s; 8 s later it is still within 10 s
    assert a.elector.is_leader and a.calls == ["leader a", "started"]
    await eventually(lambda: clock.sleepers == 1)
    clock.advance(2)  # 10 s without a renewal: give up
    await asyncio.wait_for(a.task, timeout=3)  # run() returns
    assert not a.elector.is_leader
    assert a.calls == ["leader a", "started", "stopped"]


async def test_a_standby_waits_a_full_lease_duration_by_its_own_clock_then_takes_over(
    server: FakeApiServer, client: ApiClient
) -> None:
    # The holder's renewTime is an hour old, but we judge by when *we* saw the lease change.
    server.put(LEASES, {"metadata": {"name": "kube-scheduler", "namespace": "kube-system"}, "spec": {
        "holderIdentity": "old", "leaseDurationSeconds": 15, "acquireTime": "2024-05-01T11:00:00.000000Z",
        "renewTime": "2024-05-01T11:00:00.000000Z", "leaseTransitions": 3}})
    clock = FakeClock()
    b = Candidate(client, clock, "b")
    try:
        await advance(clock, 14)
        assert not b.elector.is_leader and b.calls == ["leader old"]
        await advance(clock, 2)
        assert b.elector.is_leader
        spec = lease(server)["spec"]
        assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 4
        assert spec["acquireTime"] == spec["renewTime"] == "2024-05-01T12:00:16.000000Z"
        assert b.calls == ["leader old", "leader b", "started"]
    finally:
        await b.stop()


async def test_a_standby_does_not_take_over_while_the_leader_renews(
    server: FakeApiServer, client: ApiClient
) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a")
    await eventually(lambda: a.elector.is_leader)
    b = Candidate(client, clock, "b")
    try:
        await advance(clock, 40, sleepers=2)
        assert a.elector.is_leader and not b.elector.is_leader
        assert lease(server)["spec"]["holderIdentity"] == "a"
        assert lease(server)["spec"]["leaseTransitions"] == 0
    finally:
        await b.stop()
        await a.stop()


async def test_a_409_on_renew_rereads_the_lease_and_the_leader_keeps_leading(
    server: FakeApiServer, client: ApiClient
) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a")
    try:
        await eventually(lambda: a.elector.is_leader)
        conflicts: list[int] = []

        def someone_writes_first(request: httpx.Request) -> httpx.Response | None:
            if request.method == "PUT" and not conflicts:
                # Another writer touches the lease between our GET and PUT: our PUT is stale.
                current = lease(server)
                current["metadata"].setdefault("annotations", {})["touched"] = "yes"
                server.put(LEASES, current)
                conflicts.append(1)
            return None

        server.intercept = someone_writes_first
        await advance(clock, 2)
        puts = [r for r in server.requests if r.method == "PUT"]
        assert len(puts) == 1 and conflicts == [1]  # the first renewal got 409
        await advance(clock, 2)  # the next try reads the lease again and renews
        assert lease(server)["spec"]["renewTime"] == "2024-05-01T12:00:04.000000Z"
        assert a.elector.is_leader
    finally:
        await a.stop()


async def test_cancelling_the_leader_releases_the_lease_so_a_standby_takes_over_at_once(
    server: FakeApiServer, client: ApiClient
) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a")
    await eventually(lambda: a.elector.is_leader)
    b = Candidate(client, clock, "b")
    await advance(clock, 2, sleepers=2)
    await a.stop()
    assert a.calls == ["leader a", "started", "stopped"] and not a.elector.is_leader
    spec = lease(server)["spec"]
    assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
    await advance(clock, 2)  # b's next try, not 15 s later
    try:
        assert b.elector.is_leader
        assert lease(server)["spec"]["leaseTransitions"] == 1
    finally:
        await b.stop()


async def test_the_handover_revision_is_none_for_a_new_lease_the_release_for_a_released_one_and_ours_for_an_expired_one(
    server: FakeApiServer, client: ApiClient
) -> None:
    clock = FakeClock()
    a = Candidate(client, clock, "a")
    await eventually(lambda: a.elector.is_leader)
    assert a.elector.handover_revision == 0  # it created the Lease: nobody led before
    b = Candidate(client, clock, "b")
    await advance(clock, 2, sleepers=2)
    await a.stop()  # releases the Lease, after its work stopped
    released = int(lease(server)["metadata"]["resourceVersion"])
    await advance(clock, 2)
    assert b.elector.is_leader
    assert b.elector.handover_revision == released
    await advance(clock, 4)  # b renews: the handover stays what it was
    assert b.elector.handover_revision == released
    b.task.cancel()  # b "crashes": it keeps the Lease (no release), which then expires
    b.elector._release_on_cancel = False
    await asyncio.gather(b.task, return_exceptions=True)
    c = Candidate(client, clock, "c")
    try:
        await advance(clock, 16)
        assert c.elector.is_leader
        assert c.elector.handover_revision == int(lease(server)["metadata"]["resourceVersion"]) > released
    finally:
        await c.stop()
