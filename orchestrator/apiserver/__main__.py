"""``python -m orchestrator.apiserver``: run the API server (HTTPS when given a certificate)."""

from __future__ import annotations

import logging
import ssl
import sys

import uvicorn

from orchestrator.apiserver.app import create_app
from orchestrator.apiserver.serving import TlsHTTPProtocol, TlsWSProtocol, client_ca_context
from orchestrator.apiserver.settings import Settings


def main(argv: list[str] | None = None) -> None:
    settings = Settings.from_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client_ca = settings.client_ca_file
    uvicorn.run(
        create_app(settings),
        host=settings.bind_address,
        port=settings.secure_port,
        ssl_certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
        ssl_keyfile=str(settings.tls_private_key_file) if settings.tls_private_key_file else None,
        # --client-ca-file: ask every client for a certificate, accept connections without one
        # (bearer tokens); orchestrator/apiserver/serving.py says what is checked where.
        ssl_cert_reqs=ssl.CERT_OPTIONAL if client_ca else ssl.CERT_NONE,
        ssl_ca_certs=str(client_ca) if client_ca else None,
        ssl_context_factory=client_ca_context if client_ca and settings.tls_cert_file else None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        loop="auto",  # uvloop and httptools when installed (uvicorn[standard]): much cheaper TLS and parsing
        http=TlsHTTPProtocol,  # uvicorn's own, plus the client certificate in the scope (serving.py)
        ws=TlsWSProtocol,
    )


if __name__ == "__main__":
    main()
