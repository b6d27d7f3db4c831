"""The proxy's small HTTP endpoint: /rules, /status, /metrics, /healthz, /livez.

- ``/rules``: the whole rule set as ``iptables-restore`` text, headed by whether it is applied
  or a dry run (what a notebook and ``labctl`` show);
- ``/status``: JSON (`SyncStatus`): mode, chain prefix, syncs, last error, and the
  resourceVersions the applied rules reflect (the sync benchmark polls it);
- ``/healthz``: 200 once the first sync succeeded and the last one is not older than twice the
  sync period plus a minute, 503 before (kube-proxy's healthz server answers the same question);
- ``/livez``: 200 while the process serves (what the supervisor checks: a proxy waiting for an
  API server that does not serve EndpointSlices yet is alive, not broken).

Plain HTTP/1.0 on asyncio streams, one answer per connection, as the scheduler's endpoint.

Kubernetes equivalent: pkg/proxy/healthcheck/proxier_health.go (/healthz, /livez on :10256) and
kube-proxy's metrics endpoint (:10249, /metrics)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orchestrator.proxy.proxier import Proxier

__all__ = ["serve_http"]


def healthy(proxier: Proxier) -> bool:
    st = proxier.status
    if st.last_sync_at is None:
        return False
    return time.time() - st.last_sync_at < 2 * proxier.sync_period + 60


async def serve_http(*, host: str, port: int, proxier: Proxier) -> asyncio.Server:
    """Serve the endpoints above on host:port; returns the started server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            status, ctype, body = "200 OK", "text/plain; charset=utf-8", b""
            if path == "/rules":
                body = proxier.rules_text().encode()
            elif path == "/status":
                ctype, body = "application/json", json.dumps(proxier.status.as_dict()).encode()
            elif path == "/metrics":
                ctype, body = CONTENT_TYPE_LATEST, generate_latest(proxier.registry)
            elif path == "/livez":
                body = b"ok"
            elif path in ("/healthz", "/readyz"):
                ok = healthy(proxier)
                status, body = ("200 OK", b"ok") if ok else ("503 Service Unavailable", b"no recent sync")
            else:
                status, body = "404 Not Found", b"not found: try /rules, /status, /metrics, /healthz"
            writer.write(f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode("latin-1") + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port)
