"""One container's resource usage as a runtime reads it, and the CPU rate between two readings.

A runtime that can read its containers' cgroups (Docker) implements `StatsRuntime`; the node
agent's summary (orchestrator/nodeagent/stats.py) keeps two samples per container and turns the
CPU counter into a rate with `usage_nano_cores`.

Kubernetes equivalent: pkg/kubelet/stats/cri_stats_provider.go (getAndUpdateContainerUsageNanoCores),
the CRI ContainerStats message (cpu usage_core_nano_seconds, memory working_set_bytes)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class UsageSample:
    """One reading of a CPU counter and a memory gauge (a container's cgroup, or the host)."""

    timestamp: float  # Unix time, seconds
    cpu_usage_core_nanoseconds: int  # CPU time used since start: a counter
    memory_working_set_bytes: int
    memory_usage_bytes: int


@runtime_checkable
class StatsRuntime(Protocol):
    """A runtime that can read one container's usage (Docker). The simulated runtime cannot:
    the summary makes up steered usage for it."""

    async def container_stats(self, container_id: str) -> UsageSample | None:
        """The container's usage now; None when it is not running (nothing to read)."""
        ...


def usage_nano_cores(previous: UsageSample | None, current: UsageSample) -> int | None:
    """The CPU rate between two samples, in billionths of a core; None without an earlier sample.

    Worked example: 1,200,000,000 ns of CPU at t=10.0 s and 1,450,000,000 ns at t=11.0 s →
    250,000,000 ns in 1 s = 250,000,000 nanocores ("250m"). A counter that went down (the container
    was restarted under the same id: cannot happen with Docker, but a runtime may) gives None
    rather than a negative rate."""
    if previous is None:
        return None
    elapsed = current.timestamp - previous.timestamp
    used = current.cpu_usage_core_nanoseconds - previous.cpu_usage_core_nanoseconds
    if elapsed <= 0 or used < 0:
        return None
    return round(used / elapsed)


def docker_sample(raw: Mapping[str, Any], *, now: float | None = None) -> UsageSample | None:
    """A sample from the engine's one-shot stats JSON; None for a container that is not running
    (the engine then answers zeros and a zero ``read`` time).

    The working set is ``usage - inactive_file`` (cgroup v2 ``memory.stat``; ``total_inactive_file``
    on cgroup v1), never below zero: the page cache the kernel can drop is not the container's."""
    cpu = ((raw.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    memory = raw.get("memory_stats") or {}
    if not cpu or "usage" not in memory:
        return None
    stat = memory.get("stats") or {}
    inactive = stat.get("inactive_file", stat.get("total_inactive_file", 0))
    usage = int(memory["usage"])
    return UsageSample(timestamp=now if now is not None else time.time(), cpu_usage_core_nanoseconds=int(cpu),
                       memory_working_set_bytes=max(0, usage - int(inactive)), memory_usage_bytes=usage)


__all__ = ["StatsRuntime", "UsageSample", "docker_sample", "usage_nano_cores"]
