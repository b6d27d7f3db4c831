"""The node agent's stream endpoints on the simulated runtime: the upgrade, the agent frames,
the documented stand-in commands, and the limits (streams per agent, idle timeout)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator.api.streaming import CLOSE, ERROR, STDIN, agent_frame, read_agent_frame
from orchestrator.nodeagent.logserver import LogServer
from orchestrator.nodeagent.podworker import PodWorker
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime
from tests.unit.nodeagent.test_podworker import RecordingSink, config, pod


@pytest.fixture
async def server() -> AsyncIterator[LogServer]:
    runtime = SimulatedRuntime()
    manifest = pod()
    manifest["spec"]["containers"][0]["env"] = [{"name": "GREETING", "value": "hi"}]
    worker = PodWorker(manifest, config=config(runtime, RecordingSink()))
    await worker.sync()
    s = LogServer(find_worker=lambda ns, name: worker if (ns, name) == ("ns", "p") else None, tokens=["secret"],
                  host="127.0.0.1", max_streams=2, stream_idle_timeout=0.5)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


async def upgrade(server: LogServer, target: str, token: str = "secret"
                  ) -> tuple[int, Any, asyncio.StreamReader, asyncio.StreamWriter]:
    """(status code, Status body or None, reader, writer) of one upgrade request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: Upgrade\r\n"
                 f"Upgrade: labkit-stream/1\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    code = int(head.split(b" ")[1])
    body = None if code == 101 else json.loads(await reader.read())
    return code, body, reader, writer


async def run(server: LogServer, target: str, stdin: bytes | None = None) -> tuple[bytes, bytes, dict[str, Any]]:
    """stdout, stderr and the final Status of one exec."""
    code, body, reader, writer = await upgrade(server, target)
    assert code == 101, body
    if stdin is not None:
        writer.write(agent_frame(STDIN, stdin) + agent_frame(CLOSE))
    out, err = b"", b""
    try:
        while (frame := await asyncio.wait_for(read_agent_frame(reader), 5)) is not None:
            channel, payload = frame
            if channel == ERROR:
                return out, err, json.loads(payload)
            if channel == 1:
                out += payload
            else:
                err += payload
        raise AssertionError("the stream ended without a Status")
    finally:
        writer.close()


async def test_simulated_commands_answer_deterministically(server: LogServer) -> None:
    out, _, status = await run(server, "/exec/ns/p/c?command=echo&command=hello&command=world")
    assert out == b"hello world\n" and status["status"] == "Success"
    out, _, _ = await run(server, "/exec/ns/p/c?command=hostname")
    assert out == b"p\n"
    out, _, _ = await run(server, "/exec/ns/p/c?command=env")
    assert out == b"HOSTNAME=p\nGREETING=hi\n"
    out, _, status = await run(server, "/exec/ns/p/c?command=cat&stdin=true", stdin=b"piped\n")
    assert out == b"piped\n" and status["status"] == "Success"


async def test_exit_codes_are_reported_as_kubelet_does(server: LogServer) -> None:
    _, _, status = await run(server, "/exec/ns/p/c?command=sh&command=-c&command=exit%203")
    assert status["reason"] == "NonZeroExitCode" and status["details"]["causes"][0]["message"] == "3"
    _, _, status = await run(server, "/exec/ns/p/c?command=false")
    assert status["details"]["causes"][0]["message"] == "1"


async def test_an_unknown_command_says_the_container_is_simulated(server: LogServer) -> None:
    _, err, status = await run(server, "/exec/ns/p/c?command=ls")
    assert b"not found in the simulated runtime" in err and b"echo, cat" in err
    assert status["details"]["causes"][0]["message"] == "127"
    _, err, status = await run(server, "/attach/ns/p/c")
    assert b"simulated" in err and status["status"] == "Success"


async def test_refusals_come_before_the_upgrade_as_a_status(server: LogServer) -> None:
    assert (await upgrade(server, "/exec/ns/p/c?command=true", token="wrong"))[0] == 401
    code, body, *_ = await upgrade(server, "/exec/ns/other/c?command=true")
    assert code == 404 and body["reason"] == "NotFound"
    code, body, *_ = await upgrade(server, "/exec/ns/p/nope?command=true")
    assert code == 400 and "container nope is not valid" in body["message"]
    code, body, *_ = await upgrade(server, "/exec/ns/p/c")
    assert code == 400 and "at least 1 command" in body["message"]
    code, body, *_ = await upgrade(server, "/portForward/ns/p?port=8080")
    assert code == 400 and "simulated runtime" in body["message"]


async def test_streams_beyond_the_limit_get_429_and_idle_ones_are_closed(server: LogServer) -> None:
    held = [await upgrade(server, "/exec/ns/p/c?command=cat&stdin=true") for _ in range(2)]
    assert [h[0] for h in held] == [101, 101]
    code, body, *_ = await upgrade(server, "/exec/ns/p/c?command=true")
    assert code == 429 and body["reason"] == "TooManyRequests"
    # Nothing moves on the held streams: after the idle timeout (0.5 s) each ends with a Status.
    for _, _, reader, writer in held:
        frame = await asyncio.wait_for(read_agent_frame(reader), 5)
        assert frame is not None and frame[0] == ERROR
        assert json.loads(frame[1])["reason"] == "Timeout"
        writer.close()
    await asyncio.sleep(0.1)
    assert server.streams.active == 0
    _, _, status = await run(server, "/exec/ns/p/c?command=true")
    assert status["status"] == "Success"
