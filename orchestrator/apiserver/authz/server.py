"""Authorization as one API server process holds it: the RBAC cache and its informer, the chain
(Node → RBAC), the escalation admission plugin and the review handlers. app.py wires it:

    authz = Authorization.for_storage(store, watch_cache)
    registry.admission = admission.Chain([..., authz.escalation])   # RBAC writes: escalation checks
    await authz.ensure_bootstrap(create)        # the bootstrap roles and bindings, once storage is up
    task = asyncio.create_task(authz.run())     # list+watch of the four RBAC kinds
    await authz.wait_synced(timeout=60)         # before serving: an empty cache denies everyone

and the request path uses it:

    user = await authz.impersonate(user, headers)    # middleware.py: kubectl --as
    await authz.check(call.attributes())             # routes/resources.py: once per resource request
    authz.reviews[info.group_resource]               # routes/resources.py: the create-only reviews

Kubernetes equivalent: pkg/kubeapiserver/authorizer/config.go (building the union authorizer),
pkg/registry/rbac/rest/storage_rbac.go (the bootstrap PostStartHook)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.api.errors import BadRequest, NotFound
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz import bootstrap, impersonation, node, reviews
from orchestrator.apiserver.authz.chain import Attributes, Chain, Decision, PrivilegedGroups
from orchestrator.apiserver.authz.escalation import RBACEscalation
from orchestrator.apiserver.authz.informer import RBACInformer
from orchestrator.apiserver.authz.rbac import RBACAuthorizer, RBACCache


class Authorization:
    def __init__(self, *, cache: RBACCache, informer: RBACInformer | None, pod_node: node.PodNode,
                 node_pods: node.NodePods | None = None, volume_claim: node.VolumeClaim | None = None) -> None:
        self.cache = cache
        self.informer = informer
        self.rbac = RBACAuthorizer(cache)
        self.chain = Chain([PrivilegedGroups(), node.NodeAuthorizer(pod_node, node_pods, volume_claim), self.rbac])
        self.reviews = reviews.review_handlers(self.chain)
        self.escalation = RBACEscalation(self.rbac)  # an admission plugin

    @classmethod
    def for_storage(cls, store: Any, watch_cache: Any) -> Authorization:
        cache = RBACCache()

        async def pod_node(namespace: str, name: str) -> str | None:
            try:
                pod = await store.get("pods", namespace, name)
            except (NotFound, BadRequest):  # no such pod, or no namespace: bound to no node
                return None
            return (pod.get("spec") or {}).get("nodeName")

        async def node_pods(node_name: str, namespace: str) -> list[dict[str, Any]]:
            try:
                return (await store.list("pods", namespace=namespace, field_selector=f"spec.nodeName={node_name}")).items
            except (NotFound, BadRequest):
                return []

        async def volume_claim(name: str) -> tuple[str, str] | None:
            try:
                pv = await store.get("persistentvolumes", None, name)
            except (NotFound, BadRequest):
                return None
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            return (ref["namespace"], ref["name"]) if ref.get("namespace") and ref.get("name") else None

        return cls(cache=cache, informer=RBACInformer.for_storage(cache, store, watch_cache), pod_node=pod_node,
                   node_pods=node_pods, volume_claim=volume_claim)

    # -- lifecycle

    async def run(self) -> None:
        """Keep the cache current until cancelled."""
        assert self.informer is not None
        await self.informer.run()

    async def wait_synced(self, timeout: float | None = None) -> None:
        assert self.informer is not None
        await self.informer.wait_synced(timeout)

    async def ensure_bootstrap(self, create: bootstrap.Create) -> list[str]:
        """Create the missing bootstrap ClusterRoles and ClusterRoleBindings (see bootstrap.py)."""
        return await bootstrap.ensure_bootstrap_policy(create)

    # -- per request

    async def authorize(self, attrs: Attributes) -> Decision:
        return await self.chain.authorize(attrs)

    async def check(self, attrs: Attributes) -> None:
        """Raise Forbidden unless the chain allows ``attrs``."""
        await self.chain.check(attrs)

    async def impersonate(self, user: User, headers: Iterable[tuple[str, str]]) -> User:
        return await impersonation.impersonate(user, headers, self.chain)
