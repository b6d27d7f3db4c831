"""The agent's HTTP endpoint: container logs and streams for the API server, plus /healthz and /metrics.

``GET /containerLogs/<namespace>/<pod>/<container>`` with kubelet's query parameters
``follow``, ``tailLines``, ``timestamps``, ``sinceSeconds``, ``previous``, ``limitBytes`` answers
the container's output as ``text/plain``; with ``follow=true`` lines are sent as they are
written until the container exits or the client goes away. The API server's ``pods/<name>/log``
proxies here (orchestrator/apiserver/logs.py), which is how ``kubectl logs -f`` follows.
``GET /stats/summary[?node=<name>]`` answers the node's resource usage (kubelet's Summary,
orchestrator/nodeagent/stats.py), which the metrics server scrapes; a fleet process names the
node with ``node``. ``/exec``, ``/attach`` and ``/portForward`` upgrade the connection to a stream for ``kubectl
exec``, ``attach`` and ``port-forward`` (orchestrator/nodeagent/streamserver.py).

Authentication. Over HTTPS with a client CA (``--tls-cert-file``, ``--tls-private-key-file``,
``--client-ca-file``: what `labctl up` gives every agent), every path but ``/healthz`` and
``/metrics`` requires a client certificate of the API server's (orchestrator/nodeagent/serving.py:
401 without one, 403 for anyone else's); a bearer token is then not enough. Without TLS (an agent
started by hand, with an API server that has no ``--kubelet-client-certificate``) the logs and
stream endpoints require ``Authorization: Bearer <token>`` with one of the accepted tokens
(``--apiserver-token-file``: the token the API server sends as its kubelet client; without that
flag, the agent's own kubeconfig token). Tokens are compared in constant time and never logged.
``/healthz`` and ``/metrics`` need no credential (as kubelet's read-only port served them).

Errors are Kubernetes ``Status`` objects, so the API server passes them on unchanged.

It is a small HTTP/1.1 server on asyncio streams. Logs and streams take the connection for
themselves (the body ends when the connection closes): nothing else is needed to stream, and it
costs nothing while idle. The short answers (``/stats/summary``, ``/healthz``, ``/metrics``) keep
the connection open for the caller's next GET, as kubelet's Go server does: the metrics server
scrapes every node every 15 s, and a TLS handshake per scrape cost a 1,000-node lab's metrics
server and fleets more CPU than the answers themselves (docs/benchmarks.md).

Kubernetes equivalent: pkg/kubelet/server/server.go (getContainerLogs), the kubelet's
authenticated port 10250.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from orchestrator.api.errors import ApiError, BadRequest, MethodNotAllowed, NotFound, Unauthorized
from orchestrator.nodeagent.podworker import PodWorker
from orchestrator.nodeagent.serving import authorize_peer
from orchestrator.nodeagent.streamserver import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_STREAMS, StreamServer

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
STREAM_KINDS = ("exec", "attach", "portForward")  # served by orchestrator/nodeagent/streamserver.py
TLS_HANDSHAKE_TIMEOUT = 10.0
FIRST_REQUEST_TIMEOUT = 10.0
# How long a kept-alive connection may wait for its next request: longer than a scraper keeps an
# idle connection (orchestrator/metrics/scraper.py), so the client always gives up first and
# never sends into a connection this side is closing.
KEEP_ALIVE_IDLE_TIMEOUT = 120.0
WHOLE_ANSWERS = ("/healthz", "/readyz", "/livez", "/metrics", "/stats/summary")


class LogServer:
    """Serves logs of the pods `find_worker` knows (one node's, or a whole fleet's)."""

    def __init__(
        self,
        *,
        find_worker: Callable[[str, str], PodWorker | None],
        tokens: Collection[str],
        metrics: Callable[[], bytes] | None = None,
        summary: Callable[[str | None], Awaitable[dict[str, Any]]] | None = None,
        host: str = "0.0.0.0",
        port: int = 0,
        max_streams: int = DEFAULT_MAX_STREAMS,
        stream_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """With `ssl_context` asking for client certificates (orchestrator/nodeagent/serving.py),
        callers authenticate by certificate and `tokens` are not accepted."""
        if not tokens:
            raise ValueError("the log server needs at least one accepted token")
        self._ssl = ssl_context
        self._x509 = ssl_context is not None and ssl_context.verify_mode != ssl.CERT_NONE
        self._find_worker = find_worker
        self._tokens = [t.encode() for t in tokens]
        self._metrics = metrics
        self._summary = summary  # node name (None: the only one) -> Summary; raises NotFound
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self.streams = StreamServer(find_worker=find_worker, max_streams=max_streams, idle_timeout=stream_idle_timeout)

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        tls = {"ssl": self._ssl, "ssl_handshake_timeout": TLS_HANDSHAKE_TIMEOUT} if self._ssl is not None else {}
        self._server = await asyncio.start_server(self._handle, self._host, self._port, **tls)
        return self.port

    @property
    def scheme(self) -> str:
        return "https" if self._ssl is not None else "http"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    # --- one connection --------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            timeout = FIRST_REQUEST_TIMEOUT
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, _, rest = lines[0].partition(" ")
                target, _, version = rest.rpartition(" ") if " " in rest else (rest, "", "")
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                # Only a bodiless HTTP/1.1 GET for a whole answer leaves the connection reusable.
                keep_alive = (method == "GET" and version == "HTTP/1.1" and urlsplit(target).path in WHOLE_ANSWERS
                              and headers.get("connection", "").lower() != "close"
                              and "content-length" not in headers and "transfer-encoding" not in headers)
                try:
                    await self._route(method, target, headers, reader, writer, keep_alive=keep_alive)
                except ApiError as err:
                    await _send(writer, err.code, json.dumps(err.status()).encode(), "application/json",
                                keep_alive=keep_alive)
                if not keep_alive:
                    return
                timeout = KEEP_ALIVE_IDLE_TIMEOUT
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("log server: request failed")
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _route(self, method: str, target: str, headers: dict[str, str], reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, *, keep_alive: bool = False) -> None:
        url = urlsplit(target)
        if method != "GET":
            raise MethodNotAllowed(f"{method} is not supported")
        if url.path in ("/healthz", "/readyz", "/livez"):
            await _send(writer, 200, b"ok", "text/plain", keep_alive=keep_alive)
            return
        if url.path == "/metrics" and self._metrics is not None:
            await _send(writer, 200, self._metrics(), "text/plain; version=0.0.4", keep_alive=keep_alive)
            return
        if url.path == "/stats/summary" and self._summary is not None:
            # The metrics server scrapes with the kubelet-client token (metrics-server's own
            # credential towards kubelets); the API server's certificate is accepted too.
            self._authenticate(headers.get("authorization"), writer, url.path, token_allowed=True)
            node = parse_qs(url.query).get("node", [None])[-1]
            await _send(writer, 200, json.dumps(await self._summary(node)).encode(), "application/json",
                        keep_alive=keep_alive)
            return
        # Everything else is the API server's alone: who calls is settled before what is asked.
        self._authenticate(headers.get("authorization"), writer, url.path)
        parts = [unquote(p) for p in url.path.split("/")]
        if len(parts) > 2 and parts[1] in STREAM_KINDS:
            await self.streams.serve(parts[1], parts[2:], parse_qs(url.query), reader, writer)
            return
        if len(parts) != 5 or parts[1] != "containerLogs":
            raise NotFound(f"the node agent serves /containerLogs/<namespace>/<pod>/<container>, not {url.path}")
        _, _, namespace, pod_name, container = parts
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        await self._logs(namespace, pod_name, container, query, reader, writer)

    def _authenticate(self, authorization: str | None, writer: asyncio.StreamWriter, path: str, *,
                      token_allowed: bool = False) -> None:
        if self._x509 and not (token_allowed and authorization):
            authorize_peer(writer.get_extra_info("ssl_object"), path=path)
            return
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("Unauthorized: the node agent's log endpoint requires a bearer token")
        token = authorization[7:].strip().encode()
        # Compare with every accepted token, so timing does not tell which one nearly matched.
        if not any([hmac.compare_digest(token, t) for t in self._tokens]):
            raise Unauthorized("Unauthorized: the bearer token is not accepted by this node agent")

    async def _logs(self, namespace: str, pod_name: str, container: str, query: dict[str, str],
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker = self._find_worker(namespace, pod_name)
        if worker is None:
            raise NotFound(f'pod "{pod_name}" in namespace "{namespace}" is not running on this node',
                           kind="pods", name=pod_name)
        previous = _flag(query, "previous")
        ids = worker.container_ids(previous=previous)
        names = [c.get("name") for c in (worker.pod.get("spec") or {}).get("containers") or []]
        if container not in names:
            raise BadRequest(f"container {container} is not valid for pod {pod_name}")
        if container not in ids:
            if previous:
                raise BadRequest(f'previous terminated container "{container}" in pod "{pod_name}" not found')
            raise BadRequest(f'container "{container}" in pod "{pod_name}" is waiting to start: ContainerCreating')
        since = None
        if query.get("sinceSeconds"):
            since = datetime.now(UTC) - timedelta(seconds=_int(query, "sinceSeconds"))
        tail = _int(query, "tailLines") if query.get("tailLines") else None
        limit = _int(query, "limitBytes") if query.get("limitBytes") else None
        runtime = worker.config.runtime
        lines = runtime.logs(ids[container], follow=_flag(query, "follow"), tail_lines=tail,
                             timestamps=_flag(query, "timestamps"), since=since)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

        async def pump() -> None:
            sent = 0
            async for line in lines:
                if limit is not None:
                    line = line[: max(0, limit - sent)]
                writer.write(line)
                await writer.drain()
                sent += len(line)
                if limit is not None and sent >= limit:
                    return

        async def client_gone() -> None:
            # The API server closes the connection when kubectl stops following.
            while await reader.read(1024):
                pass

        pumping = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(client_gone())
        try:
            await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pumping, watching):
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(pumping, watching, return_exceptions=True)
            with contextlib.suppress(Exception):
                await lines.aclose()  # type: ignore[attr-defined]
        if pumping.done() and not pumping.cancelled() and pumping.exception() is not None:
            log.warning("log stream of %s/%s/%s ended: %s", namespace, pod_name, container, pumping.exception())
        with contextlib.suppress(Exception):
            await writer.drain()


async def _send(writer: asyncio.StreamWriter, code: int, body: bytes, content_type: str, *,
                keep_alive: bool = False) -> None:
    connection = "keep-alive" if keep_alive else "close"
    head = (f"HTTP/1.1 {code} {REASONS.get(code, 'Error')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: {connection}\r\n\r\n")
    writer.write(head.encode() + body)
    await writer.drain()


def _flag(query: dict[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def _int(query: dict[str, str], name: str) -> int:
    try:
        value = int(query[name])
    except ValueError:
        raise BadRequest(f"{name}: {query[name]!r} is not an integer") from None
    if value < 0:
        raise BadRequest(f"{name} must be non-negative")
    return value
