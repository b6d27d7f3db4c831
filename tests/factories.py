"""Builders for test objects: small, valid Kubernetes documents with only what a test cares about."""

from __future__ import annotations

from typing import Any


def pod(name: str, *, namespace: str = "default", labels: dict[str, str] | None = None,
        node: str | None = None, phase: str | None = None, image: str = "busybox",
        cpu: str | None = None, memory: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": image}
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if requests:
        container["resources"] = {"requests": requests}
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"containers": [container]},
    }
    if node is not None:
        obj["spec"]["nodeName"] = node
    if phase is not None:
        obj["status"] = {"phase": phase}
    return obj


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
         labels: dict[str, str] | None = None, ready: bool = True) -> dict[str, Any]:
    capacity = {"cpu": cpu, "memory": memory, "pods": pods}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {},
        "status": {
            "capacity": dict(capacity),
            "allocatable": dict(capacity),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def crontab_crd(*, group: str = "stable.example.com", plural: str = "crontabs", kind: str = "CronTab",
                scope: str = "Namespaced", versions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The CronTab CustomResourceDefinition of the Kubernetes documentation, with a status and a
    scale subresource and printer columns added."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["cronSpec", "image"],
                "properties": {
                    "cronSpec": {"type": "string", "pattern": r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$"},
                    "image": {"type": "string"},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                    "size": {"type": "string", "enum": ["S", "M", "L"], "default": "M"},
                    "selector": {"type": "string"},
                },
            },
            "status": {
                "type": "object",
                "properties": {"replicas": {"type": "integer"}, "labelSelector": {"type": "string"},
                               "message": {"type": "string"}},
            },
        },
    }
    version = {
        "name": "v1", "served": True, "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                  "statusReplicasPath": ".status.replicas",
                                                  "labelSelectorPath": ".status.labelSelector"}},
        "additionalPrinterColumns": [
            {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "shortNames": ["ct"]},
            "versions": versions if versions is not None else [version],
        },
    }
