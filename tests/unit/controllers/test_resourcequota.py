"""The resourcequota controller never writes away a charge admission made for a pod still on its way.

Admission charges a quota before the pod is stored; the controller counts from its pod cache.
A count lower than the quota's ``status.used`` is written only when a second count, a moment
later and of the same quota version, agrees. Informer caches filled by the test, a fake client
that records status writes, a fake clock.
"""

from __future__ import annotations

import copy
from typing import Any

from orchestrator.client.clock import FakeClock
from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import SharedInformerFactory
from orchestrator.controllers.controller import ControllerContext
from orchestrator.controllers.resourcequota import CONFIRM_LOWER_SECONDS, ResourceQuotaController

KEY = "team/one"


class FakeClient:
    def __init__(self) -> None:
        self.status_writes: list[dict[str, Any]] = []

    async def update_status(self, resource: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.status_writes.append(copy.deepcopy(body))
        return copy.deepcopy(body)


def quota(version: int, used: dict[str, str] | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ResourceQuota",
                           "metadata": {"name": "one", "namespace": "team", "resourceVersion": str(version)},
                           "spec": {"hard": {"pods": "1"}}}
    if used is not None:
        obj["status"] = {"hard": {"pods": "1"}, "used": used}
    return obj


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "team", "resourceVersion": "9"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}, "status": {"phase": "Pending"}}


def controller() -> tuple[ResourceQuotaController, FakeClient, FakeClock]:
    clock, client = FakeClock(), FakeClient()
    recorder = EventRecorder(client, component="resourcequota-controller", clock=clock)  # type: ignore[arg-type]
    ctx = ControllerContext(client=client, factory=SharedInformerFactory(client),  # type: ignore[arg-type]
                            recorder=recorder, clock=clock)
    return ResourceQuotaController(ctx), client, clock


async def test_a_new_quota_gets_its_first_count_at_once() -> None:
    rq, client, _ = controller()
    rq.quotas._apply("ADDED", quota(5, None))
    rq.pods._apply("ADDED", pod("old"))
    await rq.sync(KEY)
    assert [w["status"]["used"] for w in client.status_writes] == [{"pods": "1"}]


async def test_a_charge_for_a_pod_not_yet_in_the_cache_is_kept_and_the_pod_then_counted() -> None:
    rq, client, _ = controller()
    rq.quotas._apply("ADDED", quota(6, {"pods": "1"}))  # admission charged "first"; it is not stored yet
    await rq.sync(KEY)
    assert client.status_writes == [], "a lower count is not written on first sight"
    rq.pods._apply("ADDED", pod("first"))  # the create lands
    await rq.sync(KEY)
    assert client.status_writes == [], "the second count agrees with the charge: nothing to write"


async def test_a_charge_whose_create_failed_is_given_back_on_the_second_count() -> None:
    rq, client, clock = controller()
    rq.quotas._apply("ADDED", quota(6, {"pods": "1"}))
    await rq.sync(KEY)
    assert client.status_writes == []
    clock.advance(CONFIRM_LOWER_SECONDS)
    await rq.sync(KEY)  # same quota version, still no pod: the create that was charged failed
    assert [w["status"]["used"] for w in client.status_writes] == [{"pods": "0"}]


async def test_a_sync_sooner_than_a_second_later_is_not_the_second_count() -> None:
    rq, client, clock = controller()
    rq.quotas._apply("ADDED", quota(6, {"pods": "1"}))
    await rq.sync(KEY)
    clock.advance(CONFIRM_LOWER_SECONDS / 10)
    rq.pods._apply("ADDED", pod("other"))
    rq.pods._apply("DELETED", pod("other"))  # a delete in the namespace: a sync at once, same version
    await rq.sync(KEY)
    assert client.status_writes == [], "the charged pod may still be on its way: not given back yet"
    clock.advance(CONFIRM_LOWER_SECONDS)
    await rq.sync(KEY)
    assert [w["status"]["used"] for w in client.status_writes] == [{"pods": "0"}]


async def test_a_new_charge_between_the_two_counts_starts_over() -> None:
    rq, client, clock = controller()
    rq.quotas._apply("ADDED", quota(6, {"pods": "1"}))
    await rq.sync(KEY)
    rq.quotas._apply("MODIFIED", quota(7, {"pods": "2"}))  # another create charged meanwhile
    await rq.sync(KEY)
    assert client.status_writes == []
    clock.advance(CONFIRM_LOWER_SECONDS)
    await rq.sync(KEY)
    assert [w["status"]["used"] for w in client.status_writes] == [{"pods": "0"}]
