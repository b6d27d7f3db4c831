"""Reference solution of the `read-only-role` exercise (notebook 09)."""

from __future__ import annotations

from typing import Any


def manifests(namespace: str) -> list[dict[str, Any]]:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "configmap-reader", "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "auditor-reads-configmaps", "namespace": namespace},
               "subjects": [{"kind": "ServiceAccount", "name": "auditor", "namespace": namespace}],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader"}}
    return [role, binding]
