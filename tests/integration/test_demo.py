"""`labctl demo` (what `make demo` runs) on a fresh lab home: exit 0, every step of the seed's data flow
shown, nothing left behind — once on simulated nodes and once on Docker.

stdout is a pipe here, so the live pods table must have degraded to one printed line per change
(rich's `Live` alone would print only its last frame).
"""

from __future__ import annotations

import re
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from orchestrator.cli.main import app
from orchestrator.lab.embedded.ports import free_port
from tests.labctl import run_labctl
from tests.support.skips import require_docker

STEPS = (
    "1  you POST the desired state: a Deployment of 3 pods",
    "2-4  API server: INSERT pod (Pending) into PostgreSQL",
    "5-7  scheduler: watch → pick a node → POST pods/<name>/binding",
    "8-10  node agent: watch → start the container",
    "reconcile  delete one pod",
    "cascade  DELETE the Deployment",
)
# what the node agent's containerID starts with on each runtime
SCHEMES = {"docker": "docker", "simulated": "labkit-sim"}


def _processes_of(home: Path) -> list[dict[str, object]]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(str(home) in part for part in cmdline):
            found.append(proc.info)
    return found


def _check_demo_output(out: str, *, runtime: str) -> list[str]:
    """Every step in order, the pod followed through storage, the replacement; returns the pod names seen."""
    positions = [out.find(step) for step in STEPS]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), out
    assert f"2 node agents on {'Docker' if runtime == 'docker' else 'the simulated runtime'}" in out, out
    assert f"start the container ({runtime})" in out, out
    followed = re.search(r"following pod/(\S+):", out)
    assert followed, out
    pod = followed.group(1)
    # the followed pod's row, outbox and stream entry at each step, ids = revisions
    for step in ("2-4 after create", "5-7 after binding", "8-10 after status update", "after delete"):
        assert f"{step}: pod {pod} at revision" in out, out
    added = re.search(rf"ADDED\s+pod/{pod}\s+rv (\d+)\s+Pending", out)
    assert added, out
    assert re.search(rf"{added.group(1)}-0 ADDED", out), out  # the Redis entry of that revision
    assert re.search(rf"MODIFIED\s+pod/{pod}\s+rv \d+\s+\w+\s+node-\d\s+bound to node-\d \(scheduler\)", out), out
    assert re.search(rf"MODIFIED\s+pod/{pod}\s+rv \d+\s+Running\s+node-\d", out), out
    assert re.search(rf"pod/{pod} Running on node-\d at revision \d+, container {SCHEMES[runtime]}://[0-9a-z]", out), out
    assert re.search(rf"DELETED\s+pod/{pod}\s", out), out
    replacement = re.search(r"replacement pod/(\S+) created", out)
    assert replacement and replacement.group(1) != pod, out
    assert re.search(rf"MODIFIED\s+pod/{replacement.group(1)}\s+rv \d+\s+Running", out), out
    assert "each exactly once, in order" in out, out
    assert "lab stopped" in out, out
    return sorted(set(re.findall(r"pod/(demo-[a-z0-9]+-[a-z0-9]+)", out)))


def test_demo_on_simulated_nodes_shows_every_step_and_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    result = run_labctl(home, "demo", "--runtime", "simulated", "--service", "--port", str(free_port()))
    assert result.returncode == 0, result.stdout + result.stderr
    pods = _check_demo_output(result.stdout, runtime="simulated")
    # --service on simulated nodes: the EndpointSlice and the proxy's dry-run rules, no request.
    assert re.search(r"service/demo created: ClusterIP 10\.\d+\.\d+\.\d+", result.stdout), result.stdout
    assert "a dry run: computed, not applied" in result.stdout and "DNAT --to-destination" in result.stdout
    assert "the request is left out" in result.stdout
    assert len(pods) == 4, pods  # 3 replicas + the replacement
    assert _processes_of(home) == []


def test_demo_on_docker_runs_real_containers_and_removes_them(tmp_path: Path) -> None:
    require_docker()
    import docker

    home = tmp_path / "demo-home"
    result = run_labctl(home, "demo", "--runtime", "docker", "--service", "--port", str(free_port()))
    assert result.returncode == 0, result.stdout + result.stderr
    pods = _check_demo_output(result.stdout, runtime="docker")
    # --service on Docker: real requests from another pod through the ClusterIP reach the Deployment's pods.
    answered = re.search(r"9 requests from pod/demo-client to http://\S+ were answered by: (.*)", result.stdout)
    assert answered and "demo-" in answered.group(1) and "failed" not in answered.group(1), result.stdout
    assert "applied with iptables-restore" in result.stdout
    assert _processes_of(home) == []
    client = docker.from_env()
    try:
        # Container names are k8s_<container>_<pod>_<namespace>_<uid>_<attempt>, as kubelet's. The low-level
        # list: the high-level one inspects each container and fails on one that another lab removes meanwhile.
        names = [name for c in client.api.containers(all=True) for name in c.get("Names") or []]
    finally:
        client.close()
    assert [n for n in names if any(f"_{pod}_" in n for pod in pods)] == []


def test_demo_rejects_bad_options_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "demo-home"
    monkeypatch.setenv("LABKIT_HOME", str(home))
    runner = CliRunner()
    for args, message in ((("--runtime", "podman"), "error: unknown --runtime 'podman': use one of auto, docker, simulated"),
                          (("--nodes", "0"), "error: --nodes 0: the demo needs 1 to 20 node agents")):
        result = runner.invoke(app, ["demo", *args])
        assert result.exit_code == 1, result.output
        assert result.stderr.strip().splitlines() == [message]
    assert not (home / "run" / "state.json").exists()  # nothing was started


def test_demo_that_cannot_start_its_lab_says_why_and_leaves_nothing_behind(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    nobody = f"postgresql://labkit@127.0.0.1:{free_port()}/labkit"  # a PostgreSQL that is not there
    result = run_labctl(home, "demo", "--runtime", "simulated", env={"DATABASE_URL": nobody}, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("error: ") and "DATABASE_URL" in first, result.stderr
    assert "Traceback" not in result.stderr
    assert _processes_of(home) == []
