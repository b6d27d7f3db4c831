"""DockerRuntime: the `Runtime` contract on a real Docker Engine, through the `docker` SDK.

The SDK is blocking (requests over the engine's unix socket), so every call runs in
`asyncio.to_thread`; the event loop never waits on Docker. Streams (logs, exec output) are read
a chunk at a time in a thread and closed from the loop — closing the socket is the only way to
interrupt a blocked read, so a cancelled `logs(follow=True)` or a timed-out exec does not leave
a thread stuck for the life of the container.

Errors are translated here, once: connection failures become `RuntimeUnavailable`, an unknown
container `ContainerNotFound`, a refused create/start `ContainerStartFailed`. A failed pull is
not an error but an `ImageResult` carrying the daemon's message (``Error response from daemon:
Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io ...: no such host``).

Ownership: every container carries the pod's labels (runtimes/base.py) plus
``labkit.cluster=<id>``, the runtime's `cluster`; `list_containers` filters on both
``labkit.node`` and ``labkit.cluster``, so agents of two labs that share this engine and both
have a ``node-1`` never see each other's containers (``docker ps -a --filter
label=labkit.node=node-1 --filter label=labkit.cluster=<id>`` shows what one agent sees).
Containers without ``labkit.cluster`` (made by an older version) are neither adopted nor removed.

Every container is created with the same security settings: not privileged, on the default
``bridge`` network, no added capabilities, no restart policy (the node agent restarts containers
itself, per the pod's restartPolicy), with `nano_cpus` and `mem_limit` from the pod's limits and
swap capped at the memory limit (as kubelet sets MemorySwap), so a container that allocates past
its limit is killed by the kernel's OOM killer: exit code 137, reason ``OOMKilled``.

Volumes (`ContainerSpec.mounts`): bind mounts of the directories the node agent made for the pod
(orchestrator/nodeagent/volumes.py; the engine must run on the agent's host to see them), and
for ``emptyDir.medium: Memory`` a named volume ``k8s_<pod uid>_<volume>`` of the ``local`` driver
with ``type=tmpfs`` (its ``sizeLimit`` as ``size=``), which the pod's containers share and
`release_pod` removes.

Kubernetes equivalent: pkg/kubelet/dockershim (docker_container.go, docker_image.go,
helpers.go), the Docker-backed CRI of Kubernetes up to 1.23.
"""

# Ruff sorts `docker` as first-party because the repository has a docker/ folder; it is the SDK.
from __future__ import annotations  # noqa: I001

import asyncio
import contextlib
import io
import json
import logging
import os
import signal
import struct
import tarfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import docker
import httpx
import docker.errors
import docker.types
import requests.exceptions
from docker.utils import kwargs_from_env, parse_repository_tag

from orchestrator.nodeagent.runtimes.base import (
    without_pull,
    DEFAULT_CLUSTER,
    ERR_IMAGE_PULL,
    LABEL_CLUSTER,
    LABEL_NODE,
    LABEL_POD_UID,
    ContainerId,
    ContainerNotFound,
    ContainerNotRunning,
    ContainerSpec,
    ContainerStartFailed,
    ContainerState,
    ExecResult,
    ImageResult,
    ProcessStream,
    PullPolicy,
    RunState,
    RuntimeInfo,
    RuntimeUnavailable,
    exit_reason,
    normalize_image,
)
from orchestrator.nodeagent.runtimes.usage import UsageSample, docker_sample

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# Docker writes "never" as the zero time of Go.
_ZERO_TIME_PREFIX = "0001-01-01"
# A hostname is one DNS label; kubelet truncates the pod name the same way.
_MAX_HOSTNAME = 63


