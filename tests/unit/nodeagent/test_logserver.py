"""The log endpoint: bearer token required, Status errors, logs of a simulated container."""

from __future__ import annotations

import asyncio
import json

import httpx

from orchestrator.nodeagent.logserver import LogServer
from orchestrator.nodeagent.podworker import PodWorker
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime
from tests.unit.nodeagent.test_podworker import RecordingSink, config, pod


async def test_logs_need_the_token_and_are_served_with_tail_lines() -> None:
    runtime = SimulatedRuntime()
    worker = PodWorker(pod(), config=config(runtime, RecordingSink()))
    await worker.sync()
    server = LogServer(find_worker=lambda ns, name: worker if (ns, name) == ("ns", "p") else None,
                       tokens=["secret"], metrics=lambda: b"m 1\n", host="127.0.0.1")
    port = await server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            assert (await client.get("/containerLogs/ns/p/c")).status_code == 401
            wrong = await client.get("/containerLogs/ns/p/c", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.json()["reason"] == "Unauthorized"
            auth = {"Authorization": "Bearer secret"}
            missing = await client.get("/containerLogs/ns/other/c", headers=auth)
            assert missing.status_code == 404 and missing.json()["kind"] == "Status"
            assert (await client.get("/containerLogs/ns/p/nope", headers=auth)).status_code == 400
            full = await client.get("/containerLogs/ns/p/c", headers=auth)
            assert full.status_code == 200 and b"started busybox:latest as c in pod ns/p" in full.content
            tail = await client.get("/containerLogs/ns/p/c", params={"tailLines": "1", "timestamps": "true"},
                                    headers=auth)
            assert tail.content.count(b"\n") == 1 and tail.content[:2] == b"20"
            assert (await client.get("/metrics")).content == b"m 1\n"
    finally:
        await server.close()


async def test_whole_answers_keep_the_connection_and_logs_close_it() -> None:
    runtime = SimulatedRuntime()
    worker = PodWorker(pod(), config=config(runtime, RecordingSink()))
    await worker.sync()

    async def summary(node: str | None) -> dict[str, object]:
        return {"node": {"nodeName": node or "n1"}, "pods": []}

    server = LogServer(find_worker=lambda ns, name: worker if (ns, name) == ("ns", "p") else None,
                       tokens=["secret"], metrics=lambda: b"m 1\n", summary=summary, host="127.0.0.1")
    port = await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def ask(path: str) -> tuple[bytes, bytes]:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer secret\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
        return head, await reader.readexactly(length)

    try:
        # A scraper's connection serves every scrape.
        first_head, first = await ask("/stats/summary?node=a")
        _, second = await ask("/stats/summary?node=b")
        _, health = await ask("/healthz")
        assert b"Connection: keep-alive" in first_head
        assert (json.loads(first)["node"]["nodeName"], json.loads(second)["node"]["nodeName"], health) == ("a", "b", b"ok")
        # Logs take the connection for themselves: the answer ends when it closes.
        writer.write(b"GET /containerLogs/ns/p/c HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer secret\r\n\r\n")
        rest = await asyncio.wait_for(reader.read(), 5)
        assert b"Connection: close" in rest and b"started busybox:latest as c" in rest
    finally:
        writer.close()
        await server.close()
