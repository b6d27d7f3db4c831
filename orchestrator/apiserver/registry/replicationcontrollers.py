"""v1 ReplicationControllers: the ReplicaSet's ancestor, still in older manifests and client examples.

- create: SetDefaults_ReplicationController -- an empty selector becomes the template's labels, so
  do empty object labels; replicas 1; the template's pod defaults;
- validate: a non-empty equality selector that matches the template's labels, the template as a
  pod spec with ``restartPolicy: Always`` and no activeDeadlineSeconds;
- the ``scale`` subresource (autoscaling/v1 Scale), as for ReplicaSets (`kubectl scale rc/NAME`).

Kubernetes equivalent: pkg/registry/core/replicationcontroller/strategy.go,
pkg/apis/core/v1/defaults.go (SetDefaults_ReplicationController),
pkg/apis/core/validation/validation.go (ValidateReplicationControllerSpec)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.resources import by_group_resource
from orchestrator.api.selectors import LabelSelector
from orchestrator.apiserver.registry.apps import ReplicaSetStrategy
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import (
    FieldErrors,
    default_replicaset,
    int32,
    non_negative,
    validate_labels,
    validate_pod_spec,
)


def default_replication_controller(obj: Obj) -> None:
    default_replicaset(obj)  # replicas 1 and the template's pod defaults
    spec = obj["spec"]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = obj.setdefault("metadata", {})
        if not meta.get("labels"):
            meta["labels"] = dict(labels)


def validate_replication_controller_spec(errs: FieldErrors, spec: Mapping[str, Any], path: str) -> None:
    for key in ("replicas", "minReadySeconds"):
        non_negative(errs, f"{path}.{key}", spec.get(key))
        int32(errs, f"{path}.{key}", spec.get(key))
    selector = spec.get("selector") or {}
    if not selector:
        errs.required(f"{path}.selector")
    else:
        validate_labels(errs, selector, f"{path}.selector")
    template = spec.get("template")
    if not isinstance(template, Mapping):
        errs.required(f"{path}.template")
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    validate_labels(errs, labels, f"{path}.template.metadata.labels")
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        errs.invalid(f"{path}.template.metadata.labels", labels, "`selector` does not match template `labels`")
    pod_spec = template.get("spec") or {}
    validate_pod_spec(errs, pod_spec, f"{path}.template.spec", for_pod=False)
    if pod_spec.get("restartPolicy", "Always") != "Always":
        errs.not_supported(f"{path}.template.spec.restartPolicy", pod_spec["restartPolicy"], ("Always",))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.forbidden(f"{path}.template.spec.activeDeadlineSeconds",
                       "activeDeadlineSeconds in ReplicationController is not Supported")


class ReplicationControllerStrategy(ReplicaSetStrategy):
    printer = tables.REPLICATIONCONTROLLER

    def default(self, obj: Obj) -> None:
        default_replication_controller(obj)

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_replication_controller_spec(errs, obj.get("spec") or {}, "spec")

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Any]:
        return []  # a ReplicationController's selector may change (upstream allows it)

    def to_scale(self, obj: Mapping[str, Any]) -> Obj:
        scale = super().to_scale(obj)
        selector = (obj.get("spec") or {}).get("selector") or {}
        scale["status"]["selector"] = str(LabelSelector.from_structured({"matchLabels": selector})) if selector else ""
        return scale


STRATEGIES = (ReplicationControllerStrategy(by_group_resource("replicationcontrollers")),)
