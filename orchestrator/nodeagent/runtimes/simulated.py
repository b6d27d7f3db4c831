"""SimulatedRuntime: the `Runtime` contract without Docker — containers are timed records.

For scale labs one process hosts hundreds of fake nodes, so a simulated container costs a small
record and nothing else: no task, no timer, no thread. Its state is a function of time, worked
out when someone looks (`inspect`, `list_containers`, `logs`, `exec`, `stop`): a container
planned to exit at t=12 s is "running" when inspected at t=11 s and "exited" (finished at 12 s)
when inspected at t=13 s. Only a `logs(follow=True)` reader or a `stop` that waits out a grace
period sleeps, on the injected clock — so tests drive whole lifecycles with a `FakeClock` in no
real time, and 500 nodes x 30 pods cost ~15,000 small objects.

What a container "does" comes from the pod's annotations (`ContainerSpec.annotations`). Each key
may be given for the whole pod, ``sim.labkit.io/<key>``, or for one container,
``sim.labkit.io/<container>.<key>``, which wins:

====================================  ======================================================
``sim.labkit.io/run-seconds: "5"``    exits 5 s after starting (default: runs until stopped)
``sim.labkit.io/exit-code: "1"``      the exit code when it exits by itself (default 0);
                                      without run-seconds it exits right after starting,
                                      which with restartPolicy Always is a CrashLoopBackOff
``sim.labkit.io/oom-killed: "true"``  exits with 137, reason OOMKilled
``sim.labkit.io/ignore-sigterm:       `stop` waits the whole grace period, then kills (137);
"true"``                              otherwise SIGTERM ends it at once with 143
``sim.labkit.io/probe-fails: "true"`` every `exec` (exec probes) exits 1; otherwise 0
``sim.labkit.io/pull-fails: "true"``  every pull fails: ErrImagePull (pod-wide key only)
``sim.labkit.io/termination-message:  written to the container's terminationMessagePath file
"text"``                              when it exits (the agent reports it as the message)
====================================  ======================================================

An image whose name contains ``doesnotexist`` fails to pull too, as it would from a registry.
The images `DEFAULT_IMAGES` are present from the start (the same two the Docker test setup
builds), so ``imagePullPolicy: Never`` behaves as on a prepared lab node.

Logs are a few lines: ``started <image> as <container> in pod <ns>/<name>``, the command line if
the spec has one, and a last line saying how it ended (``exited with code 1``, ``received
SIGTERM, exiting``, ...), each stamped with the simulated time.

Kubernetes equivalent: none upstream; kubemark's hollow kubelet (pkg/kubemark) with its fake
runtime serves the same purpose for scale tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import re
import shlex
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestrator.client.clock import Clock, LoopClock
from orchestrator.nodeagent.runtimes.base import (
    DEFAULT_CLUSTER,
    ERR_IMAGE_PULL,
    LABEL_CLUSTER,
    REASON_ERROR,
    REASON_OOM_KILLED,
    ContainerId,
    ContainerNotFound,
    ContainerNotRunning,
    ContainerSpec,
    ContainerStartFailed,
    ContainerState,
    ExecResult,
    ImageResult,
    PullPolicy,
    RuntimeInfo,
    exit_reason,
    normalize_image,
    rfc3339,
    without_pull,
)

ANNOTATION_PREFIX = "sim.labkit.io/"
RUN_SECONDS = "run-seconds"
EXIT_CODE = "exit-code"
OOM_KILLED = "oom-killed"
IGNORE_SIGTERM = "ignore-sigterm"
PROBE_FAILS = "probe-fails"
PULL_FAILS = "pull-fails"
TERMINATION_MESSAGE = "termination-message"

DEFAULT_IMAGES: tuple[str, ...] = ("labkit/busybox:1.0", "busybox:latest")
RUNTIME_NAME = "labkit-sim"
RUNTIME_VERSION = "1.0"

EXIT_SIGTERM = 143  # 128 + 15: a process that ends on SIGTERM's default action
EXIT_SIGKILL = 137  # 128 + 9


def sim_annotation(annotations: Mapping[str, str], key: str, *, container: str | None = None) -> str | None:
    """The value of ``sim.labkit.io/<container>.<key>``, else of ``sim.labkit.io/<key>``."""
    if container is not None:
        value = annotations.get(f"{ANNOTATION_PREFIX}{container}.{key}")
        if value is not None:
            return value
    return annotations.get(f"{ANNOTATION_PREFIX}{key}")


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def _number(spec: ContainerSpec, key: str, kind: type[int] | type[float]) -> int | float | None:
    raw = sim_annotation(spec.annotations, key, container=spec.container_name)
    if raw is None:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise ContainerStartFailed(
            f'annotation {ANNOTATION_PREFIX}{key}: "{raw}" is not {"an integer" if kind is int else "a number"}',
            waiting_reason="CreateContainerError",
        ) from None
    if value < 0:
        raise ContainerStartFailed(
            f'annotation {ANNOTATION_PREFIX}{key}: "{raw}" must not be negative',
            waiting_reason="CreateContainerError",
        )
    return value


@dataclass(slots=True)
class _Plan:
    """How a container will end if nobody stops it (read from the annotations at start)."""

    exit_after: float | None  # seconds after start; None: runs until stopped
    exit_code: int
    oom_killed: bool
    ignore_sigterm: bool
    probe_fails: bool

    @classmethod
    def from_spec(cls, spec: ContainerSpec) -> _Plan:
        run_seconds = _number(spec, RUN_SECONDS, float)
        exit_code = _number(spec, EXIT_CODE, int)
        oom = _is_true(sim_annotation(spec.annotations, OOM_KILLED, container=spec.container_name))
        if run_seconds is None and (exit_code is not None or oom):
            run_seconds = 0.0  # told how it ends but not when: it ends right away
        return cls(
            exit_after=run_seconds,
            exit_code=EXIT_SIGKILL if oom else int(exit_code or 0),
            oom_killed=oom,
            ignore_sigterm=_is_true(sim_annotation(spec.annotations, IGNORE_SIGTERM, container=spec.container_name)),
            probe_fails=_is_true(sim_annotation(spec.annotations, PROBE_FAILS, container=spec.container_name)),
        )


@dataclass(slots=True)
class _Container:
    """One simulated container. Times are on the runtime's clock."""

    id: ContainerId
    spec: ContainerSpec
    image: str
    image_id: str
    plan: _Plan
    ip: str
    started: float
    exit_at: float | None
    # Computed once: list_containers of 500 nodes every second must not redo them.
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    finished: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    logs: list[tuple[float, bytes]] = field(default_factory=list)
    # Created only while someone follows the logs or waits; set and dropped on every change.
    changed: asyncio.Event | None = None
    removed: bool = False


