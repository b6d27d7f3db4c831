"""What the proxy programs, read from Service and EndpointSlice objects: service ports and their endpoints.

kube-proxy never works on whole objects: it turns each Service into one `ServicePort` per entry of
``spec.ports`` (named ``<namespace>/<service>:<port name>``, the port name empty when the Service has
one unnamed port), and each Service's EndpointSlices into, per service port, the list of ready
``ip:port`` endpoints. A slice belongs to its Service through the label
``kubernetes.io/service-name``; an endpoint's port is the slice port with the same name and
protocol as the service port (that is how a ``targetPort`` given by name reaches kube-proxy: the
EndpointSlice controller has already resolved it per pod).

What is left out, as kube-proxy leaves it out:

- ``type: ExternalName`` (a DNS CNAME only, nothing to forward) and headless Services
  (``clusterIP: None``: DNS answers the pod addresses, no virtual IP to catch);
- endpoints that are not ``ready`` (``conditions.ready`` absent counts as ready, as the API
  documents); ready endpoints are deduplicated across slices (a pod may briefly be in two);
- address families other than IPv4 (the lab's Docker bridge is IPv4 only).

Worked example: Service ``shop/web`` with ports ``[{name: http, port: 80, targetPort: http}]``
and clusterIP 10.96.7.7, and one slice labelled ``kubernetes.io/service-name: web`` with ports
``[{name: http, port: 8080}]`` and endpoints 172.17.0.5 (ready) and 172.17.0.6 (ready: false)
give ``ServicePort(name="shop/web:http", cluster_ip="10.96.7.7", port=80, protocol="TCP")`` with
endpoints ``[Endpoint("172.17.0.5", 8080)]``.

Kubernetes equivalent: pkg/proxy/servicechangetracker.go, pkg/proxy/endpointschangetracker.go,
pkg/proxy/endpointslicecache.go
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Object = Mapping[str, Any]
Protocol = Literal["TCP", "UDP", "SCTP"]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Set by kube-apiserver's EndpointSlice mirroring and by custom controllers: a slice whose manager
# is not the EndpointSlice controller still counts (kube-proxy does not filter on it).
ADDRESS_TYPE_IPV4 = "IPv4"


@dataclass(frozen=True, order=True)
class Endpoint:
    """One backend of one service port."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, as kube-proxy programs it (its BaseServicePortInfo)."""

    namespace: str
    service: str
    port_name: str
    protocol: Protocol
    cluster_ip: str
    port: int
    node_port: int = 0
    session_affinity_seconds: int = 0  # >0: sessionAffinity ClientIP with this timeout
    endpoints: tuple[Endpoint, ...] = field(default=())

    @property
    def name(self) -> str:
        """``namespace/service:port`` (``namespace/service`` for an unnamed port), kube-proxy's ServicePortName."""
        base = f"{self.namespace}/{self.service}"
        return f"{base}:{self.port_name}" if self.port_name else base


def proxied(service: Object) -> bool:
    """Whether kube-proxy writes rules for this Service: it has a cluster IP and is not ExternalName."""
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return False
    ip = spec.get("clusterIP")
    return bool(ip) and ip != "None" and ":" not in ip


def service_ports(service: Object, slices: Iterable[Object]) -> list[ServicePort]:
    """The service ports of one Service with their ready endpoints from its EndpointSlices."""
    if not proxied(service):
        return []
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        affinity = int(config.get("timeoutSeconds") or 10800)  # the API's default, 3 hours
    slices = [s for s in slices if s.get("addressType", ADDRESS_TYPE_IPV4) == ADDRESS_TYPE_IPV4]
    out = []
    for p in spec.get("ports") or []:
        protocol = p.get("protocol") or "TCP"
        name = p.get("name") or ""
        out.append(
            ServicePort(
                namespace=meta.get("namespace") or "default",
                service=meta.get("name") or "",
                port_name=name,
                protocol=protocol,
                cluster_ip=spec["clusterIP"],
                port=int(p["port"]),
                node_port=int(p.get("nodePort") or 0) if spec.get("type") in ("NodePort", "LoadBalancer") else 0,
                session_affinity_seconds=affinity,
                endpoints=tuple(ready_endpoints(slices, port_name=name, protocol=protocol)),
            )
        )
    return out


def ready_endpoints(slices: Iterable[Object], *, port_name: str, protocol: str) -> list[Endpoint]:
    """The ready ``ip:port`` pairs for one service port, sorted and without duplicates."""
    found: set[Endpoint] = set()
    for eps in slices:
        port = next((int(p["port"]) for p in eps.get("ports") or []
                     if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == protocol
                     and p.get("port") is not None), None)
        if port is None:
            continue
        for ep in eps.get("endpoints") or []:
            if not is_ready(ep):
                continue
            for address in ep.get("addresses") or []:
                found.add(Endpoint(address, port))
    return sorted(found)


def is_ready(endpoint: Object) -> bool:
    """``conditions.ready``; unset means ready (the EndpointSlice API: "nil should be interpreted as true")."""
    ready = (endpoint.get("conditions") or {}).get("ready")
    return ready is None or bool(ready)


def slice_service_key(eps: Object) -> str | None:
    """``namespace/service`` of the Service an EndpointSlice belongs to, or None for an unowned slice."""
    meta = eps.get("metadata") or {}
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not service:
        return None
    return f"{meta.get('namespace') or 'default'}/{service}"
