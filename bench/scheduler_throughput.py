"""Scheduler throughput: 1,000 pods onto 100 and onto 1,000 nodes, from creation to bound.

    .venv/bin/python bench/scheduler_throughput.py [--pods 1000] [--nodes 100 1000] [--kubeconfig PATH]
    .venv/bin/python bench/scheduler_throughput.py --scheduler-only     # no API server, no network
    .venv/bin/python bench/scheduler_throughput.py --server-baseline --nodes 1000   # the server's ceiling first

Without --kubeconfig a lab is started with `labctl up` in a temporary home and stopped at the
end (PostgreSQL, Redis and the API server on this machine, as the issue asks). Node objects
are created directly (no node agents); the scheduler is `python -m orchestrator.scheduler`
as a subprocess with the lab's scheduler identity, seeing only this run's nodes
(--node-selector).

Figures, per node count:
- throughput: pods / (last pod bound - first pod creation started), client clock;
- latency p50/p99: per pod, bound (seen on a watch) - its creation request sent;
- algorithm time per pod: the scheduler's scheduler_scheduling_algorithm_duration_seconds
  sum / count (Filter + Score, no I/O).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import RawPool  # noqa: E402
from orchestrator.client.rest import ApiClient  # noqa: E402
from orchestrator.lab.components import Scheduler  # noqa: E402

CREATE_CONCURRENCY = 32


# The pods are created (and, for the baseline, bound) through bench/loadgen.py's raw connections:
# through ApiClient (httpx) the benchmark's own client took ~0.7 ms of CPU per request and capped
# the rate it measured (docs/benchmarks.md, "A cheaper load generator").
async def _create_pod(pool: RawPool, name: str, namespace: str) -> None:
    await pool.expect(201, "POST", f"/api/v1/namespaces/{namespace}/pods", orjson.dumps(_pod(name, namespace)))


async def _bind(pool: RawPool, namespace: str, name: str, node: str) -> None:
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace},
               "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
    await pool.expect(201, "POST", f"/api/v1/namespaces/{namespace}/pods/{name}/binding", orjson.dumps(binding))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _labctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LABKIT_HOME=str(home))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _node(name: str, label: str) -> dict[str, Any]:
    capacity = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "bench": label}},
        "status": {"capacity": capacity, "allocatable": capacity,
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


def _pod(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "main", "image": "busybox",
                                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]},
    }


async def _gather_limited(n: int, factory: Any) -> None:
    sem = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            await factory(i)

    await asyncio.gather(*(one(i) for i in range(n)))


def _config_args(percentage: int | None, label: str) -> list[str]:
    if percentage is None:
        return []
    path = Path(tempfile.gettempdir()) / f"scheduler-{label}.yaml"
    path.write_text(f"percentageOfNodesToScore: {percentage}\n")
    return Scheduler.flags(config=path)


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


async def run_once(
    kubeconfig: Path, scheduler_kubeconfig: Path, *, nodes: int, pods: int, percentage: int | None = None
) -> dict[str, float]:
    label = f"b{uuid.uuid4().hex[:6]}"
    namespace = f"bench-{label}"
    async with ApiClient.from_kubeconfig(kubeconfig) as admin:
        await admin.create("namespaces", {"metadata": {"name": namespace}})
        await _gather_limited(nodes, lambda i: admin.create("nodes", _node(f"{label}-node-{i:04d}", label)))
        grpc_port, metrics_port = _free_port(), _free_port()
        log_path = Path(tempfile.gettempdir()) / f"scheduler-{label}.log"
        log = open(log_path, "wb")  # noqa: ASYNC230, SIM115 - once, before timing; closed below
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before timing
            Scheduler(kubeconfig=scheduler_kubeconfig, grpc_port=grpc_port, metrics_port=metrics_port,
                      node_selector=f"bench={label}", extra=tuple(_config_args(percentage, label))).argv(),
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            async with httpx.AsyncClient() as http:
                for _ in range(300):
                    if proc.poll() is not None:
                        raise SystemExit(f"the scheduler exited with {proc.returncode}; its log: {log_path}")
                    with contextlib.suppress(httpx.HTTPError):
                        text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise SystemExit(f"the scheduler's metrics did not answer within 30 s; its log: {log_path}")
                await asyncio.sleep(1.0)  # informers synced (the node list is small next to the pods)

                created: dict[str, float] = {}
                bound: dict[str, float] = {}
                done = asyncio.Event()
                listed = await admin.list("pods", namespace=namespace)

                async def watch() -> None:
                    async for _type, obj in admin.watch("pods", namespace=namespace,
                                                        resource_version=listed["metadata"]["resourceVersion"],
                                                        timeout_seconds=600):
                        name = obj["metadata"]["name"]
                        if obj.get("spec", {}).get("nodeName") and name not in bound:
                            bound[name] = time.perf_counter()
                            if len(bound) == pods:
                                done.set()
                                return

                watcher = asyncio.create_task(watch())
                await asyncio.sleep(0.2)

                async def create(i: int) -> None:
                    name = f"p-{i:05d}"
                    created[name] = time.perf_counter()
                    await _create_pod(creator, name, namespace)

                creator = RawPool.from_kubeconfig(kubeconfig, CREATE_CONCURRENCY)
                try:
                    t0 = time.perf_counter()
                    await _gather_limited(pods, create)
                    created_all = time.perf_counter() - t0
                finally:
                    await creator.aclose()
                await asyncio.wait_for(done.wait(), timeout=600)
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                elapsed = max(bound.values()) - t0
                latencies = sorted(bound[n] - created[n] for n in created)
                text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
                algo_sum = _metric(text, "scheduler_scheduling_algorithm_duration_seconds_sum")
                algo_count = _metric(text, "scheduler_scheduling_algorithm_duration_seconds_count")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            log.close()
            await _gather_limited(nodes, lambda i: admin.delete("nodes", f"{label}-node-{i:04d}"))
            await admin.delete("namespaces", namespace)
    return {
        "nodes": nodes,
        "pods": pods,
        "create_rate": pods / created_all,
        "throughput": pods / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "algorithm_ms": algo_sum / algo_count * 1000,
    }


async def server_baseline(kubeconfig: Path, scheduler_kubeconfig: Path, *, pods: int) -> dict[str, float]:
    """What the API server allows end to end, with no scheduler: `pods` creates alone, then their
    Bindings alone (as the scheduler's identity), then creates and Bindings together (each pod bound
    as soon as it exists), each side on its own client."""
    label = f"b{uuid.uuid4().hex[:6]}"
    namespace = f"bench-{label}"
    async with ApiClient.from_kubeconfig(kubeconfig) as admin:
        creator = RawPool.from_kubeconfig(kubeconfig, CREATE_CONCURRENCY)
        binder = RawPool.from_kubeconfig(scheduler_kubeconfig, CREATE_CONCURRENCY)
        await admin.create("namespaces", {"metadata": {"name": namespace}})
        try:
            t0 = time.perf_counter()
            await _gather_limited(pods, lambda i: _create_pod(creator, f"a-{i:05d}", namespace))
            t1 = time.perf_counter()
            await _gather_limited(pods, lambda i: _bind(binder, namespace, f"a-{i:05d}", f"{label}-node"))
            t2 = time.perf_counter()

            async def create_and_bind(i: int) -> None:
                await _create_pod(creator, f"b-{i:05d}", namespace)
                await _bind(binder, namespace, f"b-{i:05d}", f"{label}-node")

            await _gather_limited(pods, create_and_bind)
            t3 = time.perf_counter()
        finally:
            await creator.aclose()
            await binder.aclose()
            await admin.delete("namespaces", namespace)
    return {"creates_per_s": pods / (t1 - t0), "binds_per_s": pods / (t2 - t1), "pods_per_s": pods / (t3 - t2)}


async def scheduler_only(*, nodes: int, pods: int, percentage: int | None = None) -> dict[str, float]:
    """The scheduler process's own code path without the network: the same Scheduler (queue,
    cache snapshot, framework, assume, binding task, finish_binding) with a Binding that costs
    nothing, and informer calls made directly. The ceiling the API server round trips come on top of."""
    from orchestrator.scheduler.config import parse_config
    from orchestrator.scheduler.scheduler import Scheduler

    config = parse_config({"percentageOfNodesToScore": percentage} if percentage is not None else {})

    scheduler: Scheduler | None = None

    async def bind(pod: dict[str, Any], node_name: str) -> None:
        assert scheduler is not None
        await asyncio.sleep(0)
        scheduler.on_pod_update(pod, {**pod, "spec": {**pod["spec"], "nodeName": node_name}})

    from orchestrator.scheduler.config import build_frameworks
    from orchestrator.scheduler.framework.interfaces import Handle

    frameworks = build_frameworks(config, handle=Handle(bind_pod=bind))
    scheduler = Scheduler(None, config=config, frameworks=frameworks)  # type: ignore[arg-type]
    for i in range(nodes):
        scheduler.on_node_add(_node(f"node-{i:04d}", "x"))
    for i in range(pods):
        pod = _pod(f"p-{i:05d}", "bench")
        pod["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
        scheduler.on_pod_add(pod)
    t0 = time.perf_counter()
    loop = asyncio.create_task(scheduler.run())
    while scheduler.counters["scheduled"] < pods:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop
    h = scheduler.metrics.algorithm_duration
    total = sum(s.value for s in h.collect()[0].samples if s.name.endswith("_sum"))
    return {"nodes": nodes, "pods": pods, "throughput": pods / elapsed, "algorithm_ms": total / pods * 1000}


async def main_async(args: argparse.Namespace) -> None:
    if args.scheduler_only:
        print(f"{'nodes':>6} {'pods':>6} {'scheduled/s':>12} {'algo ms/pod':>12}")
        for nodes in args.nodes:
            r = await scheduler_only(nodes=nodes, pods=args.pods, percentage=args.percentage)
            print(f"{r['nodes']:>6} {r['pods']:>6} {r['throughput']:>12.0f} {r['algorithm_ms']:>12.2f}")
        return
    home: Path | None = None
    if args.kubeconfig:
        kubeconfig = Path(args.kubeconfig)
        scheduler_kubeconfig = Path(args.scheduler_kubeconfig or args.kubeconfig)
    else:
        home = Path(tempfile.mkdtemp(prefix="bench-lab-"))
        # the benchmark runs its own scheduler; nothing else may act on its pods and nodes
        up = _labctl(home, "up", "--nodes", "0", "--skip", "scheduler", "--skip", "controller-manager")
        if up.returncode != 0:
            raise SystemExit(f"labctl up failed:\n{up.stdout}\n{up.stderr}")
        kubeconfig = Path(_labctl(home, "kubeconfig").stdout.strip())
        scheduler_kubeconfig = home / "kubeconfigs" / "scheduler.kubeconfig"
    try:
        if args.server_baseline:
            b = await server_baseline(kubeconfig, scheduler_kubeconfig, pods=args.pods)
            print(f"API server alone: {b['creates_per_s']:.0f} creates/s, {b['binds_per_s']:.0f} bindings/s; "
                  f"created and bound together {b['pods_per_s']:.0f} pods/s (the ceiling end to end)", flush=True)
        print(f"{'nodes':>6} {'pods':>6} {'created/s':>10} {'bound/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'algo ms/pod':>12}")
        for nodes in args.nodes:
            r = await run_once(kubeconfig, scheduler_kubeconfig, nodes=nodes, pods=args.pods,
                               percentage=args.percentage)
            print(f"{r['nodes']:>6} {r['pods']:>6} {r['create_rate']:>10.0f} {r['throughput']:>8.0f} "
                  f"{r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} {r['algorithm_ms']:>12.2f}", flush=True)
    finally:
        if home is not None:
            _labctl(home, "down")
            shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pods", type=int, default=1000)
    p.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--kubeconfig", help="an existing lab's admin kubeconfig (default: start a lab)")
    p.add_argument("--percentage", type=int, help="percentageOfNodesToScore (default: adaptive, 42%% at 1,000)")
    p.add_argument("--server-baseline", action="store_true",
                   help="first measure the API server alone: creates, Bindings, and both together")
    p.add_argument("--scheduler-only", action="store_true",
                   help="no API server: the scheduler's own code path with a free Binding")
    p.add_argument("--scheduler-kubeconfig", help="the scheduler's kubeconfig (default: --kubeconfig)")
    uvloop.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
