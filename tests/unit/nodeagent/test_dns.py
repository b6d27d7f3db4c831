"""A pod's resolver from its dnsPolicy and dnsConfig, as kubelet computes it (orchestrator/nodeagent/dns.py)."""

from __future__ import annotations

from typing import Any

from orchestrator.nodeagent.dns import pod_dns_config
from orchestrator.nodeagent.runtimes.base import DnsConfig


def pod(namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": namespace}, "spec": {"containers": [], **spec}}


def test_cluster_first_is_the_default_with_search_path_and_ndots_5() -> None:
    assert pod_dns_config(pod(), cluster_dns=["169.254.150.7"], cluster_domain="cluster.local") == DnsConfig(
        servers=("169.254.150.7",),
        searches=("shop.svc.cluster.local", "svc.cluster.local", "cluster.local"),
        options=("ndots:5",),
    )


def test_cluster_first_without_cluster_dns_and_default_policy_keep_the_runtime_resolver() -> None:
    assert pod_dns_config(pod(), cluster_dns=[], cluster_domain="cluster.local") is None
    assert pod_dns_config(pod(dnsPolicy="Default"), cluster_dns=["10.0.0.10"], cluster_domain="cluster.local") is None


def test_policy_none_takes_dns_config_alone_and_dns_config_merges_into_cluster_first() -> None:
    custom = {"nameservers": ["1.1.1.1"], "searches": ["corp.example"],
              "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    assert pod_dns_config(pod(dnsPolicy="None", dnsConfig=custom), cluster_dns=["10.0.0.10"],
                          cluster_domain="cluster.local") == DnsConfig(
        servers=("1.1.1.1",), searches=("corp.example",), options=("ndots:2", "edns0"))
    merged = pod_dns_config(pod(dnsConfig=custom), cluster_dns=["10.0.0.10"], cluster_domain="cluster.local")
    assert merged is not None
    assert merged.servers == ("10.0.0.10", "1.1.1.1")
    assert merged.searches[-1] == "corp.example" and merged.options == ("ndots:2", "edns0")
