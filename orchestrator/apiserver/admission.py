"""Admission: the checks that need the object a write carries, after authorization said the
request may happen at all and before the object is stored.

Plugins run in order for every create, update (PUT, PATCH, the status and scale subresources)
and delete, in two phases as in Kubernetes: *mutating* plugins see the object as decoded, before
the strategy defaults and validates it (and may change it); *validating* plugins see the object
about to be stored. Each may refuse with an ApiError (usually Forbidden). Today's chain:

    NamespaceLifecycle  (mutating) nothing is created in a namespace that does not exist or is
                        being terminated (404 / 403), whatever else is wrong with the object
    ServiceAccount      (mutating) a new pod's serviceAccountName defaults to ``default``
                        (registry/serviceaccounts.py)
    NodeRestriction     (validating) a node identity may create only its own Node and its own Lease in
                        kube-node-lease (the names are in the body, which authorization did not see)
    LimitRanger         (mutating) a new pod's containers get the LimitRange defaults, (validating)
                        and are refused past its min/max/ratio (apiserver/limitranger.py)
    ResourceQuota       (validating) a create past a ResourceQuota's hard is refused, else charged
                        to its status.used (apiserver/resourcequota.py, docs/quota.md)
    RBACEscalation      (validating) nobody writes a Role or binding granting what they do not hold
                        (orchestrator/apiserver/authz/escalation.py; added by app.py, which owns
                        the RBAC authorizer it asks)

The pod-security policy (no privileged containers, host namespaces, hostPath or added
capabilities) is enforced by the pod strategy's validation today, with 422s naming the field.

Kubernetes equivalent: k8s.io/apiserver/pkg/admission, .../admission/plugin/namespace/lifecycle,
plugin/pkg/admission/noderestriction, plugin/pkg/admission/limitranger,
plugin/pkg/admission/resourcequota
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from orchestrator.api.errors import Forbidden, NotFound
from orchestrator.api.resources import ResourceInfo
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes as AuthzAttributes
from orchestrator.apiserver.authz.chain import forbidden
from orchestrator.apiserver.lister import NamespacedLister

if TYPE_CHECKING:
    from orchestrator.storage.store import Store

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
    dry_run: bool = False  # checked, never recorded (ResourceQuota does not charge it)


class AdmissionPlugin(Protocol):
    """One admission plugin. ``admit`` may change ``attrs.obj`` (mutating) or raise (validating).
    It may read other objects through what it was built with (a cache), never write."""

    async def admit(self, attrs: Attributes) -> None: ...


class Namespaces(Protocol):
    async def get(self, name: str) -> dict[str, Any]: ...


class NamespaceLifecycle:
    """No new content in a namespace that is missing or Terminating."""

    def __init__(self, namespaces: Namespaces) -> None:
        self._namespaces = namespaces

    async def admit(self, attrs: Attributes) -> None:
        if attrs.operation != "CREATE" or not attrs.info.namespaced:
            return
        namespace = (attrs.obj.get("metadata") or {}).get("namespace") or ""
        try:
            ns = await self._namespaces.get(namespace)
        except NotFound:
            raise NotFound(f'namespaces "{namespace}" not found', kind="namespaces", name=namespace) from None
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            raise Forbidden(f"unable to create new content in namespace {namespace} because it is being terminated",
                            kind="namespaces", name=namespace)


class NodeRestriction:
    """A node may create and update only its own Node and its own Lease."""

    async def admit(self, attrs: Attributes) -> None:
        user = attrs.user
        node = user.node_name if user is not None else None
        if user is None or node is None or attrs.operation == "DELETE":
            return
        meta = attrs.obj.get("metadata") or {}
        name, namespace = meta.get("name"), meta.get("namespace")
        verb = "create" if attrs.operation == "CREATE" else "update"
        request = AuthzAttributes(user=user, verb=verb, resource=attrs.info.plural, api_group=attrs.info.group,
                                  namespace=namespace, name=name, subresource=attrs.subresource)
        if attrs.info.group_resource == "nodes" and name != node:
            raise forbidden(request, f"a node may only modify its own Node object ({node})")
        if attrs.info.group_resource == "leases.coordination.k8s.io" and (
                namespace != "kube-node-lease" or name != node):
            raise forbidden(request, f"a node may only use its own Lease (kube-node-lease/{node})")


class Chain:
    """The plugins of each phase in order; the first refusal wins."""

    def __init__(self, *, mutating: Sequence[AdmissionPlugin] = (),
                 validating: Sequence[AdmissionPlugin] = (), listers: Sequence[NamespacedLister] = ()) -> None:
        self.mutating = tuple(mutating)
        self.validating = tuple(validating)
        self.listers = tuple(listers)  # the caches the plugins read; the server runs them (app.py)

    async def admit(self, attrs: Attributes) -> None:
        """The mutating phase: before the strategy prepares and validates the object."""
        for plugin in self.mutating:
            await plugin.admit(attrs)

    async def validate(self, attrs: Attributes) -> None:
        """The validating phase: the object as it will be stored."""
        for plugin in self.validating:
            await plugin.admit(attrs)


def default_chain(namespaces: Namespaces, store: Store | None = None) -> Chain:
    """The chain above; LimitRanger and ResourceQuota need the ``store`` they read."""
    from orchestrator.apiserver.limitranger import LimitRanger, LimitRangerValidation
    from orchestrator.apiserver.registry.serviceaccounts import ServiceAccountAdmission
    from orchestrator.apiserver.resourcequota import ResourceQuotaAdmission

    mutating: list[AdmissionPlugin] = [NamespaceLifecycle(namespaces), ServiceAccountAdmission()]
    validating: list[AdmissionPlugin] = [NodeRestriction()]
    listers: list[NamespacedLister] = []
    if store is not None:
        ranges, quotas = NamespacedLister("limitranges"), NamespacedLister("resourcequotas")
        listers += [ranges, quotas]
        mutating.append(LimitRanger(store, ranges))
        validating += [LimitRangerValidation(store, ranges), ResourceQuotaAdmission(store, quotas)]
    return Chain(mutating=mutating, validating=validating, listers=listers)
