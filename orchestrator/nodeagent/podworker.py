"""One pod's worker: drives its containers through the runtime and reports its status.

A `PodWorker` is one named task per pod. It sleeps until something happens — the pod changed
in the API (`update`), a container changed in the runtime (`notify`, from the agent's relist),
a probe flipped, a back-off timer is due — and then runs `sync`, which is level-triggered: it
looks at the pod and its containers as they are now and does the next step. Steps, per
container of the spec:

1. never started → make sure the image is there (``ErrImagePull`` on failure, then
   ``ImagePullBackOff`` until the back-off ends), then create and start it;
2. running → if its startup probe reached its failure threshold or its liveness probe failed,
   kill it (preStop hook first; it then counts as exited); when its startup probe succeeds, start
   its liveness and readiness probes;
3. exited → restart it if the restartPolicy says so (Always; OnFailure when the exit code is
   not 0). The first restart is immediate; each further one waits in ``CrashLoopBackOff``
   for a delay that starts at ``crashloop_base`` (10 s) and doubles up to ``crashloop_max``
   (300 s). A container that ran for longer than twice the maximum starts over at the base.

Before any container: the pod's volumes are made and filled (orchestrator/nodeagent/volumes.py;
a missing ConfigMap or Secret keeps the containers in ``ContainerCreating``), then the init
containers run one at a time, in order, each to completion (exit 0) before the next, and the app
containers start only when all have: a failed init container is restarted with the same
back-off unless the restartPolicy is Never, which fails the pod. Until then the app containers
wait in ``PodInitializing`` and the pod is Pending with ``Initialized=False``. Each container's
environment is resolved at its start (orchestrator/nodeagent/envvars.py); a reference that
cannot be resolved leaves it waiting in ``CreateContainerConfigError``, retried every
``crashloop_base`` seconds (not doubled) until the object appears. While the pod runs, its
configMap/secret/downwardAPI/projected volumes are written again every
``volume_resync_seconds``. Each start also runs the container's ``postStart`` hook, and each
kill its ``preStop`` hook first (orchestrator/nodeagent/lifecycle.py); an exited container's
termination-message file becomes ``state.terminated.message``.

Then it computes the status (orchestrator/nodeagent/status.py) and PATCHes it when it changed.

Termination: a pod with ``deletionTimestamp`` has its containers stopped with the pod's
``deletionGracePeriodSeconds`` (SIGTERM, wait, SIGKILL), removed, and then the pod is deleted
for good with ``gracePeriodSeconds=0`` (and the pod's uid as a precondition, so a new pod of
the same name is never touched). A pod that vanished from the API without that (force
deletion) gets its containers stopped with kubelet's minimum grace of 2 s.

Adoption: a worker starts from the containers the runtime already has for its pod uid (found
by label after an agent restart): the newest attempt per container name is the current one,
with its restart count from its label, so nothing is restarted or duplicated.

Kubernetes equivalent: pkg/kubelet/pod_workers.go, pkg/kubelet/kuberuntime/kuberuntime_manager.go
(computePodActions, SyncPod), pkg/kubelet/kubelet.go (syncPod, syncTerminatingPod).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchestrator.api.errors import ApiError, NotFound
from orchestrator.api.quantity import cpu_millis, memory_bytes
from orchestrator.api.timestamps import now_rfc3339, parse_rfc3339
from orchestrator.client.clock import Clock, LoopClock
from orchestrator.nodeagent import lifecycle
from orchestrator.nodeagent import status as podstatus
from orchestrator.nodeagent.apiobjects import ObjectSource
from orchestrator.nodeagent.credentials import PodCredentials, Projection
from orchestrator.nodeagent.dns import pod_dns_config
from orchestrator.nodeagent.downward import PodRuntimeFields
from orchestrator.nodeagent.envvars import CREATE_CONTAINER_CONFIG_ERROR, config_error, make_environment
from orchestrator.nodeagent.probes import ProbeWorker
from orchestrator.nodeagent.runtimes.base import (
    PULL_POLICIES,
    ContainerNotFound,
    ContainerSpec,
    ContainerStartFailed,
    ContainerState,
    PullPolicy,
    Runtime,
    normalize_image,
)
from orchestrator.nodeagent.volumes import PodVolumes

log = logging.getLogger(__name__)

# Retry delays of a volume that could not be set up (kubelet's exponentialbackoff for volume operations).
VOLUME_RETRY_INITIAL = 0.5
VOLUME_RETRY_MAX = 122.0

MINIMUM_GRACE_PERIOD = 2.0  # kubelet's minimumGracePeriodInSeconds for force-deleted pods
RETRY_AFTER_ERROR = 2.0  # seconds before a sync that failed (API server or runtime down) is retried


class PodStatusSink(Protocol):
    """Where a worker reports: the API server in the agent, a recorder in unit tests."""

    async def patch_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        """Write `status` as the pod's status. Raises NotFound when the pod is gone."""
        ...

    async def confirm_deletion(self, pod: Mapping[str, Any]) -> None:
        """Delete the pod for good (gracePeriodSeconds=0, uid precondition); NotFound is fine."""
        ...


