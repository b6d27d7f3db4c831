"""The container runtime contract the node agent drives, and the values that cross it.

The node agent never talks to Docker directly: it holds a `Runtime` and calls the methods
below. Two implementations exist — `DockerRuntime` (real containers through the Docker Engine)
and `SimulatedRuntime` (timed records, cheap enough for 500 fake nodes in one process) — and one
conformance suite (tests/integration/nodeagent/test_runtime_conformance.py) runs against both,
so the agent cannot tell them apart except by speed.

Ownership is carried in labels, as kubelet's dockershim did: every container is created with
`io.kubernetes.pod.uid`, `io.kubernetes.pod.namespace`, `io.kubernetes.pod.name`,
`io.kubernetes.container.name`, `io.kubernetes.container.restartCount` and `labkit.node`, and
the runtime adds `labkit.cluster`, the id of the lab it serves (orchestrator/nodeagent/cluster.py:
a hash of the lab's CA). The runtime keeps no other record, so an agent that restarts finds its
containers again with `list_containers(node=...)` and adopts them instead of starting duplicates.

Node names repeat between labs (every lab has a ``node-1``) and one Docker engine may serve
several labs, so a runtime lists only containers carrying both its node's label and its own
cluster's: another lab's ``node-1`` containers are never adopted, and never removed as orphans.
Containers without `labkit.cluster` (made before the label existed) are not listed either, so
no agent adopts or removes them; remove them by hand
(``docker ps -a --filter label=labkit.node`` shows them).

Outcomes the agent must show on a pod are values; failures of the runtime itself are exceptions:

- a pull that fails is an `ImageResult` with `error_reason` ``ErrImagePull`` or
  ``ErrImageNeverPull`` and the registry's message (the agent turns repeated ``ErrImagePull``
  into ``ImagePullBackOff``);
- a container that exits is a `ContainerState` with its exit code and reason
  (``Completed``, ``Error``, ``OOMKilled``);
- `RuntimeUnavailable` (503): the engine does not answer;
- `ContainerNotFound` (404): no container with that id;
- `ContainerNotRunning` (409): exec into a container that is not running;
- `ContainerStartFailed` (400): the container could not be created or started (bad command,
  bad working directory); `.waiting_reason` is kubelet's ``CreateContainerError`` or
  ``RunContainerError``.

Security, for every runtime: never privileged, bridge network (never the host's), no added
capabilities; CPU and memory limits from the pod spec are enforced. The only host paths mounted
are the pod's own volume directories, which the node agent makes under its root directory
(orchestrator/nodeagent/volumes.py); ``hostPath`` volumes are refused by the API server.

Kubernetes equivalent: k8s.io/cri-api/pkg/apis/runtime/v1 (the CRI RuntimeService and
ImageService) and pkg/kubelet/dockershim/labels.go.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, NewType, Protocol, runtime_checkable

from orchestrator.api import timestamps
from orchestrator.api.errors import BadRequest, Conflict, NotFound, Unavailable

ContainerId = NewType("ContainerId", str)

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
PULL_POLICIES: tuple[PullPolicy, ...] = ("Always", "IfNotPresent", "Never")

RunState = Literal["created", "running", "exited"]
"""CRI's CONTAINER_CREATED / CONTAINER_RUNNING / CONTAINER_EXITED."""

# The labels that say who owns a container (the dockershim names, so `docker ps --filter
# label=io.kubernetes.pod.name=web` works as it did on a Docker-based Kubernetes node).
LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_CONTAINER_NAME = "io.kubernetes.container.name"
LABEL_RESTART_COUNT = "io.kubernetes.container.restartCount"
LABEL_NODE = "labkit.node"
LABEL_CLUSTER = "labkit.cluster"
# The cluster of a runtime built without one (tests, a notebook's own runtime); a node agent
# always passes the id of its lab.
DEFAULT_CLUSTER = "default"

REASON_COMPLETED = "Completed"
REASON_ERROR = "Error"
REASON_OOM_KILLED = "OOMKilled"
ERR_IMAGE_PULL = "ErrImagePull"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class RuntimeUnavailable(Unavailable):
    """The container engine does not answer (e.g. dockerd is not running)."""


class ContainerNotFound(NotFound):
    """No container with this id exists in the runtime."""

    def __init__(self, container_id: str) -> None:
        super().__init__(f"container {container_id!r} not found", kind="Container", name=container_id)


