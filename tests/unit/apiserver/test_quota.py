"""LimitRange validation and defaulting, LimitRanger's messages, and what a pod takes from a quota."""

from __future__ import annotations

from decimal import Decimal

from orchestrator.api.quota import format_usage, missing_requests, pod_usage
from orchestrator.apiserver.limitranger import apply_defaults, violations
from orchestrator.apiserver.registry.quota import default_limit_range, quota_row, validate_limit_range


def _pod(*containers: dict) -> dict:
    return {"metadata": {"name": "x"}, "spec": {"containers": list(containers)}}


def test_min_above_max_and_default_above_max_name_the_field() -> None:
    errs = validate_limit_range({"spec": {"limits": [
        {"type": "Container", "min": {"cpu": "1"}, "max": {"cpu": "500m"}},
        {"type": "Container", "max": {"memory": "1Gi"}, "default": {"memory": "2Gi"}},
        {"type": "Pod", "default": {"cpu": "1"}},
        {"type": "Disk", "max": {"cpu": "lots"}}]}})
    fields = {c.field: c.message for c in errs.causes}
    assert fields["spec.limits[0].min[cpu]"].endswith("min value 1 is greater than max value 500m")
    assert fields["spec.limits[1].default[memory]"].endswith("default value 2Gi is greater than max value 1Gi")
    assert "spec.limits[2].default" in fields and "spec.limits[3].type" in fields
    assert "spec.limits[3].max[cpu]" in fields


def test_a_container_item_defaults_from_max_then_default_then_min() -> None:
    lr = {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}}]}}
    default_limit_range(lr)
    item = lr["spec"]["limits"][0]
    assert item["default"] == {"cpu": "2"} and item["defaultRequest"] == {"cpu": "2", "memory": "1Mi"}


def test_defaults_keep_a_stated_limit_as_the_request_and_max_is_reported_once() -> None:
    items = [{"type": "Container", "defaultRequest": {"cpu": "100m"}, "default": {"cpu": "200m"},
              "max": {"cpu": "500m"}}]
    pod = _pod({"name": "a", "resources": {"limits": {"cpu": "1"}}}, {"name": "b"})
    notes = apply_defaults(pod, items)
    a, b = pod["spec"]["containers"]
    assert a["resources"] == {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}
    assert b["resources"] == {"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}}
    assert notes == ["cpu request for container a", "cpu request for container b", "cpu limit for container b"]
    assert violations(pod, items) == ["maximum cpu usage per Container is 500m, but limit is 1"]


def test_a_pod_item_bounds_the_sum_of_the_containers() -> None:
    pod = _pod({"name": "a", "resources": {"requests": {"memory": "64Mi"}}},
               {"name": "b", "resources": {"requests": {"memory": "64Mi"}}})
    assert violations(pod, [{"type": "Pod", "min": {"memory": "256Mi"}}]) == [
        "minimum memory usage per Pod is 256Mi, but request is 128Mi"]


def test_pod_usage_counts_requests_limits_and_nothing_once_terminal() -> None:
    pod = _pod({"name": "a", "resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "64Mi"}}},
               {"name": "b", "resources": {"requests": {"cpu": "250m"}}})
    usage = pod_usage(pod)
    assert usage["pods"] == 1 and usage["cpu"] == usage["requests.cpu"] == Decimal("0.5")
    assert usage["limits.memory"] == 64 * 2**20
    assert pod_usage({**pod, "status": {"phase": "Succeeded"}}) == {}
    assert missing_requests(pod, {"limits.memory": "1Gi", "pods": "3"}) == "must specify limits.memory for: b"
    assert format_usage(Decimal(256 * 2**20), "1Gi") == "256Mi"


def test_the_quota_row_splits_requests_and_limits_like_kubectl() -> None:
    quota = {"metadata": {"name": "q"}, "status": {"hard": {"pods": "2", "limits.cpu": "4", "requests.cpu": "2"},
                                                   "used": {"pods": "1", "limits.cpu": "500m"}}}
    from datetime import UTC, datetime
    cells, _ = quota_row(quota, datetime.now(UTC))
    assert cells[2:] == ["pods: 1/2, requests.cpu: 0/2", "limits.cpu: 500m/4"]
