"""The NAT and filter rules for a set of service ports, as kube-proxy's iptables proxier writes them.

The rules are chains in the ``nat`` and ``filter`` tables, written as ``iptables-restore`` input.
Every chain this proxy owns starts with the lab's prefix (`chain_prefix`, e.g. ``LABKIT-3F9A2C-``),
so several labs on one host never touch each other's chains; where kube-proxy writes
``KUBE-SERVICES`` this writes ``LABKIT-3F9A2C-SERVICES``, and so on:

==========================  ======  ===============================================================
chain                       table   job
==========================  ======  ===============================================================
<p>SERVICES                 nat     entry, jumped to from PREROUTING (traffic from pods) and OUTPUT
                                    (from the host): one rule per ClusterIP:port → its SVC chain;
                                    last, local destinations → NODEPORTS
<p>NODEPORTS                nat     one rule per NodePort → its EXT chain
<p>EXT-<hash>               nat     NodePort traffic: mark for masquerade, then → SVC
<p>SVC-<hash>               nat     one service port: mark traffic from outside the pod network for
                                    masquerade, then pick an endpoint: rule i of n jumps with
                                    ``-m statistic --mode random --probability 1/(n-i)``, the last
                                    always, so each endpoint gets 1/n of the new connections
<p>SEP-<hash>               nat     one endpoint: hairpin (the pod calling itself) marked for
                                    masquerade, then ``DNAT --to-destination ip:port``
<p>MARK-MASQ                nat     ``MARK --or-mark 0x4000``
<p>POSTROUTING              nat     jumped to from POSTROUTING: marked packets are masqueraded
<p>SERVICES                 filter  a service port with no endpoint: ``REJECT`` (the client gets
                                    "connection refused" at once instead of a timeout)
<p>EXT-SERVICES             filter  the same for NodePorts without endpoints
<p>FORWARD                  filter  accept forwarded traffic marked for masquerade (NodePort
                                    traffic to a pod: Docker's FORWARD policy is DROP)
==========================  ======  ===============================================================

``<hash>`` is the first 10 characters of the base32 SHA-256 of the service port name and
protocol (plus the endpoint for SEP chains), as kube-proxy's ``servicePortChainName`` (16 there:
iptables allows chain names of 28 characters and the lab prefix takes some).

Worked example (prefix ``LABKIT-3F9A2C-``, shortened to ``P-``): Service ``shop/web`` port ``http``
80/TCP on 10.96.7.7 with endpoints 172.17.0.5:8080 and 172.17.0.6:8080 gives::

    -A P-SERVICES -m comment --comment "shop/web:http cluster IP" -m tcp -p tcp -d 10.96.7.7/32 --dport 80 -j P-SVC-…
    -A P-SVC-… -m comment --comment "shop/web:http cluster IP" -m tcp -p tcp -d 10.96.7.7/32 --dport 80 ! -s 172.17.0.0/16 -j P-MARK-MASQ
    -A P-SVC-… -m comment --comment "shop/web:http -> 172.17.0.5:8080" -m statistic --mode random --probability 0.5000000000 -j P-SEP-…
    -A P-SVC-… -m comment --comment "shop/web:http -> 172.17.0.6:8080" -j P-SEP-…
    -A P-SEP-… -m comment --comment shop/web:http -s 172.17.0.5/32 -j P-MARK-MASQ
    -A P-SEP-… -m comment --comment shop/web:http -m tcp -p tcp -j DNAT --to-destination 172.17.0.5:8080

Kubernetes equivalent: pkg/proxy/iptables/proxier.go (syncProxyRules, servicePortChainName,
servicePortEndpointChainName, iptablesJumpChains)
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from orchestrator.proxy.model import ServicePort

__all__ = [
    "MASQ_MARK",
    "MAX_CHAIN_NAME",
    "Jump",
    "RuleSet",
    "chain_prefix",
    "comment",
    "compute_rules",
    "jump_rules",
    "restore_text",
    "rules_of_service",
]

# kube-proxy's --iptables-masquerade-bit 14.
MASQ_MARK = "0x4000"
# iptables' XT_EXTENSION_MAXNAMELEN (29) less the terminating NUL.
MAX_CHAIN_NAME = 28
_HASH_CHARS = 10
TABLES = ("filter", "nat")


def chain_prefix(cluster_id: str) -> str:
    """``LABKIT-<first 6 hex digits of the cluster id, upper case>-``: 14 characters, leaving 14."""
    short = "".join(c for c in cluster_id if c.isalnum())[:6].upper()
    if not short:
        raise ValueError("a cluster id is needed to name the proxy's chains (got an empty one)")
    return f"LABKIT-{short}-"


def _hash(*parts: str) -> str:
    digest = hashlib.sha256("".join(parts).encode()).digest()
    return base64.b32encode(digest).decode()[:_HASH_CHARS]


@dataclass(frozen=True)
class Jump:
    """A rule in a built-in chain that jumps to one of ours; the only rules we add to chains we do not own."""

    table: str
    chain: str  # the built-in chain: PREROUTING, OUTPUT, POSTROUTING, INPUT, FORWARD
    args: str  # everything after ``-A <chain>``

    @property
    def rule(self) -> str:
        return f"-A {self.chain} {self.args}"

    @property
    def target(self) -> str:
        return self.args.split()[-1]


@dataclass
class RuleSet:
    """The chains this proxy wants, per table: chain name → its rules (``-A …`` lines) in order."""

    prefix: str
    chains: dict[str, dict[str, list[str]]] = field(default_factory=lambda: {t: {} for t in TABLES})

    def chain(self, table: str, name: str) -> list[str]:
        if len(name) > MAX_CHAIN_NAME:
            raise ValueError(f"chain name {name!r} is longer than iptables' {MAX_CHAIN_NAME} characters")
        return self.chains[table].setdefault(name, [])

    def add(self, table: str, name: str, args: str) -> None:
        self.chain(table, name).append(f"-A {name} {args}")

    def rule_count(self) -> int:
        return sum(len(rules) for chains in self.chains.values() for rules in chains.values())

    def text(self) -> str:
        """The whole rule set as ``iptables-restore`` input (what `--noflush` would load on a first sync)."""
        return restore_text(self, applied=None, existing={t: set() for t in TABLES}, missing_jumps=())


def comment(text: str) -> str:
    # iptables-restore splits on blanks and understands double quotes only (as iptables-save writes).
    text = text.replace('"', "'")
    return f'-m comment --comment "{text}"' if " " in text else f"-m comment --comment {text}"


def jump_rules(prefix: str) -> list[Jump]:
    """The rules in built-in chains that hook our chains in (kube-proxy's iptablesJumpChains)."""
    new = "-m conntrack --ctstate NEW"
    return [
        Jump("filter", "INPUT", f"{new} {comment('labkit externally-visible service portals')} "
                                f"-j {prefix}EXT-SERVICES"),
        Jump("filter", "FORWARD", f"{new} {comment('labkit externally-visible service portals')} "
                                  f"-j {prefix}EXT-SERVICES"),
        Jump("filter", "FORWARD", f"{new} {comment('labkit service portals')} -j {prefix}SERVICES"),
        Jump("filter", "OUTPUT", f"{new} {comment('labkit service portals')} -j {prefix}SERVICES"),
        Jump("filter", "FORWARD", f"{comment('labkit forwarding rules')} -j {prefix}FORWARD"),
        Jump("nat", "OUTPUT", f"{comment('labkit service portals')} -j {prefix}SERVICES"),
        Jump("nat", "PREROUTING", f"{comment('labkit service portals')} -j {prefix}SERVICES"),
        Jump("nat", "POSTROUTING", f"{comment('labkit postrouting rules')} -j {prefix}POSTROUTING"),
    ]


def compute_rules(ports: Iterable[ServicePort], *, prefix: str, cluster_cidr: str | None) -> RuleSet:
    """Every chain and rule for `ports` (see the module docstring); deterministic for the same input."""
    rs = RuleSet(prefix)
    services, nodeports, mark = f"{prefix}SERVICES", f"{prefix}NODEPORTS", f"{prefix}MARK-MASQ"
    ext_services, postrouting, forward = f"{prefix}EXT-SERVICES", f"{prefix}POSTROUTING", f"{prefix}FORWARD"
    # The fixed chains first, so they exist (empty or not) on every sync.
    for table, name in (("filter", services), ("filter", ext_services), ("filter", forward),
                        ("nat", services), ("nat", nodeports), ("nat", postrouting), ("nat", mark)):
        rs.chain(table, name)
    rs.add("nat", mark, f"-j MARK --or-mark {MASQ_MARK}")
    rs.add("nat", postrouting, f"-m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN")
    # The mark must go before masquerading: a packet re-entering the stack (hairpin) would be
    # masqueraded again.
    rs.add("nat", postrouting, f"-j MARK --xor-mark {MASQ_MARK}")
    rs.add("nat", postrouting, f"{comment('labkit service traffic requiring SNAT')} -j MASQUERADE")
    rs.add("filter", forward, f"{comment('labkit forwarding rules')} -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT")
    rs.add("filter", forward, f"{comment('labkit forwarding conntrack rule')} "
                              "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")

    for sp in sorted(ports, key=lambda p: (p.name, p.protocol)):
        proto = sp.protocol.lower()
        match = f"-m {proto} -p {proto}"
        dest = f"-d {sp.cluster_ip}/32 --dport {sp.port}"
        if not sp.endpoints:
            # No nat rules at all: the filter table refuses the connection (kube-proxy does the same).
            reject = "-j REJECT"
            rs.add("filter", services, f"{comment(f'{sp.name} has no endpoints')} {match} {dest} {reject}")
            if sp.node_port:
                rs.add("filter", ext_services, f"{comment(f'{sp.name} has no endpoints')} -m addrtype "
                                               f"--dst-type LOCAL {match} --dport {sp.node_port} {reject}")
            continue
        svc_hash = _hash(sp.name, sp.protocol)
        svc_chain = f"{prefix}SVC-{svc_hash}"
        cluster_ip_comment = comment(f"{sp.name} cluster IP")
        rs.add("nat", services, f"{cluster_ip_comment} {match} {dest} -j {svc_chain}")
        rs.chain("nat", svc_chain)
        if cluster_cidr:
            # Traffic from outside the pod network (the host, another machine) must come back
            # through this host: masquerade it (kube-proxy does this when --cluster-cidr is set).
            rs.add("nat", svc_chain, f"{cluster_ip_comment} {match} {dest} ! -s {cluster_cidr} -j {mark}")
        if sp.node_port:
            ext_chain = f"{prefix}EXT-{svc_hash}"
            rs.add("nat", nodeports, f"{comment(sp.name)} {match} --dport {sp.node_port} -j {ext_chain}")
            rs.add("nat", ext_chain, f"{comment(f'masquerade traffic for {sp.name} external destinations')} -j {mark}")
            rs.add("nat", ext_chain, f"-j {svc_chain}")
        sep_chains = [(ep, f"{prefix}SEP-{_hash(sp.name, sp.protocol, str(ep))}") for ep in sp.endpoints]
        if sp.session_affinity_seconds:
            # A client seen recently goes back to the endpoint it used (the `recent` match's list
            # is named after the SEP chain, as kube-proxy names it).
            for ep, sep in sep_chains:
                rs.add("nat", svc_chain, f"{comment(f'{sp.name} -> {ep}')} -m recent --name {sep} --rcheck "
                                         f"--seconds {sp.session_affinity_seconds} --reap -j {sep}")
        n = len(sep_chains)
        for i, (ep, sep) in enumerate(sep_chains):
            pick = "" if i == n - 1 else f"-m statistic --mode random --probability {1.0 / (n - i):0.10f} "
            rs.add("nat", svc_chain, f"{comment(f'{sp.name} -> {ep}')} {pick}-j {sep}")
            rs.chain("nat", sep)
            rs.add("nat", sep, f"{comment(sp.name)} -s {ep.ip}/32 -j {mark}")
            affinity = f"-m recent --name {sep} --set " if sp.session_affinity_seconds else ""
            rs.add("nat", sep, f"{comment(sp.name)} {match} {affinity}-j DNAT --to-destination {ep}")
    # Last: whatever is addressed to this host may be a NodePort.
    rs.add("nat", services, f"{comment('labkit service nodeports; NOTE: this must be the last rule in this chain')} "
                            f"-m addrtype --dst-type LOCAL -j {nodeports}")
    return rs


def restore_text(
    desired: RuleSet,
    *,
    applied: RuleSet | None,
    existing: Mapping[str, set[str]],
    missing_jumps: Iterable[Jump],
) -> str:
    """``iptables-restore --noflush`` input that turns what is there into `desired`.

    `applied` is what the last successful sync wrote (None: write every chain, a full sync);
    `existing` the chains of our prefix that are in the kernel now, per table (deleted when not
    desired); `missing_jumps` the hooks from built-in chains to add. A chain named in the text
    (``:NAME - [0:0]``) is flushed and rewritten; a chain not named is left as it is — that is
    what makes a partial sync cheap (kube-proxy's MinimizeIPTablesRestore).
    """
    jumps = list(missing_jumps)
    out: list[str] = []
    for table in TABLES:
        want = desired.chains[table]
        had = applied.chains[table] if applied is not None else {}
        rewrite = [name for name, rules in want.items() if applied is None or had.get(name) != rules]
        stale = sorted((set(existing.get(table, ())) | set(had)) - set(want))
        table_jumps = [j for j in jumps if j.table == table]
        if not (rewrite or stale or table_jumps):
            continue
        out.append(f"*{table}")
        out += [f":{name} - [0:0]" for name in rewrite]
        # A stale chain must be flushed before it can be deleted (its rules may jump elsewhere).
        out += [f":{name} - [0:0]" for name in stale]
        for name in rewrite:
            out += want[name]
        # Insert at the top: a rule of Docker's (or anyone's) earlier in the chain must not
        # decide first (Docker's FORWARD policy is DROP).
        out += [f"-I {j.chain} 1 {j.args}" for j in table_jumps]
        out += [f"-X {name}" for name in stale]
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


def rules_of_service(text: str, service: str) -> list[str]:
    """The ``-A`` lines of a rules dump (`RuleSet.text`, ``/rules``) that one Service (``ns/name``)
    owns: those whose comment names it, and every rule of the chains they jump to (the EXT chain's
    last rule carries no comment) — what a notebook shows for "the rules of Service web"."""
    lines = [line for line in text.splitlines() if line.startswith("-A ")]
    named = [line for line in lines if f"{service}:" in line or f"{service} " in line
             or f"{service}\"" in line or line.endswith(service)]
    chains = {line.split()[-1] for line in named if "-j " in line} | {line.split()[1] for line in named}
    chains = {c for c in chains if "-SVC-" in c or "-SEP-" in c or "-EXT-" in c}
    return [line for line in lines if line in named or line.split()[1] in chains]
