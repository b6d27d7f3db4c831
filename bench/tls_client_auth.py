"""Benchmark: what asking for client certificates costs a new TLS connection to the API server.

The API server's uvicorn, with the lab's serving certificate, one trivial ASGI app, three ways
(docs/authentication.md):

    none       no client CA (ssl_cert_reqs=CERT_NONE): the API server before client certificates
    optional   --client-ca-file (CERT_OPTIONAL, the TLS-extension protocols), a client WITHOUT a
               certificate: what every bearer-token client (components, notebooks) now pays
    cert       the same server, a client WITH a lab-CA certificate (`labctl kubeconfig --user`)

For each, ``--connections`` sequential new connections (TLS handshake, one GET, close) from a
client in the same process; reported: wall time and CPU (client and server together, one process)
per connection. Modes run interleaved ``--repeat`` times; medians are printed.

Usage (from the repository root):

    .venv/bin/python bench/tls_client_auth.py [--connections 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import ssl
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import uvicorn

from orchestrator.apiserver.serving import TlsHTTPProtocol, TlsWSProtocol, client_ca_context
from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_pki, issue_client_certificate

MODES = ("none", "optional", "cert")


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(home: LabHome, mode: str, connections: int) -> tuple[float, float]:
    """(wall ms, CPU ms) per new connection."""
    port = free_port()
    client_auth: dict[str, Any] = {}
    if mode != "none":
        client_auth = {"ssl_cert_reqs": ssl.CERT_OPTIONAL, "ssl_ca_certs": str(home.ca_cert),
                       "ssl_context_factory": client_ca_context, "http": TlsHTTPProtocol, "ws": TlsWSProtocol}
    server = uvicorn.Server(uvicorn.Config(ok_app, host="127.0.0.1", port=port, log_level="warning",
                                           ssl_certfile=str(home.apiserver_cert),
                                           ssl_keyfile=str(home.apiserver_key), **client_auth))
    task = asyncio.create_task(server.serve(), name="bench-uvicorn")
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        context = ssl.create_default_context(cafile=str(home.ca_cert))
        if mode == "cert":
            cert, key = issue_client_certificate(home, user="bench", groups=["bench"])
            pem = home.root / "bench-client.pem"
            pem.write_bytes(cert + key)
            context.load_cert_chain(pem)
        started, cpu = time.perf_counter(), _cpu()
        for _ in range(connections):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                           server_hostname="127.0.0.1")
            writer.write(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            await reader.read()
            writer.close()
        return ((time.perf_counter() - started) / connections * 1e3, (_cpu() - cpu) / connections * 1e3)
    finally:
        server.should_exit = True
        await task


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connections", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = LabHome(Path(tmp))
        ensure_pki(home)
        results: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
        for _ in range(args.repeat):
            for mode in MODES:
                results[mode].append(await measure(home, mode, args.connections))
    print(f"{'mode':10} {'wall ms/conn':>13} {'CPU ms/conn':>12}   (median of {args.repeat})")
    for mode in MODES:
        wall = statistics.median(w for w, _ in results[mode])
        cpu = statistics.median(c for _, c in results[mode])
        print(f"{mode:10} {wall:13.2f} {cpu:12.2f}")


if __name__ == "__main__":
    asyncio.run(main())
