"""API Priority and Fairness (orchestrator/apiserver/flowcontrol.py): classification, seats, fair queues."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.api.errors import TooManyRequests
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes
from orchestrator.apiserver.flowcontrol import FlowController

NODE = User("system:node:node-1", groups=("system:nodes", "system:authenticated"))
CM = User("system:kube-controller-manager", groups=("system:authenticated",))
ADMIN = User("admin", groups=("system:masters", "system:authenticated"))
ALICE = User("alice")
BOB = User("bob")
SA = User("system:serviceaccount:ns:default")  # the authenticators add no groups: they are implied


def lease(user: User) -> Attributes:
    return Attributes(user=user, verb="patch", resource="leases", api_group="coordination.k8s.io",
                      namespace="kube-node-lease", name="node-1")


def pods(user: User, verb: str = "create") -> Attributes:
    return Attributes(user=user, verb=verb, resource="pods", namespace="default")


@pytest.mark.parametrize(("attrs", "schema", "level"), [
    (lease(NODE), "system-node-high", "node-high"),
    (Attributes(user=NODE, verb="patch", resource="nodes", subresource="status", name="node-1"),
     "system-node-high", "node-high"),
    (Attributes(user=NODE, verb="patch", resource="pods", subresource="status", namespace="d", name="p"),
     "system-nodes", "system"),
    (Attributes(user=CM, verb="update", resource="leases", api_group="coordination.k8s.io",
                namespace="kube-system", name="kube-controller-manager"), "system-leader-election", "leader-election"),
    # A simulated fleet renews its nodes' Leases with the controller manager's identity.
    (lease(CM), "node-fleets", "node-high"),
    (Attributes(user=CM, verb="patch", resource="leases", api_group="coordination.k8s.io",
                namespace="kube-system", name="x"), "kube-controller-manager", "workload-high"),
    (pods(CM), "kube-controller-manager", "workload-high"),
    (pods(ADMIN), "exempt", "exempt"),
    (Attributes.non_resource(ALICE, "get", "/readyz"), "probes", "exempt"),
    (pods(SA), "service-accounts", "workload-low"),
    (pods(ALICE), "global-default", "global-default"),
    (pods(User("system:anonymous", groups=("system:unauthenticated",))), "catch-all", "catch-all"),
])
def test_requests_are_classified_as_kubernetes_suggested_configuration_does(attrs: Attributes, schema: str,
                                                                              level: str) -> None:
    matched = FlowController().classify(attrs)
    assert (matched.name, matched.level) == (schema, level)


def test_the_seats_are_split_by_concurrency_shares() -> None:
    seats = {name: lv.seats for name, lv in FlowController(max_requests_inflight=245).levels.items()}
    assert seats == {"exempt": 0, "system": 30, "node-high": 40, "leader-election": 10, "workload-high": 40,
                     "workload-low": 100, "global-default": 20, "catch-all": 5}
    # Rounded up, and never none: a level always serves something.
    assert all(lv.seats >= 1 for lv in FlowController(max_requests_inflight=1).levels.values() if not lv.config.exempt)


async def test_a_full_level_queues_while_another_level_is_served_at_once() -> None:
    fc = FlowController(max_requests_inflight=245)  # system: 30 seats
    held = [await fc.admit(Attributes(user=NODE, verb="patch", resource="pods", subresource="status"))
            for _ in range(30)]
    waiting = asyncio.ensure_future(fc.admit(Attributes(user=NODE, verb="patch", resource="pods", subresource="status")))
    await asyncio.sleep(0)
    assert not waiting.done() and fc.levels["system"].queued == 1
    # The same node's Lease renewal is another level: it does not wait.
    renewal = await asyncio.wait_for(fc.admit(lease(NODE)), 0.1)
    fc.release(renewal)
    fc.release(held.pop())
    ticket = await asyncio.wait_for(waiting, 1)
    assert fc.levels["system"].executing == 30 and fc.levels["system"].queued == 0
    for t in [*held, ticket]:
        fc.release(t)
    assert fc.levels["system"].executing == 0


async def test_freed_seats_go_round_robin_across_flows_not_first_come() -> None:
    fc = FlowController(max_requests_inflight=1, queue_timeout=5)  # one seat per level
    first = await fc.admit(pods(ALICE))
    order: list[str] = []

    async def request(user: User) -> None:
        ticket = await fc.admit(pods(user))
        order.append(user.name)
        await asyncio.sleep(0)
        fc.release(ticket)

    # Alice queues five requests before Bob queues one: Bob is served second, not sixth.
    tasks = [asyncio.ensure_future(request(ALICE)) for _ in range(5)] + [asyncio.ensure_future(request(BOB))]
    await asyncio.sleep(0)
    fc.release(first)
    await asyncio.gather(*tasks)
    assert order[:2] == ["alice", "bob"], order


async def test_a_full_queue_and_a_long_wait_are_429_with_retry_after() -> None:
    fc = FlowController(max_requests_inflight=1, queue_length=2, queue_timeout=0.05)
    held = await fc.admit(pods(ALICE))
    queued = [asyncio.ensure_future(fc.admit(pods(ALICE))) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(TooManyRequests) as full:
        await fc.admit(pods(ALICE))
    assert "queue-full" in full.value.message and full.value.retry_after_seconds == 1
    for waiter in queued:
        with pytest.raises(TooManyRequests, match="time-out"):
            await waiter
    level = fc.levels["global-default"]
    assert (level.queued, level.flows, level.rejected, level.timed_out) == (0, {}, 3, 2)
    fc.release(held)
    assert level.executing == 0


async def test_a_client_that_goes_away_while_queued_leaves_no_seat_taken() -> None:
    fc = FlowController(max_requests_inflight=1, queue_timeout=5)
    held = await fc.admit(pods(ALICE))
    waiter = asyncio.ensure_future(fc.admit(pods(BOB)))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    fc.release(held)
    level = fc.levels["global-default"]
    assert (level.executing, level.queued) == (0, 0)
    # Dispatched and cancelled in the same instant: the seat is handed on, not lost.
    held = await fc.admit(pods(ALICE))
    waiter = asyncio.ensure_future(fc.admit(pods(BOB)))
    await asyncio.sleep(0)
    fc.release(held)  # Bob's future now has its seat...
    waiter.cancel()  # ...and his client goes away before he runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (level.executing, level.queued) == (0, 0)


async def test_exempt_requests_never_wait_and_the_dump_lists_every_level() -> None:
    fc = FlowController(max_requests_inflight=1)
    tickets = [await asyncio.wait_for(fc.admit(pods(ADMIN)), 0.1) for _ in range(50)]
    for t in tickets:
        fc.release(t)
    dump = fc.dump_priority_levels().splitlines()
    assert dump[0].split(",")[0] == "PriorityLevelName"
    assert [line.split(",")[0].strip() for line in dump[1:]] == list(fc.levels)
    assert "50" in dump[1]  # exempt dispatched 50


def test_the_configuration_is_written_as_objects_kubectl_and_the_clients_can_read() -> None:
    from datetime import UTC, datetime

    from orchestrator.api.resources import by_kind
    from orchestrator.apiserver.registry import strategy_for
    from orchestrator.apiserver.validation import decode

    objects = FlowController().objects()
    kinds = [o["kind"] for o in objects]
    # Levels first: a schema written before its level would show MISSINGPL True for a moment.
    assert kinds == ["PriorityLevelConfiguration"] * 8 + ["FlowSchema"] * 11
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = {}
    for obj in objects:
        info = by_kind(obj["apiVersion"], obj["kind"])
        assert info is not None
        decoded, warnings = decode(info, obj, field_validation="Strict")  # every field is one the model knows
        assert warnings == [] and strategy_for(info).validate(decoded) == []
        # Stored as written: a restart compares the stored spec with this one and must find no change.
        assert decoded["spec"] == obj["spec"]
        rows[obj["metadata"]["name"]] = strategy_for(info).row(decoded, now)[0]
    assert rows["node-fleets"][:4] == ["node-fleets", "node-high", 450, "ByUser"] and rows["node-fleets"][-1] == "False"
    assert rows["workload-low"][1:5] == ["Limited", 100, "<none>", "<none>"]
    election = next(o for o in objects if o["metadata"]["name"] == "system-leader-election")
    assert election["spec"]["rules"] == [{
        "subjects": [{"kind": "User", "user": {"name": "system:kube-controller-manager"}},
                     {"kind": "User", "user": {"name": "system:kube-scheduler"}}],
        "resourceRules": [{"verbs": ["get", "create", "update"], "apiGroups": ["coordination.k8s.io"],
                           "resources": ["leases"], "namespaces": ["*"]}]}]


def test_the_headers_name_the_stored_objects_once_their_uids_are_known() -> None:
    fc = FlowController()
    fc.use_stored_uids([{"kind": "FlowSchema", "metadata": {"name": "exempt", "uid": "u-1"}},
                        {"kind": "PriorityLevelConfiguration", "metadata": {"name": "exempt", "uid": "u-2"}}])
    assert (fc.schema_uids["exempt"], fc.level_uids["exempt"]) == ("u-1", "u-2")
    assert fc.schema_uids["global-default"] != "u-1"  # the others keep their name-based uids until read
