"""autoscaling/v2 HorizontalPodAutoscalers: defaults, validation, and the status the controller owns.

- create: SetDefaults_HorizontalPodAutoscaler -- ``minReplicas: 1``; no metrics means 80% average CPU
  utilization; a ``behavior`` that is given has its missing parts filled in (scale up: no
  stabilization, the greater of 4 pods or 100% per 15 s; scale down: 100% per 15 s, and the
  stabilization window left unset so the controller's --horizontal-pod-autoscaler-downscale-stabilization
  (300 s) applies). A new HPA starts with an empty status (``desiredReplicas: 0``).
- validation, each problem naming its field: ``minReplicas >= 1``, ``maxReplicas > 0`` and
  ``>= minReplicas``, a ``scaleTargetRef`` with kind and name, every metric with a known type and
  exactly the matching source, targets of a known type with positive values, behavior windows in
  [0, 3600] s, policies with positive values and periods of at most 1800 s.
- ``/status`` is the controller's (the main resource keeps the stored status); the spec has a
  generation.

Kubernetes equivalent: pkg/registry/autoscaling/horizontalpodautoscaler/strategy.go,
pkg/apis/autoscaling/validation/validation.go, pkg/apis/autoscaling/v2/defaults.go
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import names
from orchestrator.api import printing as tables
from orchestrator.api.errors import Invalid
from orchestrator.api.quantity import parse_quantity
from orchestrator.api.resources import by_group_resource
from orchestrator.api.selectors import LabelSelector
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import FieldErrors, int32, non_negative

__all__ = ["DEFAULT_CPU_UTILIZATION", "HorizontalPodAutoscalerStrategy", "default_behavior_rules"]

DEFAULT_CPU_UTILIZATION = 80  # upstream autoscaling.DefaultCPUUtilization
MAX_STABILIZATION_WINDOW_SECONDS = 3600
MAX_PERIOD_SECONDS = 1800
METRIC_SOURCE_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
_SOURCE_FIELD = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
                 "Object": "object", "External": "external"}
TARGET_TYPES = ("Utilization", "Value", "AverageValue")
SELECT_POLICIES = ("Max", "Min", "Disabled")
POLICY_TYPES = ("Pods", "Percent")

# SetDefaults_HorizontalPodAutoscalerBehavior: the behavior Kubernetes had before `behavior` existed.
_SCALE_UP_DEFAULT: dict[str, Any] = {
    "stabilizationWindowSeconds": 0, "selectPolicy": "Max",
    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                 {"type": "Percent", "value": 100, "periodSeconds": 15}],
}
_SCALE_DOWN_DEFAULT: dict[str, Any] = {  # the window stays unset: the controller's flag decides it
    "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def default_behavior_rules(rules: Mapping[str, Any] | None, *, up: bool) -> dict[str, Any]:
    """GenerateHPAScaleUpRules / GenerateHPAScaleDownRules: the defaults with what `rules` sets on top."""
    result = copy.deepcopy(_SCALE_UP_DEFAULT if up else _SCALE_DOWN_DEFAULT)
    for key in ("selectPolicy", "stabilizationWindowSeconds", "policies"):
        if rules is not None and rules.get(key) is not None:
            result[key] = copy.deepcopy(rules[key])
    return result


def default_hpa_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_HorizontalPodAutoscaler, in place."""
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = default_behavior_rules(behavior.get("scaleUp"), up=True)
        behavior["scaleDown"] = default_behavior_rules(behavior.get("scaleDown"), up=False)


