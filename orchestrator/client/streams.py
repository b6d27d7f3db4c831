"""Exec and port-forward from Python, as the official client does them: WebSocket channels.

`exec_command` opens ``pods/<name>/exec`` with ``v5.channel.k8s.io`` (v4 as a fallback),
sends stdin on channel 0 and, on v5, says "stdin is finished" with the close message (255 0),
writes channels 1 and 2 to the given sinks, and returns the exit code from the Status on
channel 3. `forward_connection` carries one TCP connection over ``pods/<name>/portforward``
(``v4.channel.k8s.io``: data on channel 0, errors on channel 1, each starting with the port as
two little-endian bytes) — one WebSocket per connection, as the Python client does.

A refused upgrade raises the API server's Status as an `ApiError`, so callers report the same
reason kubectl would.

Kubernetes equivalent: k8s.io/client-go/tools/remotecommand/websocket.go,
kubernetes-client/python kubernetes/stream/ws_client.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from orchestrator.api.errors import ApiError, BadRequest, Unavailable, from_status
from orchestrator.api.streaming import CLOSE, ERROR, RESIZE, STDERR, STDIN, STDOUT, V4, V5
from orchestrator.client.rest import ApiClient, tls_context

Sink = Callable[[bytes], Any]
StdinChunks = Callable[[], Awaitable[bytes]]  # returns b"" at the end of input


@dataclass(frozen=True)
class StreamTarget:
    """Where and as whom streams are opened: the API server's WebSocket URL, token and TLS
    (with the client certificate, if the kubeconfig has one)."""

    server: str
    headers: dict[str, str]
    ssl_context: ssl.SSLContext | None

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str] | None = None) -> StreamTarget:
        """The current context of a kubeconfig (parsed by `ApiClient.from_kubeconfig`)."""
        captured: dict[str, Any] = {}

        class _Capture(ApiClient):
            def __init__(self, server: str, **kwargs: Any) -> None:  # noqa: D107 - records, builds nothing
                captured.update(kwargs, server=server)

        _Capture.from_kubeconfig(path)
        context: ssl.SSLContext | None = None
        if captured["server"].startswith("https://"):
            verify = tls_context(ca_data=captured.get("ca_data"), ca_file=captured.get("ca_file"),
                                 insecure_skip_tls_verify=bool(captured.get("insecure_skip_tls_verify")),
                                 client_cert=captured.get("client_cert"))
            context = verify if isinstance(verify, ssl.SSLContext) else ssl.create_default_context()
        token = captured.get("token")
        return cls(captured["server"].rstrip("/"), {"Authorization": f"Bearer {token}"} if token else {}, context)

    def url(self, path: str, params: list[tuple[str, str]]) -> str:
        base = "wss://" + self.server[len("https://"):] if self.server.startswith("https://") else \
            "ws://" + self.server[len("http://"):]
        return base + quote(path) + ("?" + urlencode(params) if params else "")

    async def open(self, path: str, params: list[tuple[str, str]], protocols: list[str]) -> ClientConnection:
        try:
            return await connect(self.url(path, params), ssl=self.ssl_context, additional_headers=self.headers,
                                 subprotocols=protocols, max_size=None, open_timeout=15)  # type: ignore[arg-type]
        except InvalidStatus as err:
            try:
                raise from_status(json.loads(err.response.body or b"")) from None
            except ValueError:
                raise Unavailable(f"the API server refused the stream: HTTP {err.response.status_code}") from None
        except OSError as err:
            raise Unavailable(f"the API server at {self.server} is not reachable: {err}") from None


def exit_code_of(status: dict[str, Any]) -> int:
    """The exit code a channel-3 Status reports; raises for a failure that is not an exit code."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message", 1))
    raise from_status({"code": status.get("code") or 500, **status})


async def exec_command(
    target: StreamTarget, *, namespace: str, pod: str, command: list[str], container: str | None = None,
    stdin: StdinChunks | None = None, stdout: Sink, stderr: Sink, tty: bool = False,
    terminal_size: tuple[int, int] | None = None,
) -> int:
    """Run `command` in the pod; returns its exit code."""
    if not command:
        raise BadRequest("a command is required")
    params = [("command", c) for c in command] + [
        ("stdout", "true"), ("stderr", "false" if tty else "true"),
        ("stdin", "true" if stdin else "false"), ("tty", "true" if tty else "false")]
    if container:
        params.append(("container", container))
    ws = await target.open(f"/api/v1/namespaces/{namespace}/pods/{pod}/exec", params, [V5, V4])
    status: dict[str, Any] | None = None
    try:
        if terminal_size is not None:
            await ws.send(bytes([RESIZE]) + json.dumps({"Width": terminal_size[0], "Height": terminal_size[1]}).encode())

        async def send_stdin() -> None:
            assert stdin is not None
            while chunk := await stdin():
                await ws.send(bytes([STDIN]) + chunk)
            if ws.subprotocol == V5:
                await ws.send(bytes([CLOSE, STDIN]))

        feeding = asyncio.ensure_future(send_stdin()) if stdin else None
        try:
            async for message in ws:
                data = message.encode() if isinstance(message, str) else message
                if not data:
                    continue
                if data[0] == STDOUT:
                    stdout(data[1:])
                elif data[0] == STDERR:
                    stderr(data[1:])
                elif data[0] == ERROR:
                    status = json.loads(data[1:])
        except ConnectionClosed:
            pass
        finally:
            if feeding is not None:
                feeding.cancel()
                with contextlib.suppress(BaseException):
                    await feeding
    finally:
        await ws.close()
    if status is None:
        raise Unavailable("the stream ended without an exit status")
    return exit_code_of(status)


async def forward_connection(target: StreamTarget, *, namespace: str, pod: str, port: int,
                             reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str | None:
    """Carry one local TCP connection to `port` of the pod; returns the error the server sent, if any."""
    ws = await target.open(f"/api/v1/namespaces/{namespace}/pods/{pod}/portforward", [("ports", str(port))], [V4])
    error = b""
    seen = set()

    async def local_to_pod() -> None:
        while chunk := await reader.read(32 * 1024):
            await ws.send(bytes([0]) + chunk)
        await asyncio.Event().wait()  # v4 cannot half-close: keep reading until the pod's side ends

    async def pod_to_local() -> None:
        nonlocal error
        async for message in ws:
            data = message.encode() if isinstance(message, str) else message
            if not data or data[0] > 1:
                continue
            if data[0] not in seen:  # each channel's first message is the port number
                seen.add(data[0])
                if struct.unpack("<H", data[1:3])[0] != port:
                    raise BadRequest(f"the server answered for another port than {port}")
                continue
            if data[0] == 0:
                writer.write(data[1:])
                await writer.drain()
            else:
                error += data[1:]

    tasks = [asyncio.ensure_future(local_to_pod()), asyncio.ensure_future(pod_to_local())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ws.close()
        writer.close()
    return error.decode(errors="replace") or None


__all__ = ["ApiError", "StreamTarget", "exec_command", "exit_code_of", "forward_connection"]
