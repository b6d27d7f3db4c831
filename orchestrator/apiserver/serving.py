"""How the API server is served: uvicorn over TLS, asking clients for a certificate signed by
the client CA, and handing the certificate the client showed to the application.

Why a protocol subclass: uvicorn does not put the peer certificate into the ASGI scope. The
ASGI spec names the place for it, the TLS extension (``scope["extensions"]["tls"]``, with
``client_cert_chain`` as PEM strings, leaf first). `PeerCertificateMixin` reads the
certificate once per connection, when uvicorn's protocol is handed the transport (the TLS
handshake is over by then), and wraps that connection's application so every request and
WebSocket on it carries the extension. It only touches ``connection_made`` and ``self.app``,
which uvicorn's HTTP (httptools, h11) and WebSocket (wsproto) protocols all have; the
authentication middleware (orchestrator/apiserver/middleware.py) reads the extension, so it
works the same behind any server that fills it in.

What the TLS handshake checks and what the application checks. kube-apiserver asks for a client
certificate without verifying it in the handshake (Go's ``tls.RequestClientCert``) and leaves
the verdict to its x509 authenticator, so a bad certificate gets an HTTP 401. Python's ``ssl``
cannot ask without verifying: with ``CERT_OPTIONAL`` a certificate that does not chain to the
client CA fails the handshake itself (kubectl: ``remote error: tls: unknown certificate
authority``). Expiry is the exception made here: the handshake is told not to check the time
(OpenSSL's ``X509_V_FLAG_NO_CHECK_TIME``), so an expired certificate reaches the x509
authenticator (orchestrator/apiserver/clientcert.py), which refuses it with 401 and says when it
expired, as kube-apiserver does. A client without a certificate (bearer tokens) is not affected.

Kubernetes equivalent: k8s.io/apiserver/pkg/server/secure_serving.go (ClientAuth: RequestClientCert)
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (x509_vfy.h); the ssl module has no name for it.
VERIFY_NO_CHECK_TIME = 0x200000
TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

TlsExtension = dict[str, Any]


def tls_extension(transport: asyncio.BaseTransport) -> TlsExtension | None:
    """The ASGI TLS extension for a connection; None for plain HTTP."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


class WithTls:
    """One connection's application: the same app, with the connection's TLS extension in each scope."""

    __slots__ = ("app", "tls")

    def __init__(self, app: Callable[..., Any], tls: TlsExtension) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        extensions = scope.get("extensions")
        if extensions is None:
            scope["extensions"] = {"tls": self.tls}
        else:
            extensions["tls"] = self.tls
        await self.app(scope, receive, send)


class PeerCertificateMixin:
    """Put in front of a uvicorn protocol class: see the module docstring."""

    app: Callable[..., Any]

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        tls = tls_extension(transport)
        if tls is not None:
            self.app = WithTls(self.app, tls)


class TlsHTTPProtocol(PeerCertificateMixin, AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol (httptools when installed, else h11) with the TLS extension."""


class TlsWSProtocol(PeerCertificateMixin, WSProtocol):
    """uvicorn's wsproto WebSocket protocol with the TLS extension. (wsproto, not the websockets
    library: kubectl's port-forward offers the subprotocol "SPDY/3.1+portforward.k8s.io", whose
    "/" the websockets library's strict header parser refuses.)"""


def client_ca_context(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's SSL context (serving certificate, ``ssl_ca_certs``, ``CERT_OPTIONAL``), with the
    certificate's time left to the x509 authenticator (module docstring)."""
    context = default()
    context.verify_flags |= VERIFY_NO_CHECK_TIME
    return context
