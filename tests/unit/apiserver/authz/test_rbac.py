"""The RBAC authorizer: rule matching, subjects, binding scopes, aggregation, the cache's feed."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes, Verdict
from orchestrator.apiserver.authz.rbac import RBACAuthorizer, RBACCache, aggregate, rule_allows

G = "rbac.authorization.k8s.io"
ALICE = User("alice", "a", ("devs",))


def attrs(verb: str, resource: str, *, group: str = "", sub: str = "", ns: str = "", name: str = "",
          user: User = ALICE) -> Attributes:
    return Attributes(user=user, verb=verb, resource=resource, api_group=group, subresource=sub, namespace=ns,
                      name=name)


def role(name: str, rules: list[dict[str, Any]], *, ns: str | None = None, labels: dict[str, str] | None = None,
         aggregate_labels: dict[str, str] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"kind": "Role" if ns else "ClusterRole", "apiVersion": f"{G}/v1",
                           "metadata": {"name": name, "labels": labels or {}}, "rules": rules}
    if ns:
        obj["metadata"]["namespace"] = ns
    if aggregate_labels:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": aggregate_labels}]}
    return obj


def binding(name: str, role_kind: str, role_name: str, subjects: list[dict[str, Any]], *,
            ns: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"kind": "RoleBinding" if ns else "ClusterRoleBinding", "apiVersion": f"{G}/v1",
                           "metadata": {"name": name}, "roleRef": {"apiGroup": G, "kind": role_kind, "name": role_name},
                           "subjects": subjects}
    if ns:
        obj["metadata"]["namespace"] = ns
    return obj


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "apiGroup": G, "name": name}


def group(name: str) -> dict[str, str]:
    return {"kind": "Group", "apiGroup": G, "name": name}


def authorizer(*objects: dict[str, Any]) -> RBACAuthorizer:
    cache = RBACCache()
    cache.load(objects)
    return RBACAuthorizer(cache)


# --- one rule ------------------------------------------------------------------------------------

PODS_GET = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}


@pytest.mark.parametrize(("rule", "request_", "allowed"), [
    (PODS_GET, attrs("get", "pods", name="p"), True),
    (PODS_GET, attrs("list", "pods"), False),
    (PODS_GET, attrs("get", "pods", group="apps", name="p"), False),
    # a rule for pods does not reach a subresource: subresources are granted by name
    (PODS_GET, attrs("get", "pods", sub="log", name="p"), False),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, attrs("get", "pods", sub="log", name="p"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}, attrs("get", "pods", sub="log", name="p"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}, attrs("get", "pods", name="p"), False),
    ({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, attrs("delete", "deployments", group="apps", sub="scale"),
     True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]},
     attrs("get", "pods", name="web"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]},
     attrs("get", "pods", name="db"), False),
    # resourceNames never allow a request that names no object (list, create)
    ({"verbs": ["list", "create"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]},
     attrs("list", "pods"), False),
    ({"verbs": ["list", "create"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]},
     attrs("create", "pods"), False),
    # a URL rule never matches a resource request and the other way round
    ({"verbs": ["get"], "nonResourceURLs": ["*"]}, attrs("get", "pods", name="p"), False),
    (PODS_GET, Attributes.non_resource(ALICE, "get", "/pods"), False),
])
def test_a_rule_matches_verb_group_resource_subresource_and_name(rule: dict[str, Any], request_: Attributes,
                                                                 allowed: bool) -> None:
    assert rule_allows(request_, rule) is allowed


@pytest.mark.parametrize(("urls", "path", "allowed"), [
    (["/healthz"], "/healthz", True),
    (["/healthz"], "/healthz/ping", False),
    (["/apis/*"], "/apis/apps/v1", True),
    (["/apis/*"], "/apis", False),
    (["/apis*"], "/apis", True),
    (["*"], "/anything/at/all", True),
])
def test_non_resource_urls_match_exactly_or_by_a_trailing_star(urls: list[str], path: str, allowed: bool) -> None:
    rule = {"verbs": ["get"], "nonResourceURLs": urls}
    assert rule_allows(Attributes.non_resource(ALICE, "get", path), rule) is allowed
    assert not rule_allows(Attributes.non_resource(ALICE, "post", path), rule)


# --- subjects and scopes ----------------------------------------------------------------------


async def test_a_cluster_role_binding_grants_everywhere_a_role_binding_in_its_namespace_only() -> None:
    reader = role("pod-reader", [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}])
    a = authorizer(reader, binding("alice-reads", "ClusterRole", "pod-reader", [user("alice")], ns="team"))
    assert (await a.authorize(attrs("list", "pods", ns="team"))).allowed
    assert not (await a.authorize(attrs("list", "pods", ns="other"))).allowed
    assert not (await a.authorize(attrs("list", "pods"))).allowed  # across all namespaces: no
    a = authorizer(reader, binding("alice-reads", "ClusterRole", "pod-reader", [user("alice")]))
    assert (await a.authorize(attrs("list", "pods"))).allowed
    assert (await a.authorize(attrs("list", "pods", ns="other"))).allowed


async def test_a_role_is_used_only_by_bindings_of_its_own_namespace() -> None:
    r = role("reader", [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}], ns="team")
    a = authorizer(r, binding("b", "Role", "reader", [user("alice")], ns="team"),
                   binding("b", "Role", "reader", [user("alice")], ns="other"))
    assert (await a.authorize(attrs("get", "configmaps", ns="team", name="c"))).allowed
    # the binding in "other" names a Role "reader" that does not exist there: it grants nothing
    decision = await a.authorize(attrs("get", "configmaps", ns="other", name="c"))
    assert decision.verdict is Verdict.NO_OPINION
    assert 'role.rbac.authorization.k8s.io "reader" not found' in decision.reason


async def test_groups_service_accounts_and_implicit_groups_are_subjects() -> None:
    r = role("r", [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}])
    sa = User("system:serviceaccount:team:builder", "u1")
    a = authorizer(r, binding("sa", "ClusterRole", "r", [{"kind": "ServiceAccount", "name": "builder",
                                                         "namespace": "team"}]))
    assert (await a.authorize(attrs("get", "pods", ns="x", name="p", user=sa))).allowed
    assert not (await a.authorize(attrs("get", "pods", ns="x", name="p",
                                        user=User("system:serviceaccount:other:builder")))).allowed
    # a ServiceAccount subject of a RoleBinding defaults to the binding's namespace
    a = authorizer(r, binding("sa", "ClusterRole", "r", [{"kind": "ServiceAccount", "name": "builder"}], ns="team"))
    assert (await a.authorize(attrs("get", "pods", ns="team", name="p", user=sa))).allowed
    for implied in ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"):
        a = authorizer(r, binding("g", "ClusterRole", "r", [group(implied)]))
        assert (await a.authorize(attrs("get", "pods", ns="x", name="p", user=sa))).allowed, implied
    a = authorizer(r, binding("g", "ClusterRole", "r", [group("system:serviceaccounts:other")]))
    assert not (await a.authorize(attrs("get", "pods", ns="x", name="p", user=sa))).allowed
    a = authorizer(r, binding("g", "ClusterRole", "r", [group("devs")]))
    assert (await a.authorize(attrs("get", "pods", ns="x", name="p"))).allowed
    assert not (await a.authorize(attrs("get", "pods", ns="x", name="p", user=User("bob")))).allowed


async def test_non_resource_urls_are_granted_only_by_cluster_role_bindings() -> None:
    r = role("health", [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}])
    a = authorizer(r, binding("b", "ClusterRole", "health", [user("alice")], ns="team"))
    assert not (await a.authorize(Attributes.non_resource(ALICE, "get", "/healthz"))).allowed
    a = authorizer(r, binding("b", "ClusterRole", "health", [user("alice")]))
    assert (await a.authorize(Attributes.non_resource(ALICE, "get", "/healthz"))).allowed


async def test_the_allow_reason_names_the_binding_role_and_subject() -> None:
    a = authorizer(role("r", [PODS_GET]), binding("devs-read", "ClusterRole", "r", [group("devs")]))
    decision = await a.authorize(attrs("get", "pods", ns="x", name="p"))
    assert decision.reason == 'RBAC: allowed by ClusterRoleBinding "devs-read" of ClusterRole "r" to Group "devs"'


# --- aggregation -------------------------------------------------------------------------------


def test_aggregation_is_the_union_of_matching_roles_transitively_without_duplicates() -> None:
    view_rule = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
    edit_rule = {"verbs": ["create"], "apiGroups": [""], "resources": ["pods"]}
    roles = [
        role("view", [{"verbs": ["stale"], "apiGroups": [""], "resources": ["ignored"]}],
             labels={"agg/edit": "true"}, aggregate_labels={"agg/view": "true"}),
        role("edit", [], aggregate_labels={"agg/edit": "true"}),
        role("to-view", [view_rule], labels={"agg/view": "true"}),
        role("to-view-again", [view_rule], labels={"agg/view": "true"}),
        role("to-edit", [edit_rule], labels={"agg/edit": "true"}),
        role("unrelated", [{"verbs": ["delete"], "apiGroups": ["*"], "resources": ["*"]}]),
    ]
    effective = aggregate(roles)
    assert list(effective["view"]) == [view_rule]  # its stored rules are not consulted
    assert list(effective["edit"]) == [edit_rule, view_rule]
    assert list(effective["unrelated"]) == [roles[-1]["rules"][0]]


def test_aggregation_terminates_on_a_cycle() -> None:
    # a gathers b and b gathers a: neither has rules of its own (an aggregating role's are ignored)
    a = role("a", [], labels={"x": "b"}, aggregate_labels={"x": "a"})
    b = role("b", [PODS_GET], labels={"x": "a"}, aggregate_labels={"x": "b"})
    c = role("c", [PODS_GET], labels={"x": "a"})
    assert aggregate([a, b]) == {"a": (), "b": ()}
    assert aggregate([a, b, c]) == {"a": (PODS_GET,), "b": (PODS_GET,), "c": (PODS_GET,)}


async def test_a_new_aggregated_role_takes_effect_on_the_next_request() -> None:
    cache = RBACCache()
    cache.load([role("view", [], aggregate_labels={"agg/view": "true"}),
                binding("alice-view", "ClusterRole", "view", [user("alice")])])
    a = RBACAuthorizer(cache)
    request = attrs("list", "widgets", group="example.com", ns="x")
    assert not (await a.authorize(request)).allowed
    cache.apply("ADDED", role("widgets-view", [{"verbs": ["list"], "apiGroups": ["example.com"],
                                                "resources": ["widgets"]}], labels={"agg/view": "true"}))
    assert (await a.authorize(request)).allowed
    cache.apply("MODIFIED", role("widgets-view", [{"verbs": ["list"], "apiGroups": ["example.com"],
                                                   "resources": ["widgets"]}], labels={}))
    assert not (await a.authorize(request)).allowed


# --- the cache's feed --------------------------------------------------------------------------


async def test_watch_events_add_change_and_remove_grants() -> None:
    cache = RBACCache()
    assert not cache.synced
    cache.load([])
    assert cache.synced
    a = RBACAuthorizer(cache)
    request = attrs("get", "pods", ns="x", name="p")
    cache.apply("ADDED", role("r", [PODS_GET]))
    cache.apply("ADDED", binding("b", "ClusterRole", "r", [user("bob")]))
    assert not (await a.authorize(request)).allowed
    cache.apply("MODIFIED", binding("b", "ClusterRole", "r", [user("bob"), user("alice")]))
    assert (await a.authorize(request)).allowed
    cache.apply("BOOKMARK", {"kind": "ClusterRoleBinding", "metadata": {"resourceVersion": "9"}})
    assert (await a.authorize(request)).allowed
    cache.apply("DELETED", role("r", []))
    assert not (await a.authorize(request)).allowed


def test_a_relist_of_one_kind_replaces_only_that_kind() -> None:
    cache = RBACCache()
    cache.load([role("r", [PODS_GET]), binding("b", "ClusterRole", "r", [user("alice")])])
    cache.load([], kind="ClusterRoleBinding")
    assert cache.get("ClusterRole", "", "r") is not None
    assert cache.objects("ClusterRoleBinding") == []
    # items of a List from the wire carry no kind: the caller names it
    cache.load([{"metadata": {"name": "b2"}, "roleRef": {"kind": "ClusterRole", "name": "r"}, "subjects": [user("x")]}],
               kind="ClusterRoleBinding")
    assert cache.get("ClusterRoleBinding", "", "b2") is not None
    with pytest.raises(ValueError, match="kind 'Pod'"):
        cache.apply("ADDED", {"kind": "Pod", "metadata": {"name": "p"}})


def test_rules_for_lists_cluster_wide_and_namespace_rules() -> None:
    a = authorizer(role("r", [PODS_GET, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]),
                   role("ns-r", [{"verbs": ["list"], "apiGroups": [""], "resources": ["configmaps"],
                                  "resourceNames": ["c"]}], ns="team"),
                   binding("b", "ClusterRole", "r", [user("alice")]),
                   binding("b", "Role", "ns-r", [user("alice")], ns="team"))
    team = a.rules_for(ALICE, "team")
    assert {"verbs": ["list"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["c"]} in team.resource_rules
    assert {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]} in team.resource_rules
    assert team.non_resource_rules == [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]
    other = a.rules_for(ALICE, "other")
    assert other.resource_rules == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]