class DockerRuntime:
    """The `Runtime` on the Docker Engine at `base_url` (default: ``DOCKER_HOST`` or the local socket).

    `cluster` is the lab's id (orchestrator/nodeagent/cluster.py); the runtime labels its
    containers with it and sees only containers that carry it.

    Construction does no I/O; the first call connects, and raises `RuntimeUnavailable` when the
    engine does not answer. Use `await DockerRuntime.connect()` to fail early.
    """

    def __init__(self, *, base_url: str | None = None, timeout: float = 60.0, cluster: str = DEFAULT_CLUSTER) -> None:
        if not cluster:
            raise ValueError("cluster must be a non-empty id, e.g. the hash from orchestrator.nodeagent.cluster")
        self._cluster = cluster
        self._base_url = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
        self._timeout = timeout
        self._api_client: docker.APIClient | None = None
        self._api_lock = threading.Lock()
        self._engine: httpx.AsyncClient | None = None  # exec's own calls (see `_engine_call`)

    @classmethod
    async def connect(
        cls, *, base_url: str | None = None, timeout: float = 60.0, cluster: str = DEFAULT_CLUSTER
    ) -> DockerRuntime:
        """A runtime whose engine has just answered a ping; raises `RuntimeUnavailable` otherwise."""
        runtime = cls(base_url=base_url, timeout=timeout, cluster=cluster)
        await runtime._call(lambda api: api.ping())
        return runtime

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def cluster(self) -> str:
        return self._cluster

    # ----------------------------------------------------------------------------------------
    # Plumbing: one place where SDK calls run and their errors are translated
    # ----------------------------------------------------------------------------------------

    def _unavailable(self, cause: BaseException) -> RuntimeUnavailable:
        return RuntimeUnavailable(
            f"Docker engine not reachable at {self._base_url}: is dockerd running? ({cause})"
        )

    def _api(self) -> docker.APIClient:
        """The SDK client, created on first use (in a worker thread: it asks the engine its API version)."""
        with self._api_lock:
            if self._api_client is None:
                kwargs: dict[str, Any] = kwargs_from_env()
                kwargs["base_url"] = self._base_url
                try:
                    self._api_client = docker.APIClient(
                        version="auto", timeout=int(self._timeout), max_pool_size=32, **kwargs
                    )
                except (docker.errors.DockerException, requests.exceptions.ConnectionError) as e:
                    raise self._unavailable(e) from e
            return self._api_client

    def _guarded(self, fn: Callable[[docker.APIClient], T]) -> T:
        try:
            return fn(self._api())
        except requests.exceptions.ConnectionError as e:
            raise self._unavailable(e) from e

    async def _call(self, fn: Callable[[docker.APIClient], T]) -> T:
        return await asyncio.to_thread(self._guarded, fn)

    async def _inspect_raw(self, container_id: str) -> dict[str, Any]:
        def inspect(api: docker.APIClient) -> dict[str, Any]:
            try:
                return api.inspect_container(container_id)
            except docker.errors.NotFound as e:
                raise ContainerNotFound(container_id) from e

        return await self._call(inspect)

    # ----------------------------------------------------------------------------------------
    # Runtime
    # ----------------------------------------------------------------------------------------

    async def info(self) -> RuntimeInfo:
        version = await self._call(lambda api: api.version())
        return RuntimeInfo(name="docker", version=str(version.get("Version", "unknown")))

    async def ensure_image(
        self, image: str, *, pull_policy: PullPolicy, annotations: Mapping[str, str] | None = None
    ) -> ImageResult:
        return await self._call(lambda api: _ensure_image(api, image, pull_policy))

    async def create_and_start(self, spec: ContainerSpec) -> ContainerState:
        container_id = await self._call(lambda api: _create_and_start(api, spec, cluster=self._cluster))
        return state_from_inspect(await self._inspect_raw(container_id))

    async def list_containers(self, *, node: str) -> list[ContainerState]:
        def list_owned(api: docker.APIClient) -> list[dict[str, Any]]:
            found = []
            # Several label filters match only containers carrying all of them.
            owned = [f"{LABEL_NODE}={node}", f"{LABEL_CLUSTER}={self._cluster}"]
            for summary in api.containers(all=True, filters={"label": owned}):
                try:
                    found.append(api.inspect_container(summary["Id"]))
                except docker.errors.NotFound:
                    continue  # removed between the list and the inspect
            return found

        raw = await self._call(list_owned)
        return sorted((state_from_inspect(r) for r in raw), key=lambda s: (s.created_at or "", s.id))

    async def inspect(self, container_id: str) -> ContainerState:
        return state_from_inspect(await self._inspect_raw(container_id))

    async def stop(self, container_id: str, *, grace_period_seconds: float) -> None:
        # Docker takes whole seconds; rounding up never shortens the grace the pod asked for.
        grace = max(0, int(-(-grace_period_seconds // 1)))

        def stop(api: docker.APIClient) -> None:
            try:
                api.stop(container_id, timeout=grace)
            except docker.errors.NotFound as e:
                raise ContainerNotFound(container_id) from e

        await self._call(stop)

    async def release_pod(self, pod_uid: str) -> None:
        def release(api: docker.APIClient) -> None:
            owned = [f"{LABEL_POD_UID}={pod_uid}", f"{LABEL_CLUSTER}={self._cluster}"]
            for volume in (api.volumes(filters={"label": owned}) or {}).get("Volumes") or []:
                try:
                    api.remove_volume(volume["Name"], force=True)
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError as e:  # still in use: a container of the pod survived
                    log.warning("could not remove volume %s of pod %s: %s", volume["Name"], pod_uid, e)

        await self._call(release)

    async def remove(self, container_id: str) -> None:
        def remove(api: docker.APIClient) -> None:
            try:
                api.remove_container(container_id, force=True, v=True)
            except docker.errors.NotFound:
                pass  # already gone: removal is idempotent, as CRI RemoveContainer
            except docker.errors.APIError as e:
                if e.status_code != 409 or "already in progress" not in str(e.explanation):
                    raise

        await self._call(remove)

    async def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        timestamps: bool = False,
        since: datetime | None = None,
    ) -> AsyncIterator[bytes]:
        def open_stream(api: docker.APIClient) -> Any:
            try:
                return api.logs(
                    container_id,
                    stream=True,
                    follow=follow,
                    tail="all" if tail_lines is None else max(0, tail_lines),
                    timestamps=timestamps,
                    since=since.timestamp() if since is not None else None,
                )
            except docker.errors.NotFound as e:
                raise ContainerNotFound(container_id) from e

        stream = await self._call(open_stream)
        try:
            async for line in _lines(stream):
                yield line
        finally:
            stream.close()

    async def exec(self, container_id: str, command: Sequence[str], *, timeout: float) -> ExecResult:
        def start(api: docker.APIClient) -> tuple[str, Any]:
            try:
                exec_id = api.exec_create(container_id, list(command), stdout=True, stderr=True)["Id"]
            except docker.errors.NotFound as e:
                raise ContainerNotFound(container_id) from e
            except docker.errors.APIError as e:
                if e.status_code == 409:  # "Container ... is not running"
                    raise ContainerNotRunning(container_id) from e
                raise
            return exec_id, api.exec_start(exec_id, stream=True)

        exec_id, stream = await self._call(start)
        chunks: list[bytes] = []
        try:
            await asyncio.wait_for(asyncio.to_thread(_drain, stream, chunks), timeout)
        except TimeoutError:
            # Like kubelet: the probe fails, the command itself may keep running in the container.
            return ExecResult(exit_code=None, output=b"".join(chunks))
        finally:
            stream.close()
        result = await self._call(lambda api: api.exec_inspect(exec_id))
        return ExecResult(exit_code=int(result.get("ExitCode") or 0), output=b"".join(chunks))

    async def container_ip(self, container_id: str) -> str | None:
        raw = await self._inspect_raw(container_id)
        if not raw["State"].get("Running"):
            return None
        settings = raw.get("NetworkSettings") or {}
        bridge = (settings.get("Networks") or {}).get("bridge") or {}
        return bridge.get("IPAddress") or settings.get("IPAddress") or None

    async def container_stats(self, container_id: str) -> UsageSample | None:
        """One one-shot read of the engine's stats (the container's cgroup): `StatsRuntime`.

        ``one_shot`` skips the engine's second read a second later (for ``precpu_stats``): the node
        agent keeps the previous sample itself (orchestrator/nodeagent/stats.py)."""
        def read(api: docker.APIClient) -> dict[str, Any] | None:
            try:
                return api.stats(container_id, stream=False, one_shot=True)  # type: ignore[no-any-return]
            except docker.errors.NotFound:
                return None

        raw = await self._call(read)
        return docker_sample(raw) if raw else None

    # ----------------------------------------------------------------------------------------
    # Streaming (StreamingRuntime): exec, attach, port-forward
    # ----------------------------------------------------------------------------------------

    async def exec_stream(self, container_id: str, command: Sequence[str], *, stdin: bool,
                          tty: bool) -> ProcessStream:
        def create(api: docker.APIClient) -> str:
            try:
                return str(api.exec_create(container_id, list(command), stdout=True, stderr=True, stdin=stdin,
                                           tty=tty)["Id"])
            except docker.errors.NotFound as e:
                raise ContainerNotFound(container_id) from e
            except docker.errors.APIError as e:
                if e.status_code == 409:  # "Container ... is not running"
                    raise ContainerNotRunning(container_id) from e
                raise ContainerStartFailed(str(e.explanation or e), waiting_reason="RunContainerError") from e

        api_version = await self._api_version()
        exec_body = {"AttachStdin": stdin, "AttachStdout": True, "AttachStderr": True, "Tty": tty,
                     "Cmd": list(command)}
        answer = await self._engine_call("POST", f"/v{api_version}/containers/{container_id}/exec", exec_body)
        if answer is None:  # not a unix socket: through the SDK
            exec_id = await self._call(create)
        else:
            status, created = answer
            if status == 404:
                raise ContainerNotFound(container_id)
            if status == 409:  # "Container ... is not running"
                raise ContainerNotRunning(container_id)
            if status >= 400 or "Id" not in created:
                raise ContainerStartFailed(str(created.get("message") or created), waiting_reason="RunContainerError")
            exec_id = str(created["Id"])
        body = json.dumps({"Detach": False, "Tty": tty}).encode()
        reader, writer = await self._hijack(f"/v{api_version}/exec/{exec_id}/start", body)
        return DockerProcessStream(self, reader, writer, tty=tty, exec_id=exec_id, container_id=container_id)

    async def attach_stream(self, container_id: str, *, stdin: bool) -> ProcessStream:
        raw = await self._inspect_raw(container_id)
        if not raw["State"].get("Running"):
            raise ContainerNotRunning(container_id)
        tty = bool((raw.get("Config") or {}).get("Tty"))
        api_version = await self._api_version()
        query = f"stream=1&stdout=1&stderr=1&stdin={1 if stdin else 0}"
        reader, writer = await self._hijack(f"/v{api_version}/containers/{container_id}/attach?{query}", b"")
        return DockerProcessStream(self, reader, writer, tty=tty, exec_id=None, container_id=container_id)

    async def port_forward_address(self, container_id: str, port: int) -> tuple[str, int]:
        # kubelet enters the pod's network namespace and dials localhost; the agent dials the
        # container's bridge address instead, which needs no privileges but does not reach a
        # server that listens on the container's 127.0.0.1 only.
        ip = await self.container_ip(container_id)
        if ip is None:
            raise ContainerNotRunning(container_id)
        return ip, port

    async def _engine_call(self, method: str, path: str, body: dict[str, Any] | None = None
                           ) -> tuple[int, dict[str, Any]] | None:
        """One engine API call on the event loop, over a kept-alive connection to the engine's unix
        socket: what an exec asks on its way (create, inspect) would otherwise cost a worker-thread
        hop and, in the SDK, a new connection per exec id (its pools are keyed by URL). None when
        the engine is not on a unix socket (then the caller uses the SDK)."""
        url = urlsplit(self._base_url)
        if url.scheme not in ("unix", "http+unix"):
            return None
        if self._engine is None:
            self._engine = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=url.path, limits=httpx.Limits(max_keepalive_connections=4)),
                base_url="http://docker", timeout=self._timeout)
        try:
            response = await self._engine.request(method, path, json=body)
        except httpx.HTTPError as e:
            raise self._unavailable(e) from e
        try:
            answer = response.json()
        except ValueError:
            answer = {"message": response.text}
        return response.status_code, answer if isinstance(answer, dict) else {"message": str(answer)}

    async def _exec_inspect(self, exec_id: str) -> dict[str, Any]:
        answer = await self._engine_call("GET", f"/v{await self._api_version()}/exec/{exec_id}/json")
        if answer is None:
            return dict(await self._call(lambda api: api.exec_inspect(exec_id)))
        status, info = answer
        if status >= 400:
            raise RuntimeUnavailable(f"Docker engine answered {status} to an exec inspect: {info.get('message')}")
        return info

    async def _api_version(self) -> str:
        if self._api_client is not None:
            return str(self._api_client.api_version)  # known once connected: no thread hop
        return await self._call(lambda api: str(api.api_version))

    async def _hijack(self, path: str, body: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """POST `path` with ``Upgrade: tcp``: the engine answers 101 and the connection becomes the
        process's raw streams (the Docker CLI's "hijacked" connection).

        Done on an asyncio connection of our own rather than the SDK's ``socket=True``: the SDK
        reads the response head through a buffer, which may swallow the first bytes of output.
        """
        url = urlsplit(self._base_url)
        try:
            if url.scheme in ("unix", "http+unix"):
                reader, writer = await asyncio.open_unix_connection(url.path)
            elif url.scheme in ("tcp", "http") and not os.environ.get("DOCKER_TLS_VERIFY"):
                reader, writer = await asyncio.open_connection(url.hostname, url.port or 2375)
            else:
                raise RuntimeUnavailable(f"exec and attach need a unix:// or plain tcp:// DOCKER_HOST, not {self._base_url}")
        except OSError as e:
            raise self._unavailable(e) from e
        head = (f"POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(body)}\r\n\r\n")
        try:
            writer.write(head.encode() + body)
            await writer.drain()
            response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self._timeout)
            status = int(response.split(b" ", 2)[1])
            if status not in (101, 200):
                detail = await asyncio.wait_for(reader.read(64 * 1024), 5)
                message = detail.decode(errors="replace")
                with contextlib.suppress(ValueError):
                    message = str(json.loads(message[message.find("{"):]).get("message", message))
                if status == 404:
                    raise ContainerNotFound(path.split("/")[3])
                if status == 409:
                    raise ContainerNotRunning(path.split("/")[3])
                raise RuntimeUnavailable(f"Docker engine answered {status} to {path}: {message}")
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def close(self) -> None:
        client, self._api_client = self._api_client, None
        if client is not None:
            await asyncio.to_thread(client.close)
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.aclose()


