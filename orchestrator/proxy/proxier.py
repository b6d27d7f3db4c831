"""The proxier: Services and EndpointSlices in, iptables rules out, at most once per `min_sync_period`.

Informer handlers only mark the state dirty and wake the sync loop; the loop re-reads both caches
and computes the whole rule set (level-triggered: a missed event cannot leave a stale rule, the
next sync fixes it). How often it syncs (kube-proxy's BoundedFrequencyRunner):

- a change syncs at once if the last sync was at least `min_sync_period` ago, otherwise as soon as
  that period is over — changes arriving meanwhile are batched into that one sync;
- every `sync_period`, changes or not, the sync is a full one: it repairs anything someone else
  removed or changed in our chains.

Full and partial syncs (kube-proxy's MinimizeIPTablesRestore): a **full** sync reads
``iptables-save``, writes every chain, adds any missing jump from a built-in chain, and deletes
every chain of our prefix it does not want — after a ``kill -9`` the restarted proxy's first sync
is full, so nothing stale survives. A **partial** sync writes only the chains whose rules changed
since the last successful sync and deletes the ones no longer wanted; a 100-Service lab where one
endpoint changes rewrites three chains instead of a thousand. A failed restore makes the next sync
full.

On shutdown `cleanup()` removes every chain of ours and every jump into them. (kube-proxy leaves
its rules in place when it exits so that traffic keeps flowing across a restart, and removes them
only with ``kube-proxy --cleanup``; a lab must leave the host as it found it at ``labctl down``.)

Kubernetes equivalent: pkg/proxy/iptables/proxier.go (Proxier, syncProxyRules),
pkg/util/async/bounded_frequency_runner.go
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from orchestrator.api.resources import ResourceInfo, by_group_resource
from orchestrator.client.informer import (
    DeletedFinalStateUnknown,
    Informer,
    SharedInformerFactory,
)
from orchestrator.proxy.iptables import IptablesError, Runner, cleanup_text, ours
from orchestrator.proxy.model import ServicePort, slice_service_key
from orchestrator.proxy.model import service_ports as ports_of
from orchestrator.proxy.rules import RuleSet, compute_rules, jump_rules, restore_text

__all__ = ["ENDPOINTSLICES", "SERVICES", "Proxier", "SyncStatus"]

log = logging.getLogger(__name__)

TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


def _resource(group_resource: str, fallback: ResourceInfo) -> ResourceInfo:
    # The API server's table is the truth once it serves the kind; the fallback has the same
    # shape and lets the proxy start (and wait) against a server that does not serve it yet.
    try:
        return by_group_resource(group_resource)
    except KeyError:
        return fallback


SERVICES = _resource("services", ResourceInfo("", "v1", "services", "service", "Service", True, ("svc",)))
ENDPOINTSLICES = _resource(
    "endpointslices.discovery.k8s.io",
    ResourceInfo("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", True),
)


@dataclass
class SyncStatus:
    """What `/status` answers: enough for a notebook, `labctl` and the sync benchmark."""

    mode: str  # "iptables" or "dry-run"
    prefix: str
    syncs: int = 0
    full_syncs: int = 0
    failures: int = 0
    last_sync_at: float | None = None  # time.time()
    last_sync_seconds: float | None = None
    last_error: str | None = None
    rules: int = 0
    service_ports: int = 0
    # The informers' resourceVersions the last applied rules were computed from: a change made
    # with resourceVersion R is in the kernel once the matching value is >= R.
    services_resource_version: int = 0
    endpointslices_resource_version: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Proxier:
    """Keeps the host's (or the dry run's) rules equal to what Services and EndpointSlices ask for."""

    def __init__(
        self,
        *,
        runner: Runner,
        prefix: str,
        cluster_cidr: str | None,
        min_sync_period: float = 0.25,
        sync_period: float = 30.0,
        rules_file: Path | None = None,
        registry: CollectorRegistry | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.runner = runner
        self.prefix = prefix
        self.cluster_cidr = cluster_cidr
        self.min_sync_period = min_sync_period
        self.sync_period = sync_period
        self.rules_file = rules_file
        self.status = SyncStatus(mode="dry-run" if runner.dry_run else "iptables", prefix=prefix)
        self.desired: RuleSet | None = None
        self._applied: RuleSet | None = None  # None: the next sync is a full one
        self._last_full = 0.0  # time.monotonic() of the last successful full sync
        self._dirty = asyncio.Event()
        self._changed_slices: list[dict[str, Any]] = []
        self._now = now
        self.services: Informer | None = None
        self.slices: Informer | None = None
        self.registry = registry or CollectorRegistry()
        self._sync_duration = Histogram(
            "kubeproxy_sync_proxy_rules_duration_seconds", "Time one rule sync takes (compute + restore).",
            buckets=_BUCKETS, registry=self.registry)
        self._programming = Histogram(
            "kubeproxy_network_programming_duration_seconds",
            "From an EndpointSlice's last-change-trigger-time to its rules applied.",
            buckets=_BUCKETS, registry=self.registry)
        self._failures = Counter("kubeproxy_sync_proxy_rules_iptables_restore_failures",
                                 "Failed iptables-restore runs.", registry=self.registry)
        Gauge("kubeproxy_sync_proxy_rules_iptables_total", "Rules the proxy last wrote.",
              registry=self.registry).set_function(lambda: self.status.rules)

    # --- informers ---------------------------------------------------------------------------

    def attach(self, factory: SharedInformerFactory) -> None:
        """Ask `factory` for the two informers; their handlers only mark the state dirty."""
        self.services = factory.informer(SERVICES)
        self.slices = factory.informer(ENDPOINTSLICES)
        self.slices.add_indexer("service", slice_service_key)
        self.services.add_handler(on_add=self._on_change, on_update=self._on_update, on_delete=self._on_delete)
        self.slices.add_handler(on_add=self._on_slice, on_update=self._on_slice_update, on_delete=self._on_delete)

    def _on_change(self, obj: dict[str, Any]) -> None:
        self._dirty.set()

    def _on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if old is not new:  # a resync's update(obj, obj) changes nothing
            self._dirty.set()

    def _on_delete(self, obj: dict[str, Any] | DeletedFinalStateUnknown) -> None:
        self._dirty.set()

    def _on_slice(self, obj: dict[str, Any]) -> None:
        self._changed_slices.append(obj)
        self._dirty.set()

    def _on_slice_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if old is not new:
            self._on_slice(new)

    def service_ports(self) -> list[ServicePort]:
        """Every proxied service port with its endpoints, from the informer caches."""
        assert self.services is not None and self.slices is not None
        out: list[ServicePort] = []
        for svc in self.services.list():
            meta = svc.get("metadata") or {}
            key = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
            out += ports_of(svc, self.slices.by_index("service", key))
        return out

    # --- the sync loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Sync on change (at most once per `min_sync_period`) and every `sync_period`, until cancelled."""
        assert self.services is not None and self.slices is not None
        await self.services.wait_for_sync()
        await self.slices.wait_for_sync()
        last = 0.0
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), timeout=max(0.0, self._last_full + self.sync_period
                                                                       - time.monotonic()))
            except TimeoutError:
                pass
            if time.monotonic() - self._last_full >= self.sync_period:
                self._applied = None  # the periodic sync is a full one: it repairs what others changed
            wait = last + self.min_sync_period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # changes arriving now join this sync
            self._dirty.clear()
            last = time.monotonic()
            await self.sync()

    async def sync(self) -> None:
        """Compute the rules from the caches and apply what changed (everything, on a full sync)."""
        t0 = time.monotonic()
        services_rv = _int(self.services.last_sync_resource_version if self.services else "")
        slices_rv = _int(self.slices.last_sync_resource_version if self.slices else "")
        changed, self._changed_slices = self._changed_slices, []
        ports = self.service_ports()
        desired = compute_rules(ports, prefix=self.prefix, cluster_cidr=self.cluster_cidr)
        full = self._applied is None
        try:
            if full:
                owned = ours(await self.runner.save(), self.prefix)
                missing = [j for j in jump_rules(self.prefix) if not owned.has_jump(j)]
                text = restore_text(desired, applied=None, existing=owned.chains, missing_jumps=missing)
            else:
                text = restore_text(desired, applied=self._applied, existing={}, missing_jumps=())
            await self.runner.restore(text)
        except (IptablesError, OSError) as err:
            self._applied = None
            self.status.failures += 1
            self.status.last_error = str(err)
            self._failures.inc()
            log.error("sync failed (the next one is a full sync): %s", err)
            self._dirty.set()
            return
        self._applied = self.desired = desired
        if full:
            self._last_full = time.monotonic()
        elapsed = time.monotonic() - t0
        self._sync_duration.observe(elapsed)
        self._observe_programming(changed)
        st = self.status
        st.syncs += 1
        st.full_syncs += full
        st.last_sync_at, st.last_sync_seconds, st.last_error = self._now(), elapsed, None
        st.rules, st.service_ports = desired.rule_count(), len(ports)
        st.services_resource_version = max(st.services_resource_version, services_rv)
        st.endpointslices_resource_version = max(st.endpointslices_resource_version, slices_rv)
        if self.rules_file is not None:
            self._write_rules_file(desired)
        log.log(logging.INFO if full else logging.DEBUG, "%s sync: %d service ports, %d rules, %d restore lines, %.3fs",
                "full" if full else "partial", len(ports), st.rules, text.count("\n"), elapsed)

    def _observe_programming(self, changed: list[dict[str, Any]]) -> None:
        now = self._now()
        for eps in changed:
            stamp = ((eps.get("metadata") or {}).get("annotations") or {}).get(TRIGGER_TIME_ANNOTATION)
            if stamp:
                try:
                    self._programming.observe(max(0.0, now - datetime.fromisoformat(stamp).timestamp()))
                except ValueError:
                    pass

    def _write_rules_file(self, desired: RuleSet) -> None:
        assert self.rules_file is not None
        tmp = self.rules_file.with_suffix(".tmp")
        tmp.write_text(self.rules_text(desired))
        tmp.replace(self.rules_file)  # readers never see half a file

    def rules_text(self, desired: RuleSet | None = None) -> str:
        """The whole rule set as restore input, headed by what the proxy does with it."""
        desired = desired or self.desired
        if desired is None:
            return "# no sync yet: waiting for Services and EndpointSlices\n"
        how = ("DRY RUN: these rules are computed, not applied" if self.runner.dry_run
               else "applied with iptables-restore --noflush")
        return f"# labkit proxy, chains {self.prefix}*: {how}\n" + desired.text()

    async def cleanup(self) -> None:
        """Remove every chain of our prefix and every jump into them (what `labctl down` leaves behind: nothing)."""
        if self.runner.dry_run:
            return
        text = cleanup_text(ours(await self.runner.save(), self.prefix))
        await self.runner.restore(text)
        self._applied = None
        if text:
            log.info("removed the proxy's chains %s* and their jump rules", self.prefix)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
