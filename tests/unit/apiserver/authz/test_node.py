"""The Node authorizer: a node touches its own Node and Lease and the pods bound to it."""

from __future__ import annotations

import pytest

from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes, Verdict
from orchestrator.apiserver.authz.node import NodeAuthorizer, selects_only_node

N1 = User("system:node:n1", "n1", ("system:nodes",))
BOUND = {("default", "mine"): "n1", ("default", "theirs"): "n2"}


async def pod_node(namespace: str, name: str) -> str | None:
    return BOUND.get((namespace, name))


def a(verb: str, resource: str, **kw: str) -> Attributes:
    return Attributes(user=N1, verb=verb, resource=resource, **kw)


@pytest.mark.parametrize(("attrs", "verdict", "reason"), [
    (a("get", "pods", namespace="default", name="mine"), Verdict.ALLOW, ""),
    (a("delete", "pods", namespace="default", name="mine"), Verdict.ALLOW, ""),
    (a("patch", "pods", subresource="status", namespace="default", name="mine"), Verdict.ALLOW, ""),
    (a("get", "pods", subresource="log", namespace="default", name="mine"), Verdict.ALLOW, ""),
    (a("get", "pods", namespace="default", name="theirs"), Verdict.NO_OPINION, "the pod is not bound to node n1"),
    (a("get", "pods", namespace="default", name="absent"), Verdict.NO_OPINION, "the pod is not bound to node n1"),
    (a("update", "pods", namespace="default", name="mine"), Verdict.NO_OPINION,
     "a node may only update the status of its pods"),
    (a("create", "pods", namespace="default"), Verdict.NO_OPINION, ""),
    (a("create", "pods", subresource="binding", namespace="default", name="mine"), Verdict.NO_OPINION, ""),
    (a("list", "pods", field_selector="spec.nodeName=n1"), Verdict.ALLOW, ""),
    (a("watch", "pods", namespace="default", field_selector="status.phase!=Failed,spec.nodeName==n1"),
     Verdict.ALLOW, ""),
    (a("list", "pods", field_selector="spec.nodeName!=n1"), Verdict.NO_OPINION,
     "a node may only list and watch pods with fieldSelector spec.nodeName=n1"),
    (a("list", "pods"), Verdict.NO_OPINION, "a node may only list and watch pods with fieldSelector spec.nodeName=n1"),
    (a("get", "nodes", name="n2"), Verdict.ALLOW, ""),
    (a("patch", "nodes", subresource="status", name="n1"), Verdict.ALLOW, ""),
    (a("patch", "nodes", subresource="status", name="n2"), Verdict.NO_OPINION,
     "a node may only modify its own Node object (n1)"),
    (a("delete", "nodes", name="n1"), Verdict.NO_OPINION, "a node may only modify its own Node object (n1)"),
    (a("create", "nodes"), Verdict.ALLOW, ""),  # the body's name is NodeRestriction's to check
    (a("update", "leases", api_group="coordination.k8s.io", namespace="kube-node-lease", name="n1"), Verdict.ALLOW, ""),
    (a("update", "leases", api_group="coordination.k8s.io", namespace="kube-node-lease", name="n2"),
     Verdict.NO_OPINION, "a node may only use its own Lease (kube-node-lease/n1)"),
    (a("list", "leases", api_group="coordination.k8s.io", namespace="kube-node-lease"), Verdict.NO_OPINION,
     "a node may only use its own Lease (kube-node-lease/n1)"),
    (a("create", "events", namespace="default"), Verdict.ALLOW, ""),
    (a("delete", "events", namespace="default", name="e"), Verdict.NO_OPINION, ""),
    (a("watch", "namespaces"), Verdict.ALLOW, ""),
    (a("create", "serviceaccounts", subresource="token", namespace="default", name="default"), Verdict.ALLOW, ""),
    (a("get", "serviceaccounts", namespace="default", name="default"), Verdict.NO_OPINION, ""),
    (a("list", "deployments", api_group="apps", namespace="default"), Verdict.NO_OPINION, ""),
])
async def test_node_rules(attrs: Attributes, verdict: Verdict, reason: str) -> None:
    decision = await NodeAuthorizer(pod_node).authorize(attrs)
    assert (decision.verdict, decision.reason) == (verdict, reason)