# --------------------------------------------------------------------------------------------
# Blocking helpers (run in worker threads)
# --------------------------------------------------------------------------------------------


def _image_id(api: docker.APIClient, ref: str) -> str | None:
    try:
        return str(api.inspect_image(ref)["Id"])
    except docker.errors.ImageNotFound:
        return None


def _ensure_image(api: docker.APIClient, image: str, pull_policy: PullPolicy) -> ImageResult:
    ref = normalize_image(image)
    present = _image_id(api, ref)
    decided = without_pull(image, pull_policy, present)
    if decided is not None:
        return decided
    error = _pull(api, ref)
    if error is None:
        return ImageResult(image=image, image_id=_image_id(api, ref), pulled=True)
    if present:
        # Offline labs: `image: busybox` defaults to Always; a local copy beats an ErrImagePull.
        return ImageResult(image=image, image_id=present, message=f"pull failed, using the local image: {error}")
    return ImageResult(image=image, error_reason=ERR_IMAGE_PULL, message=error)


def _pull(api: docker.APIClient, ref: str) -> str | None:
    """Pulls `ref`; the daemon's error message, or ``None`` on success."""
    repository, tag = parse_repository_tag(ref)
    try:
        # Streamed, because a pull that fails half-way reports it inside the stream with status 200.
        for message in api.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in message:
                return f"Error response from daemon: {message['error']}"
    except docker.errors.APIError as e:
        return f"Error response from daemon: {e.explanation or e}"
    return None


