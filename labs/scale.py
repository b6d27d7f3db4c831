"""Scale experiments (notebook 07): a fleet of simulated nodes, pods created in bulk, a tracker that
times every pod from creation to bound to Running, and node utilisation for spread vs bin-packing.

    fleet = scale.start_fleet(lab, 50, prefix="spread-", labels={"pool": "spread"})
    scale.start_scheduler(lab, "bin-packing", strategy="MostAllocated")
    tracker = scale.PodTracker(lab, selector="batch=b1")
    scale.create_pods(lab, 250, batch="b1", node_selector={"pool": "spread"})
    tracker.wait(250)
    tracker.latencies()            # {"create→bound": [...], "create→Running": [...]} in ms
    scale.utilisation(lab, pool="spread")
    scale.list_cost(lab)           # a JSON LIST beside kubectl's Table LIST: time, bytes, server CPU

A fleet is one OS process (``python -m orchestrator.nodeagent --count N``) hosting N Nodes on one
simulated runtime, KWOK's idea: it costs one informer, one lease loop and one relist loop for all of
them. It and the extra scheduler are started through the lab's supervisor, so `labctl status`
lists them and `labctl down` (or `lab.stop()`) stops them.

Sizes: `preset()` reads LABKIT_NOTEBOOK_SCALE: ``small`` (CI: 2 pools of 40 nodes, 100 pods each)
or ``full`` (the default for learners: 2 pools of 200 nodes, 1,000 pods each).

Kubernetes equivalent: sigs.k8s.io/kwok (fake nodes), clusterloader2's pod startup latency
(creation → scheduled → running, from watch timestamps).
"""

from __future__ import annotations

import bisect
import os
import statistics
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psutil
import yaml

from labs.waiting import wait_for
from labs.watching import Follower
from orchestrator.api.quantity import cpu_millis
from orchestrator.lab.components import NodeAgent, Scheduler
from orchestrator.lab.embedded.ports import LOOPBACK, free_port
from orchestrator.lab.supervisor import ComponentSpec

__all__ = ["LIST_FORMATS", "Preset", "PodTracker", "create_pods", "delete_pods", "list_cost", "node_count",
           "preset", "start_fleet", "start_scheduler", "utilisation"]


@dataclass(frozen=True)
class Preset:
    name: str
    nodes: int  # per pool
    pods: int  # per pool


PRESETS = {"small": Preset("small", nodes=40, pods=100), "full": Preset("full", nodes=200, pods=1000)}


def preset() -> Preset:
    """The experiment size named by LABKIT_NOTEBOOK_SCALE (``small`` or ``full``; default ``full``)."""
    name = os.environ.get("LABKIT_NOTEBOOK_SCALE", "full").strip().lower() or "full"
    if name not in PRESETS:
        raise ValueError(f"LABKIT_NOTEBOOK_SCALE={name!r}: expected one of {', '.join(PRESETS)}")
    return PRESETS[name]