@dataclass
class WorkerConfig:
    """What every pod worker of one node shares."""

    node_name: str
    runtime: Runtime
    sink: PodStatusSink
    runtime_scheme: str = "docker"
    host_ip: str = "127.0.0.1"
    crashloop_base: float = 10.0
    crashloop_max: float = 300.0
    clock: Clock = field(default_factory=LoopClock)
    # kubelet's --cluster-dns and --cluster-domain: the resolver of ClusterFirst pods.
    cluster_dns: tuple[str, ...] = ()
    cluster_domain: str = "cluster.local"
    on_started: Any = None  # callable(seconds_from_creation) for the startup-latency metric
    # The ServiceAccount token, CA and API server address given to containers (None: nothing).
    credentials: PodCredentials | None = None
    # False: no Pending/ContainerCreating report before the first start (KWOK-style, one PATCH per pod)
    report_creating: bool = True
    # ConfigMaps, Secrets and tokens for env and volumes (None: a pod that references one waits)
    objects: ObjectSource | None = None
    # Where pod volumes and termination-message files live (kubelet's --root-dir); None: no files
    # (a pod with volumes then waits in ContainerCreating, saying so)
    root_dir: Path | None = None
    # Where persistentVolumeClaim volumes live, one directory per PersistentVolume (shared by a lab's nodes)
    persistent_volumes_dir: Path | None = None
    volume_resync_seconds: float = 60.0
    # A termination-message file per container start (False: none, for fleets of simulated nodes)
    termination_logs: bool = True
    # The node's allocatable, for resourceFieldRef of a container without that limit
    allocatable: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Slot:
    """What the worker knows of one container of the spec."""

    name: str
    spec: dict[str, Any]
    init: bool = False
    current: ContainerState | None = None
    previous: ContainerState | None = None
    restart_count: int = 0
    waiting: podstatus.Waiting | None = None
    delay: float | None = None  # the next back-off delay (restart or pull)
    retry_at: float | None = None  # clock time before which nothing is retried
    handled_exit: str | None = None  # id of the exited container whose back-off is computed
    waiting_delay: float = 0.0  # the back-off being waited now, for the message
    pull_error_until: float = 0.0  # clock time until which a failed pull shows ErrImagePull
    startup: ProbeWorker | None = None
    startup_passed: bool = False  # the current attempt's startup probe succeeded (or there is none)
    liveness: ProbeWorker | None = None
    readiness: ProbeWorker | None = None
    termination_logs: dict[str, str] = field(default_factory=dict)  # container id -> its file on the node
    messages: dict[str, str] = field(default_factory=dict)  # container id -> its termination message
    probe_tasks: list[asyncio.Task[None]] = field(default_factory=list)


