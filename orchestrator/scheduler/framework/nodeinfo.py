"""NodeInfo: one node plus the pods on it, with the totals Filter and Score plugins read.

Filter and Score run for hundreds of nodes per pod, so nothing here is computed per call:
requested CPU/memory, pod count, used host ports and per-owner pod counts are updated
incrementally when a pod is added or removed, and the node's allocatable, taints and
readiness are parsed once when the node is set. The invariant: every total equals the sum
over `pods` of what `pod_requests` computed for that pod when it was added.

Kubernetes equivalent: pkg/scheduler/framework/types.go (NodeInfo, Resource, HostPortInfo)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from orchestrator.api.quantity import cpu_millis, memory_bytes
from orchestrator.scheduler.framework.interfaces import Pod

DEFAULT_MILLI_CPU_REQUEST = 100
"""Scoring counts a container without a CPU request as 0.1 core, so that many "free" pods do not
all pile onto one node (upstream schedutil.DefaultMilliCPURequest)."""
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
"""Likewise 200 MiB for a container without a memory request (upstream DefaultMemoryRequest)."""
BIND_ALL_HOST_IP = "0.0.0.0"

HostPort = tuple[str, str, int]
"""(host IP, protocol, port) of one container port with a hostPort."""


def pod_key(pod: Pod) -> str:
    """`namespace/name`, the key a pod is known by in the cache and the queue."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


@dataclass(frozen=True, slots=True)
class PodRequests:
    """What a pod asks of a node, computed once per pod with the upstream rules."""

    milli_cpu: int = 0
    memory: int = 0
    non_zero_milli_cpu: int = 0
    """Requests with DEFAULT_*_REQUEST for containers that set none; used only for scoring."""
    non_zero_memory: int = 0
    host_ports: tuple[HostPort, ...] = ()
    controller_uid: str | None = None
    """uid of the pod's controller ownerReference (its ReplicaSet, ...), for spreading."""


def _container_requests(container: dict[str, Any]) -> tuple[int, int, int, int]:
    requests = (container.get("resources") or {}).get("requests") or {}
    cpu_value = requests.get("cpu")
    memory_value = requests.get("memory")
    cpu = cpu_millis(cpu_value) if cpu_value is not None else 0
    memory = memory_bytes(memory_value) if memory_value is not None else 0
    # Upstream only substitutes the default when the request is absent, not when it is "0".
    non_zero_cpu = cpu if cpu_value is not None else DEFAULT_MILLI_CPU_REQUEST
    non_zero_memory = memory if memory_value is not None else DEFAULT_MEMORY_REQUEST
    return cpu, memory, non_zero_cpu, non_zero_memory


def pod_requests(pod: Pod) -> PodRequests:
    """The effective requests of a pod, as upstream computes them.

    Init containers run one at a time before the app containers, so a pod needs the larger of
    (sum of app containers) and (each init container), for each resource separately; sidecars
    (init containers with restartPolicy Always) keep running, so they add to everything that
    starts after them. Pod overhead (spec.overhead) is added on top.

    Worked example: containers 200m + 300m, one init container 800m -> max(500m, 800m) = 800m.

    Kubernetes equivalent: k8s.io/component-helpers/resource/helpers.go PodRequests
    """
    spec = pod.get("spec") or {}
    totals = [0, 0, 0, 0]
    for container in spec.get("containers") or ():
        for i, value in enumerate(_container_requests(container)):
            totals[i] += value
    sidecars = [0, 0, 0, 0]
    init_max = [0, 0, 0, 0]
    for container in spec.get("initContainers") or ():
        values = _container_requests(container)
        if container.get("restartPolicy") == "Always":
            for i, value in enumerate(values):
                sidecars[i] += value
                init_max[i] = max(init_max[i], sidecars[i])
        else:
            for i, value in enumerate(values):
                init_max[i] = max(init_max[i], sidecars[i] + value)
    result = [max(totals[i] + sidecars[i], init_max[i]) for i in range(4)]
    overhead = spec.get("overhead") or {}
    if "cpu" in overhead:
        extra = cpu_millis(overhead["cpu"])
        result[0] += extra
        result[2] += extra
    if "memory" in overhead:
        extra = memory_bytes(overhead["memory"])
        result[1] += extra
        result[3] += extra
    return PodRequests(
        milli_cpu=result[0],
        memory=result[1],
        non_zero_milli_cpu=result[2],
        non_zero_memory=result[3],
        host_ports=pod_host_ports(pod),
        controller_uid=controller_uid(pod),
    )


