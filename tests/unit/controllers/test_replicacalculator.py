"""The HPA's replica arithmetic (controllers/replicacalculator.py), case by case as upstream's
replica_calculator_test.go exercises it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from orchestrator.controllers.replicacalculator import (
    MetricsError,
    PodMetric,
    milli_value,
    plain_metric_replicas,
    pod_requests,
    resource_replicas,
)

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
LONG_AGO = NOW - dt.timedelta(hours=1)


def pod(name: str, *, cpu: str | None = "200m", phase: str = "Running", ready: bool = True,
        started: dt.datetime = LONG_AGO, ready_since: dt.datetime | None = None, deleting: bool = False,
        ) -> dict[str, Any]:
    requests = {} if cpu is None else {"cpu": cpu}
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if deleting:
        meta["deletionTimestamp"] = NOW.isoformat()
    since = ready_since or started
    return {"metadata": meta,
            "spec": {"containers": [{"name": "app", "resources": {"requests": requests}}]},
            "status": {"phase": phase, "startTime": started.isoformat(),
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": since.isoformat()}]}}


def usage(**values: int) -> dict[str, PodMetric]:
    return {name: PodMetric(value, NOW - dt.timedelta(seconds=10)) for name, value in values.items()}


def calc(pods: list[dict[str, Any]], metrics: dict[str, PodMetric], *, current: int, target: int = 50) -> Any:
    return resource_replicas(current_replicas=current, target_utilization=target, resource="cpu", pods=pods,
                             metrics=metrics, now=NOW)


def test_the_docstring_example_three_busy_pods_ask_for_nine() -> None:
    result = calc([pod("a"), pod("b"), pod("c")], usage(a=300, b=300, c=240), current=3)
    assert (result.replicas, result.utilization, result.raw_average) == (9, 140, 280)


def test_within_the_tolerance_the_count_stays() -> None:
    # 108 / 100 utilization: 1.08 is within 10% of the target
    result = calc([pod("a"), pod("b")], usage(a=108, b=108), current=2)
    assert (result.replicas, result.utilization) == (2, 54)


def test_just_past_the_tolerance_it_moves() -> None:
    result = calc([pod("a"), pod("b")], usage(a=112, b=112), current=2)
    assert (result.replicas, result.utilization) == (3, 56)


def test_low_usage_scales_down_by_the_ratio() -> None:
    result = calc([pod(n) for n in "abcd"], usage(a=20, b=20, c=20, d=20), current=4)
    assert (result.replicas, result.utilization) == (1, 10)


def test_a_missing_metric_counts_as_using_its_whole_request_on_a_scale_down() -> None:
    # b has no metric: counted as 100% of its 200m, so the ratio is (20 + 200) / 400 / 0.5 = 1.1 -> stay
    result = calc([pod("a"), pod("b")], usage(a=20), current=2)
    assert result.replicas == 2
    assert result.counted == {"a": 20, "b": 200}


def test_a_missing_metric_counts_as_zero_on_a_scale_up() -> None:
    # a: 400m of 200m requested (ratio 4); b missing counts 0: (400 + 0) / 400 / 0.5 = 2 -> ceil(2 * 2) = 4
    result = calc([pod("a"), pod("b")], usage(a=400), current=2)
    assert result.replicas == 4


def test_unready_pods_count_as_zero_when_scaling_up() -> None:
    pods = [pod("a"), pod("b", ready=False, started=NOW - dt.timedelta(seconds=20))]
    result = calc(pods, usage(a=300, b=300), current=2)
    # a alone: ratio 3; with b at 0: 300 / 400 / 0.5 = 1.5 -> ceil(1.5 * 2) = 3
    assert result.replicas == 3


def test_pending_pods_are_unready_and_deleted_or_failed_pods_are_ignored() -> None:
    pods = [pod("a"), pod("p", phase="Pending"), pod("d", deleting=True), pod("f", phase="Failed")]
    result = calc(pods, usage(a=100, d=1000, f=1000), current=2)
    assert result.replicas == 2  # only a counts: 50% exactly at the target


def test_a_sample_taken_before_readiness_settled_is_doubted_during_cpu_initialization() -> None:
    # started 40 s ago, Ready 25 s ago; the sample (10 s ago, 30 s window) overlaps the unready time
    started = NOW - dt.timedelta(seconds=40)
    pods = [pod("a"), pod("new", started=started, ready_since=NOW - dt.timedelta(seconds=25))]
    result = calc(pods, usage(a=300, new=300), current=2)
    assert result.counted == {"a": 300, "new": 0}


def test_no_metrics_at_all_is_an_error_naming_the_resource() -> None:
    with pytest.raises(MetricsError, match="unable to get metrics for resource cpu: no metrics returned"):
        calc([pod("a")], {}, current=1)


def test_all_pods_unready_is_an_error() -> None:
    with pytest.raises(MetricsError, match="pods might be unready"):
        calc([pod("a", phase="Pending")], usage(a=100), current=1)


def test_a_container_without_a_request_is_an_error_naming_it() -> None:
    with pytest.raises(MetricsError, match="missing request for cpu in container app of Pod a"):
        pod_requests([pod("a", cpu=None)], "cpu")


def test_average_value_targets_compare_the_raw_average() -> None:
    result = plain_metric_replicas(current_replicas=2, target_average=100, resource="cpu",
                                   pods=[pod("a"), pod("b")], metrics=usage(a=300, b=300), now=NOW)
    assert (result.replicas, result.utilization, result.raw_average) == (6, None, 300)


@pytest.mark.parametrize(("text", "milli"), [("250m", 250), ("1", 1000), ("1.5", 1500), ("64Mi", 67108864000)])
def test_milli_value_is_quantity_milli_value(text: str, milli: int) -> None:
    assert milli_value(text) == milli