class PodWorker:
    """Runs one pod; see the module docstring."""

    def __init__(self, pod: dict[str, Any], *, config: WorkerConfig, adopted: Sequence[ContainerState] = ()) -> None:
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.key = f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"
        self.config = config
        self.finished = False  # containers gone and the deletion confirmed
        self.syncs = 0
        self._gone = False
        self._wake = asyncio.Event()
        self._next_at: float | None = None
        self._last_status: dict[str, Any] | None = None
        self._pod_ip: str | None = None
        self._start_time: str | None = (pod.get("status") or {}).get("startTime")
        self._started_reported = False
        spec = pod.get("spec") or {}
        self._init_slots = [_Slot(c["name"], c, init=True) for c in spec.get("initContainers") or []]
        self._slots = {c["name"]: _Slot(c["name"], c) for c in spec.get("containers") or []}
        self._initialized = not self._init_slots
        self._init_failed = False
        self._volumes: PodVolumes | None = None
        self._pod_dir = None if config.root_dir is None else config.root_dir / "pods" / self.uid
        if spec.get("volumes"):
            self._volumes = PodVolumes(pod, root=config.root_dir, source=config.objects,
                                       persistent_volumes_dir=config.persistent_volumes_dir)
        self._volumes_due: float | None = None
        self._volume_retry = VOLUME_RETRY_INITIAL
        self._strays: list[ContainerState] = []
        self._adopt(adopted)
        self._wake.set()

    # --- what the agent calls ------------------------------------------------------------

    def update(self, pod: dict[str, Any]) -> None:
        """The pod changed in the API."""
        self.pod = pod
        self._wake.set()

    def notify(self) -> None:
        """Something changed in the runtime (or a probe flipped): sync soon."""
        self._wake.set()

    def gone(self) -> None:
        """The pod was deleted from the API: stop its containers and end."""
        self._gone = True
        self._wake.set()

    def container_ids(self, *, previous: bool = False) -> dict[str, str]:
        """Container name → runtime id of the current (or previous) attempt, for the log server."""
        out: dict[str, str] = {}
        for name, slot in self._all_slots():
            state = slot.previous if previous else slot.current
            if state is not None:
                out[name] = state.id
        return out

    async def run(self) -> None:
        """Sync whenever woken, until the pod is terminated and its deletion confirmed."""
        try:
            while not self.finished:
                timeout = None if self._next_at is None else max(0.0, self._next_at - self.config.clock.now())
                if not self._wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
                self._next_at = None
                try:
                    await self.sync()
                except ApiError as err:
                    log.warning("pod %s: sync failed, retrying in %.0fs: %s", self.key, RETRY_AFTER_ERROR, err)
                    self._schedule(self.config.clock.now() + RETRY_AFTER_ERROR)
        finally:
            self._stop_all_probes()

    # --- the sync ------------------------------------------------------------------------

    async def sync(self) -> None:
        self.syncs += 1
        meta = self.pod.get("metadata") or {}
        if self._gone or meta.get("deletionTimestamp"):
            await self._terminate()
            return
        if (self.pod.get("status") or {}).get("phase") in podstatus.TERMINAL_PHASES and self._last_status is None:
            # Finished before this worker existed (an agent restart): never start it again.
            self._stop_all_probes()
            return
        if self._last_status is None:
            self._start_time = self._start_time or now_rfc3339()
            if self.config.report_creating:
                await self._report()  # Pending / ContainerCreating, before a slow pull
        for _, slot in self._all_slots():
            await self._refresh(slot)
        if self._phase_of_last() not in podstatus.TERMINAL_PHASES and await self._sync_volumes():
            if await self._sync_init():
                for slot in self._slots.values():
                    await self._sync_container(slot)
        await self._report()

    async def _sync_volumes(self) -> bool:
        """Volumes ready (made at the first sync, re-written when a resync is due); False while
        one cannot be set up (the containers then wait in ContainerCreating with the reason)."""
        if self._volumes is None:
            return True
        now = self.config.clock.now()
        if not self._volumes.prepared:
            try:
                await self._volumes.prepare(self._runtime_fields())
            except ContainerStartFailed as err:
                waiting = podstatus.Waiting(err.waiting_reason, err.message)
                for _, slot in self._all_slots():
                    if slot.current is None:
                        slot.waiting = waiting
                # kubelet's volume manager retries a failed mount after 0.5 s, doubling up to
                # about 2 minutes: a claim bound a moment later is mounted a moment later.
                self._schedule(now + self._volume_retry)
                self._volume_retry = min(self._volume_retry * 2, VOLUME_RETRY_MAX)
                return False
            self._volume_retry = VOLUME_RETRY_INITIAL
            for _, slot in self._all_slots():
                if slot.waiting is not None and slot.waiting.reason == podstatus.CONTAINER_CREATING:
                    slot.waiting = None
            self._volumes_due = now + self.config.volume_resync_seconds
        elif self._volumes_due is not None and now >= self._volumes_due:
            changed = await self._volumes.refresh(self._runtime_fields())
            if changed:
                log.info("pod %s: %d volume(s) updated", self.key, changed)
            self._volumes_due = now + self.config.volume_resync_seconds
        if self._volumes_due is not None:
            self._schedule(self._volumes_due)
        return True

    async def _sync_init(self) -> bool:
        """Run the init containers in order; True once all have completed (the pod is initialized)."""
        if self._initialized:
            return True
        if any(s.current is not None for s in self._slots.values()):
            self._initialized = True  # app containers exist (adopted): initialization is over
            return True
        for slot in self._init_slots:
            current = slot.current
            if current is not None and current.state == "exited" and current.exit_code == 0:
                slot.waiting = None
                continue
            if current is not None and current.state == "exited" and not self._should_restart(current, init=True):
                self._init_failed = True  # restartPolicy Never: the pod fails
                slot.waiting = None
                return False
            await self._sync_container(slot)
            return False
        self._initialized = True
        return True

    async def _refresh(self, slot: _Slot) -> None:
        if slot.current is None:
            return
        try:
            slot.current = await self.config.runtime.inspect(slot.current.id)
            if slot.current.state == "exited":
                state = slot.current
                if state.id not in slot.messages:
                    slot.messages[state.id] = await lifecycle.termination_message(
                        slot.spec, state, runtime=self.config.runtime, log_path=self._termination_log_of(slot, state))
                if slot.messages[state.id]:
                    slot.current = dataclasses.replace(state, message=slot.messages[state.id])
        except ContainerNotFound:
            # Removed behind our back (docker rm): it counts as exited, it is restarted per policy.
            slot.current = None
            slot.restart_count += 1

    async def _sync_container(self, slot: _Slot) -> None:
        now = self.config.clock.now()
        current = slot.current
        if current is not None and current.state == "running":
            if slot.startup is not None and slot.startup.result:
                self._stop_probes(slot)  # started: the startup probe's work is done
                slot.startup_passed = True
                self._start_probes(slot)
            failed = "startup" if slot.startup is not None and slot.startup.failed else \
                "liveness" if slot.liveness is not None and not slot.liveness.result else None
            if failed is not None:
                log.info("pod %s: container %s failed %s probe, will be restarted", self.key, slot.name, failed)
                self._stop_probes(slot)
                grace = float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
                await self._kill(slot, current, grace)
                slot.current = current = await self.config.runtime.inspect(current.id)
            else:
                slot.waiting = None
                return
        if current is not None and current.state == "exited":
            self._stop_probes(slot)
            if not self._should_restart(current, init=slot.init):
                slot.waiting = None
                return
            if slot.handled_exit != current.id:
                slot.handled_exit = current.id
                ran = _seconds_between(current.started_at, current.finished_at)
                if slot.delay is None or ran > 2 * self.config.crashloop_max:
                    slot.delay, slot.retry_at = self.config.crashloop_base, now  # first restart: at once
                else:
                    slot.waiting_delay, slot.retry_at = slot.delay, now + slot.delay
                    slot.delay = min(slot.delay * 2, self.config.crashloop_max)
            if slot.retry_at is not None and now < slot.retry_at:
                wait = slot.retry_at - now
                slot.waiting = podstatus.Waiting(
                    podstatus.CRASH_LOOP_BACK_OFF,
                    f"back-off {_duration(slot.waiting_delay)} restarting failed container={slot.name} "
                    f"pod={self.pod['metadata']['name']}_{self.pod['metadata'].get('namespace')}({self.uid})",
                )
                self._schedule(now + wait)
                return
            await self._start(slot, restart_count=slot.restart_count + 1)
            return
        if current is None:
            await self._start(slot, restart_count=slot.restart_count)

    def _should_restart(self, state: ContainerState, *, init: bool = False) -> bool:
        policy = (self.pod.get("spec") or {}).get("restartPolicy") or "Always"
        if init:  # an init container that succeeded is done; one that failed is retried unless Never
            return policy != "Never" and state.exit_code != 0
        return policy == "Always" or (policy == "OnFailure" and state.exit_code != 0)

    async def _start(self, slot: _Slot, *, restart_count: int) -> None:
        now = self.config.clock.now()
        runtime = self.config.runtime
        image = slot.spec.get("image") or ""
        if slot.retry_at is not None and now < slot.retry_at and slot.current is None:
            # Still backing off a failed pull or start.
            if slot.waiting is not None and slot.waiting.reason == "ErrImagePull":
                if now < slot.pull_error_until:
                    # Any wake-up (the informer echoing this agent's own status write is the usual one)
                    # would otherwise replace ErrImagePull within milliseconds, before a watcher saw it.
                    self._schedule(slot.pull_error_until)
                else:
                    slot.waiting = podstatus.Waiting(podstatus.IMAGE_PULL_BACK_OFF,
                                                     f'Back-off pulling image "{image}"')
            self._schedule(slot.retry_at)
            return
        annotations = (self.pod.get("metadata") or {}).get("annotations") or {}
        pulled = await runtime.ensure_image(image, pull_policy=_pull_policy(slot.spec), annotations=annotations)
        if not pulled.ok:
            # The back-off counts from the failure, not from the start of a pull that may have spent
            # seconds on a registry lookup (else ErrImagePull was replaced before anyone saw it).
            failed_at = self.config.clock.now()
            slot.waiting = podstatus.Waiting(pulled.error_reason or "ErrImagePull", pulled.message)
            self._back_off(slot, failed_at)
            # Show ErrImagePull now; a sync halfway through the back-off (at most 0.5 s) shows ImagePullBackOff.
            slot.pull_error_until = failed_at + min(1.0, (slot.retry_at or failed_at) - failed_at) / 2
            self._schedule(slot.pull_error_until)
            return
        try:
            projection = await self.config.credentials.for_pod(self.pod) if self.config.credentials else None
            spec = await self._container_spec(slot, restart_count, projection)
            state = await runtime.create_and_start(spec)
        except ContainerStartFailed as err:
            slot.waiting = podstatus.Waiting(err.waiting_reason, err.message)
            if err.waiting_reason == CREATE_CONTAINER_CONFIG_ERROR:
                # Not the container's fault: retried at the resync pace, not with a growing back-off.
                slot.retry_at = now + self.config.crashloop_base
            else:
                self._back_off(slot, now)
            self._schedule(slot.retry_at or now)
            return
        if slot.current is not None:
            # Keep one dead attempt (for lastState and `logs --previous`); remove older ones.
            if slot.previous is not None:
                await runtime.remove(slot.previous.id)
            slot.previous = slot.current
        slot.current, slot.restart_count, slot.waiting = state, restart_count, None
        if spec.termination_log:
            slot.termination_logs[state.id] = spec.termination_log
        post_start = ((slot.spec.get("lifecycle") or {}).get("postStart"))
        if post_start and slot.current.state == "running":
            grace = float((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
            problem = await lifecycle.run_hook(post_start, runtime=runtime, container_id=state.id,
                                               pod_ip=self._get_pod_ip, container_ports=_named_ports(slot.spec),
                                               timeout=max(grace, 1.0))
            if problem is not None:
                log.info("pod %s: container %s: FailedPostStartHook: %s", self.key, slot.name, problem)
                await runtime.stop(state.id, grace_period_seconds=grace)
                slot.current = await runtime.inspect(state.id)
        slot.startup_passed = not slot.spec.get("startupProbe")
        if slot.current.state != "exited":
            self._start_probes(slot)
        else:
            self._schedule(now)  # it ended at once: decide on a restart without waiting for a relist
        if not self._started_reported and self.config.on_started is not None:
            self._started_reported = True
            created = _parse_time((self.pod.get("metadata") or {}).get("creationTimestamp"))
            if created is not None:
                self.config.on_started(max(0.0, time.time() - created))

    def _back_off(self, slot: _Slot, now: float) -> None:
        delay = slot.delay if slot.delay is not None else self.config.crashloop_base
        slot.retry_at = now + delay
        slot.delay = min(delay * 2, self.config.crashloop_max)

    def _runtime_fields(self) -> PodRuntimeFields:
        return PodRuntimeFields(node_name=self.config.node_name, host_ip=self.config.host_ip, pod_ip=self._pod_ip,
                                allocatable=self.config.allocatable)

    async def _container_spec(self, slot: _Slot, restart_count: int,
                              projection: Projection | None = None) -> ContainerSpec:
        meta, c = self.pod["metadata"], slot.spec
        limits = (c.get("resources") or {}).get("limits") or {}
        cpu = limits.get("cpu")
        memory = limits.get("memory")
        # The service variables come first: the container's own env wins, as in kubelet.
        env = await make_environment(self.pod, c, source=self.config.objects, runtime=self._runtime_fields(),
                                     base=projection.env if projection is not None else None)
        mounts = self._volumes.mounts(c, env) if self._volumes is not None else []
        user, read_only_root = self._security(c)
        termination_path = c.get("terminationMessagePath") or "/dev/termination-log"
        termination_log = None
        if self.config.termination_logs and self._pod_dir is not None:
            termination_log = await asyncio.to_thread(
                lifecycle.make_termination_log,
                self._pod_dir / "containers" / slot.name / f"{restart_count}-termination-log")
        return ContainerSpec(
            pod_uid=self.uid,
            namespace=meta.get("namespace") or "default",
            pod_name=meta["name"],
            container_name=slot.name,
            node_name=self.config.node_name,
            image=c.get("image") or "",
            command=list(c.get("command") or []),
            args=list(c.get("args") or []),
            env=env,
            working_dir=c.get("workingDir"),
            cpu_limit_millicores=None if cpu is None else cpu_millis(str(cpu)),
            memory_limit_bytes=None if memory is None else memory_bytes(str(memory)),
            restart_count=restart_count,
            annotations=dict(meta.get("annotations") or {}),
            files=dict(projection.files) if projection is not None else {},
            mounts=mounts,
            user=user,
            read_only_root_filesystem=read_only_root,
            termination_log=termination_log,
            termination_message_path=termination_path,
            dns=pod_dns_config(self.pod, cluster_dns=self.config.cluster_dns,
                               cluster_domain=self.config.cluster_domain),
        )

    def _security(self, container: Mapping[str, Any]) -> tuple[str | None, bool]:
        """The user to run as ("uid" or "uid:gid"; None: the image's) and a read-only root, from the
        container's securityContext over the pod's."""
        pod_sc = (self.pod.get("spec") or {}).get("securityContext") or {}
        c_sc = container.get("securityContext") or {}
        uid = c_sc.get("runAsUser", pod_sc.get("runAsUser"))
        gid = c_sc.get("runAsGroup", pod_sc.get("runAsGroup"))
        if c_sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) and uid == 0:
            meta = self.pod["metadata"]
            raise config_error(f'container\'s runAsUser breaks non-root policy (pod: "{meta["name"]}_'
                               f'{meta.get("namespace")}({self.uid})", container: {container.get("name")})')
        user = None if uid is None else str(uid) if gid is None else f"{uid}:{gid}"
        return user, bool(c_sc.get("readOnlyRootFilesystem"))

    def _termination_log_of(self, slot: _Slot, state: ContainerState) -> str | None:
        known = slot.termination_logs.get(state.id)
        if known is not None:
            return known
        if self._pod_dir is None:
            return None
        # Adopted after an agent restart: the file of that attempt, by its restart count.
        path = self._pod_dir / "containers" / slot.name / f"{state.restart_count}-termination-log"
        return str(path)

    async def _kill(self, slot: _Slot, state: ContainerState, grace: float) -> None:
        """preStop (if any, within the grace period), then SIGTERM, the rest of the grace, SIGKILL."""
        pre_stop = (slot.spec.get("lifecycle") or {}).get("preStop")
        if pre_stop and grace > 0:
            started = self.config.clock.now()
            try:
                problem = await asyncio.wait_for(
                    lifecycle.run_hook(pre_stop, runtime=self.config.runtime, container_id=state.id,
                                       pod_ip=self._get_pod_ip, container_ports=_named_ports(slot.spec),
                                       timeout=grace),
                    grace)
            except TimeoutError:
                problem = f"the preStop hook did not finish within the grace period of {grace:g}s"
            if problem is not None:
                log.info("pod %s: container %s: FailedPreStopHook: %s", self.key, slot.name, problem)
            grace = max(grace - (self.config.clock.now() - started), MINIMUM_GRACE_PERIOD)
        await self.config.runtime.stop(state.id, grace_period_seconds=grace)

    # --- probes ----------------------------------------------------------------------------

    def _start_probes(self, slot: _Slot) -> None:
        assert slot.current is not None
        ports = _named_ports(slot.spec)
        kinds = ("liveness", "readiness") if slot.startup_passed else ("startup",)
        for kind in kinds:
            probe = slot.spec.get(f"{kind}Probe")
            if not probe:
                continue
            worker = ProbeWorker(
                kind,  # type: ignore[arg-type]
                probe,
                runtime=self.config.runtime,
                container_id=slot.current.id,
                pod_ip=self._get_pod_ip,
                container_ports=ports,
                on_change=self.notify,
                clock=self.config.clock,
            )
            setattr(slot, kind, worker)
            slot.probe_tasks.append(
                asyncio.get_running_loop().create_task(worker.run(), name=f"probe:{kind}:{self.key}/{slot.name}")
            )

    def _stop_probes(self, slot: _Slot) -> None:
        for task in slot.probe_tasks:
            task.cancel()
        slot.probe_tasks.clear()
        slot.startup = slot.liveness = slot.readiness = None

    def _stop_all_probes(self) -> None:
        for _, slot in self._all_slots():
            self._stop_probes(slot)

    async def _get_pod_ip(self) -> str | None:
        if self._pod_ip is None:
            for slot in self._slots.values():
                if slot.current is not None and slot.current.state == "running":
                    with contextlib.suppress(ApiError):
                        self._pod_ip = await self.config.runtime.container_ip(slot.current.id)
                    if self._pod_ip:
                        break
        return self._pod_ip

    # --- status --------------------------------------------------------------------------

    async def _report(self) -> None:
        init_statuses = []
        for slot in self._init_slots:
            done = slot.current is not None and slot.current.state == "exited" and slot.current.exit_code == 0
            waiting = slot.waiting
            if slot.current is None and waiting is None and (self._volumes is None or self._volumes.prepared):
                waiting = podstatus.Waiting(podstatus.POD_INITIALIZING)
            init_statuses.append(
                podstatus.container_status(
                    name=slot.name,
                    image=slot.spec.get("image") or "",
                    current=slot.current,
                    previous=slot.previous,
                    waiting=waiting,
                    restart_count=slot.restart_count,
                    ready=done,
                    scheme=self.config.runtime_scheme,
                )
            )
        statuses = []
        for slot in sorted(self._slots.values(), key=lambda s: s.name):
            running = slot.current is not None and slot.current.state == "running" and slot.waiting is None
            started = running and slot.startup_passed
            ready = started and (slot.readiness.result if slot.readiness is not None else True)
            waiting = slot.waiting
            if slot.current is None and waiting is None and self._init_slots:
                # kubelet's default waiting reason for any container of a pod with init containers
                waiting = podstatus.Waiting(podstatus.POD_INITIALIZING)
            statuses.append(
                podstatus.container_status(
                    name=slot.name,
                    image=slot.spec.get("image") or "",
                    current=slot.current,
                    previous=slot.previous,
                    waiting=waiting,
                    restart_count=slot.restart_count,
                    ready=ready,
                    started=started,
                    scheme=self.config.runtime_scheme,
                )
            )
        policy = (self.pod.get("spec") or {}).get("restartPolicy") or "Always"
        if self._init_failed:
            phase: str = "Failed"
        elif not self._initialized:
            phase = "Pending"
        else:
            phase = podstatus.pod_phase(policy, statuses, container_count=len(self._slots))
        if phase in podstatus.TERMINAL_PHASES:
            self._stop_all_probes()
            for cs in statuses:
                cs["ready"] = False
        previous_conditions = (self._last_status or self.pod.get("status") or {}).get("conditions")
        foreign = [c for c in (self.pod.get("status") or {}).get("conditions") or []
                   if c.get("type") not in podstatus.KUBELET_CONDITIONS]
        gates = [str(g.get("conditionType")) for g in (self.pod.get("spec") or {}).get("readinessGates") or []
                 if g.get("conditionType")]
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": podstatus.pod_conditions(
                statuses=statuses, phase=phase, previous=previous_conditions, now=now_rfc3339(),
                incomplete_init=[] if self._initialized else
                [cs["name"] for cs in init_statuses if not cs["ready"]],
                readiness_gates=gates, foreign=foreign,
            ),
            "hostIP": self.config.host_ip,
            "hostIPs": [{"ip": self.config.host_ip}],
            "startTime": self._start_time,
            "containerStatuses": statuses,
        }
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        pod_ip = await self._get_pod_ip()
        if pod_ip:
            status["podIP"] = pod_ip
            status["podIPs"] = [{"ip": pod_ip}]
        if status == self._last_status:
            return
        try:
            await self.config.sink.patch_status(self.pod, status)
        except NotFound:
            self._gone = True
            self._wake.set()
            return
        self._last_status = status

    def _phase_of_last(self) -> str | None:
        return None if self._last_status is None else self._last_status.get("phase")

    # --- termination ---------------------------------------------------------------------

    async def _terminate(self) -> None:
        self._stop_all_probes()
        meta = self.pod.get("metadata") or {}
        if meta.get("deletionTimestamp") and not self._gone:
            grace = float(meta.get("deletionGracePeriodSeconds") or 0)
        else:
            grace = MINIMUM_GRACE_PERIOD
        runtime = self.config.runtime
        running = [s for _, s in self._all_slots() if s.current is not None and s.current.state == "running"]

        async def stop(slot: _Slot) -> None:
            assert slot.current is not None
            with contextlib.suppress(ContainerNotFound):
                await self._kill(slot, slot.current, grace)

        await asyncio.gather(*(stop(s) for s in running))
        for _, slot in self._all_slots():
            for state in (slot.current, slot.previous):
                if state is not None:
                    await runtime.remove(state.id)
            slot.current = slot.previous = None
        for stray in self._strays:
            await runtime.remove(stray.id)
        await runtime.release_pod(self.uid)
        if self._pod_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._pod_dir, True)
        forget = getattr(self.config.objects, "forget", None)
        if forget is not None:
            forget(self.uid)
        if not self._gone:
            await self.config.sink.confirm_deletion(self.pod)
        self.finished = True

    # --- helpers -------------------------------------------------------------------------

    def _all_slots(self) -> list[tuple[str, _Slot]]:
        """Init containers (in order) and app containers, by name."""
        return [*((s.name, s) for s in self._init_slots), *self._slots.items()]

    def _adopt(self, adopted: Sequence[ContainerState]) -> None:
        by_name: dict[str, list[ContainerState]] = {}
        slots = dict(self._all_slots())
        for state in adopted:
            if state.container_name in slots:
                by_name.setdefault(state.container_name or "", []).append(state)
            else:
                self._strays.append(state)
        for name, states in by_name.items():
            states.sort(key=lambda s: (s.restart_count, s.created_at or ""))
            slot = slots[name]
            slot.current = states[-1]
            # It ran before this worker: counted as started (a startup probe is not run again).
            slot.startup_passed = True
            slot.restart_count = states[-1].restart_count
            if len(states) > 1:
                slot.previous = states[-2]
            self._strays.extend(states[:-2])
            if slot.current.state == "exited":
                slot.handled_exit = None
        if adopted:
            log.info("pod %s: adopted %d container(s)", self.key, len(adopted))

    def _schedule(self, at: float) -> None:
        if self._next_at is None or at < self._next_at:
            self._next_at = at


def _named_ports(container: Mapping[str, Any]) -> dict[str, int]:
    return {p["name"]: int(p["containerPort"]) for p in container.get("ports") or [] if p.get("name")}


def _pull_policy(container: Mapping[str, Any]) -> PullPolicy:
    policy = container.get("imagePullPolicy")
    if policy in PULL_POLICIES:
        return policy  # type: ignore[no-any-return]
    # The API server's default: Always for :latest (or no tag), IfNotPresent otherwise.
    return "Always" if normalize_image(container.get("image") or "").endswith(":latest") else "IfNotPresent"


def _duration(seconds: float) -> str:
    """Go's time.Duration formatting for whole seconds: 10s, 1m20s, 5m0s."""
    seconds = round(seconds, 1)
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"




def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parse_rfc3339(value).timestamp()
    except ValueError:
        return None


def _seconds_between(start: str | None, end: str | None) -> float:
    a, b = _parse_time(start), _parse_time(end)
    return 0.0 if a is None or b is None else b - a
