"""Benchmark: a Deployment of 1,000 replicas on 100 simulated nodes, created and then rolled (issue 6).

Starts a lab (`labctl up` in a temporary home), creates ``--nodes`` Node objects, starts
``python -m orchestrator.controllers`` (all controllers, acting in the benchmark's namespace) and,
in this process, a *simulated kubelet*: it binds each unbound pod to a node round-robin (standing
in for the scheduler, whose cost is measured in its own section), then reports it Running and
Ready, and finishes graceful deletions — three API writes per pod, like the real components.

Measured:

a) creation -> all replicas available (``status.availableReplicas == replicas`` at the latest
   generation), and the time to the first and the last pod create the controller sent;
b) a rolling update of the template (25%/25%) -> the rollout complete (what
   ``kubectl rollout status`` waits for);
c) reconciles per controller and their mean duration (the manager's own
   ``workqueue_work_duration_seconds``), and the CPU seconds each process used during (a) and (b).

Usage (from the repository root):

    .venv/bin/python bench/controllers.py [--replicas 1000] [--nodes 100] [--concurrency 32]

Results are printed and written to bench/results/controllers-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from orchestrator.api.errors import ApiError, Conflict, NotFound
from orchestrator.client.informer import Informer
from orchestrator.client.rest import ApiClient
from orchestrator.lab.components import ControllerManager

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "bench-controllers"


def stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def labctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LABKIT_HOME=str(home))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=True)


class Kubelet:
    """Binds, starts and finishes pods of one namespace with at most `concurrency` requests in flight."""

    def __init__(self, client: ApiClient, nodes: list[str], concurrency: int) -> None:
        self.client = client
        self.nodes = itertools.cycle(nodes)
        self.gate = asyncio.Semaphore(concurrency)
        self.tasks: set[asyncio.Task[None]] = set()
        self.writes = 0

    async def handle(self, pod: dict[str, Any]) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        async with self.gate:
            try:
                if meta.get("deletionTimestamp"):
                    await self.client.delete("pods", meta["name"], namespace=NAMESPACE, grace_period_seconds=0)
                elif not spec.get("nodeName"):
                    await self.client.bind(NAMESPACE, meta["name"], next(self.nodes))
                elif status.get("phase") != "Running":
                    now = stamp()
                    body = {**pod, "status": {**status, "phase": "Running", "startTime": now, "conditions": [
                        {"type": t, "status": "True", "lastTransitionTime": now}
                        for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]}}
                    await self.client.update_status("pods", body)
                else:
                    return
                self.writes += 1
            except (NotFound, Conflict):
                pass  # the next event brings us back

    def kick(self, pod: dict[str, Any]) -> None:
        task = asyncio.create_task(self.handle(pod))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            proc = psutil.Process(pid)
            times = [proc.cpu_times()] + [c.cpu_times() for c in proc.children(recursive=True)]
            out[name] = sum(t.user + t.system for t in times)
        except psutil.Error:
            out[name] = float("nan")
    return out


def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 1) for k in after}


async def wait_rolled_out(client: ApiClient, replicas: int, min_generation: int) -> float:
    started = time.monotonic()
    while True:
        d = await client.get("deployments.apps", "bench", namespace=NAMESPACE)
        s = d.get("status") or {}
        if (d["metadata"]["generation"] >= min_generation and s.get("observedGeneration") == d["metadata"]["generation"]
                and s.get("updatedReplicas") == replicas and s.get("replicas") == replicas
                and s.get("availableReplicas") == replicas):
            return time.monotonic() - started
        await asyncio.sleep(0.25)


def scrape(port: int) -> dict[str, dict[str, float]]:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out: dict[str, dict[str, float]] = {}
    for metric in ("sum", "count"):
        for m in re.finditer(rf'workqueue_work_duration_seconds_{metric}{{name="([a-z]+)"}} ([0-9.e+-]+)', text):
            out.setdefault(m.group(1), {})[metric] = float(m.group(2))
    return out


def start_controller_manager(home: Path) -> tuple[subprocess.Popen[str], int]:
    """The controller manager (all it needs for a Deployment) in the benchmark's namespace; its metrics port."""
    cm_log = open(home / "controller-manager.log", "w")  # noqa: SIM115 - the child keeps it
    cm = subprocess.Popen(
        ControllerManager(kubeconfig=home / "kubeconfigs" / "controller-manager.kubeconfig", namespace=NAMESPACE,
                          controllers="replicaset,deployment,garbagecollector", grpc_port=0, metrics_port=0).argv(),
        stdout=subprocess.PIPE, stderr=cm_log, text=True)
    assert cm.stdout is not None
    line = cm.stdout.readline()
    return cm, int(line.rsplit(":", 1)[1])


