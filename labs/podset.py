"""The PodSet, the ReplicaSet-like resource of notebook 12's "write your own controller" exercise.

A PodSet is a custom resource (group ``labkit.dev``, served by the lab's API server once its
CustomResourceDefinition exists) with the three fields of a ReplicaSet that matter here:

    apiVersion: labkit.dev/v1
    kind: PodSet
    metadata: {name: web, namespace: grade-podset}
    spec:
      replicas: 3
      template: {metadata: {labels: {app: web}}, spec: {containers: [...]}}

Its pods carry a controller ownerReference to it (`new_pod`), which is how a controller finds its
own pods (`owner_key`) — no label selector, to keep the exercise to what fails under faults. Being
a custom resource, no controller of the lab's controller manager acts on it: only yours.

Kubernetes equivalent: the ReplicaSet type (pkg/apis/apps/types.go) and its pod template
(pkg/controller/controller_utils.go GetPodFromTemplate).
"""

from __future__ import annotations

import copy
from typing import Any

from orchestrator.api.resources import ResourceInfo
from orchestrator.controllers.ownerrefs import controller_ref, is_pod_active, new_controller_ref

__all__ = ["CRD", "KIND", "PODSETS", "is_pod_active", "new_pod", "owner_key", "podset"]

GROUP = "labkit.dev"
KIND = "PodSet"
PODSETS = ResourceInfo(group=GROUP, version="v1", plural="podsets", singular="podset", kind=KIND,
                       namespaced=True, short_names=("ps",))
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"podsets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "podsets", "singular": "podset", "kind": KIND, "shortNames": ["ps"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                "type": "object", "required": ["replicas", "template"],
                "properties": {
                    "replicas": {"type": "integer", "minimum": 0},
                    "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                }}}}},
            "additionalPrinterColumns": [
                {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
        }],
    },
}


def podset(name: str, namespace: str, *, replicas: int, scheduler_name: str = "") -> dict[str, Any]:
    """A PodSet of `replicas` busybox pods (``schedulerName`` set: pods no scheduler binds stay Pending)."""
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    return {"apiVersion": f"{GROUP}/v1", "kind": KIND, "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def new_pod(owner: dict[str, Any]) -> dict[str, Any]:
    """The pod a PodSet stamps out: its template, a generated name ``<podset>-xxxxx``, a controller reference."""
    template = (owner.get("spec") or {}).get("template") or {}
    meta = owner["metadata"]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": f"{meta['name']}-", "namespace": meta.get("namespace"),
                     "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                     "ownerReferences": [new_controller_ref(owner, api_version=f"{GROUP}/v1", kind=KIND)]},
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def owner_key(pod: dict[str, Any]) -> str | None:
    """``namespace/name`` of the PodSet controlling `pod` (its queue key), or None."""
    ref = controller_ref(pod)
    if ref is None or ref.get("kind") != KIND:
        return None
    return f"{(pod.get('metadata') or {}).get('namespace')}/{ref.get('name')}"
