"""Credentials for the docker compose lab, written once into the shared `lab` volume.

What `labctl up` does first (orchestrator/lab/pki.py), for a cluster whose parts are compose services:

- the lab CA and the API server's certificate, which also names `apiserver` (its service name);
- tokens.csv (kube-apiserver's static token file) with a token per identity: admin, scheduler,
  controller-manager, viewer, node-1 .. node-N;
- one kubeconfig per identity under kubeconfigs/, and admin.kubeconfig, all pointing at
  https://apiserver:6443 (inside the compose network); host-admin.kubeconfig points at
  https://127.0.0.1:6443 for kubectl on the host, where compose publishes the port;
- pki/kubelet-client.token, which the API server shows node agents when it proxies pods/x/log;
- the node agent hop over HTTPS, as `labctl up` makes it (docs/streaming.md): a serving certificate
  per node agent, pki/nodes/node-N.crt naming `node-N` (its service name, which it publishes as
  its InternalIP), and the API server's client certificate for them,
  pki/apiserver-kubelet-client.crt;
- pki/sa.key, which signs ServiceAccount tokens, and pki/encryption-config.yaml, the key Secrets
  are encrypted with at rest (both as `labctl up` makes them).

Idempotent: a second run keeps the CA and every token, so running components stay valid.

    python docker/credentials.py --nodes 2      (LABKIT_HOME names the directory, /lab in compose)
"""

from __future__ import annotations

import argparse
import secrets

from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import (
    ensure_encryption_config,
    ensure_kubelet_client_certificate,
    ensure_node_serving_certificate,
    ensure_pki,
    ensure_service_account_key,
    ensure_tokens,
    write_kubeconfig,
    write_lab_kubeconfigs,
)

HOST_KUBECONFIG = "host-admin.kubeconfig"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="credentials", description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=2, help="node identities node-1..node-N (default 2)")
    p.add_argument("--server", default="https://apiserver:6443", help="API server URL inside the network")
    p.add_argument("--host-server", default="https://127.0.0.1:6443", help="API server URL from the host")
    p.add_argument("--san", action="append", default=["apiserver"],
                   help="extra name for the API server certificate (repeatable; `apiserver` always)")
    a = p.parse_args(argv)
    if a.nodes < 0:
        p.error(f"--nodes must be 0 or more, not {a.nodes}")
    home = LabHome.from_env()
    ensure_pki(home, extra_sans=a.san)
    ensure_service_account_key(home)
    ensure_encryption_config(home)
    tokens = ensure_tokens(home, nodes=a.nodes)
    write_lab_kubeconfigs(home, server=a.server, tokens=tokens, nodes=a.nodes)
    write_kubeconfig(home.root / HOST_KUBECONFIG, server=a.host_server, ca_pem=home.ca_cert.read_bytes(),
                     token=tokens["admin"], user="admin")
    for i in range(1, a.nodes + 1):
        ensure_node_serving_certificate(home, f"node-{i}")  # names node-i, the address the API server dials
    ensure_kubelet_client_certificate(home)
    if not home.kubelet_client_token.exists():
        home.kubelet_client_token.write_text(secrets.token_urlsafe(32) + "\n")
        home.kubelet_client_token.chmod(0o600)
    print(f"credentials for {a.nodes} node(s) in {home.root}: CA, API server and node agent certificates, tokens, "
          "kubeconfigs")


if __name__ == "__main__":
    main()