def _positive_quantity(errs: FieldErrors, value: Any, path: str) -> None:
    try:
        positive = parse_quantity(value) > 0
    except (ValueError, ArithmeticError):
        errs.invalid(path, value, "quantities must match the regular expression "
                                  "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        return
    if not positive:
        errs.invalid(path, value, "must be positive")


def _validate_target(errs: FieldErrors, target: Mapping[str, Any], path: str) -> None:
    """validateMetricTarget."""
    kind = target.get("type")
    if not kind:
        errs.required(f"{path}.type", "must specify a metric target type")
    elif kind not in TARGET_TYPES:
        errs.invalid(f"{path}.type", kind, "must be either Utilization, Value, or AverageValue")
    for key in ("value", "averageValue"):
        if target.get(key) is not None:
            _positive_quantity(errs, target[key], f"{path}.{key}")
    utilization = target.get("averageUtilization")
    if isinstance(utilization, int) and utilization < 1:
        errs.invalid(f"{path}.averageUtilization", utilization, "must be greater than 0")


def _validate_metric_identifier(errs: FieldErrors, metric: Mapping[str, Any] | None, path: str) -> None:
    if not (metric or {}).get("name"):
        errs.required(f"{path}.name", "must specify a metric name")
        return
    for problem in names.path_segment_name(metric["name"]):
        errs.invalid(f"{path}.name", metric["name"], problem)
    if metric.get("selector") is not None:
        try:
            LabelSelector.from_structured(metric["selector"], field_path=f"{path}.selector")
        except Invalid as err:
            errs.extend(err.causes)


def _validate_resource_source(errs: FieldErrors, source: Mapping[str, Any], path: str, *,
                              container: bool) -> None:
    """validateResourceSource / validateContainerResourceSource."""
    if not source.get("name"):
        errs.required(f"{path}.name", "must specify a resource name")
    if container:
        if not source.get("container"):
            errs.required(f"{path}.container", "must specify a container")
        else:
            for problem in names.dns1123_label(source["container"]):
                errs.invalid(f"{path}.container", source["container"], problem)
    target = source.get("target") or {}
    _validate_target(errs, target, f"{path}.target")
    if target.get("averageUtilization") is None and target.get("averageValue") is None:
        errs.required(f"{path}.target.averageUtilization", "must set either a target raw value or a target "
                                                           "utilization")
    if target.get("averageUtilization") is not None and target.get("averageValue") is not None:
        errs.forbidden(f"{path}.target.averageValue", "may not set both a target raw value and a target "
                                                      "utilization")


def _validate_metric(errs: FieldErrors, metric: Mapping[str, Any], path: str) -> None:
    """validateMetricSpec: a known type, exactly its source set, and a well-formed source."""
    kind = metric.get("type")
    if not kind:
        errs.required(f"{path}.type", "must specify a metric source type")
    elif kind not in METRIC_SOURCE_TYPES:
        errs.not_supported(f"{path}.type", kind, METRIC_SOURCE_TYPES)
    present = [field for field in _SOURCE_FIELD.values() if metric.get(field) is not None]
    expected = _SOURCE_FIELD.get(str(kind))
    if expected is not None and expected not in present:
        errs.required(f"{path}.{expected}", "must populate information for the given metric source")
    for field in present:
        if field != expected and expected is not None:
            errs.forbidden(f"{path}.{field}", "must populate the given metric source only")
    if expected is None or expected not in present:
        return
    source = metric[expected]
    sub = f"{path}.{expected}"
    if kind in ("Resource", "ContainerResource"):
        _validate_resource_source(errs, source, sub, container=kind == "ContainerResource")
        return
    target = source.get("target") or {}
    _validate_metric_identifier(errs, source.get("metric"), f"{sub}.metric")
    _validate_target(errs, target, f"{sub}.target")
    if kind == "Pods":
        if target.get("averageValue") is None:
            errs.required(f"{sub}.target.averageValue", "must specify a positive target averageValue")
        return
    if kind == "Object":
        ref = source.get("describedObject") or {}
        _validate_reference(errs, ref, f"{sub}.describedObject")
    if target.get("value") is None and target.get("averageValue") is None:
        errs.required(f"{sub}.target.averageValue", "must set either a target value or averageValue")


def _validate_reference(errs: FieldErrors, ref: Mapping[str, Any], path: str) -> None:
    """ValidateCrossVersionObjectReference: kind and name, each a valid path segment."""
    for key in ("kind", "name"):
        value = ref.get(key)
        if not value:
            errs.required(f"{path}.{key}")
        else:
            for problem in names.path_segment_name(value):
                errs.invalid(f"{path}.{key}", value, problem)


def _validate_rules(errs: FieldErrors, rules: Mapping[str, Any], path: str) -> None:
    """validateScalingRules."""
    window = rules.get("stabilizationWindowSeconds")
    if isinstance(window, int) and not 0 <= window <= MAX_STABILIZATION_WINDOW_SECONDS:
        errs.invalid(f"{path}.stabilizationWindowSeconds", window,
                     f"must be greater than or equal to zero and less than or equal to "
                     f"{MAX_STABILIZATION_WINDOW_SECONDS}")
    policy = rules.get("selectPolicy")
    if policy is not None and policy not in SELECT_POLICIES:
        errs.not_supported(f"{path}.selectPolicy", policy, SELECT_POLICIES)
    policies = rules.get("policies")
    if not policies:
        errs.required(f"{path}.policies", "must specify at least one Policy")
        return
    for i, item in enumerate(policies):
        where = f"{path}.policies[{i}]"
        if item.get("type") not in POLICY_TYPES:
            errs.not_supported(f"{where}.type", item.get("type"), POLICY_TYPES)
        value, period = item.get("value"), item.get("periodSeconds")
        if not isinstance(value, int) or value <= 0:
            errs.invalid(f"{where}.value", value, "must be greater than zero")
        if not isinstance(period, int) or period <= 0:
            errs.invalid(f"{where}.periodSeconds", period, "must be greater than zero")
        elif period > MAX_PERIOD_SECONDS:
            errs.invalid(f"{where}.periodSeconds", period, f"must be less than or equal to {MAX_PERIOD_SECONDS}")


def validate_hpa_spec(errs: FieldErrors, spec: Mapping[str, Any], path: str = "spec") -> None:
    """ValidateHorizontalPodAutoscalerSpec."""
    minimum, maximum = spec.get("minReplicas"), spec.get("maxReplicas")
    if isinstance(minimum, int) and minimum < 1:
        errs.invalid(f"{path}.minReplicas", minimum, "must be greater than or equal to 1")
    if maximum is None:
        errs.required(f"{path}.maxReplicas")
    elif isinstance(maximum, int) and maximum < 1:
        errs.invalid(f"{path}.maxReplicas", maximum, "must be greater than 0")
    if isinstance(minimum, int) and isinstance(maximum, int) and maximum < minimum:
        errs.invalid(f"{path}.maxReplicas", maximum, "must be greater than or equal to `minReplicas`")
    for key in ("minReplicas", "maxReplicas"):
        int32(errs, f"{path}.{key}", spec.get(key))
    if spec.get("scaleTargetRef") is None:
        errs.required(f"{path}.scaleTargetRef")
    else:
        _validate_reference(errs, spec["scaleTargetRef"], f"{path}.scaleTargetRef")
    for i, metric in enumerate(spec.get("metrics") or []):
        _validate_metric(errs, metric, f"{path}.metrics[{i}]")
    behavior = spec.get("behavior")
    if isinstance(behavior, Mapping):
        for key in ("scaleUp", "scaleDown"):
            if behavior.get(key) is not None:
                _validate_rules(errs, behavior[key], f"{path}.behavior.{key}")


class HorizontalPodAutoscalerStrategy(BaseStrategy):
    printer = tables.HPA
    has_generation = True

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        obj["status"] = {"currentReplicas": 0, "desiredReplicas": 0}
        spec = obj.get("spec")
        if isinstance(spec, dict):
            default_hpa_spec(spec)

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        super().prepare_for_update(new, old, now=now)
        if isinstance(new.get("spec"), dict):
            default_hpa_spec(new["spec"])

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_hpa_spec(errs, obj.get("spec") or {})
        status = obj.get("status") or {}
        for key in ("currentReplicas", "desiredReplicas"):
            non_negative(errs, f"status.{key}", status.get(key))


STRATEGIES = (HorizontalPodAutoscalerStrategy(by_group_resource("horizontalpodautoscalers.autoscaling")),)


# --- autoscaling/v1 <-> v2 ---------------------------------------------------------------------------
# v1 holds one CPU target; what it cannot say travels in annotations, as upstream's conversion keeps
# it, so an HPA read and written back at v1 loses nothing.

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
_V1_ANNOTATIONS = (METRICS_ANNOTATION, CURRENT_METRICS_ANNOTATION, CONDITIONS_ANNOTATION, BEHAVIOR_ANNOTATION)


def _is_cpu_utilization(metric: Mapping[str, Any]) -> bool:
    source = metric.get("resource") or {}
    return (metric.get("type") == "Resource" and source.get("name") == "cpu"
            and (source.get("target") or {}).get("type") == "Utilization")


def to_v1(obj: Mapping[str, Any]) -> Obj:
    """An autoscaling/v2 HPA as autoscaling/v1 shows it (Convert_autoscaling_HorizontalPodAutoscaler_To_v1_...)."""
    out = copy.deepcopy(dict(obj))
    out["apiVersion"] = "autoscaling/v1"
    meta = out.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    spec = out.get("spec") or {}
    v1_spec: dict[str, Any] = {key: spec[key] for key in ("scaleTargetRef", "minReplicas", "maxReplicas") if key in spec}
    others = []
    for metric in spec.get("metrics") or []:
        if _is_cpu_utilization(metric) and "targetCPUUtilizationPercentage" not in v1_spec:
            v1_spec["targetCPUUtilizationPercentage"] = metric["resource"]["target"].get("averageUtilization")
        else:
            others.append(metric)
    if others:
        annotations[METRICS_ANNOTATION] = json.dumps(others, separators=(",", ":"))
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR_ANNOTATION] = json.dumps(spec["behavior"], separators=(",", ":"))
    out["spec"] = v1_spec
    status = out.get("status")
    if isinstance(status, dict):
        v1_status = {key: status[key] for key in ("observedGeneration", "lastScaleTime", "currentReplicas",
                                                  "desiredReplicas") if key in status}
        v1_status.setdefault("currentReplicas", 0)
        v1_status.setdefault("desiredReplicas", 0)
        current_others = []
        for current in status.get("currentMetrics") or []:
            resource = current.get("resource") or {}
            utilization = (resource.get("current") or {}).get("averageUtilization")
            if current.get("type") == "Resource" and resource.get("name") == "cpu" and utilization is not None:
                v1_status["currentCPUUtilizationPercentage"] = utilization
            else:
                current_others.append(current)
        if current_others:
            annotations[CURRENT_METRICS_ANNOTATION] = json.dumps(current_others, separators=(",", ":"))
        if status.get("conditions"):
            annotations[CONDITIONS_ANNOTATION] = json.dumps(status["conditions"], separators=(",", ":"))
        out["status"] = v1_status
    if annotations:
        meta["annotations"] = annotations
    return out


