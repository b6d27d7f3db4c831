"""Two labs on one Docker engine, both with a node of the same name: each agent keeps to its own lab.

The session `lab` is "our" lab. A "foreign" lab is simulated by a second kubeconfig with another
CA (so another cluster id) and containers made by hand with that cluster's labels, as a foreign
agent would have left them. Our agent runs on the same node name, with orphan checks every
second, and must neither adopt the foreign containers nor remove them, while it does remove an
orphan of its own cluster.

The node name is unique per test run rather than ``node-1``: other test sessions on this shared
engine clean up with a filter on the node label alone (conftest `remove_node_containers`), and
would remove the hand-made containers of a ``node-1`` from under this test.

Needs a Docker engine and labkit/busybox:1.0; skipped without them unless LABKIT_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_pki, write_kubeconfig
from orchestrator.nodeagent.cluster import cluster_id
from orchestrator.nodeagent.runtimes.base import (
    LABEL_CLUSTER,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RESTART_COUNT,
)
from tests.integration.nodeagent.conftest import (
    AgentProcess,
    ensure_node_object,
    pod_manifest,
    wait_node_ready,
)
from tests.support.lab import Lab
from tests.support.polling import eventually
from tests.support.skips import require_docker

IMAGE = "labkit/busybox:1.0"


@pytest.fixture
def shared_node(lab: Lab) -> Iterator[str]:
    """A node name both labs use; every container labelled with it is removed afterwards."""
    require_docker()
    name = f"node-1-{uuid.uuid4().hex[:6]}"
    ensure_node_object(lab, name)
    try:
        yield name
    finally:
        client = docker.from_env()
        try:
            for c in client.containers.list(all=True, filters={"label": f"{LABEL_NODE}={name}"}):
                c.remove(force=True)
        finally:
            client.close()
        with httpx.Client(base_url=lab.server, verify=ssl.create_default_context(cafile=str(lab.ca_file)),
                          headers={"Authorization": f"Bearer {lab.tokens['admin']}"}, timeout=30) as api:
            api.delete(f"/api/v1/nodes/{name}")


def foreign_cluster_id(lab: Lab, tmp_path: Path) -> str:
    """The id an agent of another lab (its own CA, even the same server URL) would use."""
    home = LabHome(tmp_path / "foreign-lab")
    ensure_pki(home)
    kubeconfig = tmp_path / "foreign-node-1.kubeconfig"
    write_kubeconfig(kubeconfig, server=lab.server, ca_pem=home.ca_cert.read_bytes(), token="foreign",
                     user="system:node:node-1")
    return cluster_id(kubeconfig)


def hand_made(client: docker.DockerClient, *, node: str, uid: str, namespace: str, pod: str,
              cluster: str | None) -> Any:
    """A running container labelled as a node agent of `cluster` would label it (no cluster: an old agent's)."""
    labels = {LABEL_POD_UID: uid, LABEL_POD_NAMESPACE: namespace, LABEL_POD_NAME: pod,
              LABEL_CONTAINER_NAME: "main", LABEL_RESTART_COUNT: "0", LABEL_NODE: node}
    if cluster is not None:
        labels[LABEL_CLUSTER] = cluster
    return client.containers.run(IMAGE, ["sleep", "3600"], detach=True, labels=labels,
                                  name=f"handmade-{uuid.uuid4().hex[:10]}")


def present(client: docker.DockerClient, container_id: str) -> dict[str, Any] | None:
    try:
        return dict(client.api.inspect_container(container_id))
    except docker.errors.NotFound:
        return None


async def test_an_agent_neither_adopts_nor_removes_another_labs_containers_on_its_node_name(
    lab: Lab, api: httpx.AsyncClient, namespace: str, shared_node: str, tmp_path: Path
) -> None:
    ours = cluster_id(lab.kubeconfig)
    theirs = foreign_cluster_id(lab, tmp_path)
    assert ours == cluster_id(lab.kubeconfig_for("node-1")) == cluster_id(lab.kubeconfig_for("node-2"))
    assert theirs != ours

    r = await api.post(f"/api/v1/namespaces/{namespace}/pods",
                       json=pod_manifest("web", node=shared_node, script="sleep 3600", grace=1))
    assert r.status_code == 201, r.text
    uid = r.json()["metadata"]["uid"]

    client = docker.from_env()
    agent: AgentProcess | None = None
    try:
        # The foreign lab's container for a pod with our pod's uid (a lab restored from the same
        # snapshot): before the cluster label, our agent adopted it as the pod's container.
        foreign_twin = hand_made(client, node=shared_node, uid=uid, namespace=namespace, pod="web", cluster=theirs)
        foreign_other = hand_made(client, node=shared_node, uid=str(uuid.uuid4()), namespace="default",
                                  pod="theirs", cluster=theirs)
        legacy = hand_made(client, node=shared_node, uid=str(uuid.uuid4()), namespace="default", pod="old",
                           cluster=None)
        own_orphan = hand_made(client, node=shared_node, uid=str(uuid.uuid4()), namespace=namespace,
                               pod="deleted-long-ago", cluster=ours)
        untouchable = {c.id: present(client, c.id) for c in (foreign_twin, foreign_other, legacy)}

        agent = AgentProcess(lab, kubeconfig=lab.kubeconfig, log_file=tmp_path / "agent.log",
                             args=["--name", shared_node, "--runtime", "docker", "--orphan-check-seconds", "1"])
        agent.start()
        wait_node_ready(lab, shared_node, agent)

        async def running_status() -> dict[str, Any] | None:
            r = await api.get(f"/api/v1/namespaces/{namespace}/pods/web")
            statuses = r.json().get("status", {}).get("containerStatuses") or []
            return statuses[0] if statuses and "running" in statuses[0].get("state", {}) else None

        status = await eventually(running_status, timeout=60, message="pod web to run in a container of its own")
        own_id = status["containerID"].removeprefix("docker://")
        assert own_id != foreign_twin.id
        assert present(client, own_id)["Config"]["Labels"][LABEL_CLUSTER] == ours  # type: ignore[index]

        # An orphan is removed only when seen at two orphan checks in a row, so its removal
        # proves at least two checks ran while the foreign containers stood next to it.
        async def own_orphan_removed() -> bool:
            return present(client, own_orphan.id) is None

        await eventually(own_orphan_removed, timeout=60, message="the agent to remove its own cluster's orphan")

        for container_id, before in untouchable.items():
            after = present(client, container_id)
            assert after is not None, f"container {container_id[:12]} was removed:\n{agent.log()}"
            assert before is not None
            assert after["State"]["Running"] and after["State"]["StartedAt"] == before["State"]["StartedAt"]
            assert after["Config"]["Labels"] == before["Config"]["Labels"]
            assert container_id[:12] not in agent.log()
        assert "adopted" not in agent.log()
    finally:
        if agent is not None:
            agent.stop()
        client.close()