def _hostname(pod_name: str) -> str:
    return pod_name[:_MAX_HOSTNAME].rstrip("-.") or "pod"


def _mounts(spec: ContainerSpec, *, cluster: str) -> list[docker.types.Mount]:
    out = []
    for m in spec.mounts:
        if m.memory_volume is not None:
            options = {"type": "tmpfs", "device": "tmpfs"}
            if m.size_bytes:
                options["o"] = f"size={m.size_bytes}"
            out.append(docker.types.Mount(
                m.container_path, m.memory_volume, type="volume", read_only=m.read_only,
                labels={LABEL_POD_UID: spec.pod_uid, LABEL_CLUSTER: cluster, LABEL_NODE: spec.node_name},
                driver_config=docker.types.DriverConfig("local", options)))
        else:
            out.append(docker.types.Mount(m.container_path, m.host_path, type="bind", read_only=m.read_only))
    if spec.termination_log and spec.termination_message_path:
        out.append(docker.types.Mount(spec.termination_message_path, spec.termination_log, type="bind"))
    return out


def _create_and_start(api: docker.APIClient, spec: ContainerSpec, *, cluster: str) -> str:
    memory = spec.memory_limit_bytes or None
    host_config = api.create_host_config(
        mounts=_mounts(spec, cluster=cluster) or None,
        privileged=False,
        network_mode="bridge",
        nano_cpus=spec.cpu_limit_millicores * 1_000_000 if spec.cpu_limit_millicores else None,
        mem_limit=memory,
        memswap_limit=memory,
        read_only=spec.read_only_root_filesystem or None,
        # Docker writes these into the container's /etc/resolv.conf (kubelet's dockershim did the same).
        dns=list(spec.dns.servers) or None if spec.dns else None,
        dns_search=list(spec.dns.searches) or None if spec.dns else None,
        dns_opt=list(spec.dns.options) or None if spec.dns else None,
    )
    try:
        created = api.create_container(
            image=normalize_image(spec.image),
            # Kubernetes `command` is the ENTRYPOINT and `args` the CMD; Docker, like Kubernetes,
            # ignores the image's CMD once ENTRYPOINT is given.
            entrypoint=list(spec.command) or None,
            command=list(spec.args) or None,
            environment=dict(spec.env),
            working_dir=spec.working_dir,
            user=spec.user or None,
            labels={**spec.labels(), LABEL_CLUSTER: cluster},
            name=spec.runtime_name(),
            hostname=_hostname(spec.pod_name),
            host_config=host_config,
            detach=True,
        )
    except docker.errors.APIError as e:
        raise ContainerStartFailed(str(e.explanation or e), waiting_reason="CreateContainerError") from e
    container_id = str(created["Id"])
    try:
        if spec.files:
            # Copied in before the start (no bind mount): the process finds them from its first instruction.
            api.put_archive(container_id, "/", _tar(spec.files))
        api.start(container_id)
    except docker.errors.APIError as e:
        # A container that never ran is noise in `list_containers`; the error says everything.
        try:
            api.remove_container(container_id, force=True, v=True)
        except docker.errors.APIError:
            log.warning("could not remove container %s after a failed start", container_id)
        raise ContainerStartFailed(str(e.explanation or e), waiting_reason="RunContainerError") from e
    return container_id


