"""Benchmark (issue 16): a Job of 1,000 completions beside a ReplicaSet of 1,000 replicas on 100
simulated nodes, and the HorizontalPodAutoscaler's reaction time.

a) **Job vs ReplicaSet** -- one lab (`labctl up --nodes N --runtime simulated`: the real
   scheduler, controller manager and node agents, ``--nodes`` simulated nodes in a fleet). A
   ReplicaSet of ``--replicas`` from create to all available; it is deleted and, once its pods are
   gone, a Job of ``--completions`` with ``--parallelism``, each pod exiting 0 one second after it
   starts (``sim.labkit.io/run-seconds: "1"``), from create to its Complete condition.
b) **HPA reaction** -- a second lab with ``--hpa-nodes`` simulated nodes, the metrics server and
   the controller manager at their default periods (15 s metric resolution, 15 s HPA sync). A
   Deployment of one pod requesting 200m CPU, an autoscaling/v2 HPA at 50%, the pod steered to 50%
   (``sim.labkit.io/cpu-usage``) until the HPA reports it; then steered to 400m: the time from
   that change to the Deployment's new ``spec.replicas`` (the HPA's decision), and to the new
   pods Ready. ``--hpa-runs`` runs, each on a fresh Deployment and HPA.

Usage (from the repository root; the load average is printed with the figures):

    .venv/bin/python bench/workloads.py [--replicas 1000] [--completions 1000] [--parallelism 100]
        [--nodes 100] [--timeout 1800] [--hpa-runs 3] [--hpa-nodes 2] [--skip-job] [--skip-hpa]

Results are printed and written to bench/results/workloads-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.controllers import labctl  # noqa: E402
from orchestrator.api.errors import ApiError  # noqa: E402
from orchestrator.client.rest import ApiClient  # noqa: E402
from orchestrator.lab.embedded.ports import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "bench-workloads"


async def poll(what: str, check: Any, *, timeout: float, every: float = 0.25) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        await asyncio.sleep(every)
    return time.monotonic() - started


async def job_vs_replicaset(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    kubeconfig = Path(labctl(home, "kubeconfig").stdout.strip())
    async with ApiClient.from_kubeconfig(kubeconfig, timeout=120) as client:
        with contextlib.suppress(ApiError):
            await client.create("namespaces", {"metadata": {"name": NAMESPACE}})
        pod_spec = {"terminationGracePeriodSeconds": 0, "containers": [{"name": "main", "image": "busybox:1.36"}]}
        labels = {"app": "bench-rs"}
        await client.create("replicasets.apps", {"metadata": {"name": "bench", "namespace": NAMESPACE}, "spec": {
            "replicas": args.replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec}}})

        async def rs_available() -> bool:
            rs = await client.get("replicasets.apps", "bench", namespace=NAMESPACE)
            return ((rs.get("status") or {}).get("availableReplicas") or 0) >= args.replicas
        rs_seconds = await poll("the ReplicaSet available", rs_available, timeout=args.timeout, every=1.0)
        # Measured alone: the ReplicaSet's pods go first (their deletion is not timed).
        await client.delete("replicasets.apps", "bench", namespace=NAMESPACE, propagation_policy="Background")

        async def rs_pods_gone() -> bool:
            listed = await client.list("pods", namespace=NAMESPACE, label_selector="app=bench-rs", limit=1)
            return not listed.get("items")
        await poll("the ReplicaSet's pods gone", rs_pods_gone, timeout=args.timeout, every=2.0)
        await client.create("jobs.batch", {"metadata": {"name": "bench", "namespace": NAMESPACE}, "spec": {
            "completions": args.completions, "parallelism": args.parallelism, "backoffLimit": 6,
            "template": {"metadata": {"annotations": {"sim.labkit.io/run-seconds": "1"}},
                         "spec": {**pod_spec, "restartPolicy": "Never"}}}})

        async def job_complete() -> bool:
            job = await client.get("jobs.batch", "bench", namespace=NAMESPACE)
            return any(c.get("type") == "Complete" and c.get("status") == "True"
                       for c in (job.get("status") or {}).get("conditions") or [])
        job_seconds = await poll("the Job complete", job_complete, timeout=args.timeout, every=1.0)
        job = await client.get("jobs.batch", "bench", namespace=NAMESPACE)
    return {
        "nodes": args.nodes,
        "replicaset": {"replicas": args.replicas, "create_to_available_seconds": round(rs_seconds, 1),
                       "pods_per_second": round(args.replicas / rs_seconds, 1)},
        "job": {"completions": args.completions, "parallelism": args.parallelism, "pod_run_seconds": 1,
                "create_to_complete_seconds": round(job_seconds, 1),
                "completions_per_second": round(args.completions / job_seconds, 1),
                "succeeded": (job.get("status") or {}).get("succeeded")},
    }


HPA_DEPLOYMENT = {"replicas": 1, "template": {"metadata": {"annotations": {"sim.labkit.io/cpu-usage": "100m"}},
                                              "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                                  {"name": "main", "image": "busybox:1.36",
                                                   "resources": {"requests": {"cpu": "200m"}}}]}}}


async def hpa_reaction(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    kubeconfig = Path(labctl(home, "kubeconfig").stdout.strip())
    runs = []
    async with ApiClient.from_kubeconfig(kubeconfig, timeout=60) as client:
        for i in range(args.hpa_runs):
            name = f"web-{i}"
            labels = {"app": name}
            template = {**HPA_DEPLOYMENT["template"],
                        "metadata": {**HPA_DEPLOYMENT["template"]["metadata"], "labels": labels}}
            await client.create("deployments.apps", {"metadata": {"name": name, "namespace": "default"}, "spec": {
                "replicas": 1, "selector": {"matchLabels": labels}, "template": template}})
            await client.create("horizontalpodautoscalers.autoscaling", {
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                         "minReplicas": 1, "maxReplicas": 4, "metrics": [{"type": "Resource", "resource": {
                             "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}})

            async def measured(name: str = name) -> bool:
                hpa = await client.get("horizontalpodautoscalers.autoscaling", name, namespace="default")
                return bool((hpa.get("status") or {}).get("currentMetrics"))
            await poll("the HPA's first measurement", measured, timeout=180, every=0.5)
            pods = (await client.list("pods", namespace="default", label_selector=f"app={name}"))["items"]
            t0 = time.monotonic()
            for pod in pods:
                await client.patch("pods", pod["metadata"]["name"], {"metadata": {"annotations": {
                    "sim.labkit.io/cpu-usage": "400m"}}}, namespace="default")

            async def decided(name: str = name) -> bool:
                d = await client.get("deployments.apps", name, namespace="default")
                return (d["spec"].get("replicas") or 0) > 1
            await poll("the HPA's scale up", decided, timeout=300)
            decision = time.monotonic() - t0

            async def ready(name: str = name) -> bool:
                d = await client.get("deployments.apps", name, namespace="default")
                return ((d.get("status") or {}).get("readyReplicas") or 0) >= (d["spec"].get("replicas") or 0) > 1
            await poll("the new pods ready", ready, timeout=300)
            running = time.monotonic() - t0
            d = await client.get("deployments.apps", name, namespace="default")
            runs.append({"load_change_to_new_replica_count_seconds": round(decision, 1),
                         "load_change_to_pods_ready_seconds": round(running, 1),
                         "new_replicas": d["spec"]["replicas"]})
            await client.delete("horizontalpodautoscalers.autoscaling", name, namespace="default")
            await client.delete("deployments.apps", name, namespace="default")
    decisions = sorted(r["load_change_to_new_replica_count_seconds"] for r in runs)
    return {"runs": runs, "median_reaction_seconds": decisions[len(decisions) // 2] if decisions else None,
            "sync_period_seconds": 15, "metric_resolution_seconds": 15, "nodes": args.hpa_nodes}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--replicas", type=int, default=1000)
    p.add_argument("--completions", type=int, default=1000)
    p.add_argument("--parallelism", type=int, default=100)
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--timeout", type=float, default=1800, help="seconds each wait may take")
    p.add_argument("--hpa-runs", type=int, default=3)
    p.add_argument("--hpa-nodes", type=int, default=2)
    p.add_argument("--skip-job", action="store_true")
    p.add_argument("--skip-hpa", action="store_true")
    args = p.parse_args()
    result: dict[str, Any] = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count()}
    if not args.skip_job:
        with tempfile.TemporaryDirectory(prefix="bench-wl-") as tmp:
            home = Path(tmp)
            labctl(home, "up", "--nodes", str(args.nodes), "--runtime", "simulated", "--port", str(free_port()))
            try:
                result["job_vs_replicaset"] = asyncio.run(job_vs_replicaset(args, home))
            finally:
                labctl(home, "down")
    if not args.skip_hpa:
        with tempfile.TemporaryDirectory(prefix="bench-hpa-") as tmp:
            home = Path(tmp)
            labctl(home, "up", "--nodes", str(args.hpa_nodes), "--runtime", "simulated", "--port", str(free_port()))
            try:
                result["hpa"] = asyncio.run(hpa_reaction(args, home))
            finally:
                labctl(home, "down")
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / f"workloads-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
