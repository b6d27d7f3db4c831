"""The node agent's HTTPS: its serving certificate, and who may call its logs and stream endpoints.

kubelet serves its port 10250 over TLS with ``--tls-cert-file``/``--tls-private-key-file`` and, with
``--client-ca-file``, authenticates a caller by the client certificate it shows (x509 authn: user
= Subject CommonName, groups = Subject Organizations). kube-apiserver calls it with its
``--kubelet-client-certificate`` (kubeadm: ``CN=kube-apiserver-kubelet-client``) and checks the
kubelet's certificate against ``--kubelet-certificate-authority``. The node agent does the same,
with the lab CA on both sides (`orchestrator/lab/pki.py` issues the certificates; docs/authentication.md).

What the handshake checks and what the agent checks. The TLS context asks for a client certificate
(``CERT_OPTIONAL``) and verifies any it gets against the client CA: a certificate from another CA,
or an expired one, ends the handshake (Python's ``ssl`` cannot ask without verifying; the API
server has the same limit, docs/authentication.md). A client that shows none completes the
handshake and gets a 401 Status from `authorize_peer` on any endpoint but the health checks and
``/metrics``. A certificate the lab CA signed for someone else (a user's, from ``labctl kubeconfig
--user``) gets 403: kubelet asks the API server whether the caller may ``get nodes/proxy``
(webhook authorization); the agent allows only the API server's own identity and
``system:masters`` — the group whose members are allowed everything by the API server anyway — so
a user cannot skip the API server's authorization of ``pods/exec`` by calling the agent directly.

Kubernetes equivalent: pkg/kubelet/server/auth.go, cmd/kubelet/app/auth.go (x509 authn with
--client-ca-file), pkg/kubelet/server/server.go (TLS on the kubelet port).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.api.errors import Forbidden, Unauthorized

# Who may call a node agent's logs and streams (see the module docstring).
AUTHORIZED_USERS = frozenset({"kube-apiserver-kubelet-client"})
AUTHORIZED_GROUPS = frozenset({"system:masters"})


class ServingConfigError(Exception):
    """The agent's certificate, key or client CA cannot be used; the message says which and why."""


def server_context(cert_file: Path, key_file: Path, client_ca_file: Path | None) -> ssl.SSLContext:
    """The agent's TLS server context: its certificate and, with a client CA, a request for the
    caller's certificate."""
    # Not create_default_context: for a server it loads the system's CAs, which would then verify
    # client certificates too (any public CA's) and cost ~30 ms per handshake.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert_file), str(key_file))
        if client_ca_file is not None:
            context.load_verify_locations(cafile=str(client_ca_file))
    except (OSError, ssl.SSLError) as err:
        raise ServingConfigError(f"cannot load the node agent's TLS files ({cert_file}, {key_file}, "
                                 f"{client_ca_file}): {err}") from err
    if client_ca_file is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


@dataclass(frozen=True)
class Peer:
    """The caller a verified client certificate names."""

    user: str
    groups: tuple[str, ...]


def peer_of(ssl_object: Any) -> Peer | None:
    """The verified client certificate's user and groups; None when the client showed none."""
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert:
        return None
    user, groups = "", []
    for rdn in cert.get("subject") or ():
        for key, value in rdn:
            if key == "commonName" and not user:
                user = value
            elif key == "organizationName":
                groups.append(value)
    return Peer(user, tuple(groups))


def authorize_peer(ssl_object: Any, *, path: str) -> Peer:
    """The caller of `path`, if its certificate lets it in; Unauthorized (401) or Forbidden (403) otherwise."""
    peer = peer_of(ssl_object)
    if peer is None or not peer.user:
        raise Unauthorized("Unauthorized: the node agent requires a client certificate signed by the lab CA "
                           "(the API server's --kubelet-client-certificate)")
    if peer.user not in AUTHORIZED_USERS and not AUTHORIZED_GROUPS & set(peer.groups):
        raise Forbidden(f"Forbidden (user={peer.user}, verb=get, resource=nodes, subresource=proxy): "
                        f"only the API server calls {path} on a node agent; use the API server's pods/log, "
                        f"pods/exec, pods/attach or pods/portforward")
    return peer
