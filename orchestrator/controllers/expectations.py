"""Expectations: what a controller has asked for and not yet seen through its informers.

Why they exist. The ReplicaSet controller counts pods in its informer cache. Right after it
creates 3 pods the cache does not hold them yet — the creations travel API server -> storage ->
watch -> informer. A sync in that window would count 0 pods again and create 3 more. So before
creating, the controller *expects* 3 creations for the ReplicaSet's key; each pod ADDED event
that arrives lowers the count (`creation_observed`); and `sync` only manages replicas when the
key's expectations are *satisfied*:

- no record for the key (never expected anything, or the ReplicaSet was deleted), or
- every expected create and delete has been observed (``add <= 0 and del <= 0``), or
- the record is older than `ttl` (5 minutes, as upstream): a watch event can be lost for good
  (e.g. the pod was created and deleted between two relists), and a controller stuck forever
  is worse than a rare double create that the next sync corrects by deleting.

A failed create never arrives, so the controller lowers the expectation itself
(`creation_observed` once per failure, or `lower_expectations`).

Deletions are tracked by *pod key*, not just counted (client-go's UIDTrackingControllerExpectations):
a deleted pod is seen twice — once when it gets its ``deletionTimestamp`` (graceful deletion),
once when it is gone — and must count once. `deletion_observed(rs_key, pod_key)` only lowers
the count if that pod was one we were waiting for.

Worked example: replicas 5, 2 pods cached. ``expect_creations("ns/web", 3)`` -> not satisfied.
Two ADDED events -> add = 1, still not satisfied: a sync now does not manage replicas (it still
updates status). The third ADDED event -> add = 0: satisfied, and the next sync sees 5 pods.

Kubernetes equivalent: pkg/controller/controller_utils.go (ControllerExpectations,
UIDTrackingControllerExpectations, ExpectationsTimeout).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from orchestrator.client.clock import Clock, LoopClock

__all__ = ["EXPECTATIONS_TTL", "Expectations"]

log = logging.getLogger(__name__)

EXPECTATIONS_TTL = 5 * 60.0  # upstream ExpectationsTimeout


@dataclass
class _Record:
    add: int
    delete: int
    timestamp: float
    deleting: set[str] = field(default_factory=set)  # pod keys whose deletion we await


class Expectations:
    """Per controller key: creations and deletions asked for and not yet observed."""

    def __init__(self, *, clock: Clock | None = None, ttl: float = EXPECTATIONS_TTL) -> None:
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._ttl = ttl
        self._records: dict[str, _Record] = {}

    def satisfied(self, key: str) -> bool:
        """True when a sync may act on `key` (see the module docstring for the three cases)."""
        record = self._records.get(key)
        if record is None:
            return True
        if record.add <= 0 and record.delete <= 0:
            return True
        if self._clock.now() - record.timestamp > self._ttl:
            log.info("expectations of %s expired (add=%d del=%d): syncing anyway", key, record.add, record.delete)
            return True
        return False

    def expect_creations(self, key: str, count: int) -> None:
        """Replace `key`'s record: `count` creations are on their way."""
        self._records[key] = _Record(add=count, delete=0, timestamp=self._clock.now())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        """Replace `key`'s record: these pods' deletions are on their way."""
        keys = set(pod_keys)
        self._records[key] = _Record(add=0, delete=len(keys), timestamp=self._clock.now(), deleting=keys)

    def expect(self, key: str, *, creations: int, deletions: Iterable[str]) -> None:
        """Replace `key`'s record with both at once (a DaemonSet creates and deletes in one sync)."""
        keys = set(deletions)
        self._records[key] = _Record(add=creations, delete=len(keys), timestamp=self._clock.now(), deleting=keys)

    def creation_observed(self, key: str) -> None:
        record = self._records.get(key)
        if record is not None:
            record.add -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """A pod we may have deleted went (or started going): counts once per pod."""
        record = self._records.get(key)
        if record is not None and pod_key in record.deleting:
            record.deleting.discard(pod_key)
            record.delete -= 1

    def lower_expectations(self, key: str, *, add: int = 0, delete_keys: Iterable[str] = ()) -> None:
        """Creations that were never sent, or deletions that failed: stop waiting for them."""
        record = self._records.get(key)
        if record is None:
            return
        record.add -= add
        for pod_key in delete_keys:
            self.deletion_observed(key, pod_key)

    def delete(self, key: str) -> None:
        """Forget `key` (its owner was deleted)."""
        self._records.pop(key, None)

    def pending(self, key: str) -> tuple[int, int]:
        """(creations, deletions) still expected, for tests and status pages."""
        record = self._records.get(key)
        return (0, 0) if record is None else (record.add, record.delete)
