"""Admission: the checks that need the object a write carries, after authorization said the
request may happen at all and before the object is stored.

Plugins run in order for every create, update (PUT, PATCH, the status and scale subresources)
and delete; each may refuse with an ApiError (usually Forbidden) and mutating ones may change
the object. Today's chain:

    NodeRestriction   a node identity may create only its own Node and its own Lease in
                      kube-node-lease (the names are in the body, which authorization did not see)

The pod-security policy (no privileged containers, host namespaces, hostPath or added
capabilities) is enforced by the pod strategy's validation today, with 422s naming the field.

Kubernetes equivalent: k8s.io/apiserver/pkg/admission, plugin/pkg/admission/noderestriction
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from orchestrator.api.resources import ResourceInfo
from orchestrator.apiserver.auth import Request, User, forbidden

Operation = Literal["CREATE", "UPDATE", "DELETE"]


@dataclass(frozen=True)
class Attributes:
    """What admission is told about one write."""

    operation: Operation
    user: User | None  # None: the API server itself (bootstrap objects, event expiry)
    info: ResourceInfo
    subresource: str | None
    obj: dict[str, Any]  # the object to store (for DELETE, the stored one)
    old: Mapping[str, Any] | None  # the stored object an UPDATE replaces


class AdmissionPlugin(Protocol):
    """One admission plugin. ``admit`` may change ``attrs.obj`` (mutating) or raise (validating)."""

    def admit(self, attrs: Attributes) -> None: ...


class NodeRestriction:
    """A node may create and update only its own Node and its own Lease."""

    def admit(self, attrs: Attributes) -> None:
        user = attrs.user
        node = user.node_name if user is not None else None
        if user is None or node is None or attrs.operation == "DELETE":
            return
        meta = attrs.obj.get("metadata") or {}
        name, namespace = meta.get("name"), meta.get("namespace")
        verb = "create" if attrs.operation == "CREATE" else "update"
        request = Request(verb=verb, resource=attrs.info.plural, group=attrs.info.group, namespace=namespace,
                          name=name, subresource=attrs.subresource)
        if attrs.info.group_resource == "nodes" and name != node:
            raise forbidden(user, request, f"a node may only modify its own Node object ({node})")
        if attrs.info.group_resource == "leases.coordination.k8s.io" and (
                namespace != "kube-node-lease" or name != node):
            raise forbidden(user, request, f"a node may only use its own Lease (kube-node-lease/{node})")


class Chain:
    """The plugins in order; the first refusal wins."""

    def __init__(self, plugins: Sequence[AdmissionPlugin] = ()) -> None:
        self.plugins = tuple(plugins)

    def admit(self, attrs: Attributes) -> None:
        for plugin in self.plugins:
            plugin.admit(attrs)


def default_chain() -> Chain:
    return Chain([NodeRestriction()])
