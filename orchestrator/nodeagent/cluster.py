"""Which lab a node agent belongs to: the cluster id written on every container it creates.

Node names repeat between labs (every lab has a ``node-1``), and one Docker engine may serve
several labs at once: a ``labctl up`` lab next to a docker-compose lab, two students on a shared
engine, parallel test sessions. The node label alone would let one lab's ``node-1`` adopt or
remove another lab's ``node-1`` containers, so the runtime also labels them
``labkit.cluster=<id>`` and lists only its own cluster's (see runtimes/base.py).

The id must come out the same for every agent of one lab, with no permission beyond the
agent's own kubeconfig, and differ between labs. Each lab home has its own CA (orchestrator/
pki.py) and every kubeconfig of the lab trusts it, so the id is the first 16 hex digits of the
SHA-256 of that CA certificate (its DER form, so the PEM's line breaks do not matter). A
kubeconfig without a CA (``insecure-skip-tls-verify``, or a system-trusted server) falls back to
the SHA-256 of the API server URL: the same server is the same cluster.

Kubernetes equivalent: none; kubelet owns its container runtime alone. The closest idea is the
cluster UID some tools derive from the ``kube-system`` namespace's uid, which needs an API read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from orchestrator.client.rest import KubeconfigError

CLUSTER_ID_HEX_DIGITS = 16


def cluster_id_from(*, ca_pem: bytes | None, server: str) -> str:
    """The cluster id for a CA bundle (PEM), or for the server URL when there is no CA."""
    if ca_pem:
        return _short_hash(b"ca:" + _canonical_ca(ca_pem))
    return _short_hash(b"server:" + server.strip().rstrip("/").encode())


def cluster_id(kubeconfig: Path, *, context: str | None = None) -> str:
    """The cluster id of the kubeconfig's current (or named) context, read as `ApiClient.from_kubeconfig` reads it.

    Raises `KubeconfigError` when the file cannot be read or names no server; the message names
    the file.
    """
    try:
        config: Any = yaml.safe_load(kubeconfig.read_text()) or {}
    except OSError as err:
        raise KubeconfigError(f"cannot read kubeconfig {kubeconfig}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise KubeconfigError(f"kubeconfig {kubeconfig} is not valid YAML: {err}") from None
    context_name = context or config.get("current-context")
    ctx = _named(config, "contexts", context_name)
    cluster = _named(config, "clusters", ctx.get("cluster"))
    server = cluster.get("server")
    if not context_name or not server:
        raise KubeconfigError(f"kubeconfig {kubeconfig}: no current context with a cluster server")
    ca_pem: bytes | None = None
    if cluster.get("certificate-authority-data"):
        try:
            ca_pem = base64.b64decode(cluster["certificate-authority-data"], validate=False)
        except (binascii.Error, ValueError) as err:
            raise KubeconfigError(f"kubeconfig {kubeconfig}: certificate-authority-data is not base64: {err}") from None
    elif cluster.get("certificate-authority"):
        ca_file = kubeconfig.parent / cluster["certificate-authority"]
        try:
            ca_pem = ca_file.read_bytes()
        except OSError as err:
            raise KubeconfigError(f"kubeconfig {kubeconfig}: cannot read certificate-authority {ca_file}: "
                                  f"{err.strerror or err}") from None
    return cluster_id_from(ca_pem=ca_pem, server=str(server))


def _named(config: Any, section: str, name: Any) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return dict(entry.get(section[:-1]) or {})
    return {}


def _canonical_ca(ca_pem: bytes) -> bytes:
    """The DER of every certificate in the bundle; the bytes as given when they are not PEM certificates."""
    try:
        certs = x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        return ca_pem.strip()
    return b"".join(c.public_bytes(Encoding.DER) for c in certs)


def _short_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:CLUSTER_ID_HEX_DIGITS]
