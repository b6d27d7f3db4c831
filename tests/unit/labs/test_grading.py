"""The grader's fault valve (labs/grading.py) on a watch stream: hold delays, release delivers what
was held in order, cut breaks the connection as a reset does, end closes it as the server's timeout
does; requests that are not watches pass untouched. And hints grow with each failed attempt, the
answer only on request (``labs.hint(check, answer=True)``).

The stream under the valve is an in-memory body fed chunk by chunk (the live graders run it against
the real API server: tests/integration/test_labs_write_your_own.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

import labs
from labs import grading
from labs.grading import Faults, FaultyTransport, Hints


class _Feed(httpx.AsyncByteStream):
    """A response body the test feeds one chunk at a time (None ends it)."""

    def __init__(self) -> None:
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self.chunks.get()) is not None:
            yield chunk


def _client(feed: _Feed, faults: Faults) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("watch") == "true":
            return httpx.Response(200, stream=feed)
        return httpx.Response(200, json={"kind": "PodList", "items": []})

    return httpx.AsyncClient(transport=FaultyTransport(httpx.MockTransport(handler), faults), base_url="http://api")


async def _reader(client: httpx.AsyncClient, got: list[bytes]) -> None:
    async with client.stream("GET", "/api/v1/pods", params={"watch": "true"}) as response:
        async for chunk in response.aiter_raw():
            got.append(chunk)


async def _until(condition: object, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_hold_delays_the_watch_and_release_delivers_in_order() -> None:
    feed, faults, got = _Feed(), Faults(), []
    async with _client(feed, faults) as client:
        reader = asyncio.create_task(_reader(client, got))
        await feed.chunks.put(b"one\n")
        await _until(lambda: got == [b"one\n"])
        assert faults.watching("pods") == 1
        faults.hold("pods")
        await feed.chunks.put(b"two\n")
        await feed.chunks.put(b"three\n")
        await asyncio.sleep(0.2)
        assert got == [b"one\n"], "a held watch delivers nothing"
        faults.release("pods")
        await _until(lambda: got == [b"one\n", b"two\n", b"three\n"])
        await feed.chunks.put(None)
        await reader
    assert faults.watching("pods") == 0


async def test_cut_breaks_the_connection_and_drops_what_was_held() -> None:
    feed, faults, got = _Feed(), Faults(), []
    async with _client(feed, faults) as client:
        reader = asyncio.create_task(_reader(client, got))
        await _until(lambda: faults.watching("pods") == 1)
        faults.hold("pods")
        await feed.chunks.put(b"lost\n")
        await asyncio.sleep(0.1)
        assert faults.cut("pods") == 1
        with pytest.raises(httpx.ReadError):
            await reader
    assert got == [] and "pods" not in faults.held


async def test_end_closes_the_watch_cleanly_as_the_server_timeout_does() -> None:
    feed, faults, got = _Feed(), Faults(), []
    async with _client(feed, faults) as client:
        reader = asyncio.create_task(_reader(client, got))
        await feed.chunks.put(b"seen\n")
        await _until(lambda: got == [b"seen\n"])
        assert faults.end("pods") == 1
        await asyncio.wait_for(reader, 2)  # ends without an error
    assert got == [b"seen\n"]


async def test_requests_that_are_not_watches_pass_untouched() -> None:
    faults = Faults()
    faults.hold("pods")
    async with _client(_Feed(), faults) as client:
        answer = await asyncio.wait_for(client.get("/api/v1/pods"), 2)
    assert answer.json()["kind"] == "PodList"


def test_hints_grow_with_each_failed_attempt_and_the_answer_comes_only_on_request(
        capsys: pytest.CaptureFixture[str]) -> None:
    hints = Hints("grading-test")
    assert grading.hint("grading-test").startswith("no step of 'grading-test' has failed yet")
    given = [hints("tombstones", "nudge", "where", "ANSWER-TEXT") for _ in range(3)]
    assert given[:2] == ["(hint 1 of 2) nudge", "(hint 2 of 2) where"]
    assert "ANSWER-TEXT" not in given[2] and "labs.hint('grading-test', answer=True)" in given[2]
    assert hints("other", "a", "b", "c") == "(hint 1 of 2) a", "each invariant counts its own attempts"
    # labs.hint serves graded checks as it serves the mysteries: the step that failed last.
    assert labs.hint("grading-test") == "(hint 2 of 2) b"
    assert labs.hint("grading-test", answer=True) == "answer (other): c"
    assert "answer (other): c" in capsys.readouterr().out


def test_labs_hint_knows_the_two_graded_labs() -> None:
    assert grading.graded("replicaset-controller") and grading.graded("pod-scheduler")
    assert not grading.graded("first-pod"), "an exercise without graded hints"
