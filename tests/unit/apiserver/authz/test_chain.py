"""The chain's order of decision, kube-apiserver's Forbidden sentences, request attributes."""

from __future__ import annotations

import pytest

from orchestrator.api.errors import Forbidden
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import (
    Attributes,
    Chain,
    Decision,
    PrivilegedGroups,
    Verdict,
    forbidden,
    groups_of,
    service_account_of,
)
from orchestrator.apiserver.authz.requestinfo import request_attributes

VIEWER = User("viewer", "viewer", ("labkit:viewers",))


class Fixed:
    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.asked = 0

    async def authorize(self, attrs: Attributes) -> Decision:
        self.asked += 1
        return self.decision


async def test_the_first_authorizer_with_an_opinion_decides() -> None:
    deny, allow = Fixed(Decision.deny("no")), Fixed(Decision.allow())
    assert (await Chain([Fixed(Decision.no_opinion()), deny, allow]).authorize(Attributes(VIEWER, "get"))).verdict \
        is Verdict.DENY
    assert allow.asked == 0
    decision = await Chain([Fixed(Decision.no_opinion("not bound")), Fixed(Decision.no_opinion())]).authorize(
        Attributes(VIEWER, "get"))
    assert decision == Decision.no_opinion("not bound")


async def test_check_raises_forbidden_with_the_reasons_of_those_without_opinion() -> None:
    chain = Chain([Fixed(Decision.no_opinion("the pod is not bound to node n1"))])
    attrs = Attributes(User("system:node:n1"), "get", "pods", namespace="ns", name="x")
    with pytest.raises(Forbidden) as caught:
        await chain.check(attrs)
    assert str(caught.value.message) == ('pods "x" is forbidden: User "system:node:n1" cannot get resource "pods" in '
                                         'API group "" in the namespace "ns": the pod is not bound to node n1')
    assert caught.value.status()["details"] == {"name": "x", "kind": "pods"}


@pytest.mark.parametrize(("attrs", "message"), [
    (Attributes(VIEWER, "delete", "deployments", api_group="apps", namespace="default", name="web"),
     'deployments.apps "web" is forbidden: User "viewer" cannot delete resource "deployments" in API group "apps" in '
     'the namespace "default"'),
    (Attributes(VIEWER, "list", "pods", namespace="default"),
     'pods is forbidden: User "viewer" cannot list resource "pods" in API group "" in the namespace "default"'),
    (Attributes(VIEWER, "patch", "nodes", subresource="status", name="n2"),
     'nodes "n2" is forbidden: User "viewer" cannot patch resource "nodes/status" in API group "" at the cluster scope'),
    (Attributes.non_resource(VIEWER, "get", "/metrics"), 'forbidden: User "viewer" cannot get path "/metrics"'),
])
def test_forbidden_messages_read_as_kube_apiserver_writes_them(attrs: Attributes, message: str) -> None:
    assert forbidden(attrs).message == message


def test_authenticated_users_get_the_implicit_groups_once() -> None:
    assert groups_of(VIEWER) == ("labkit:viewers", "system:authenticated")
    assert groups_of(User("x", groups=("system:authenticated",))) == ("system:authenticated",)
    assert groups_of(User("system:serviceaccount:team:ci")) == (
        "system:authenticated", "system:serviceaccounts", "system:serviceaccounts:team")
    assert groups_of(User("system:anonymous")) == ("system:unauthenticated",)
    assert service_account_of("system:serviceaccount:team:ci") == ("team", "ci")
    assert service_account_of("system:serviceaccount:team") is None
    assert service_account_of("system:serviceaccount:a:b:c") is None


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/api/v1/namespaces/ns/pods", {}, ("list", "", "pods", "", "ns", "")),
    ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"}, ("watch", "", "pods", "", "ns", "")),
    ("GET", "/api/v1/namespaces/ns/pods", {"watch": "1", "fieldSelector": "metadata.name=web"},
     ("watch", "", "pods", "", "ns", "web")),
    ("GET", "/api/v1/namespaces/ns/pods/web/log", {}, ("get", "", "pods", "log", "ns", "web")),
    ("POST", "/apis/apps/v1/namespaces/ns/deployments", {}, ("create", "apps", "deployments", "", "ns", "")),
    ("PUT", "/apis/apps/v1/namespaces/ns/deployments/web/scale", {}, ("update", "apps", "deployments", "scale", "ns",
                                                                      "web")),
    ("DELETE", "/api/v1/namespaces/ns/pods", {}, ("deletecollection", "", "pods", "", "ns", "")),
    ("DELETE", "/api/v1/nodes/n1", {}, ("delete", "", "nodes", "", "", "n1")),
    ("PATCH", "/api/v1/nodes/n1/status", {}, ("patch", "", "nodes", "status", "", "n1")),
    # a namespace is read in its own scope: a RoleBinding there may grant reading it
    ("GET", "/api/v1/namespaces/ns", {}, ("get", "", "namespaces", "", "ns", "ns")),
    ("PUT", "/api/v1/namespaces/ns/finalize", {}, ("update", "", "namespaces", "finalize", "ns", "ns")),
    ("GET", "/api/v1/namespaces", {}, ("list", "", "namespaces", "", "", "")),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {},
     ("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", "")),
])
def test_request_attributes_of_resource_requests(method: str, path: str, query: dict[str, str],
                                                 expected: tuple[str, ...]) -> None:
    a = request_attributes(VIEWER, method, path, query)
    assert a.resource_request
    assert (a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name) == expected


@pytest.mark.parametrize("path", ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/healthz", "/openapi/v3",
                                  "/version"])
def test_discovery_and_health_are_non_resource_requests(path: str) -> None:
    a = request_attributes(VIEWER, "GET", path, {})
    assert not a.resource_request
    assert (a.verb, a.path) == ("get", path)


async def test_system_masters_are_allowed_before_anyone_else_is_asked() -> None:
    behind = Fixed(Decision.deny("RBAC would say no"))
    chain = Chain([PrivilegedGroups(), behind])
    admin = User("admin", "admin", ("system:masters",))
    assert (await chain.authorize(Attributes(user=admin, verb="delete", resource="nodes"))).allowed
    assert behind.asked == 0
    assert not (await chain.authorize(Attributes(user=VIEWER, verb="delete", resource="nodes"))).allowed
    assert behind.asked == 1
