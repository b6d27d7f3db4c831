"""The "crash" mystery on a Docker lab (its container really runs the crashing command): not solved
by deleting the pods, solved by giving the container its environment variable; and on a simulated lab
it refuses with a message that says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import labs
from labs.checks import run_check
from labs.mysteries import CRASH_VARIABLE, REPLICAS
from labs.solutions import mystery_crash
from orchestrator.lab.embedded.ports import free_port
from orchestrator.nodeagent.cluster import cluster_id
from tests.integration.test_labs_mysteries import delete_pods, once_running
from tests.support.skips import require_docker


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labs.Lab]:
    require_docker()
    home = tmp_path_factory.mktemp("mystery-crash")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_HOME", str(home))
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        lab = labs.start(nodes=1, runtime="docker", show=False, port=free_port())
        try:
            yield lab
        finally:
            labs.mysteries.reset("crash", lab=lab)
            cluster = cluster_id(lab.kubeconfig)
            lab.stop()
            _remove_containers(cluster)


def _remove_containers(cluster: str) -> None:
    """The exited containers of this lab's pods: the node agent leaves them (as kubelet does, until
    its container GC), and nothing else would remove them from the shared engine."""
    import docker

    client = docker.from_env()
    try:
        for container in client.containers.list(all=True, filters={"label": f"labkit.cluster={cluster}"}, ignore_removed=True):
            container.remove(force=True)
    finally:
        client.close()


def test_crash_deleting_pods_does_not_help_setting_the_variable_does(lab: labs.Lab) -> None:
    m = labs.mystery("crash", lab=lab, show=False)

    def crashed_once() -> str:
        pods = lab.core_v1().list_namespaced_pod(m.namespace).items
        return next((p.metadata.name for p in pods for s in p.status.container_statuses or []
                     if s.restart_count >= 1 or (s.last_state and s.last_state.terminated)), "")

    pod = labs.wait_for(crashed_once, timeout=60, what="a container of web to have crashed once")
    logs = lab.kubectl("logs", pod, "-n", m.namespace, "--previous", quiet=True, check=False)
    assert f"fatal: {CRASH_VARIABLE} is not set" in logs  # the clue a learner reads

    delete_pods(lab, m.namespace)
    symptom = run_check("mystery-crash", lab=lab, diagnosis=mystery_crash.DIAGNOSIS)
    assert not symptom and f"of {REPLICAS} pods of web are Running" in symptom.feedback

    mystery_crash.fix(lab)
    solved = once_running("crash", lab, mystery_crash.DIAGNOSIS)
    assert solved, solved.feedback
    wrong_words = run_check("mystery-crash", lab=lab, diagnosis="the scheduler was stopped")
    assert not wrong_words and "✗ your diagnosis does not name the cause yet" in wrong_words.feedback
