"""The shell a control-plane component runs in: identity, leader election, gRPC with health, metrics.

The scheduler and the controller manager (and whatever component comes next) differ in what they
do, not in how they stand up:

- an identity, ``<hostname>_<random>`` unless ``--identity`` names one (the Lease holder's name);
- with ``--leader-elect``, a `LeaderElector` on the Lease the flags name, from the same flags;
- `serving`: a gRPC server with the standard health service (``""`` SERVING at once, the
  component's own service NOT_SERVING until the caller says it has synced) plus the component's
  own servicer, and an HTTP endpoint for ``/metrics`` and ``/healthz`` (``/readyz``, ``/livez``);
  one parseable line on stdout when both listen, for whoever started the process to find the
  ports; both stopped on the way out. Signals are `orchestrator.client.process.run_component`'s.

Kubernetes equivalent: k8s.io/component-base (and cmd/kube-scheduler/app/server.go,
cmd/kube-controller-manager/app/controllermanager.go, which both run this shape).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST

from orchestrator.client.leaderelection import LeaderElector
from orchestrator.client.rest import ApiClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Leadership:
    """How the process reads its own leadership (always leading without leader election)."""

    identity: str
    leader_election: bool
    is_leader: Callable[[], bool]
    leader_identity: Callable[[], str]


def new_identity(given: str | None) -> str:
    """``--identity``, or the hostname plus a random suffix (as kube-scheduler's default)."""
    return given or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def leader_elector(client: ApiClient, args: argparse.Namespace, *, identity: str,
                   on_started_leading: Callable[[], None],
                   on_stopped_leading: Callable[[], None] | None = None) -> LeaderElector | None:
    """The elector the standard flags ask for (``--leader-elect``, ``--lease-*``, the periods); None without."""
    if not args.leader_elect:
        return None
    return LeaderElector(
        client, lease_name=args.lease_name, namespace=args.lease_namespace, identity=identity,
        lease_duration=args.lease_duration, renew_deadline=args.renew_deadline, retry_period=args.retry_period,
        on_started_leading=on_started_leading, on_stopped_leading=on_stopped_leading,
        on_new_leader=lambda holder: log.info("leader is now %s", holder),
    )


async def start_grpc_server(*, add_servicer: Callable[[grpc.aio.Server], None], service_name: str,
                            address: str) -> tuple[grpc.aio.Server, health.aio.HealthServicer, int]:
    """Start serving on `address` ("127.0.0.1:0" picks a port); returns the server, its health
    servicer (to flip `service_name` SERVING once synced) and the bound port."""
    server = grpc.aio.server()
    add_servicer(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set(service_name, health_pb2.HealthCheckResponse.NOT_SERVING)
    return server, health_servicer, port


async def serve_http(*, host: str, port: int, metrics: Callable[[], bytes],
                     healthy: Callable[[], bool]) -> asyncio.Server:
    """Serve GET /metrics and /healthz (also /readyz, /livez) on host:port; returns the started server.

    A dozen lines of HTTP/1.0 instead of a web framework: fixed answers, one per connection.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            if path == "/metrics":
                status, ctype, body = "200 OK", CONTENT_TYPE_LATEST, metrics()
            elif path in ("/healthz", "/readyz", "/livez"):
                ok = healthy()
                status, ctype, body = ("200 OK" if ok else "503 Service Unavailable"), "text/plain", (
                    b"ok" if ok else b"not ready")
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"not found"
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


class Serving:
    """What `serving` yields: flip the component's own health service once it has synced."""

    def __init__(self, health_servicer: health.aio.HealthServicer, service_name: str,
                 grpc_port: int, metrics_port: int) -> None:
        self._health, self._service = health_servicer, service_name
        self.grpc_port, self.metrics_port = grpc_port, metrics_port

    async def synced(self) -> None:
        await self._health.set(self._service, health_pb2.HealthCheckResponse.SERVING)


@contextlib.asynccontextmanager
async def serving(component: str, identity: str, *, bind_address: str, grpc_port: int, metrics_port: int,
                  add_servicer: Callable[[grpc.aio.Server], None], service_name: str,
                  metrics: Callable[[], bytes], healthy: Callable[[], bool] = lambda: True) -> AsyncIterator[Serving]:
    """The gRPC server and the metrics endpoint, up for the duration of the block."""
    server, health_servicer, bound_grpc = await start_grpc_server(
        add_servicer=add_servicer, service_name=service_name, address=f"{bind_address}:{grpc_port}")
    try:
        http = await serve_http(host=bind_address, port=metrics_port, metrics=metrics, healthy=healthy)
    except BaseException:
        await server.stop(grace=0)
        raise
    bound_metrics = http.sockets[0].getsockname()[1]
    # One parseable line for whoever started us (tests, labctl) to find the ports.
    print(f"{component} {identity} serving gRPC on {bind_address}:{bound_grpc} "
          f"metrics on {bind_address}:{bound_metrics}", flush=True)
    try:
        yield Serving(health_servicer, service_name, bound_grpc, bound_metrics)
    finally:
        http.close()
        await server.stop(grace=0.5)
