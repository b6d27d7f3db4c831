"""The break-fix mysteries on one live lab (simulated node): each is graded as not solved with a wrong
fix or a wrong diagnosis, and as solved with the reference fix and diagnosis (labs/solutions/); hints go
from nudge to answer, the answer only on request; setting a mystery up again breaks the lab again."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest

import labs
from labs.checks import CheckResult, run_check
from labs.mysteries import MYSTERIES, REPLICAS
from orchestrator.lab.embedded.ports import free_port


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labs.Lab]:
    home = tmp_path_factory.mktemp("mysteries")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_HOME", str(home))
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        lab = labs.start(nodes=1, runtime="simulated", show=False, port=free_port())
        try:
            yield lab
        finally:
            for name in MYSTERIES:
                labs.mysteries.reset(name, lab=lab)
            lab.stop()


def solution(name: str) -> object:
    return importlib.import_module(f"labs.solutions.mystery_{name}")


def graded(name: str, lab: labs.Lab, diagnosis: str) -> CheckResult:
    return run_check(f"mystery-{name}", lab=lab, diagnosis=diagnosis)


def once_running(name: str, lab: labs.Lab, diagnosis: str) -> CheckResult:
    """The check's result once both pods run (a fix takes a moment to act), or after 60 s as it is."""
    running = f"✓ {REPLICAS} pods of web are Running"

    def ran() -> list[CheckResult]:
        # In a list: a CheckResult that did not pass is falsy, and wait_for waits for truthy values.
        result = graded(name, lab, diagnosis)
        return [result] if running in result.feedback else []

    try:
        return labs.wait_for(ran, timeout=60, interval=0.5, what=f"the pods of mystery-{name} to run")[0]
    except labs.LabTimeout:
        return graded(name, lab, diagnosis)


def delete_pods(lab: labs.Lab, namespace: str) -> None:
    lab.kubectl("delete", "pods", "--all", "-n", namespace, "--grace-period=0", "--wait=false", quiet=True)
    labs.wait_for(lambda: len([p for p in lab.core_v1().list_namespaced_pod(namespace).items
                               if p.metadata.deletion_timestamp is None]) == REPLICAS, timeout=30,
                  what="the ReplicaSet to make new pods")


def test_taint_a_wrong_fix_fails_the_reference_fix_passes_and_a_second_setup_breaks_it_again(lab: labs.Lab) -> None:
    m = labs.mystery("taint", lab=lab, show=False)
    untouched = graded("taint", lab, "")
    assert not untouched and "no diagnosis given" in untouched.feedback
    assert f"0 of {REPLICAS} pods of web are Running" in untouched.feedback

    delete_pods(lab, m.namespace)  # the symptom, not the cause: the new pods are Pending too
    symptom = graded("taint", lab, solution("taint").DIAGNOSIS)
    assert not symptom and "your diagnosis names the cause" in symptom.feedback
    assert "pods of web are Running" in symptom.feedback and "✗ 0 of" in symptom.feedback

    solution("taint").fix(lab)
    wrong_words = once_running("taint", lab, "the image could not be pulled")
    assert not wrong_words and "✗ your diagnosis does not name the cause yet" in wrong_words.feedback
    assert f"✓ {REPLICAS} pods of web are Running" in wrong_words.feedback
    solved = graded("taint", lab, solution("taint").DIAGNOSIS)
    assert solved, solved.feedback

    labs.mystery("taint", lab=lab, show=False)  # a second run of the notebook: broken again
    assert not graded("taint", lab, solution("taint").DIAGNOSIS)
    nodes = lab.core_v1().list_node().items
    assert all(any(t.key == "mystery.labkit.io/maintenance" for t in n.spec.taints or []) for n in nodes)
    labs.mysteries.reset("taint", lab=lab)
    assert not any(t.key == "mystery.labkit.io/maintenance" for n in lab.core_v1().list_node().items
                   for t in n.spec.taints or [])


def test_selector_relabelling_the_node_is_graded_as_the_wrong_fix(lab: labs.Lab) -> None:
    labs.mystery("selector", lab=lab, show=False)
    node = lab.nodes[0]
    lab.kubectl("label", "node", node, "disktype=sdd", "--overwrite", quiet=True)  # pods run, for a wrong reason
    relabelled = once_running("selector", lab, solution("selector").DIAGNOSIS)
    assert f"✓ {REPLICAS} pods of web are Running" in relabelled.feedback, relabelled.feedback
    assert not relabelled and f"node {node} now says disktype=sdd" in relabelled.feedback

    lab.kubectl("label", "node", node, "disktype=ssd", "--overwrite", quiet=True)
    solution("selector").fix(lab)
    solved = once_running("selector", lab, solution("selector").DIAGNOSIS)
    assert solved, solved.feedback


def test_scheduler_deleting_the_pods_does_not_help_starting_the_scheduler_does(lab: labs.Lab) -> None:
    m = labs.mystery("scheduler", lab=lab, show=False)
    assert not lab.supervisor.is_running("scheduler")
    delete_pods(lab, m.namespace)
    assert not graded("scheduler", lab, solution("scheduler").DIAGNOSIS)
    events = lab.core_v1().list_namespaced_event(m.namespace).items
    assert not [e for e in events if e.reason in ("Scheduled", "FailedScheduling")]  # the mystery's clue

    solution("scheduler").fix(lab)
    solved = once_running("scheduler", lab, solution("scheduler").DIAGNOSIS)
    assert solved, solved.feedback


def test_the_crash_mystery_refuses_a_simulated_lab_saying_why(lab: labs.Lab) -> None:
    # Its Docker run is tests/integration/test_labs_mystery_crash.py.
    with pytest.raises(labs.LabError, match="needs the Docker runtime"):
        labs.mystery("crash", lab=lab, show=False)


def test_hints_go_from_nudge_to_answer_and_the_answer_comes_only_on_request() -> None:
    m = MYSTERIES["taint"]
    labs.mysteries._hints_given.pop(m.check_name, None)
    first, second, third = (labs.hint("mystery-taint") for _ in range(3))
    assert first.startswith("hint 1 of 2") and second.startswith("hint 2 of 2")
    assert "answer=True" in third
    for text in (first, second, third):
        assert "kubectl taint nodes --all" not in text
    assert "kubectl taint nodes --all mystery.labkit.io/maintenance-" in labs.hint("mystery-taint", answer=True)
    with pytest.raises(labs.LabError, match="the mysteries: taint, selector, scheduler, crash"):
        labs.hint("mystery-nope")
