"""The bootstrap policy gives today's identities exactly the rights the security suite documents.

The table is the one the security suite runs against a live server
(tests/reliability/security/test_authorization_matrix.py); here every row is put, as the HTTP
request it would be, to the authorizer chain (Node → RBAC over the bootstrap roles) and to the
NodeRestriction check of create bodies, without a server.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.errors import Forbidden
from orchestrator.api.resources import RBAC_GROUP, lookup
from orchestrator.apiserver import admission
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.bootstrap import bootstrap_objects, cluster_roles
from orchestrator.apiserver.authz.chain import Attributes, Chain
from orchestrator.apiserver.authz.node import NodeAuthorizer
from orchestrator.apiserver.authz.rbac import RBACAuthorizer, RBACCache
from orchestrator.apiserver.authz.requestinfo import request_attributes
from orchestrator.lab.home import lab_identities
from tests.reliability.security.test_authorization_matrix import (
    OTHER,
    OWN,
    Row,
    all_rows,
    collection,
    setup_for,
)


async def node_restriction(attrs: Attributes, obj: dict[str, Any]) -> None:
    """NodeRestriction admission on a create body, as the registry runs it."""
    info = lookup(attrs.api_group, attrs.resource)
    assert info is not None
    body = {**obj, "metadata": {**(obj.get("metadata") or {}), "namespace": attrs.namespace or None}}
    await admission.NodeRestriction().admit(admission.Attributes("CREATE", attrs.user, info, None, body, None))


IDENTITIES = {i.name: User(i.user, i.uid, i.groups) for i in lab_identities(nodes=3)}

METHOD = {"get": "GET", "list": "GET", "watch": "GET", "create": "POST", "update": "PUT", "patch": "PATCH",
          "delete": "DELETE", "deletecollection": "DELETE"}


def cache() -> RBACCache:
    c = RBACCache()
    c.load(bootstrap_objects())
    return c


RBAC = RBACAuthorizer(cache())


async def decide(row: Row) -> bool:
    """Whether the chain (and NodeRestriction, for a create's body) lets the row's request through."""
    user = IDENTITIES[row.identity]
    at = setup_for(row, "matrix")
    coll = collection(row.resource, at.namespace)
    item = f"{coll}/{at.name}"
    path = f"{item}/{row.subresource}" if row.subresource else (coll if row.verb in ("list", "watch", "create",
                                                                                    "deletecollection") else item)
    query = {"fieldSelector": at.field_selector} if at.field_selector else {}
    if row.verb == "watch":
        query["watch"] = "true"
    attrs = request_attributes(user, METHOD[row.verb], path, query)
    assert attrs.verb == row.verb, (row, attrs)

    bound = {"own": OWN, "other": OTHER}.get(row.scope)

    async def pod_node(namespace: str, name: str) -> str | None:
        return bound if (namespace, name) == (at.namespace, at.name) else None

    chain = Chain([NodeAuthorizer(pod_node), RBAC])
    if not (await chain.authorize(attrs)).allowed:
        return False
    if row.verb == "create" and not row.subresource:
        try:
            await node_restriction(attrs, {"metadata": {"name": at.name}})
        except Forbidden:
            return False
    return True


# A node's token request passes authorization and is refused by the token handler unless it binds
# a pod the node runs (registry/serviceaccounts.py): the live suite covers it, test_node.py the chain.
ROWS = [row for row in all_rows() if row.expect != "not-served"
        and not (row.identity == "node-1" and row.target == "serviceaccounts/token")]


@pytest.mark.parametrize("row", ROWS, ids=str)
async def test_each_identity_may_do_exactly_what_the_security_table_says(row: Row) -> None:
    assert await decide(row) is (row.expect == "allow")


def test_every_binding_names_a_bootstrap_cluster_role() -> None:
    names = {r["metadata"]["name"] for r in cluster_roles()}
    for obj in bootstrap_objects():
        if obj["kind"] == "ClusterRoleBinding":
            assert obj["roleRef"]["name"] in names, obj["metadata"]["name"]


def test_aggregated_roles_are_stored_with_their_rules_filled_in() -> None:
    by_name = {r["metadata"]["name"]: r for r in cluster_roles()}
    c = cache()
    for name in ("admin", "edit", "view"):
        assert by_name[name]["rules"], name
        assert tuple(by_name[name]["rules"]) == c.cluster_role_rules(name)
    # admin ⊇ edit ⊇ view
    view, edit, admin = (set(map(str, by_name[n]["rules"])) for n in ("view", "edit", "admin"))
    assert view < edit < admin


@pytest.mark.parametrize(("role", "verb", "resource", "group", "sub", "allowed"), [
    ("view", "get", "secrets", "", "", False),  # upstream: view reads no Secrets
    ("view", "list", "configmaps", "", "", True),
    ("view", "list", "roles", RBAC_GROUP, "", False),
    ("view", "get", "pods", "", "log", True),
    ("edit", "create", "secrets", "", "", True),
    ("edit", "create", "pods", "", "exec", True),
    ("edit", "create", "pods", "", "eviction", True),
    ("edit", "create", "serviceaccounts", "", "token", True),
    ("edit", "create", "rolebindings", RBAC_GROUP, "", False),  # granting is admin's
    ("admin", "create", "rolebindings", RBAC_GROUP, "", True),
    ("admin", "create", "localsubjectaccessreviews", "authorization.k8s.io", "", True),
    ("admin", "create", "clusterroles", RBAC_GROUP, "", False),
])
async def test_admin_edit_and_view_in_a_namespace(role: str, verb: str, resource: str, group: str, sub: str,
                                                  allowed: bool) -> None:
    c = cache()
    c.apply("ADDED", {"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "team"},
                      "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
                      "subjects": [{"kind": "User", "apiGroup": RBAC_GROUP, "name": "jane"}]})
    a = RBACAuthorizer(c)
    jane = User("jane")
    attrs = Attributes(user=jane, verb=verb, resource=resource, api_group=group, subresource=sub, namespace="team")
    assert (await a.authorize(attrs)).allowed is allowed
    elsewhere = Attributes(user=jane, verb=verb, resource=resource, api_group=group, subresource=sub, namespace="x")
    assert not (await a.authorize(elsewhere)).allowed


async def test_every_authenticated_user_may_ask_reviews_and_read_discovery() -> None:
    nobody = User("nobody")
    for resource, group in (("selfsubjectaccessreviews", "authorization.k8s.io"),
                            ("selfsubjectrulesreviews", "authorization.k8s.io"),
                            ("selfsubjectreviews", "authentication.k8s.io")):
        assert (await RBAC.authorize(Attributes(user=nobody, verb="create", resource=resource, api_group=group))).allowed
    for path in ("/api", "/apis/apps/v1", "/openapi/v3", "/version", "/healthz"):
        assert (await RBAC.authorize(Attributes.non_resource(nobody, "get", path))).allowed, path
    assert not (await RBAC.authorize(Attributes.non_resource(nobody, "get", "/metrics"))).allowed
    assert not (await RBAC.authorize(Attributes(user=nobody, verb="create", resource="subjectaccessreviews",
                                                api_group="authorization.k8s.io"))).allowed
