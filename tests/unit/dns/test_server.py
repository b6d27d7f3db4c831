"""Cluster DNS answers, asked over real UDP and TCP sockets of a running server (orchestrator/dns/)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from orchestrator.dns.dnat import cluster_dns_ip, restore_input
from orchestrator.dns.records import ClusterRecords
from orchestrator.dns.server import DnsServer
from tests.unit.proxy.fixtures import endpoint, endpoint_slice, service

SERVICES = {
    "shop/web": service("web", namespace="shop", cluster_ip="10.96.7.7",
                        ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                               {"name": "dns", "port": 53, "protocol": "UDP"}]),
    "shop/db": service("db", namespace="shop", cluster_ip="None",
                       ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}]),
    "shop/big": service("big", namespace="shop", cluster_ip="None", ports=[{"name": "pg", "port": 5432}]),
    "shop/ext": service("ext", namespace="shop", type_="ExternalName", cluster_ip="", externalName="example.com"),
}
SLICES = {
    "shop/big": [endpoint_slice("big", [endpoint(f"172.17.1.{i}") for i in range(1, 61)], namespace="shop",
                                ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}])],
    "shop/db": [endpoint_slice("db", [endpoint("172.17.0.9"), endpoint("172.17.0.8"),
                                      endpoint("172.17.0.7", ready=False),
                                      {**endpoint("172.17.0.6"), "hostname": "db-0"}],
                               namespace="shop", ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}])],
}


@pytest.fixture(scope="module")
async def dns() -> AsyncIterator[tuple[str, int]]:
    records = ClusterRecords(
        service=lambda ns, name: SERVICES.get(f"{ns}/{name}"),
        slices=lambda ns, name: SLICES.get(f"{ns}/{name}", []),
        namespace_exists=lambda ns: any(k.startswith(f"{ns}/") for k in SERVICES),
    )
    server = DnsServer(records, [("127.0.0.1", 0)])
    (address,) = await server.start()
    try:
        yield address
    finally:
        server.close()


async def ask(address: tuple[str, int], name: str, qtype: str = "A", *, tcp: bool = False) -> DNSRecord:
    query = DNSRecord.question(name, qtype)
    wire = await asyncio.to_thread(query.send, address[0], address[1], tcp=tcp, timeout=5)
    reply = DNSRecord.parse(wire)
    assert reply.header.id == query.header.id
    return reply


def rdata(reply: DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr)


async def test_service_name_resolves_to_its_cluster_ip_over_udp_and_tcp(dns) -> None:
    for tcp in (False, True):
        reply = await ask(dns, "web.shop.svc.cluster.local", tcp=tcp)
        assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == 1
        assert rdata(reply) == ["10.96.7.7"]
        assert all(rr.ttl == 5 for rr in reply.rr)


async def test_names_are_case_insensitive(dns) -> None:
    assert rdata(await ask(dns, "WEB.Shop.SVC.cluster.local")) == ["10.96.7.7"]


async def test_headless_service_resolves_to_one_address_per_ready_endpoint(dns) -> None:
    reply = await ask(dns, "db.shop.svc.cluster.local")
    assert rdata(reply) == ["172.17.0.6", "172.17.0.8", "172.17.0.9"]
    assert rdata(await ask(dns, "db-0.db.shop.svc.cluster.local")) == ["172.17.0.6"]
    assert rdata(await ask(dns, "172-17-0-8.db.shop.svc.cluster.local")) == ["172.17.0.8"]


async def test_srv_for_a_named_port(dns) -> None:
    reply = await ask(dns, "_http._tcp.web.shop.svc.cluster.local", "SRV")
    assert rdata(reply) == ["0 100 80 web.shop.svc.cluster.local."]
    assert rdata(await ask(dns, "_dns._udp.web.shop.svc.cluster.local", "SRV")) == [
        "0 100 53 web.shop.svc.cluster.local."]
    headless = await ask(dns, "_pg._tcp.db.shop.svc.cluster.local", "SRV")
    assert rdata(headless) == ["0 100 5432 172-17-0-8.db.shop.svc.cluster.local.",
                               "0 100 5432 172-17-0-9.db.shop.svc.cluster.local.",
                               "0 100 5432 db-0.db.shop.svc.cluster.local."]
    missing = await ask(dns, "_http._udp.web.shop.svc.cluster.local", "SRV")
    assert missing.header.rcode == RCODE.NXDOMAIN


async def test_an_answer_too_big_for_udp_is_truncated_and_whole_over_tcp(dns) -> None:
    udp = await ask(dns, "big.shop.svc.cluster.local")
    assert udp.header.tc == 1 and udp.rr == []
    tcp = await ask(dns, "big.shop.svc.cluster.local", tcp=True)
    assert tcp.header.tc == 0 and len(tcp.rr) == 60


async def test_external_name_is_a_cname(dns) -> None:
    reply = await ask(dns, "ext.shop.svc.cluster.local")
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr] == [("CNAME", "example.com.")]


async def test_unknown_names_in_the_zone_are_nxdomain_with_the_soa(dns) -> None:
    for name in ("nope.shop.svc.cluster.local", "web.other.svc.cluster.local", "web.shop.cluster.local",
                 "a.b.c.d.e.svc.cluster.local"):
        reply = await ask(dns, name)
        assert reply.header.rcode == RCODE.NXDOMAIN, name
        assert reply.rr == [] and [QTYPE[rr.rtype] for rr in reply.auth] == ["SOA"]


async def test_existing_name_without_that_type_is_nodata(dns) -> None:
    reply = await ask(dns, "web.shop.svc.cluster.local", "AAAA")
    assert reply.header.rcode == RCODE.NOERROR and reply.rr == []
    assert (await ask(dns, "shop.svc.cluster.local")).header.rcode == RCODE.NOERROR


async def test_pod_names_resolve_to_the_address_they_spell(dns) -> None:
    assert rdata(await ask(dns, "172-17-0-4.shop.pod.cluster.local")) == ["172.17.0.4"]


async def test_names_outside_the_zone_are_refused_not_forwarded(dns) -> None:
    reply = await ask(dns, "example.com")
    assert reply.header.rcode == RCODE.REFUSED and reply.rr == [] and reply.header.ra == 0


async def test_garbage_gets_formerr_or_nothing(dns) -> None:
    def exchange(data: bytes) -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(data, dns)
            return s.recv(512)

    # A header asking one question, then a name that points outside the message.
    reply = DNSRecord.parse(await asyncio.to_thread(exchange, b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\xff" * 3))
    assert reply.header.id == 0x1234 and reply.header.rcode == RCODE.FORMERR


async def test_servfail_until_the_caches_are_synced() -> None:
    records = ClusterRecords(service=lambda ns, n: None, slices=lambda ns, n: [], synced=lambda: False)
    assert records.answer("web.shop.svc.cluster.local", QTYPE.A).rcode == RCODE.SERVFAIL


def test_dns_address_is_link_local_per_lab_and_dnat_covers_udp_and_tcp() -> None:
    a, b = cluster_dns_ip("3f9a2c0011"), cluster_dns_ip("77aa001122")
    assert a != b and a.startswith("169.254.") and a != "169.254.169.254"
    text = restore_input(chain="LABDNS-3F9A2C", dns_ip=a, target="172.17.0.1:5353",
                         existing_jumps={("OUTPUT", "LABDNS-3F9A2C")})
    assert f"-d {a}/32 -p udp -m udp --dport 53 -j DNAT --to-destination 172.17.0.1:5353" in text
    assert f"-d {a}/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 172.17.0.1:5353" in text
    assert "-I PREROUTING 1" in text and "-I OUTPUT" not in text