def start_fleet(lab: Any, count: int, *, prefix: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
                labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Start `count` simulated nodes ``<prefix>1..<prefix><count>`` in one process (a supervisor
    component named ``fleet-<prefix>``). Returns the component's row; the Nodes register soon after."""
    name = f"fleet-{prefix.rstrip('-')}"
    port = free_port()
    # A node token may act only for its own node; the controller manager's may act for all.
    argv = NodeAgent(kubeconfig=lab.home.kubeconfig_for("controller-manager"), runtime="simulated", count=count,
                     name_prefix=prefix, cpu=cpu, memory=memory, pods=pods, labels=dict(labels or {}),
                     log_port=port, log_bind=LOOPBACK, **NodeAgent.tls_for(lab.home, name)).argv()
    spec = ComponentSpec(name=name, argv=argv, health=f"https://{LOOPBACK}:{port}/healthz",
                         depends_on=("apiserver",), address=f"{LOOPBACK}:{port}", start_timeout=120.0)
    with lab.supervisor.lock():
        record, _ = lab.supervisor.start(spec)
    return {"component": name, "pid": record.pid, "nodes": count, "cpu": cpu, "memory": memory}


def start_scheduler(lab: Any, scheduler_name: str, *, strategy: str = "MostAllocated") -> dict[str, Any]:
    """A second scheduler process with one profile, `scheduler_name`, scoring NodeResourcesFit with
    `strategy` (MostAllocated = bin-packing; LeastAllocated = spreading, the default profile's).
    It schedules only pods with ``spec.schedulerName: <scheduler_name>``."""
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        # Score every feasible node: with the adaptive default a big cluster is sampled, and the
        # fullest node may not be in the sample -- a bin-packer then opens a new node too early.
        "percentageOfNodesToScore": 100,
        "profiles": [{
            "schedulerName": scheduler_name,
            "plugins": {"score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}, {"name": "SelectorSpread"}],
                                  "enabled": [{"name": "NodeResourcesFit", "weight": 5}]}},
            "pluginConfig": [{"name": "NodeResourcesFit", "args": {"scoringStrategy": {"type": strategy}}}],
        }],
    }
    path = lab.home.run_dir / f"scheduler-{scheduler_name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    grpc_port, metrics_port = free_port(), free_port()
    spec = ComponentSpec(
        name=f"scheduler-{scheduler_name}",
        argv=Scheduler(kubeconfig=lab.home.kubeconfig_for("scheduler"), config=path, bind_address=LOOPBACK,
                       grpc_port=grpc_port, metrics_port=metrics_port).argv(),
        health=f"http://{LOOPBACK}:{metrics_port}/healthz",
        depends_on=("apiserver",),
        address=f"{LOOPBACK}:{grpc_port}",
    )
    with lab.supervisor.lock():
        record, _ = lab.supervisor.start(spec)
    return {"component": spec.name, "pid": record.pid, "config": str(path)}


def node_count(lab: Any, *, selector: str = "", ready: bool = True) -> int:
    """How many Nodes match `selector` (and are Ready, unless ready=False)."""
    with lab.http() as http:
        response = http.get("/api/v1/nodes", params={"labelSelector": selector} if selector else None)
        response.raise_for_status()
        items = response.json().get("items") or []
    if not ready:
        return len(items)
    return sum(1 for n in items if any(c.get("type") == "Ready" and c.get("status") == "True"
                                       for c in (n.get("status") or {}).get("conditions") or []))


def pod_manifest(name: str, *, batch: str, cpu: str = "250m", memory: str = "256Mi",
                 scheduler_name: str | None = None, node_selector: Mapping[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": "app", "image": "busybox:latest", "command": ["sleep", "3600"],
                        "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
        "terminationGracePeriodSeconds": 0,
    }
    if scheduler_name:
        spec["schedulerName"] = scheduler_name
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"batch": batch}}, "spec": spec}


def create_pods(lab: Any, count: int, *, batch: str, namespace: str = "default", concurrency: int = 16,
                **pod: Any) -> dict[str, Any]:
    """POST `count` pods ``<batch>-<i>`` with `concurrency` requests in flight; returns how long it took."""
    manifests = [pod_manifest(f"{batch}-{i}", batch=batch, **pod) for i in range(count)]
    clients = [lab.http() for _ in range(concurrency)]
    t0 = time.monotonic()
    try:
        def post(i: int) -> None:
            response = clients[i % concurrency].post(f"/api/v1/namespaces/{namespace}/pods", json=manifests[i])
            if response.status_code != 201:
                raise RuntimeError(f"creating {manifests[i]['metadata']['name']}: {response.status_code} {response.text[:200]}")

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(post, range(count)))
    finally:
        for c in clients:
            c.close()
    seconds = time.monotonic() - t0
    return {"batch": batch, "pods": count, "seconds": round(seconds, 1), "creates/s": round(count / seconds, 1)}


def delete_pods(lab: Any, *, selector: str, namespace: str = "default") -> None:
    """Delete the pods matching `selector` at once (deletecollection, grace period 0)."""
    with lab.http() as http:
        response = http.request("DELETE", f"/api/v1/namespaces/{namespace}/pods",
                                params={"labelSelector": selector, "gracePeriodSeconds": "0"})
        response.raise_for_status()