async def run(args: argparse.Namespace, home: Path, cm: subprocess.Popen[str], metrics_port: int) -> dict[str, Any]:
    kubeconfig = Path(labctl(home, "kubeconfig").stdout.strip())
    state = json.loads((home / "run" / "state.json").read_text())
    pids = {rec["name"]: rec["pid"] for rec in state.get("components") or [] if rec.get("pid")}
    async with ApiClient.from_kubeconfig(kubeconfig, timeout=120) as client:
        with contextlib.suppress(ApiError):
            await client.create("namespaces", {"metadata": {"name": NAMESPACE}})
        nodes = [f"bench-node-{i:03d}" for i in range(args.nodes)]
        for name in nodes:
            with contextlib.suppress(ApiError):
                await client.create("nodes", {"metadata": {"name": name}, "status": {
                    "capacity": {"cpu": "64", "memory": "256Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": stamp()}]}})
        pids["controller-manager"] = cm.pid
        pids["bench (kubelet)"] = os.getpid()
        kubelet = Kubelet(client, nodes, args.concurrency)
        informer = Informer(client, "pods", namespace=NAMESPACE)
        informer.add_handler(on_add=kubelet.kick, on_update=lambda old, new: kubelet.kick(new))
        informer_task = asyncio.create_task(informer.run())
        try:
            await informer.wait_for_sync()
            labels = {"app": "bench"}
            body = {"metadata": {"name": "bench", "namespace": NAMESPACE}, "spec": {
                "replicas": args.replicas, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {
                    "schedulerName": "bench-nobody", "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "main", "image": "busybox:1"}]}}}}
            cpu0 = cpu_seconds(pids)
            t0 = time.monotonic()
            await client.create("deployments.apps", body)
            await wait_rolled_out(client, args.replicas, 1)
            create_seconds = time.monotonic() - t0
            cpu1 = cpu_seconds(pids)
            m1 = scrape(metrics_port)
            t1 = time.monotonic()
            await client.patch("deployments.apps", "bench", {"spec": {"template": {"spec": {"containers": [
                {"name": "main", "image": "busybox:2"}]}}}}, namespace=NAMESPACE, patch_type="strategic")
            await wait_rolled_out(client, args.replicas, 3)
            rollout_seconds = time.monotonic() - t1
            cpu2 = cpu_seconds(pids)
            m2 = scrape(metrics_port)
        finally:
            informer_task.cancel()
            await asyncio.gather(informer_task, return_exceptions=True)
    return {
        "replicas": args.replicas, "nodes": args.nodes, "concurrency": args.concurrency,
        "load_average": os.getloadavg(), "cpus": os.cpu_count(),
        "create_to_available_seconds": round(create_seconds, 1),
        "rolling_update_seconds": round(rollout_seconds, 1),
        "pods_per_second_create": round(args.replicas / create_seconds, 1),
        "pods_per_second_rollout": round(args.replicas / rollout_seconds, 1),
        "cpu_seconds_create": diff(cpu1, cpu0), "cpu_seconds_rollout": diff(cpu2, cpu1),
        "reconciles_create": m1, "reconciles_total": m2, "kubelet_writes": kubelet.writes,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--replicas", type=int, default=1000)
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=32, help="simulated kubelet requests in flight")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cm-") as tmp:
        home = Path(tmp)
        labctl(home, "up", "--nodes", "1")
        cm, metrics_port = start_controller_manager(home)
        try:
            result = asyncio.run(run(args, home, cm, metrics_port))
        finally:
            cm.send_signal(signal.SIGTERM)
            cm.wait(timeout=30)
            labctl(home, "down")
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / f"controllers-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
