"""Who may read metrics.k8s.io (through the API server's aggregation layer), by the bootstrap policy:
whoever has view, edit or admin (system:aggregated-metrics-reader is aggregated into them), admins,
and nobody else; the metrics server's own identity reads Nodes and Pods."""

from __future__ import annotations

import pytest

from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.bootstrap import bootstrap_objects
from orchestrator.apiserver.authz.rbac import RBACAuthorizer, RBACCache
from orchestrator.apiserver.authz.requestinfo import request_attributes
from orchestrator.lab.home import lab_identities

IDENTITIES = {i.name: User(i.user, i.uid, i.groups) for i in lab_identities(nodes=1)}
PODS = "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"
NODES = "/apis/metrics.k8s.io/v1beta1/nodes"


def rbac() -> RBACAuthorizer:
    cache = RBACCache()
    cache.load(bootstrap_objects())
    return RBACAuthorizer(cache)


async def allowed(identity: str, method: str, path: str, query: dict[str, str] | None = None) -> bool:
    attrs = request_attributes(IDENTITIES[identity], method, path, query or {})
    return (await rbac().authorize(attrs)).allowed


@pytest.mark.parametrize(("identity", "expected"), [("admin", True), ("viewer", True), ("scheduler", False),
                                                    ("kube-proxy", False), ("dns", False), ("node-1", False),
                                                    ("metrics-server", False)])
async def test_reading_metrics_follows_view(identity: str, expected: bool) -> None:
    assert await allowed(identity, "GET", PODS) is expected
    assert await allowed(identity, "GET", f"{PODS}/web") is expected
    assert await allowed(identity, "GET", NODES) is expected


async def test_nobody_but_admins_writes_metrics_or_registers_an_apiservice() -> None:
    assert not await allowed("viewer", "DELETE", f"{PODS}/web")
    for identity in ("viewer", "metrics-server", "controller-manager", "admin"):
        expected = identity in ("admin", "controller-manager")  # both may do everything
        assert await allowed(identity, "POST", "/apis/apiregistration.k8s.io/v1/apiservices") is expected


async def test_the_metrics_server_reads_nodes_and_pods_and_nothing_else() -> None:
    assert await allowed("metrics-server", "GET", "/api/v1/nodes", {"watch": "true"})
    assert await allowed("metrics-server", "GET", "/api/v1/pods")
    assert not await allowed("metrics-server", "GET", "/api/v1/secrets")
    assert not await allowed("metrics-server", "PATCH", "/api/v1/nodes/node-1")
