"""Rollout arithmetic with worked numbers (the examples in deploymentutil's docstrings)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from orchestrator.controllers import deploymentutil as du


def deployment(replicas: int, surge: Any = "25%", unavailable: Any = "25%", **spec: Any) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": "web", "generation": 1, "annotations": {}},
            "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": surge, "maxUnavailable": unavailable}}, "progressDeadlineSeconds": 600, **spec},
            "status": {}}


def rs(name: str, replicas: int, *, available: int = 0, created: str = "2024-01-01T00:00:00Z",
       annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "ReplicaSet", "metadata": {"name": name, "uid": name, "creationTimestamp": created,
                                               "annotations": dict(annotations or {})},
            "spec": {"replicas": replicas}, "status": {"replicas": replicas, "availableReplicas": available,
                                                      "readyReplicas": available}}


@pytest.mark.parametrize(("value", "total", "up", "want"), [
    ("25%", 10, True, 3), ("25%", 10, False, 2), (3, 10, True, 3), ("0%", 10, True, 0), ("100%", 7, False, 7),
    ("10%", 1, True, 1), ("10%", 1, False, 0),
])
def test_int_or_percent_rounds_surge_up_and_unavailable_down(value: Any, total: int, up: bool, want: int) -> None:
    assert du.scaled_value(value, total, round_up=up) == want


def test_defaults_for_ten_replicas_give_surge_three_and_unavailable_two() -> None:
    d = deployment(10)
    assert (du.max_surge(d), du.max_unavailable(d)) == (3, 2)


def test_zero_surge_and_zero_unavailable_allow_one_unavailable() -> None:
    assert du.resolve_fenceposts(0, 0, 5) == (0, 1)
    assert du.resolve_fenceposts("10%", "10%", 1) == (1, 0)  # surge rounds up to 1, so no deadlock


def test_first_step_of_a_rolling_update_surges_by_three() -> None:
    d = deployment(10)
    old, new = rs("old", 10, available=10), rs("new", 0)
    assert du.new_rs_new_replicas(d, [old, new], new) == 3
    # At 13 pods in total nothing more may be created until old pods go.
    assert du.new_rs_new_replicas(d, [rs("old", 10, available=10), rs("new", 3)], rs("new", 3)) == 3
    # After old shrank to 8: 8 + 3 = 11, room for 2 more.
    assert du.new_rs_new_replicas(d, [rs("old", 8), rs("new", 3)], rs("new", 3)) == 5


def test_recreate_scales_new_replicaset_to_full_size_at_once() -> None:
    d = deployment(4)
    d["spec"]["strategy"] = {"type": "Recreate"}
    assert du.new_rs_new_replicas(d, [rs("new", 0)], rs("new", 0)) == 4
    assert du.max_surge(d) == 0 and du.max_unavailable(d) == 0


def test_proportional_scaling_mid_rollout_splits_new_replicas_by_size() -> None:
    d = deployment(15)  # was 10: surge 3 -> 4, max-replicas annotation 13
    old = rs("old", 8, annotations={du.MAX_REPLICAS: "13"})
    new = rs("new", 5, annotations={du.MAX_REPLICAS: "13"})
    to_add = 15 + 4 - 13
    assert du.get_proportion(old, d, to_add, 0) == 4
    assert du.get_proportion(new, d, to_add, 4) == 2


def test_hash_is_stable_and_changes_with_template_and_collision_count() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "a"}]}}
    h = du.compute_hash(template)
    assert h == du.compute_hash({"spec": template["spec"], "metadata": template["metadata"]})
    assert h != du.compute_hash(template, 1)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_templates_equal_ignoring_the_hash_label() -> None:
    a = {"metadata": {"labels": {"app": "web", du.TEMPLATE_HASH_LABEL: "abc"}}, "spec": {"x": 1}}
    b = {"metadata": {"labels": {"app": "web"}}, "spec": {"x": 1}}
    assert du.equal_ignore_hash(a, b)
    assert not du.equal_ignore_hash(a, {**b, "spec": {"x": 2}})


def test_rollback_gives_the_old_replicaset_the_next_revision_and_records_history() -> None:
    d = deployment(3)
    old = rs("v1", 0, annotations={du.REVISION: "1"})
    assert du.set_new_replica_set_annotations(d, old, 3, exists=True)
    assert old["metadata"]["annotations"][du.REVISION] == "3"
    assert old["metadata"]["annotations"][du.REVISION_HISTORY] == "1"
    assert not du.set_new_replica_set_annotations(d, old, 3, exists=True)  # idempotent


def test_a_new_replicaset_gets_desired_and_max_replicas_annotations() -> None:
    d = deployment(10)
    d["metadata"]["annotations"] = {"team": "a", "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    new = rs("new", 0)
    du.set_new_replica_set_annotations(d, new, 1, exists=False)
    ann = new["metadata"]["annotations"]
    assert ann == {"team": "a", du.REVISION: "1", du.DESIRED_REPLICAS: "10", du.MAX_REPLICAS: "13"}


def test_status_availability_and_completion() -> None:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    d = deployment(4)
    new, old = rs("new", 4, available=3), rs("old", 0)
    status = du.calculate_status([old, new], new, d, now)
    assert status["availableReplicas"] == 3 and status["unavailableReplicas"] == 1
    available = du.get_condition(status, du.AVAILABLE)
    assert available is not None and available["status"] == "True"  # 3 >= 4 - 1
    assert not du.deployment_complete(d, status)
    new["status"]["availableReplicas"] = 4
    assert du.deployment_complete(d, du.calculate_status([old, new], new, d, now))


def test_progress_deadline_is_exceeded_only_after_the_deadline() -> None:
    now = dt.datetime(2024, 1, 1, 0, 10, 1, tzinfo=dt.UTC)
    d = deployment(2)
    status = {"conditions": [du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED, "x",
                                              dt.datetime(2024, 1, 1, tzinfo=dt.UTC))]}
    assert du.deployment_timed_out(d, status, now)
    assert not du.deployment_timed_out(d, status, now - dt.timedelta(seconds=2))


def test_find_active_or_latest() -> None:
    new, old = rs("new", 0, created="2024-01-02T00:00:00Z"), rs("old", 3)
    assert du.find_active_or_latest(new, [old]) is old
    assert du.find_active_or_latest(rs("new", 1), [rs("old", 1)]) is None
    assert du.find_active_or_latest(None, [rs("a", 0, created="2024-01-01T00:00:00Z"),
                                           rs("b", 0, created="2024-01-03T00:00:00Z")])["metadata"]["name"] == "b"