# The simulated pod network: one /22 per node out of 10.128.0.0/12 (1,024 nodes of 1,022 pods),
# like the podCIDR the node IPAM controller gives each node. A node's block follows from the
# number at the end of its name (node-7 → the 7th block), so agents in different processes never
# hand out the same address; other names hash into the same space.
POD_NETWORK = ipaddress.IPv4Network("10.128.0.0/12")
NODE_CIDR_PREFIX = 22


def node_pod_cidr(node_name: str) -> ipaddress.IPv4Network:
    """The block of pod addresses of the node called ``node_name``."""
    blocks = 2 ** (NODE_CIDR_PREFIX - POD_NETWORK.prefixlen)
    digits = re.search(r"(\d+)$", node_name)
    index = int(digits.group(1)) if digits else int(hashlib.sha256(node_name.encode()).hexdigest(), 16)
    size = 2 ** (32 - NODE_CIDR_PREFIX)
    return ipaddress.IPv4Network((int(POD_NETWORK.network_address) + (index % blocks) * size, NODE_CIDR_PREFIX))


class _NodeAddresses:
    """host-local IPAM in small: the next free address of the node's block, in turn, skipping those in
    use (an address is reused only after the others, as the CNI plugin does)."""

    def __init__(self, cidr: ipaddress.IPv4Network) -> None:
        self._base = int(cidr.network_address)
        self._size = cidr.num_addresses
        self._next = 2  # .0 is the network, .1 the gateway
        self._in_use: set[str] = set()

    def take(self) -> str:
        for _ in range(self._size - 3):
            host = self._next
            self._next = self._next + 1 if self._next + 1 < self._size - 1 else 2
            address = str(ipaddress.IPv4Address(self._base + host))
            if address not in self._in_use:
                self._in_use.add(address)
                return address
        raise ContainerStartFailed("the node's pod CIDR is exhausted", waiting_reason="CreateContainerError")

    def release(self, address: str | None) -> None:
        self._in_use.discard(address or "")


