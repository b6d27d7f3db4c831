"""apps/v1 Deployments and ReplicaSets: defaults (replicas 1, 25%/25% rolling update, ...), the
pod template validated as a pod spec, an immutable selector, a generation that counts spec
changes, and the ``scale`` subresource (autoscaling/v1 Scale).

Kubernetes equivalent: pkg/registry/apps/deployment/strategy.go,
pkg/registry/apps/replicaset/strategy.go, .../storage/storage.go (ScaleREST)
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
    canonicalize_pod_spec,
    default_deployment,
    default_replicaset,
    validate_deployment_spec,
    validate_replicaset_spec,
)


class _ReplicatedStrategy(BaseStrategy):
    """What Deployments and ReplicaSets share: a template, a selector, replicas."""

    has_generation = True

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        self.default(obj)
        obj["status"] = {}

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        self.default(new)
        super().prepare_for_update(new, old, now=now)

    def default(self, obj: Obj) -> None:
        raise NotImplementedError

    def canonicalize(self, obj: Obj) -> None:
        canonicalize_pod_spec(((obj.get("spec") or {}).get("template") or {}).get("spec"))

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        old_selector, new_selector = (old.get("spec") or {}).get("selector"), (new.get("spec") or {}).get("selector")
        if old_selector != new_selector:
            errs.invalid("spec.selector", new_selector, "field is immutable")
        return errs.causes

    def to_scale(self, obj: Mapping[str, Any]) -> Obj:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        try:
            selector = str(LabelSelector.from_structured(spec.get("selector")))
        except Invalid:
            selector = ""
        scale_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                      if k in meta}
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": scale_meta,
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": status.get("replicas", 0), "selector": selector},
        }

    def with_replicas(self, obj: Obj, replicas: int) -> None:
        obj.setdefault("spec", {})["replicas"] = replicas


class DeploymentStrategy(_ReplicatedStrategy):
    printer = tables.DEPLOYMENT

    def default(self, obj: Obj) -> None:
        default_deployment(obj)

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_deployment_spec(errs, obj.get("spec") or {}, "spec")

    def spec_changed(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> bool | None:
        # Annotations are copied onto ReplicaSets, so upstream treats them like spec here.
        old_annotations = (old.get("metadata") or {}).get("annotations") or {}
        new_annotations = (new.get("metadata") or {}).get("annotations") or {}
        return old.get("spec") != new.get("spec") or old_annotations != new_annotations


class ReplicaSetStrategy(_ReplicatedStrategy):
    printer = tables.REPLICASET

    def default(self, obj: Obj) -> None:
        default_replicaset(obj)

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_replicaset_spec(errs, obj.get("spec") or {}, "spec")


STRATEGIES = (
    DeploymentStrategy(by_group_resource("deployments.apps")),
    ReplicaSetStrategy(by_group_resource("replicasets.apps")),
)
