"""A fleet of simulated nodes in one process: 100 Nodes register, keep their Leases fresh and stay
Ready; pods bound to them run and complete on the simulated runtime (annotations decide how)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.nodeagent.conftest import AgentProcess, pod_manifest
from tests.support.lab import Lab
from tests.support.polling import eventually

COUNT = 100


@pytest.fixture(scope="module")
def fleet(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Any:
    prefix = f"sim-{uuid.uuid4().hex[:6]}-"
    # A fleet acts for many nodes: the admin kubeconfig, not a node's own (see fleet.py).
    agent = AgentProcess(lab, kubeconfig=lab.kubeconfig, args=["--runtime", "simulated", "--count", str(COUNT),
                                                               "--name-prefix", prefix, "--lease-seconds", "5"],
                         log_file=tmp_path_factory.mktemp("fleet") / "fleet.log")
    agent.start()
    try:
        yield prefix, agent
    finally:
        agent.stop()


def _ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (node.get("status") or {}).get("conditions") or [])


async def test_hundred_simulated_nodes_register_and_stay_ready_with_fresh_leases(
    fleet: Any, api: httpx.AsyncClient
) -> None:
    prefix, agent = fleet

    async def all_ready() -> list[dict[str, Any]] | None:
        nodes = [n for n in (await api.get("/api/v1/nodes")).json()["items"] if n["metadata"]["name"].startswith(prefix)]
        return nodes if len(nodes) == COUNT and all(_ready(n) for n in nodes) else None

    nodes = await eventually(all_ready, timeout=60, message=f"{COUNT} Ready nodes")
    assert {n["status"]["nodeInfo"]["containerRuntimeVersion"] for n in nodes} == {"labkit-sim://1.0"}
    await asyncio.sleep(11)  # more than two lease periods (5 s)
    leases = (await api.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")).json()["items"]
    ours = [lease for lease in leases if lease["metadata"]["name"].startswith(prefix)]
    assert len(ours) == COUNT
    now = datetime.now(UTC)
    for lease in ours:
        renewed = datetime.strptime(lease["spec"]["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        # Still valid: renewed within its leaseDurationSeconds (4 periods, as kubelet's 40 s for 10 s).
        assert lease["spec"]["leaseDurationSeconds"] == 20
        assert (now - renewed).total_seconds() < 20, f"{lease['metadata']['name']} renewed at {renewed}"
    assert agent.process.poll() is None


async def test_pods_bound_to_simulated_nodes_run_and_complete(fleet: Any, api: httpx.AsyncClient, namespace: str) -> None:
    prefix, _ = fleet
    plans = {
        "runs": ({}, "Always", "Running"),
        "completes": ({"sim.labkit.io/run-seconds": "1"}, "Never", "Succeeded"),
        "fails": ({"sim.labkit.io/exit-code": "3"}, "Never", "Failed"),
    }
    for i, (name, (sim, restart, _)) in enumerate(plans.items()):
        manifest = pod_manifest(name, node=f"{prefix}{i + 1}", annotations=sim, restart=restart)
        r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
        assert r.status_code == 201, r.text
    for name, (_, _, phase) in plans.items():
        async def reached(name: str = name, phase: str = phase) -> dict[str, Any] | None:
            pod = (await api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")).json()
            return pod if pod["status"].get("phase") == phase else None

        pod = await eventually(reached, timeout=30, message=f"{name} to be {phase}")
        cs = pod["status"]["containerStatuses"][0]
        assert cs["containerID"].startswith("labkit-sim://")
        if phase == "Failed":
            assert cs["state"]["terminated"]["exitCode"] == 3
    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/runs")
    assert r.status_code == 200

    async def gone() -> bool:
        return (await api.get(f"/api/v1/namespaces/{namespace}/pods/runs")).status_code == 404

    await eventually(gone, timeout=20, message="the deleted pod to be confirmed gone by its node")
