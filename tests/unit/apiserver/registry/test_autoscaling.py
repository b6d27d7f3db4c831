"""The HorizontalPodAutoscaler strategy: defaults, each validation rule naming its field, and the
TARGETS column kubectl prints."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.apiserver.registry import STRATEGIES
from orchestrator.apiserver.registry.strategy import Strategy

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
STRATEGY = STRATEGIES["horizontalpodautoscalers.autoscaling"]


def hpa(**spec: Any) -> dict[str, Any]:
    base = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}
    base.update(spec)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-12-06T11:59:00Z"},
            "spec": base}


def prepared(obj: dict[str, Any]) -> dict[str, Any]:
    decoded, warnings = STRATEGY.decode(obj, field_validation="Strict")
    assert warnings == []
    STRATEGY.prepare_for_create(decoded, now=NOW)
    return decoded


def causes(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in STRATEGY.validate(prepared(obj))]


def test_it_is_a_strategy_with_the_hpa_short_name_and_a_status_subresource() -> None:
    assert isinstance(STRATEGY, Strategy)
    assert STRATEGY.info.short_names == ("hpa",) and STRATEGY.info.subresources == ("status",)
    assert STRATEGY.info.api_version == "autoscaling/v2"


def test_defaults_min_one_and_eighty_percent_cpu_and_an_empty_status() -> None:
    obj = prepared(hpa())
    assert obj["spec"]["minReplicas"] == 1
    assert obj["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert "behavior" not in obj["spec"]
    assert obj["status"] == {"currentReplicas": 0, "desiredReplicas": 0}
    assert STRATEGY.validate(obj) == []


def test_a_given_behavior_is_completed_with_the_defaults() -> None:
    obj = prepared(hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 30}}))
    assert obj["spec"]["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                 {"type": "Percent", "value": 100, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": 30, "selectPolicy": "Max",
                      "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}


@pytest.mark.parametrize(("spec", "field", "message"), [
    ({"minReplicas": 0}, "spec.minReplicas", "Invalid value: 0: must be greater than or equal to 1"),
    ({"minReplicas": 3, "maxReplicas": 2}, "spec.maxReplicas",
     "Invalid value: 2: must be greater than or equal to `minReplicas`"),
    ({"maxReplicas": 0}, "spec.maxReplicas", "Invalid value: 0: must be greater than 0"),
    ({"scaleTargetRef": {"kind": "Deployment"}}, "spec.scaleTargetRef.name", "Required value"),
    ({"metrics": [{"type": "Bogus"}]}, "spec.metrics[0].type",
     'Unsupported value: "Bogus": supported values: "ContainerResource", "External", "Object", "Pods", '
     '"Resource"'),
    ({"metrics": [{"type": "Resource"}]}, "spec.metrics[0].resource",
     "Required value: must populate information for the given metric source"),
    ({"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}}]},
     "spec.metrics[0].resource.target.averageUtilization",
     "Required value: must set either a target raw value or a target utilization"),
    ({"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 0}}}]},
     "spec.metrics[0].resource.target.averageUtilization", "Invalid value: 0: must be greater than 0"),
    ({"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Percentage", "averageUtilization": 50}}}]},
     "spec.metrics[0].resource.target.type",
     'Invalid value: "Percentage": must be either Utilization, Value, or AverageValue'),
    ({"metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {
        "type": "AverageValue", "averageValue": "-1Mi"}}}]},
     "spec.metrics[0].resource.target.averageValue", 'Invalid value: "-1Mi": must be positive'),
    ({"metrics": [{"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "Value",
                                                                                 "value": "1"}}}]},
     "spec.metrics[0].pods.target.averageValue", "Required value: must specify a positive target averageValue"),
    ({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 3601}}},
     "spec.behavior.scaleDown.stabilizationWindowSeconds",
     "Invalid value: 3601: must be greater than or equal to zero and less than or equal to 3600"),
    ({"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}}},
     "spec.behavior.scaleUp.policies[0].value", "Invalid value: 0: must be greater than zero"),
    ({"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]}}},
     "spec.behavior.scaleUp.policies[0].periodSeconds", "Invalid value: 1801: must be less than or equal to 1800"),
    ({"behavior": {"scaleUp": {"selectPolicy": "Most"}}}, "spec.behavior.scaleUp.selectPolicy",
     'Unsupported value: "Most": supported values: "Max", "Min", "Disabled"'),
])
def test_bad_specs_name_the_field(spec: dict[str, Any], field: str, message: str) -> None:
    assert (field, message) in causes(hpa(**spec))


def test_an_update_keeps_the_stored_status_and_counts_a_generation() -> None:
    old = prepared(hpa())
    old["status"] = {"currentReplicas": 3, "desiredReplicas": 3}
    new = copy.deepcopy(old)
    new["spec"]["maxReplicas"] = 9
    new["status"] = {"currentReplicas": 99, "desiredReplicas": 99}
    STRATEGY.prepare_for_update(new, old, now=NOW)
    assert new["status"] == {"currentReplicas": 3, "desiredReplicas": 3}
    assert STRATEGY.spec_changed(new, old) is True


def test_the_table_is_what_kubectl_get_hpa_prints() -> None:
    obj = prepared(hpa(minReplicas=1, metrics=[
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                       "averageValue": "64Mi"}}},
        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue",
                                                                        "averageValue": "10"}}}]))
    assert [c["name"] for c in STRATEGY.columns()] == ["Name", "Reference", "Targets", "MinPods", "MaxPods",
                                                       "Replicas", "Age"]
    cells, _ = STRATEGY.row(obj, NOW)
    assert cells == ["web", "Deployment/web", "cpu: <unknown>/50%, memory: <unknown>/64Mi + 1 more...", "1", 5, 0,
                     "60s"]
    obj["status"] = {"currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 42,
                                                                     "averageValue": "84m"}}},
        {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "32Mi"}}}]}
    cells, _ = STRATEGY.row(obj, NOW)
    assert cells[2] == "cpu: 42%/50%, memory: 32Mi/64Mi + 1 more..."
    assert cells[5] == 2


def test_v1_and_v2_convert_both_ways_without_loss() -> None:
    from orchestrator.apiserver.registry.autoscaling import from_v1, to_v1

    v2 = prepared(hpa(metrics=[
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                       "averageValue": "64Mi"}}}],
        behavior={"scaleDown": {"stabilizationWindowSeconds": 30}}))
    v2["status"] = {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 75}}}],
        "conditions": [{"type": "AbleToScale", "status": "True", "reason": "SucceededRescale", "message": "m"}]}
    v1 = to_v1(v2)
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {"scaleTargetRef": v2["spec"]["scaleTargetRef"], "minReplicas": 1, "maxReplicas": 5,
                          "targetCPUUtilizationPercentage": 50}
    assert v1["status"] == {"currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 75}
    assert "autoscaling.alpha.kubernetes.io/metrics" in v1["metadata"]["annotations"]
    back = from_v1(v1)
    assert back == v2


def test_a_plain_v1_hpa_becomes_a_cpu_utilization_metric() -> None:
    from orchestrator.apiserver.registry.autoscaling import from_v1

    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
          "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                   "maxReplicas": 5, "targetCPUUtilizationPercentage": 50}}
    assert from_v1(v1)["spec"] == {"scaleTargetRef": v1["spec"]["scaleTargetRef"], "maxReplicas": 5, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}