async def test_no_opinion_on_anyone_who_is_not_a_node() -> None:
    for user in (User("viewer"), User("system:node:n1"), User("n1", groups=("system:nodes",))):
        attrs = Attributes(user=user, verb="get", resource="nodes", name="n1")
        assert (await NodeAuthorizer(pod_node).authorize(attrs)).verdict is Verdict.NO_OPINION


def test_selects_only_node() -> None:
    assert selects_only_node("spec.nodeName=n1", "n1")
    assert selects_only_node("metadata.namespace=x,spec.nodeName==n1", "n1")
    assert not selects_only_node("spec.nodeName=n10", "n1")
    assert not selects_only_node(None, "n1")


POD_OF_N1 = {"spec": {"nodeName": "n1",
                      "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "env-cm"}}],
                                      "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}]}],
                      "volumes": [{"name": "v", "projected": {"sources": [{"configMap": {"name": "proj-cm"}}]}},
                                  {"name": "s", "secret": {"secretName": "tls"}}]}}


async def node_pods(node: str, namespace: str) -> list[dict[str, object]]:
    return [POD_OF_N1] if (node, namespace) == ("n1", "default") else []


@pytest.mark.parametrize(("attrs", "verdict"), [
    (a("get", "configmaps", namespace="default", name="env-cm"), Verdict.ALLOW),
    (a("get", "configmaps", namespace="default", name="proj-cm"), Verdict.ALLOW),
    (a("get", "secrets", namespace="default", name="db"), Verdict.ALLOW),
    (a("get", "secrets", namespace="default", name="tls"), Verdict.ALLOW),
    (a("get", "secrets", namespace="default", name="env-cm"), Verdict.NO_OPINION),  # a ConfigMap's name, not a Secret's
    (a("get", "configmaps", namespace="default", name="other"), Verdict.NO_OPINION),
    (a("get", "configmaps", namespace="elsewhere", name="env-cm"), Verdict.NO_OPINION),
    (a("list", "secrets", namespace="default"), Verdict.NO_OPINION),
    (a("update", "configmaps", namespace="default", name="env-cm"), Verdict.NO_OPINION),
])
async def test_a_node_gets_only_the_config_maps_and_secrets_its_pods_reference(attrs: Attributes,
                                                                               verdict: Verdict) -> None:
    decision = await NodeAuthorizer(pod_node, node_pods).authorize(attrs)
    assert decision.verdict is verdict
    if verdict is Verdict.NO_OPINION:
        assert decision.reason == "no relationship found between node 'n1' and this object"


POD_WITH_CLAIM = {"spec": {"nodeName": "n1", "containers": [{"name": "c"}],
                           "volumes": [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}}]}}
VOLUME_CLAIMS = {"pvc-0": ("default", "www-web-0"), "pvc-9": ("default", "www-web-9"), "pvc-x": ("other", "www-web-0")}


async def claim_pods(node: str, namespace: str) -> list[dict[str, object]]:
    return [POD_WITH_CLAIM] if (node, namespace) == ("n1", "default") else []


async def volume_claim(name: str) -> tuple[str, str] | None:
    return VOLUME_CLAIMS.get(name)


@pytest.mark.parametrize(("attrs", "verdict"), [
    (a("get", "persistentvolumeclaims", namespace="default", name="www-web-0"), Verdict.ALLOW),
    (a("get", "persistentvolumes", name="pvc-0"), Verdict.ALLOW),  # bound to the claim its pod names
    (a("get", "persistentvolumeclaims", namespace="default", name="www-web-9"), Verdict.NO_OPINION),
    (a("get", "persistentvolumes", name="pvc-9"), Verdict.NO_OPINION),  # a claim no pod of n1 names
    (a("get", "persistentvolumes", name="pvc-x"), Verdict.NO_OPINION),  # the same claim name, another namespace
    (a("get", "persistentvolumes", name="pvc-unbound"), Verdict.NO_OPINION),
    (a("list", "persistentvolumes"), Verdict.NO_OPINION),
    (a("update", "persistentvolumeclaims", namespace="default", name="www-web-0"), Verdict.NO_OPINION),
])
async def test_a_node_gets_the_claims_its_pods_name_and_the_volumes_bound_to_them(attrs: Attributes,
                                                                                  verdict: Verdict) -> None:
    decision = await NodeAuthorizer(pod_node, claim_pods, volume_claim).authorize(attrs)
    assert decision.verdict is verdict
