"""The pure parts of the helpers notebooks 03-05 use: reading Explain answers, scheduler profiles,
CrashLoopBackOff stretches, rollout completeness, node agent command lines."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from labs import containers, nodes, rollouts, scheduling
from orchestrator.lab.home import LabHome
from orchestrator.proto import scheduler_pb2
from orchestrator.scheduler.config import build_frameworks, parse_config


def explain_answer() -> scheduler_pb2.ExplainResponse:
    def score(plugin: str, raw: int, normalized: int, weight: int) -> scheduler_pb2.PluginScore:
        return scheduler_pb2.PluginScore(plugin=plugin, raw=raw, normalized=normalized, weight=weight,
                                         weighted=normalized * weight)  # fmt: skip

    return scheduler_pb2.ExplainResponse(
        pod="default/web",
        profile="default-scheduler",
        chosen_node="large",
        nodes=[
            scheduler_pb2.NodeExplanation(
                node_name="small",
                feasible=False,
                code="Unschedulable",
                plugin="NodeResourcesFit",
                reasons=["Insufficient cpu"],
            ),  # fmt: skip
            scheduler_pb2.NodeExplanation(
                node_name="medium",
                feasible=True,
                code="Success",
                total_score=350,
                scores=[score("TaintToleration", 0, 100, 3), score("NodeResourcesFit", 50, 50, 1)],
            ),  # fmt: skip
            scheduler_pb2.NodeExplanation(
                node_name="large",
                feasible=True,
                code="Success",
                total_score=375,
                scores=[score("TaintToleration", 0, 100, 3), score("NodeResourcesFit", 75, 75, 1)],
            ),  # fmt: skip
        ],
    )


def test_an_explain_answer_is_keyed_by_node_and_plugin() -> None:
    ex = scheduling.explanation_from_proto(explain_answer())
    assert ex.chosen_node == "large"
    assert ex.rejected_by == {"small": "NodeResourcesFit"}
    assert ex.verdicts["small"] == "NodeResourcesFit: Insufficient cpu"
    assert ex.feasible == ["medium", "large"]
    assert ex.scores["large"]["NodeResourcesFit"].weighted == 75
    assert str(ex.scores["medium"]["TaintToleration"]) == "0→100×3"


def test_the_explain_table_lists_the_winner_first_and_rejected_nodes_last() -> None:
    table = scheduling.explanation_from_proto(explain_answer()).table()
    assert table.column("node") == ["★ large", "medium", "small"]
    assert table.columns == ["node", "filter", "TaintToleration", "NodeResourcesFit", "total"]
    assert "would go to large" in table.title


def test_a_scheduler_profile_adds_plugins_to_the_defaults_with_weights_and_args() -> None:
    config = scheduling.scheduler_config(
        "binpack",
        {"NodeResourcesFit": 1},
        {"NodeResourcesFit": {"scoringStrategy": {"type": "MostAllocated"}}},
    )
    framework = build_frameworks(parse_config(config))["binpack"]
    names = [p.name for p in framework.score_plugins]
    assert "NodeResourcesFit" in names and "TaintToleration" in names


def sample(t: float, state: str, reason: str = "", restarts: int = 0, message: str = "") -> dict:
    return {"t": t, "phase": "Running", "state": state, "reason": reason, "restartCount": restarts,
            "exitCode": None, "lastExitCode": None, "message": message}  # fmt: skip


def test_back_off_delays_are_read_once_per_waiting_stretch() -> None:
    samples = [
        sample(0.0, "running"),
        sample(1.0, "waiting", "CrashLoopBackOff", 1, "back-off 2s restarting failed container=main"),
        sample(1.5, "waiting", "CrashLoopBackOff", 1, "back-off 2s restarting failed container=main"),
        sample(3.0, "running", restarts=2),
        sample(4.0, "waiting", "CrashLoopBackOff", 2, "back-off 4s restarting failed container=main"),
    ]
    assert containers.backoff_delays(samples) == [2.0, 4.0]
    assert [r["t"] for r in containers.state_changes(samples)] == [0.0, 1.0, 3.0, 4.0]


def test_a_rollout_is_complete_only_when_the_latest_spec_is_fully_available() -> None:
    def deployment(observed: int, updated: int, available: int, total: int) -> dict:
        return {"metadata": {"generation": 2}, "spec": {"replicas": 3},
                "status": {"observedGeneration": observed, "updatedReplicas": updated,
                           "availableReplicas": available, "replicas": total}}  # fmt: skip

    assert rollouts._complete(deployment(2, 3, 3, 3))
    assert not rollouts._complete(deployment(1, 3, 3, 3)), "the controller has not seen the new spec yet"
    assert not rollouts._complete(deployment(2, 3, 3, 4)), "an old replica is still there"
    assert not rollouts._complete(deployment(2, 3, 2, 3)), "one new replica is not available yet"


def test_an_extra_node_agent_gets_its_size_labels_taints_and_back_off_as_flags() -> None:
    lab = SimpleNamespace(kubeconfig=Path("/lab/admin.kubeconfig"), home=LabHome(Path("/lab")))
    argv = nodes.node_agent_argv(lab, "gpu", runtime="simulated", log_port=12345, cpu="8", memory="16Gi",
                                 labels={"accelerator": "gpu", "zone": "standard"},
                                 taints=["gpu=true:NoSchedule"], crashloop_base=2, crashloop_max=8)  # fmt: skip
    text = " ".join(argv)
    assert (
        "-m orchestrator.nodeagent --kubeconfig /lab/admin.kubeconfig --name gpu --runtime simulated" in text
    )
    assert "--cpu 8 --memory 16Gi" in text
    assert "--labels accelerator=gpu,zone=standard" in text
    assert "--taints gpu=true:NoSchedule" in text
    assert "--crashloop-base 2 --crashloop-max 8" in text
    # HTTPS with its lab-CA certificate, callers by client certificate (docs/streaming.md)
    assert "--tls-cert-file /lab/pki/nodes/gpu.crt --tls-private-key-file /lab/pki/nodes/gpu.key" in text
    assert "--client-ca-file /lab/pki/ca.crt" in text