def _kill_abandoned_exec(api: docker.APIClient, exec_id: str, container_id: str) -> None:
    try:
        info = api.exec_inspect(exec_id)
    except docker.errors.APIError:
        return
    pid = int(info.get("Pid") or 0)
    if not info.get("Running") or pid <= 0:
        return
    try:
        owned = container_id in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        owned = False  # not visible from here: another PID namespace or host
    if not owned:
        log.info("exec %s in %s still runs after its client left; its process is not ours to signal",
                 exec_id[:12], container_id[:12])
        return
    try:
        os.kill(pid, signal.SIGKILL)
        log.info("killed exec %s (pid %d) in %s: its client went away", exec_id[:12], pid, container_id[:12])
    except OSError as e:
        log.info("exec %s in %s still runs after its client left: %s", exec_id[:12], container_id[:12], e)


def _tar(files: Mapping[str, bytes]) -> bytes:
    """A tar of ``files`` (absolute paths) to extract at ``/``: directories 0755, files 0644, root-owned."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        made: set[str] = set()
        for path, content in sorted(files.items()):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                directory = "/".join(parts[:i])
                if directory not in made:
                    made.add(directory)
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _drain(stream: Iterator[bytes], into: list[bytes]) -> None:
    for chunk in stream:  # CancellableStream ends quietly when the loop closes it
        into.append(chunk)


async def _lines(stream: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Re-cuts the engine's frames (any size) into lines, reading each chunk in a thread."""
    pending = b""
    while True:
        chunk = await asyncio.to_thread(next, stream, None)
        if chunk is None:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


