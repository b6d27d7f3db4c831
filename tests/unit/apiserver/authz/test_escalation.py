"""Escalation prevention: a role or binding may only grant what its author holds."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.errors import Forbidden
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.bootstrap import bootstrap_objects
from orchestrator.apiserver.authz.escalation import check_binding_write, check_role_write, compact, covers
from orchestrator.apiserver.authz.rbac import RBACAuthorizer, RBACCache

G = "rbac.authorization.k8s.io"
JANE = User("jane")
ADMIN = User("admin", "admin", ("system:masters",))


def rule(verbs: list[str], resources: list[str], groups: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"verbs": verbs, "apiGroups": groups if groups is not None else [""], "resources": resources, **extra}


@pytest.mark.parametrize(("owner", "servant", "ok"), [
    ([rule(["*"], ["*"], ["*"])], [rule(["delete"], ["deployments"], ["apps"])], True),
    ([rule(["get", "list"], ["pods"])], [rule(["get"], ["pods"])], True),
    ([rule(["get"], ["pods"])], [rule(["get", "list"], ["pods"])], False),
    ([rule(["get"], ["pods"])], [rule(["get"], ["pods/log"])], False),
    ([rule(["get"], ["*/log"])], [rule(["get"], ["pods/log"])], True),
    # the servant is split into atoms: two owner rules may cover one servant rule together
    ([rule(["get"], ["pods"]), rule(["list"], ["pods"])], [rule(["get", "list"], ["pods"])], True),
    ([rule(["get"], ["pods"], resourceNames=["a", "b"])], [rule(["get"], ["pods"], resourceNames=["a"])], True),
    ([rule(["get"], ["pods"], resourceNames=["a"])], [rule(["get"], ["pods"])], False),
    ([rule(["get"], ["pods"])], [rule(["get"], ["pods"], resourceNames=["a"])], True),
    ([{"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}], [{"verbs": ["get"], "nonResourceURLs": ["/apis/apps"]}],
     True),
    ([{"verbs": ["get"], "nonResourceURLs": ["/apis"]}], [{"verbs": ["get"], "nonResourceURLs": ["/apis/apps"]}],
     False),
])
def test_rule_covering(owner: list[dict[str, Any]], servant: list[dict[str, Any]], ok: bool) -> None:
    assert covers(owner, servant)[0] is ok


def test_the_missing_atoms_are_named_compactly() -> None:
    ok, missing = covers([rule(["get"], ["pods"])], [rule(["get", "delete"], ["pods"])])
    assert not ok
    assert [compact(m) for m in missing] == ['{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}']


def world(*extra: dict[str, Any]) -> RBACAuthorizer:
    cache = RBACCache()
    cache.load([*bootstrap_objects(), *extra])
    rbac = RBACAuthorizer(cache)
    return rbac


def edit_in(ns: str, user: str = "jane", role: str = "admin") -> dict[str, Any]:
    return {"kind": "RoleBinding", "metadata": {"name": f"{user}-{role}", "namespace": ns},
            "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "User", "apiGroup": G, "name": user}]}


def a_role(rules: list[dict[str, Any]], ns: str = "team", kind: str = "Role") -> dict[str, Any]:
    meta = {"name": "r", "namespace": ns} if kind == "Role" else {"name": "r"}
    return {"kind": kind, "metadata": meta, "rules": rules}


def test_a_namespace_admin_may_write_roles_with_rules_it_holds_there_only() -> None:
    rbac = world(edit_in("team"))
    check_role_write(user=JANE, rbac=rbac, kind="Role",
                           obj=a_role([rule(["get", "list"], ["pods"]), rule(["create"], ["secrets"])]))
    with pytest.raises(Forbidden) as caught:
        check_role_write(user=JANE, rbac=rbac, kind="Role",
                               obj=a_role([rule(["get"], ["nodes"])]))
    assert caught.value.message == (
        'roles.rbac.authorization.k8s.io "r" is forbidden: user "jane" (groups=["system:authenticated"]) is attempting '
        'to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}')
    with pytest.raises(Forbidden):  # the same rules, in a namespace where jane holds nothing
        check_role_write(user=JANE, rbac=rbac, kind="Role",
                               obj=a_role([rule(["get"], ["pods"])], ns="other"))


def test_escalate_permits_any_rule_and_masters_skip_the_check() -> None:
    escalator = {"kind": "ClusterRole", "metadata": {"name": "escalator"},
                 "rules": [rule(["escalate"], ["roles"], [G])]}
    binding = edit_in("team", role="escalator")
    rbac = world(escalator, binding)
    check_role_write(user=JANE, rbac=rbac, kind="Role", obj=a_role([rule(["*"], ["*"], ["*"])]))
    check_role_write(user=ADMIN, rbac=rbac, kind="ClusterRole",
                           obj=a_role([rule(["*"], ["*"], ["*"])], kind="ClusterRole"))


def test_an_update_that_changes_no_rule_is_not_checked() -> None:
    rbac = world()
    old = a_role([rule(["*"], ["*"], ["*"])])
    new = {**old, "metadata": {**old["metadata"], "labels": {"touched": "yes"}}}
    check_role_write(user=JANE, rbac=rbac, kind="Role", obj=new, old=old)
    with pytest.raises(Forbidden):
        check_role_write(user=JANE, rbac=rbac, kind="Role", obj=new)


def test_an_aggregation_rule_needs_every_right() -> None:
    rbac = world(edit_in("team"), {"kind": "ClusterRoleBinding", "metadata": {"name": "j"},
                                          "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "view"},
                                          "subjects": [{"kind": "User", "apiGroup": G, "name": "jane"}]})
    role = {"kind": "ClusterRole", "metadata": {"name": "mine"}, "rules": [],
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}}
    with pytest.raises(Forbidden, match="must have cluster-admin privileges to use the aggregationRule"):
        check_role_write(user=JANE, rbac=rbac, kind="ClusterRole", obj=role)
    check_role_write(user=ADMIN, rbac=rbac, kind="ClusterRole", obj=role)


def test_binding_a_role_needs_its_rules_or_bind() -> None:
    rbac = world(edit_in("team", role="edit"))
    view = edit_in("team", user="bob", role="view")
    check_binding_write(user=JANE, rbac=rbac, kind="RoleBinding", obj=view)
    # the namespace of the request, when the body does not say it
    unplaced = {**view, "metadata": {"name": "b"}}
    check_binding_write(user=JANE, rbac=rbac, kind="RoleBinding", obj=unplaced,
                              namespace="team")
    with pytest.raises(Forbidden):
        check_binding_write(user=JANE, rbac=rbac, kind="RoleBinding", obj=unplaced,
                                  namespace="other")
    admin = edit_in("team", user="bob", role="admin")
    with pytest.raises(Forbidden, match="attempting to grant RBAC permissions not currently held"):
        check_binding_write(user=JANE, rbac=rbac, kind="RoleBinding", obj=admin)
    cluster_wide = {**view, "kind": "ClusterRoleBinding", "metadata": {"name": "bob-view"}}
    with pytest.raises(Forbidden):  # jane holds view's rules in team only, not cluster-wide
        check_binding_write(user=JANE, rbac=rbac, kind="ClusterRoleBinding", obj=cluster_wide)
    missing = edit_in("team", user="bob", role="no-such-role")
    with pytest.raises(Forbidden, match='clusterroles.rbac.authorization.k8s.io "no-such-role" not found'):
        check_binding_write(user=JANE, rbac=rbac, kind="RoleBinding", obj=missing)


def test_bind_on_a_named_role_permits_binding_it_without_holding_it() -> None:
    binder = {"kind": "ClusterRole", "metadata": {"name": "binder"},
              "rules": [rule(["bind"], ["clusterroles"], [G], resourceNames=["admin"])]}
    rbac = world(binder, edit_in("team", role="binder"))
    check_binding_write(user=JANE, rbac=rbac, kind="RoleBinding",
                              obj=edit_in("team", user="bob", role="admin"))
    with pytest.raises(Forbidden):
        check_binding_write(user=JANE, rbac=rbac, kind="RoleBinding",
                                  obj=edit_in("team", user="bob", role="cluster-admin"))
