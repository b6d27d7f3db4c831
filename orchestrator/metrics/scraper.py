"""Every `resolution` seconds: fetch the Summary of every Ready node, in parallel, into the storage.

Which nodes, and where: the Node objects (an informer), each Ready one at its InternalIP and
``status.daemonEndpoints.kubeletEndpoint.Port`` — the node agent's port that also serves logs and
exec. The request is ``GET /stats/summary?node=<name>`` (``node`` lets one fleet process answer
for many simulated nodes) with the kubelet client token, the credential the API server uses for
the same port (metrics-server's ``--kubelet-client-certificate``). A node that does not answer
within `timeout` is logged and keeps its previous metrics until they go stale; the others are
not held up. A scrape of 100 nodes is 100 concurrent requests, capped at `max_parallel`.

The requests go through aiohttp, each connection kept for the next scrape: with 1,000 simulated
nodes a TLS handshake per node per scrape was half of this process's CPU, and httpx's pool, once
it kept 50 connections, spent as much checking each of them on every request (docs/benchmarks.md).

Kubernetes equivalent: sigs.k8s.io/metrics-server/pkg/scraper/scraper.go, pkg/scraper/client/resource
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from orchestrator.metrics.convert import from_summary
from orchestrator.metrics.storage import MetricsStorage

log = logging.getLogger("orchestrator.metrics.scraper")

DEFAULT_RESOLUTION = 15.0  # metrics-server's --metric-resolution
KEEP_ALIVE_SECONDS = 60.0  # under the agents' 120 s idle timeout; over the default 15 s resolution


def node_ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def summary_url(node: Mapping[str, Any], *, scheme: str = "http") -> str | None:
    """Where a node's agent answers its Summary; None when its status does not say."""
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    address = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None)
    if not port or not address:
        return None
    host = f"[{address}]" if ":" in str(address) else address
    return f"{scheme}://{host}:{port}/stats/summary"


class Scraper:
    def __init__(self, *, nodes: Callable[[], list[dict[str, Any]]], storage: MetricsStorage, token: str | None,
                 resolution: float = DEFAULT_RESOLUTION, timeout: float | None = None, max_parallel: int = 50,
                 kubelet_ca: Path | None = None) -> None:
        if resolution <= 0:
            raise ValueError(f"--metric-resolution must be positive, got {resolution}")
        self._nodes = nodes
        self.storage = storage
        self.resolution = resolution
        self._timeout = timeout if timeout is not None else min(10.0, max(1.0, resolution * 0.9))
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._limit = asyncio.Semaphore(max_parallel)
        # Node agents of a lab serve HTTPS with lab-CA certificates (metrics-server's
        # --kubelet-certificate-authority); without a CA they are plain HTTP agents started by hand.
        self._scheme = "https" if kubelet_ca is not None else "http"
        self._ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(kubelet_ca)) if kubelet_ca else True
        self._max_parallel = max_parallel
        self._session: aiohttp.ClientSession | None = None  # made in the loop that uses it
        self.scrapes = 0
        self.last_duration = 0.0
        self.last_errors: dict[str, str] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # The agents hold an idle connection longer than this (orchestrator/nodeagent/logserver.py).
            connector = aiohttp.TCPConnector(limit=self._max_parallel, keepalive_timeout=KEEP_ALIVE_SECONDS,
                                             ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers,
                                                  timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._session

    async def run(self) -> None:
        """Scrape every `resolution` seconds (counted from each scrape's start) until cancelled."""
        while True:
            started = time.monotonic()
            await self.scrape_once()
            await asyncio.sleep(max(0.0, self.resolution - (time.monotonic() - started)))

    async def scrape_once(self) -> None:
        started = time.monotonic()
        nodes = [n for n in self._nodes() if node_ready(n)]
        names = {n["metadata"]["name"] for n in nodes}
        self.storage.forget(self.storage.node_names() - names)
        results = await asyncio.gather(*(self._scrape(n) for n in nodes))
        self.last_errors = {name: err for name, err in results if err is not None}
        self.scrapes += 1
        self.last_duration = time.monotonic() - started

    async def _scrape(self, node: Mapping[str, Any]) -> tuple[str, str | None]:
        name = node["metadata"]["name"]
        url = summary_url(node, scheme=self._scheme)
        if url is None:
            return name, "the node's status names no InternalIP and kubelet port"
        async with self._limit:
            try:
                async with self._client().get(url, params={"node": name}) as response:
                    response.raise_for_status()
                    summary = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                log.warning("scraping node %s at %s failed: %s", name, url, err)
                return name, str(err) or type(err).__name__
        node_usage, pods = from_summary(summary)
        self.storage.store(name, node_usage, pods)
        return name, None


__all__ = ["DEFAULT_RESOLUTION", "Scraper", "node_ready", "summary_url"]
