"""`python -m orchestrator.proxy`: the lab's kube-proxy (iptables mode, or a dry run).

    python -m orchestrator.proxy --kubeconfig PATH [--mode auto|iptables|dry-run]
        [--cluster-cidr 172.17.0.0/16] [--min-sync-period 0.25] [--sync-period 30]
        [--bind-address 127.0.0.1] [--port 10256] [--rules-file PATH] [--cleanup]

Start-up: say which mode it runs in and why (``--mode auto`` programs iptables when it runs as
root with the iptables binaries, else it is a dry run), serve /rules /status /metrics /healthz,
start the Service and EndpointSlice informers, sync once they have synced, then on every change.
SIGTERM or SIGINT: stop the informers, then remove every chain of the lab's prefix and every jump
into them. ``--cleanup`` only removes them and exits (``kube-proxy --cleanup``).

The chain prefix comes from the lab's cluster id (the same id the node agents write on their
containers, derived from the kubeconfig's CA), so two labs on one host own disjoint chains.

Kubernetes equivalent: cmd/kube-proxy/app/server.go
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
from orchestrator.nodeagent.cluster import cluster_id
from orchestrator.proxy.iptables import DryRunIptables, Iptables, Runner, can_program
from orchestrator.proxy.proxier import Proxier
from orchestrator.proxy.rules import chain_prefix
from orchestrator.proxy.server import serve_http

log = logging.getLogger("orchestrator.proxy")

DEFAULT_PORT = 10256  # kube-proxy's healthz port


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m orchestrator.proxy", description=__doc__.split("\n")[0])
    p.add_argument("--kubeconfig", type=Path, required=True, help="kubeconfig with a identity that may watch "
                   "Services and EndpointSlices")
    p.add_argument("--mode", choices=("auto", "iptables", "dry-run"), default="auto",
                   help="auto: iptables when root with iptables-restore, else dry-run")
    p.add_argument("--chain-prefix", help="prefix of every chain (default LABKIT-<cluster id>-)")
    p.add_argument("--cluster-cidr", help="the pod network; traffic to a ClusterIP from outside it is masqueraded")
    p.add_argument("--min-sync-period", type=float, default=0.25,
                   help="at most one sync this often; changes in between are batched (default 0.25 s)")
    p.add_argument("--sync-period", type=float, default=30.0, help="full sync this often (default 30 s)")
    p.add_argument("--bind-address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="/rules /status /metrics /healthz; 0 picks")
    p.add_argument("--rules-file", type=Path, help="also write the current rules here after each sync")
    p.add_argument("--cleanup", action="store_true", help="remove the lab's chains and jump rules, then exit")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def _runner(mode: str) -> tuple[Runner, str]:
    able, why = can_program()
    if mode == "iptables" and not able:
        raise ValueError(f"--mode iptables: cannot program iptables: {why}")
    if mode == "dry-run":
        return DryRunIptables(), "asked for with --mode dry-run"
    if not able:
        return DryRunIptables(), why
    return Iptables(), why


async def serve(args: argparse.Namespace) -> None:
    prefix = args.chain_prefix or chain_prefix(cluster_id(args.kubeconfig))
    runner, why = _runner(args.mode)
    if runner.dry_run:
        log.warning("DRY RUN (%s): the proxy computes the rules it would apply and serves them at /rules; "
                    "it changes nothing on this host", why)
    else:
        log.info("iptables mode (%s): chains %s* in the nat and filter tables", why, prefix)
        if not _bridge_netfilter():
            # Pod to ClusterIP to a pod on the same bridge: the reply is bridged, not routed, and
            # only br_netfilter lets conntrack undo the DNAT on it (kube-proxy warns the same).
            log.warning("br_netfilter is not loaded or net.bridge.bridge-nf-call-iptables is 0: a pod calling "
                        "a Service whose endpoint is on the same bridge will get no answer "
                        "(modprobe br_netfilter; sysctl -w net.bridge.bridge-nf-call-iptables=1)")
    proxier = Proxier(runner=runner, prefix=prefix, cluster_cidr=args.cluster_cidr,
                      min_sync_period=args.min_sync_period, sync_period=args.sync_period,
                      rules_file=args.rules_file)
    if args.cleanup:
        await proxier.cleanup()
        return
    async with ApiClient.from_kubeconfig(args.kubeconfig, user_agent="orchestrator-proxy") as client:
        factory = SharedInformerFactory(client)
        proxier.attach(factory)
        http = await serve_http(host=args.bind_address, port=args.port, proxier=proxier)
        port = http.sockets[0].getsockname()[1]
        print(f"proxy {proxier.status.mode} chains {prefix}* serving on {args.bind_address}:{port}", flush=True)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(factory.run(), name="informers")
                tg.create_task(proxier.run(), name="proxy-sync")
        finally:
            http.close()
            # Shutdown order: the informers and the sync loop are stopped (the TaskGroup is
            # done), so no sync can re-create a chain after this removes it.
            await asyncio.shield(proxier.cleanup())


def _bridge_netfilter() -> bool:
    try:
        return Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip() == "1"
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(verbose=args.verbose)
    return run_component("proxy", lambda: serve(args))


if __name__ == "__main__":
    sys.exit(main())
