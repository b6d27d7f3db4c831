"""ReplicaSet pieces without a server: which pods go first, slow-start batches, adopt and release."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.errors import Conflict, Invalid
from orchestrator.api.selectors import LabelSelector
from orchestrator.controllers.ownerrefs import claim, claimable
from orchestrator.controllers.replicaset import pod_from_template, pods_to_delete, slow_start_batch


def pod(name: str, *, node: str | None = "n1", phase: str = "Running", ready: bool = True,
        ready_since: str = "2024-01-01T00:00:00Z", created: str = "2024-01-01T00:00:00Z",
        restarts: int = 0, labels: dict[str, str] | None = None, owner: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "1",
                            "creationTimestamp": created, "labels": labels if labels is not None else {"app": "web"}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": owner,
                                    "controller": True}]
    return {"metadata": meta, "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                       "lastTransitionTime": ready_since}],
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


def names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_unscheduled_then_pending_then_not_ready_go_first() -> None:
    pods = [pod("ready"), pod("not-ready", ready=False), pod("pending", phase="Pending", ready=False),
            pod("unscheduled", node=None, phase="Pending", ready=False)]
    assert names(pods_to_delete(pods, pods, 3)) == ["unscheduled", "pending", "not-ready"]


def test_doubled_up_pods_go_before_pods_alone_on_their_node() -> None:
    pods = [pod("alone", node="n2", created="2024-01-01T00:00:09Z"), pod("a", node="n1"), pod("b", node="n1")]
    assert names(pods_to_delete(pods, pods, 1))[0] in ("a", "b")


def test_ready_for_less_time_then_more_restarts_then_newest_go_first() -> None:
    pods = [pod("old-ready", node="n1", ready_since="2024-01-01T00:00:00Z"),
            pod("new-ready", node="n2", ready_since="2024-01-01T00:05:00Z")]
    assert names(pods_to_delete(pods, pods, 1)) == ["new-ready"]
    pods = [pod("calm", node="n1"), pod("crashy", node="n2", restarts=4)]
    assert names(pods_to_delete(pods, pods, 1)) == ["crashy"]
    pods = [pod("older", node="n1", created="2024-01-01T00:00:00Z"),
            pod("newer", node="n2", created="2024-01-02T00:00:00Z")]
    assert names(pods_to_delete(pods, pods, 1)) == ["newer"]


def test_pod_deletion_cost_protects_expensive_pods() -> None:
    cheap, dear = pod("cheap", node="n1"), pod("dear", node="n2", created="2024-01-02T00:00:00Z")
    dear["metadata"]["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": "100"}
    assert names(pods_to_delete([cheap, dear], [cheap, dear], 1)) == ["cheap"]


async def test_slow_start_batches_double_and_stop_at_the_first_failing_batch() -> None:
    calls: list[int] = []

    async def ok() -> None:
        calls.append(1)

    assert await slow_start_batch(10, ok) == (10, None)
    assert len(calls) == 10
    attempts = 0

    async def fail_from_fourth() -> None:
        nonlocal attempts
        attempts += 1
        if attempts >= 4:
            raise Invalid("bad template")

    successes, error = await slow_start_batch(10, fail_from_fourth)
    assert successes == 3 and isinstance(error, Invalid)
    assert attempts == 7  # batches 1 + 2 + 4; the batch of 3 was never sent


def test_pod_from_template_uses_generate_name_and_a_controller_reference() -> None:
    rs = {"metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
          "spec": {"template": {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                                "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    p = pod_from_template(rs)
    assert p["metadata"]["generateName"] == "web-" and "name" not in p["metadata"]
    assert p["metadata"]["labels"] == {"app": "web"} and p["metadata"]["annotations"] == {"a": "b"}
    assert p["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                                 "uid": "u1", "controller": True, "blockOwnerDeletion": True}]


class FakeClient:
    """Records patches and answers with the patched object (what the API server would return)."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, dict[str, Any]]] = []

    async def patch(self, resource: str, name: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.patches.append((name, body))
        return {"metadata": {"name": name, **body["metadata"]}}


OWNER = {"metadata": {"name": "web", "namespace": "ns", "uid": "rs-uid"}}


async def test_claim_adopts_matching_orphans_releases_strays_and_ignores_others() -> None:
    client = FakeClient()
    checked: list[bool] = []

    async def can_adopt() -> None:
        checked.append(True)

    pods = [pod("mine", owner="rs-uid"), pod("orphan"), pod("stray", owner="rs-uid", labels={"app": "debug"}),
            pod("theirs", owner="other-uid"), pod("unrelated", labels={"app": "db"})]
    claimed = await claim(client=client, resource="pods", owner=OWNER, owner_api_version="apps/v1",  # type: ignore[arg-type]
                          owner_kind="ReplicaSet", selector=LabelSelector.parse("app=web"), candidates=pods,
                          can_adopt=can_adopt)
    assert names(claimed) == ["mine", "orphan"]
    patched = dict(client.patches)
    assert set(patched) == {"orphan", "stray"}
    assert patched["orphan"]["metadata"]["ownerReferences"][0]["uid"] == "rs-uid"
    assert patched["orphan"]["metadata"]["uid"] == "uid-orphan"  # a precondition: same object
    assert patched["stray"]["metadata"]["ownerReferences"] is None
    assert checked == [True]


def test_claimable_keeps_exactly_what_claim_would_keep_release_or_adopt() -> None:
    pods = [pod("mine", owner="rs-uid"), pod("orphan"), pod("stray", owner="rs-uid", labels={"app": "debug"}),
            pod("theirs", owner="other-uid"), pod("unrelated", labels={"app": "db"})]
    kept = [p for p in pods if claimable(p, "rs-uid", LabelSelector.parse("app=web"))]
    assert names(kept) == ["mine", "orphan", "stray"]


async def test_claim_refuses_to_adopt_when_the_owner_check_fails() -> None:
    async def gone() -> None:
        raise Conflict("replaced")

    with pytest.raises(Conflict):
        await claim(client=FakeClient(), resource="pods", owner=OWNER, owner_api_version="apps/v1",  # type: ignore[arg-type]
                    owner_kind="ReplicaSet", selector=LabelSelector.parse("app=web"), candidates=[pod("orphan")],
                    can_adopt=gone)


async def test_an_owner_being_deleted_neither_adopts_nor_releases() -> None:
    client = FakeClient()
    dying = {"metadata": {**OWNER["metadata"], "deletionTimestamp": "2024-01-01T00:00:00Z"}}

    async def can_adopt() -> None:
        raise AssertionError("must not be asked")

    claimed = await claim(client=client, resource="pods", owner=dying, owner_api_version="apps/v1",  # type: ignore[arg-type]
                          owner_kind="ReplicaSet", selector=LabelSelector.parse("app=web"),
                          candidates=[pod("orphan"), pod("stray", owner="rs-uid", labels={"x": "y"})],
                          can_adopt=can_adopt)
    assert claimed == [] and client.patches == []
