"""PostgreSQL killed (-9, postmaster and backends) and restarted under concurrent reads and writes.

What the fault run found: the store reads and commits on the raw asyncpg connection, whose errors
never reach SQLAlchemy's pool, so after a restart the pool kept handing out dead connections
("connection is closed", a 503 on every request they served, for good) and connections left in
asyncpg's error-consuming state ("cannot switch to state 12; another operation (2) is in
progress", a 500). Here: during the outage only Unavailable; once PostgreSQL is back, every read
and write succeeds again, over more concurrent requests than the pool has connections.

The test runs its own PostgreSQL (the session's server is shared by every other test).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.api.errors import Unavailable
from orchestrator.lab.embedded.postgres import running_postgres, start_postgres, stop_postgres
from orchestrator.lab.home import LabHome
from orchestrator.storage.store import Store
from tests.factories import pod

POOL_SIZE = 20  # Store.connect's default, the size the bug was seen at
PODS = 20


@pytest.fixture
def home(tmp_path: Path) -> Iterator[LabHome]:
    lab = LabHome(tmp_path / "pg-home")
    start_postgres(lab)
    try:
        yield lab
    finally:
        stop_postgres(lab)


def kill_postgres(home: LabHome) -> int:
    """kill -9 the postmaster's whole process group (its backends die with it, as in a crash)."""
    running = running_postgres(home)
    assert running is not None
    pid, port = running
    os.killpg(pid, signal.SIGKILL)
    return port


class Outcomes:
    """Every failure the workload saw, by phase."""

    def __init__(self) -> None:
        self.errors: dict[str, list[BaseException]] = {}
        self.ok = 0

    async def run(self, phase: str, op: Awaitable[Any]) -> bool:
        try:
            await op
        except Exception as exc:  # recorded and asserted on by the test
            self.errors.setdefault(phase, []).append(exc)
            return False
        self.ok += 1
        return True

    def not_unavailable(self, phase: str) -> list[str]:
        return [f"{type(e).__name__}: {e}" for e in self.errors.get(phase, []) if not isinstance(e, Unavailable)]


def _touch(obj: dict[str, Any]) -> dict[str, Any]:
    obj.setdefault("metadata", {}).setdefault("annotations", {})["touched"] = str(time.monotonic())
    return obj


async def test_a_postgres_crash_gives_only_503s_and_every_pooled_connection_works_after_restart(
    home: LabHome,
) -> None:
    store = await Store.connect(start_postgres(home).url, pool_size=POOL_SIZE)  # the one running
    try:
        for i in range(PODS):
            await store.create("pods", pod(f"p{i}"))
        outcomes = Outcomes()
        phase = "before"
        stop = asyncio.Event()
        names = itertools.count()

        # Only the paths on the raw driver connection (get, the committer): a disconnect seen through
        # SQLAlchemy (list) makes it discard the whole pool by itself and would hide the bug.
        async def reader(i: int) -> None:
            while not stop.is_set():
                await outcomes.run(phase, store.get("pods", "default", f"p{i % PODS}"))
                await asyncio.sleep(0.002)

        async def writer(i: int) -> None:
            while not stop.is_set():
                write: Awaitable[Any] = (store.create("pods", pod(f"w{next(names)}")) if i % 2
                                         else store.guaranteed_update("pods", "default", f"p{i}", _touch))
                await outcomes.run(phase, write)
                await asyncio.sleep(0.002)

        # More readers than pooled connections, so every connection is in use when PostgreSQL dies.
        workers = [asyncio.create_task(reader(i)) for i in range(POOL_SIZE + 10)]
        workers += [asyncio.create_task(writer(i)) for i in range(6)]
        await _until(lambda: outcomes.ok >= 200, timeout=30, what="the workload to get going")
        assert outcomes.errors == {}, outcomes.errors

        phase = "outage"
        port = kill_postgres(home)
        await _until(lambda: len(outcomes.errors.get("outage", [])) >= 50, timeout=30,
                     what="the workload to see the outage")
        # The pool now holds connections that died idle, mid-read and mid-batch.
        stop.set()
        await asyncio.gather(*workers)
        assert outcomes.not_unavailable("outage") == []

        await asyncio.to_thread(start_postgres, home, port=port)
        back = time.monotonic()

        async def sweep(*, lists: bool = False) -> list[BaseException]:
            """More concurrent requests than the pool has connections: every one is handed out."""
            ops: list[Awaitable[Any]] = [store.get("pods", "default", f"p{i % PODS}") for i in range(2 * POOL_SIZE)]
            ops += [store.guaranteed_update("pods", "default", f"p{i}", _touch) for i in range(PODS)]
            ops += [store.create("pods", pod(f"s{next(names)}")) for _ in range(5)]
            if lists:
                ops += [store.list("pods", namespace="default") for _ in range(5)]
                ops += [store.current_revision(), store.compacted_revision()]
            results = await asyncio.gather(*ops, return_exceptions=True)
            return [r for r in results if isinstance(r, BaseException)]

        # Within a few seconds of PostgreSQL accepting connections again, a sweep is clean...
        after: list[BaseException] = []
        while (failed := await sweep()):
            after += failed
            assert time.monotonic() - back < 20, f"still failing 20 s after the restart: {failed[:3]}"
            await asyncio.sleep(0.2)
        # ...and stays clean: no connection the crash broke is ever handed out again.
        for _ in range(3):
            assert await sweep(lists=True) == []
        assert [f"{type(e).__name__}: {e}" for e in after if not isinstance(e, Unavailable)] == []
        assert not any("another operation" in str(e) for e in after)
    finally:
        await store.close()


async def _until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
