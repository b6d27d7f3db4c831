"""The chains and rules kube-proxy's iptables mode writes, from fixture objects (orchestrator/proxy/rules.py)."""

from __future__ import annotations

import re

import pytest

from orchestrator.proxy.model import service_ports
from orchestrator.proxy.rules import MAX_CHAIN_NAME, chain_prefix, compute_rules, jump_rules, restore_text
from tests.unit.proxy.fixtures import endpoint, endpoint_slice, service

P = chain_prefix("3f9a2c0011223344")


def rules_for(*objects: dict, cidr: str | None = "172.17.0.0/16"):
    services = [o for o in objects if o["kind"] == "Service"]
    slices = [o for o in objects if o["kind"] == "EndpointSlice"]
    ports = [p for s in services for p in service_ports(s, [e for e in slices if
             e["metadata"]["labels"]["kubernetes.io/service-name"] == s["metadata"]["name"]])]
    return compute_rules(ports, prefix=P, cluster_cidr=cidr)


def svc_chain(rs, comment: str) -> str:
    (rule,) = [r for r in rs.chains["nat"][f"{P}SERVICES"] if comment in r]
    return rule.split()[-1]


def test_prefix_is_per_lab_and_leaves_room_for_the_hashed_chains() -> None:
    assert P == "LABKIT-3F9A2C-"
    assert chain_prefix("aaaaaa99") != chain_prefix("bbbbbb99")
    assert len(f"{P}SVC-0123456789") <= MAX_CHAIN_NAME


def test_cluster_ip_jumps_to_a_service_chain_that_spreads_evenly_over_the_endpoints() -> None:
    ips = [f"172.17.0.{i}" for i in range(2, 6)]
    rs = rules_for(service("web", cluster_ip="10.96.7.7"), endpoint_slice("web", [endpoint(ip) for ip in ips]))
    chain = svc_chain(rs, "default/web:http cluster IP")
    assert re.fullmatch(rf"{P}SVC-[A-Z2-7]{{10}}", chain)
    entry = next(r for r in rs.chains["nat"][f"{P}SERVICES"] if chain in r)
    assert "-m tcp -p tcp -d 10.96.7.7/32 --dport 80" in entry
    picks = [r for r in rs.chains["nat"][chain] if "-> " in r]
    # Rule i of n is taken with probability 1/(n-i): each endpoint gets 1/4 of new connections.
    assert [re.search(r"--probability (\S+)", r)[1] if "--probability" in r else None for r in picks] == [
        "0.2500000000", "0.3333333333", "0.5000000000", None]
    seps = [r.split()[-1] for r in picks]
    assert len(set(seps)) == 4
    for ip, sep in zip(ips, seps, strict=True):
        assert rs.chains["nat"][sep] == [
            f"-A {sep} -m comment --comment default/web:http -s {ip}/32 -j {P}MARK-MASQ",
            f"-A {sep} -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination {ip}:8080",
        ]


def test_traffic_from_outside_the_pod_network_is_marked_for_masquerade() -> None:
    rs = rules_for(service("web", cluster_ip="10.96.7.7"), endpoint_slice("web", [endpoint("172.17.0.2")]))
    chain = svc_chain(rs, "default/web:http cluster IP")
    assert rs.chains["nat"][chain][0].endswith(f"--dport 80 ! -s 172.17.0.0/16 -j {P}MARK-MASQ")
    assert rs.chains["nat"][f"{P}MARK-MASQ"] == [f"-A {P}MARK-MASQ -j MARK --or-mark 0x4000"]
    assert rs.chains["nat"][f"{P}POSTROUTING"][-1].endswith("-j MASQUERADE")
    without = rules_for(service("web", cluster_ip="10.96.7.7"), endpoint_slice("web", [endpoint("172.17.0.2")]),
                        cidr=None)
    assert not any("! -s" in r for r in without.chains["nat"][chain])


