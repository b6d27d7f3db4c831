"""The node agent: one `NodeAgent` per node, run by an `AgentGroup` (one node, or a fleet).

A `NodeAgent` is one node's state: its Node object (registration and status), its Lease, and
its pod workers (orchestrator/nodeagent/podworker.py). An `AgentGroup` runs one or many of
them in one process and owns what they share, so a fleet of 500 simulated nodes costs one
informer, one lease timer loop and one relist loop, not 500 of each:

- **pod informer**: list/watch pods — with ``fieldSelector=spec.nodeName=<name>`` for a single
  node (the only list a node token may make), or all pods for a fleet (which therefore needs
  a token allowed to act for every node: the controller-manager or admin kubeconfig). Each
  event goes to the agent of the pod's ``spec.nodeName``, which starts, updates or ends that
  pod's worker;
- **lease loop**: one timer heap; each node's Lease in ``kube-node-lease`` is renewed (a merge
  PATCH of ``spec.renewTime``) every ``lease_seconds``, the nodes spread evenly over the
  period; the same tick checks the runtime and re-posts the Node's status when readiness
  changed, ``status_report_seconds`` passed (kubelet's nodeStatusReportFrequency), or after a
  failed heartbeat (the node may have been marked Unknown meanwhile);
- **relist loop** (kubelet's PLEG): every ``relist_seconds``, the containers of each node that
  has pods are listed once; a worker whose containers changed is woken, and containers whose
  pod uid has no worker (their pod was deleted while nobody watched) are stopped and removed.
  The runtime lists only its own lab's containers (``labkit.cluster``, see cluster.py), so
  another lab's ``node-1`` on the same Docker engine is never taken for an orphan or adopted.

Startup order: register the Node and take the Lease; relist once (so workers adopt the
containers a previous run left); start the informer; then the loops. Shutdown (cancel): the
TaskGroup cancels loops, informer and workers; containers keep running, as when kubelet
restarts, and the next run adopts them.

Kubernetes equivalent: pkg/kubelet/kubelet.go (Run, syncLoop), pkg/kubelet/kubelet_node_status.go,
pkg/kubelet/nodelease, pkg/kubelet/pleg/generic.go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from orchestrator.api.timestamps import now_rfc3339, now_rfc3339_micro
from orchestrator.client.informer import DeletedFinalStateUnknown, Informer, deleted_object
from orchestrator.client.rest import ApiClient
from orchestrator.nodeagent.apiobjects import ApiObjectSource
from orchestrator.nodeagent.heartbeat import HeartbeatThread, LeaseRenewer, lease_loop
from orchestrator.nodeagent.metrics import AgentMetrics
from orchestrator.nodeagent.podworker import PodStatusSink, PodWorker, WorkerConfig
from orchestrator.nodeagent.runtimes.base import ContainerState, Runtime, RuntimeInfo
from orchestrator.nodeagent.statusmanager import StatusManager

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.32.0-labkit"
NODE_LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_FACTOR = 4  # kubelet: a 40 s lease renewed every 10 s


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    @classmethod
    def parse(cls, text: str) -> Taint:
        """``key=value:Effect`` or ``key:Effect`` (kubectl taint's syntax)."""
        body, sep, effect = text.rpartition(":")
        if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ValueError(f"taint {text!r}: expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute")
        key, _, value = body.partition("=")
        if not key:
            raise ValueError(f"taint {text!r}: the key is empty")
        return cls(key, value, effect)

    def as_dict(self) -> dict[str, str]:
        body = {"key": self.key, "effect": self.effect}
        if self.value:
            body["value"] = self.value
        return body


@dataclass(frozen=True)
class NodeConfig:
    """One node's settings (flags of ``python -m orchestrator.nodeagent``)."""

    name: str
    cpu: str | None = None  # None: the host's
    memory: str | None = None
    pods: int = 110
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Taint] = ()
    address: str = "127.0.0.1"
    lease_seconds: float = 10.0
    status_report_seconds: float = 300.0
    crashloop_base: float = 10.0
    crashloop_max: float = 300.0
    root_dir: Path | None = None  # pod volumes: <root_dir>/pods/<uid>/volumes (kubelet's --root-dir)
    persistent_volumes_dir: Path | None = None  # local-path PersistentVolumes: <dir>/<volumeHandle>
    volume_resync_seconds: float = 60.0
    cluster_dns: tuple[str, ...] = ()  # kubelet's --cluster-dns
    cluster_domain: str = "cluster.local"  # kubelet's --cluster-domain