def from_v1(obj: Mapping[str, Any]) -> Obj:
    """An autoscaling/v1 HPA as it is stored (autoscaling/v2), its annotations turned back into fields."""
    out = copy.deepcopy(dict(obj))
    out["apiVersion"] = "autoscaling/v2"
    meta = out.get("metadata")
    annotations = dict((meta or {}).get("annotations") or {}) if isinstance(meta, dict) else {}
    restored = {key: annotations.pop(key) for key in _V1_ANNOTATIONS if key in annotations}
    if isinstance(meta, dict):
        if annotations:
            meta["annotations"] = annotations
        else:
            meta.pop("annotations", None)

    def decoded(key: str) -> Any:
        try:
            return json.loads(restored[key]) if key in restored else None
        except ValueError:
            return None  # a hand-edited annotation that is not JSON: dropped, as upstream ignores it

    spec = out.get("spec")
    if isinstance(spec, dict):
        metrics = []
        target = spec.pop("targetCPUUtilizationPercentage", None)
        if target is not None:
            metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": target}}})
        metrics.extend(m for m in decoded(METRICS_ANNOTATION) or [] if isinstance(m, dict))
        if metrics:
            spec["metrics"] = metrics
        behavior = decoded(BEHAVIOR_ANNOTATION)
        if isinstance(behavior, dict):
            spec["behavior"] = behavior
    status = out.get("status")
    if isinstance(status, dict):
        current = []
        utilization = status.pop("currentCPUUtilizationPercentage", None)
        if utilization is not None:
            current.append({"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": utilization}}})
        current.extend(m for m in decoded(CURRENT_METRICS_ANNOTATION) or [] if isinstance(m, dict))
        if current:
            status["currentMetrics"] = current
        conditions = decoded(CONDITIONS_ANNOTATION)
        if isinstance(conditions, list):
            status["conditions"] = conditions
    return out
