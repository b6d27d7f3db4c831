"""Heartbeats of one process's nodes: Lease renewals on a timer heap, on their own thread and connections.

Liveness is the Lease: every node's ``kube-node-lease/<node>`` is renewed every ``lease_seconds``
(10 s, kubelet's), the nodes of a fleet spread evenly over the period, so 1,000 nodes cost 100
small PATCHes a second and nothing else. The same tick re-posts the Node's status only when it
is due (`NodeAgent.heartbeat`: readiness changed, nodeStatusReportFrequency passed, or a failed
heartbeat may have let the node lifecycle controller mark it Unknown).

Why a thread of its own: the node lifecycle controller marks a node Unknown when its Lease is
not renewed for the grace period, whatever the reason. If renewals ran on the event loop that
also runs thousands of pod workers, a backlog of pod work would delay them -- a fleet once
starved its own heartbeats that way until all its 1,000 nodes went Unknown and their pods were
evicted. `HeartbeatThread` runs the loop below on a separate thread with its own event loop and
its own `ApiClient` (its own connection pool), so renewals are never queued behind pod work:
the interpreter switches threads every few milliseconds however busy the main loop is.

Why a client of its own for the renewal itself (`LeaseRenewer`): the renewal is the one request
a fleet sends all the time, and its cost is the fleet's idle cost. Measured on the lab machine,
one merge-PATCH of a Lease cost the fleet 2.0 ms of CPU through httpx (`ApiClient`), 0.8 ms
through aiohttp and 0.34 ms as one write and one read on a kept-alive TLS connection -- for
1,000 nodes (100 renewals a second) that is 20%, 8% or 3.4% of a core. So the renewal is sent
by a few lines of HTTP/1.1 over asyncio streams; everything else (creating a Lease, posting a
Node's status) still goes through `ApiClient`.

Kubernetes equivalent: pkg/kubelet/nodelease/controller.go (renewal), with
pkg/kubelet/kubelet_node_status.go (the status report frequency).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import json
import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import yaml

from orchestrator.api.errors import ApiError, Unavailable, from_status
from orchestrator.client.rest import ApiClient
from orchestrator.nodeagent.metrics import AgentMetrics

if TYPE_CHECKING:
    from orchestrator.nodeagent.agent import NodeAgent

log = logging.getLogger(__name__)

# Renewals of one process in flight at once, each on its own kept-alive connection. A fleet of
# 250 nodes sends 25 a second; when a busy API server answers in 300 ms, 8 would be the most that
# keeps up, so there is room for a server several times slower than that.
CONCURRENT_RENEWALS = 24
# Node status posts in flight at once, apart from the renewals (see NodeAgent.heartbeat).
CONCURRENT_STATUS_POSTS = 8


NODE_LEASE_PATH = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"


class LeaseRenewer:
    """Merge-PATCHes ``kube-node-lease/<node>`` over up to `connections` kept-alive HTTP/1.1 connections.

    Only this one request, so only what it needs of HTTP: a response with Content-Length or
    chunked encoding, ``Connection: close`` honoured. A non-2xx answer raises the typed error of
    its Status (NotFound: the Lease must be created); a broken connection or a timeout raises
    `Unavailable`. Use it from one event loop (the heartbeat thread's).
    """

    def __init__(self, server: str, *, token: str | None, ssl_context: ssl.SSLContext | None,
                 connections: int = CONCURRENT_RENEWALS, timeout: float = 5.0) -> None:
        url = urlsplit(server)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"server must be an http(s) URL, got {server!r}")
        self.server = server
        self._host, self._netloc = url.hostname, url.netloc
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = ssl_context if url.scheme == "https" else None
        self._headers = (f"Host: {self._netloc}\r\nAccept: application/json\r\n"
                         "Content-Type: application/merge-patch+json\r\nUser-Agent: orchestrator-labkit/heartbeat\r\n"
                         + (f"Authorization: Bearer {token}\r\n" if token else ""))
        self._timeout = timeout
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)

    @classmethod
    def from_kubeconfig(cls, path: Path, **kwargs: Any) -> LeaseRenewer:
        """Server, token and CA of the kubeconfig's current context (as `ApiClient.from_kubeconfig`)."""
        config = yaml.safe_load(path.read_text()) or {}

        def named(section: str, name: str) -> dict[str, Any]:
            return next((dict(e.get(section[:-1]) or {}) for e in config.get(section) or [] if e.get("name") == name), {})

        context = named("contexts", config.get("current-context") or "")
        cluster, user = named("clusters", context.get("cluster", "")), named("users", context.get("user", ""))
        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = (path.parent / user["tokenFile"]).read_text().strip()
        if cluster.get("insecure-skip-tls-verify"):
            context_ssl = ssl.create_default_context()
            context_ssl.check_hostname, context_ssl.verify_mode = False, ssl.CERT_NONE
        elif cluster.get("certificate-authority-data"):
            context_ssl = ssl.create_default_context(
                cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        elif cluster.get("certificate-authority"):
            context_ssl = ssl.create_default_context(cafile=str(path.parent / cluster["certificate-authority"]))
        else:
            context_ssl = ssl.create_default_context()
        return cls(str(cluster.get("server") or ""), token=token, ssl_context=context_ssl, **kwargs)

    async def renew(self, node: str, renew_time: str) -> None:
        body = json.dumps({"spec": {"holderIdentity": node, "renewTime": renew_time}}).encode()
        request = (f"PATCH {NODE_LEASE_PATH}{quote(node, safe='')} HTTP/1.1\r\n{self._headers}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        async with self._slots:
            code, keep, payload, conn = await self._send(node, request)
            if keep:
                self._idle.append(conn)
            else:
                conn[1].close()
        if not 200 <= code < 300:
            raise _error(code, payload)

    async def _send(self, node: str, request: bytes) -> tuple[int, bool, bytes, _Connection]:
        # A kept-alive connection the server has closed meanwhile (uvicorn closes idle ones after
        # 5 s) fails before any answer: that one request is sent again on a new connection, as
        # httpx does. The renewal is idempotent, so sending it twice is harmless.
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else None
        for attempt in (1, 2):
            try:
                async with asyncio.timeout(self._timeout):
                    if conn is None:
                        conn = await asyncio.open_connection(self._host, self._port, ssl=self._ssl)
                    code, keep, payload = await self._exchange(conn, request)
                return code, keep, payload, conn
            except _StaleConnection:
                conn[1].close()  # type: ignore[index]
                conn = None
                if reused and attempt == 1:
                    continue
                err: Exception = ConnectionResetError("the server closed the connection")
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as e:
                if conn is not None:
                    conn[1].close()
                err = e
            raise Unavailable(f"cannot reach the API server at {self.server}: renewing the Lease of "
                              f"{node}: {type(err).__name__}: {err}") from None
        raise AssertionError("unreachable")

    @staticmethod
    async def _exchange(conn: _Connection, request: bytes) -> tuple[int, bool, bytes]:
        reader, writer = conn
        writer.write(request)
        try:
            status = await reader.readline()
        except OSError:  # reset, or a TLS close the peer sent while the connection sat idle
            raise _StaleConnection from None
        if not status:
            raise _StaleConnection
        parts = status.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ValueError(f"not an HTTP/1.1 answer: {status[:80]!r}")
        code = int(parts[1])
        length, chunked, keep = 0, False, True
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.partition(b":")
            key, value = key.strip().lower(), value.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"transfer-encoding":
                chunked = b"chunked" in value
            elif key == b"connection":
                keep = value != b"close"
        if not chunked:
            return code, keep, await reader.readexactly(length)
        payload = b""
        while size := int((await reader.readline()).split(b";")[0], 16):
            payload += (await reader.readexactly(size + 2))[:-2]  # the chunk and its CRLF
        await reader.readline()  # the empty trailer
        return code, keep, payload

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _StaleConnection(Exception):
    """The server closed the connection before answering (an idle keep-alive it dropped)."""


def _error(code: int, payload: bytes) -> ApiError:
    try:
        body = json.loads(payload)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        return from_status({"code": code, **body})
    return from_status({"code": code, "message": payload.decode(errors="replace").strip()[:500] or f"HTTP {code}"})


async def lease_loop(agents: Sequence[NodeAgent], *, client: ApiClient, metrics: AgentMetrics,
                     renewer: LeaseRenewer | None = None) -> None:
    """Renew every agent's Lease each ``lease_seconds``, spread evenly over the period, until cancelled."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    heap: list[tuple[float, int]] = [
        (start + agent.config.lease_seconds * (i + 1) / len(agents), i) for i, agent in enumerate(agents)
    ]
    heapq.heapify(heap)
    # The renewer bounds renewals by its connections; without it (httpx), this does.
    renewals = asyncio.Semaphore(CONCURRENT_RENEWALS if renewer is None else len(agents) or 1)
    pending: set[int] = set()
    # Nodes whose status must be posted, oldest first, each once; a few posters work through them.
    to_report: dict[int, None] = {}
    wake = asyncio.Event()

    async def beat(i: int, agent: NodeAgent) -> None:
        try:
            async with renewals:
                if await agent.heartbeat(client=client, renewer=renewer):
                    to_report[i] = None
                    wake.set()
        except ApiError as err:
            metrics.lease_errors.inc()
            log.warning("node %s: heartbeat failed: %s", agent.name, err)
        finally:
            pending.discard(i)

    async def poster() -> None:
        while True:
            if not to_report:
                wake.clear()
                await wake.wait()
                continue
            i = next(iter(to_report))
            del to_report[i]
            try:
                await agents[i].report_status(client=client)
            except ApiError as err:
                log.warning("node %s: posting its status failed: %s", agents[i].name, err)

    async with asyncio.TaskGroup() as tg:
        for k in range(CONCURRENT_STATUS_POSTS):
            tg.create_task(poster(), name=f"node-status-poster-{k}")
        while True:
            delay = heap[0][0] - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            while heap and heap[0][0] <= now:
                due, i = heapq.heappop(heap)
                agent = agents[i]
                # A node whose last beat is still under way is not given a second one: after a
                # freeze or with a slow API server, stacked beats would only grow a backlog that
                # delays every node's next renewal.
                if i not in pending:
                    pending.add(i)
                    tg.create_task(beat(i, agent), name=f"heartbeat:{agent.name}")
                # A late tick (the process was stopped) renews at once; the next one is spread
                # over the period again, so a fleet that woke up does not beat all at once forever.
                period = agent.config.lease_seconds
                after = due + period if due + period > now else now + period * (i + 1) / len(agents)
                heapq.heappush(heap, (after, i))


class HeartbeatThread:
    """Runs `lease_loop` on a daemon thread with its own event loop and `ApiClient`.

    `make_client` is called on that thread (an httpx client belongs to the loop it is used on).
    `stop()` cancels the loop, closes the client and joins the thread.
    """

    def __init__(self, agents: Sequence[NodeAgent], *, make_client: Callable[[], ApiClient],
                 metrics: AgentMetrics, make_renewer: Callable[[], LeaseRenewer] | None = None) -> None:
        self._agents = list(agents)
        self._make_client = make_client
        self._make_renewer = make_renewer
        self._metrics = metrics
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="heartbeats", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as err:  # kept for `stop`, which re-raises it on the main thread
            self.error = err

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        client = self._make_client()
        renewer = self._make_renewer() if self._make_renewer is not None else None
        try:
            await lease_loop(self._agents, client=client, metrics=self._metrics, renewer=renewer)
        finally:
            if renewer is not None:
                await renewer.close()
            await client.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(10)
        if self.error is not None and not isinstance(self.error, asyncio.CancelledError):
            raise RuntimeError("the heartbeat thread failed") from self.error
