"""The cluster's DNS records, computed from Services and EndpointSlices: one question in, one answer out.

The names are the ones the Kubernetes DNS specification defines (and CoreDNS's ``kubernetes``
plugin serves), in the zone ``cluster.local`` unless configured otherwise:

======================================================  =======  ===================================
name                                                    type     answer
======================================================  =======  ===================================
``<svc>.<ns>.svc.cluster.local``                        A        the ClusterIP; headless
                                                                 (``clusterIP: None``): one A per
                                                                 ready endpoint address
``<svc>.<ns>.svc.cluster.local`` (ExternalName)         CNAME    ``spec.externalName``
``_<port>._<proto>.<svc>.<ns>.svc.cluster.local``       SRV      per named port: ``0 100 <port>
                                                                 <svc>.<ns>.svc.cluster.local``;
                                                                 headless: one per endpoint, the
                                                                 target its own name (below)
``<hostname or a-b-c-d>.<svc>.<ns>.svc.cluster.local``  A        a headless Service's endpoint
``a-b-c-d.<ns>.pod.cluster.local``                      A        ``a.b.c.d`` (CoreDNS's ``pods
                                                                 insecure``)
======================================================  =======  ===================================

Any other name inside the zone is NXDOMAIN with the zone's SOA (so resolvers cache the miss for
its minimum TTL); a name that exists but has nothing of the asked type (AAAA of a Service) is
NOERROR with no answer (NODATA). A name outside the zone is REFUSED: this server forwards nothing
(a pod resolving ``example.com`` tries its search domains here, gets NXDOMAIN for each, then
REFUSED for the name itself). Every record has TTL 5 s, CoreDNS's default for this plugin.

Worked example: Service ``shop/web`` (10.96.7.7, port ``http`` 80/TCP) answers
``web.shop.svc.cluster.local A 10.96.7.7`` and
``_http._tcp.web.shop.svc.cluster.local SRV 0 100 80 web.shop.svc.cluster.local.``.

Kubernetes equivalent: the DNS specification (kubernetes/dns docs/specification.md) as CoreDNS's
plugin/kubernetes implements it (kubernetes.go Records, Services; parse.go)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, SOA, SRV, A, DNSLabel

__all__ = ["TTL", "Answer", "ClusterRecords"]

TTL = 5
Object = Mapping[str, Any]


@dataclass
class Answer:
    """The answer to one question: a response code, answer records, and (for misses) the SOA."""

    rcode: int = RCODE.NOERROR
    answers: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)


class ClusterRecords:
    """Answers questions about `zone` from two lookups into the informer caches.

    `service(namespace, name)` returns the Service object or None; `slices(namespace, name)` the
    EndpointSlices of that Service; `synced()` whether the caches are filled (SERVFAIL until then).
    All read caches on the caller's event loop: nothing here blocks or does I/O.
    """

    def __init__(
        self,
        *,
        zone: str = "cluster.local",
        service: Callable[[str, str], Object | None],
        slices: Callable[[str, str], Iterable[Object]],
        namespace_exists: Callable[[str], bool] = lambda ns: False,
        synced: Callable[[], bool] = lambda: True,
    ) -> None:
        self.zone = DNSLabel(zone.strip(".").lower())
        self._service = service
        self._slices = slices
        self._namespace_exists = namespace_exists
        self._synced = synced
        self._soa = RR(self.zone, QTYPE.SOA, ttl=TTL, rdata=SOA(
            f"ns.dns.{self.zone}", f"hostmaster.{self.zone}", (1, 7200, 1800, 86400, TTL)))

    def answer(self, qname: str | DNSLabel, qtype: int) -> Answer:
        """The answer to ``qname IN qtype`` (see the module docstring for the names served)."""
        name = DNSLabel(str(qname).lower())
        if not name.matchSuffix(self.zone):
            return Answer(rcode=RCODE.REFUSED)
        labels = [label.decode("ascii", "replace") for label in name.stripSuffix(self.zone).label]
        if not self._synced():
            # Before the caches are filled a miss would be a lie that resolvers cache (SOA minimum):
            # SERVFAIL makes them ask again (CoreDNS's kubernetes plugin does the same at start-up).
            return Answer(rcode=RCODE.SERVFAIL)
        if not labels:  # the zone apex
            return Answer(answers=[self._soa] if qtype in (QTYPE.SOA, QTYPE.ANY) else [],
                          authority=[] if qtype in (QTYPE.SOA, QTYPE.ANY) else [self._soa])
        records = self._records(name, labels)
        if records is None:
            return Answer(rcode=RCODE.NXDOMAIN, authority=[self._soa])
        wanted = [rr for rr in records if qtype in (rr.rtype, QTYPE.ANY)
                  or (rr.rtype == QTYPE.CNAME and qtype != QTYPE.SRV)]
        return Answer(answers=wanted, authority=[] if wanted else [self._soa])

    # --- names -------------------------------------------------------------------------------

    def _records(self, name: DNSLabel, labels: list[str]) -> list[RR] | None:
        """Every record at `name`, or None when the name does not exist."""
        kind = labels[-1]
        if kind == "svc":
            if len(labels) == 2:  # <ns>.svc: exists (no records) when the namespace has Services
                return [] if self._namespace_exists(labels[0]) else None
            if len(labels) == 3:
                return self._service_records(name, labels[1], labels[0])
            if len(labels) == 4:  # <endpoint>.<svc>.<ns>.svc of a headless Service
                return self._endpoint_records(name, labels[2], labels[1], labels[0])
            if len(labels) == 5 and labels[0].startswith("_") and labels[1].startswith("_"):
                return self._srv_records(name, labels[3], labels[2], port=labels[0][1:], proto=labels[1][1:])
            return None
        if kind == "pod" and len(labels) == 3:
            try:
                ip = ipaddress.IPv4Address(labels[0].replace("-", "."))
            except ValueError:
                return None
            return [RR(name, QTYPE.A, ttl=TTL, rdata=A(str(ip)))]
        return None

    def _service_records(self, name: DNSLabel, namespace: str, svc_name: str) -> list[RR] | None:
        svc = self._service(namespace, svc_name)
        if svc is None:
            return None
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            target = spec.get("externalName")
            return [RR(name, QTYPE.CNAME, ttl=TTL, rdata=CNAME(target))] if target else []
        return [_address_rr(name, ip) for ip in self._addresses(svc)]

    def _srv_records(self, name: DNSLabel, namespace: str, svc_name: str, *, port: str, proto: str) -> list[RR] | None:
        svc = self._service(namespace, svc_name)
        if svc is None or (svc.get("spec") or {}).get("type") == "ExternalName":
            return None
        spec_port = next((p for p in (svc.get("spec") or {}).get("ports") or []
                          if p.get("name") == port and (p.get("protocol") or "TCP").lower() == proto), None)
        if spec_port is None:
            return None
        svc_fqdn = f"{svc_name}.{namespace}.svc.{self.zone}"
        if not _headless(svc):
            return [RR(name, QTYPE.SRV, ttl=TTL, rdata=SRV(0, 100, int(spec_port["port"]), svc_fqdn))]
        out = []
        for eps in self._slices(namespace, svc_name):
            slice_port = next((int(p["port"]) for p in eps.get("ports") or []
                               if p.get("name") == port and (p.get("protocol") or "TCP").lower() == proto), None)
            if slice_port is None:
                continue
            for ep in _ready(eps):
                for ip in ep.get("addresses") or []:
                    out.append(RR(name, QTYPE.SRV, ttl=TTL,
                                  rdata=SRV(0, 100, slice_port, f"{_endpoint_label(ep, ip)}.{svc_fqdn}")))
        return out

    def _endpoint_records(self, name: DNSLabel, namespace: str, svc_name: str, label: str) -> list[RR] | None:
        svc = self._service(namespace, svc_name)
        if svc is None or not _headless(svc):
            return None
        found = [_address_rr(name, ip) for eps in self._slices(namespace, svc_name) for ep in _ready(eps)
                 for ip in ep.get("addresses") or [] if _endpoint_label(ep, ip) == label]
        return found or None

    def _addresses(self, svc: Object) -> list[str]:
        spec = svc.get("spec") or {}
        if not _headless(svc):
            ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
            return [ip for ip in ips if ip and ip != "None"]
        meta = svc.get("metadata") or {}
        seen: dict[str, None] = {}
        for eps in self._slices(meta.get("namespace") or "default", meta.get("name") or ""):
            for ep in _ready(eps):
                for ip in ep.get("addresses") or []:
                    seen.setdefault(ip)
        return sorted(seen, key=_ip_sort_key)


def _headless(svc: Object) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def _ready(eps: Object) -> list[Object]:
    return [ep for ep in eps.get("endpoints") or [] if (ep.get("conditions") or {}).get("ready") is not False]


def _endpoint_label(ep: Object, ip: str) -> str:
    return str(ep.get("hostname") or ip.replace(".", "-").replace(":", "-")).lower()


def _address_rr(name: DNSLabel, ip: str) -> RR:
    if ":" in ip:
        return RR(name, QTYPE.AAAA, ttl=TTL, rdata=AAAA(ip))
    return RR(name, QTYPE.A, ttl=TTL, rdata=A(ip))


def _ip_sort_key(ip: str) -> tuple[int, int]:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0)
    return (addr.version, int(addr))
