"""The node agent's Summary: synthetic usage steered by annotations, rates from two samples, the HTTP endpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from orchestrator.api.errors import BadRequest, NotFound
from orchestrator.nodeagent.logserver import LogServer
from orchestrator.nodeagent.podworker import PodWorker
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime
from orchestrator.nodeagent.runtimes.usage import UsageSample
from orchestrator.nodeagent.stats import SummaryProvider, parse_synthetic
from tests.unit.nodeagent.test_podworker import RecordingSink, config, pod


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def running_worker(annotations: dict[str, str]) -> PodWorker:
    worker = PodWorker(pod(annotations=annotations), config=config(SimulatedRuntime(), RecordingSink()))
    await worker.sync()
    assert worker.container_ids(), "the simulated container should have started"
    return worker


async def test_a_steered_pod_reports_exactly_its_annotation_from_the_second_sample() -> None:
    worker = await running_worker({"sim.labkit.io/cpu-usage": "250m", "sim.labkit.io/memory-usage": "64Mi"})
    clock = Clock()
    provider = SummaryProvider(runtime=worker.config.runtime, clock=clock)
    first = await provider.summary("n1", [worker])
    container = first["pods"][0]["containers"][0]
    assert "usageNanoCores" not in container["cpu"]  # one sample is not a rate
    assert container["memory"]["workingSetBytes"] == 64 * 2**20
    clock.now += 15
    second = await provider.summary("n1", [worker])
    pod_stats = second["pods"][0]
    assert pod_stats["podRef"] == {"name": "p", "namespace": "ns", "uid": worker.uid}
    assert pod_stats["containers"][0]["cpu"]["usageNanoCores"] == 250_000_000
    assert pod_stats["cpu"]["usageNanoCores"] == 250_000_000 and pod_stats["cpu"]["windowSeconds"] == 15
    assert second["node"]["labkit"] == {"source": "simulated"}
    assert second["node"]["memory"]["workingSetBytes"] == 64 * 2**20


async def test_steering_takes_effect_at_the_next_sample_and_the_container_annotation_wins() -> None:
    worker = await running_worker({"sim.labkit.io/cpu-usage": "100m"})
    clock = Clock()
    provider = SummaryProvider(runtime=worker.config.runtime, clock=clock)
    await provider.summary("n1", [worker])
    worker.update({**worker.pod, "metadata": {**worker.pod["metadata"], "annotations": {
        "sim.labkit.io/cpu-usage": "100m", "sim.labkit.io/c.cpu-usage": "1500m"}}})
    clock.now += 2
    got = await provider.summary("n1", [worker])
    assert got["pods"][0]["cpu"]["usageNanoCores"] == 1_500_000_000
    # The node's rate follows its pods' (it has one sample of them now, so two samples later).
    clock.now += 2
    got = await provider.summary("n1", [worker])
    assert got["node"]["cpu"]["usageNanoCores"] == 1_500_000_000


async def test_samples_closer_than_the_minimum_interval_are_reused_not_retaken() -> None:
    worker = await running_worker({"sim.labkit.io/cpu-usage": "300m"})
    clock = Clock()
    provider = SummaryProvider(runtime=worker.config.runtime, clock=clock, min_sample_interval=0.5)
    await provider.summary("n1", [worker])
    clock.now += 5
    a = await provider.summary("n1", [worker])
    clock.now += 0.1
    b = await provider.summary("n1", [worker])  # a second scraper right after: same window
    assert a["pods"][0]["cpu"] == b["pods"][0]["cpu"]


async def test_a_node_without_pods_uses_nothing_rather_than_unknown() -> None:
    clock = Clock()
    provider = SummaryProvider(runtime=SimulatedRuntime(), clock=clock)
    await provider.summary("idle", [])
    clock.now += 1
    got = await provider.summary("idle", [])
    assert got["pods"] == [] and got["node"]["cpu"]["usageNanoCores"] == 0


class StatsRuntimeStandIn(SimulatedRuntime):
    """The simulated runtime plus readings of a CPU counter, as the Docker runtime's cgroup reads give."""

    def __init__(self, readings: list[UsageSample]) -> None:
        super().__init__()
        self.readings = readings

    async def container_stats(self, container_id: str) -> UsageSample | None:
        return self.readings.pop(0)