def _docker_time(value: str | None) -> str | None:
    """``2026-11-26T04:03:03.158878104Z`` → ``2026-11-26T04:03:03Z``; Go's zero time → ``None``."""
    if not value or value.startswith(_ZERO_TIME_PREFIX):
        return None
    return value[:19] + "Z"


def state_from_inspect(raw: Mapping[str, Any]) -> ContainerState:
    """A `docker inspect` document as a `ContainerState`."""
    st = raw.get("State") or {}
    status = st.get("Status", "")
    state: RunState
    if st.get("Running") or status in ("running", "paused", "restarting"):
        state = "running"
    elif status == "created":
        state = "created"
    else:  # exited, dead, removing
        state = "exited"
    host = raw.get("HostConfig") or {}
    nano_cpus = host.get("NanoCpus") or 0
    exit_code = int(st.get("ExitCode", 0)) if state == "exited" else None
    return ContainerState(
        id=ContainerId(raw["Id"]),
        name=str(raw.get("Name", "")).lstrip("/"),
        image=str((raw.get("Config") or {}).get("Image", "")),
        image_id=raw.get("Image"),
        state=state,
        labels=dict((raw.get("Config") or {}).get("Labels") or {}),
        created_at=_docker_time(raw.get("Created")),
        started_at=_docker_time(st.get("StartedAt")),
        finished_at=_docker_time(st.get("FinishedAt")) if state == "exited" else None,
        exit_code=exit_code,
        reason=exit_reason(exit_code, oom_killed=bool(st.get("OOMKilled"))) if exit_code is not None else None,
        message=st.get("Error") or None,
        cpu_limit_millicores=nano_cpus // 1_000_000 if nano_cpus else None,
        memory_limit_bytes=host.get("Memory") or None,
        privileged=bool(host.get("Privileged")),
        network_mode=str(host.get("NetworkMode") or ""),
    )