class ContainerNotRunning(Conflict):
    """An operation that needs a running container (exec) met one that is not running."""

    def __init__(self, container_id: str) -> None:
        super().__init__(f"container {container_id!r} is not running", kind="Container", name=container_id)


class ContainerStartFailed(BadRequest):
    """The runtime refused to create or start a container; nothing is left behind.

    `waiting_reason` is what kubelet shows in ``state.waiting.reason``: ``CreateContainerError``
    (the runtime refused the configuration) or ``RunContainerError`` (the process did not start,
    e.g. the command is not in the image).
    """

    def __init__(self, message: str, *, waiting_reason: str) -> None:
        super().__init__(message)
        self.waiting_reason = waiting_reason


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageResult:
    """The outcome of `ensure_image`: the image is ready, or why it is not.

    `error_reason` is ``None`` on success. `message` carries the registry's or engine's words on
    failure, and a note on success when something noteworthy happened (a pull that failed for an
    image already present under ``Always``).
    """

    image: str
    image_id: str | None = None
    pulled: bool = False
    error_reason: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.error_reason is None


@dataclass(frozen=True)
class DnsConfig:
    """A container's resolv.conf: what kubelet hands the CRI as the pod sandbox's DNSConfig
    (computed from the pod's dnsPolicy in orchestrator/nodeagent/dns.py)."""

    servers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mount:
    """One volume mount of a container: a directory (or file) the node agent made for the pod.

    `memory_volume` names a tmpfs shared by the pod's containers (``emptyDir.medium: Memory``) of
    `size_bytes`; a runtime that has no tmpfs (the simulated one) uses `host_path` instead.
    """

    container_path: str
    host_path: str
    read_only: bool = False
    memory_volume: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """Everything the runtime needs to create one container of one pod.

    `command` replaces the image's ENTRYPOINT and `args` its CMD, with Kubernetes' rules: given
    `command` without `args`, the image's CMD is not used. `annotations` are the pod's; only the
    simulated runtime reads them (see orchestrator/nodeagent/runtimes/simulated.py).
    """

    pod_uid: str
    namespace: str
    pod_name: str
    container_name: str
    node_name: str
    image: str
    command: Sequence[str] = ()
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    cpu_limit_millicores: int | None = None
    memory_limit_bytes: int | None = None
    restart_count: int = 0
    annotations: Mapping[str, str] = field(default_factory=dict)
    # Files placed in the container before it starts (absolute path → content): the
    # ServiceAccount token, CA and namespace (orchestrator/nodeagent/credentials.py).
    files: Mapping[str, bytes] = field(default_factory=dict)
    mounts: Sequence[Mount] = ()
    # securityContext: "uid" or "uid:gid" (None: the image's user), and a read-only root filesystem
    user: str | None = None
    read_only_root_filesystem: bool = False
    # A file of the node (`termination_log`) the container sees at `termination_message_path`;
    # the node agent reads it after the exit into ``state.terminated.message``.
    termination_log: str | None = None
    termination_message_path: str | None = None
    # None: the runtime's default resolver (dnsPolicy Default, or no --cluster-dns).
    dns: DnsConfig | None = None

    def labels(self) -> dict[str, str]:
        """The ownership labels of the pod's container; the runtime adds its `LABEL_CLUSTER`."""
        return {
            LABEL_POD_UID: self.pod_uid,
            LABEL_POD_NAMESPACE: self.namespace,
            LABEL_POD_NAME: self.pod_name,
            LABEL_CONTAINER_NAME: self.container_name,
            LABEL_RESTART_COUNT: str(self.restart_count),
            LABEL_NODE: self.node_name,
        }

    def runtime_name(self) -> str:
        """The container's name in the engine, dockershim's ``k8s_<container>_<pod>_<ns>_<uid>_<attempt>``.

        Unique per attempt, so a restart never collides with the container it replaces.
        """
        return (
            f"k8s_{self.container_name}_{self.pod_name}_{self.namespace}_{self.pod_uid}_{self.restart_count}"
        )


