"""The node agent's resource usage summary: what ``GET /stats/summary`` answers (the metrics server reads it).

The answer has kubelet's Summary shape (``k8s.io/kubelet/pkg/apis/stats/v1alpha1``)::

    {"node": {"nodeName": "node-1", "startTime": ..., "cpu": {"time", "usageNanoCores",
              "usageCoreNanoSeconds"}, "memory": {"time", "workingSetBytes", "usageBytes"}},
     "pods": [{"podRef": {"name", "namespace", "uid"}, "startTime", "cpu": {...}, "memory": {...},
               "containers": [{"name", "startTime", "cpu": {...}, "memory": {...}}]}]}

CPU usage is a rate, and a container only reports a counter (``usageCoreNanoSeconds``: the CPU time
it has used since it started). So the agent keeps, per container, the last two samples it took and
answers ``usageNanoCores = Δ usageCoreNanoSeconds / Δ seconds`` between them (`usage_nano_cores`).
A sample is taken when a summary is asked for, at most once per `min_sample_interval`: nothing runs
while nobody asks, and two scrapers in a row do not shrink the window to nothing. A container's
first answer has no ``usageNanoCores`` yet (one sample is not a rate); the metrics server skips it
until the next scrape, as metrics-server does.

Where a sample comes from:

- **Docker** (`DockerRuntime.container_stats`): one one-shot read of the engine's stats API per
  container (``GET /containers/<id>/stats?stream=false&one-shot=true``), i.e. the container's cgroup:
  ``cpu_stats.cpu_usage.total_usage`` and ``memory_stats.usage`` minus the inactive file cache,
  which is the working set the kubelet reports (cAdvisor's definition). The node's own usage is
  the host's (``psutil``: busy CPU time, total minus available memory).
- **Simulated** (no cgroup to read): synthetic usage, steered by the pod's annotations, in the
  simulated runtime's annotation scheme (orchestrator/nodeagent/runtimes/simulated.py)::

      sim.labkit.io/cpu-usage: "250m"          every container of the pod uses 250 millicores
      sim.labkit.io/web.cpu-usage: "1"         container "web" uses one core (wins)
      sim.labkit.io/memory-usage: "64Mi"       working set of each container

  Defaults: `SIM_DEFAULT_CPU` and `SIM_DEFAULT_MEMORY`. The annotations are read at each sample,
  so ``kubectl annotate pod x sim.labkit.io/cpu-usage=800m --overwrite`` shows in the next sample.
  The synthetic counter grows by ``rate x elapsed`` per sample, so the two-sample rate is exactly
  the steered value. The summary says it is simulated: ``node.labkit`` is
  ``{"source": "simulated"}`` (``{"source": "docker"}`` on Docker), and the metrics server passes
  it on to every NodeMetrics/PodMetrics as the ``metrics.labkit.io/source`` annotation.
  The node's usage is the sum of its pods' (zero when it runs none).

Kubernetes equivalent: pkg/kubelet/server/stats/summary.go (SummaryProvider),
pkg/kubelet/stats/cri_stats_provider.go (usageNanoCores from cached CPU usage),
k8s.io/kubelet/pkg/apis/stats/v1alpha1/types.go
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from orchestrator.api.errors import BadRequest, NotFound
from orchestrator.api.quantity import parse_quantity
from orchestrator.api.timestamps import rfc3339
from orchestrator.nodeagent.podworker import PodWorker
from orchestrator.nodeagent.runtimes.base import ContainerNotFound, Runtime
from orchestrator.nodeagent.runtimes.simulated import sim_annotation
from orchestrator.nodeagent.runtimes.usage import StatsRuntime, UsageSample, usage_nano_cores

SIM_CPU_KEY = "cpu-usage"
SIM_MEMORY_KEY = "memory-usage"
SIM_DEFAULT_CPU = "5m"
SIM_DEFAULT_MEMORY = "8Mi"
DEFAULT_MIN_SAMPLE_INTERVAL = 0.5  # seconds

Source = Literal["docker", "simulated"]


def parse_synthetic(value: str | None, default: str, *, key: str) -> float:
    """A steering annotation's quantity (``250m``, ``64Mi``), or the default's when it is missing or
    does not parse: a typo must not stop the metrics of the whole node."""
    for raw in (value, default):
        if raw is None:
            continue
        try:
            quantity = float(parse_quantity(raw))
        except (ValueError, TypeError, ArithmeticError):
            continue
        if quantity >= 0:
            return quantity
    raise ValueError(f"{key}: default {default!r} is not a quantity")


@dataclass
class _History:
    previous: UsageSample | None
    latest: UsageSample


def _at(moment: float) -> str:
    return rfc3339(datetime.fromtimestamp(moment, UTC))


def _cpu(history: _History) -> dict[str, Any]:
    cpu: dict[str, Any] = {"time": _at(history.latest.timestamp),
                           "usageCoreNanoSeconds": history.latest.cpu_usage_core_nanoseconds}
    rate = usage_nano_cores(history.previous, history.latest)
    if rate is not None:
        cpu["usageNanoCores"] = rate
        # labkit: the window the rate covers, which the metrics server reports as `window`
        cpu["windowSeconds"] = round(history.latest.timestamp - history.previous.timestamp, 3)  # type: ignore[union-attr]
    return cpu


def _memory(sample: UsageSample) -> dict[str, Any]:
    return {"time": _at(sample.timestamp), "workingSetBytes": sample.memory_working_set_bytes,
            "usageBytes": sample.memory_usage_bytes}


class SummaryProvider:
    """Answers one node's summary from the pods its workers run, sampling on demand."""

    def __init__(self, *, runtime: Runtime, min_sample_interval: float = DEFAULT_MIN_SAMPLE_INTERVAL,
                 clock: Any = time.time) -> None:
        self._runtime = runtime
        self._stats = runtime if isinstance(runtime, StatsRuntime) else None
        self.source: Source = "docker" if self._stats is not None else "simulated"
        self._min_interval = min_sample_interval
        self._clock = clock
        # The last two samples: per node, of each container (by id); and of each node itself.
        self._containers: dict[str, dict[str, _History]] = {}
        self._nodes: dict[str, _History] = {}
        self._started = clock()

    async def summary_of(self, agents: Mapping[str, Any], node: str | None) -> dict[str, Any]:
        """The summary of `node` among the process's `agents` (name -> NodeAgent); `node` may be left
        out when the process runs one node. What ``GET /stats/summary?node=`` answers."""
        if node is None:
            if len(agents) != 1:
                raise BadRequest(f"this node agent runs {len(agents)} nodes: name one with ?node=<name>")
            node = next(iter(agents))
        agent = agents.get(node)
        if agent is None:
            raise NotFound(f'node "{node}" is not run by this node agent', kind="nodes", name=node)
        return await self.summary(node, agent.workers.values())

    async def summary(self, node_name: str, workers: Iterable[PodWorker]) -> dict[str, Any]:
        """The Summary of `node_name`, whose pods `workers` run."""
        pods: list[dict[str, Any]] = []
        before = self._containers.get(node_name, {})
        current: dict[str, _History] = {}  # what is not sampled again now is gone: its history too
        for worker in list(workers):
            pod = await self._pod_stats(worker, before, current)
            if pod is not None:
                pods.append(pod)
        self._containers[node_name] = current
        node = await self._node_stats(node_name, pods)
        return {"node": node, "pods": pods}

    async def _pod_stats(self, worker: PodWorker, before: Mapping[str, _History],
                         current: dict[str, _History]) -> dict[str, Any] | None:
        meta = worker.pod.get("metadata") or {}
        names = [c.get("name") for c in (worker.pod.get("spec") or {}).get("containers") or []]
        ids = worker.container_ids()
        containers: list[dict[str, Any]] = []
        for name in names:
            if name not in ids:
                continue
            history = await self._container_sample(ids[name], meta.get("annotations") or {}, name,
                                                   before.get(ids[name]))
            if history is None:
                continue
            current[ids[name]] = history
            containers.append({"name": name, "startTime": (worker.pod.get("status") or {}).get("startTime"),
                               "cpu": _cpu(history), "memory": _memory(history.latest)})
        if not containers:
            return None
        return {
            "podRef": {"name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")},
            "startTime": (worker.pod.get("status") or {}).get("startTime"),
            "containers": containers,
            "cpu": _sum_cpu([c["cpu"] for c in containers]),
            "memory": _sum_memory([c["memory"] for c in containers]),
        }

    async def _container_sample(self, container_id: str, annotations: Mapping[str, str], name: str,
                                history: _History | None) -> _History | None:
        now = self._clock()
        if history is not None and now - history.latest.timestamp < self._min_interval:
            return history
        if self._stats is not None:
            sample = await self._stats.container_stats(container_id)
            if sample is None:
                return None
        else:
            try:  # a finished container (a Job's) uses nothing, as Docker's stats of it say
                if (await self._runtime.inspect(container_id)).state != "running":
                    return None
            except ContainerNotFound:
                return None
            sample = self._synthetic(annotations, name, history, now)
        return _History(history.latest if history is not None else None, sample)

    @staticmethod
    def _synthetic(annotations: Mapping[str, str], name: str, history: _History | None, now: float) -> UsageSample:
        cores = parse_synthetic(sim_annotation(annotations, SIM_CPU_KEY, container=name), SIM_DEFAULT_CPU,
                                key=SIM_CPU_KEY)
        memory = int(parse_synthetic(sim_annotation(annotations, SIM_MEMORY_KEY, container=name),
                                     SIM_DEFAULT_MEMORY, key=SIM_MEMORY_KEY))
        before = history.latest if history is not None else None
        counter = 0 if before is None else before.cpu_usage_core_nanoseconds + round(
            cores * 1e9 * max(0.0, now - before.timestamp))
        return UsageSample(timestamp=now, cpu_usage_core_nanoseconds=counter, memory_working_set_bytes=memory,
                           memory_usage_bytes=memory)

    @staticmethod
    def _synthetic_node(pods: list[dict[str, Any]], history: _History | None, now: float) -> UsageSample:
        """A simulated node uses what its pods use now (nothing when it runs none)."""
        rate = sum(p["cpu"].get("usageNanoCores", 0) for p in pods)
        memory = sum(p["memory"]["workingSetBytes"] for p in pods)
        before = history.latest if history is not None else None
        counter = 0 if before is None else before.cpu_usage_core_nanoseconds + round(
            rate * max(0.0, now - before.timestamp))
        return UsageSample(timestamp=now, cpu_usage_core_nanoseconds=counter, memory_working_set_bytes=memory,
                           memory_usage_bytes=memory)

    async def _node_stats(self, node_name: str, pods: list[dict[str, Any]]) -> dict[str, Any]:
        node: dict[str, Any] = {"nodeName": node_name, "startTime": _at(self._started),
                                "labkit": {"source": self.source}}
        history = self._nodes.get(node_name)
        now = self._clock()
        if history is None or now - history.latest.timestamp >= self._min_interval:
            if self._stats is None:
                sample = self._synthetic_node(pods, history, now)
            else:
                sample = await asyncio.to_thread(host_sample)
            history = _History(history.latest if history is not None else None, sample)
            self._nodes[node_name] = history
        node["cpu"], node["memory"] = _cpu(history), _memory(history.latest)
        return node


