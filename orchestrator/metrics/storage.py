"""The latest metrics of every node and pod, kept in memory between scrapes.

Each scrape of a node replaces everything that node said before (its NodeUsage and the usage of
the pods it runs), so a pod that moved or ended disappears with the next scrape of its old node;
a node that stops answering keeps its last metrics for `stale_after` seconds, then they are
dropped (metrics-server keeps only the latest window too: no history, no persistence).

Kubernetes equivalent: sigs.k8s.io/metrics-server/pkg/storage/storage.go
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.metrics.convert import NodeUsage, PodUsage


@dataclass
class _NodeEntry:
    scraped_at: float
    node: NodeUsage | None
    pods: dict[tuple[str, str], PodUsage] = field(default_factory=dict)


class MetricsStorage:
    """Node name → what its last successful scrape reported."""

    def __init__(self, *, stale_after: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._nodes: dict[str, _NodeEntry] = {}
        self._stale_after = stale_after
        self._clock = clock

    def store(self, node_name: str, node: NodeUsage | None, pods: list[PodUsage]) -> None:
        self._nodes[node_name] = _NodeEntry(self._clock(), node, {(p.namespace, p.name): p for p in pods})

    def forget(self, node_names: set[str]) -> None:
        """Drop nodes that no longer exist (or are no longer Ready)."""
        for name in [n for n in self._nodes if n in node_names]:
            del self._nodes[name]

    def _fresh(self) -> list[_NodeEntry]:
        now = self._clock()
        return [e for e in self._nodes.values() if now - e.scraped_at <= self._stale_after]

    def nodes(self) -> list[NodeUsage]:
        return [e.node for e in self._fresh() if e.node is not None]

    def pods(self) -> list[PodUsage]:
        return [p for e in self._fresh() for p in e.pods.values()]

    def node_names(self) -> set[str]:
        return set(self._nodes)


__all__ = ["MetricsStorage"]