async def test_a_runtime_with_stats_is_read_and_labelled_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = [UsageSample(10.0, 1_000_000_000, 5_000, 6_000), UsageSample(12.0, 1_500_000_000, 7_000, 8_000)]
    runtime = StatsRuntimeStandIn(readings)
    worker = PodWorker(pod(), config=config(runtime, RecordingSink()))
    await worker.sync()
    host = iter([UsageSample(10.0, 0, 1, 1), UsageSample(12.0, 4_000_000_000, 2, 2)])
    monkeypatch.setattr("orchestrator.nodeagent.stats.host_sample", lambda: next(host))
    clock = Clock()
    provider = SummaryProvider(runtime=runtime, clock=clock)
    assert provider.source == "docker"
    await provider.summary("n1", [worker])
    clock.now += 2
    got = await provider.summary("n1", [worker])
    assert got["pods"][0]["containers"][0]["cpu"]["usageNanoCores"] == 250_000_000
    assert got["pods"][0]["containers"][0]["memory"] == {"time": got["pods"][0]["containers"][0]["memory"]["time"],
                                                         "workingSetBytes": 7_000, "usageBytes": 8_000}
    assert got["node"]["cpu"]["usageNanoCores"] == 2_000_000_000 and got["node"]["labkit"] == {"source": "docker"}


def test_a_steering_annotation_that_does_not_parse_falls_back_to_the_default() -> None:
    assert parse_synthetic("250m", "5m", key="cpu-usage") == 0.25
    assert parse_synthetic("lots", "5m", key="cpu-usage") == 0.005
    assert parse_synthetic("-1", "8Mi", key="memory-usage") == 8 * 2**20


class Agent:
    def __init__(self, workers: dict[str, Any]) -> None:
        self.workers = workers


async def test_a_fleet_names_the_node_and_unknown_nodes_are_404() -> None:
    provider = SummaryProvider(runtime=SimulatedRuntime())
    agents = {"sim-1": Agent({}), "sim-2": Agent({})}
    assert (await provider.summary_of(agents, "sim-2"))["node"]["nodeName"] == "sim-2"
    with pytest.raises(BadRequest, match=r"\?node="):
        await provider.summary_of(agents, None)
    with pytest.raises(NotFound):
        await provider.summary_of(agents, "sim-3")
    assert (await provider.summary_of({"only": Agent({})}, None))["node"]["nodeName"] == "only"


async def test_the_summary_endpoint_needs_the_token_and_answers_json() -> None:
    worker = await running_worker({"sim.labkit.io/cpu-usage": "1"})
    provider = SummaryProvider(runtime=worker.config.runtime)

    async def summary(node: str | None) -> dict[str, Any]:
        return await provider.summary_of({"n1": Agent({worker.uid: worker})}, node)

    server = LogServer(find_worker=lambda ns, name: None, tokens=["secret"], summary=summary, host="127.0.0.1")
    port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            assert (await client.get("/stats/summary")).status_code == 401
            auth = {"Authorization": "Bearer secret"}
            got = await client.get("/stats/summary", params={"node": "n1"}, headers=auth)
            assert got.status_code == 200 and got.json()["pods"][0]["podRef"]["name"] == "p"
            missing = await client.get("/stats/summary", params={"node": "n9"}, headers=auth)
            assert missing.status_code == 404 and missing.json()["kind"] == "Status"
    finally:
        await server.close()


async def test_a_finished_simulated_container_reports_nothing() -> None:
    worker = await running_worker({"sim.labkit.io/cpu-usage": "1"})
    await worker.config.runtime.stop(next(iter(worker.container_ids().values())), grace_period_seconds=0)
    got = await SummaryProvider(runtime=worker.config.runtime).summary("n1", [worker])
    assert got["pods"] == []
