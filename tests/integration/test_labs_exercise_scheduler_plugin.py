"""Exercise "scheduler-plugin" on a live lab: the reference solution, loaded by name into a second
scheduler process, sends a pod to the zone=fast node; the stub stops before any process is started;
a plugin that cannot be imported is refused before a scheduler is started."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import labs
from labs import nodes, scheduling
from labs.checks import run_check
from orchestrator.lab.embedded.ports import free_port

SOLUTION = "labs.solutions.scheduler_plugin:PreferFastZone"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labs.Lab]:
    home = tmp_path_factory.mktemp("lab")
    # The lab remembers its API server port in run/state.json; a free one keeps it off 6443, which
    # another lab on this machine may hold.
    (home / "run").mkdir()
    (home / "run" / "state.json").write_text(
        json.dumps({"components": [], "lab": {"ports": {"apiserver": free_port()}}})
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_HOME", str(home))
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        lab = labs.start(nodes=0, runtime="simulated", skip=("controller-manager",), show=False)
        try:
            nodes.add_node(lab, "fast-1", cpu="1", memory="2Gi", labels={"zone": "fast"}, show=False)
            nodes.add_node(lab, "roomy-1", cpu="4", memory="8Gi", labels={"zone": "standard"}, show=False)
            yield lab
        finally:
            lab.stop()


def test_the_solution_passes_on_the_live_scheduler_and_prefers_the_fast_node(lab: labs.Lab) -> None:
    result = run_check("scheduler-plugin", plugin=SOLUTION, lab=lab)
    assert result.passed, result.feedback
    assert "scheduler-exercise runs it on the live cluster: the pod would go to fast-1" in result.feedback
    # The default scheduler, without the plugin, prefers the roomier node for the same pod.
    probe = {"metadata": {"name": "probe"}, "spec": {"containers": [{"name": "main", "image": "busybox",
             "resources": {"requests": {"cpu": "100m"}}}]}}  # fmt: skip
    assert scheduling.explain(lab, probe).chosen_node == "roomy-1"


def test_the_stub_is_stopped_before_the_live_step(lab: labs.Lab) -> None:
    result = run_check("scheduler-plugin", lab=lab)
    assert not result.passed
    assert "NotImplementedError" in result.feedback
    assert "live cluster" not in result.feedback


def test_a_plugin_that_cannot_be_imported_is_refused_before_a_scheduler_starts(lab: labs.Lab) -> None:
    with pytest.raises(labs.LabError, match="cannot import plugin module 'labs.exercises.no_such_module'"):
        scheduling.start_scheduler(lab, name="broken", plugins={"labs.exercises.no_such_module:Nope": 1})
    assert lab.supervisor.record("scheduler-broken") is None
    assert not Path(lab.home.run_dir / "scheduler-broken.yaml").exists()
