"""Admission: the checks on the object a write carries, after authorization and before storage."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.errors import Forbidden, NotFound
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver import admission
from orchestrator.apiserver.auth import User

NODE_1 = User("system:node:node-1", "node-1", ("system:nodes",))
ADMIN = User("admin", "admin", ("system:masters",))
PODS = by_group_resource("pods")
NODES = by_group_resource("nodes")
LEASES = by_group_resource("leases.coordination.k8s.io")


class _Namespaces:
    def __init__(self, **namespaces: dict[str, Any]) -> None:
        self._namespaces = namespaces

    async def get(self, name: str) -> dict[str, Any]:
        if name not in self._namespaces:
            raise NotFound(f'namespaces "{name}" not found')
        return self._namespaces[name]


def _attrs(operation: admission.Operation, user: User | None, info: Any, name: str,
           namespace: str | None = None) -> admission.Attributes:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return admission.Attributes(operation, user, info, None, {"metadata": meta}, None)


async def test_namespace_lifecycle_refuses_content_in_missing_or_terminating_namespaces() -> None:
    chain = admission.default_chain(_Namespaces(
        live={"metadata": {"name": "live"}},
        dying={"metadata": {"name": "dying", "deletionTimestamp": "2026-01-01T00:00:00Z"}},
    ))
    await chain.admit(_attrs("CREATE", ADMIN, PODS, "p", "live"))
    with pytest.raises(NotFound, match='namespaces "gone" not found'):
        await chain.admit(_attrs("CREATE", ADMIN, PODS, "p", "gone"))
    with pytest.raises(Forbidden, match="because it is being terminated"):
        await chain.admit(_attrs("CREATE", ADMIN, PODS, "p", "dying"))
    # updates and deletes in a terminating namespace go on: the namespace controller empties it
    await chain.admit(_attrs("UPDATE", ADMIN, PODS, "p", "dying"))
    await chain.admit(_attrs("CREATE", ADMIN, NODES, "node-9"))  # cluster-scoped: no namespace to check


async def test_node_restriction_lets_a_node_write_only_its_own_node_and_lease() -> None:
    chain = admission.default_chain(_Namespaces())
    await chain.validate(_attrs("CREATE", NODE_1, NODES, "node-1"))
    await chain.validate(_attrs("UPDATE", NODE_1, LEASES, "node-1", "kube-node-lease"))
    for attrs in (_attrs("CREATE", NODE_1, NODES, "node-2"),
                  _attrs("CREATE", NODE_1, LEASES, "node-2", "kube-node-lease"),
                  _attrs("CREATE", NODE_1, LEASES, "node-1", "default")):
        with pytest.raises(Forbidden, match='User "system:node:node-1"'):
            await chain.validate(attrs)
    # other identities and the server itself are not nodes: NodeRestriction has nothing to say
    await chain.validate(_attrs("CREATE", ADMIN, NODES, "node-2"))
    await chain.validate(_attrs("CREATE", None, NODES, "node-2"))
