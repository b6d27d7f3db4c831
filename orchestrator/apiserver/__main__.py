"""``python -m orchestrator.apiserver``: run the API server (HTTPS when given a certificate)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from orchestrator.apiserver.app import create_app
from orchestrator.apiserver.settings import Settings


def main(argv: list[str] | None = None) -> None:
    settings = Settings.from_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.bind_address,
        port=settings.secure_port,
        ssl_certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
        ssl_keyfile=str(settings.tls_private_key_file) if settings.tls_private_key_file else None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        loop="auto",
        # wsproto, not the websockets library: kubectl's port-forward offers the subprotocol
        # "SPDY/3.1+portforward.k8s.io", whose "/" websockets' strict header parser refuses.
        ws="wsproto",  # uvloop and httptools when installed (uvicorn[standard]): much cheaper TLS and parsing
    )


if __name__ == "__main__":
    main()