class DockerProcessStream:
    """One hijacked exec or attach connection to the engine (a `ProcessStream`).

    Without a TTY the engine multiplexes stdout and stderr: each chunk has an 8-byte header
    (stream type 1 or 2, three zero bytes, a big-endian length); with a TTY the bytes are the
    terminal's output as is. Closing stdin is a TCP half-close, which the engine passes on as
    end-of-file to the process.

    Docker has no way to stop an exec. An exec whose session is closed before it exited (the
    client went away) would run on in the container — with a TTY the closed terminal hangs it
    up, but ``sleep 600`` without one ignores everything — so `close` kills it: SIGKILL to its
    process, found by the host PID the engine reports, and only if that process's cgroup names
    the container (an agent in another PID namespace, or a reused PID, is left alone). Where
    the agent may not signal it (not root, a remote engine), the command runs to its end, as
    on Kubernetes.
    """

    def __init__(self, runtime: DockerRuntime, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 tty: bool, exec_id: str | None, container_id: str | None = None) -> None:
        self._runtime = runtime
        self._reader = reader
        self._writer = writer
        self._tty = tty
        self.exec_id = exec_id
        self._container_id = container_id
        self._exited = False

    async def read(self) -> tuple[int, bytes] | None:
        try:
            if self._tty:
                data = await self._reader.read(32 * 1024)
                return (1, data) if data else None
            head = await self._reader.readexactly(8)
            kind, length = head[0], struct.unpack(">I", head[4:])[0]
            data = await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        return (2 if kind == 2 else 1), data

    async def write_stdin(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close_stdin(self) -> None:
        if self._writer.can_write_eof():
            with contextlib.suppress(OSError):
                self._writer.write_eof()

    async def resize(self, width: int, height: int) -> None:
        def resize(api: docker.APIClient) -> bool:
            try:
                if self.exec_id is not None:
                    api.exec_resize(self.exec_id, height=height, width=width)
                elif self._container_id is not None:
                    api.resize(self._container_id, height=height, width=width)
                return True
            except docker.errors.APIError as e:
                log.debug("resize to %dx%d refused: %s", width, height, e)
                return False

        # The first size usually arrives before the engine has started the process, which refuses
        # it; retry briefly, as the Docker CLI does (then the terminal keeps its default size).
        for delay in (0.01, 0.02, 0.04, 0.08, 0.16):
            if await self._runtime._call(resize):
                return
            await asyncio.sleep(delay)

    async def exit_code(self) -> int | None:
        if self.exec_id is None:
            return None
        exec_id = self.exec_id
        # The output ends a moment before the engine records the exit; wait for it briefly.
        for _ in range(50):
            info = await self._runtime._exec_inspect(exec_id)
            if not info.get("Running"):
                self._exited = True
                return int(info.get("ExitCode") or 0)
            await asyncio.sleep(0.05)
        return None

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        if self.exec_id is not None and self._container_id is not None and not self._exited:
            self._exited = True
            exec_id, container_id = self.exec_id, self._container_id
            await self._runtime._call(lambda api: _kill_abandoned_exec(api, exec_id, container_id))
