"""Reviews (auth can-i, can-i --list, whoami) and impersonation (--as, --as-group)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.api.errors import BadRequest, Forbidden, Invalid
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.bootstrap import bootstrap_objects
from orchestrator.apiserver.authz.chain import Chain
from orchestrator.apiserver.authz.impersonation import impersonate
from orchestrator.apiserver.authz.node import NodeAuthorizer
from orchestrator.apiserver.authz.rbac import RBACAuthorizer, RBACCache
from orchestrator.apiserver.authz.reviews import (
    review_handlers,
    self_subject_access_review,
    self_subject_review,
    self_subject_rules_review,
    subject_access_review,
)

AZ = "authorization.k8s.io/v1"
G = "rbac.authorization.k8s.io"
ADMIN = User("admin", "admin", ("system:masters",))
VIEWER = User("viewer", "viewer", ("labkit:viewers",))
JANE = User("jane")


async def no_pod(namespace: str, name: str) -> str | None:
    return None


def chain(*extra: dict[str, Any]) -> Chain:
    cache = RBACCache()
    cache.load([*bootstrap_objects(), *extra])
    return Chain([NodeAuthorizer(no_pod), RBACAuthorizer(cache)])


def ssar(**resource: str) -> dict[str, Any]:
    return {"apiVersion": AZ, "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": resource}}


async def test_can_i_answers_as_the_chain_decides() -> None:
    c = chain()
    allowed = await self_subject_access_review(c, VIEWER, ssar(verb="list", resource="pods", namespace="default"))
    assert allowed["status"]["allowed"] is True
    assert allowed["status"]["reason"].startswith('RBAC: allowed by ClusterRoleBinding "labkit:viewers"')
    denied = await self_subject_access_review(c, VIEWER, ssar(verb="delete", resource="pods", namespace="default"))
    assert denied["status"] == {"allowed": False}
    assert denied["kind"] == "SelfSubjectAccessReview" and denied["spec"]["resourceAttributes"]["verb"] == "delete"
    url = {"apiVersion": AZ, "kind": "SelfSubjectAccessReview",
           "spec": {"nonResourceAttributes": {"verb": "get", "path": "/healthz"}}}
    assert (await self_subject_access_review(c, VIEWER, url))["status"]["allowed"] is True


async def test_a_review_needs_exactly_one_kind_of_attributes() -> None:
    with pytest.raises(Invalid) as caught:
        await self_subject_access_review(chain(), VIEWER, {"spec": {}})
    assert caught.value.causes[0].field == "spec.resourceAttributes"
    both = {"spec": {"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"verb": "get", "path": "/"}}}
    with pytest.raises(Invalid, match="cannot be specified in combination with resourceAttributes"):
        await self_subject_access_review(chain(), VIEWER, both)
    with pytest.raises(BadRequest, match="must be a SelfSubjectAccessReview"):
        await self_subject_access_review(chain(), VIEWER, {"kind": "Pod", "spec": {}})


async def test_subject_access_review_asks_about_someone_else() -> None:
    body = {"spec": {"user": "viewer", "groups": ["labkit:viewers"],
                     "resourceAttributes": {"verb": "get", "resource": "nodes", "name": "n1"}}}
    assert (await subject_access_review(chain(), ADMIN, body))["status"]["allowed"] is True
    body["spec"]["resourceAttributes"]["verb"] = "delete"
    assert (await subject_access_review(chain(), ADMIN, body))["status"]["allowed"] is False
    with pytest.raises(Invalid, match="at least one of user or group must be specified"):
        await subject_access_review(chain(), ADMIN, {"spec": {"resourceAttributes": {"verb": "get"}}})


async def test_a_local_review_is_about_the_namespace_of_its_url() -> None:
    binding = {"kind": "RoleBinding", "metadata": {"name": "jane-view", "namespace": "team"},
               "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "User", "apiGroup": G, "name": "jane"}]}
    c = chain(binding)
    body = {"spec": {"user": "jane", "resourceAttributes": {"verb": "list", "resource": "pods"}}}
    answer = await subject_access_review(c, ADMIN, body, namespace="team")
    assert answer["status"]["allowed"] is True
    assert answer["metadata"]["namespace"] == "team"
    assert (await subject_access_review(c, ADMIN, body, namespace="other"))["status"]["allowed"] is False
    body["spec"]["resourceAttributes"]["namespace"] = "other"
    with pytest.raises(Invalid, match="must match metadata.namespace"):
        await subject_access_review(c, ADMIN, body, namespace="team")


async def test_rules_review_lists_what_the_user_may_do_in_a_namespace() -> None:
    review = await self_subject_rules_review(chain(), VIEWER, {"spec": {"namespace": "default"}})
    rules = review["status"]["resourceRules"]
    assert {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]} in rules
    assert any("pods" in r["resources"] and r["verbs"] == ["get", "list", "watch"] for r in rules)
    assert {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]} in \
        review["status"]["nonResourceRules"]
    assert review["status"]["incomplete"] is False
    node = User("system:node:n1", groups=("system:nodes",))
    assert (await self_subject_rules_review(chain(), node, {"spec": {"namespace": "default"}}))["status"]["incomplete"]
    with pytest.raises(BadRequest, match="no namespace on request"):
        await self_subject_rules_review(chain(), VIEWER, {"spec": {}})


def test_whoami_reports_name_uid_and_groups() -> None:
    answer = self_subject_review(VIEWER, {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert answer["status"] == {"userInfo": {"username": "viewer", "uid": "viewer",
                                             "groups": ["labkit:viewers", "system:authenticated"]}}


async def test_the_handlers_answer_201_with_the_review() -> None:
    handlers = review_handlers(chain())
    request = SimpleNamespace(user=VIEWER, body=ssar(verb="get", resource="pods", namespace="x", name="p"),
                              namespace=None)
    code, body = await handlers["selfsubjectaccessreviews.authorization.k8s.io"](None, request)
    assert code == 201 and body["status"]["allowed"] is True
    code, body = await handlers["selfsubjectreviews.authentication.k8s.io"](None, SimpleNamespace(
        user=VIEWER, body={}, namespace=None))
    assert code == 201 and body["status"]["userInfo"]["username"] == "viewer"


# --- impersonation ------------------------------------------------------------------------------


async def test_without_headers_the_user_is_itself() -> None:
    assert await impersonate(VIEWER, [("Accept", "application/json")], chain()) is VIEWER


async def test_an_admin_may_impersonate_users_groups_and_service_accounts() -> None:
    as_jane = await impersonate(ADMIN, [("Impersonate-User", "jane"), ("Impersonate-Group", "devs"),
                                        ("impersonate-group", "ops")], chain())
    assert as_jane == User("jane", "", ("devs", "ops", "system:authenticated"))
    as_sa = await impersonate(ADMIN, [("Impersonate-User", "system:serviceaccount:team:ci")], chain())
    assert as_sa.groups == ("system:authenticated", "system:serviceaccounts", "system:serviceaccounts:team")


async def test_impersonation_is_forbidden_to_those_not_allowed_it() -> None:
    with pytest.raises(Forbidden) as caught:
        await impersonate(VIEWER, [("Impersonate-User", "admin")], chain())
    assert caught.value.message == ('users "admin" is forbidden: User "viewer" cannot impersonate resource "users" in '
                                    'API group "" at the cluster scope')
    # may impersonate the user but not the group it asks for
    may_be_jane = {"kind": "ClusterRole", "metadata": {"name": "be-jane"},
                   "rules": [{"verbs": ["impersonate"], "apiGroups": [""], "resources": ["users"],
                              "resourceNames": ["jane"]}]}
    binding = {"kind": "ClusterRoleBinding", "metadata": {"name": "viewer-be-jane"},
               "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "be-jane"},
               "subjects": [{"kind": "User", "apiGroup": G, "name": "viewer"}]}
    c = chain(may_be_jane, binding)
    assert (await impersonate(VIEWER, [("Impersonate-User", "jane")], c)).name == "jane"
    with pytest.raises(Forbidden, match='groups "system:masters" is forbidden'):
        await impersonate(VIEWER, [("Impersonate-User", "jane"), ("Impersonate-Group", "system:masters")], c)


async def test_edit_may_impersonate_service_accounts_of_its_namespace() -> None:
    binding = {"kind": "RoleBinding", "metadata": {"name": "jane-edit", "namespace": "team"},
               "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "edit"},
               "subjects": [{"kind": "User", "apiGroup": G, "name": "jane"}]}
    c = chain(binding)
    assert (await impersonate(JANE, [("Impersonate-User", "system:serviceaccount:team:ci")], c)).name == \
        "system:serviceaccount:team:ci"
    with pytest.raises(Forbidden, match='serviceaccounts "ci" is forbidden'):
        await impersonate(JANE, [("Impersonate-User", "system:serviceaccount:other:ci")], c)


async def test_groups_without_a_user_are_a_bad_request() -> None:
    with pytest.raises(BadRequest, match=r"requested \[Impersonate-Group: devs\] without impersonating a user"):
        await impersonate(ADMIN, [("Impersonate-Group", "devs")], chain())
