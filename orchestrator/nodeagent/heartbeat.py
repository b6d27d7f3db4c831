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

Kubernetes equivalent: pkg/kubelet/nodelease/controller.go (renewal), with
pkg/kubelet/kubelet_node_status.go (the status report frequency).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from orchestrator.api.errors import ApiError
from orchestrator.client.rest import ApiClient
from orchestrator.nodeagent.metrics import AgentMetrics

if TYPE_CHECKING:
    from orchestrator.nodeagent.agent import NodeAgent

log = logging.getLogger(__name__)

# Renewals of one process in flight at once: below httpx's 20 kept-alive connections, so no TLS
# handshake churn; 1,000 nodes need 100 a second, each a few milliseconds.
CONCURRENT_RENEWALS = 8


async def lease_loop(agents: Sequence[NodeAgent], *, client: ApiClient, metrics: AgentMetrics) -> None:
    """Renew every agent's Lease each ``lease_seconds``, spread evenly over the period, until cancelled."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    heap: list[tuple[float, int]] = [
        (start + agent.config.lease_seconds * (i + 1) / len(agents), i) for i, agent in enumerate(agents)
    ]
    heapq.heapify(heap)
    semaphore = asyncio.Semaphore(CONCURRENT_RENEWALS)

    async def beat(agent: NodeAgent) -> None:
        async with semaphore:
            try:
                await agent.heartbeat(client=client)
            except ApiError as err:
                metrics.lease_errors.inc()
                log.warning("node %s: heartbeat failed: %s", agent.name, err)

    async with asyncio.TaskGroup() as tg:
        while True:
            delay = heap[0][0] - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            while heap and heap[0][0] <= now:
                due, i = heapq.heappop(heap)
                agent = agents[i]
                tg.create_task(beat(agent), name=f"heartbeat:{agent.name}")
                # A late tick (the process was stopped) renews at once, then keeps the period.
                heapq.heappush(heap, (max(due + agent.config.lease_seconds, now), i))


class HeartbeatThread:
    """Runs `lease_loop` on a daemon thread with its own event loop and `ApiClient`.

    `make_client` is called on that thread (an httpx client belongs to the loop it is used on).
    `stop()` cancels the loop, closes the client and joins the thread.
    """

    def __init__(self, agents: Sequence[NodeAgent], *, make_client: Callable[[], ApiClient],
                 metrics: AgentMetrics) -> None:
        self._agents = list(agents)
        self._make_client = make_client
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
        try:
            await lease_loop(self._agents, client=client, metrics=self._metrics)
        finally:
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