class PodTracker:
    """Times each pod matching `selector`, from a watch: when it appeared, was bound, was Running.

    Times are this process's clock when the watch event arrived (what a user would see), in
    seconds since the tracker started.
    """

    def __init__(self, lab: Any, *, selector: str, namespace: str = "default") -> None:
        self.lab = lab
        self.t0 = time.monotonic()
        self.created: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.node: dict[str, str] = {}
        self._listed = threading.Event()
        self._follower = Follower(
            lab,
            f"/api/v1/namespaces/{namespace}/pods",
            params={"labelSelector": selector},
            on_list=self._seen_list,
            on_event=self._seen_event,
            name="pod-tracker",
        )
        self._follower.start()
        self._listed.wait(timeout=30)

    def _seen_list(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            self._see(item)
        self._listed.set()

    def _seen_event(self, event_type: str, pod: dict[str, Any]) -> None:
        if event_type in ("ADDED", "MODIFIED"):
            self._see(pod)

    def _see(self, pod: dict[str, Any]) -> None:
        now = time.monotonic() - self.t0
        name = pod["metadata"]["name"]
        self.created.setdefault(name, now)
        node = (pod.get("spec") or {}).get("nodeName")
        if node and name not in self.bound:
            self.bound[name] = now
            self.node[name] = node
        if (pod.get("status") or {}).get("phase") == "Running":
            self.running.setdefault(name, now)

    def wait(self, count: int, *, timeout: float = 120.0) -> int:
        """Wait until `count` pods are Running; returns how many are."""
        wait_for(lambda: len(self.running) >= count, timeout=timeout,
                 what=f"{count} pods Running (now {len(self.running)} Running, {len(self.bound)} bound, "
                      f"{len(self.created)} created)")
        return len(self.running)

    def latencies(self) -> dict[str, list[float]]:
        """Milliseconds per pod: creation→bound and creation→Running."""
        return {
            "create→bound": [1000 * (self.bound[n] - self.created[n]) for n in self.bound if n in self.created],
            "create→Running": [1000 * (self.running[n] - self.created[n]) for n in self.running if n in self.created],
        }

    def throughput(self, *, bucket: float = 1.0) -> list[tuple[float, dict[str, float]]]:
        """Samples for `labs.plots.plot_timeline`: pods created/bound/Running per second, per bucket."""
        series = {"created": self.created, "bound": self.bound, "Running": self.running}
        end = max((t for times in series.values() for t in times.values()), default=0.0)
        start = min(self.created.values(), default=0.0)
        samples = []
        t = start - start % bucket
        while t <= end + bucket:
            samples.append((round(t - start, 3), {k: sum(1 for v in times.values() if t <= v < t + bucket) / bucket
                                                  for k, times in series.items()}))
            t += bucket
        return samples

    def cumulative(self, *, points: int = 200) -> list[tuple[float, dict[str, float]]]:
        """Samples for `labs.plots.plot_timeline`: how many pods were created/bound/Running by each time
        (the slope of each curve is its throughput)."""
        series = {"created": sorted(self.created.values()), "bound": sorted(self.bound.values()),
                  "Running": sorted(self.running.values())}
        start = min(series["created"], default=0.0)
        end = max((times[-1] for times in series.values() if times), default=start)
        step = max((end - start) / points, 1e-3)
        return [(round(i * step, 3), {k: float(bisect.bisect_right(times, start + i * step)) for k, times in series.items()})
                for i in range(points + 1)]

    def stop(self) -> None:
        self._follower.stop(timeout=2)


def utilisation(lab: Any, *, selector: str, resource: str = "cpu") -> dict[str, float]:
    """{node: requested / allocatable} of `resource` ("cpu") for the Nodes matching `selector`,
    counting the requests of the pods bound to each (not terminating)."""
    with lab.http() as http:
        nodes = http.get("/api/v1/nodes", params={"labelSelector": selector})
        nodes.raise_for_status()
        pods = http.get("/api/v1/pods")
        pods.raise_for_status()
    allocatable = {n["metadata"]["name"]: cpu_millis((n.get("status") or {}).get("allocatable", {}).get(resource, "0"))
                   for n in nodes.json().get("items") or []}
    used = dict.fromkeys(allocatable, 0)
    for pod in pods.json().get("items") or []:
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in used or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        for container in (pod.get("spec") or {}).get("containers") or []:
            used[node] += cpu_millis(((container.get("resources") or {}).get("requests") or {}).get(resource, "0"))
    return {name: (used[name] / allocatable[name] if allocatable[name] else 0.0) for name in sorted(allocatable)}


def summary(values: Sequence[float]) -> dict[str, float]:
    """count, p50, p90, p99, max of `values` (rounded), for a table next to a plot."""
    import numpy as np

    if not values:
        return {"count": 0}
    arr = np.asarray(values)
    return {"count": len(values), "p50": round(float(np.percentile(arr, 50)), 1),
            "p90": round(float(np.percentile(arr, 90)), 1), "p99": round(float(np.percentile(arr, 99)), 1),
            "max": round(float(arr.max()), 1)}


# What each kind of client puts in its Accept header when it lists (the header kubectl -v=8 shows).
LIST_FORMATS = {
    "JSON": "application/json",  # the Python client, curl, this kit's components
    # kubectl get, word for word (orchestrator/apiserver/negotiation.py)
    "Table": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
             "application/json",
}


def list_cost(lab: Any, *, path: str = "/api/v1/pods", requests: int = 20, rounds: int = 3) -> list[dict[str, Any]]:
    """What one LIST of `path` costs, asked for as JSON and as a Table: per request, the wall time,
    the API server's CPU time and the answer's size. Medians of `rounds` rounds of `requests`
    requests each, the formats taking turns, one connection.

    The server's CPU is read from its process (user + system, as `top` counts it). The lab is never
    quite idle (node Leases, status updates), so each round also measures the server while nothing
    is asked, for as long as the slower format took, and the table shows that as its own row: the
    formats' figures include it, and a difference smaller than it means nothing.
    """
    record = lab.supervisor.record("apiserver")
    if record is None or not record.pid:
        raise RuntimeError("the lab has no running API server to measure")
    server = psutil.Process(record.pid)

    def cpu_seconds() -> float:
        times = server.cpu_times()
        return times.user + times.system

    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in LIST_FORMATS}  # (wall, CPU)
    idle: list[float] = []  # the server's CPU per request-time while nothing is asked
    sizes: dict[str, tuple[int, int]] = {}
    with lab.http() as http:
        for _ in range(rounds):
            slowest = 0.0
            for name, accept in LIST_FORMATS.items():
                cpu0, t0 = cpu_seconds(), time.monotonic()
                for _ in range(requests):
                    answer = http.get(path, headers={"Accept": accept})
                    answer.raise_for_status()
                wall, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
                samples[name].append((wall / requests, cpu / requests))
                slowest = max(slowest, wall)
                body = answer.json()
                sizes[name] = (len(answer.content), len(body.get("items", body.get("rows")) or []))
            cpu0, t0 = cpu_seconds(), time.monotonic()
            time.sleep(slowest)
            idle.append((cpu_seconds() - cpu0) / requests)

    rows: list[dict[str, Any]] = [
        {"format": name, "Accept": LIST_FORMATS[name], "objects": sizes[name][1], "bytes": sizes[name][0],
         "ms per request": round(1000 * statistics.median(wall for wall, _ in measured), 2),
         "server CPU ms per request": round(1000 * statistics.median(cpu for _, cpu in measured), 2)}
        for name, measured in samples.items()]
    rows.append({"format": "idle", "Accept": "(nothing asked, as long as the slower)", "objects": "", "bytes": "",
                 "ms per request": "", "server CPU ms per request": round(1000 * statistics.median(idle), 2)})
    return rows
