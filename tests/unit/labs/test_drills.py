"""The pure parts of the notebook helpers of 06-08: what a change is called, which data-flow step it
shows, the drill flags, the experiment sizes, the timeline's summaries."""

from __future__ import annotations

import pytest

from labs import failures, scale, timetravel


def _pod(*, node: str | None = None, phase: str = "Pending", deleting: bool = False,
         ready: str | None = None) -> dict:
    pod: dict = {"metadata": {"name": "p"}, "spec": {}, "status": {"phase": phase}}
    if node:
        pod["spec"]["nodeName"] = node
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        pod["metadata"]["deletionGracePeriodSeconds"] = 1
    if ready:
        pod["status"]["conditions"] = [{"type": "Ready", "status": ready}]
    return pod


def test_changes_name_the_fields_that_differ() -> None:
    assert timetravel.changes(_pod(), _pod(node="node-1")) == ["nodeName: - → node-1"]
    assert timetravel.changes(_pod(node="n"), _pod(node="n", phase="Running", ready="True")) == [
        "phase: Pending → Running", "Ready=True"]
    assert timetravel.changes(_pod(node="n"), _pod(node="n", deleting=True)) == ["deletionTimestamp set (grace 1s)"]
    assert timetravel.changes(_pod(), _pod()) == ["(metadata only)"]


@pytest.mark.parametrize(("kind", "prev", "obj", "step"), [
    ("ADDED", None, _pod(), "1-4"),
    ("MODIFIED", _pod(), _pod(node="n"), "5-7"),
    ("MODIFIED", _pod(node="n"), _pod(node="n", ready="False"), "8"),
    ("MODIFIED", _pod(node="n"), _pod(node="n", phase="Running"), "8-10"),
    ("MODIFIED", _pod(node="n", phase="Running"), _pod(node="n", phase="Running", deleting=True), "after 10: deletion"),
    ("DELETED", _pod(node="n"), _pod(node="n"), "after 10: deleted"),
])
def test_each_write_maps_onto_a_data_flow_step(kind: str, prev: dict | None, obj: dict, step: str) -> None:
    assert timetravel._flow_step(kind, prev, obj) == step


def test_data_flow_steps_lists_evidence_for_each_of_the_ten() -> None:
    story = [{"revision": 5, "source": "pod", "type": "ADDED", "step": "1-4"},
             {"revision": 7, "source": "pod", "type": "MODIFIED", "step": "5-7"},
             {"revision": 8, "source": "event", "type": "Scheduled", "step": "5"},
             {"revision": 9, "source": "pod", "type": "MODIFIED", "step": "8-10"},
             {"revision": 10, "source": "pod", "type": "DELETED", "step": "after 10: deleted"}]
    table = timetravel.data_flow_steps(story)
    assert [row["step"] for row in table] == list(range(1, 11))
    evidence = {row["step"]: row["evidence (revision, source, type)"] for row in table}
    assert evidence[1] == evidence[4] == "5 pod ADDED"
    assert evidence[5] == "7 pod MODIFIED, 8 event Scheduled"
    assert evidence[6] == "7 pod MODIFIED"
    assert evidence[9] == evidence[10] == "9 pod MODIFIED"
    assert "DELETED" not in " ".join(evidence.values())


def test_data_flow_steps_shows_a_missing_step_as_a_dash() -> None:
    table = timetravel.data_flow_steps([{"revision": 5, "source": "pod", "type": "ADDED", "step": "1-4"}])
    assert {row["step"]: row["evidence (revision, source, type)"] for row in table}[10] == "-"


def test_drill_flags_shorten_each_components_timers() -> None:
    s = failures.DrillSettings()
    assert failures._extra_flags("node-3", s) == ["--lease-seconds", "2.0", "--status-report-seconds", "5.0"]
    cm = failures._extra_flags("controller-manager", s)
    assert cm[cm.index("--node-monitor-grace-period") + 1] == "8.0"
    assert cm[cm.index("--pod-eviction-timeout") + 1] == "3"
    # the grace period must outlast several missed renewals, or healthy nodes would flap
    assert s.node_monitor_grace_period >= 3 * s.lease_seconds
    assert failures._extra_flags("scheduler", s)[:2] == ["--lease-duration", "6.0"]
    assert failures._extra_flags("relay", s) == []