def test_node_port_goes_through_an_ext_chain_that_masquerades_then_to_the_service_chain() -> None:
    rs = rules_for(service("web", type_="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080}]),
                   endpoint_slice("web", [endpoint("172.17.0.2")]))
    chain = svc_chain(rs, "default/web:http cluster IP")
    ext = chain.replace("-SVC-", "-EXT-")
    assert rs.chains["nat"][f"{P}NODEPORTS"] == [
        f"-A {P}NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport 30080 -j {ext}"]
    assert rs.chains["nat"][ext][-2].endswith(f"-j {P}MARK-MASQ")
    assert rs.chains["nat"][ext][-1] == f"-A {ext} -j {chain}"
    # The NodePort catch-all is the last rule of the entry chain.
    assert rs.chains["nat"][f"{P}SERVICES"][-1].endswith(f"-m addrtype --dst-type LOCAL -j {P}NODEPORTS")


def test_no_endpoints_rejects_in_the_filter_table_and_writes_no_nat_chain() -> None:
    rs = rules_for(service("web", type_="NodePort", cluster_ip="10.96.7.7",
                           ports=[{"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053}]),
                   endpoint_slice("web", [endpoint("172.17.0.2", ready=False)]))
    assert rs.chains["filter"][f"{P}SERVICES"] == [
        f'-A {P}SERVICES -m comment --comment "default/web:dns has no endpoints" -m udp -p udp '
        f"-d 10.96.7.7/32 --dport 53 -j REJECT"]
    assert rs.chains["filter"][f"{P}EXT-SERVICES"][0].endswith("-m udp -p udp --dport 30053 -j REJECT")
    assert not any("-SVC-" in name or "-SEP-" in name for name in rs.chains["nat"])


def test_headless_and_external_name_services_get_no_rules() -> None:
    rs = rules_for(service("db", cluster_ip="None"), endpoint_slice("db", [endpoint("172.17.0.2")]),
                   service("ext", type_="ExternalName", cluster_ip="", externalName="example.com"))
    assert rs.chains["filter"][f"{P}SERVICES"] == []
    assert [r for r in rs.chains["nat"][f"{P}SERVICES"] if "NODEPORTS" not in r] == []


def test_session_affinity_sends_a_recent_client_back_to_its_endpoint() -> None:
    rs = rules_for(service("web", sessionAffinity="ClientIP",
                           sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}),
                   endpoint_slice("web", [endpoint("172.17.0.2"), endpoint("172.17.0.3")]))
    chain = svc_chain(rs, "default/web:http cluster IP")
    recent = [r for r in rs.chains["nat"][chain] if "--rcheck" in r]
    assert len(recent) == 2 and all("--seconds 60 --reap" in r for r in recent)
    sep = recent[0].split()[-1]
    assert f"-m recent --name {sep} --set -j DNAT" in rs.chains["nat"][sep][-1]


def test_every_chain_name_carries_the_lab_prefix_and_fits_iptables() -> None:
    rs = rules_for(service("a-very-long-service-name-indeed", type_="NodePort",
                           ports=[{"name": "http", "port": 80, "nodePort": 30080}]),
                   endpoint_slice("a-very-long-service-name-indeed", [endpoint("172.17.0.2")]))
    names = [name for chains in rs.chains.values() for name in chains]
    assert all(n.startswith(P) and len(n) <= MAX_CHAIN_NAME for n in names)
    assert all(j.target.startswith(P) for j in jump_rules(P))


def test_same_input_gives_the_same_rules() -> None:
    objs = (service("web"), endpoint_slice("web", [endpoint("172.17.0.3"), endpoint("172.17.0.2")]))
    assert rules_for(*objs).text() == rules_for(*reversed(objs)).text()


def test_full_sync_text_declares_every_chain_adds_missing_jumps_and_deletes_stale_chains() -> None:
    rs = rules_for(service("web"), endpoint_slice("web", [endpoint("172.17.0.2")]))
    stale = f"{P}SVC-AAAAAAAAAA"
    text = restore_text(rs, applied=None, existing={"nat": {stale}, "filter": set()},
                        missing_jumps=[j for j in jump_rules(P) if j.chain == "PREROUTING"])
    nat = text.split("*nat\n")[1]
    assert f":{stale} - [0:0]" in nat and f"-X {stale}" in nat
    assert f'-I PREROUTING 1 -m comment --comment "labkit service portals" -j {P}SERVICES' in nat
    assert all(f":{name} - [0:0]" in text for chains in rs.chains.values() for name in chains)
    assert text.count("COMMIT") == 2


def test_partial_sync_rewrites_only_the_chains_that_changed() -> None:
    before = rules_for(service("web"), endpoint_slice("web", [endpoint("172.17.0.2"), endpoint("172.17.0.3")]),
                       service("api", cluster_ip="10.96.0.20"), endpoint_slice("api", [endpoint("172.17.0.9")]))
    after = rules_for(service("web"), endpoint_slice("web", [endpoint("172.17.0.2")]),
                      service("api", cluster_ip="10.96.0.20"), endpoint_slice("api", [endpoint("172.17.0.9")]))
    text = restore_text(after, applied=before, existing={}, missing_jumps=())
    declared = re.findall(r"^:(\S+)", text, re.M)
    deleted = re.findall(r"^-X (\S+)", text, re.M)
    web_chain = svc_chain(after, "default/web:http cluster IP")
    assert "*filter" not in text  # nothing changed there
    gone = (set(before.chains["nat"]) - set(after.chains["nat"])).pop()
    assert deleted == [gone]
    assert sorted(declared) == sorted([web_chain, gone])
    assert restore_text(after, applied=after, existing={}, missing_jumps=()) == ""


def test_chain_name_over_the_limit_is_refused() -> None:
    rs = compute_rules([], prefix=P, cluster_cidr=None)
    with pytest.raises(ValueError, match="28 characters"):
        rs.chain("nat", P + "X" * 20)


def test_the_rules_of_one_service_are_picked_out_of_the_whole_dump() -> None:
    from orchestrator.proxy.rules import rules_of_service

    text = rules_for(service("web", type_="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080}]),
                     endpoint_slice("web", [endpoint("172.17.0.2")]),
                     service("webber", cluster_ip="10.96.0.30"), endpoint_slice("webber", [endpoint("172.17.0.9")]),
                     ).text()
    picked = rules_of_service(text, "default/web")
    assert picked and all("webber" not in line and "172.17.0.9" not in line for line in picked)
    assert any("DNAT --to-destination 172.17.0.2:8080" in line for line in picked)
    assert any(line.endswith("-j " + line.split()[1].replace("-EXT-", "-SVC-")) for line in picked
               if "-EXT-" in line.split()[1])
    assert not any("MARK --or-mark" in line for line in picked)
