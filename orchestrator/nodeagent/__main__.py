"""``python -m orchestrator.nodeagent``: run one node agent, or a fleet of simulated nodes.

    python -m orchestrator.nodeagent --kubeconfig ~/.labkit/kubeconfigs/node-1.kubeconfig \\
        --name node-1 --runtime docker
    python -m orchestrator.nodeagent --kubeconfig ~/.labkit/kubeconfig \\
        --runtime simulated --count 500 --name-prefix sim-
    python -m orchestrator.nodeagent --kubeconfig ~/.labkit/kubeconfigs/controller-manager.kubeconfig \\
        --runtime simulated --count 250 --name-prefix node- --first-index 251 --straight-to-running

Kubernetes equivalent: cmd/kubelet (flags named like kubelet's where one exists).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from orchestrator.client.process import configure_logging, run_component
from orchestrator.nodeagent.agent import NodeConfig, Taint
from orchestrator.nodeagent.cluster import cluster_id
from orchestrator.nodeagent.fleet import ProcessConfig, fleet_names, run_nodes


def parse_args(argv: list[str] | None = None) -> ProcessConfig:
    p = argparse.ArgumentParser(prog="python -m orchestrator.nodeagent",
                                description="The Orchestrator Lab Kit node agent (a kubelet clone).")
    p.add_argument("--kubeconfig", type=Path, required=True,
                   help="the node's kubeconfig (a fleet needs the admin or controller-manager one)")
    p.add_argument("--name", help="the node's name (one node)")
    p.add_argument("--runtime", choices=("docker", "simulated"), required=True)
    p.add_argument("--count", type=int, default=None, help="run a fleet of this many simulated nodes")
    p.add_argument("--name-prefix", default="sim-", help="fleet node names: <prefix>1 .. <prefix><count>")
    p.add_argument("--first-index", type=int, default=1,
                   help="number of the fleet's first node (several fleets, one numbering; default 1)")
    p.add_argument("--straight-to-running", action="store_true",
                   help="report a pod once, when its containers run (KWOK-style), not first as ContainerCreating")
    p.add_argument("--status-senders", type=int, default=4,
                   help="pod status updates in flight at once; newer statuses of a pod replace unsent ones")
    p.add_argument("--cpu", help="capacity cpu (default: the host's CPUs)")
    p.add_argument("--memory", help="capacity memory, e.g. 8Gi (default: the host's)")
    p.add_argument("--pods", type=int, default=110, help="capacity pods (default 110)")
    p.add_argument("--labels", default="", help="extra node labels: k=v,k2=v2")
    p.add_argument("--taints", default="", help="node taints: k=v:NoSchedule,k2:NoExecute")
    p.add_argument("--node-ip", default="127.0.0.1", help="status.addresses InternalIP (default 127.0.0.1)")
    p.add_argument("--lease-seconds", type=float, default=10.0, help="Lease renewal period (default 10)")
    p.add_argument("--status-report-seconds", type=float, default=300.0,
                   help="re-post the Node status at least this often (default 300, kubelet's)")
    p.add_argument("--log-port", type=int, default=10250, help="port of the log endpoint (0: any free port)")
    p.add_argument("--log-bind", default="0.0.0.0", help="address the log endpoint listens on")
    p.add_argument("--apiserver-token-file", type=Path,
                   help="tokens (one per line) the log endpoint accepts; default: this agent's own token")
    p.add_argument("--tls-cert-file", type=Path,
                   help="serve the log and stream endpoint over HTTPS with this certificate (PEM; kubelet's flag)")
    p.add_argument("--tls-private-key-file", type=Path, help="the key of --tls-cert-file (PEM)")
    p.add_argument("--client-ca-file", type=Path,
                   help="accept only callers with a client certificate this CA signed (the API server's "
                        "--kubelet-client-certificate) on the log and stream endpoint; needs --tls-cert-file")
    p.add_argument("--crashloop-base", type=float, default=10.0, help="first CrashLoopBackOff delay (default 10 s)")
    p.add_argument("--crashloop-max", type=float, default=300.0, help="CrashLoopBackOff cap (default 300 s)")
    p.add_argument("--root-dir", type=Path,
                   help="where pod volumes are written: <root-dir>/<node>/pods/<uid>/volumes, and "
                        "persistent volumes <root-dir>/persistentvolumes/<volumeHandle> "
                        "(default: <temp dir>/labkit-nodeagent/<lab's cluster id>; kubelet's --root-dir)")
    p.add_argument("--volume-resync-seconds", type=float, default=60.0,
                   help="how often configMap/secret/downwardAPI/projected volumes of running pods are "
                        "written again (default 60)")
    p.add_argument("--relist-seconds", type=float, default=1.0, help="how often the runtime is relisted")
    p.add_argument("--orphan-check-seconds", type=float, default=10.0,
                   help="how often containers without a pod are looked for; one is removed when seen "
                        "at two checks in a row (default 10)")
    p.add_argument("--metrics-port", type=int, help="also serve /metrics on this port")
    p.add_argument("--max-streams", type=int, default=64,
                   help="exec/attach/port-forward streams served at once (default 64); one more gets 429")
    p.add_argument("--streaming-connection-idle-timeout", type=float, default=4 * 3600.0,
                   help="seconds a stream may pass no byte before it is closed (default 4 h, kubelet's)")
    p.add_argument("--cluster-dns", default="",
                   help="nameserver(s) of ClusterFirst pods, comma-separated (kubelet's --cluster-dns)")
    p.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS domain (default cluster.local)")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)

    try:
        labels = _pairs(a.labels)
        taints = [Taint.parse(t) for t in a.taints.split(",") if t.strip()]
    except ValueError as err:
        p.error(str(err))
    if a.count is not None:
        if a.name:
            p.error("give either --name (one node) or --count with --name-prefix (a fleet)")
        if a.runtime != "simulated":
            p.error("a fleet (--count) runs on --runtime simulated only")
        try:
            names = fleet_names(count=a.count, prefix=a.name_prefix, first=a.first_index)
        except ValueError as err:
            p.error(str(err))
    elif a.name:
        names = [a.name]
    else:
        p.error("--name (or --count for a fleet) is required")
    if a.max_streams < 1 or a.streaming_connection_idle_timeout <= 0:
        p.error("--max-streams must be >= 1 and --streaming-connection-idle-timeout > 0")
    if a.status_senders < 1:
        p.error("--status-senders must be >= 1")
    if a.lease_seconds <= 0 or a.status_report_seconds <= 0:
        p.error("--lease-seconds and --status-report-seconds must be > 0")
    if a.volume_resync_seconds <= 0:
        p.error("--volume-resync-seconds must be > 0")
    if a.relist_seconds <= 0 or a.orphan_check_seconds <= 0:
        p.error("--relist-seconds and --orphan-check-seconds must be > 0")
    if a.crashloop_base <= 0 or a.crashloop_max < a.crashloop_base:
        p.error("--crashloop-base must be > 0 and <= --crashloop-max")
    if (a.tls_cert_file is None) != (a.tls_private_key_file is None):
        p.error("--tls-cert-file and --tls-private-key-file go together")
    if a.client_ca_file is not None and a.tls_cert_file is None:
        p.error("--client-ca-file needs --tls-cert-file: client certificates are only shown over TLS")
    for flag, path in (("--tls-cert-file", a.tls_cert_file), ("--tls-private-key-file", a.tls_private_key_file),
                       ("--client-ca-file", a.client_ca_file)):
        if path is not None and not path.is_file():
            p.error(f"{flag}: {path} does not exist (`labctl up` writes the node agents' certificates "
                    "under <lab home>/pki/nodes)")
    if a.tls_cert_file is not None:
        from orchestrator.nodeagent.serving import ServingConfigError, server_context

        try:
            server_context(a.tls_cert_file, a.tls_private_key_file, a.client_ca_file)
        except ServingConfigError as err:
            p.error(str(err))
    if not a.kubeconfig.is_file():
        p.error(f"--kubeconfig: {a.kubeconfig} does not exist (run `labctl up` first)")
    tokens: list[str] = []
    if a.apiserver_token_file is not None:
        try:
            tokens = [t.strip() for t in a.apiserver_token_file.read_text().splitlines() if t.strip()]
        except OSError as err:
            p.error(f"--apiserver-token-file: {err}")
        if not tokens:
            p.error(f"--apiserver-token-file: {a.apiserver_token_file} holds no token")
    # Per lab: an agent removes the pod directories it does not know, and every lab has a node-1.
    try:
        root_dir = a.root_dir or Path(tempfile.gettempdir()) / "labkit-nodeagent" / cluster_id(a.kubeconfig)
    except ValueError as err:  # KubeconfigError: the file names no server
        p.error(f"--kubeconfig: {err}")
    nodes = [
        NodeConfig(name=name, cpu=a.cpu, memory=a.memory, pods=a.pods, labels=labels, taints=tuple(taints),
                   address=a.node_ip, lease_seconds=a.lease_seconds, status_report_seconds=a.status_report_seconds,
                   crashloop_base=a.crashloop_base, crashloop_max=a.crashloop_max,
                   root_dir=root_dir / name,
                   persistent_volumes_dir=root_dir / "persistentvolumes",
                   volume_resync_seconds=a.volume_resync_seconds,
                   cluster_dns=tuple(ip.strip() for ip in a.cluster_dns.split(",") if ip.strip()),
                   cluster_domain=a.cluster_domain)
        for name in names
    ]
    configure_logging(verbose=a.verbose)
    return ProcessConfig(kubeconfig=a.kubeconfig, runtime=a.runtime, nodes=nodes, log_port=a.log_port,
                         log_bind=a.log_bind, metrics_port=a.metrics_port, accepted_tokens=tokens,
                         relist_seconds=a.relist_seconds, orphan_check_seconds=a.orphan_check_seconds,
                         max_streams=a.max_streams, stream_idle_timeout=a.streaming_connection_idle_timeout,
                         report_creating=not a.straight_to_running, status_senders=a.status_senders,
                         tls_cert_file=a.tls_cert_file, tls_private_key_file=a.tls_private_key_file,
                         client_ca_file=a.client_ca_file)


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"label {item!r}: expected key=value")
        out[key.strip()] = value.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    return run_component(
        "node agent", lambda: run_nodes(config),
        on_stop=lambda: logging.getLogger("orchestrator.nodeagent").info("stopping; containers keep running"),
    )


if __name__ == "__main__":
    sys.exit(main())