@dataclass(frozen=True)
class ContainerState:
    """What the runtime knows about one container, as `inspect` and `list_containers` report it.

    Times are RFC3339 in UTC with second precision (``2026-01-02T03:04:05Z``), as in a pod's
    status; `started_at` is ``None`` until the container has started, `finished_at` until it
    exited. `exit_code` and `reason` are set only when `state` is ``"exited"``.
    """

    id: ContainerId
    name: str
    image: str
    image_id: str | None
    state: RunState
    labels: Mapping[str, str]
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    cpu_limit_millicores: int | None = None
    memory_limit_bytes: int | None = None
    privileged: bool = False
    network_mode: str = "bridge"

    @property
    def pod_uid(self) -> str | None:
        return self.labels.get(LABEL_POD_UID)

    @property
    def namespace(self) -> str | None:
        return self.labels.get(LABEL_POD_NAMESPACE)

    @property
    def pod_name(self) -> str | None:
        return self.labels.get(LABEL_POD_NAME)

    @property
    def container_name(self) -> str | None:
        return self.labels.get(LABEL_CONTAINER_NAME)

    @property
    def node_name(self) -> str | None:
        return self.labels.get(LABEL_NODE)

    @property
    def cluster(self) -> str | None:
        return self.labels.get(LABEL_CLUSTER)

    @property
    def restart_count(self) -> int:
        try:
            return int(self.labels.get(LABEL_RESTART_COUNT, "0"))
        except ValueError:
            return 0


@dataclass(frozen=True)
class ExecResult:
    """The outcome of `exec`: the command's exit code and its combined stdout/stderr.

    `exit_code` is ``None`` when the command did not finish within the timeout; kubelet counts
    that as a failed probe ("command timed out").
    """

    exit_code: int | None
    output: bytes

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


@dataclass(frozen=True)
class RuntimeInfo:
    """Who the runtime is, for ``status.nodeInfo.containerRuntimeVersion``."""

    name: str
    version: str

    @property
    def runtime_version(self) -> str:
        """``docker://20.10.24`` or ``labkit-sim://1.0``, the form kubelet reports."""
        return f"{self.name}://{self.version}"


def exit_reason(exit_code: int, *, oom_killed: bool = False) -> str:
    """Kubelet's ``state.terminated.reason`` for an exited container."""
    if oom_killed:
        return REASON_OOM_KILLED
    return REASON_COMPLETED if exit_code == 0 else REASON_ERROR


