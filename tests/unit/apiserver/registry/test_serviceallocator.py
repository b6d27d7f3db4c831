"""ClusterIP and node-port ranges: what is never given out, and the dynamic band picked first."""

from __future__ import annotations

import random

import pytest

from orchestrator.apiserver.registry.serviceallocator import ClusterIPRange, NodePortRange


def test_the_default_range_reserves_the_network_and_broadcast_and_names_the_first_address() -> None:
    r = ClusterIPRange.parse("10.96.0.0/12")
    assert (r.first, r.size) == ("10.96.0.1", 2**20 - 2)
    assert not r.contains("10.96.0.0") and not r.contains("10.111.255.255") and not r.contains("10.112.0.1")
    assert r.contains("10.111.255.254")


def test_picks_come_from_the_upper_band_until_it_is_full_then_from_the_static_band() -> None:
    r = ClusterIPRange.parse("10.0.0.0/24")  # 254 usable; static band max(16, 254 // 16) = 16
    rng = random.Random(1)
    static = {r.address(i) for i in range(1, 17)}
    taken: set[str] = set()
    for _ in range(254 - 16):
        ip = r.pick(taken, rng)
        assert ip is not None and ip not in static
        taken.add(ip)
    rest = set()
    for _ in range(16):
        ip = r.pick(taken | rest, rng)
        assert ip in static
        rest.add(ip)
    assert r.pick(taken | rest, rng) is None


def test_node_ports_skip_the_taken_and_stay_in_range() -> None:
    ports = NodePortRange.parse("30000-30031")  # 32 ports, static band 16
    taken = {str(p) for p in range(30016, 30031)}
    assert ports.pick(taken, random.Random(0)) == 30031
    assert str(ports) == "30000-30031" and ports.contains(30031) and not ports.contains(30032)


@pytest.mark.parametrize("text", ["10.96.0.0/33", "fd00::/108", "10.96.0.1/12", "10.0.0.0/30"])
def test_a_bad_cluster_ip_range_is_refused_with_a_message(text: str) -> None:
    with pytest.raises(ValueError, match="--service-cluster-ip-range"):
        ClusterIPRange.parse(text)


@pytest.mark.parametrize("text", ["30000", "x-y", "32767-30000", "0-100"])
def test_a_bad_node_port_range_is_refused_unless_it_is_one_port(text: str) -> None:
    if text == "30000":
        assert NodePortRange.parse(text).size == 1
        return
    with pytest.raises(ValueError, match="--service-node-port-range"):
        NodePortRange.parse(text)
