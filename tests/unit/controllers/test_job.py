"""The Job controller's pure parts: back-off, completed-index notation, podFailurePolicy matching,
and the pods it creates."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.controllers.job import backoff_delay, format_indexes, pod_failure_action, pod_for_job


@pytest.mark.parametrize(("failures", "delay"), [(0, 0), (1, 10), (2, 20), (3, 40), (6, 320), (7, 360), (60, 360)])
def test_backoff_doubles_from_ten_seconds_up_to_six_minutes(failures: int, delay: float) -> None:
    assert backoff_delay(failures) == delay


def test_backoff_base_is_injectable() -> None:
    assert [backoff_delay(n, base=0.5, cap=3) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3]


@pytest.mark.parametrize(("indexes", "text"), [(set(), ""), ({0}, "0"), ({0, 1, 2, 4}, "0-2,4"),
                                               ({1, 3, 5, 6}, "1,3,5-6")])
def test_completed_indexes_are_written_as_intervals(indexes: set[int], text: str) -> None:
    assert format_indexes(indexes) == text


def _failed_pod(code: int, *, container: str = "main", conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "status": {"phase": "Failed", "conditions": conditions or [],
                       "containerStatuses": [{"name": container, "state": {"terminated": {"exitCode": code}}}]}}


def _job(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"podFailurePolicy": {"rules": list(rules)}}}


def test_first_matching_rule_wins_and_no_match_counts() -> None:
    job = _job({"action": "Ignore", "onExitCodes": {"operator": "In", "values": [3]}},
               {"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [3, 5]}})
    assert pod_failure_action(job, _failed_pod(3))[0] == "Ignore"
    action, message = pod_failure_action(job, _failed_pod(42))
    assert action == "FailJob"
    assert message == "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
    assert pod_failure_action(job, _failed_pod(5)) == ("Count", "")
    assert pod_failure_action({"spec": {}}, _failed_pod(1)) == ("Count", "")


def test_exit_code_rules_honour_container_name_and_condition_rules_match_conditions() -> None:
    job = _job({"action": "FailJob", "onExitCodes": {"containerName": "side", "operator": "In", "values": [1]}},
               {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]})
    assert pod_failure_action(job, _failed_pod(1))[0] == "Count"
    assert pod_failure_action(job, _failed_pod(1, container="side"))[0] == "FailJob"
    evicted = _failed_pod(137, conditions=[{"type": "DisruptionTarget", "status": "True"}])
    assert pod_failure_action(job, evicted)[0] == "Ignore"


def test_an_indexed_pod_carries_its_index_three_ways() -> None:
    job = {"metadata": {"name": "pi", "namespace": "ns", "uid": "u1"},
           "spec": {"template": {"metadata": {"labels": {"job-name": "pi"}},
                                 "spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}]}]}}}}
    pod = pod_for_job(job, 4)
    assert pod["metadata"]["generateName"] == "pi-4-"
    assert pod["metadata"]["annotations"] == {"batch.kubernetes.io/job-completion-index": "4"}
    assert pod["metadata"]["labels"] == {"job-name": "pi", "batch.kubernetes.io/job-completion-index": "4"}
    assert pod["spec"]["hostname"] == "pi-4"
    assert [e["name"] for e in pod["spec"]["containers"][0]["env"]] == ["JOB_COMPLETION_INDEX", "A"]
    plain = pod_for_job(job, None)
    assert plain["metadata"]["generateName"] == "pi-" and "annotations" not in plain["metadata"]
    assert plain["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert job["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