def host_sample() -> UsageSample:
    """The host's CPU counter (busy time of all CPUs) and memory in use (total minus available)."""
    import psutil

    times = psutil.cpu_times()
    busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
    memory = psutil.virtual_memory()
    used = int(memory.total - memory.available)
    return UsageSample(timestamp=time.time(), cpu_usage_core_nanoseconds=int(busy * 1e9),
                       memory_working_set_bytes=used, memory_usage_bytes=used)


def _sum_cpu(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """A pod's CPU: its containers' (a rate only when every container has one)."""
    out: dict[str, Any] = {"time": max(p["time"] for p in parts),
                           "usageCoreNanoSeconds": sum(p.get("usageCoreNanoSeconds", 0) for p in parts)}
    if all("usageNanoCores" in p for p in parts):
        out["usageNanoCores"] = sum(p["usageNanoCores"] for p in parts)
        out["windowSeconds"] = max(p["windowSeconds"] for p in parts)
    return out


def _sum_memory(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"time": max(p["time"] for p in parts), "workingSetBytes": sum(p["workingSetBytes"] for p in parts),
            "usageBytes": sum(p["usageBytes"] for p in parts)}


__all__ = ["SIM_CPU_KEY", "SIM_DEFAULT_CPU", "SIM_DEFAULT_MEMORY", "SIM_MEMORY_KEY", "SummaryProvider", "host_sample",
           "parse_synthetic"]
