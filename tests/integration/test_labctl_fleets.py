"""`labctl up --nodes 1000 --runtime simulated` runs four fleet processes, and `labctl down` leaves nothing.

Before fleets, `up` started one ~35 MB process per node and failed at node 216 when a port it had
picked was taken meanwhile; now 1,000 nodes are four supervised `fleet-*` components.
"""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from orchestrator.lab.embedded.ports import free_port, port_is_free
from tests.labctl import processes_mentioning
from tests.labctl import run_labctl as labctl


@pytest.fixture
def lab_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "lab"
    yield home
    if processes_mentioning(home):
        labctl(home, "down")


def _ready_nodes(home: Path) -> int:
    config = yaml.safe_load((home / "admin.kubeconfig").read_text())
    server = config["clusters"][0]["cluster"]["server"]
    token = config["users"][0]["user"]["token"]
    verify = ssl.create_default_context(cafile=str(home / "pki" / "ca.crt"))
    nodes = httpx.get(f"{server}/api/v1/nodes", headers={"Authorization": f"Bearer {token}"}, verify=verify,
                      timeout=60).json()["items"]
    return sum(1 for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                       for c in (n.get("status") or {}).get("conditions") or []))


def test_up_with_1000_simulated_nodes_runs_four_supervised_fleets_and_down_leaves_nothing(lab_home: Path) -> None:
    up = labctl(lab_home, "up", "--nodes", "1000", "--runtime", "simulated", "--port", str(free_port()),
                "--skip", "scheduler", "--straight-to-running")
    assert up.returncode == 0, up.stdout + up.stderr
    state = json.loads((lab_home / "run" / "state.json").read_text())
    fleets = [c for c in state["components"] if c["name"].startswith("fleet-")]
    assert [c["name"] for c in fleets] == ["fleet-1", "fleet-2", "fleet-3", "fleet-4"]
    assert not [c for c in state["components"] if c["name"].startswith("node-")]
    assert [(a[a.index("--first-index") + 1], a[a.index("--count") + 1]) for a in (c["argv"] for c in fleets)] == [
        ("1", "250"), ("251", "250"), ("501", "250"), ("751", "250")]
    status = labctl(lab_home, "status")
    assert status.returncode == 0, status.stderr
    assert all(f"fleet-{i}" in status.stdout for i in range(1, 5)), status.stdout

    deadline = time.monotonic() + 150
    ready = 0
    while time.monotonic() < deadline and (ready := _ready_nodes(lab_home)) < 1000:
        time.sleep(3)
    assert ready == 1000
    # The fleets cost what a fleet costs, not 1,000 processes.
    rss = sum(psutil.Process(c["pid"]).memory_info().rss for c in fleets) / 2**20
    assert rss < 1000, f"four fleets use {rss:.0f} MiB"

    # A fleet that dies is restarted by the watchdog like any component.
    victim = fleets[1]
    os.kill(victim["pid"], 9)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        again = next(c for c in json.loads((lab_home / "run" / "state.json").read_text())["components"]
                     if c["name"] == "fleet-2")
        if again["pid"] != victim["pid"] and psutil.pid_exists(again["pid"]):
            break
        time.sleep(1)
    else:
        raise AssertionError("the watchdog did not restart fleet-2")

    ports = [int(c["address"].rpartition(":")[2]) for c in
             json.loads((lab_home / "run" / "state.json").read_text())["components"] if c["address"]]
    down = labctl(lab_home, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert processes_mentioning(lab_home) == []
    assert all(port_is_free(p) for p in ports)
