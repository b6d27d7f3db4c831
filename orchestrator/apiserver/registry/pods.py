"""Pods: defaults and validation of the pod spec, the status a pod starts with, what an update may
change, graceful deletion of a pod a node runs, and the ``binding`` subresource.

- create: Kubernetes' pod defaults (restartPolicy, imagePullPolicy from the tag, ...); a new pod
  is Pending with its QoS class, whatever the client sent as status.
- update: a pod's spec is fixed except images, tolerations (additions) and
  activeDeadlineSeconds; the seed's step 7 — a PATCH/PUT that sets ``spec.nodeName`` on an
  unbound pod — is allowed as a binding.
- delete: a pod bound to a node and not finished is kept with a deletionTimestamp for its
  grace period; its node agent stops the containers and deletes it again with grace 0.
- ``pods/binding`` (POST): the scheduler's way to set ``spec.nodeName``, once.

Kubernetes equivalent: pkg/registry/core/pod/strategy.go, pkg/registry/core/pod/storage/storage.go
(BindingREST)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.errors import BadRequest, Cause, Conflict, Invalid
from orchestrator.api.objects import TERMINAL_PHASES
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.policy import check_eviction
from orchestrator.apiserver.registry.strategy import Obj, SubresourceRequest
from orchestrator.apiserver.validation import (
    FieldErrors,
    canonicalize_pod_spec,
    default_pod_spec,
    qos_class,
    rfc3339,
    validate_pod_spec,
    validate_pod_status,
    validate_pod_update,
)


class PodStrategy(BaseStrategy):
    printer = tables.POD
    has_generation = True
    returns_deleted_object = True  # a DELETE answers the pod (being deleted), as pod storage does

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        default_pod_spec(obj.setdefault("spec", {}), for_pod=True)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}

    def canonicalize(self, obj: Obj) -> None:
        canonicalize_pod_spec(obj.get("spec"))

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_pod_spec(errs, obj.get("spec") or {}, "spec", for_pod=True)
        validate_pod_status(errs, obj.get("status") or {})

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        default_pod_spec(new.setdefault("spec", {}), for_pod=True)
        super().prepare_for_update(new, old, now=now)

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        old_spec = dict(old.get("spec") or {})
        node = (new.get("spec") or {}).get("nodeName")
        if node and not old_spec.get("nodeName"):
            old_spec = copy.deepcopy(old_spec)
            old_spec["nodeName"] = node  # the first binding, by update (seed step 7)
        errs = FieldErrors()
        validate_pod_update(errs, old_spec, new.get("spec") or {})
        return errs.causes

    def prepare_for_status_update(self, new: Obj, old: Mapping[str, Any]) -> Obj:
        result = super().prepare_for_status_update(new, old)
        old_qos = (old.get("status") or {}).get("qosClass")
        if old_qos:  # the QoS class is fixed at creation
            result["status"]["qosClass"] = old_qos
        return result

    def graceful_delete_seconds(self, obj: Mapping[str, Any], requested: int | None) -> int | None:
        spec = obj.get("spec") or {}
        if not spec.get("nodeName") or (obj.get("status") or {}).get("phase") in TERMINAL_PHASES or requested == 0:
            return None  # nobody runs it: it can go at once
        return requested if requested is not None else int(spec.get("terminationGracePeriodSeconds", 30))


async def bind(registry: Any, request: SubresourceRequest) -> tuple[int, dict[str, Any]]:
    """POST pods/{name}/binding: set ``spec.nodeName`` and the PodScheduled condition, once."""
    binding, name = request.body, request.name
    if not isinstance(binding, dict) or not isinstance(binding.get("target") or {}, dict) \
            or not isinstance(binding.get("metadata") or {}, dict):
        raise BadRequest("the request body must be a Binding object: "
                         '{"apiVersion": "v1", "kind": "Binding", "target": {"name": "<node>"}}')
    target = (binding.get("target") or {}).get("name")
    if target is not None and not isinstance(target, str):
        raise BadRequest("target.name must be a string: the name of a node")
    if not target:
        raise Invalid("Binding is invalid: target.name: Required value",
                      causes=[Cause("target.name", "Required value", "FieldValueRequired")], kind="Binding")
    bname = (binding.get("metadata") or {}).get("name")
    if bname and bname != name:
        raise BadRequest(f"the name of the binding ({bname}) does not match the pod ({name})")
    now = rfc3339(datetime.now(UTC))

    def assign(pod: dict[str, Any]) -> dict[str, Any]:
        spec = pod.setdefault("spec", {})
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            raise Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is being deleted, '
                           "cannot be assigned to a host", kind="pods", name=name)
        if spec.get("nodeName"):
            raise Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is already assigned '
                           f'to node "{spec["nodeName"]}"', kind="pods", name=name)
        spec["nodeName"] = target
        status = pod.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": now})
        status["conditions"] = conditions
        return pod

    if not request.dry_run:
        await registry.store.guaranteed_update("pods", request.namespace or "default", name, assign)
    return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def evict(registry: Any, request: SubresourceRequest) -> tuple[int, dict[str, Any]]:
    """POST pods/{name}/eviction (policy/v1 Eviction): delete the pod with the eviction's
    DeleteOptions — what `kubectl drain` does to each pod — unless the PodDisruptionBudget covering
    it allows no disruption now (429, `policy.check_eviction`)."""
    eviction = request.body
    if not isinstance(eviction, dict) or not isinstance(eviction.get("metadata") or {}, dict) \
            or not isinstance(eviction.get("deleteOptions") or {}, dict):
        raise BadRequest('the request body must be an Eviction object: '
                         '{"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "<pod>"}}')
    ename = (eviction.get("metadata") or {}).get("name")
    if ename and ename != request.name:
        raise BadRequest(f"name in URL does not match name in Eviction object ({ename} != {request.name})")
    options = dict(eviction.get("deleteOptions") or {})
    options.pop("apiVersion", None)
    options.pop("kind", None)
    pod = await registry.store.get("pods", request.namespace, request.name)
    await check_eviction(registry, pod, dry_run=request.dry_run)
    await registry.delete(_PODS, request.namespace, request.name, options, dry_run=request.dry_run,
                          user=request.user)
    return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


_PODS = by_group_resource("pods")
STRATEGIES = (PodStrategy(_PODS),)
SUBRESOURCES = {("pods", "binding"): bind, ("pods", "eviction"): evict}
