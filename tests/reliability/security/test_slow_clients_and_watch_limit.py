"""Clients that hold the server's resources: slow or stalled senders, and more watches than it serves.

- A request body sent a byte at a time is read, and other clients are served meanwhile.
- A body that never finishes is answered 408 Timeout once ``--request-timeout`` has passed, and the
  connection is closed: a stalled client costs a connection for a bounded time, not for ever.
- ``--max-watches`` open watches are all served (every one gets the next event); one more gets 429
  TooManyRequests with ``Retry-After``, never a hang; lists, gets and creates go on; a watch slot is
  free again as soon as its client goes away.

The server here runs with small limits (conftest.py); the lab default is 60 s and 4096 watches.

Known limit, not tested as a failure: a client that never finishes its request *headers* is held
open by uvicorn for as long as it likes (uvicorn has no header-read timeout; Go's
``ReadHeaderTimeout``, which kube-apiserver sets to 32 s, has no uvicorn equivalent). The test
below shows it does not stop other clients from being served.

Kubernetes equivalent: staging/src/k8s.io/apiserver/pkg/server/filters/timeout.go,
maxinflight.go (429 with Retry-After)
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from tests import factories
from tests.reliability.security.conftest import SecureServer
from tests.reliability.security.rawhttp import open_raw, raw_connection, request_head

pytestmark = pytest.mark.timeout(150)

ANSWER_WITHIN = 20.0  # every request here must be answered within this (generous: a shared, busy machine)


async def others_are_served(server: SecureServer, namespace: str, *, rounds: int = 5) -> None:
    """Reads and writes by other clients each get their answer within ANSWER_WITHIN."""
    async with server.client("admin") as client:
        for i in range(rounds):
            started = time.monotonic()
            r = await asyncio.wait_for(client.get(f"/api/v1/namespaces/{namespace}/pods"), ANSWER_WITHIN)
            assert r.status_code == 200, r.text
            pod = factories.pod(f"other-{i}-{int(started * 1000) % 100000}", namespace=namespace)
            r = await asyncio.wait_for(client.post(f"/api/v1/namespaces/{namespace}/pods", json=pod), ANSWER_WITHIN)
            assert r.status_code == 201, r.text


def assert_status_body(body: bytes, code: int, reason: str) -> dict[str, Any]:
    status = json.loads(body)
    assert status["kind"] == "Status" and status["code"] == code and status["reason"] == reason, status
    return status


async def test_a_body_sent_a_byte_at_a_time_is_read_and_others_are_served(secure_server: SecureServer,
                                                                            namespace: str) -> None:
    body = json.dumps(factories.pod("trickled", namespace=namespace)).encode()
    # The whole body takes about a third of the request timeout to arrive.
    delay = secure_server.request_timeout_seconds / 3 / len(body)

    async def trickle() -> tuple[int, dict[str, str], bytes]:
        async with raw_connection(secure_server) as conn:
            await conn.send(request_head(secure_server, "POST", f"/api/v1/namespaces/{namespace}/pods",
                                         length=len(body)))
            for byte in body:
                await conn.send(bytes([byte]))
                await asyncio.sleep(delay)
            return await conn.response(ANSWER_WITHIN)

    (code, _, answer), _ = await asyncio.gather(trickle(), others_are_served(secure_server, namespace))
    assert code == 201, answer[:300]
    assert json.loads(answer)["metadata"]["name"] == "trickled"


async def test_a_body_that_never_finishes_gets_408_within_the_request_timeout(secure_server: SecureServer,
                                                                             namespace: str) -> None:
    sent = 0  # not one byte of it (test_many_stalled_clients_do_not_stop_others sends a part)
    body = json.dumps(factories.pod("stalled", namespace=namespace)).encode()
    async with raw_connection(secure_server) as conn:
        started = time.monotonic()
        await conn.send(request_head(secure_server, "POST", f"/api/v1/namespaces/{namespace}/pods",
                                     length=len(body), close=False))
        await conn.send(body[:sent])
        await others_are_served(secure_server, namespace, rounds=2)
        code, headers, answer = await conn.response(secure_server.request_timeout_seconds + ANSWER_WITHIN)
        waited = time.monotonic() - started
    assert code == 408, answer[:300]
    assert headers["content-type"].startswith("application/json")
    # The body never came, so the connection cannot carry another request: it is closed at once.
    assert headers.get("connection") == "close", headers
    status = assert_status_body(answer, 408, "Timeout")
    assert f"({sent} bytes received)" in status["message"]
    assert waited >= secure_server.request_timeout_seconds * 0.9  # answered by the timeout, not by accident
    async with secure_server.client() as client:
        assert (await client.get(f"/api/v1/namespaces/{namespace}/pods/stalled")).status_code == 404


async def test_many_stalled_clients_do_not_stop_others(secure_server: SecureServer, namespace: str) -> None:
    """Thirty connections stall in their headers and thirty in their bodies; others are served, and
    each stalled body gets its 408."""
    async with asyncio.TaskGroup() as tg:
        header_stalls = [tg.create_task(open_raw(secure_server)) for _ in range(30)]
        body_stalls = [tg.create_task(open_raw(secure_server)) for _ in range(30)]
    heads = [h.result() for h in header_stalls]
    bodies = [b.result() for b in body_stalls]
    try:
        for conn in heads:
            await conn.send(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nAuthoriz")
        for conn in bodies:
            await conn.send(request_head(secure_server, "POST", f"/api/v1/namespaces/{namespace}/pods", length=500))
            await conn.send(b'{"apiVersion":')
        await others_are_served(secure_server, namespace)
        answers = await asyncio.gather(*(conn.response(secure_server.request_timeout_seconds + ANSWER_WITHIN)
                                         for conn in bodies))
        assert sorted({code for code, _, _ in answers}) == [408]
    finally:
        for conn in heads + bodies:
            conn.close()
    await others_are_served(secure_server, namespace, rounds=1)


# -- watches ----------------------------------------------------------------------------------------

class Watch:
    """One open watch: its response, and the event lines it has received."""

    def __init__(self, client: httpx.AsyncClient, path: str, resource_version: str) -> None:
        self.client, self.path, self.rv = client, path, resource_version
        self.lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.opened: asyncio.Future[httpx.Response] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._run(), name=f"watch {path}")

    async def _run(self) -> None:
        params = {"watch": "true", "resourceVersion": self.rv, "timeoutSeconds": "120"}
        try:
            async with self.client.stream("GET", self.path, params=params) as r:
                if r.status_code != 200:
                    await r.aread()
                self.opened.set_result(r)
                if r.status_code != 200:
                    return
                async for line in r.aiter_lines():
                    if line:
                        await self.lines.put(json.loads(line))
        except BaseException as exc:
            if not self.opened.done():
                self.opened.set_exception(exc)
            if not isinstance(exc, asyncio.CancelledError | httpx.HTTPError):
                raise

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def _open_watches(client: httpx.AsyncClient, path: str, rv: str, count: int) -> list[Watch]:
    watches = [Watch(client, path, rv) for _ in range(count)]
    for w in watches:
        r = await asyncio.wait_for(asyncio.shield(w.opened), ANSWER_WITHIN * 3)
        assert r.status_code == 200, r.text
    return watches


async def _open_watch_count(server: SecureServer, admin: httpx.AsyncClient) -> float:
    metrics = (await admin.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("apiserver_longrunning_requests{"))


async def test_watches_up_to_the_limit_are_served_and_one_more_gets_429(secure_server: SecureServer,
                                                                         admin: httpx.AsyncClient,
                                                                         namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    limit = secure_server.max_watches
    rv = (await admin.get(path)).json()["metadata"]["resourceVersion"]
    # One connection per watch (HTTP/1.1), as that many separate clients would open.
    async with secure_server.client("viewer", limits=httpx.Limits(max_connections=None),
                                    timeout=httpx.Timeout(30, read=None)) as viewer:
        for round_ in range(2):  # the second round proves every slot of the first came back
            watches = await _open_watches(viewer, path, rv, limit)
            try:
                one_more = await asyncio.wait_for(viewer.get(path, params={"watch": "true", "resourceVersion": rv}),
                                                  ANSWER_WITHIN)
                assert one_more.status_code == 429, one_more.text[:300]
                assert one_more.headers["retry-after"] == "1"
                assert one_more.json()["reason"] == "TooManyRequests"
                assert one_more.json()["details"]["retryAfterSeconds"] == 1

                # Everything else is still served, and every open watch gets the next event.
                await others_are_served(secure_server, namespace, rounds=1)
                name = f"seen-by-all-{round_}"
                assert (await admin.post(path, json=factories.pod(name, namespace=namespace))).status_code == 201
                for w in watches:
                    while True:
                        event = await asyncio.wait_for(w.lines.get(), ANSWER_WITHIN * 3)
                        if event["object"]["metadata"]["name"] == name:
                            assert event["type"] == "ADDED"
                            break

                # A slot freed by a client that goes away is free again.
                await watches.pop().close()
                deadline = time.monotonic() + ANSWER_WITHIN
                while True:
                    again = Watch(viewer, path, rv)
                    r = await asyncio.wait_for(asyncio.shield(again.opened), ANSWER_WITHIN)
                    if r.status_code == 200:
                        watches.append(again)
                        break
                    await again.close()
                    assert r.status_code == 429 and time.monotonic() < deadline, r.text[:300]
                    await asyncio.sleep(0.2)
            finally:
                await asyncio.gather(*(w.close() for w in watches))
            deadline = time.monotonic() + ANSWER_WITHIN * 3
            while await _open_watch_count(secure_server, admin) > 0:
                assert time.monotonic() < deadline, "watches stayed open after their clients went away"
                await asyncio.sleep(0.2)
