"""Density: 1,000 simulated nodes, N Deployments x 100 replicas -- does the lab converge, and at what cost?

    .venv/bin/python bench/density.py [--nodes 1000] [--deployments 50] [--replicas 100]
        [--straight-to-running] [--timeout 900] [--sample-seconds 30] [--hold 0] [--json]

A lab is started with ``labctl up --nodes N --runtime simulated`` (fleet processes of 250 nodes)
in a temporary home and taken down at the end. Steps and what is printed:

1. ``up``, then the time until all N Nodes are Ready;
2. every component's CPU (share of one core: CPU seconds / wall seconds, PostgreSQL with all its
   backends) and memory (RSS) over --sample-seconds with the lab idle;
3. the Deployments created through the API (16 requests in flight), then the time until every
   pod is Running, polled every 5 s from the Deployments' status (``replicas``, ``readyReplicas``)
   and confirmed by counting the pods themselves;
4. during the whole run, Node readiness is polled every 5 s: a *NotReady transition* is a node
   seen Ready and later not Ready (a blip shorter than the poll can be missed; Unknown lasts at
   least a heartbeat, 10 s, so it is not); *evictions* are the ``TaintManagerEviction`` events;
5. CPU and memory again at steady state, every pod Running;
6. with ``--hold S``: S seconds more, every 30 s the pods counted again (the fewest Running seen
   is printed: the lab must *stay* converged) and the time of one unpaged LIST of every pod in
   all namespaces (what ``kubectl get pods -A`` asks for).

The machine's load average is printed before and after: on a shared machine the figures move
with the neighbours, so compare runs made side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.client.rest import ApiClient  # noqa: E402
from orchestrator.lab.home import LabHome  # noqa: E402

NAMESPACE = "density"


def labctl(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LABKIT_HOME=str(home))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def components(home: Path) -> dict[str, psutil.Process]:
    state = json.loads((home / "run" / "state.json").read_text())
    return {c["name"]: psutil.Process(c["pid"]) for c in state["components"] if c.get("pid")}


def _cpu(proc: psutil.Process, *, tree: bool) -> float:
    procs = [proc, *proc.children(recursive=True)] if tree else [proc]
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _rss(proc: psutil.Process, *, tree: bool) -> float:
    procs = [proc, *proc.children(recursive=True)] if tree else [proc]
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


async def sample(home: Path, seconds: float) -> dict[str, dict[str, float]]:
    """CPU share of one core and RSS (MiB) of each component over `seconds`."""
    procs = components(home)
    before = {n: _cpu(p, tree=n == "postgres") for n, p in procs.items()}
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - t0
    return {n: {"cpu_percent": round((_cpu(p, tree=n == "postgres") - before[n]) / wall * 100, 1),
                "rss_mib": round(_rss(p, tree=n == "postgres"), 1)} for n, p in procs.items()}


def _ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (node.get("status") or {}).get("conditions") or [])


class Readiness:
    """Polls Nodes; counts transitions Ready -> not Ready."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.last: dict[str, bool] = {}
        self.transitions = 0
        self.worst = 0  # most nodes not Ready at one poll

    async def poll(self) -> int:
        nodes = (await self.client.list("nodes"))["items"]
        ready = {n["metadata"]["name"]: _ready(n) for n in nodes}
        self.transitions += sum(1 for name, ok in ready.items() if not ok and self.last.get(name))
        self.last = ready
        self.worst = max(self.worst, sum(1 for ok in ready.values() if not ok))
        return sum(ready.values())

    async def run(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception as err:  # a slow answer must not end the benchmark
                print(f"  (node poll failed: {err})", flush=True)
            await asyncio.sleep(5)


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "labkit/busybox:1.0"}]}}}}


async def count_pods(client: ApiClient) -> tuple[int, int]:
    """(pods, Running pods) in the namespace, read in pages of 1,000."""
    total = running = 0
    token: str | None = None
    while True:
        page = await client.list("pods", namespace=NAMESPACE, limit=1000, continue_=token)
        for pod in page["items"]:
            total += 1
            running += (pod.get("status") or {}).get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return total, running


async def count_from_deployments(client: ApiClient) -> tuple[int, int]:
    """(pods, ready pods) as the Deployments' status says: one small LIST instead of paging through
    every pod every 5 s, which with 30,000 pods was the benchmark's own load on the API server."""
    items = (await client.list("deployments.apps", namespace=NAMESPACE))["items"]
    status = [d.get("status") or {} for d in items]
    return sum(s.get("replicas", 0) for s in status), sum(s.get("readyReplicas", 0) for s in status)


