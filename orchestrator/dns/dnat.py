"""How pods on Docker reach the lab's DNS server: a per-lab link-local address, DNAT'ed to the server.

kubelet gives every ClusterFirst pod one nameserver (``--cluster-dns``). In Kubernetes that is the
``kube-dns`` Service's ClusterIP, or with NodeLocal DNSCache the link-local 169.254.20.10 on every
node. Here the DNS server is a process on the host, and several labs may share one host and one
Docker bridge, so no fixed address will do: each lab gets its own link-local address
(`cluster_dns_ip`, derived from the cluster id like the proxy's chain prefix), and one nat chain
``LABDNS-<id>`` (jumped to from PREROUTING, for pods, and OUTPUT, for the host) rewrites
``<that address>:53`` (UDP and TCP) to the address and port the server listens on (the Docker
bridge's gateway, which every container can reach). The server itself needs no root and no
port 53.

Kubernetes equivalent: none exactly; NodeLocal DNSCache's link-local listen address
(cluster/addons/dns/nodelocaldns) plays the same part.
"""

from __future__ import annotations

import hashlib

from orchestrator.proxy.iptables import Runner, cleanup_text, ours
from orchestrator.proxy.rules import Jump, comment

__all__ = ["cluster_dns_ip", "dnat_chain", "install", "remove"]


def cluster_dns_ip(cluster_id: str) -> str:
    """``169.254.<100-199>.<1-254>`` from the cluster id: clear of 169.254.169.254 (cloud metadata) and
    169.254.20.10 (NodeLocal DNSCache)."""
    h = int(hashlib.sha256(cluster_id.encode()).hexdigest()[:8], 16)
    return f"169.254.{100 + h % 100}.{1 + (h >> 8) % 254}"


def dnat_chain(cluster_id: str) -> str:
    return "LABDNS-" + "".join(c for c in cluster_id if c.isalnum())[:6].upper()


def restore_input(*, chain: str, dns_ip: str, target: str, existing_jumps: set[tuple[str, str]]) -> str:
    """The nat chain and its hooks (only the hooks not there yet) as iptables-restore input."""
    lines = ["*nat", f":{chain} - [0:0]"]
    for proto in ("udp", "tcp"):
        lines.append(f"-A {chain} {comment('labkit cluster DNS')} -d {dns_ip}/32 -p {proto} -m {proto} "
                     f"--dport 53 -j DNAT --to-destination {target}")
    for hook in ("PREROUTING", "OUTPUT"):
        jump = Jump("nat", hook, f"{comment('labkit cluster DNS')} -j {chain}")
        if (hook, chain) not in existing_jumps:
            lines.append(f"-I {hook} 1 {jump.args}")
    return "\n".join([*lines, "COMMIT"]) + "\n"


async def install(runner: Runner, *, chain: str, dns_ip: str, target: str) -> str:
    """Write (or rewrite) the chain and add the missing hooks; returns the restore input used."""
    owned = ours(await runner.save(), chain)
    existing = {(rule.split()[1], rule.split()[-1]) for rule in owned.jumps.get("nat", [])}
    text = restore_input(chain=chain, dns_ip=dns_ip, target=target, existing_jumps=existing)
    await runner.restore(text)
    return text


async def remove(runner: Runner, *, chain: str) -> None:
    """Remove the chain and its hooks (also a stale one left by a killed server)."""
    await runner.restore(cleanup_text(ours(await runner.save(), chain)))
