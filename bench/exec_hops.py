"""Where `kubectl exec POD -- true` spends its time: each hop of the path timed on its own.

    .venv/bin/python bench/exec_hops.py [--runs 30] [--home LAB_HOME]

Starts a lab (`labctl up --nodes 1 --runtime docker`) in a temporary home, runs one busybox pod,
and times, interleaved so that a noisy neighbour hurts all alike (medians, milliseconds):

    kubectl       `kubectl exec POD -- true` (a process start, a GET of the pod, the WebSocket exec)
    websocket     the exec WebSocket to the API server from this process (v5.channel.k8s.io, admin
                  token): the API server's authentication, authorization, pod and node reads, the
                  node agent hop and everything below it
    agent         the node agent's exec endpoint directly, with the API server's client certificate
                  over HTTPS (orchestrator/apiserver/kubeletclient.py): the agent and Docker
    docker-sdk    exec create, hijacked start, read to the end, inspect on the engine's socket:
                  what the agent asks Docker for
    docker-cli    `docker exec CONTAINER true` (the bench/exec_roundtrip.py baseline)

The differences between neighbouring rows are the cost of each hop. With --home, an existing lab
(Docker node) is used and left running; its pod `bench` is created if missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import docker
import httpx
import websockets
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.apiserver.kubeletclient import KubeletClient  # noqa: E402
from orchestrator.apiserver.streaming.agent import open_stream  # noqa: E402
from orchestrator.lab.embedded.ports import free_port  # noqa: E402
from orchestrator.lab.home import LabHome  # noqa: E402


def _labctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LABKIT_HOME=str(home))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


class _Nodes:
    """The store, as far as open_stream reads it: the Node objects, read once from the API server
    (so that the agent row times the agent, not a GET)."""

    def __init__(self, api: httpx.AsyncClient) -> None:
        self.api = api
        self.seen: dict[str, dict[str, Any]] = {}

    async def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        if name not in self.seen:
            self.seen[name] = dict((await self.api.get(f"/api/v1/nodes/{name}")).json())
        return self.seen[name]


async def _run(home: Path, runs: int) -> dict[str, list[float]]:
    lab = LabHome(home)
    config = yaml.safe_load(lab.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    token = config["users"][0]["user"]["token"]
    verify = ssl.create_default_context(cafile=str(lab.ca_cert))
    env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig), HOME=str(home))
    engine = docker.APIClient()
    container = engine.containers(filters={"label": "io.kubernetes.pod.name=bench"})[0]["Id"]
    kubelet = KubeletClient(client_cert=lab.kubelet_client_cert, client_key=lab.kubelet_client_key,
                            ca_file=lab.ca_cert)
    async with httpx.AsyncClient(base_url=server, verify=verify, headers={"Authorization": f"Bearer {token}"}) as api:
        pod = (await api.get("/api/v1/namespaces/default/pods/bench")).json()
        node, container_name = pod["spec"]["nodeName"], pod["spec"]["containers"][0]["name"]
        nodes: Any = _Nodes(api)
        ws_url = (server.replace("https://", "wss://") + "/api/v1/namespaces/default/pods/bench/exec?"
                  + urlencode([("command", "true"), ("stdout", "true"), ("stderr", "true")]))

        async def kubectl() -> None:
            proc = await asyncio.create_subprocess_exec("kubectl", "exec", "bench", "--", "true", env=env)
            assert await proc.wait() == 0

        async def websocket() -> None:
            async with websockets.connect(ws_url, ssl=verify, subprotocols=["v5.channel.k8s.io"],  # type: ignore[list-item]
                                          additional_headers={"Authorization": f"Bearer {token}"}) as ws:
                async for message in ws:
                    if isinstance(message, bytes) and message[:1] == b"\x03":
                        assert b"Success" in message, message
                        break

        async def agent() -> None:
            reader, writer = await open_stream(nodes, kubelet, node_name=node,
                                               path=f"/exec/default/bench/{container_name}",
                                               params=[("command", "true"), ("stdout", "true"), ("stderr", "true")])
            frames = await reader.read()
            writer.close()
            assert b"Success" in frames, frames

        def docker_sdk() -> None:
            exec_id = engine.exec_create(container, ["true"])["Id"]
            for _ in engine.exec_start(exec_id, stream=True):
                pass
            assert engine.exec_inspect(exec_id)["ExitCode"] == 0

        async def docker_cli() -> None:
            proc = await asyncio.create_subprocess_exec("docker", "exec", container, "true")
            assert await proc.wait() == 0

        hops: dict[str, Callable[[], Awaitable[None]]] = {
            "kubectl": kubectl, "websocket": websocket, "agent": agent,
            "docker-sdk": lambda: asyncio.to_thread(docker_sdk), "docker-cli": docker_cli}
        times: dict[str, list[float]] = {name: [] for name in hops}
        for hop in hops.values():  # warm up: kubectl's discovery cache, connections
            await hop()
        for _ in range(runs):
            for name, hop in hops.items():
                started = time.perf_counter()
                await hop()
                times[name].append(time.perf_counter() - started)
    engine.close()
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--home", type=Path, help="an existing lab's home (left running)")
    a = p.parse_args()
    if shutil.which("kubectl") is None:
        raise SystemExit("kubectl is required")
    home = a.home or Path(tempfile.mkdtemp(prefix="bench-hops-"))
    if a.home is None:
        up = _labctl(home, "up", "--nodes", "1", "--runtime", "docker", "--port", str(free_port()))
        if up.returncode != 0:
            _labctl(home, "down")
            raise SystemExit(f"labctl up failed:\n{up.stdout}\n{up.stderr}")
    try:
        env = dict(os.environ, KUBECONFIG=str(home / "admin.kubeconfig"), HOME=str(home))
        subprocess.run(["kubectl", "run", "bench", "--image=labkit/busybox:1.0", "--image-pull-policy=IfNotPresent",
                        "--restart=Never", "--command", "--", "sleep", "3600"], env=env, check=False, capture_output=True)
        subprocess.run(["kubectl", "wait", "--for=condition=Ready", "pod/bench", "--timeout=120s"], env=env, check=True,
                       capture_output=True)
        times = asyncio.run(_run(home, a.runs))
        print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")
        for name, values in times.items():
            print(f"{name:>11}: median {statistics.median(values) * 1000:6.1f} ms  "
                  f"(p10 {sorted(values)[len(values) // 10] * 1000:.1f}, p90 {sorted(values)[len(values) * 9 // 10] * 1000:.1f})")
    finally:
        if a.home is None:
            # The node agent removes the pod's container once the pod is deleted; `down` only stops it.
            subprocess.run(["kubectl", "delete", "pod", "bench", "--now", "--timeout=60s"], env=env, check=False,
                           capture_output=True)
            _labctl(home, "down")
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
