"""`python -m orchestrator.dns`: the lab's cluster DNS server.

    python -m orchestrator.dns --kubeconfig PATH [--zone cluster.local]
        [--listen 127.0.0.1:5353 --listen 172.17.0.1:5353] [--cluster-dns-ip 169.254.x.y]

Start-up: bind UDP and TCP on every ``--listen`` address (the port may be 0 on the first one:
a free port, then used for all), answer SERVFAIL until the Service and EndpointSlice informers
have synced, then answer from their caches. With ``--cluster-dns-ip`` (and root, and
iptables), install the nat chain that sends ``<cluster-dns-ip>:53`` to the last ``--listen``
address (orchestrator/dns/dnat.py); on SIGTERM remove it again. A chain left by a killed server is
rewritten at the next start.

Kubernetes equivalent: CoreDNS (coredns/coredns, with plugin/kubernetes) as the kube-dns add-on
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from orchestrator.client.informer import SharedInformerFactory
from orchestrator.client.process import configure_logging, run_component
from orchestrator.client.rest import ApiClient
from orchestrator.dns import dnat
from orchestrator.dns.records import ClusterRecords
from orchestrator.dns.server import DnsServer
from orchestrator.nodeagent.cluster import cluster_id
from orchestrator.proxy.iptables import Iptables, can_program
from orchestrator.proxy.model import slice_service_key
from orchestrator.proxy.proxier import ENDPOINTSLICES, SERVICES

log = logging.getLogger("orchestrator.dns")


def _address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: give HOST:PORT, e.g. 127.0.0.1:5353")
    return host, int(port)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m orchestrator.dns", description=__doc__.split("\n")[0])
    p.add_argument("--kubeconfig", type=Path, required=True)
    p.add_argument("--zone", default="cluster.local", help="the cluster domain (kubelet's --cluster-domain)")
    p.add_argument("--listen", type=_address, action="append", default=None,
                   help="HOST:PORT to serve UDP and TCP on (repeatable; default 127.0.0.1:5353)")
    p.add_argument("--cluster-dns-ip", help="the nameserver address pods get; DNAT'ed to the last --listen")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    listen: list[tuple[str, int]] = args.listen or [("127.0.0.1", 5353)]
    lab = cluster_id(args.kubeconfig)
    async with ApiClient.from_kubeconfig(args.kubeconfig, user_agent="orchestrator-dns") as client:
        factory = SharedInformerFactory(client)
        services = factory.informer(SERVICES)
        slices = factory.informer(ENDPOINTSLICES)
        slices.add_indexer("service", slice_service_key)
        services.add_indexer("namespace", lambda s: (s.get("metadata") or {}).get("namespace"))
        records = ClusterRecords(
            zone=args.zone,
            service=lambda ns, name: services.get(f"{ns}/{name}"),
            slices=lambda ns, name: slices.by_index("service", f"{ns}/{name}"),
            namespace_exists=lambda ns: bool(services.store.index_keys("namespace", ns)),
            synced=lambda: services.has_synced and slices.has_synced,
        )
        first_host, first_port = listen[0]
        server = DnsServer(records, [(first_host, first_port)])
        (bound,) = await server.start()
        # Port 0 asked for one free port: every other address uses the same one.
        more = [(host, port or bound[1]) for host, port in listen[1:]]
        extra = DnsServer(records, more)
        bound_more = await extra.start()
        addresses = [bound, *bound_more]
        runner = None
        chain = dnat.dnat_chain(lab)
        if args.cluster_dns_ip:
            able, why = can_program()
            if able:
                runner = Iptables()
                host, port = addresses[-1]
                await dnat.install(runner, chain=chain, dns_ip=args.cluster_dns_ip, target=f"{host}:{port}")
                log.info("pods' nameserver %s:53 is DNAT'ed to %s:%d (chain %s)", args.cluster_dns_ip, host, port, chain)
            else:
                log.warning("cannot install the DNAT for %s (%s): only the listen addresses answer",
                            args.cluster_dns_ip, why)
        print("dns serving zone " + args.zone + " on " + " ".join(f"{h}:{p}" for h, p in addresses), flush=True)
        try:
            await factory.run()
        finally:
            server.close()
            extra.close()
            if runner is not None:
                await asyncio.shield(dnat.remove(runner, chain=chain))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(verbose=args.verbose)
    return run_component("dns", lambda: serve(args))


if __name__ == "__main__":
    sys.exit(main())