def test_timeline_summaries_say_what_matters() -> None:
    node = {"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]},
            "spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]}}
    assert failures._node_summary("MODIFIED", node) == "Ready=Unknown taints unreachable:NoExecute"
    assert failures._pod_summary("MODIFIED", _pod(node="n", phase="Running", deleting=True)) == "Running on n, terminating"
    assert failures._pod_summary("ADDED", _pod()) == "Pending (not bound)"
    assert failures._lease_summary("MODIFIED", {"spec": {"holderIdentity": "scheduler-2"}}) == "holder scheduler-2"
    assert failures._event_summary("DELETED", {}) is None


def test_scale_preset_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_NOTEBOOK_SCALE", "small")
    assert scale.preset().name == "small"
    monkeypatch.delenv("LABKIT_NOTEBOOK_SCALE")
    assert scale.preset().name == "full"
    monkeypatch.setenv("LABKIT_NOTEBOOK_SCALE", "huge")
    with pytest.raises(ValueError, match="LABKIT_NOTEBOOK_SCALE='huge': expected one of small, full"):
        scale.preset()


def test_pod_manifest_asks_for_its_scheduler_and_pool() -> None:
    pod = scale.pod_manifest("b-1", batch="b", cpu="1", scheduler_name="bin-packing", node_selector={"pool": "pack"})
    assert pod["metadata"] == {"name": "b-1", "labels": {"batch": "b"}}
    assert pod["spec"]["schedulerName"] == "bin-packing"
    assert pod["spec"]["nodeSelector"] == {"pool": "pack"}
    assert pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1"
    assert "schedulerName" not in scale.pod_manifest("x", batch="b")["spec"]


def test_summary_percentiles() -> None:
    assert scale.summary([]) == {"count": 0}
    assert scale.summary([float(i) for i in range(1, 101)]) == {"count": 100, "p50": 50.5, "p90": 90.1, "p99": 99.0,
                                                                 "max": 100.0}


def test_timeline_plot_has_a_lane_per_source_and_a_line_per_drill() -> None:
    timeline = failures.Timeline.__new__(failures.Timeline)  # no watches: rows given directly
    import threading

    timeline._lock = threading.Lock()
    timeline._rows = [
        {"t (s)": 1.0, "source": "drill", "object": "", "change": "stop node-1"},
        {"t (s)": 9.5, "source": "node", "object": "node-1", "change": "Ready=Unknown"},
        {"t (s)": 12.0, "source": "pod", "object": "web-1", "change": "Running on node-1, terminating"},
    ]
    fig = timeline.plot()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["watch", "event", "lease", "pod", "node"]
    assert [t.get_text() for t in ax.texts] == ["stop node-1"]
    assert timeline.first(source="node")["change"] == "Ready=Unknown"
    assert timeline.rows(since=10) == [timeline._rows[2]]


def test_zone_states_are_read_from_the_controllers_own_exposition() -> None:
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry, generate_latest

    from orchestrator.controllers.nodelifecycle import _ZoneCollector

    controller = SimpleNamespace(evictions={"eu-1a": 3}, zones={
        "": SimpleNamespace(state="FullDisruption", size=2, not_ready=2),
        "eu-1a": SimpleNamespace(state="PartialDisruption", size=10, not_ready=6),
        "eu-1b": SimpleNamespace(state="Normal", size=10, not_ready=0),
    })
    registry = CollectorRegistry()
    registry.register(_ZoneCollector(controller))  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    assert failures.zone_states_from_metrics(text) == {
        "": "FullDisruption", "eu-1a": "PartialDisruption", "eu-1b": "Normal"}
    assert failures.zone_states_from_metrics("# nothing about zones\nup 1\n") == {}


def test_predict_fleet_outage_answers_only_after_the_drill() -> None:
    from labs.checks import run_check
    from labs.solutions import predict_fleet_outage

    before = run_check("predict-fleet-outage", prediction=0)
    assert not before.passed and "run drill 1b first" in before.feedback
    assert "FullDisruption" not in before.feedback, "before the drill the check must not give the answer away"
    assert run_check("predict-fleet-outage", prediction=predict_fleet_outage.PREDICTION, evicted=0, pods=4).passed
    unanswered = run_check("predict-fleet-outage", prediction=None, evicted=0, pods=4)
    assert not unanswered.passed and "a number of pods" in unanswered.feedback
    like_drill_1 = run_check("predict-fleet-outage", prediction=4, evicted=0, pods=4)
    assert not like_drill_1.passed and "FullDisruption" in like_drill_1.feedback
    assert not run_check("predict-fleet-outage", prediction=True, evicted=0).passed


def test_takeovers_are_read_from_the_controller_managers_log() -> None:
    log = "\n".join([
        "2026-12-07 06:00:00,001 INFO orchestrator.controllers.manager: cm-a: leading: caches at revision 120 "
        "after 0.00s (0 listed again: none); starting 19 controllers",
        "2026-12-07 06:00:05,002 WARNING orchestrator.controllers.manager: cm-a: not leading any more; standing by",
        "2026-12-07 06:00:09,500 INFO orchestrator.controllers.manager: cm-b: leading: caches at revision 175 "
        "after 2.03s (2 listed again: configmaps, leases.coordination.k8s.io); starting 19 controllers",
    ])
    assert failures.takeovers_from_log(log) == [
        {"time": "2026-12-07 06:00:00,001", "identity": "cm-a", "handover revision": 120, "caught up in (s)": 0.0,
         "listed again": 0, "which": ""},
        {"time": "2026-12-07 06:00:09,500", "identity": "cm-b", "handover revision": 175, "caught up in (s)": 2.03,
         "listed again": 2, "which": "configmaps, leases.coordination.k8s.io"},
    ]
