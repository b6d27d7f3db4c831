"""The node agent's side of exec, attach and port-forward: what the API server's upgrade reaches.

Served on the log server's port (orchestrator/nodeagent/logserver.py), with the same bearer
token check, at kubelet's paths::

    GET /exec/<namespace>/<pod>/<container>?command=..&command=..&stdin=true&tty=true
    GET /attach/<namespace>/<pod>/<container>?stdin=false
    GET /portForward/<namespace>/<pod>?port=8080

with ``Connection: Upgrade`` and ``Upgrade: labkit-stream/1``. What can be refused is refused
before ``101 Switching Protocols``, as a Status: the pod is not on this node (404), the
container is not one of the pod's or not running (400), no command (400), port-forward on the
simulated runtime (400), the port does not answer (503), too many streams (429). After the
upgrade, exec and attach exchange agent frames (orchestrator/api/streaming.py) and end with the
Status frame that carries the exit code; a port-forward connection is the TCP connection to the
container's port itself.

Exec and attach run through the runtime's `StreamingRuntime` methods (the Docker exec/attach
API); a runtime without them — the simulated one — gets the deterministic stand-in of
orchestrator/nodeagent/runtimes/simexec.py.

Limits: at most `max_streams` streams at once per agent process (one more is 429
TooManyRequests), and a stream with no byte in either direction for `idle_timeout` seconds is
ended (kubelet's ``--streaming-connection-idle-timeout``, 4 h by default). Every session's
engine socket is closed in a ``finally``, whichever side ends first.

Kubernetes equivalent: pkg/kubelet/server/server.go (getExec, getAttach, getPortForward),
pkg/kubelet/cri/streaming.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from orchestrator.api.errors import BadRequest, NotFound, TooManyRequests, Unavailable
from orchestrator.api.streaming import (
    CLOSE,
    ERROR,
    RELAY_BUFFER,
    RELAY_CHUNK,
    RESIZE,
    STDIN,
    agent_frame,
    exit_status,
    failure_status,
    framed_port,
    parse_resize,
    read_agent_frame,
    status_bytes,
    success_status,
)
from orchestrator.nodeagent.podworker import PodWorker
from orchestrator.nodeagent.runtimes.base import (
    ContainerNotFound,
    ContainerNotRunning,
    ProcessStream,
    StreamingRuntime,
)
from orchestrator.nodeagent.runtimes.simexec import SimulatedProcess
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime

log = logging.getLogger(__name__)

DEFAULT_MAX_STREAMS = 64
DEFAULT_IDLE_TIMEOUT = 4 * 3600.0
DIAL_TIMEOUT = 5.0
UPGRADED = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: labkit-stream/1\r\n\r\n"


class StreamServer:
    """Streams of the pods `find_worker` knows."""

    def __init__(self, *, find_worker: Callable[[str, str], PodWorker | None], max_streams: int = DEFAULT_MAX_STREAMS,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        if max_streams < 1 or idle_timeout <= 0:
            raise ValueError("max_streams must be >= 1 and idle_timeout > 0")
        self._find_worker = find_worker
        self.max_streams = max_streams
        self.idle_timeout = idle_timeout
        self.active = 0

    async def serve(self, kind: str, parts: list[str], query: dict[str, list[str]],
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one upgrade request; raises ApiError for a refusal (sent by the caller as a Status)."""
        if kind == "portForward":
            if len(parts) != 2:
                raise NotFound("the node agent serves /portForward/<namespace>/<pod>")
            await self._port_forward(*parts, query, reader, writer)
            return
        if len(parts) != 3:
            raise NotFound(f"the node agent serves /{kind}/<namespace>/<pod>/<container>")
        namespace, pod_name, container = parts
        worker = self._worker(namespace, pod_name)
        container_id = _container_id(worker, container)
        command = query.get("command", [])
        stdin, tty = _flag(query, "stdin"), _flag(query, "tty")
        if kind == "exec" and not command:
            raise BadRequest("you must specify at least 1 command")
        self._admit()
        self.active += 1  # counted from here, so concurrent starts cannot pass the limit together
        try:
            process = await self._start(worker, kind, container, container_id, command, stdin=stdin, tty=tty)
        except BaseException:
            self.active -= 1
            raise
        try:
            writer.write(UPGRADED)
            await writer.drain()
            await self._pump_process(process, command, reader, writer)
        finally:
            self.active -= 1
            await process.close()

    # --- exec and attach ---------------------------------------------------------------------

    def _worker(self, namespace: str, pod_name: str) -> PodWorker:
        worker = self._find_worker(namespace, pod_name)
        if worker is None:
            raise NotFound(f'pod "{pod_name}" in namespace "{namespace}" is not running on this node',
                           kind="pods", name=pod_name)
        return worker

    def _admit(self) -> None:
        if self.active >= self.max_streams:
            raise TooManyRequests(f"this node agent already serves {self.active} streams (its limit); "
                                  "try again when one has ended", retry_after_seconds=1)

    async def _start(self, worker: PodWorker, kind: str, container: str, container_id: str, command: list[str], *,
                     stdin: bool, tty: bool) -> ProcessStream:
        runtime = worker.config.runtime
        pod_name = (worker.pod.get("metadata") or {}).get("name", "")
        try:
            if isinstance(runtime, StreamingRuntime):
                if kind == "exec":
                    return await runtime.exec_stream(container_id, command, stdin=stdin, tty=tty)
                return await runtime.attach_stream(container_id, stdin=stdin)
            state = await runtime.inspect(container_id)
            if state.state != "running":
                raise ContainerNotRunning(container_id)
        except (ContainerNotRunning, ContainerNotFound):
            raise BadRequest(f'container "{container}" in pod "{pod_name}" is not running') from None
        started = runtime.spec_of(container_id) if isinstance(runtime, SimulatedRuntime) else None
        if started is not None:
            env, mounts = dict(started.env), list(started.mounts)
        else:
            env = {e.get("name", ""): str(e.get("value", "")) for e in _container_spec(worker, container).get("env") or []
                   if "value" in e}
            mounts = []
        return SimulatedProcess(command, pod_name=pod_name, env=env, attach=kind == "attach", mounts=mounts)

    async def _pump_process(self, process: ProcessStream, command: list[str], reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        idle = _Idle(self.idle_timeout)

        async def from_apiserver() -> None:
            while (frame := await read_agent_frame(reader)) is not None:
                idle.touch()
                channel, payload = frame
                if channel == STDIN:
                    await process.write_stdin(payload)
                elif channel == CLOSE:
                    await process.close_stdin()
                elif channel == RESIZE and (size := parse_resize(payload)) is not None:
                    await process.resize(*size)

        async def to_apiserver() -> None:
            while (item := await process.read()) is not None:
                idle.touch()
                writer.write(agent_frame(*item))
                await writer.drain()
            code = await process.exit_code()
            status = exit_status(command, code) if code is not None else success_status()
            writer.write(agent_frame(ERROR, status_bytes(status)))
            await writer.drain()

        async def idle_out() -> None:
            await idle.expired()
            writer.write(agent_frame(ERROR, status_bytes(failure_status(
                f"the stream was idle for {self.idle_timeout:g}s and has been closed", reason="Timeout", code=504))))
            await writer.drain()

        await _first(from_apiserver(), to_apiserver(), idle_out())

    # --- port-forward ------------------------------------------------------------------------

    async def _port_forward(self, namespace: str, pod_name: str, query: dict[str, list[str]],
                            reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker = self._worker(namespace, pod_name)
        try:
            port = int((query.get("port") or [""])[-1])
            if not 0 < port < 65536:
                raise ValueError(port)
        except ValueError:
            raise BadRequest("port: a port number 1-65535 is required") from None
        runtime = worker.config.runtime
        if not isinstance(runtime, StreamingRuntime):
            raise BadRequest(f"cannot forward port {port} of pod {pod_name}: it runs on the simulated runtime, "
                             "whose containers have no network to connect to")
        container = _container_for_port(worker, port)
        container_id = _container_id(worker, container)
        self._admit()
        self.active += 1
        try:
            try:
                host, target = await runtime.port_forward_address(container_id, port)
            except (ContainerNotRunning, ContainerNotFound):
                raise BadRequest(f'container "{container}" in pod "{pod_name}" is not running') from None
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, target, limit=RELAY_BUFFER), DIAL_TIMEOUT)
            except (OSError, TimeoutError) as err:
                raise Unavailable(f"error forwarding port {port} to pod {pod_name}: cannot connect to "
                                  f"{host}:{target}: {err or 'timed out'}") from None
        except BaseException:
            self.active -= 1
            raise
        try:
            writer.write(UPGRADED)
            await writer.drain()
            idle = _Idle(self.idle_timeout)
            api_reader, api_writer = framed_port(reader, writer)
            await _splice(api_reader, up_writer, idle, api_writer, up_reader)
        finally:
            self.active -= 1
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()


