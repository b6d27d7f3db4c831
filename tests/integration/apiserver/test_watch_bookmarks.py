"""A quiet watch's BOOKMARK carries the cluster's progress, not the revision its resource last
changed at: when the watch ends, the client watches again from a revision still in the window,
where the old revision would get 410 Gone and force a relist of everything.

A second API server runs on the lab's PostgreSQL and Redis with ``--watch-bookmark-seconds 0.5``
(the default is 30 s), as `labctl up` starts one; the lab's relay publishes.

Kubernetes equivalent: test/integration/apiserver/watchcache_test.go (bookmarks, progress notify)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from orchestrator.lab.components import ApiServer
from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.home import LabHome
from orchestrator.storage.relay import compact_now
from tests.factories import pod
from tests.support.lab import Lab


@pytest.fixture(scope="module")
def bookmarking_server(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    argv = ApiServer.for_lab(LabHome(lab.home), database_url=lab.database_url, redis_url=lab.redis_url, port=port,
                             watch_bookmark_seconds=0.5).argv()
    log = tmp_path_factory.mktemp("bookmarks") / "apiserver.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = f"https://127.0.0.1:{port}"
    verify = ssl.create_default_context(cafile=str(lab.ca_file))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server}/readyz", verify=verify, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


@pytest.fixture
async def api2(lab: Lab, bookmarking_server: str) -> AsyncIterator[httpx.AsyncClient]:
    verify = ssl.create_default_context(cafile=str(lab.ca_file))
    async with httpx.AsyncClient(base_url=bookmarking_server, verify=verify, timeout=30,
                                 headers={"Authorization": f"Bearer {lab.tokens['admin']}"}) as client:
        yield client


async def _lines(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.strip():
            yield json.loads(line)


async def test_a_quiet_watchs_bookmark_moves_with_the_cluster_and_its_next_watch_needs_no_relist(
    lab: Lab, api2: httpx.AsyncClient, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    created = await api2.post(path, json={"metadata": {"name": "quiet"}, "data": {"a": "1"}})
    assert created.status_code == 201, created.text
    quiet_rv = int(created.json()["metadata"]["resourceVersion"])

    bookmark_rv = 0
    async with api2.stream("GET", path, params={"watch": "true", "resourceVersion": str(quiet_rv),
                                                 "allowWatchBookmarks": "true", "timeoutSeconds": "15"}) as resp:
        assert resp.status_code == 200
        # The cluster moves on elsewhere: pods change, the configmap does not.
        busy_rv = 0
        for i in range(3):
            made = await api2.post(f"/api/v1/namespaces/{namespace}/pods", json=pod(f"p{i}", namespace=namespace))
            assert made.status_code == 201, made.text
            busy_rv = int(made.json()["metadata"]["resourceVersion"])

        async def until_progress() -> None:
            nonlocal bookmark_rv
            async for event in _lines(resp):
                assert event["type"] == "BOOKMARK", event  # nothing happened to configmaps
                bookmark_rv = int(event["object"]["metadata"]["resourceVersion"])
                if bookmark_rv >= busy_rv:
                    return

        try:
            await asyncio.wait_for(until_progress(), 10)
        except TimeoutError:
            pytest.fail(f"no BOOKMARK reached revision {busy_rv} (the pods' writes) in 10 s; the last said "
                        f"{bookmark_rv}, where the quiet configmap last changed was {quiet_rv}")
    assert bookmark_rv >= busy_rv > quiet_rv

    # Compact everything: the configmap's own revision is gone from the window, the bookmark's is not.
    await compact_now(database_url=lab.database_url, redis_url=lab.redis_url, keep=0)
    for since, expired in ((quiet_rv, True), (bookmark_rv, False)):
        async with api2.stream("GET", path, params={"watch": "true", "resourceVersion": str(since),
                                                     "timeoutSeconds": "1"}) as resp:
            events = [e async for e in _lines(resp)]
        codes = [e["object"].get("code") for e in events if e["type"] == "ERROR"]
        assert codes == ([410] if expired else []), (since, events)
