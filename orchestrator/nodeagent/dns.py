"""A pod's resolver configuration from its ``dnsPolicy`` and ``dnsConfig``, as kubelet computes it.

==========================  ===============================================================
dnsPolicy                   resolv.conf of the pod's containers
==========================  ===============================================================
ClusterFirst (the default)  ``nameserver <--cluster-dns>``, ``search <ns>.svc.<domain>
                            svc.<domain> <domain>``, ``options ndots:5``; without
                            ``--cluster-dns`` kubelet falls back to Default (and warns)
ClusterFirstWithHostNet     the same (pods here never use the host network)
Default                     the node's resolver: Docker's own (None here: nothing to set)
None                        only what ``spec.dnsConfig`` says
==========================  ===============================================================

``spec.dnsConfig`` is then merged in: its nameservers and searches are appended (duplicates
dropped), its options override ones of the same name. ``ndots:5`` makes ``web`` and
``web.shop`` (fewer than five dots) try the search domains first, so ``wget http://web``
reaches ``web.<own namespace>.svc.cluster.local``.

Worked example: a pod in ``shop`` with ``--cluster-dns 169.254.150.7`` gets
``nameserver 169.254.150.7`` / ``search shop.svc.cluster.local svc.cluster.local cluster.local``
/ ``options ndots:5``.

Kubernetes equivalent: pkg/kubelet/network/dns/dns.go (GetPodDNS, getClusterDNS, mergeDNSOptions)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.nodeagent.runtimes.base import DnsConfig

__all__ = ["pod_dns_config"]

NDOTS = "5"


def pod_dns_config(pod: Mapping[str, Any], *, cluster_dns: Sequence[str], cluster_domain: str) -> DnsConfig | None:
    """The resolver settings for `pod`'s containers, or None for the runtime's default."""
    spec = pod.get("spec") or {}
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and cluster_dns:
        domain = cluster_domain.strip(".")
        base = DnsConfig(servers=tuple(cluster_dns),
                         searches=(f"{namespace}.svc.{domain}", f"svc.{domain}", domain),
                         options=(f"ndots:{NDOTS}",))
    elif policy == "None":
        base = DnsConfig()
    else:
        base = None  # Default, or ClusterFirst on a node without --cluster-dns
    custom = spec.get("dnsConfig") or {}
    if not custom:
        return base
    base = base or DnsConfig()
    options: dict[str, str | None] = {}
    for opt in base.options:
        name, _, value = opt.partition(":")
        options[name] = value or None
    for opt in custom.get("options") or []:
        if opt.get("name"):
            options[opt["name"]] = opt.get("value")
    return DnsConfig(
        servers=_unique([*base.servers, *(custom.get("nameservers") or [])]),
        searches=_unique([*base.searches, *(custom.get("searches") or [])]),
        options=tuple(f"{k}:{v}" if v is not None else k for k, v in options.items()),
    )


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