def host_capacity(*, cpu: str | None, memory: str | None, pods: int) -> dict[str, str]:
    """Capacity from flags, or from the host: CPUs and memory (in Ki, as kubelet reports it)."""
    if memory is None:
        import psutil

        memory = f"{psutil.virtual_memory().total // 1024}Ki"
    return {"cpu": cpu or str(os.cpu_count() or 1), "memory": memory, "pods": str(pods)}


now_micro = now_rfc3339_micro  # a MicroTime (``renewTime``)




class ApiStatusSink:
    """Pod status to the API server: PATCH pods/<name>/status, DELETE with grace 0."""

    def __init__(self, client: ApiClient, metrics: AgentMetrics) -> None:
        self._client = client
        self._metrics = metrics

    async def patch_status(self, pod: Mapping[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        await self._client.patch("pods", meta["name"], {"status": status}, namespace=meta.get("namespace"),
                                 subresource="status")
        self._metrics.status_updates.inc()

    async def confirm_deletion(self, pod: Mapping[str, Any]) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(NotFound, Conflict):  # gone already, or a new pod of that name
            await self._client.delete("pods", meta["name"], namespace=meta.get("namespace"), grace_period_seconds=0,
                                      preconditions={"uid": meta["uid"]})


class NodeAgent:
    """One node: its Node, its Lease and its pod workers."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        client: ApiClient,
        runtime: Runtime,
        runtime_info: RuntimeInfo,
        metrics: AgentMetrics,
        log_port: int,
        sink: PodStatusSink | None = None,
        report_creating: bool = True,
        termination_logs: bool = True,
    ) -> None:
        self.config = config
        self.name = config.name
        self.client = client
        self.runtime = runtime
        self.runtime_info = runtime_info
        self.metrics = metrics
        self.log_port = log_port
        self.workers: dict[str, PodWorker] = {}  # pod uid -> worker
        self.ready = True
        self._runtime_ready = True
        self.lease_renewals = 0
        self.status_reports = 0
        self.registered = False  # the Node exists and its Lease was taken: heartbeats may begin
        self._uid: str | None = None
        self._posted_conditions: dict[str, dict[str, Any]] = {}
        # One node reads its Node at each heartbeat; a fleet's group watches its Nodes instead.
        self.check_node_each_beat = False
        self._observed: dict[str, tuple[Any, ...]] = {}  # pod uid -> signature of its containers
        self._adoptable: dict[str, list[ContainerState]] = {}
        self._orphans: set[str] = set()  # container ids without a pod at the last orphan check
        self._orphan_dirs: set[str] = set()  # pod directories without a pod at the last orphan check
        self._last_status_report = 0.0
        # Set when a heartbeat failed: while we could not reach the API server, the node
        # lifecycle controller may have set Ready=Unknown, which only a fresh status post undoes
        # (kubelet notices by comparing with the API server's copy; we know it from the failure).
        self._status_stale = False
        self.worker_config = WorkerConfig(
            node_name=config.name,
            runtime=runtime,
            sink=sink if sink is not None else ApiStatusSink(client, metrics),
            runtime_scheme=runtime_info.name,
            host_ip=config.address,
            crashloop_base=config.crashloop_base,
            crashloop_max=config.crashloop_max,
            cluster_dns=tuple(config.cluster_dns),
            cluster_domain=config.cluster_domain,
            on_started=metrics.pod_start.observe,
            report_creating=report_creating,
            termination_logs=termination_logs,
            objects=ApiObjectSource(client),
            root_dir=config.root_dir,
            persistent_volumes_dir=config.persistent_volumes_dir,
            volume_resync_seconds=config.volume_resync_seconds,
            allocatable=host_capacity(cpu=config.cpu, memory=config.memory, pods=config.pods),
        )

    # --- the Node --------------------------------------------------------------------------

    def node_object(self) -> dict[str, Any]:
        c = self.config
        capacity = host_capacity(cpu=c.cpu, memory=c.memory, pods=c.pods)
        labels = {
            "kubernetes.io/hostname": c.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": _arch(),
            **dict(c.labels),
        }
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": c.name, "labels": labels},
            "spec": {"taints": [t.as_dict() for t in c.taints]} if c.taints else {},
            "status": {
                "capacity": capacity,
                "allocatable": dict(capacity),
                "conditions": self._conditions(),
                "addresses": [{"type": "InternalIP", "address": c.address}, {"type": "Hostname", "address": c.name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.log_port}},
                "nodeInfo": {
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                    "kernelVersion": platform.release(),
                    "osImage": _os_image(),
                    "containerRuntimeVersion": self.runtime_info.runtime_version,
                    "kubeletVersion": KUBELET_VERSION,
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": _arch(),
                },
            },
        }

    def _conditions(self) -> list[dict[str, Any]]:
        now = now_rfc3339()
        pressure = [
            {"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": m,
             "lastHeartbeatTime": now, "lastTransitionTime": now}
            for t, r, m in (
                ("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"),
            )
        ]
        if self.ready:
            ready = {"type": "Ready", "status": "True", "reason": "KubeletReady",
                     "message": "kubelet is posting ready status"}
        else:
            ready = {"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                     "message": "container runtime is down: " + self.runtime_info.runtime_version}
        return [*pressure, {**ready, "lastHeartbeatTime": now, "lastTransitionTime": now}]

    async def register(self) -> bool:
        """Create the Node, or bring an existing one up to date (labels, status); True if created.

        Create first, look second: a fleet registering 1,000 new nodes then costs one request per
        node here (and one for its Lease), not five.
        """
        node = self.node_object()
        try:
            created = await self.client.create("nodes", node)
            self._uid = (created.get("metadata") or {}).get("uid")
            self._posted_conditions = {c["type"]: c for c in node["status"]["conditions"]}
            self._last_status_report = asyncio.get_running_loop().time()
            log.info("node %s registered", self.name)
            return True
        except AlreadyExists:
            pass
        await self.client.patch("nodes", self.name, {"metadata": {"labels": node["metadata"]["labels"]}})
        await self.post_status(read_current=True)
        log.info("node %s already registered; labels and status updated", self.name)
        return False

    async def post_status(self, *, client: ApiClient | None = None, read_current: bool = False) -> None:
        """PATCH the Node's status (conditions with a fresh heartbeat, capacity, endpoints).

        A condition keeps its ``lastTransitionTime`` while its status does not change, as kubelet
        does: taken from the API's copy when `read_current` (at registration), else from what we
        posted last -- one request instead of two, for the 1,000 posts of a fleet that comes back
        from an outage -- unless the API's copy differs (`observe_node`), which is a transition.
        """
        client = client or self.client
        status = self.node_object()["status"]
        if read_current:
            current = await client.get("nodes", self.name)
            before = {c.get("type"): c for c in (current.get("status") or {}).get("conditions") or []}
        else:
            before = {} if self._status_stale else self._posted_conditions
        for cond in status["conditions"]:
            old = before.get(cond["type"])
            if old is not None and old.get("status") == cond["status"] and old.get("lastTransitionTime"):
                cond["lastTransitionTime"] = old["lastTransitionTime"]
        await client.patch("nodes", self.name, {"status": status}, subresource="status")
        self._posted_conditions = {c["type"]: c for c in status["conditions"]}
        self._last_status_report = asyncio.get_running_loop().time()
        self.status_reports += 1

    def status_due(self, ready: bool) -> bool:
        """Whether the next heartbeat must post the status (readiness changed, report interval, stale)."""
        due = asyncio.get_running_loop().time() - self._last_status_report >= self.config.status_report_seconds
        return ready != self.ready or due or self._status_stale

    # --- the Lease -------------------------------------------------------------------------

    async def renew_lease(self, *, client: ApiClient | None = None, renewer: LeaseRenewer | None = None) -> None:
        client = client or self.client
        body = {"spec": {"holderIdentity": self.name, "renewTime": now_micro()}}
        try:
            if renewer is not None:
                await renewer.renew(self.name, body["spec"]["renewTime"])
            else:
                await client.patch("leases", self.name, body, namespace=NODE_LEASE_NAMESPACE)
        except NotFound:
            await self._create_lease(client)
        self.lease_renewals += 1
        self.metrics.lease_renewals.inc()

    async def create_lease(self, client: ApiClient | None = None) -> None:
        """Take the node's Lease (a new node's: no renewal to try first)."""
        await self._create_lease(client or self.client)

    async def _create_lease(self, client: ApiClient) -> None:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": NODE_LEASE_NAMESPACE},
            "spec": {
                "holderIdentity": self.name,
                "leaseDurationSeconds": int(self.config.lease_seconds * LEASE_DURATION_FACTOR),
                "renewTime": now_micro(),
            },
        }
        uid = self._uid
        if uid is None:
            with contextlib.suppress(NotFound):
                uid = (await client.get("nodes", self.name))["metadata"]["uid"]
        if uid is not None:
            lease["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": uid}]
        try:
            await client.create("leases", lease, namespace=NODE_LEASE_NAMESPACE)
        except AlreadyExists:  # left by an earlier run: renew it instead
            await client.patch("leases", self.name, {"spec": {"holderIdentity": self.name, "renewTime": now_micro()}},
                               namespace=NODE_LEASE_NAMESPACE)

    def observe_node(self, node: Mapping[str, Any]) -> None:
        """The API server's copy of our Node changed: if its Ready is not what we report (the node
        lifecycle controller set Unknown while this process was frozen or starved), re-post the
        status at the next heartbeat -- kubelet compares with the API's copy the same way."""
        ready = next((c.get("status") for c in (node.get("status") or {}).get("conditions") or []
                      if c.get("type") == "Ready"), None)
        if ready != ("True" if self.ready else "False") and not self._status_stale:
            log.info("node %s: the API server shows Ready=%s; posting the node's status again", self.name, ready)
            self._status_stale = True

    async def heartbeat(self, *, client: ApiClient | None = None, renewer: LeaseRenewer | None = None) -> bool:
        """One tick of the lease loop: renew the Lease; return whether the status must be posted.

        The renewal alone is what keeps the node alive; the status post (`report_status`) is
        heavier and is left to the caller, which runs it apart (orchestrator/nodeagent/heartbeat.py)
        so that when a fleet wakes up with 1,000 statuses to post, no renewal waits behind them.
        """
        if not self.registered:
            return False
        try:
            await self.runtime.info()
            self._runtime_ready = True
        except ApiError:
            self._runtime_ready = False
        try:
            await self.renew_lease(client=client, renewer=renewer)
            if self.check_node_each_beat:
                self.observe_node(await (client or self.client).get("nodes", self.name))
        except ApiError:
            self._status_stale = True
            raise
        return self.status_due(self._runtime_ready)

    async def report_status(self, *, client: ApiClient | None = None) -> None:
        """Post the status now if it is (still) due."""
        if not self.status_due(self._runtime_ready):
            return
        self.ready = self._runtime_ready
        try:
            await self.post_status(client=client)
        except ApiError:
            self._status_stale = True
            raise
        self._status_stale = False

    # --- pods ------------------------------------------------------------------------------

    def on_pod(self, pod: dict[str, Any], tg: asyncio.TaskGroup) -> None:
        uid = pod["metadata"].get("uid")
        if not uid:
            return
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        worker = PodWorker(pod, config=self.worker_config, adopted=self._adoptable.pop(uid, ()))
        self.workers[uid] = worker
        self.metrics.pod_workers.inc()
        tg.create_task(self._run_worker(worker), name=f"podworker:{self.name}:{worker.key}")

    def on_pod_deleted(self, pod: dict[str, Any]) -> None:
        worker = self.workers.get((pod.get("metadata") or {}).get("uid", ""))
        if worker is not None:
            worker.gone()

    async def _run_worker(self, worker: PodWorker) -> None:
        try:
            await worker.run()
        except Exception:
            # A bug in one pod's worker must not take the node down; the informer's resync
            # starts a fresh worker for the pod.
            log.exception("pod worker %s failed", worker.key)
        finally:
            if self.workers.get(worker.uid) is worker:
                del self.workers[worker.uid]
                self._observed.pop(worker.uid, None)
                self.metrics.pod_workers.dec()

    async def relist(self, *, remove_orphans: bool) -> None:
        """Compare the runtime's containers with what was seen last; wake workers, remove orphans.

        A container is removed as an orphan only when its pod has had no worker at two orphan
        checks in a row, so a pod whose worker is being created is never mistaken for a deleted one.
        """
        containers = await self.runtime.list_containers(node=self.name)
        by_uid: dict[str, list[ContainerState]] = {}
        for state in containers:
            by_uid.setdefault(state.pod_uid or "", []).append(state)
        candidates: set[str] = set()
        for uid, states in by_uid.items():
            worker = self.workers.get(uid)
            if worker is None:
                if not remove_orphans:
                    self._adoptable[uid] = states
                    continue
                for s in states:
                    candidates.add(s.id)
                    if s.id in self._orphans:
                        await self._remove_orphan(s)
                continue
            signature = tuple((s.id, s.state) for s in states)
            if self._observed.get(uid) != signature:
                self._observed[uid] = signature
                worker.notify()
        if remove_orphans:
            self._orphans = candidates
            await self._remove_orphan_dirs(keep=set(by_uid))

    async def _remove_orphan_dirs(self, *, keep: set[str]) -> None:
        """Remove ``<root>/pods/<uid>`` of pods with neither a worker nor a container, seen so at two
        orphan checks in a row (pods deleted while the agent was down; kubelet's cleanupOrphanedPodDirs)."""
        root = self.worker_config.root_dir
        if root is None:
            return
        pods_dir = root / "pods"

        def scan() -> set[str]:
            try:
                return {entry.name for entry in pods_dir.iterdir() if entry.is_dir()}
            except OSError:
                return set()

        candidates = {uid for uid in await asyncio.to_thread(scan) if uid not in self.workers and uid not in keep}
        for uid in candidates & self._orphan_dirs:
            log.info("node %s: removing the directory of pod %s (the pod no longer exists)", self.name, uid)
            await asyncio.to_thread(shutil.rmtree, pods_dir / uid, True)
        self._orphan_dirs = candidates - self._orphan_dirs

    async def _remove_orphan(self, state: ContainerState) -> None:
        log.info("node %s: removing container %s of pod %s/%s (the pod no longer exists)",
                 self.name, state.id[:12], state.namespace, state.pod_name)
        with contextlib.suppress(ApiError):
            if state.state == "running":
                await self.runtime.stop(state.id, grace_period_seconds=2)
            await self.runtime.remove(state.id)
        self.metrics.orphans_removed.inc()

    def find_worker(self, namespace: str, name: str) -> PodWorker | None:
        key = f"{namespace}/{name}"
        return next((w for w in self.workers.values() if w.key == key), None)