class SimulatedRuntime:
    """The `Runtime` as timed records. One instance may serve many nodes (containers carry their node).

    `clock` is where time comes from (default: the event loop's); tests pass a `FakeClock`.
    `cluster` is the lab's id, written as ``labkit.cluster`` on every container as the Docker
    runtime does. The records live in this object only, so no other lab can see them and
    `list_containers` needs no filter on it.
    """

    def __init__(
        self, *, clock: Clock | None = None, images: Iterable[str] = DEFAULT_IMAGES, cluster: str = DEFAULT_CLUSTER
    ) -> None:
        if not cluster:
            raise ValueError("cluster must be a non-empty id, e.g. the hash from orchestrator.nodeagent.cluster")
        self.cluster = cluster
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._images: dict[str, str] = {normalize_image(i): _image_id(normalize_image(i)) for i in images}
        self._containers: dict[ContainerId, _Container] = {}
        self._by_node: dict[str, dict[ContainerId, None]] = {}  # insertion-ordered sets: oldest first
        self._names: dict[str, ContainerId] = {}
        self._addresses: dict[str, _NodeAddresses] = {}  # node name → its pod CIDR's allocator
        self._epoch: float | None = None  # wall time minus clock time, fixed at first use

    # ----------------------------------------------------------------------------------------
    # Time and state
    # ----------------------------------------------------------------------------------------

    def _now(self) -> float:
        now = self._clock.now()
        if self._epoch is None:
            self._epoch = time.time() - now
        return now

    def _wall(self, at: float) -> float:
        self._now()
        assert self._epoch is not None
        return self._epoch + at

    def _get(self, container_id: str) -> _Container:
        c = self._containers.get(ContainerId(container_id))
        if c is None:
            raise ContainerNotFound(container_id)
        self._settle(c)
        return c

    def _settle(self, c: _Container) -> None:
        """Applies a planned exit whose time has come (the lazy half of the simulation)."""
        if c.finished is None and c.exit_at is not None and self._now() >= c.exit_at:
            if c.plan.oom_killed:
                self._finish(c, at=c.exit_at, code=EXIT_SIGKILL, reason=REASON_OOM_KILLED,
                             line=f"killed: out of memory ({ANNOTATION_PREFIX}{OOM_KILLED})")
            else:
                self._finish(c, at=c.exit_at, code=c.plan.exit_code, line=f"exited with code {c.plan.exit_code}")

    def _finish(self, c: _Container, *, at: float, code: int, line: str, reason: str | None = None) -> None:
        c.finished, c.exit_code = at, code
        c.finished_at = rfc3339(self._wall(at))
        c.reason = reason or exit_reason(code)
        message = sim_annotation(c.spec.annotations, TERMINATION_MESSAGE, container=c.spec.container_name)
        if message is not None and c.spec.termination_log:
            try:
                with open(c.spec.termination_log, "w") as log_file:
                    log_file.write(message)
            except OSError:
                pass  # the agent removed the pod's directory: nobody will read it
        self._log(c, at, line)

    def _log(self, c: _Container, at: float, line: str) -> None:
        c.logs.append((at, line.encode() + b"\n"))
        self._notify(c)

    @staticmethod
    def _notify(c: _Container) -> None:
        if c.changed is not None:
            c.changed.set()
            c.changed = None

    def _state(self, c: _Container) -> ContainerState:
        running = c.finished is None
        return ContainerState(
            id=c.id,
            name=c.name,
            image=c.image,
            image_id=c.image_id,
            state="running" if running else "exited",
            labels=c.labels,
            created_at=c.started_at,
            started_at=c.started_at,
            finished_at=c.finished_at,
            exit_code=c.exit_code,
            reason=c.reason,
            cpu_limit_millicores=c.spec.cpu_limit_millicores,
            memory_limit_bytes=c.spec.memory_limit_bytes,
            privileged=False,
            network_mode="bridge",
        )

    async def _wait_for_change(self, c: _Container, *, until: float | None) -> None:
        """Sleeps until the container changes (a log line, its end) or the clock reaches `until`."""
        if c.changed is None:
            c.changed = asyncio.Event()
        waiters = [asyncio.ensure_future(c.changed.wait())]
        if until is not None:
            waiters.append(asyncio.ensure_future(self._clock.sleep(max(0.0, until - self._now()))))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    # ----------------------------------------------------------------------------------------
    # Runtime
    # ----------------------------------------------------------------------------------------

    async def info(self) -> RuntimeInfo:
        return RuntimeInfo(name=RUNTIME_NAME, version=RUNTIME_VERSION)

    async def ensure_image(
        self, image: str, *, pull_policy: PullPolicy, annotations: Mapping[str, str] | None = None
    ) -> ImageResult:
        ref = normalize_image(image)
        # pull-fails simulates a node that does not have the image and cannot get it.
        fails = _is_true(sim_annotation(annotations or {}, PULL_FAILS))
        decided = without_pull(image, pull_policy, None if fails else self._images.get(ref))
        if decided is not None:
            return decided
        if fails:
            message = f'Error response from daemon: simulated pull failure ({ANNOTATION_PREFIX}{PULL_FAILS}: "true")'
        elif "doesnotexist" in ref:
            repository = ref.rsplit(":", 1)[0] if "@" not in ref else ref.split("@", 1)[0]
            message = (
                f"Error response from daemon: pull access denied for {repository}, repository does not "
                "exist or may require 'docker login': denied: requested access to the resource is denied"
            )
        else:
            self._images[ref] = _image_id(ref)
            return ImageResult(image=image, image_id=self._images[ref], pulled=True)
        return ImageResult(image=image, error_reason=ERR_IMAGE_PULL, message=message)

    async def create_and_start(self, spec: ContainerSpec) -> ContainerState:
        ref = normalize_image(spec.image)
        image_id = self._images.get(ref)
        if image_id is None:
            raise ContainerStartFailed(f"No such image: {ref}", waiting_reason="CreateContainerError")
        name = spec.runtime_name()
        if name in self._names:
            raise ContainerStartFailed(
                f'Conflict. The container name "/{name}" is already in use by container '
                f'"{self._names[name]}". You have to remove (or rename) that container to be able to '
                "reuse that name.",
                waiting_reason="CreateContainerError",
            )
        plan = _Plan.from_spec(spec)
        now = self._now()
        addresses = self._addresses.get(spec.node_name)
        if addresses is None:
            addresses = self._addresses[spec.node_name] = _NodeAddresses(node_pod_cidr(spec.node_name))
        c = _Container(
            id=ContainerId(os.urandom(32).hex()),
            spec=spec,
            image=spec.image,
            image_id=image_id,
            plan=plan,
            ip=addresses.take(),
            started=now,
            exit_at=None if plan.exit_after is None else now + plan.exit_after,
            name=name,
            labels={**spec.labels(), LABEL_CLUSTER: self.cluster},
            started_at=rfc3339(self._wall(now)),
        )
        self._containers[c.id] = c
        self._by_node.setdefault(spec.node_name, {})[c.id] = None
        self._names[name] = c.id
        self._log(c, now, f"started {spec.image} as {spec.container_name} in pod {spec.namespace}/{spec.pod_name}")
        if spec.command or spec.args:
            self._log(c, now, f"command: {shlex.join([*spec.command, *spec.args])}")
        self._settle(c)
        return self._state(c)

    async def list_containers(self, *, node: str) -> list[ContainerState]:
        owned = [self._containers[cid] for cid in self._by_node.get(node, {})]
        for c in owned:
            self._settle(c)
        return [self._state(c) for c in owned]

    async def inspect(self, container_id: str) -> ContainerState:
        return self._state(self._get(container_id))

    async def stop(self, container_id: str, *, grace_period_seconds: float) -> None:
        c = self._get(container_id)
        if c.finished is not None:
            return
        if not c.plan.ignore_sigterm:
            self._finish(c, at=self._now(), code=EXIT_SIGTERM, line="received SIGTERM, exiting")
            return
        self._log(c, self._now(), "received SIGTERM, ignoring it")
        deadline = self._now() + max(0.0, grace_period_seconds)
        # Wait out the grace period, unless it ends first by itself or another caller ends it.
        while c.finished is None and not c.removed and self._now() < deadline:
            until = deadline if c.exit_at is None else min(deadline, c.exit_at)
            await self._wait_for_change(c, until=until)
            self._settle(c)
        if c.finished is None:
            self._finish(c, at=self._now(), code=EXIT_SIGKILL, line="killed by SIGKILL after the grace period")

    async def remove(self, container_id: str) -> None:
        c = self._containers.pop(ContainerId(container_id), None)
        if c is None:
            return
        self._by_node.get(c.spec.node_name, {}).pop(c.id, None)
        self._names.pop(c.name, None)
        if (addresses := self._addresses.get(c.spec.node_name)) is not None:
            addresses.release(c.ip)
        c.removed = True
        self._settle(c)
        if c.finished is None:
            self._finish(c, at=self._now(), code=EXIT_SIGKILL, line="killed: container removed", reason=REASON_ERROR)
        self._notify(c)

    async def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        timestamps: bool = False,
        since: datetime | None = None,
    ) -> AsyncIterator[bytes]:
        c = self._get(container_id)
        since_at = None if since is None else since.timestamp()

        def render(at: float, line: bytes) -> bytes | None:
            wall = self._wall(at)
            if since_at is not None and wall < since_at:
                return None
            return _timestamp(wall) + b" " + line if timestamps else line

        lines = c.logs if tail_lines is None else c.logs[max(0, len(c.logs) - max(0, tail_lines)):]
        sent = len(c.logs)
        for at, line in list(lines):
            out = render(at, line)
            if out is not None:
                yield out
        while follow:
            self._settle(c)
            for at, line in c.logs[sent:]:
                out = render(at, line)
                if out is not None:
                    yield out
            sent = len(c.logs)
            if c.finished is not None or c.removed:  # a removed container was finished first
                return
            await self._wait_for_change(c, until=c.exit_at)

    async def exec(self, container_id: str, command: Sequence[str], *, timeout: float) -> ExecResult:
        c = self._get(container_id)
        if c.finished is not None:
            raise ContainerNotRunning(container_id)
        if c.plan.probe_fails:
            return ExecResult(exit_code=1, output=f'probe failed: {ANNOTATION_PREFIX}{PROBE_FAILS}: "true"\n'.encode())
        return ExecResult(exit_code=0, output=b"")

    async def container_ip(self, container_id: str) -> str | None:
        c = self._get(container_id)
        return c.ip if c.finished is None else None

    async def release_pod(self, pod_uid: str) -> None:
        return None  # a simulated pod's volumes are the agent's directories only

    def spec_of(self, container_id: str) -> ContainerSpec | None:
        """The spec a container was started with (its resolved env and mounts), for the
        exec stand-in (orchestrator/nodeagent/runtimes/simexec.py); None when unknown."""
        c = self._containers.get(ContainerId(container_id))
        return None if c is None else c.spec

    async def close(self) -> None:
        return None


def _image_id(ref: str) -> str:
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


def _timestamp(wall: float) -> bytes:
    """RFC3339Nano, as Docker stamps log lines: ``2026-01-02T03:04:05.123456789Z``."""
    moment = datetime.fromtimestamp(wall, UTC)
    nanos = int(round((wall % 1) * 1e9)) % 1_000_000_000
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z".encode()