def rfc3339(moment: datetime | float | None) -> str | None:
    """A datetime or epoch seconds as RFC3339 UTC with second precision; ``None`` stays ``None``."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return timestamps.rfc3339(moment)


def without_pull(image: str, pull_policy: PullPolicy, present: str | None) -> ImageResult | None:
    """What `imagePullPolicy` decides before any registry is asked, the same for every runtime:
    ``Never`` uses the local image or fails with ErrImageNeverPull, ``IfNotPresent`` uses a local
    one; None means pull. `present` is the local image's id, if any.

    Kubernetes equivalent: pkg/kubelet/images/image_manager.go (shouldPullImage, EnsureImageExists)."""
    if pull_policy == "Never":
        if present:
            return ImageResult(image=image, image_id=present)
        return ImageResult(image=image, error_reason=ERR_IMAGE_NEVER_PULL,
                           message=f'Container image "{image}" is not present with pull policy of Never')
    if pull_policy == "IfNotPresent" and present:
        return ImageResult(image=image, image_id=present)
    return None


def normalize_image(image: str) -> str:
    """``busybox`` → ``busybox:latest``: a reference without tag or digest means ``:latest``."""
    if "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else f"{image}:latest"


# --------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Runtime(Protocol):
    """A container runtime as the node agent sees it. Every method is a coroutine.

    Implementations must be safe to call concurrently from many agent tasks, and must not block
    the event loop (a blocking SDK runs in `asyncio.to_thread`).
    """

    @property
    def cluster(self) -> str:
        """The id of the lab this runtime serves, written as ``labkit.cluster`` on its containers."""
        ...

    async def info(self) -> RuntimeInfo:
        """Name and version. Raises `RuntimeUnavailable` when the engine does not answer."""
        ...

    async def ensure_image(
        self, image: str, *, pull_policy: PullPolicy, annotations: Mapping[str, str] | None = None
    ) -> ImageResult:
        """Make `image` available locally, following the pull policy.

        ``IfNotPresent`` pulls when missing; ``Never`` never pulls and answers
        ``ErrImageNeverPull`` when missing; ``Always`` pulls each time, and — a deliberate
        departure from kubelet so that labs work offline — when that pull fails but the image is
        present, uses the local copy and says so in `message`. A failed pull is a value with
        ``error_reason="ErrImagePull"``, never an exception. `annotations` are the pod's (read by
        the simulated runtime only).
        """
        ...

    async def create_and_start(self, spec: ContainerSpec) -> ContainerState:
        """Create and start one container; returns its state right after the start.

        The image must be present (call `ensure_image` first). Raises `ContainerStartFailed`
        when the engine refuses the container; then nothing is left behind.
        """
        ...

    async def list_containers(self, *, node: str) -> list[ContainerState]:
        """Every container labelled as owned by `node` of this runtime's cluster, in any state, oldest first.

        A container with the same node label but another (or no) ``labkit.cluster`` belongs to
        another lab on the same engine and is not listed.
        """
        ...

    async def inspect(self, container_id: str) -> ContainerState:
        """The container's current state. Raises `ContainerNotFound`."""
        ...

    async def stop(self, container_id: str, *, grace_period_seconds: float) -> None:
        """SIGTERM, wait up to the grace period, then SIGKILL; returns once it has exited.

        Stopping a container that already exited does nothing. Raises `ContainerNotFound`.
        """
        ...

    async def remove(self, container_id: str) -> None:
        """Remove the container, killing it if it still runs. Removing a missing one is not an error."""
        ...

    def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        timestamps: bool = False,
        since: datetime | None = None,
    ) -> AsyncIterator[bytes]:
        """The container's output (stdout and stderr interleaved), one line per item.

        Each line keeps its trailing ``b"\\n"``. `timestamps` prefixes each line with its
        RFC3339Nano time and a space (``kubectl logs --timestamps``). With `follow`, lines are
        yielded as they are written and the iterator ends when the container exits. Raises
        `ContainerNotFound` (on first iteration).
        """
        ...

    async def exec(self, container_id: str, command: Sequence[str], *, timeout: float) -> ExecResult:
        """Run `command` inside the running container (exec probes).

        Raises `ContainerNotRunning` when the container is not running, `ContainerNotFound`.
        """
        ...

    async def container_ip(self, container_id: str) -> str | None:
        """The container's address on the bridge network; ``None`` when it is not running."""
        ...

    async def release_pod(self, pod_uid: str) -> None:
        """Remove what the runtime made for the pod beyond its containers (Docker: its tmpfs
        volumes). Called once the pod's containers are removed; idempotent."""
        ...

    async def close(self) -> None:
        """Release connections. The runtime's containers keep running."""
        ...


# --------------------------------------------------------------------------------------------
# Streaming (exec, attach, port-forward): an optional second contract
# --------------------------------------------------------------------------------------------


@runtime_checkable
class ProcessStream(Protocol):
    """One running exec (or attach) session with its standard streams.

    `read` returns ``(channel, data)`` with channel 1 (stdout) or 2 (stderr), or ``None`` once
    the process closed its output. `exit_code` waits for the process's exit code after that
    (``None`` for an attach, which has none to report). `close` releases the session's socket
    and may be called more than once.
    """

    async def read(self) -> tuple[int, bytes] | None: ...

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def resize(self, width: int, height: int) -> None: ...

    async def exit_code(self) -> int | None: ...

    async def close(self) -> None: ...


@runtime_checkable
class StreamingRuntime(Protocol):
    """What a runtime adds so `kubectl exec`, `attach` and `port-forward` reach its containers.

    Kept apart from `Runtime`, so a runtime without streams (the simulated one) still satisfies
    `Runtime`; the node agent serves a documented stand-in for it
    (orchestrator/nodeagent/runtimes/simexec.py).
    """

    async def exec_stream(self, container_id: str, command: Sequence[str], *, stdin: bool,
                          tty: bool) -> ProcessStream:
        """Start `command` in the running container. Raises `ContainerNotRunning`, `ContainerNotFound`."""
        ...

    async def attach_stream(self, container_id: str, *, stdin: bool) -> ProcessStream:
        """Attach to the container's main process. Raises `ContainerNotRunning`, `ContainerNotFound`."""
        ...

    async def port_forward_address(self, container_id: str, port: int) -> tuple[str, int]:
        """Where the node agent dials to reach `port` of the container. Raises `ContainerNotRunning`."""
        ...
