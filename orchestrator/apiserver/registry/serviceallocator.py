"""ClusterIPs and node ports: picked from their ranges, held in PostgreSQL, never given out twice.

The design (docs/networking.md, "Allocating ClusterIPs and node ports"):

- A Service's ClusterIP and node ports are *claims* (``storage/store.py``): rows of the
  ``allocations`` table, primary key (pool, value), written in the same statement as the Service
  itself and deleted with it (ON DELETE CASCADE). A double allocation cannot commit, whichever
  API-server process wrote it; a Service that failed to store holds nothing; a deleted one
  releases everything — there is no leak to repair.
- What the client asked for (``clusterIP: 10.96.0.10``, ``nodePort: 30080``) is checked against
  the range and against the values held (422 "provided IP is already allocated"). What it left
  out is picked here: a random free value, first from the upper (dynamic) part of the range,
  then from the lower (static) part — Kubernetes' split (KEP-3070 for ClusterIPs, KEP-3668 for
  node ports), which leaves the low addresses to clients that choose theirs, such as the
  ``kubernetes`` Service's first address and a DNS service's ``.10``.
- Two creates racing for one picked value: one commits, the other's write comes back
  ``ClaimTaken`` and the registry runs the allocation again with the values held now.
  Values picked in this process and not yet written are kept aside, so concurrent creates in one
  process seldom collide at all.

Kubernetes equivalent: pkg/registry/core/service/ipallocator (bitmap.go, interfaces.go),
pkg/registry/core/service/portallocator/allocator.go, pkg/registry/core/service/storage/alloc.go.
Kubernetes keeps one bitmap per range in etcd, updated by compare-and-swap in a transaction of its
own, before the Service is written; a crash between the two leaks an address until the repair
loop (ipallocator/controller/repair.go) finds it. Here the two writes are one.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.api.errors import Invalid
from orchestrator.apiserver.registry.services import HEADLESS, uses_cluster_ip, uses_node_ports
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import FieldErrors
from orchestrator.storage.store import Claim, Store

CLUSTER_IP_POOL = "service-cluster-ip"
NODE_PORT_POOL = "service-node-port"
DEFAULT_CLUSTER_IP_RANGE = "10.96.0.0/12"  # kubeadm's default --service-cidr
DEFAULT_NODE_PORT_RANGE = "30000-32767"  # kube-apiserver's default --service-node-port-range


def _static_band(size: int, *, divisor: int, low: int, high: int) -> int:
    """How many values at the start of a range are left to clients that choose their own."""
    return min(max(low, size // divisor), high)


@dataclass(frozen=True)
class ClusterIPRange:
    """``--service-cluster-ip-range``: an IPv4 CIDR. Its network and broadcast addresses are never
    given out; its first address is the ``kubernetes`` Service's."""

    network: ipaddress.IPv4Network

    @classmethod
    def parse(cls, text: str) -> ClusterIPRange:
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise ValueError(f"--service-cluster-ip-range {text!r} is not a CIDR such as 10.96.0.0/12: {exc}") from None
        if not isinstance(network, ipaddress.IPv4Network) or network.num_addresses < 8:
            raise ValueError(f"--service-cluster-ip-range {text!r} must be an IPv4 CIDR of at least 8 addresses")
        return cls(network)

    def __str__(self) -> str:
        return str(self.network)

    @property
    def size(self) -> int:
        return self.network.num_addresses - 2

    def address(self, offset: int) -> str:
        """The address ``offset`` places after the network address (1 is the first usable one)."""
        return str(self.network.network_address + offset)

    @property
    def first(self) -> str:
        return self.address(1)

    def contains(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return addr in self.network and addr not in (self.network.network_address, self.network.broadcast_address)

    def pick(self, taken: set[str], rng: random.Random) -> str | None:
        band = _static_band(self.size, divisor=16, low=16, high=256)
        offset = _pick(self.size, band, lambda i: self.address(i + 1) in taken, rng)
        return None if offset is None else self.address(offset + 1)


@dataclass(frozen=True)
class NodePortRange:
    """``--service-node-port-range``: ``30000-32767``, both ends included."""

    base: int
    last: int

    @classmethod
    def parse(cls, text: str) -> NodePortRange:
        low, sep, high = text.partition("-")
        try:
            base, last = int(low), int(high if sep else low)
        except ValueError:
            raise ValueError(f"--service-node-port-range {text!r} is not a range such as 30000-32767") from None
        if not 1 <= base <= last <= 65535:
            raise ValueError(f"--service-node-port-range {text!r} must lie within 1-65535, low end first")
        return cls(base, last)

    def __str__(self) -> str:
        return f"{self.base}-{self.last}"

    @property
    def size(self) -> int:
        return self.last - self.base + 1

    def contains(self, port: int) -> bool:
        return self.base <= port <= self.last

    def pick(self, taken: set[str], rng: random.Random) -> int | None:
        band = _static_band(self.size, divisor=32, low=16, high=128)
        offset = _pick(self.size, band, lambda i: str(self.base + i) in taken, rng)
        return None if offset is None else self.base + offset


def _pick(size: int, band: int, is_taken: Any, rng: random.Random) -> int | None:
    """A free offset: scan the dynamic part [band, size) from a random start, wrapping; then the
    static part [0, band) the same way. None when the range is full."""
    for start, length in ((band, size - band), (0, band)):
        if length <= 0:
            continue
        first = rng.randrange(length)
        for i in range(length):
            offset = start + (first + i) % length
            if not is_taken(offset):
                return offset
    return None


@dataclass
class Allocation:
    """What one write of a Service holds (``claims``), and which of those this allocator picked
    (``picked``: retried on a race) rather than the client asked for (refused on a race)."""

    claims: tuple[Claim, ...]
    picked: set[Claim] = field(default_factory=set)


class ServiceAllocator:
    """Fills in a Service's ClusterIP and node ports and names the claims its write must hold."""

    def __init__(self, store: Store, *, cluster_ips: ClusterIPRange, node_ports: NodePortRange,
                 rng: random.Random | None = None) -> None:
        self.store = store
        self.cluster_ips = cluster_ips
        self.node_ports = node_ports
        self._rng = rng or random.Random()
        self._inflight: set[Claim] = set()  # picked in this process, not written yet

    async def allocate(self, obj: Obj, old: Mapping[str, Any] | None) -> Allocation:
        """Check what ``obj`` asks for, pick what it leaves out (in place), and return the claims.
        Raises Invalid for a value outside its range or held by another Service."""
        spec = obj.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        own = {(c.pool, c.value) for c in _claims_of(old_spec)} if old is not None else set()
        name = (obj.get("metadata") or {}).get("name") or ""
        errs = FieldErrors()
        claims: list[Claim] = []
        picked: set[Claim] = set()
        held_ips: set[str] | None = None
        if uses_cluster_ip(spec) and spec.get("clusterIP") != HEADLESS:
            ip = spec.get("clusterIP")
            if ip:
                if (CLUSTER_IP_POOL, ip) not in own:
                    held_ips = await self.store.claimed(CLUSTER_IP_POOL)
                    problem = (None if self.cluster_ips.contains(ip) else
                               f"the provided IP ({ip}) is not in the valid range. The range of valid IPs is "
                               f"{self.cluster_ips}") or ("provided IP is already allocated" if ip in held_ips else None)
                    if problem:
                        errs.invalid("spec.clusterIPs", spec.get("clusterIPs") or [ip],
                                     f"failed to allocate IP {ip}: {problem}")
            else:
                held_ips = await self.store.claimed(CLUSTER_IP_POOL)
                taken = held_ips | {c.value for c in self._inflight if c.pool == CLUSTER_IP_POOL}
                ip = self.cluster_ips.pick(taken, self._rng)
                if ip is None:
                    errs.invalid("spec.clusterIPs", [], f"failed to allocate a serviceIP: range is full "
                                 f"({self.cluster_ips}): delete a Service or ask for a headless one (clusterIP: None)")
                else:
                    spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
                    picked.add(Claim(CLUSTER_IP_POOL, ip))
            if ip:
                claims.append(Claim(CLUSTER_IP_POOL, ip))
        if uses_node_ports(spec):
            held_ports: set[str] | None = None
            chosen: set[str] = set()
            for i, port in enumerate(p for p in spec.get("ports") or [] if isinstance(p, dict)):
                number = port.get("nodePort")
                if held_ports is None:
                    held_ports = await self.store.claimed(NODE_PORT_POOL)
                if number:
                    if (NODE_PORT_POOL, str(number)) not in own:
                        if not self.node_ports.contains(number):
                            errs.invalid(f"spec.ports[{i}].nodePort", number, "provided port is not in the valid "
                                         f"range. The range of valid ports is {self.node_ports}")
                        elif str(number) in held_ports:
                            errs.invalid(f"spec.ports[{i}].nodePort", number, "provided port is already allocated")
                else:
                    taken = held_ports | chosen | {c.value for c in self._inflight if c.pool == NODE_PORT_POOL}
                    number = self.node_ports.pick(taken, self._rng)
                    if number is None:
                        errs.invalid(f"spec.ports[{i}].nodePort", 0,
                                     f"failed to allocate a nodePort: range is full ({self.node_ports})")
                        continue
                    port["nodePort"] = number
                    picked.add(Claim(NODE_PORT_POOL, str(number)))
                chosen.add(str(number))
                claims.append(Claim(NODE_PORT_POOL, str(number)))
        errs.raise_if_any("Service", "", name)
        self._inflight |= picked
        return Allocation(tuple(dict.fromkeys(claims)), picked)

    def settle(self, allocation: Allocation) -> None:
        """The write of ``allocation`` is over (stored or not): its picks are no longer in flight."""
        self._inflight -= allocation.picked

    def refused(self, obj: Mapping[str, Any], held: tuple[Claim, ...]) -> Invalid:
        """The 422 for values the client asked for that another Service took meanwhile."""
        spec = obj.get("spec") or {}
        errs = FieldErrors()
        for claim in held:
            if claim.pool == CLUSTER_IP_POOL:
                errs.invalid("spec.clusterIPs", spec.get("clusterIPs") or [claim.value],
                             f"failed to allocate IP {claim.value}: provided IP is already allocated")
            else:
                for i, port in enumerate(spec.get("ports") or []):
                    if str(port.get("nodePort")) == claim.value:
                        errs.invalid(f"spec.ports[{i}].nodePort", port["nodePort"], "provided port is already allocated")
        try:
            errs.raise_if_any("Service", "", (obj.get("metadata") or {}).get("name") or "")
        except Invalid as invalid:
            return invalid
        return Invalid("Service is invalid: a requested value is already allocated", kind="Service")


def _claims_of(spec: Mapping[str, Any]) -> list[Claim]:
    """The claims a stored Service's spec holds (for an update: what is already its own)."""
    claims = []
    if uses_cluster_ip(spec) and spec.get("clusterIP") not in (None, "", HEADLESS):
        claims.append(Claim(CLUSTER_IP_POOL, spec["clusterIP"]))
    if uses_node_ports(spec):
        claims += [Claim(NODE_PORT_POOL, str(p["nodePort"])) for p in spec.get("ports") or []
                   if isinstance(p, dict) and p.get("nodePort")]
    return claims
