"""PodMetrics → the per-pod usage the HPA computes with."""

from __future__ import annotations

import pytest

from orchestrator.client.metrics import PodMetric, parse_go_duration, pod_metric

ITEM = {"metadata": {"name": "web"}, "timestamp": "2026-12-06T17:00:00Z", "window": "15.2s",
        "containers": [{"name": "app", "usage": {"cpu": "250000000n", "memory": "64Mi"}},
                       {"name": "side", "usage": {"cpu": "5m", "memory": "1Ki"}}]}


def test_a_pod_s_usage_is_the_sum_of_its_containers_in_milli_units() -> None:
    assert pod_metric(ITEM, "cpu") == PodMetric("2026-12-06T17:00:00Z", 15.2, 255)
    assert pod_metric(ITEM, "memory", container="side") == PodMetric("2026-12-06T17:00:00Z", 15.2, 1024 * 1000)
    assert pod_metric(ITEM, "cpu", container="nope") is None
    partial = {**ITEM, "containers": [{"name": "app", "usage": {"memory": "1Mi"}}]}
    assert pod_metric(partial, "cpu") is None


@pytest.mark.parametrize(("text", "seconds"), [("15s", 15.0), ("1m0s", 60.0), ("1.5s", 1.5), ("500ms", 0.5),
                                               ("1h2m3s", 3723.0)])
def test_go_durations_parse(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


def test_a_bad_duration_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_go_duration("15 seconds")
