"""apps/v1 DaemonSets: one pod per eligible node, kept by the DaemonSet controller.

- create/update defaults (SetDefaults_DaemonSet): ``updateStrategy`` RollingUpdate with
  maxUnavailable 1 and maxSurge 0, ``revisionHistoryLimit`` 10, the template's pod defaults;
- validate: a non-empty selector that matches the template's labels (422 naming
  ``spec.template.metadata.labels``), the template as a pod spec with ``restartPolicy: Always``
  and no activeDeadlineSeconds, the update strategy (maxUnavailable and maxSurge not both 0);
- update: the selector is immutable; a template change bumps the *template generation*, kept
  in the ``deprecated.daemonset.template.generation`` annotation as apps/v1 does (the controller
  labels pods ``pod-template-generation`` with it);
- the ``status`` subresource, written by the controller only.

Kubernetes equivalent: pkg/registry/apps/daemonset/strategy.go, pkg/apis/apps/v1/defaults.go
(SetDefaults_DaemonSet), pkg/apis/apps/validation/validation.go (ValidateDaemonSetSpec)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.errors import Cause, Invalid
from orchestrator.api.resources import by_group_resource
from orchestrator.api.selectors import LabelSelector
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import (
    FieldErrors,
    _int_or_percent,
    canonicalize_pod_spec,
    default_pod_spec,
    int32,
    non_negative,
    validate_labels,
    validate_pod_spec,
)

__all__ = ["TEMPLATE_GENERATION_ANNOTATION", "DaemonSetStrategy", "default_daemonset", "validate_daemonset_spec"]

TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
UPDATE_STRATEGIES = ("RollingUpdate", "OnDelete")


def default_daemonset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"], for_pod=False)


def _validate_update_strategy(errs: FieldErrors, strategy: Mapping[str, Any], path: str) -> None:
    kind = strategy.get("type")
    if kind not in UPDATE_STRATEGIES:
        errs.not_supported(f"{path}.type", kind, UPDATE_STRATEGIES)
        return
    if kind == "OnDelete":
        return
    rolling = strategy.get("rollingUpdate")
    if not isinstance(rolling, Mapping):
        errs.required(f"{path}.rollingUpdate")
        return
    rolling_path = f"{path}.rollingUpdate"
    unavailable = _int_or_percent(errs, rolling.get("maxUnavailable"), f"{rolling_path}.maxUnavailable")
    surge = _int_or_percent(errs, rolling.get("maxSurge"), f"{rolling_path}.maxSurge")
    if unavailable == 0 and surge == 0:
        errs.invalid(f"{rolling_path}.maxUnavailable", rolling.get("maxUnavailable"),
                     "may not be 0 when `maxSurge` is 0", bare=True)
    for key, value in (("maxUnavailable", unavailable), ("maxSurge", surge)):
        if isinstance(rolling.get(key), str) and value is not None and value > 100:
            errs.invalid(f"{rolling_path}.{key}", rolling[key], "must not be greater than 100%", bare=True)


def validate_daemonset_spec(errs: FieldErrors, spec: Mapping[str, Any], path: str) -> None:
    selector: LabelSelector | None = None
    raw_selector = spec.get("selector")
    if raw_selector is None:
        errs.required(f"{path}.selector")
    else:
        try:
            selector = LabelSelector.from_structured(raw_selector, field_path=f"{path}.selector")
        except Invalid as err:
            errs.extend(err.causes)
        if not raw_selector.get("matchLabels") and not raw_selector.get("matchExpressions"):
            errs.invalid(f"{path}.selector", raw_selector, "empty selector is invalid for daemonset")
            selector = None
    template = spec.get("template")
    if not isinstance(template, Mapping):
        errs.required(f"{path}.template")
    else:
        labels = (template.get("metadata") or {}).get("labels") or {}
        validate_labels(errs, labels, f"{path}.template.metadata.labels")
        if selector is not None and not selector.matches(labels):
            errs.invalid(f"{path}.template.metadata.labels", labels, "`selector` does not match template `labels`")
        pod_spec = template.get("spec") or {}
        validate_pod_spec(errs, pod_spec, f"{path}.template.spec", for_pod=False)
        if pod_spec.get("restartPolicy", "Always") != "Always":
            errs.not_supported(f"{path}.template.spec.restartPolicy", pod_spec["restartPolicy"], ("Always",))
        if pod_spec.get("activeDeadlineSeconds") is not None:
            errs.invalid(f"{path}.template.spec.activeDeadlineSeconds", pod_spec["activeDeadlineSeconds"],
                         "activeDeadlineSeconds must be nil for daemonset")
    for key in ("minReadySeconds", "revisionHistoryLimit"):
        non_negative(errs, f"{path}.{key}", spec.get(key))
        int32(errs, f"{path}.{key}", spec.get(key))
    _validate_update_strategy(errs, spec.get("updateStrategy") or {}, f"{path}.updateStrategy")


def _template_generation(obj: Mapping[str, Any]) -> int:
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    try:
        return max(int(raw), 1)
    except (TypeError, ValueError):
        return 1


def _set_template_generation(obj: Obj, generation: int) -> None:
    obj.setdefault("metadata", {}).setdefault("annotations", {})[TEMPLATE_GENERATION_ANNOTATION] = str(generation)


class DaemonSetStrategy(BaseStrategy):
    printer = tables.DAEMONSET
    has_generation = True

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        default_daemonset(obj)
        obj["status"] = {}
        _set_template_generation(obj, 1)

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        default_daemonset(new)
        super().prepare_for_update(new, old, now=now)
        generation = _template_generation(old)
        if (new.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template"):
            generation += 1
        _set_template_generation(new, generation)

    def canonicalize(self, obj: Obj) -> None:
        canonicalize_pod_spec(((obj.get("spec") or {}).get("template") or {}).get("spec"))

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_daemonset_spec(errs, obj.get("spec") or {}, "spec")

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        old_selector, new_selector = (old.get("spec") or {}).get("selector"), (new.get("spec") or {}).get("selector")
        if old_selector != new_selector:
            errs.invalid("spec.selector", new_selector, "field is immutable")
        return errs.causes


STRATEGIES = (DaemonSetStrategy(by_group_resource("daemonsets.apps")),)
