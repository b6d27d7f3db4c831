"""How the API server reaches a node agent: where it is, over what, and as whom.

Where: the Node's ``status.addresses`` InternalIP and ``status.daemonEndpoints.kubeletEndpoint.Port``.
Over what: HTTPS when the API server has a client certificate for node agents or a CA to check
them with (kube-apiserver's ``--kubelet-client-certificate``/``--kubelet-client-key`` and
``--kubelet-certificate-authority``; `labctl up` passes all three), else plain HTTP (an agent and
API server started by hand without certificates). The agent's certificate is checked against that
CA, host name included: the lab issues each agent a certificate naming its address
(orchestrator/lab/pki.py). Without ``--kubelet-certificate-authority`` it is not checked — as
kube-apiserver, which then trusts any kubelet certificate. As whom: the client certificate, which
the node agent requires (orchestrator/nodeagent/serving.py), and the ``--kubelet-client-token-file``
token when one is given, which an agent without TLS requires.

One TLS context serves every node (a context is costly to build; a handshake is not).

Kubernetes equivalent: pkg/kubelet/client/kubelet_client.go (KubeletClientConfig, NodeConnectionInfoGetter)
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.api.errors import NotFound, Unavailable
from orchestrator.storage.store import Store


@dataclass(frozen=True)
class NodeEndpoint:
    node: str
    address: str
    port: int


class KubeletClient:
    """The scheme, TLS context and credentials for every API server → node agent connection."""

    def __init__(self, *, token: str | None = None, client_cert: Path | None = None,
                 client_key: Path | None = None, ca_file: Path | None = None) -> None:
        self.token = token
        self.ssl_context: ssl.SSLContext | None = None
        if client_cert is not None or ca_file is not None:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None)
            if ca_file is None:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if client_cert is not None:
                context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
            self.ssl_context = context

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def url(self, endpoint: NodeEndpoint, path: str) -> str:
        host = f"[{endpoint.address}]" if ":" in endpoint.address else endpoint.address
        return f"{self.scheme}://{host}:{endpoint.port}{path}"

    def connect_kwargs(self, endpoint: NodeEndpoint) -> dict[str, Any]:
        """The TLS arguments of `asyncio.open_connection` to `endpoint` (none for plain HTTP)."""
        if self.ssl_context is None:
            return {}
        return {"ssl": self.ssl_context, "server_hostname": endpoint.address}

    async def locate(self, store: Store, node_name: str, *, what: str) -> NodeEndpoint:
        """The node agent endpoint of `node_name`; `what` ("logs", "streams") words the 503."""
        try:
            node = await store.get("nodes", None, node_name)
        except NotFound:
            raise NotFound(f'nodes "{node_name}" not found') from None
        status = node.get("status") or {}
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
        address = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"),
                       None)
        if not port or not address:
            raise Unavailable(f"node {node_name} does not serve {what} (no kubelet endpoint in its status)")
        return NodeEndpoint(node_name, str(address), int(port))
