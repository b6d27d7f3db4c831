"""`labctl down` stops the pods' containers too and `labctl up` brings the pods back as their
restartPolicy says (a node powered off and on); `labctl delete` removes the lab completely.
On the real Docker engine, with labctl as a subprocess."""

from __future__ import annotations

import csv
import json
import ssl
import time
from pathlib import Path
from typing import Any

import httpx

from orchestrator.lab.containers import lab_cluster_id
from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.home import LabHome
from tests.labctl import processes_mentioning, run_labctl
from tests.support.skips import require_docker


def _pod(name: str, restart: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "node-1", "restartPolicy": restart, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": "labkit/busybox:1.0", "imagePullPolicy": "Never",
                                     "command": ["sleep", "3600"]}]}}


def _client(home: Path) -> httpx.Client:
    state = json.loads((home / "run" / "state.json").read_text())
    token = next(row[0] for row in csv.reader((home / "tokens.csv").read_text().splitlines()) if row[1] == "admin")
    return httpx.Client(base_url=f"https://127.0.0.1:{state['lab']['ports']['apiserver']}",
                        verify=ssl.create_default_context(cafile=str(home / "pki" / "ca.crt")),
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _wait_phase(home: Path, name: str, phase: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    pod: dict[str, Any] = {}
    with _client(home) as client:
        while time.monotonic() < deadline:
            r = client.get(f"/api/v1/namespaces/default/pods/{name}")
            pod = r.json() if r.status_code == 200 else {}
            if (pod.get("status") or {}).get("phase") == phase:
                return pod
            time.sleep(0.3)
    raise AssertionError(f"pod {name} did not become {phase}: {pod.get('status')}")


def _lab_containers(home: Path) -> list[Any]:
    import docker

    client = docker.from_env()
    try:
        cluster = lab_cluster_id(LabHome(home))
        return client.containers.list(all=True, filters={"label": f"labkit.cluster={cluster}"}, ignore_removed=True)
    finally:
        client.close()


def test_down_stops_the_containers_up_brings_the_pods_back_and_delete_removes_everything(tmp_path: Path) -> None:
    require_docker()
    home = tmp_path / "lab"
    up_args = ("up", "--nodes", "1", "--runtime", "docker", "--port", str(free_port()), "--skip", "scheduler")
    try:
        up = run_labctl(home, *up_args)
        assert up.returncode == 0, up.stdout + up.stderr
        with _client(home) as client:
            for name, restart in (("always", "Always"), ("never", "Never")):
                r = client.post("/api/v1/namespaces/default/pods", json=_pod(name, restart))
                assert r.status_code == 201, r.text
        before = _wait_phase(home, "always", "Running")["status"]["containerStatuses"][0]
        _wait_phase(home, "never", "Running")

        down = run_labctl(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "stopped 2 pod container(s)" in down.stdout, down.stdout
        containers = _lab_containers(home)
        assert len(containers) == 2 and all(c.status == "exited" for c in containers), containers

        up = run_labctl(home, *up_args)  # the same lab, as a learner starts it again
        assert up.returncode == 0, up.stdout + up.stderr
        # Always: started again, one restart more. Never: the node went down under it, so it failed.
        deadline = time.monotonic() + 90
        while True:
            after = _wait_phase(home, "always", "Running")["status"]["containerStatuses"][0]
            if after.get("restartCount", 0) > before.get("restartCount", 0) and after.get("ready"):
                break
            assert time.monotonic() < deadline, after
            time.sleep(0.5)
        assert after["containerID"] != before["containerID"]
        never = _wait_phase(home, "never", "Failed")["status"]["containerStatuses"][0]
        assert never["state"]["terminated"]["exitCode"] != 0, never
    finally:
        deleted = run_labctl(home, "delete", "lab")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "removed the lab home" in deleted.stdout and "lab deleted" in deleted.stdout, deleted.stdout
    assert not home.exists()
    assert not processes_mentioning(home)
    import docker

    client = docker.from_env()
    try:  # no container of this lab is left, running or not (the cluster id is gone with the CA: look by node label)
        left = [c for c in client.containers.list(all=True, filters={"label": "labkit.node=node-1"}, ignore_removed=True)
                if c.id in {x.id for x in containers}]
    finally:
        client.close()
    assert not left, left


def test_delete_refuses_a_directory_that_is_not_a_lab_home_and_names_it(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("my thesis")
    result = run_labctl(tmp_path, "delete", "lab")
    assert result.returncode == 1
    assert f"{tmp_path} does not look like a lab home" in result.stderr and "LABKIT_HOME" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "my thesis"
    empty = run_labctl(tmp_path / "nothing-here", "delete", "lab")
    assert empty.returncode == 0 and "there was no lab to delete" in empty.stdout
