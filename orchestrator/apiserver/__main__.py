"""``python -m orchestrator.apiserver``: run the API server (HTTPS when given a certificate).

It listens on ``--bind-address`` and, when given, on each ``--extra-bind-address`` at the same port
(the lab's Docker bridge gateway, so that pods reach it through the ``kubernetes`` Service:
docs/networking.md). An extra address that cannot be bound is logged and left out: the API server
still serves on its main address.
"""

from __future__ import annotations

import logging
import socket
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
    config = uvicorn.Config(
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
    sockets = [config.bind_socket()]
    for address in settings.extra_bind_addresses:
        try:
            sockets.append(_listen(address, settings.secure_port))
        except OSError as err:
            logging.getLogger("orchestrator.apiserver").warning(
                "--extra-bind-address %s:%d cannot be bound (%s): serving without it", address,
                settings.secure_port, err)
    uvicorn.Server(config).run(sockets=sockets)


def _listen(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


if __name__ == "__main__":
    main()
