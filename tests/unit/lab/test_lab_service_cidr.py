"""Each lab's own ClusterIP range: a /20 of 10.96.0.0/12 named by its cluster id, stable across runs."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_pki
from orchestrator.lab.up import LEGACY_SERVICE_CIDR, first_service_ip, lab_service_cidr
from orchestrator.nodeagent.cluster import cluster_id_from


def test_the_range_is_the_block_the_cluster_id_names_and_stays_the_same(tmp_path: Path) -> None:
    blocks = set()
    for name in ("a", "b", "c", "d"):
        home = LabHome(tmp_path / name)
        ensure_pki(home)
        cidr = ipaddress.ip_network(lab_service_cidr(home))
        assert cidr.prefixlen == 20 and cidr.subnet_of(ipaddress.ip_network(LEGACY_SERVICE_CIDR))
        block = int(cluster_id_from(ca_pem=home.ca_cert.read_bytes(), server="")[:2], 16)
        assert int(cidr.network_address) - int(ipaddress.ip_address("10.96.0.0")) == block * 4096
        assert lab_service_cidr(home) == str(cidr)  # the CA is kept, so is the range
        blocks.add(cidr)
    assert len(blocks) > 1  # four labs in one block: 1 in 256**3
    assert first_service_ip("10.104.160.0/20") == "10.104.160.1"