def pod_host_ports(pod: Pod) -> tuple[HostPort, ...]:
    """The (hostIP, protocol, hostPort) triples a pod's containers claim on their node."""
    ports: list[HostPort] = []
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            host_port = int(port.get("hostPort") or 0)
            if host_port > 0:
                ports.append(
                    (port.get("hostIP") or BIND_ALL_HOST_IP, port.get("protocol") or "TCP", host_port)
                )
    return tuple(ports)


def controller_uid(pod: Pod) -> str | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("uid") or f"{ref.get('kind')}/{ref.get('name')}")
    return None


def _parse_allocatable(node: dict[str, Any]) -> tuple[int, int, int]:
    status = node.get("status") or {}
    allocatable = status.get("allocatable") or status.get("capacity") or {}
    milli_cpu = cpu_millis(allocatable["cpu"]) if "cpu" in allocatable else 0
    memory = memory_bytes(allocatable["memory"]) if "memory" in allocatable else 0
    pods = int(allocatable.get("pods", 0))
    return milli_cpu, memory, pods


def zone_key(labels: dict[str, str]) -> str:
    """"region:\\x00:zone" of a node, or "" without zone labels (upstream utilnode.GetZoneKey)."""
    zone = labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone") or ""
    region = (
        labels.get("topology.kubernetes.io/region") or labels.get("failure-domain.beta.kubernetes.io/region") or ""
    )
    if not zone and not region:
        return ""
    return f"{region}:\x00:{zone}"


def _is_ready(node: dict[str, Any]) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