class _Idle:
    """When the last byte went through; `expired` returns once none has for `timeout` seconds."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.last = time.monotonic()

    def touch(self) -> None:
        self.last = time.monotonic()

    async def expired(self) -> None:
        while (left := self.last + self.timeout - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 5.0))


async def _splice(a_reader: Any, b_writer: asyncio.StreamWriter, idle: _Idle,
                  a_writer: Any, b_reader: asyncio.StreamReader) -> None:
    """Copy both ways, passing each direction's end on as a half-close; done when both ended (or idle)."""

    async def copy(src: Any, dst: Any) -> None:
        try:
            while chunk := await src.read(RELAY_CHUNK):
                idle.touch()
                dst.write(chunk)
                await dst.drain()
        except ConnectionError:
            pass
        finally:
            if dst.can_write_eof() and not dst.is_closing():
                with contextlib.suppress(OSError):
                    dst.write_eof()

    async def both() -> None:
        await asyncio.gather(copy(a_reader, b_writer), copy(b_reader, a_writer))

    await _first(both(), idle.expired())


async def _first(*coros: Any) -> None:
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, (ConnectionError, asyncio.IncompleteReadError)):
            log.warning("stream ended with %r", result)


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or [""])[-1].lower() in ("true", "1")


def _container_spec(worker: PodWorker, container: str) -> dict[str, Any]:
    for c in (worker.pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == container:
            return dict(c)
    return {}


def _container_id(worker: PodWorker, container: str) -> str:
    pod_name = (worker.pod.get("metadata") or {}).get("name", "")
    if not _container_spec(worker, container):
        raise BadRequest(f"container {container} is not valid for pod {pod_name}")
    ids = worker.container_ids()
    if container not in ids:
        raise BadRequest(f'container "{container}" in pod "{pod_name}" is not running (it has not started)')
    return str(ids[container])


def _container_for_port(worker: PodWorker, port: int) -> str:
    """The container that declares `port`, else the first: on Docker each container has its own address."""
    containers = (worker.pod.get("spec") or {}).get("containers") or []
    for c in containers:
        if any(p.get("containerPort") == port for p in c.get("ports") or []):
            return str(c.get("name"))
    if not containers:
        raise BadRequest("the pod has no containers")
    return str(containers[0].get("name"))


