"""The storage keeps each node's last scrape; the scraper reads Ready nodes' summaries over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

from orchestrator.metrics.convert import from_summary
from orchestrator.metrics.scraper import Scraper, node_ready, summary_url
from orchestrator.metrics.storage import MetricsStorage
from tests.unit.metrics.test_convert import summary


def node(name: str, *, ready: bool = True, port: int | None = 10250) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                              "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}
    if port is not None:
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
    return {"metadata": {"name": name}, "status": status}


def test_metrics_go_stale_and_forgotten_nodes_vanish() -> None:
    now = [0.0]
    store = MetricsStorage(stale_after=30, clock=lambda: now[0])
    n, pods = from_summary(summary())
    store.store("node-1", n, pods)
    assert [x.name for x in store.nodes()] == ["node-1"] and len(store.pods()) == 1
    now[0] = 31
    assert store.nodes() == [] and store.pods() == []
    store.forget({"node-1"})
    assert store.node_names() == set()


def test_where_a_node_is_scraped() -> None:
    assert node_ready(node("a")) and not node_ready(node("b", ready=False))
    assert summary_url(node("a", port=1234)) == "http://127.0.0.1:1234/stats/summary"
    assert summary_url(node("a", port=None)) is None


async def test_scrape_once_reads_ready_nodes_with_the_token_and_names_the_node() -> None:
    seen: list[tuple[str, str]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        seen.append((head.split(" ")[1], next(h for h in head.split("\r\n") if h.lower().startswith("authorization"))))
        import json

        body = json.dumps(summary()).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    nodes = [node("node-1", port=port), node("down", ready=False, port=port), node("gone", port=1)]
    store = MetricsStorage()
    scraper = Scraper(nodes=lambda: nodes, storage=store, token="kubelet", resolution=1, timeout=2)
    try:
        await scraper.scrape_once()
    finally:
        await scraper.close()
        server.close()
    assert seen == [("/stats/summary?node=node-1", "Authorization: Bearer kubelet")]
    assert [n.name for n in store.nodes()] == ["node-1"]
    assert set(scraper.last_errors) == {"gone"}  # refused: logged, the others not held up
