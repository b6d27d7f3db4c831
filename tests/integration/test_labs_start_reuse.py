"""`labs.start` on a lab that already runs: it says what it reused, refuses when a component it was
asked to leave out is running (naming the fix), and `fresh=True` gives a clean lab. Also `lab.apply`
without kubectl (the project's own client) and `lab.remove_leftovers`.

Kubernetes equivalent: none (the kit's teaching layer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import labs
from labs.lab import _unwanted
from orchestrator.lab.embedded.ports import free_port

REPO = Path(__file__).resolve().parents[2]
QUIET = ("scheduler", "controller-manager")
POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "leftover", "labels": {"app": "leftover"}},
    "spec": {"containers": [{"name": "main", "image": "busybox:latest", "command": ["sleep", "3600"]}]},
}  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "h"
    (home / "run").mkdir(parents=True)
    (home / "run" / "state.json").write_text(
        json.dumps({"components": [], "lab": {"ports": {"apiserver": free_port()}}})
    )
    monkeypatch.setenv("LABKIT_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    yield home
    from orchestrator.lab.down import down
    from orchestrator.lab.home import LabHome, LabSettings

    down(LabSettings(home=LabHome(home)))


def test_which_components_a_start_leaves_out() -> None:
    assert _unwanted("scheduler", skip=QUIET, nodes=2)
    assert not _unwanted("apiserver", skip=QUIET, nodes=2)
    assert _unwanted("node-3", skip=(), nodes=2) and not _unwanted("node-2", skip=(), nodes=2)
    assert _unwanted("node-1", skip=("nodes",), nodes=2)
    # nodes a notebook added itself (03's "small", 04's "short-backoff") are not the start's business
    assert not _unwanted("small", skip=("nodes",), nodes=0)


def test_start_reuses_refuses_and_starts_fresh(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = labs.start(nodes=0, runtime="simulated", skip=("controller-manager",), show=False)
    assert lab.supervisor.is_running("scheduler")

    # A notebook that wants a quiet lab must not silently get one whose scheduler keeps writing.
    with pytest.raises(labs.LabError) as refused:
        labs.start(nodes=0, runtime="simulated", skip=QUIET, show=False)
    message = str(refused.value)
    assert "without scheduler" in message and str(home) in message
    assert "labctl down" in message and "fresh=True" in message and "lab.stop()" in message

    # The same start as the running lab is reused, and says so.
    capsys.readouterr()
    again = labs.start(nodes=0, runtime="simulated", skip=("controller-manager",))
    shown = capsys.readouterr().out
    assert "reused, already running:" in shown and "apiserver" in shown and "scheduler" in shown

    # lab.apply needs no kubectl: the project's client does a client-side apply.
    with monkeypatch.context() as mp:
        mp.setenv("PATH", str(home))
        [created] = again.apply(POD)
        assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
        assert "pod/leftover created" in capsys.readouterr().out
        again.apply(POD)
        assert "pod/leftover unchanged" in capsys.readouterr().out
        with pytest.raises(labs.LabError) as no_kubectl:
            again.kubectl("get", "pods")
    for section in ("kubectl and the Python client", "labctl"):
        assert f"section '{section}'" in str(no_kubectl.value)
        assert f"\n## {section}\n" in (REPO / "README.md").read_text()

    # What an earlier run left goes, at once (grace period 0), and only that.
    assert again.remove_leftovers("leftover", "never-made") == ["leftover"]
    with again.http() as client:
        assert client.get("/api/v1/namespaces/default/pods/leftover").status_code == 404

    # fresh=True: the running lab is stopped, its data deleted, and the skipped scheduler stays off.
    again.apply(POD)
    clean = labs.start(nodes=0, runtime="simulated", skip=QUIET, fresh=True, show=False)
    assert not clean.supervisor.is_running("scheduler")
    with clean.http() as client:
        assert client.get("/api/v1/namespaces/default/pods/leftover").status_code == 404
    clean.stop()
