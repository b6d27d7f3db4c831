"""What RBAC objects must satisfy (as kube-apiserver validates them) and how kubectl prints them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.apiserver.registry.rbac import (
    BINDING_COLUMNS,
    ROLE_COLUMNS,
    STRATEGIES,
    binding_row,
    default_binding,
    role_row,
    validate_binding,
    validate_binding_update,
    validate_role,
)

G = "rbac.authorization.k8s.io"


def messages(causes: list[Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in causes]


def test_a_valid_role_and_cluster_role_have_no_problems() -> None:
    role = {"metadata": {"name": "pod-reader", "namespace": "team"},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]}]}
    assert validate_role(role, namespaced=True) == []
    cluster = {"metadata": {"name": "system:health"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
               "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}
    assert validate_role(cluster, namespaced=False) == []


@pytest.mark.parametrize(("rule", "namespaced", "problem"), [
    ({"apiGroups": [""], "resources": ["pods"]}, True, "rules[0].verbs: Required value: verbs must contain at least one value"),
    ({"verbs": ["get"], "resources": ["pods"]}, True,
     "rules[0].apiGroups: Required value: resource rules must supply at least one api group"),
    ({"verbs": ["get"], "apiGroups": [""]}, True,
     "rules[0].resources: Required value: resource rules must supply at least one resource"),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, True,
     'rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs'),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"], "resources": ["pods"]}, False,
     'rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: rules cannot apply to both regular resources and '
     'non-resource URLs'),
])
def test_a_rule_needs_verbs_and_resources_or_urls(rule: dict[str, Any], namespaced: bool, problem: str) -> None:
    meta = {"name": "r", "namespace": "team"} if namespaced else {"name": "r"}
    assert messages(validate_role({"metadata": meta, "rules": [rule]}, namespaced=namespaced)) == [problem]


def test_names_are_path_segments_and_aggregation_needs_selectors() -> None:
    role, cluster_role, _, cluster_binding = STRATEGIES
    bad = {"metadata": {"name": "a/b"}, "aggregationRule": {}}
    assert messages(cluster_role.validate(bad)) == [
        'metadata.name: Invalid value: "a/b": may not contain \'/\'',
        "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if "
        "aggregationRule is non-nil",
    ]
    assert cluster_role.validate({"metadata": {"name": "system:kube-scheduler"}}) == []
    assert messages(role.validate({"metadata": {"name": "r"}})) == ["metadata.namespace: Required value"]
    assert messages(cluster_binding.validate({"metadata": {"name": "system:masters"}})) == [
        'roleRef.apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io"',
        'roleRef.kind: Unsupported value: "": supported values: "ClusterRole"', "roleRef.name: Required value"]


def test_bindings_are_defaulted_on_create_and_update() -> None:
    binding_strategy = STRATEGIES[2]
    obj = {"metadata": {"name": "b", "namespace": "t"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
           "subjects": [{"kind": "User", "name": "jane"}]}
    binding_strategy.prepare_for_create(obj, now=datetime.now(UTC))
    assert obj["roleRef"]["apiGroup"] == G and obj["subjects"][0]["apiGroup"] == G


def binding(kind: str = "ClusterRole", subjects: list[dict[str, Any]] | None = None, **ref: str) -> dict[str, Any]:
    return {"metadata": {"name": "b", "namespace": "team"},
            "roleRef": {"apiGroup": G, "kind": kind, "name": "view", **ref},
            "subjects": subjects if subjects is not None else [{"kind": "User", "apiGroup": G, "name": "jane"}]}


def test_binding_defaults_and_validation() -> None:
    b = {"metadata": {"name": "b", "namespace": "team"}, "roleRef": {"kind": "Role", "name": "r"},
         "subjects": [{"kind": "Group", "name": "devs"}, {"kind": "ServiceAccount", "name": "ci"}]}
    default_binding(b)
    assert b["roleRef"]["apiGroup"] == G
    assert b["subjects"][0]["apiGroup"] == G and "apiGroup" not in b["subjects"][1]
    assert validate_binding(b, namespaced=True) == []
    # a ServiceAccount in a ClusterRoleBinding must say which namespace it is in
    cluster = {**b, "metadata": {"name": "b"}, "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "r"}}
    assert messages(validate_binding(cluster, namespaced=False)) == ["subjects[1].namespace: Required value"]


@pytest.mark.parametrize(("obj", "namespaced", "problem"), [
    (binding(kind="Pod"), True, 'roleRef.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole"'),
    ({**binding(kind="Role"), "metadata": {"name": "b"}}, False,
     'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"'),
    (binding(apiGroup="apps"), True,
     'roleRef.apiGroup: Unsupported value: "apps": supported values: "rbac.authorization.k8s.io"'),
    (binding(name=""), True, "roleRef.name: Required value"),
    (binding(subjects=[{"kind": "Robot", "name": "r2"}]), True,
     'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"'),
    (binding(subjects=[{"kind": "User", "apiGroup": G}]), True, "subjects[0].name: Required value"),
    (binding(subjects=[{"kind": "ServiceAccount", "apiGroup": G, "name": "ci"}]), True,
     'subjects[0].apiGroup: Unsupported value: "rbac.authorization.k8s.io": supported values: ""'),
])
def test_a_binding_refers_to_a_role_and_names_valid_subjects(obj: dict[str, Any], namespaced: bool,
                                                            problem: str) -> None:
    if not namespaced:
        obj["metadata"] = {"name": "b"}
    assert messages(validate_binding(obj, namespaced=namespaced)) == [problem]


def test_role_ref_is_immutable() -> None:
    old = binding()
    assert validate_binding_update({**old, "subjects": []}, old) == []
    assert messages(validate_binding_update(binding(name="edit"), old)) == [
        "roleRef: Invalid value: {APIGroup:rbac.authorization.k8s.io Kind:ClusterRole Name:edit}: cannot change roleRef"]


def test_tables_print_as_kubectl_does() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert [c["name"] for c in ROLE_COLUMNS] == ["Name", "Created At"]
    assert role_row({"metadata": {"name": "r", "creationTimestamp": "2026-01-01T11:00:00Z"}}, now) == (
        ["r", "2026-01-01T11:00:00Z"], None)
    assert [(c["name"], c["priority"]) for c in BINDING_COLUMNS] == [
        ("Name", 0), ("Role", 0), ("Age", 0), ("Users", 1), ("Groups", 1), ("ServiceAccounts", 1)]
    b = binding(subjects=[{"kind": "User", "name": "jane"}, {"kind": "User", "name": "joe"},
                          {"kind": "Group", "name": "devs"}, {"kind": "ServiceAccount", "name": "ci", "namespace": "t"}])
    b["metadata"]["creationTimestamp"] = "2026-01-01T11:00:00Z"
    assert binding_row(b, now) == (["b", "ClusterRole/view", "60m", "jane, joe", "devs", "t/ci"], None)
