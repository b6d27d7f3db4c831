"""SimulatedRuntime on a FakeClock: whole container lifecycles in no real time.

What both runtimes share is proven by tests/integration/nodeagent/test_runtime_conformance.py;
this file covers what only the simulation has — annotations, lazy state, its cost at scale.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.client.clock import FakeClock
from orchestrator.nodeagent.runtimes.base import (
    ContainerSpec,
    ContainerStartFailed,
    Runtime,
)
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime, node_pod_cidr, sim_annotation


def spec(name: str = "app", *, node: str = "node-1", pod: str = "web", **overrides: Any) -> ContainerSpec:
    values: dict[str, Any] = {
        "pod_uid": f"uid-{pod}",
        "namespace": "default",
        "pod_name": pod,
        "container_name": name,
        "node_name": node,
        "image": "busybox",
    }
    values.update(overrides)
    return ContainerSpec(**values)


async def until_asleep(clock: FakeClock, sleepers: int = 1) -> None:
    """Lets the tasks under test run until `sleepers` of them wait on the clock."""
    for _ in range(100):
        if clock.sleepers >= sleepers:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"expected {sleepers} sleeper(s) on the clock, found {clock.sleepers}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


@pytest.fixture
async def runtime(clock: FakeClock) -> AsyncIterator[SimulatedRuntime]:
    rt = SimulatedRuntime(clock=clock)
    yield rt
    await rt.close()


def test_simulated_runtime_satisfies_the_runtime_protocol(runtime: SimulatedRuntime) -> None:
    assert isinstance(runtime, Runtime)


async def test_run_seconds_keeps_it_running_until_that_much_time_has_passed(
    runtime: SimulatedRuntime, clock: FakeClock
) -> None:
    started = await runtime.create_and_start(spec(annotations={"sim.labkit.io/run-seconds": "5"}))

    clock.advance(4.9)
    assert (await runtime.inspect(started.id)).state == "running"
    clock.advance(0.2)
    exited = await runtime.inspect(started.id)

    assert (exited.state, exited.exit_code, exited.reason) == ("exited", 0, "Completed")
    assert started.started_at is not None and exited.finished_at is not None
    took = datetime.fromisoformat(exited.finished_at) - datetime.fromisoformat(started.started_at)
    assert 4 <= took.total_seconds() <= 6  # exit time is the planned one, not the time of the look


async def test_without_annotations_a_container_runs_until_stopped(runtime: SimulatedRuntime, clock: FakeClock) -> None:
    started = await runtime.create_and_start(spec())

    clock.advance(86_400)

    assert (await runtime.inspect(started.id)).state == "running"


async def test_exit_code_without_run_seconds_exits_right_after_starting(runtime: SimulatedRuntime) -> None:
    state = await runtime.create_and_start(spec(annotations={"sim.labkit.io/exit-code": "2"}))

    assert (state.state, state.exit_code, state.reason) == ("exited", 2, "Error")


async def test_oom_killed_annotation_exits_137_with_reason_oom_killed(runtime: SimulatedRuntime, clock: FakeClock) -> None:
    started = await runtime.create_and_start(
        spec(annotations={"sim.labkit.io/oom-killed": "true", "sim.labkit.io/run-seconds": "3"})
    )
    clock.advance(3)

    state = await runtime.inspect(started.id)

    assert (state.exit_code, state.reason) == (137, "OOMKilled")


async def test_per_container_annotations_apply_to_that_container_only(runtime: SimulatedRuntime) -> None:
    annotations = {"sim.labkit.io/sidecar.exit-code": "1"}

    app = await runtime.create_and_start(spec("app", annotations=annotations))
    sidecar = await runtime.create_and_start(spec("sidecar", annotations=annotations))

    assert app.state == "running"
    assert (sidecar.state, sidecar.exit_code) == ("exited", 1)
    assert sim_annotation(annotations, "exit-code", container="sidecar") == "1"
    assert sim_annotation(annotations, "exit-code", container="app") is None


async def test_a_malformed_annotation_fails_the_start_with_create_container_error(runtime: SimulatedRuntime) -> None:
    with pytest.raises(ContainerStartFailed) as failed:
        await runtime.create_and_start(spec(annotations={"sim.labkit.io/run-seconds": "soon"}))

    assert failed.value.waiting_reason == "CreateContainerError"
    assert failed.value.message == 'annotation sim.labkit.io/run-seconds: "soon" is not a number'
    assert await runtime.list_containers(node="node-1") == []


async def test_a_second_container_with_the_same_name_and_attempt_conflicts(runtime: SimulatedRuntime) -> None:
    await runtime.create_and_start(spec())

    with pytest.raises(ContainerStartFailed, match="is already in use"):
        await runtime.create_and_start(spec())
    restarted = await runtime.create_and_start(spec(restart_count=1))

    assert restarted.restart_count == 1


async def test_stop_waits_the_grace_period_on_the_clock_for_a_container_ignoring_sigterm(
    runtime: SimulatedRuntime, clock: FakeClock
) -> None:
    started = await runtime.create_and_start(spec(annotations={"sim.labkit.io/ignore-sigterm": "true"}))
    stopping = asyncio.create_task(runtime.stop(started.id, grace_period_seconds=30), name="stop")
    await until_asleep(clock)

    clock.advance(29)
    await asyncio.sleep(0)
    assert not stopping.done() and (await runtime.inspect(started.id)).state == "running"
    clock.advance(1)
    await asyncio.wait_for(stopping, timeout=1)

    state = await runtime.inspect(started.id)
    assert (state.exit_code, state.reason) == (137, "Error")
    assert [line async for line in runtime.logs(started.id, tail_lines=2)] == [
        b"received SIGTERM, ignoring it\n",
        b"killed by SIGKILL after the grace period\n",
    ]


async def test_stop_of_a_container_handling_sigterm_exits_143_at_once(runtime: SimulatedRuntime) -> None:
    started = await runtime.create_and_start(spec())

    await runtime.stop(started.id, grace_period_seconds=30)

    assert (await runtime.inspect(started.id)).exit_code == 143


async def test_a_planned_exit_during_the_grace_period_ends_the_stop_early(
    runtime: SimulatedRuntime, clock: FakeClock
) -> None:
    started = await runtime.create_and_start(
        spec(annotations={"sim.labkit.io/ignore-sigterm": "true", "sim.labkit.io/run-seconds": "10"})
    )
    stopping = asyncio.create_task(runtime.stop(started.id, grace_period_seconds=30), name="stop")
    await until_asleep(clock)

    clock.advance(10)
    await asyncio.wait_for(stopping, timeout=1)

    assert (await runtime.inspect(started.id)).exit_code == 0


async def test_follow_yields_each_line_when_written_and_ends_at_the_planned_exit(
    runtime: SimulatedRuntime, clock: FakeClock
) -> None:
    started = await runtime.create_and_start(
        spec(command=("sh", "-c", "echo hi"), annotations={"sim.labkit.io/run-seconds": "60"})
    )
    received: list[bytes] = []

    async def follow() -> None:
        async for line in runtime.logs(started.id, follow=True):
            received.append(line)

    following = asyncio.create_task(follow(), name="follow")
    await until_asleep(clock)
    assert received == [b"started busybox as app in pod default/web\n", b"command: sh -c 'echo hi'\n"]

    clock.advance(60)
    await asyncio.wait_for(following, timeout=1)

    assert received[-1] == b"exited with code 0\n"


async def test_follow_ends_when_the_container_is_removed(runtime: SimulatedRuntime, clock: FakeClock) -> None:
    started = await runtime.create_and_start(spec())
    following = asyncio.create_task(
        asyncio.wait_for(_drain(runtime.logs(started.id, follow=True)), timeout=1), name="follow"
    )
    for _ in range(5):
        await asyncio.sleep(0)

    await runtime.remove(started.id)

    assert (await following)[-1] == b"killed: container removed\n"


async def _drain(lines: AsyncIterator[bytes]) -> list[bytes]:
    return [line async for line in lines]


async def test_logs_since_skips_earlier_lines(runtime: SimulatedRuntime, clock: FakeClock) -> None:
    started = await runtime.create_and_start(spec(annotations={"sim.labkit.io/run-seconds": "100"}))
    clock.advance(100)
    await runtime.inspect(started.id)
    cut = datetime.now(UTC).timestamp() + 50  # between the start line and the exit line

    lines = [line async for line in runtime.logs(started.id, since=datetime.fromtimestamp(cut, UTC))]

    assert lines == [b"exited with code 0\n"]


async def test_probe_fails_annotation_makes_exec_exit_1(runtime: SimulatedRuntime) -> None:
    healthy = await runtime.create_and_start(spec("ok"))
    sick = await runtime.create_and_start(spec("sick", annotations={"sim.labkit.io/probe-fails": "true"}))

    assert (await runtime.exec(healthy.id, ["cat", "/tmp/healthy"], timeout=1)).exit_code == 0
    failed = await runtime.exec(sick.id, ["cat", "/tmp/healthy"], timeout=1)
    assert (failed.exit_code, failed.output) == (1, b'probe failed: sim.labkit.io/probe-fails: "true"\n')


@pytest.mark.parametrize("policy", ["Always", "IfNotPresent"])
async def test_pull_fails_annotation_gives_err_image_pull_even_for_a_present_image(
    runtime: SimulatedRuntime, policy: Any
) -> None:
    result = await runtime.ensure_image(
        "busybox", pull_policy=policy, annotations={"sim.labkit.io/pull-fails": "true"}
    )

    assert (result.error_reason, result.message) == (
        "ErrImagePull",
        'Error response from daemon: simulated pull failure (sim.labkit.io/pull-fails: "true")',
    )


async def test_an_image_named_doesnotexist_is_denied_like_a_registry_would(runtime: SimulatedRuntime) -> None:
    result = await runtime.ensure_image("example/doesnotexist:2", pull_policy="IfNotPresent")

    assert result.error_reason == "ErrImagePull"
    assert result.message.startswith("Error response from daemon: pull access denied for example/doesnotexist,")


async def test_a_pulled_image_is_present_afterwards(runtime: SimulatedRuntime) -> None:
    first = await runtime.ensure_image("nginx:1.27", pull_policy="IfNotPresent")
    second = await runtime.ensure_image("nginx:1.27", pull_policy="Never")

    assert first.pulled and second.ok and not second.pulled and first.image_id == second.image_id


async def test_containers_get_distinct_addresses(runtime: SimulatedRuntime) -> None:
    states = [await runtime.create_and_start(spec(f"c{i}")) for i in range(300)]

    addresses = {await runtime.container_ip(s.id) for s in states}

    assert len(addresses) == 300 and all(a is not None and a.startswith("10.128.") for a in addresses)


async def test_each_node_has_its_own_pod_cidr_so_agents_in_other_processes_never_collide() -> None:
    # Two agents, two processes, two runtimes: their nodes' addresses come from different blocks.
    one, two = SimulatedRuntime(), SimulatedRuntime()
    a = await one.create_and_start(spec("a", node="node-1"))
    b = await two.create_and_start(spec("b", node="node-2"))
    assert (await one.container_ip(a.id), await two.container_ip(b.id)) == ("10.128.4.2", "10.128.8.2")
    assert str(node_pod_cidr("node-1")) == "10.128.4.0/22" and str(node_pod_cidr("node-1000")) == "10.143.160.0/22"
    # A removed container's address comes back, after the others (host-local IPAM's rotation).
    await one.remove(a.id)
    c = await one.create_and_start(spec("c", node="node-1"))
    assert await one.container_ip(c.id) == "10.128.4.3"


async def test_500_nodes_of_30_containers_cost_no_tasks_and_little_time(runtime: SimulatedRuntime) -> None:
    tasks_before = len(asyncio.all_tasks())
    t0 = time.perf_counter()

    for n in range(500):
        for c in range(30):
            await runtime.create_and_start(
                spec(f"c{c}", node=f"node-{n}", pod=f"p{n}-{c}", annotations={"sim.labkit.io/run-seconds": "5"})
            )
    listed = await runtime.list_containers(node="node-499")
    elapsed = time.perf_counter() - t0

    assert len(listed) == 30 and {s.node_name for s in listed} == {"node-499"}
    assert len(asyncio.all_tasks()) == tasks_before  # nothing runs per container
    assert elapsed < 10, f"15,000 simulated containers took {elapsed:.1f}s"