async def run(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"nodes": args.nodes, "deployments": args.deployments, "replicas": args.replicas,
                              "straight_to_running": args.straight_to_running, "load_before": os.getloadavg()}
    up_args = ["up", "--nodes", str(args.nodes), "--runtime", "simulated"]
    if args.straight_to_running:
        up_args.append("--straight-to-running")
    t0 = time.monotonic()
    up = labctl(home, *up_args)
    if up.returncode != 0:
        raise SystemExit(f"labctl up failed:\n{up.stdout}\n{up.stderr}")
    result["up_seconds"] = round(time.monotonic() - t0, 1)
    print(f"labctl up: {result['up_seconds']}s", flush=True)
    async with ApiClient.from_kubeconfig(home / "admin.kubeconfig", timeout=120) as client:
        readiness = Readiness(client)
        while await readiness.poll() < args.nodes:
            if time.monotonic() - t0 > args.timeout:
                raise SystemExit(f"not all {args.nodes} nodes Ready after {args.timeout}s")
            await asyncio.sleep(2)
        result["nodes_ready_seconds"] = round(time.monotonic() - t0, 1)
        print(f"{args.nodes} nodes Ready after {result['nodes_ready_seconds']}s; sampling idle", flush=True)
        result["idle"] = await sample(home, args.sample_seconds)
        print_usage("idle", result["idle"])

        watcher = asyncio.create_task(readiness.run())
        await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        semaphore = asyncio.Semaphore(16)

        async def create(i: int) -> None:
            async with semaphore:
                await client.create("deployments.apps", deployment(f"d{i}", args.replicas), namespace=NAMESPACE)

        t1 = time.monotonic()
        await asyncio.gather(*(create(i) for i in range(args.deployments)))
        result["create_seconds"] = round(time.monotonic() - t1, 1)
        want = args.deployments * args.replicas
        print(f"{args.deployments} Deployments created in {result['create_seconds']}s; waiting for {want} Running",
              flush=True)
        progress: list[tuple[float, int, int]] = []
        while True:
            total, running = await count_from_deployments(client)
            if running >= want and total == want:
                total, running = await count_pods(client)  # the pods themselves have the last word
            elapsed = round(time.monotonic() - t1, 1)
            progress.append((elapsed, total, running))
            print(f"  t={elapsed:6.1f}s pods={total} ready={running} nodes-not-ready(max)={readiness.worst} "
                  f"transitions={readiness.transitions}", flush=True)
            if running >= want and total == want:
                result["all_running_seconds"] = elapsed
                break
            if elapsed > args.timeout:
                result["all_running_seconds"] = None
                break
            await asyncio.sleep(5)
        result["progress"] = progress
        result["steady"] = await sample(home, args.sample_seconds)
        print_usage("steady state", result["steady"])
        if args.hold and result["all_running_seconds"] is not None:
            result["hold"] = await hold(client, args.hold, want, readiness)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        evictions = await client.list("events", namespace=NAMESPACE, field_selector="reason=TaintManagerEviction")
        result["evictions"] = len(evictions["items"])
        result["not_ready_transitions"] = readiness.transitions
    result["load_after"] = os.getloadavg()
    return result


async def hold(client: ApiClient, seconds: float, want: int, readiness: Readiness) -> dict[str, Any]:
    """Stay `seconds` after convergence: the fewest pods Running at any check, and LIST times."""
    print(f"holding for {seconds:.0f}s", flush=True)
    fewest, lists = want, []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(min(30.0, max(0.0, end - time.monotonic())))
        _, running = await count_pods(client)
        fewest = min(fewest, running)
        t = time.perf_counter()
        listed = await client.list("pods")
        lists.append(round(time.perf_counter() - t, 2))
        print(f"  +{seconds - (end - time.monotonic()):5.0f}s running={running} transitions={readiness.transitions} "
              f"LIST all {len(listed['items'])} pods: {lists[-1]}s", flush=True)
    return {"seconds": seconds, "fewest_running": fewest, "list_all_pods_seconds": lists}


def print_usage(title: str, usage: dict[str, dict[str, float]]) -> None:
    print(f"  {title}:", flush=True)
    for name, u in usage.items():
        print(f"    {name:20s} {u['cpu_percent']:6.1f}% of a core  {u['rss_mib']:7.1f} MiB", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--deployments", type=int, default=50)
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--straight-to-running", action="store_true", help="simulated pods report Running at once")
    p.add_argument("--timeout", type=float, default=900, help="seconds to wait for nodes, then for pods")
    p.add_argument("--sample-seconds", type=float, default=30)
    p.add_argument("--hold", type=float, default=0, help="seconds to stay after all pods are Running")
    p.add_argument("--keep", action="store_true", help="leave the lab running (prints its home)")
    p.add_argument("--json", action="store_true", help="write the figures to bench/results/")
    args = p.parse_args()
    home = Path(tempfile.mkdtemp(prefix="labkit-density-"))
    try:
        result = asyncio.run(run(args, home))
    finally:
        if args.keep:
            print(f"lab left running: LABKIT_HOME={home}")
        else:
            labctl(home, "down")
            # The databases of 30,000 pods are gigabytes: gone with the lab. The components' logs
            # stay for reading the run afterwards (takeovers, double creates).
            lab_home = LabHome(home)
            for data in (lab_home.postgres_dir, lab_home.redis_dir, lab_home.nodes_dir):
                shutil.rmtree(data, ignore_errors=True)
            print(f"lab stopped; its logs: {lab_home.logs_dir}")
    converged = result["all_running_seconds"]
    want = args.deployments * args.replicas
    running = result["progress"][-1][2] if result.get("progress") else 0
    outcome = (f"all Running after {converged}s" if converged is not None
               else f"NOT all Running within --timeout ({running} of {want})")
    if result.get("hold"):
        h = result["hold"]
        lists = sorted(h["list_all_pods_seconds"]) or [0.0]
        outcome += (f"; held {h['seconds']:.0f}s, fewest Running {h['fewest_running']} of {want}, "
                    f"LIST all pods median {lists[len(lists) // 2]}s")
    print(f"{outcome}; NotReady transitions: {result['not_ready_transitions']}; evictions: {result['evictions']}; "
          f"load {result['load_before']} -> {result['load_after']}")
    if args.json:
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        path = out / f"density-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
