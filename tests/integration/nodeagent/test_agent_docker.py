"""The node agent on Docker, end to end: pods bound to node-1 become real containers.

Needs a Docker engine and labkit/busybox:1.0 (.ci/docker.sh); skipped without them unless
LABKIT_REQUIRE_DOCKER=1. The agent runs as node-1 with node-1's own token.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import time
from typing import Any

import docker
import httpx
import pytest

from orchestrator.lab.home import LabHome
from tests.integration.nodeagent.conftest import (
    AgentProcess,
    ensure_node_object,
    pod_manifest,
    wait_node_ready,
)
from tests.support.lab import Lab
from tests.support.polling import eventually
from tests.support.skips import require_docker

NODE = "node-1"


@pytest.fixture
def agent(docker_agent: AgentProcess) -> AgentProcess:
    return docker_agent


async def create(api: httpx.AsyncClient, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod)
    assert r.status_code == 201, r.text
    return r.json()


async def get(api: httpx.AsyncClient, namespace: str, name: str) -> dict[str, Any] | None:
    r = await api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    return r.json() if r.status_code == 200 else None


def status_of(pod: dict[str, Any]) -> dict[str, Any]:
    return (pod.get("containerStatuses") or [{}])[0] if "containerStatuses" in pod else \
        ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]


def containers_of(uid: str) -> list[Any]:
    client = docker.from_env()
    try:
        return client.containers.list(all=True, filters={"label": f"io.kubernetes.pod.uid={uid}"})
    finally:
        client.close()


async def wait_phase(api: httpx.AsyncClient, namespace: str, name: str, phase: str, timeout: float = 30) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        pod = await get(api, namespace, name)
        return pod if pod and pod["status"].get("phase") == phase else None

    return await eventually(check, timeout=timeout, message=f"pod {name} to be {phase}")


async def test_pod_reaches_running_with_a_docker_container_id_and_conditions(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    await create(api, namespace, pod_manifest("web", node=NODE, script="echo hello; sleep 600"))
    pod = await wait_phase(api, namespace, "web", "Running")
    cs = status_of(pod)
    assert cs["containerID"].startswith("docker://")
    assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
    assert cs["imageID"].startswith("sha256:")
    assert "startedAt" in cs["state"]["running"]
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}
    assert pod["status"]["hostIP"] == "127.0.0.1" and pod["status"]["podIP"] and pod["status"]["startTime"]
    [container] = containers_of(pod["metadata"]["uid"])
    assert container.id == cs["containerID"].removeprefix("docker://")
    assert container.labels["io.kubernetes.pod.name"] == "web"
    assert container.labels["labkit.node"] == NODE


@pytest.mark.parametrize(("code", "phase", "reason"), [(0, "Succeeded", "Completed"), (1, "Failed", "Error")])
async def test_exit_code_gives_succeeded_or_failed(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str, code: int, phase: str, reason: str
) -> None:
    await create(api, namespace, pod_manifest("job", node=NODE, script=f"echo done; exit {code}", restart="Never"))
    pod = await wait_phase(api, namespace, "job", phase)
    terminated = status_of(pod)["state"]["terminated"]
    assert terminated["exitCode"] == code and terminated["reason"] == reason
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "PodCompleted"


async def test_crashing_container_is_restarted_with_crashloopbackoff(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    await create(api, namespace, pod_manifest("crash", node=NODE, script="echo boom; exit 2"))

    async def backing_off() -> dict[str, Any] | None:
        pod = await get(api, namespace, "crash")
        cs = status_of(pod or {})
        waiting = (cs.get("state") or {}).get("waiting") or {}
        return pod if waiting.get("reason") == "CrashLoopBackOff" and cs.get("restartCount", 0) >= 2 else None

    pod = await eventually(backing_off, timeout=30, message="CrashLoopBackOff with 2 restarts")
    cs = status_of(pod)
    assert pod["status"]["phase"] == "Running"  # restartPolicy Always: it will run again
    assert cs["lastState"]["terminated"]["exitCode"] == 2
    assert "back-off" in cs["state"]["waiting"]["message"]
    # Only the current and the previous attempt are kept.
    assert len(containers_of(pod["metadata"]["uid"])) <= 2


async def test_on_failure_pod_restarts_until_success(agent: AgentProcess, api: httpx.AsyncClient, namespace: str) -> None:
    script = "exit 1"  # fails every time: OnFailure restarts it
    await create(api, namespace, pod_manifest("retry", node=NODE, script=script, restart="OnFailure"))

    async def restarted() -> dict[str, Any] | None:
        pod = await get(api, namespace, "retry")
        return pod if status_of(pod or {}).get("restartCount", 0) >= 1 else None

    pod = await eventually(restarted, message="a restart under OnFailure")
    assert pod["status"]["phase"] == "Running"  # OnFailure with a failed container: it will run again


async def test_delete_stops_the_container_within_the_grace_period(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    pod = await create(api, namespace, pod_manifest("bye", node=NODE, grace=10,
                                                 script="trap 'exit 0' TERM; while true; do sleep 0.2; done"))
    await wait_phase(api, namespace, "bye", "Running")
    started = time.monotonic()
    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/bye")
    assert r.status_code == 200
    await eventually(lambda: _gone(api, namespace, "bye"), timeout=15, message="the pod to be deleted")
    elapsed = time.monotonic() - started
    # A process that honours SIGTERM ends at once (PID 1 without a handler would ignore it).
    assert elapsed < 6, f"the container exits on SIGTERM; took {elapsed:.1f}s"
    assert containers_of(pod["metadata"]["uid"]) == []


async def test_sigterm_ignoring_container_is_killed_after_the_grace_period(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    script = "trap '' TERM; while true; do sleep 1; done"
    pod = await create(api, namespace, pod_manifest("stubborn", node=NODE, script=script, grace=3))
    await wait_phase(api, namespace, "stubborn", "Running")
    started = time.monotonic()
    await api.delete(f"/api/v1/namespaces/{namespace}/pods/stubborn")
    await eventually(lambda: _gone(api, namespace, "stubborn"), timeout=20, message="the pod to be deleted")
    elapsed = time.monotonic() - started
    assert 2.5 <= elapsed < 10, f"expected the 3 s grace period, then SIGKILL; took {elapsed:.1f}s"
    assert containers_of(pod["metadata"]["uid"]) == []


async def _gone(api: httpx.AsyncClient, namespace: str, name: str) -> bool:
    return (await api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")).status_code == 404


async def test_unpullable_image_gives_errimagepull_then_imagepullbackoff(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    manifest = pod_manifest("nopull", node=NODE, script="true")
    manifest["spec"]["containers"][0].update(image="labkit/doesnotexist:1", imagePullPolicy="Always")
    created = await create(api, namespace, manifest)
    seen: list[str] = []

    async def both() -> bool:
        # A watch sees every status write in order, as `kubectl get pods -w` does; a poll could miss
        # the ErrImagePull that stands for half a second.
        params = {"watch": "1", "resourceVersion": created["metadata"]["resourceVersion"],
                  "fieldSelector": "metadata.name=nopull"}
        async with api.stream("GET", f"/api/v1/namespaces/{namespace}/pods", params=params, timeout=None) as r:
            async for line in r.aiter_lines():
                reason = ((status_of(json.loads(line)["object"]).get("state") or {}).get("waiting") or {}).get("reason")
                if reason and (not seen or seen[-1] != reason):
                    seen.append(reason)
                # The cycle repeats (pull, fail, back off); any ErrImagePull followed by a back-off will do.
                if "ErrImagePull" in seen and "ImagePullBackOff" in seen[seen.index("ErrImagePull"):]:
                    return True
        return False

    # Each failed pull waits for the registry lookup, which a slow resolver can stretch to tens of seconds.
    try:
        assert await asyncio.wait_for(both(), timeout=120)
    except TimeoutError:
        raise AssertionError(f"no ErrImagePull then ImagePullBackOff in 120 s; waiting reasons seen, in order: "
                             f"{seen}") from None
    pod = await get(api, namespace, "nopull")
    assert pod is not None and pod["status"]["phase"] == "Pending"


async def test_readiness_probe_drives_ready_and_liveness_failure_restarts(
    agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    manifest = pod_manifest("probed", node=NODE, script="sleep 2; touch /tmp/ready; sleep 600",
                            readinessProbe=probe)
    await create(api, namespace, manifest)
    pod = await wait_phase(api, namespace, "probed", "Running")
    assert status_of(pod)["ready"] is False  # the file appears after 2 s; not ready before a probe passes

    async def ready() -> dict[str, Any] | None:
        p = await get(api, namespace, "probed")
        return p if status_of(p or {}).get("ready") else None

    pod = await eventually(ready, timeout=20, message="readiness to pass")
    assert next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"

    liveness = {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 2}
    await create(api, namespace, pod_manifest("dying", node=NODE, script="sleep 600", livenessProbe=liveness))

    async def restarted() -> dict[str, Any] | None:
        p = await get(api, namespace, "dying")
        return p if status_of(p or {}).get("restartCount", 0) >= 1 else None

    pod = await eventually(restarted, timeout=30, message="a liveness restart")
    assert status_of(pod)["lastState"]["terminated"]["exitCode"] in (137, 143)


async def test_log_endpoint_serves_logs_tail_and_follow_over_https_to_the_api_servers_certificate(
    agent: AgentProcess, lab: Lab, api: httpx.AsyncClient, namespace: str
) -> None:
    await create(api, namespace, pod_manifest("talker", node=NODE,
                                              script="for i in 1 2 3; do echo line $i; done; sleep 2; echo late; sleep 600"))
    await wait_phase(api, namespace, "talker", "Running")
    node = (await api.get(f"/api/v1/nodes/{NODE}")).json()
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    base = f"https://127.0.0.1:{port}/containerLogs/{namespace}/talker/main"
    token = lab.tokens[f"system:node:{NODE}"]
    anonymous = ssl.create_default_context(cafile=str(lab.ca_file))  # the agent's certificate: the lab CA's
    async with httpx.AsyncClient(timeout=20, verify=anonymous) as client:
        # Without the API server's client certificate, not even the node's own token gets in.
        denied = await client.get(base, headers={"Authorization": f"Bearer {token}"})
        assert denied.status_code == 401 and denied.json()["reason"] == "Unauthorized"
    home = LabHome(lab.home)
    apiserver = ssl.create_default_context(cafile=str(lab.ca_file))
    apiserver.load_cert_chain(str(home.kubelet_client_cert), str(home.kubelet_client_key))
    headers: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=20, verify=apiserver) as client:
        await eventually(lambda: _has(client, base, headers, b"line 3"), message="the first lines")
        tail = await client.get(base, params={"tailLines": "1"}, headers=headers)
        assert tail.content.count(b"\n") == 1
        lines: list[str] = []
        async with client.stream("GET", base, params={"follow": "true"}, headers=headers) as stream:
            async for line in stream.aiter_lines():
                lines.append(line)
                if line == "late":
                    break
        assert lines[:3] == ["line 1", "line 2", "line 3"] and lines[-1] == "late"


async def _has(client: httpx.AsyncClient, url: str, headers: dict[str, str], needle: bytes) -> bool:
    return needle in (await client.get(url, headers=headers)).content


async def test_kubectl_logs_through_the_api_server(agent: AgentProcess, lab: Lab, api: httpx.AsyncClient,
                                                   namespace: str) -> None:
    await create(api, namespace, pod_manifest("hello", node=NODE, script="echo hello from the pod; sleep 600"))
    await wait_phase(api, namespace, "hello", "Running")
    await asyncio.sleep(0.5)
    result = lab.kubectl("logs", "-n", namespace, "hello", check=False)
    assert result.returncode == 0, result.stderr
    assert "hello from the pod" in result.stdout


async def test_node_token_cannot_read_or_change_another_nodes_pods(
    agent: AgentProcess, lab: Lab, api: httpx.AsyncClient, namespace: str
) -> None:
    await create(api, namespace, pod_manifest("theirs", node="node-2", script="sleep 1", restart="Never"))
    async with lab.client(f"system:node:{NODE}") as node1:
        r = await node1.get(f"/api/v1/namespaces/{namespace}/pods/theirs")
        assert r.status_code == 403
        r = await node1.patch(f"/api/v1/namespaces/{namespace}/pods/theirs/status", json={"status": {"phase": "Failed"}},
                              headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 403
        r = await node1.get("/api/v1/pods", params={"fieldSelector": "spec.nodeName=node-2"})
        assert r.status_code == 403


async def test_restarted_agent_adopts_its_containers_without_restarting_them(
    lab: Lab, api: httpx.AsyncClient, namespace: str, tmp_path: Any
) -> None:
    require_docker()
    ensure_node_object(lab, "node-2")
    agent = AgentProcess(lab, kubeconfig=lab.kubeconfig_for("node-2"), args=["--name", "node-2", "--runtime", "docker"],
                         log_file=tmp_path / "node-2.log")
    agent.start()
    try:
        wait_node_ready(lab, "node-2", agent)
        await create(api, namespace, pod_manifest("steady", node="node-2", script="sleep 600"))
        before = status_of(await wait_phase(api, namespace, "steady", "Running"))
        agent.stop(signal.SIGKILL)
        agent.start()

        async def adopted() -> bool:
            return "adopted 1 container" in agent.log()

        # The Node still looks Ready from the first run: wait for the new agent's own word.
        await eventually(adopted, timeout=30, message="the restarted agent to adopt the container")
        await asyncio.sleep(3)  # a few relists: time for a wrong restart to show
        pod = await get(api, namespace, "steady")
        assert pod is not None
        after = status_of(pod)
        assert after["containerID"] == before["containerID"]
        assert after["restartCount"] == before["restartCount"] == 0
        assert len(containers_of(pod["metadata"]["uid"])) == 1
    finally:
        agent.stop()
        for c in docker.from_env().containers.list(all=True, filters={"label": "labkit.node=node-2"}):
            c.remove(force=True)
