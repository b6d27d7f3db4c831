"""Job and CronJob rules: defaults, the generated selector, restart policies, schedules, PDB budgets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.api.errors import Invalid
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry import strategy_for
from orchestrator.apiserver.registry.batch import parse_schedule
from orchestrator.apiserver.registry.rest import prepare_create

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POD_TEMPLATE = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}


def _create(resource: str, body: dict[str, Any]) -> dict[str, Any]:
    return prepare_create(strategy_for(by_group_resource(resource)), body, namespace="ns", field_validation="Strict",
                          now=NOW).obj


def _causes(resource: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(Invalid) as err:
        _create(resource, body)
    return [(c.field, c.message) for c in err.value.causes]


def _job(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"}, "spec": {"template": POD_TEMPLATE, **spec}}


def _cronjob(schedule: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": POD_TEMPLATE}}, **spec}}


def test_a_job_gets_kubernetes_defaults_and_a_selector_on_its_uid() -> None:
    job = _create("jobs.batch", _job())
    uid = job["metadata"]["uid"]
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"], spec["completionMode"], spec["suspend"],
            spec["podReplacementPolicy"]) == (1, 1, 6, "NonIndexed", False, "TerminatingOrFailed")
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert spec["template"]["metadata"]["labels"]["job-name"] == "pi"
    assert job["metadata"]["labels"] == spec["template"]["metadata"]["labels"]  # defaulted from the template
    assert job["status"] == {}


def test_parallelism_alone_leaves_completions_unset_a_work_queue() -> None:
    spec = _create("jobs.batch", _job(parallelism=3))["spec"]
    assert spec["parallelism"] == 3 and "completions" not in spec


def test_a_manual_selector_must_match_the_template() -> None:
    causes = _causes("jobs.batch", _job(manualSelector=True, selector={"matchLabels": {"app": "x"}}))
    assert ("spec.template.metadata.labels", "Invalid value: map[string]string{}: `selector` does not match "
            "template `labels`") in causes


def test_pod_failure_policy_needs_restart_policy_never_and_sorted_nonzero_codes() -> None:
    body = _job(podFailurePolicy={"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [0, 2, 1]}},
                                            {"action": "Explode", "onExitCodes": {"operator": "In", "values": [1]}}]})
    body["spec"]["template"] = {"spec": {**POD_TEMPLATE["spec"], "restartPolicy": "OnFailure"}}
    fields = [f for f, _ in _causes("jobs.batch", body)]
    assert fields == ["spec.template.spec.restartPolicy", "spec.podFailurePolicy.rules[0].onExitCodes.values[0]",
                      "spec.podFailurePolicy.rules[0].onExitCodes.values[2]", "spec.podFailurePolicy.rules[1].action"]


@pytest.mark.parametrize("schedule", ["*/5 * * * *", "0 3 * * 1-5", "@hourly", "@daily", "30 2 1 JAN *"])
def test_standard_schedules_parse(schedule: str) -> None:
    assert parse_schedule(schedule) is None


@pytest.mark.parametrize(("schedule", "problem"), [
    ("every minute", "expected exactly 5 fields, found 2: [every minute]"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("TZ=UTC * * * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
])
def test_bad_schedules_say_why(schedule: str, problem: str) -> None:
    assert parse_schedule(schedule) == problem


def test_a_cronjob_with_a_bad_schedule_or_zone_is_invalid_naming_the_fields() -> None:
    assert _causes("cronjobs.batch", _cronjob("61 * * * *")) [0][0] == "spec.schedule"
    causes = _causes("cronjobs.batch", _cronjob("@hourly", timeZone="Mars/Olympus", concurrencyPolicy="Sometimes"))
    assert causes == [("spec.timeZone", 'Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'),
                      ("spec.concurrencyPolicy", 'Unsupported value: "Sometimes": supported values: "Allow", '
                                                 '"Forbid", "Replace"')]


def test_a_cronjob_gets_its_defaults() -> None:
    spec = _create("cronjobs.batch", _cronjob("*/1 * * * *", timeZone="Europe/Paris"))["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)


@pytest.mark.parametrize(("spec", "cause"), [
    ({"minAvailable": 1, "maxUnavailable": 1}, "spec"),
    ({"minAvailable": -1}, "spec.minAvailable"),
    ({"maxUnavailable": "150%"}, "spec.maxUnavailable"),
    ({"maxUnavailable": "half"}, "spec.maxUnavailable"),
])
def test_bad_budgets_are_invalid(spec: dict[str, Any], cause: str) -> None:
    body = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "b"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, **spec}}
    assert _causes("poddisruptionbudgets.policy", body)[0][0] == cause