class NodeInfo:
    """A node and the pods assigned to it (bound or assumed), with running totals.

    `node` may be None for a short while: pods can be seen before their node, and a deleted
    node's entry lives on until its last pod is gone (the snapshot leaves such entries out).
    """

    __slots__ = (
        "node", "name", "labels", "taints", "unschedulable", "ready",
        "allocatable_milli_cpu", "allocatable_memory", "allowed_pod_number",
        "pods", "_requests", "requested_milli_cpu", "requested_memory",
        "non_zero_milli_cpu", "non_zero_memory", "used_ports", "owner_counts", "generation", "zone",
    )

    def __init__(self, node: dict[str, Any] | None = None, *, name: str = "") -> None:
        self.pods: dict[str, Pod] = {}
        self._requests: dict[str, PodRequests] = {}
        self.requested_milli_cpu = 0
        self.requested_memory = 0
        self.non_zero_milli_cpu = 0
        self.non_zero_memory = 0
        self.used_ports: dict[tuple[str, int], dict[str, int]] = {}
        self.owner_counts: dict[str, int] = {}
        self.generation = 0
        self.name = name
        self.set_node(node)

    def set_node(self, node: dict[str, Any] | None) -> None:
        """Replace the node object and re-parse what plugins read from it."""
        self.node = node
        if node is None:
            self.labels: dict[str, str] = {}
            self.taints: tuple[dict[str, Any], ...] = ()
            self.unschedulable = False
            self.ready = False
            self.zone = ""
            self.allocatable_milli_cpu = self.allocatable_memory = self.allowed_pod_number = 0
            return
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        self.name = meta.get("name", self.name)
        self.labels = dict(meta.get("labels") or {})
        self.taints = tuple(spec.get("taints") or ())
        self.unschedulable = bool(spec.get("unschedulable"))
        self.ready = _is_ready(node)
        self.zone = zone_key(self.labels)
        self.allocatable_milli_cpu, self.allocatable_memory, self.allowed_pod_number = (
            _parse_allocatable(node)
        )

    @property
    def pod_count(self) -> int:
        return len(self.pods)

    def add_pod(self, pod: Pod, requests: PodRequests | None = None) -> None:
        """Count a pod on this node. Adding a key already present replaces that pod."""
        key = pod_key(pod)
        if key in self.pods:
            self.remove_pod(key)
        req = requests if requests is not None else pod_requests(pod)
        self.pods[key] = pod
        self._requests[key] = req
        self.requested_milli_cpu += req.milli_cpu
        self.requested_memory += req.memory
        self.non_zero_milli_cpu += req.non_zero_milli_cpu
        self.non_zero_memory += req.non_zero_memory
        for ip, protocol, port in req.host_ports:
            by_ip = self.used_ports.setdefault((protocol, port), {})
            by_ip[ip] = by_ip.get(ip, 0) + 1
        if req.controller_uid is not None:
            self.owner_counts[req.controller_uid] = self.owner_counts.get(req.controller_uid, 0) + 1

    def remove_pod(self, key: str) -> bool:
        """Stop counting the pod with this key; False if it was not here."""
        if key not in self.pods:
            return False
        del self.pods[key]
        req = self._requests.pop(key)
        self.requested_milli_cpu -= req.milli_cpu
        self.requested_memory -= req.memory
        self.non_zero_milli_cpu -= req.non_zero_milli_cpu
        self.non_zero_memory -= req.non_zero_memory
        for ip, protocol, port in req.host_ports:
            by_ip = self.used_ports[(protocol, port)]
            by_ip[ip] -= 1
            if not by_ip[ip]:
                del by_ip[ip]
            if not by_ip:
                del self.used_ports[(protocol, port)]
        if req.controller_uid is not None:
            left = self.owner_counts[req.controller_uid] - 1
            if left:
                self.owner_counts[req.controller_uid] = left
            else:
                del self.owner_counts[req.controller_uid]
        return True

    def port_conflicts(self, host_port: HostPort) -> bool:
        """Whether (ip, protocol, port) collides with a port in use: 0.0.0.0 collides with every
        IP, a specific IP with itself and with 0.0.0.0 (upstream HostPortInfo.CheckConflict)."""
        ip, protocol, port = host_port
        by_ip = self.used_ports.get((protocol, port))
        if not by_ip:
            return False
        return ip == BIND_ALL_HOST_IP or ip in by_ip or BIND_ALL_HOST_IP in by_ip

    def clone(self) -> NodeInfo:
        """An independent copy for a snapshot: later changes to this one do not show in it."""
        other = NodeInfo.__new__(NodeInfo)
        for slot in NodeInfo.__slots__:
            setattr(other, slot, getattr(self, slot))
        other.pods = dict(self.pods)
        other._requests = dict(self._requests)
        other.used_ports = {k: dict(v) for k, v in self.used_ports.items()}
        other.owner_counts = dict(self.owner_counts)
        return other

    def __repr__(self) -> str:
        return (
            f"NodeInfo({self.name!r}, pods={len(self.pods)}, cpu={self.requested_milli_cpu}m/"
            f"{self.allocatable_milli_cpu}m, memory={self.requested_memory}/{self.allocatable_memory})"
        )


class Snapshot:
    """The nodes one scheduling cycle sees, frozen at its start.

    The NodeInfos in a snapshot are never mutated after it is taken (the cache hands out
    copies of nodes that changed), so a cycle, or an Explain dry run, reads a consistent view.
    Only nodes whose Node object is known are listed.

    Kubernetes equivalent: pkg/scheduler/internal/cache/snapshot.go
    """

    __slots__ = ("node_infos", "_by_name", "generation")

    def __init__(
        self, node_infos: list[NodeInfo], *, generation: int = 0, by_name: dict[str, NodeInfo] | None = None
    ) -> None:
        self.node_infos = node_infos
        self._by_name = by_name if by_name is not None else {ni.name: ni for ni in node_infos}
        self.generation = generation

    @classmethod
    def from_objects(cls, nodes: Iterable[dict[str, Any]], pods: Iterable[Pod] = ()) -> Snapshot:
        """A snapshot built from plain objects: pods are placed by spec.nodeName (for tests, Explain)."""
        infos = {(n.get("metadata") or {}).get("name", ""): NodeInfo(n) for n in nodes}
        for pod in pods:
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name in infos:
                infos[node_name].add_pod(pod)
        return cls(list(infos.values()))

    def get(self, name: str) -> NodeInfo | None:
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self.node_infos)

    def __iter__(self) -> Iterator[NodeInfo]:
        return iter(self.node_infos)
