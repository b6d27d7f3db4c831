"""The controller manager: every controller in one process, acting only while it holds the Lease.

Lifecycle (shutdown in reverse):

1. one `SharedInformerFactory` for all controllers (each kind listed and watched once) and
   one `EventRecorder` per controller (events name their source, e.g. ``replicaset-controller``);
2. informers and recorders run from the start, also on a standby, so a standby that takes
   over has warm caches and every key already queued;
3. once the caches have synced: either the controllers' workers run (no leader election), or
   the candidate loop: wait for the Lease ``kube-system/kube-controller-manager``, run the
   workers while leading, cancel them when a renewal fails for ``renew_deadline`` and stand by
   again. (kube-controller-manager exits instead and relies on being restarted; a lab has
   nobody to restart it.) Because ``renew_deadline < lease_duration``, the old leader has
   stopped acting before any standby can take the Lease: two replicas never both act.

A new leader's controllers start once its caches hold every write of the old leader: each
informer reaches the Lease's handover revision (the old leader's release, or the write that took
an expired Lease), or lists afresh after ``catch_up_patience`` (`Informer.catch_up`).

A sync interrupted by losing the lead puts its key back in the queue and forgets what it
expected of its own writes (`Controller.interrupted`); syncs are level-triggered, so the next
leader (or this one, later) simply does it again.

Kubernetes equivalent: cmd/kube-controller-manager/app/controllermanager.go
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.client.clock import Clock, LoopClock
from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import SharedInformerFactory
from orchestrator.client.leaderelection import LeaderElector
from orchestrator.client.rest import ApiClient
from orchestrator.controllers.controller import Controller, ControllerContext, SyncObserver
from orchestrator.controllers.cronjob import CronJobController
from orchestrator.controllers.daemonset import DaemonSetController
from orchestrator.controllers.deployment import DeploymentController
from orchestrator.controllers.disruption import EvictionRates
from orchestrator.controllers.disruptionbudget import DisruptionController
from orchestrator.controllers.endpoints import EndpointsController
from orchestrator.controllers.endpointslice import EndpointSliceController
from orchestrator.controllers.garbagecollector import GarbageCollector
from orchestrator.controllers.horizontal import DEFAULT_SYNC_PERIOD, HorizontalController
from orchestrator.controllers.hpabehavior import DEFAULT_DOWNSCALE_STABILIZATION
from orchestrator.controllers.job import DEFAULT_BACKOFF, JobController
from orchestrator.controllers.namespace import NamespaceController
from orchestrator.controllers.nodelifecycle import NodeLifecycleController
from orchestrator.controllers.persistentvolume import PersistentVolumeController
from orchestrator.controllers.podgc import PodGCController
from orchestrator.controllers.replicacalculator import DEFAULT_CPU_INITIALIZATION_PERIOD
from orchestrator.controllers.replicaset import ReplicaSetController, ReplicationControllerController
from orchestrator.controllers.resourcequota import ResourceQuotaController
from orchestrator.controllers.serviceaccounts import ServiceAccountsController
from orchestrator.controllers.statefulset import StatefulSetController

__all__ = ["CONTROLLERS", "ControllerManager", "ManagerOptions"]

log = logging.getLogger(__name__)

CATCH_UP_REPORT_SECONDS = 10.0

#: Every controller this manager can run, by the name --controllers uses.
CONTROLLERS: dict[str, type[Controller]] = {
    "replicaset": ReplicaSetController,
    "replicationcontroller": ReplicationControllerController,
    "deployment": DeploymentController,
    "daemonset": DaemonSetController,
    "statefulset": StatefulSetController,
    "job": JobController,
    "cronjob": CronJobController,
    "disruption": DisruptionController,
    "garbagecollector": GarbageCollector,
    "namespace": NamespaceController,
    "nodelifecycle": NodeLifecycleController,
    "podgc": PodGCController,
    "serviceaccount": ServiceAccountsController,
    "resourcequota": ResourceQuotaController,
    "endpoint": EndpointsController,
    "endpointslice": EndpointSliceController,
    "persistentvolume-binder": PersistentVolumeController,
    "horizontalpodautoscaling": HorizontalController,
}


@dataclass(frozen=True)
class ManagerOptions:
    controllers: Sequence[str] = tuple(CONTROLLERS)
    workers: int | None = None  # None: each controller's own default
    namespace: str | None = None  # act in one namespace only (labs and tests)
    node_monitor_grace_period: float = 50.0
    node_monitor_period: float = 5.0
    pod_eviction_timeout: int = 300
    eviction_rates: EvictionRates = field(default_factory=EvictionRates)
    podgc_period: float = 20.0
    terminated_pod_gc_threshold: int = 12500
    job_backoff_base: float = DEFAULT_BACKOFF  # labs and tests shorten the Job pod-failure back-off
    local_volume_dir: Path | None = None  # where node agents keep local-path volumes (removed on reclaim)
    # HPA: labs and tests shorten the sync period and the scale-down stabilization window
    hpa_sync_period: float = DEFAULT_SYNC_PERIOD
    hpa_downscale_stabilization: float = DEFAULT_DOWNSCALE_STABILIZATION
    hpa_cpu_initialization_period: float = DEFAULT_CPU_INITIALIZATION_PERIOD
    # A new leader's informers get this long to reach the Lease's handover revision by their watches
    # (a quiet one only moves at its next bookmark), then list afresh: a takeover costs at most this more.
    catch_up_patience: float = 2.0

    def __post_init__(self) -> None:
        unknown = [c for c in self.controllers if c not in CONTROLLERS]
        if unknown:
            raise ValueError(f"unknown controllers {unknown}; known: {', '.join(CONTROLLERS)}")


class ControllerManager:
    def __init__(self, client: ApiClient, *, options: ManagerOptions | None = None, identity: str = "",
                 clock: Clock | None = None, observer: SyncObserver | None = None) -> None:
        self.client = client
        self.options = options or ManagerOptions()
        self.identity = identity
        self.clock: Clock = clock if clock is not None else LoopClock()
        self.factory = SharedInformerFactory(client)
        self.recorders: list[EventRecorder] = []
        self.controllers: list[Controller] = []
        self.observer = observer
        self.synced = False
        self.leading = False
        self._became_leader = asyncio.Event()
        for name in self.options.controllers:
            recorder = EventRecorder(client, component=f"{name}-controller", host=identity or None)
            self.recorders.append(recorder)
            ctx = ControllerContext(client=client, factory=self.factory, recorder=recorder, clock=self.clock,
                                    namespace=self.options.namespace, observer=self._observe)
            self.controllers.append(self._build(name, ctx))

    def _build(self, name: str, ctx: ControllerContext) -> Controller:
        o = self.options
        if name == "nodelifecycle":
            return NodeLifecycleController(ctx, workers=o.workers, grace_period=o.node_monitor_grace_period,
                                           monitor_period=o.node_monitor_period,
                                           default_toleration_seconds=o.pod_eviction_timeout,
                                           rates=o.eviction_rates)
        if name == "podgc":
            return PodGCController(ctx, workers=1, period=o.podgc_period,
                                   terminated_threshold=o.terminated_pod_gc_threshold)
        if name == "job":
            return JobController(ctx, workers=o.workers, backoff_base=o.job_backoff_base)
        if name == "persistentvolume-binder":
            return PersistentVolumeController(ctx, workers=o.workers, local_volume_dir=o.local_volume_dir)
        if name == "horizontalpodautoscaling":
            return HorizontalController(ctx, workers=o.workers, sync_period=o.hpa_sync_period,
                                        downscale_stabilization=o.hpa_downscale_stabilization,
                                        cpu_initialization_period=o.hpa_cpu_initialization_period)
        return CONTROLLERS[name](ctx, workers=o.workers)

    def on_started_leading(self) -> None:
        """Give this to the LeaderElector as ``on_started_leading``."""
        self._became_leader.set()

    def _observe(self, controller: str, key: str, seconds: float, error: BaseException | None) -> None:
        if self.observer is not None:
            self.observer(controller, key, seconds, error)

    def controller(self, name: str) -> Controller:
        for c in self.controllers:
            if c.name == name:
                return c
        raise KeyError(f"no controller {name!r}; running: {', '.join(c.name for c in self.controllers)}")

    # --- running ------------------------------------------------------------------------------

    async def run(self, elector: LeaderElector | None = None) -> None:
        """Run until cancelled: informers and recorders always, controllers while leading."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.factory.run(), name="informers")
            for recorder in self.recorders:
                tg.create_task(recorder.run(), name=f"events:{recorder.component}")
            await self.factory.wait_for_sync()
            self.synced = True
            log.info("informers synced (%s)", ", ".join(f"{i.resource.group_resource}: {len(i.store)}"
                                                       for i in self.factory.informers))
            if elector is None:
                tg.create_task(self._run_controllers(), name="controllers")
            else:
                tg.create_task(self._lead(elector), name="candidate")

    async def _run_controllers(self) -> None:
        self.leading = True
        try:
            async with asyncio.TaskGroup() as tg:
                for c in self.controllers:
                    tg.create_task(c.run(), name=f"controller:{c.name}")
        finally:
            self.leading = False

    async def _catch_up_and_run(self, handover_revision: int) -> None:
        """Run the controllers once every cache holds what the old leader wrote before it stopped:
        those writes came before ``handover_revision`` (`LeaderElector.handover_revision`: its
        release, or our taking write if its Lease expired; 0 when there was no leader), and a
        cache missing them (a standby's watch can lag behind a busy server) would, for example,
        have the ReplicaSet controller create pods the old leader already created. (A write still
        in flight when the old leader stopped may commit later; syncs are level-triggered, and
        expectations plus optimistic concurrency handle that one.)

        Like kube-controller-manager's controllers waiting for their caches to sync, this waits
        as long as it takes, saying every CATCH_UP_REPORT_SECONDS which caches are behind."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        catching = asyncio.ensure_future(self.factory.catch_up(handover_revision, patience=self.options.catch_up_patience))
        try:
            while not (await asyncio.wait({catching}, timeout=CATCH_UP_REPORT_SECONDS))[0]:
                behind = [i.resource.group_resource for i in self.factory.informers if not i.reflects(handover_revision)]
                log.warning("%s: leading, but %d cache(s) have not reached revision %d after %.0fs (%s); the "
                            "controllers wait for them", self.identity, len(behind), handover_revision,
                            loop.time() - started, ", ".join(behind))
        finally:
            catching.cancel()
        relisted = catching.result()
        log.info("%s: leading: caches at revision %d after %.2fs (%d listed again: %s); starting %d controllers",
                 self.identity, handover_revision, loop.time() - started, len(relisted),
                 ", ".join(i.resource.group_resource for i in relisted) or "none", len(self.controllers))
        await self._run_controllers()

    async def _lead(self, elector: LeaderElector) -> None:
        """Candidate -> leader (controllers run) -> renewal failed (they stop) -> candidate again."""
        became_leader = self._became_leader
        while True:
            became_leader.clear()
            election = asyncio.create_task(elector.run(), name="leader-election")
            waiting = asyncio.create_task(became_leader.wait(), name="leader-election-wait")
            try:
                await asyncio.wait({election, waiting}, return_when=asyncio.FIRST_COMPLETED)
                if became_leader.is_set():
                    running = asyncio.create_task(self._catch_up_and_run(elector.handover_revision), name="controllers")
                    try:
                        await asyncio.wait({election, running}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        running.cancel()
                        await asyncio.gather(running, return_exceptions=True)
                    if not running.cancelled() and running.exception() is not None:
                        # A controller crashed: leading on without controllers would hold the
                        # Lease and do nothing. Exit, as kube-controller-manager does, and be restarted.
                        raise running.exception()  # type: ignore[misc]
                await election
            finally:
                waiting.cancel()
                election.cancel()
                await asyncio.gather(election, waiting, return_exceptions=True)
            log.warning("%s: not leading any more; standing by", self.identity)
