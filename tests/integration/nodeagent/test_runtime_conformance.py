"""One conformance suite for every container runtime: the simulated one and Docker.

Each test states a behaviour once and runs it against both runtimes. A container's "program" is
given twice in its spec: as a shell command, which Docker runs in the busybox test image, and as
``sim.labkit.io/*`` annotations, which tell the simulated runtime what that command would do.
Docker ignores the annotations; the simulation ignores the command.

The Docker run needs an engine and the test image (.ci/docker.sh makes both). Without an engine
it is skipped, unless LABKIT_REQUIRE_DOCKER=1, which makes it a failure. Every container a test
makes carries a node name unique to that test, and is removed by that label afterwards, also
when the test fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.nodeagent.runtimes.base import (
    ContainerNotFound,
    ContainerNotRunning,
    ContainerSpec,
    ContainerStartFailed,
    ContainerState,
    Runtime,
    RuntimeUnavailable,
)
from orchestrator.nodeagent.runtimes.docker import DockerRuntime
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime

TEST_IMAGE = "labkit/busybox:1.0"
MISSING_IMAGE = "labkit/doesnotexist:1"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RFC3339_NANO_PREFIX = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ")


async def _docker_runtime() -> DockerRuntime:
    required = os.environ.get("LABKIT_REQUIRE_DOCKER") == "1"
    try:
        runtime = await DockerRuntime.connect()
    except RuntimeUnavailable as e:
        if required:
            pytest.fail(f"{e.message} (LABKIT_REQUIRE_DOCKER=1 says the Docker tests must run; .ci/docker.sh starts one)")
        pytest.skip(reason=f"no Docker engine answers (set LABKIT_REQUIRE_DOCKER=1 to make this a failure): {e.message}")
    if not (await runtime.ensure_image(TEST_IMAGE, pull_policy="Never")).ok:
        await runtime.close()
        message = f"the test image {TEST_IMAGE} is missing: run tests/images/build_busybox.sh"
        if required:
            pytest.fail(message)
        pytest.skip(reason=message)
    return runtime


@dataclass
class Harness:
    """A runtime plus the bookkeeping that lets every test clean up after itself."""

    runtime: Runtime
    kind: str
    node: str = field(default_factory=lambda: f"conformance-{uuid.uuid4().hex[:10]}")
    nodes: set[str] = field(default_factory=set)

    def spec(
        self,
        name: str,
        *,
        script: str,
        annotations: Mapping[str, str] | None = None,
        node: str | None = None,
        **overrides: Any,
    ) -> ContainerSpec:
        """A container running ``sh -c <script>`` (Docker) / doing what `annotations` say (simulation)."""
        node = node or self.node
        self.nodes.add(node)
        values: dict[str, Any] = {
            "pod_uid": str(uuid.uuid4()),
            "namespace": "conformance",
            "pod_name": f"pod-{name}",
            "container_name": name,
            "node_name": node,
            "image": TEST_IMAGE,
            "command": ("sh", "-c", script),
            "annotations": dict(annotations or {}),
        }
        values.update(overrides)
        return ContainerSpec(**values)

    async def start(self, name: str, *, script: str, **kwargs: Any) -> ContainerState:
        return await self.runtime.create_and_start(self.spec(name, script=script, **kwargs))

    async def wait_exited(self, container_id: str, *, timeout: float = 15.0) -> ContainerState:
        deadline = time.monotonic() + timeout
        while True:
            state = await self.runtime.inspect(container_id)
            if state.state == "exited":
                return state
            assert time.monotonic() < deadline, f"container still {state.state} after {timeout}s"
            await asyncio.sleep(0.1)

    async def lines(self, container_id: str, **kwargs: Any) -> list[bytes]:
        return [line async for line in self.runtime.logs(container_id, **kwargs)]

    async def clean_up(self) -> None:
        for node in self.nodes | {self.node}:
            for container in await self.runtime.list_containers(node=node):
                await self.runtime.remove(container.id)


@pytest.fixture(params=["simulated", pytest.param("docker", marks=pytest.mark.docker)])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    runtime: Runtime = SimulatedRuntime() if request.param == "simulated" else await _docker_runtime()
    h = Harness(runtime=runtime, kind=request.param)
    try:
        yield h
    finally:
        try:
            await h.clean_up()
        finally:
            await runtime.close()


# ------------------------------------------------------------------------------------------------
# Lifecycle
# ------------------------------------------------------------------------------------------------


async def test_started_container_is_running_with_an_id_and_a_start_time(harness: Harness) -> None:
    started = await harness.start("sleeper", script="echo hello; sleep 3600")

    assert started.id and started.state == "running"
    assert started.started_at is not None and RFC3339.match(started.started_at)
    assert started.exit_code is None and started.reason is None and started.finished_at is None
    inspected = await harness.runtime.inspect(started.id)
    assert (inspected.id, inspected.state, inspected.started_at) == (started.id, "running", started.started_at)


@pytest.mark.parametrize(("code", "reason"), [(0, "Completed"), (1, "Error")])
async def test_a_container_that_exits_reports_its_exit_code_and_reason(
    harness: Harness, code: int, reason: str
) -> None:
    started = await harness.start(
        f"exits-{code}", script=f"exit {code}", annotations={"sim.labkit.io/exit-code": str(code)}
    )

    exited = await harness.wait_exited(started.id)

    assert (exited.exit_code, exited.reason) == (code, reason)
    assert exited.started_at is not None and exited.finished_at is not None
    assert RFC3339.match(exited.finished_at) and exited.finished_at >= exited.started_at


async def test_per_container_annotation_overrides_the_pod_wide_one(harness: Harness) -> None:
    started = await harness.start(
        "app",
        script="exit 3",
        annotations={"sim.labkit.io/exit-code": "1", "sim.labkit.io/app.exit-code": "3"},
    )

    assert (await harness.wait_exited(started.id)).exit_code == 3


async def test_containers_carry_the_pod_identity_labels(harness: Harness) -> None:
    spec = harness.spec("labelled", script="sleep 3600", restart_count=2)

    state = await harness.runtime.create_and_start(spec)

    assert {
        "io.kubernetes.pod.uid": spec.pod_uid,
        "io.kubernetes.pod.namespace": "conformance",
        "io.kubernetes.pod.name": "pod-labelled",
        "io.kubernetes.container.name": "labelled",
        "io.kubernetes.container.restartCount": "2",
        "labkit.node": harness.node,
    }.items() <= dict(state.labels).items()
    assert (state.pod_uid, state.container_name, state.node_name, state.restart_count) == (
        spec.pod_uid, "labelled", harness.node, 2,
    )
    assert state.name == spec.runtime_name()


async def test_list_containers_finds_exactly_the_nodes_own_containers(harness: Harness) -> None:
    mine = [await harness.start(f"mine-{i}", script="sleep 3600") for i in range(2)]
    exited = await harness.start("mine-done", script="exit 0", annotations={"sim.labkit.io/exit-code": "0"})
    other = await harness.start("theirs", script="sleep 3600", node=f"{harness.node}-other")
    await harness.wait_exited(exited.id)

    listed = await harness.runtime.list_containers(node=harness.node)

    assert {c.id for c in listed} == {mine[0].id, mine[1].id, exited.id}
    assert other.id not in {c.id for c in listed}
    assert {c.id: c.state for c in listed}[exited.id] == "exited"


async def test_starting_a_container_whose_image_is_missing_fails_with_create_container_error(
    harness: Harness,
) -> None:
    with pytest.raises(ContainerStartFailed) as failed:
        await harness.start("no-image", script="true", image=MISSING_IMAGE)

    assert failed.value.waiting_reason == "CreateContainerError"
    assert await harness.runtime.list_containers(node=harness.node) == []


async def test_remove_kills_and_forgets_a_container_and_is_idempotent(harness: Harness) -> None:
    started = await harness.start("doomed", script="sleep 3600")

    await harness.runtime.remove(started.id)
    await harness.runtime.remove(started.id)

    with pytest.raises(ContainerNotFound):
        await harness.runtime.inspect(started.id)
    assert await harness.runtime.list_containers(node=harness.node) == []


async def test_inspect_of_an_unknown_container_raises_not_found(harness: Harness) -> None:
    with pytest.raises(ContainerNotFound):
        await harness.runtime.inspect("0" * 64)


# ------------------------------------------------------------------------------------------------
# Stop
# ------------------------------------------------------------------------------------------------


async def test_stop_ends_a_container_that_handles_sigterm_quickly(harness: Harness) -> None:
    started = await harness.start("polite", script="trap 'exit 0' TERM; sleep 3600 & wait")
    await asyncio.sleep(0.3)  # let the shell install its trap

    t0 = time.monotonic()
    await harness.runtime.stop(started.id, grace_period_seconds=10)
    elapsed = time.monotonic() - t0

    assert elapsed < 3, f"stop took {elapsed:.1f}s although the container exits on SIGTERM"
    assert (await harness.runtime.inspect(started.id)).state == "exited"


async def test_stop_kills_a_container_that_ignores_sigterm_after_the_grace_period(harness: Harness) -> None:
    grace = 2
    started = await harness.start(
        "stubborn",
        script="trap '' TERM; while true; do sleep 1; done",
        annotations={"sim.labkit.io/ignore-sigterm": "true"},
    )
    await asyncio.sleep(0.3)

    t0 = time.monotonic()
    await harness.runtime.stop(started.id, grace_period_seconds=grace)
    elapsed = time.monotonic() - t0

    assert grace <= elapsed < grace + 5, f"stop took {elapsed:.1f}s with a {grace}s grace period"
    stopped = await harness.runtime.inspect(started.id)
    assert (stopped.state, stopped.exit_code, stopped.reason) == ("exited", 137, "Error")


async def test_stopping_an_exited_container_does_nothing(harness: Harness) -> None:
    started = await harness.start("done", script="exit 0", annotations={"sim.labkit.io/exit-code": "0"})
    before = await harness.wait_exited(started.id)

    await harness.runtime.stop(started.id, grace_period_seconds=1)

    after = await harness.runtime.inspect(started.id)
    assert (after.exit_code, after.finished_at) == (before.exit_code, before.finished_at)


# ------------------------------------------------------------------------------------------------
# Logs
# ------------------------------------------------------------------------------------------------


async def test_logs_tail_lines_gives_the_last_lines(harness: Harness) -> None:
    started = await harness.start(
        "printer",
        script="for i in 1 2 3 4 5; do echo line $i; done",
        annotations={"sim.labkit.io/exit-code": "0"},
    )
    await harness.wait_exited(started.id)

    everything = await harness.lines(started.id)

    assert len(everything) >= 3 and all(line.endswith(b"\n") for line in everything)
    assert await harness.lines(started.id, tail_lines=2) == everything[-2:]
    assert await harness.lines(started.id, tail_lines=100) == everything
    assert await harness.lines(started.id, tail_lines=0) == []


async def test_logs_with_timestamps_prefix_each_line_with_its_time(harness: Harness) -> None:
    started = await harness.start("stamped", script="echo one; echo two", annotations={"sim.labkit.io/exit-code": "0"})
    await harness.wait_exited(started.id)

    plain = await harness.lines(started.id)
    stamped = await harness.lines(started.id, timestamps=True)

    assert all(RFC3339_NANO_PREFIX.match(line) for line in stamped)
    assert [RFC3339_NANO_PREFIX.sub(b"", line) for line in stamped] == plain


async def test_logs_follow_yields_lines_as_printed_and_ends_when_the_container_exits(harness: Harness) -> None:
    started = await harness.start(
        "talker",
        script="echo first; sleep 2; echo second; sleep 1",
        annotations={"sim.labkit.io/run-seconds": "3"},
    )
    t0 = time.monotonic()
    arrivals: list[float] = []

    async with asyncio.timeout(15):
        async for _line in harness.runtime.logs(started.id, follow=True):
            arrivals.append(time.monotonic() - t0)
    ended = time.monotonic() - t0

    assert arrivals and arrivals[0] < 1.5, f"first line came at {arrivals[:1]}s, not while the container ran"
    assert 2.5 <= ended < 8, f"follow ended after {ended:.1f}s for a container that runs 3s"
    assert (await harness.runtime.inspect(started.id)).state == "exited"


async def test_logs_since_a_moment_skips_the_lines_written_before_it(harness: Harness) -> None:
    started = await harness.start("early", script="echo early", annotations={"sim.labkit.io/exit-code": "0"})
    await harness.wait_exited(started.id)

    everything = await harness.lines(started.id, since=datetime(2000, 1, 1, tzinfo=UTC))
    nothing = await harness.lines(started.id, since=datetime.now(UTC) + timedelta(hours=1))

    assert everything == await harness.lines(started.id) and everything
    assert nothing == []


async def test_cancelling_a_follow_of_a_silent_container_returns_promptly(harness: Harness) -> None:
    started = await harness.start("silent", script="sleep 3600")
    t0 = time.monotonic()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1):
            async with aclosing(harness.runtime.logs(started.id, follow=True)) as lines:
                async for _line in lines:
                    pass

    assert time.monotonic() - t0 < 3
    # The reader's thread (Docker) was released: a second follow works and can be cut the same way.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await harness.lines(started.id, follow=True)


# ------------------------------------------------------------------------------------------------
# Exec, network, images, limits
# ------------------------------------------------------------------------------------------------


async def test_exec_reports_the_commands_exit_code(harness: Harness) -> None:
    healthy = await harness.start("healthy", script="touch /tmp/healthy; sleep 3600")
    sick = await harness.start("sick", script="sleep 3600", annotations={"sim.labkit.io/probe-fails": "true"})
    probe = ["sh", "-c", "test -e /tmp/healthy"]

    deadline = time.monotonic() + 5  # the shell needs a moment to create the file
    while (ok := await harness.runtime.exec(healthy.id, probe, timeout=5)).exit_code != 0:
        assert time.monotonic() < deadline, f"probe kept failing: {ok}"
        await asyncio.sleep(0.1)
    failed = await harness.runtime.exec(sick.id, probe, timeout=5)

    assert failed.exit_code == 1 and not failed.timed_out


async def test_exec_into_an_exited_container_raises_not_running(harness: Harness) -> None:
    started = await harness.start("gone", script="exit 0", annotations={"sim.labkit.io/exit-code": "0"})
    await harness.wait_exited(started.id)

    with pytest.raises(ContainerNotRunning):
        await harness.runtime.exec(started.id, ["true"], timeout=5)


async def test_a_running_container_has_a_bridge_ip_and_an_exited_one_none(harness: Harness) -> None:
    running = await harness.start("served", script="sleep 3600")
    exited = await harness.start("ended", script="exit 0", annotations={"sim.labkit.io/exit-code": "0"})
    await harness.wait_exited(exited.id)

    ip = await harness.runtime.container_ip(running.id)

    assert ip is not None and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", ip)
    assert await harness.runtime.container_ip(exited.id) is None


async def test_a_present_image_needs_no_pull_under_if_not_present(harness: Harness) -> None:
    result = await harness.runtime.ensure_image(TEST_IMAGE, pull_policy="IfNotPresent")

    assert result.ok and not result.pulled
    assert result.image_id is not None and result.image_id.startswith("sha256:")


@pytest.mark.parametrize(("policy", "reason"), [("IfNotPresent", "ErrImagePull"), ("Always", "ErrImagePull")])
async def test_an_image_that_cannot_be_pulled_gives_err_image_pull_with_the_registry_message(
    harness: Harness, policy: Any, reason: str
) -> None:
    result = await harness.runtime.ensure_image(MISSING_IMAGE, pull_policy=policy)

    assert not result.ok and result.error_reason == reason
    assert result.message.startswith("Error response from daemon: ")


async def test_a_missing_image_under_never_gives_err_image_never_pull(harness: Harness) -> None:
    result = await harness.runtime.ensure_image(MISSING_IMAGE, pull_policy="Never")

    assert (result.error_reason, result.message) == (
        "ErrImageNeverPull",
        f'Container image "{MISSING_IMAGE}" is not present with pull policy of Never',
    )


async def test_always_with_a_present_image_succeeds_even_when_the_registry_is_unreachable(
    harness: Harness,
) -> None:
    # Offline labs: `image: busybox` means :latest, whose default policy is Always. Docker's pull
    # fails here (no registry) and it falls back to the local copy; the simulation "pulls".
    result = await harness.runtime.ensure_image("busybox", pull_policy="Always")

    assert result.ok and result.image_id is not None
    assert result.pulled or "pull failed, using the local image" in result.message


async def test_limits_and_security_settings_are_visible_in_inspect(harness: Harness) -> None:
    started = await harness.start(
        "limited", script="sleep 3600", cpu_limit_millicores=250, memory_limit_bytes=64 * 1024 * 1024
    )

    state = await harness.runtime.inspect(started.id)

    assert (state.cpu_limit_millicores, state.memory_limit_bytes) == (250, 64 * 1024 * 1024)
    assert (state.privileged, state.network_mode) == (False, "bridge")


async def test_info_names_the_runtime_for_node_info(harness: Harness) -> None:
    info = await harness.runtime.info()

    expected = {"docker": r"docker://\S+", "simulated": r"labkit-sim://1\.0"}[harness.kind]
    assert re.fullmatch(expected, info.runtime_version)


# ------------------------------------------------------------------------------------------------
# Docker only: what the engine itself recorded, and errors when it is away
# ------------------------------------------------------------------------------------------------


@pytest.fixture
async def docker_harness() -> AsyncIterator[Harness]:
    runtime = await _docker_runtime()
    h = Harness(runtime=runtime, kind="docker")
    try:
        yield h
    finally:
        try:
            await h.clean_up()
        finally:
            await runtime.close()


def _engine_inspect(container_id: str) -> dict[str, Any]:
    import docker

    client = docker.from_env()
    try:
        return client.api.inspect_container(container_id)
    finally:
        client.close()


@pytest.mark.docker
async def test_docker_host_config_has_limits_and_no_privileges(docker_harness: Harness) -> None:
    started = await docker_harness.start(
        "hardened", script="sleep 3600", cpu_limit_millicores=500, memory_limit_bytes=32 * 1024 * 1024
    )

    host = (await asyncio.to_thread(_engine_inspect, started.id))["HostConfig"]

    assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 32 * 1024 * 1024
    assert host["Privileged"] is False and host["NetworkMode"] == "bridge"
    assert not host.get("CapAdd") and not host.get("Binds") and not host.get("Mounts")
    assert host["RestartPolicy"]["Name"] in ("", "no")


@pytest.mark.docker
async def test_docker_exec_returns_exit_code_and_output(docker_harness: Harness) -> None:
    started = await docker_harness.start("shell", script="sleep 3600")

    result = await docker_harness.runtime.exec(started.id, ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=5)

    assert result.exit_code == 3
    assert sorted(result.output.splitlines()) == [b"err", b"out"]


@pytest.mark.docker
async def test_docker_exec_that_outlives_its_timeout_is_reported_as_timed_out(docker_harness: Harness) -> None:
    started = await docker_harness.start("slow", script="sleep 3600")

    t0 = time.monotonic()
    result = await docker_harness.runtime.exec(started.id, ["sleep", "30"], timeout=1)

    assert result.timed_out and time.monotonic() - t0 < 4


@pytest.mark.docker
async def test_docker_command_and_args_replace_entrypoint_and_cmd(docker_harness: Harness) -> None:
    spec = docker_harness.spec("argv", script="", command=("echo",), args=("a", "b"))
    started = await docker_harness.runtime.create_and_start(spec)
    await docker_harness.wait_exited(started.id)

    assert await docker_harness.lines(started.id) == [b"a b\n"]


@pytest.mark.docker
async def test_docker_a_command_missing_from_the_image_fails_with_run_container_error(
    docker_harness: Harness,
) -> None:
    with pytest.raises(ContainerStartFailed) as failed:
        await docker_harness.runtime.create_and_start(
            docker_harness.spec("bad", script="", command=("/no/such/binary",))
        )

    assert failed.value.waiting_reason == "RunContainerError"
    assert await docker_harness.runtime.list_containers(node=docker_harness.node) == []


async def test_docker_runtime_without_an_engine_raises_runtime_unavailable(tmp_path: Any) -> None:
    runtime = DockerRuntime(base_url=f"unix://{tmp_path}/docker.sock")

    with pytest.raises(RuntimeUnavailable) as unavailable:
        await runtime.info()

    assert unavailable.value.message.startswith(
        f"Docker engine not reachable at unix://{tmp_path}/docker.sock: is dockerd running?"
    )
    assert unavailable.value.status()["code"] == 503

