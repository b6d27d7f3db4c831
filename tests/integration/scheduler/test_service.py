"""The gRPC service from a test client: Explain agrees with what the scheduler then does."""

from __future__ import annotations

import json

import grpc
import pytest

from orchestrator.proto import scheduler_pb2, scheduler_pb2_grpc
from tests.integration.scheduler.conftest import Cluster


async def test_explain_names_the_node_the_scheduler_then_binds_and_every_verdict(cluster: Cluster) -> None:
    await cluster.add_node("small", cpu="2", memory="4Gi")
    await cluster.add_node("medium", cpu="4", memory="8Gi")
    await cluster.add_node("large", cpu="8", memory="16Gi")
    await cluster.add_node("tainted", cpu="64", memory="128Gi",
                           taints=[{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}])
    await cluster.add_node("tiny", cpu="500m")
    scheduler = cluster.start_scheduler()
    pod = cluster.pod("api", cpu="1", memory="1Gi")

    answer = scheduler.explain(pod_json=json.dumps(pod))

    nodes = {n.node_name: n for n in answer.nodes}
    assert answer.pod == f"{cluster.namespace}/api"
    assert answer.profile == cluster.scheduler_name
    assert answer.chosen_node == cluster.node_name("large")
    tainted = nodes[cluster.node_name("tainted")]
    assert (tainted.feasible, tainted.code, tainted.plugin) == (False, "UnschedulableAndUnresolvable", "TaintToleration")
    assert list(tainted.reasons) == ["node(s) had untolerated taint {dedicated: infra}"]
    tiny = nodes[cluster.node_name("tiny")]
    assert (tiny.plugin, list(tiny.reasons)) == ("NodeResourcesFit", ["Insufficient cpu"])
    large = nodes[cluster.node_name("large")]
    assert large.feasible and large.total_score == max(n.total_score for n in answer.nodes)
    assert large.total_score == sum(s.weighted for s in large.scores)
    assert {s.plugin for s in large.scores} >= {"NodeResourcesFit", "NodeResourcesBalancedAllocation"}

    await cluster.admin.create("pods", pod)

    assert await cluster.wait_bound("api") == answer.chosen_node


async def test_explain_by_name_and_list_queue_show_an_unschedulable_pod(cluster: Cluster) -> None:
    await cluster.add_node("only", cpu="1")
    scheduler = cluster.start_scheduler()
    await cluster.create_pod("greedy", cpu="4")
    await cluster.wait_event("greedy", "FailedScheduling")

    answer = scheduler.explain(namespace=cluster.namespace, name="greedy")
    with grpc.insecure_channel(scheduler.address) as channel:
        queue = scheduler_pb2_grpc.SchedulerStub(channel).ListQueue(scheduler_pb2.ListQueueRequest(), timeout=5)

    assert answer.chosen_node == ""
    assert answer.message == "0/1 nodes are available: 1 Insufficient cpu."
    entry = next(p for p in queue.pods if p.pod == f"{cluster.namespace}/greedy")
    assert entry.queue in ("unschedulablePods", "backoffQ", "activeQ")
    assert entry.attempts >= 1
    assert entry.last_failure == "0/1 nodes are available: 1 Insufficient cpu."


async def test_explain_of_an_unknown_pod_is_not_found(cluster: Cluster) -> None:
    scheduler = cluster.start_scheduler()
    with pytest.raises(grpc.RpcError) as caught:
        scheduler.explain(namespace=cluster.namespace, name="ghost")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_labctl_scheduler_explain_prints_verdicts_and_scores(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console
    from typer.testing import CliRunner

    from orchestrator.cli import scheduler as scheduler_cli

    await cluster.add_node("roomy", cpu="8")
    await cluster.add_node("cramped", cpu="1")
    scheduler = cluster.start_scheduler()
    await cluster.admin.create("pods", {**cluster.pod("probe", cpu="2"), "spec": {
        **cluster.pod("probe", cpu="2")["spec"], "schedulerName": "nobody-serves-this"}})

    # labctl's console is made when its module is imported, and a console made while COLUMNS was
    # set keeps that width: another test in this process may have imported it first.
    monkeypatch.setattr(scheduler_cli, "out", Console(highlight=False, width=250))
    result = CliRunner().invoke(
        scheduler_cli.app, ["explain", "probe", "-n", cluster.namespace, "--address", scheduler.address],
    )

    assert result.exit_code == 0, result.output
    assert f"would go to {cluster.node_name('roomy')}" in result.output
    assert f"★ {cluster.node_name('roomy')}" in result.output
    assert "NodeResourcesFit: Insufficient cpu" in result.output
    assert "TOTAL" in result.output
