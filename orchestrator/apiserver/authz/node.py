"""The Node authorizer: what a node agent (user ``system:node:<n>``, group ``system:nodes``) may do.

A node's rights depend on the graph of objects, not on a role: it may read and write the pods
*bound to it* and nothing of other nodes' pods. The rules:

    nodes (and nodes/status)   read any; create, update, patch its own (``create`` names no object
                               in the URL: NodeRestriction admission checks the body's name,
                               orchestrator/apiserver/admission.py)
    leases in kube-node-lease  every verb on its own Lease (``<n>``), nothing else
    events                     create, update, patch, get, list, watch
    namespaces                 get, list, watch
    serviceaccounts/token      create (the token handler then requires a pod bound to this node)
    configmaps, secrets        get of one that a pod bound to this node references (env
                               ``valueFrom``/``envFrom``, a ``configMap``/``secret`` volume or
                               projection, an ``imagePullSecret``); never list or watch
    persistentvolumeclaims     get of one that a pod bound to this node names in a volume
    persistentvolumes          get of one whose ``claimRef`` is such a claim
    pods                       list and watch only with ``fieldSelector=spec.nodeName=<n>``;
                               get, delete, get/update/patch status, get log of pods bound to it;
                               never create, never update the spec, never bind
    anything else              no opinion (RBAC may still allow it, as upstream)

Which node a pod is bound to comes from ``pod_node(namespace, name)`` (the API server answers it
from its store), and which ConfigMaps and Secrets the pods of a node reference from
``node_references(node, namespace)`` (the same store: the pods of that namespace bound to the
node, one indexed list per request where upstream keeps a graph); a pod that does not exist is bound to no node, so a node learns nothing about
pods that are not its own (403, not 404). Denials are NO_OPINION with the reason, which the
chain puts at the end of the Forbidden message.

Kubernetes equivalent: plugin/pkg/auth/authorizer/node/node_authorizer.go
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes, Decision, RulesResult

PodNode = Callable[[str, str], Awaitable[str | None]]
# (node, namespace) -> the pods of that namespace bound to the node
NodePods = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
# PersistentVolume name -> (namespace, name) of the claim its claimRef names, None without one
VolumeClaim = Callable[[str], Awaitable[tuple[str, str] | None]]

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"
READ_VERBS = frozenset({"get", "list", "watch"})
COORDINATION = "coordination.k8s.io"


def node_of(user: User) -> str | None:
    """The node this identity speaks for, if it is a node agent."""
    if NODES_GROUP in user.groups and user.name.startswith(NODE_USER_PREFIX):
        return user.name[len(NODE_USER_PREFIX):] or None
    return None


def selects_only_node(field_selector: str | None, node: str) -> bool:
    """Whether a pods list/watch is limited to ``spec.nodeName=<node>`` (other terms may narrow it)."""
    for term in (field_selector or "").split(","):
        key, sep, value = term.partition("=")
        if sep and key.strip() == "spec.nodeName" and not key.endswith("!"):
            value = value[1:] if value.startswith("=") else value
            if value.strip() == node:
                return True
    return False


class NodeAuthorizer:
    """Authorizes node identities by what is bound to their node; no opinion on anyone else."""

    def __init__(self, pod_node: PodNode, node_pods: NodePods | None = None,
                 volume_claim: VolumeClaim | None = None) -> None:
        self.pod_node = pod_node
        self.node_pods = node_pods
        self.volume_claim = volume_claim

    async def authorize(self, attrs: Attributes) -> Decision:
        node = node_of(attrs.user)
        if node is None or not attrs.resource_request:
            return Decision.no_opinion()
        verb, resource, group = attrs.verb, attrs.resource, attrs.api_group
        if resource == "nodes" and group == "":
            if verb in READ_VERBS:
                return Decision.allow()
            if verb in ("create", "update", "patch") and (attrs.name == node or (verb == "create" and not attrs.name)):
                return Decision.allow()
            return Decision.no_opinion(f"a node may only modify its own Node object ({node})")
        if resource == "leases" and group == COORDINATION:
            if attrs.namespace == NODE_LEASE_NAMESPACE and (
                    attrs.name == node or (verb == "create" and not attrs.name)):
                return Decision.allow()
            return Decision.no_opinion(f"a node may only use its own Lease ({NODE_LEASE_NAMESPACE}/{node})")
        if resource == "events" and group == "" and verb in ("create", "patch", "update", *READ_VERBS):
            return Decision.allow()
        if resource == "namespaces" and group == "" and verb in READ_VERBS:
            return Decision.allow()
        if resource == "serviceaccounts" and group == "" and attrs.subresource == "token" and verb == "create":
            # Only a token bound to a pod this node runs: the token handler checks the bound pod
            # (orchestrator/apiserver/registry/serviceaccounts.py), as upstream's Node authorizer
            # checks its graph.
            return Decision.allow()
        if resource == "pods" and group == "":
            return await self._pod(attrs, node)
        if resource in ("configmaps", "secrets", "persistentvolumeclaims") and group == "" and not attrs.subresource:
            return await self._referenced(attrs, node)
        if resource == "persistentvolumes" and group == "" and not attrs.subresource:
            return await self._volume(attrs, node)
        return Decision.no_opinion()

    async def _referenced(self, attrs: Attributes, node: str, *, namespace: str | None = None,
                          name: str | None = None) -> Decision:
        kind = {"configmaps": "configmap", "secrets": "secret"}.get(attrs.resource, "persistentvolumeclaim")
        denied = Decision.no_opinion(f"no relationship found between node '{node}' and this object")
        name = name or attrs.name
        if attrs.verb != "get" or not name or self.node_pods is None:
            return denied
        for pod in await self.node_pods(node, namespace or attrs.namespace):
            if name in set(referenced(pod, kind)):
                return Decision.allow()
        return denied

    async def _volume(self, attrs: Attributes, node: str) -> Decision:
        """A volume is the node's to read when a pod of the node names the claim it is bound to
        (upstream's graph: pod -> pvc -> pv)."""
        denied = Decision.no_opinion(f"no relationship found between node '{node}' and this object")
        if attrs.verb != "get" or not attrs.name or self.volume_claim is None:
            return denied
        claim = await self.volume_claim(attrs.name)
        if claim is None:
            return denied
        return await self._referenced(attrs, node, namespace=claim[0], name=claim[1])

    async def _pod(self, attrs: Attributes, node: str) -> Decision:
        verb, sub = attrs.verb, attrs.subresource
        if verb in ("list", "watch") and not sub:
            if selects_only_node(attrs.field_selector, node):
                return Decision.allow()
            return Decision.no_opinion(f"a node may only list and watch pods with fieldSelector spec.nodeName={node}")
        if verb in ("get", "update", "patch", "delete") and sub in ("", "status", "log") and attrs.name:
            if verb in ("update", "patch") and sub != "status":
                return Decision.no_opinion("a node may only update the status of its pods")
            if verb == "delete" and sub:
                return Decision.no_opinion()
            if await self.pod_node(attrs.namespace, attrs.name) == node:
                return Decision.allow()
            return Decision.no_opinion(f"the pod is not bound to node {node}")
        return Decision.no_opinion()

    def rules_for(self, user: User, namespace: str) -> RulesResult:
        # A node's rights depend on which pods are bound to it: not expressible as rules.
        return RulesResult(incomplete=node_of(user) is not None)


def referenced(pod: Mapping[str, Any], kind: str) -> Iterator[str]:
    """The names of the ConfigMaps (`kind` ``configmap``), Secrets (``secret``) or
    PersistentVolumeClaims (``persistentvolumeclaim``) a pod uses.

    Kubernetes equivalent: pkg/api/v1/pod/util.go (VisitPodConfigmapNames, VisitPodSecretNames)
    """
    spec = pod.get("spec") or {}
    if kind == "persistentvolumeclaim":
        for volume in spec.get("volumes") or []:
            if (volume.get("persistentVolumeClaim") or {}).get("claimName"):
                yield volume["persistentVolumeClaim"]["claimName"]
        return
    ref_key, env_key = ("configMapRef", "configMapKeyRef") if kind == "configmap" else ("secretRef", "secretKeyRef")
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for source in c.get("envFrom") or []:
            if (source.get(ref_key) or {}).get("name"):
                yield source[ref_key]["name"]
        for var in c.get("env") or []:
            ref = (var.get("valueFrom") or {}).get(env_key) or {}
            if ref.get("name"):
                yield ref["name"]
    for volume in spec.get("volumes") or []:
        if kind == "configmap" and (volume.get("configMap") or {}).get("name"):
            yield volume["configMap"]["name"]
        if kind == "secret" and (volume.get("secret") or {}).get("secretName"):
            yield volume["secret"]["secretName"]
        for projection in (volume.get("projected") or {}).get("sources") or []:
            source = projection.get("configMap" if kind == "configmap" else "secret") or {}
            if source.get("name"):
                yield source["name"]
    if kind == "secret":
        for pull in spec.get("imagePullSecrets") or []:
            if pull.get("name"):
                yield pull["name"]
