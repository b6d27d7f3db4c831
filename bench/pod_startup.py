"""Node agent: pod startup latency on Docker, and the cost of a 500-node simulated fleet.

    .venv/bin/python bench/pod_startup.py [--pods 30] [--fleet 500] [--seconds 60] [--skip-docker]

A lab is started with `labctl up --nodes 2` in a temporary home and stopped at the end.

1. Startup: two node agents (`--runtime docker`, node-1 and node-2 with their own tokens), the
   image present; 30 pods created with spec.nodeName preset (no scheduler), alternating nodes,
   32 creations in flight. Latency per pod: its creation request sent -> the pod seen Running on a
   watch (client clock). Kubernetes' SLO is p99 <= 5 s; the target here p99 < 2 s.
2. Fleet: `python -m orchestrator.nodeagent --runtime simulated --count 500` with the admin
   kubeconfig (a fleet acts for every node). Once all nodes are registered, the process's CPU time
   and RSS are sampled with psutil for --seconds: CPU share of one core = CPU seconds / wall seconds.
   Target < 10 % of a core and < 300 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.client.rest import ApiClient  # noqa: E402
from orchestrator.lab.components import NodeAgent  # noqa: E402


def _labctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LABKIT_HOME=str(home))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _agent(kubeconfig: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", NodeAgent.module,
                                 *NodeAgent.flags(kubeconfig=kubeconfig, log_port=0, log_bind="127.0.0.1"), *args],
                                stdout=out,
                                stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _wait_ready(admin: ApiClient, names: list[str], timeout: float = 120) -> float:
    started = time.monotonic()
    want = set(names)
    while time.monotonic() - started < timeout:
        nodes = (await admin.list("nodes"))["items"]
        ready = {n["metadata"]["name"] for n in nodes
                 if any(c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {}).get("conditions") or [])}
        if want <= ready:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{len(want - ready)} of {len(want)} nodes not Ready after {timeout}s")


async def startup(admin: ApiClient, home: Path, pods: int) -> dict[str, Any]:
    agents = []
    for name in ("node-1", "node-2"):
        # Until the API server lets a node create its own Node (see docs/benchmarks.md), admin creates it.
        try:
            await admin.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        except Exception:  # noqa: BLE001 - it exists already
            pass
        agents.append(_agent(home / "kubeconfigs" / f"{name}.kubeconfig", home / f"{name}.agent.log",
                             "--name", name, "--runtime", "docker"))
    try:
        await _wait_ready(admin, ["node-1", "node-2"])
        ns = f"bench-{uuid.uuid4().hex[:6]}"
        await admin.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        sent: dict[str, float] = {}
        running: dict[str, float] = {}
        listed = await admin.list("pods", namespace=ns)
        rv = listed["metadata"]["resourceVersion"]

        async def watch() -> None:
            async for event in admin.watch("pods", namespace=ns, resource_version=rv, timeout_seconds=120):
                pod = event.object
                if (pod.get("status") or {}).get("phase") == "Running":
                    running.setdefault(pod["metadata"]["name"], time.perf_counter())
                if len(running) == pods:
                    return

        watcher = asyncio.create_task(watch())
        semaphore = asyncio.Semaphore(32)

        async def create(i: int) -> None:
            name = f"p{i:03d}"
            body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"nodeName": f"node-{i % 2 + 1}", "terminationGracePeriodSeconds": 1,
                             "containers": [{"name": "main", "image": "labkit/busybox:1.0",
                                             "imagePullPolicy": "IfNotPresent", "command": ["sleep", "600"]}]}}
            async with semaphore:
                sent[name] = time.perf_counter()
                await admin.create("pods", body, namespace=ns)

        t0 = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(pods)))
        await asyncio.wait_for(watcher, 120)
        total = max(running.values()) - t0
        latencies = sorted(running[n] - sent[n] for n in sent)
        await admin.delete("namespaces", ns)
        return {
            "pods": pods,
            "p50_s": round(statistics.median(latencies), 3),
            "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
            "max_s": round(latencies[-1], 3),
            "all_running_after_s": round(total, 2),
        }
    finally:
        for agent in agents:
            _stop(agent)
        for node in ("node-1", "node-2"):
            _remove_containers(node)


def _remove_containers(node: str) -> None:
    subprocess.run(["sh", "-c", f"docker ps -aq --filter label=labkit.node={node} | xargs -r docker rm -f"],
                   capture_output=True, check=False)


async def fleet(admin: ApiClient, home: Path, count: int, seconds: float) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:4]}-"
    agent = _agent(home / "admin.kubeconfig", home / "fleet.agent.log", "--runtime", "simulated", "--count",
                   str(count), "--name-prefix", prefix)
    try:
        registered = await _wait_ready(admin, [f"{prefix}{i}" for i in range(1, count + 1)], timeout=300)
        proc = psutil.Process(agent.pid)
        await asyncio.sleep(12)  # past the first lease period: steady state only
        cpu0, wall0 = sum(proc.cpu_times()[:2]), time.monotonic()
        rss: list[int] = []
        while time.monotonic() - wall0 < seconds:
            rss.append(proc.memory_info().rss)
            await asyncio.sleep(1)
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        wall = time.monotonic() - wall0
        leases = (await admin.list("leases", namespace="kube-node-lease"))["items"]
        ours = [lease for lease in leases if lease["metadata"]["name"].startswith(prefix)]
        return {
            "nodes": count,
            "registered_ready_after_s": round(registered, 1),
            "cpu_share_of_one_core": round(cpu / wall, 4),
            "rss_mib_max": round(max(rss) / 2**20, 1),
            "leases": len(ours),
            "seconds": round(wall, 1),
        }
    finally:
        _stop(agent)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pods", type=int, default=30)
    p.add_argument("--fleet", type=int, default=500)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--skip-docker", action="store_true")
    a = p.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-nodeagent-"))
    up = _labctl(home, "up", "--nodes", "2")
    if up.returncode != 0:
        _labctl(home, "down")
        raise SystemExit(f"labctl up failed:\n{up.stdout}\n{up.stderr}")
    try:
        async with ApiClient.from_kubeconfig(home / "admin.kubeconfig") as admin:
            if not a.skip_docker:
                print("startup", await startup(admin, home, a.pods), flush=True)
            print("fleet", await fleet(admin, home, a.fleet, a.seconds), flush=True)
    finally:
        _labctl(home, "down")


if __name__ == "__main__":
    asyncio.run(main())