class AgentGroup:
    """Runs one or many `NodeAgent`s in this process with shared informer and loops."""

    def __init__(
        self,
        agents: Iterable[NodeAgent],
        *,
        client: ApiClient,
        runtime: Runtime,
        metrics: AgentMetrics,
        relist_seconds: float = 1.0,
        orphan_check_seconds: float = 10.0,
        resync_seconds: float | None = 60.0,
        status_manager: StatusManager | None = None,
        heartbeat_client: Callable[[], ApiClient] | None = None,
        lease_renewer: Callable[[], LeaseRenewer] | None = None,
    ) -> None:
        self.agents = {a.name: a for a in agents}
        if not self.agents:
            raise ValueError("an AgentGroup needs at least one node")
        self.client = client
        self.runtime = runtime
        self.metrics = metrics
        self.relist_seconds = relist_seconds
        self.orphan_check_seconds = orphan_check_seconds
        single = len(self.agents) == 1
        selector = f"spec.nodeName={next(iter(self.agents))}" if single else None
        self.informer = Informer(client, "pods", field_selector=selector, resync_period=resync_seconds)
        # A fleet watches its Nodes to notice one marked Unknown behind its back (observe_node);
        # one node just reads its own at each heartbeat (a node token may not watch all Nodes).
        self.node_informer = None if single else Informer(client, "nodes", resync_period=None)
        if single:
            next(iter(self.agents.values())).check_node_each_beat = True
        self.registered = asyncio.Event()
        self.status_manager = status_manager
        self.heartbeat_client = heartbeat_client
        self.lease_renewer = lease_renewer
        metrics.nodes.set(len(self.agents))

    def find_worker(self, namespace: str, name: str) -> PodWorker | None:
        for agent in self.agents.values():
            worker = agent.find_worker(namespace, name)
            if worker is not None:
                return worker
        return None

    def runtime_for(self, worker: PodWorker) -> Runtime:
        return worker.config.runtime

    async def run(self) -> None:
        """Register, adopt, then run informer and loops until cancelled.

        The heartbeats start first and renew each node's Lease from the moment it is registered:
        registering 1,000 nodes takes longer than a grace period, and the first ones must not go
        Unknown while the last ones register.
        """
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._lease_loop(), name="lease-loop")
            await self._register_all()
            for agent in self.agents.values():
                await agent.relist(remove_orphans=False)  # remember containers to adopt
            self.registered.set()
            self.informer.add_handler(
                on_add=lambda pod: self._dispatch(pod, tg),
                on_update=lambda _old, pod: self._dispatch(pod, tg),
                on_delete=self._deleted,
            )
            tg.create_task(self.informer.run(), name="informer:pods")
            if self.node_informer is not None:
                self.node_informer.add_handler(on_add=self._node_changed, on_update=lambda _old, n: self._node_changed(n))
                tg.create_task(self.node_informer.run(), name="informer:nodes")
            tg.create_task(self._relist_loop(), name="relist-loop")
            if self.status_manager is not None:
                tg.create_task(self.status_manager.run(), name="pod-status-manager")

    async def _register_all(self) -> None:
        semaphore = asyncio.Semaphore(8)  # below httpx's 20 kept-alive connections: no TLS handshake churn

        async def register(agent: NodeAgent) -> None:
            async with semaphore:
                while True:
                    try:
                        if await agent.register():
                            await agent.create_lease()
                        else:
                            await agent.renew_lease()
                        agent.registered = True
                        return
                    except ApiError as err:
                        log.warning("node %s: registration failed, retrying in 2s: %s", agent.name, err)
                        await asyncio.sleep(2)

        await asyncio.gather(*(register(a) for a in self.agents.values()))
        log.info("%d node(s) registered", len(self.agents))

    def _dispatch(self, pod: dict[str, Any], tg: asyncio.TaskGroup) -> None:
        agent = self.agents.get((pod.get("spec") or {}).get("nodeName") or "")
        if agent is not None:
            agent.on_pod(pod, tg)

    def _node_changed(self, node: dict[str, Any]) -> None:
        agent = self.agents.get((node.get("metadata") or {}).get("name") or "")
        if agent is not None:
            agent.observe_node(node)

    def _deleted(self, obj: dict[str, Any] | DeletedFinalStateUnknown) -> None:
        pod = deleted_object(obj)
        agent = self.agents.get((pod.get("spec") or {}).get("nodeName") or "")
        if agent is not None:
            agent.on_pod_deleted(pod)

    async def _lease_loop(self) -> None:
        """The heartbeats (orchestrator/nodeagent/heartbeat.py): on a thread of their own when
        `heartbeat_client` makes them a client, else on this loop with the shared client."""
        agents = list(self.agents.values())
        if self.heartbeat_client is None:
            await lease_loop(agents, client=self.client, metrics=self.metrics)
            return
        thread = HeartbeatThread(agents, make_client=self.heartbeat_client, metrics=self.metrics,
                                 make_renewer=self.lease_renewer)
        thread.start()
        try:
            while thread.alive:
                await asyncio.sleep(1.0)
            raise RuntimeError("the heartbeat thread ended") from thread.error
        finally:
            await asyncio.to_thread(thread.stop)

    async def _relist_loop(self) -> None:
        loop = asyncio.get_running_loop()
        await self.informer.wait_for_sync()
        last_orphan_check = 0.0
        while True:
            started = loop.time()
            orphans = started - last_orphan_check >= self.orphan_check_seconds and self.informer.has_synced
            if orphans:
                last_orphan_check = started
            for agent in self.agents.values():
                # Nodes without pods are skipped, except for the orphan check: that is what
                # keeps a 500-node fleet's relist cheap.
                if agent.workers or orphans:
                    try:
                        await agent.relist(remove_orphans=orphans)
                    except ApiError as err:
                        log.warning("node %s: relist failed: %s", agent.name, err)
            self.metrics.relist.observe(loop.time() - started)
            await asyncio.sleep(self.relist_seconds)


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _os_image() -> str:
    try:
        info = platform.freedesktop_os_release()
        return info.get("PRETTY_NAME") or info.get("NAME") or "Linux"
    except OSError:
        return "Linux"
