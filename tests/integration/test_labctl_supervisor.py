"""The watchdog and `labctl stop` / `labctl start` on real labs: kill -9 any component and it
comes back (same port, restart counted); a stopped component stays stopped until started; a
lab whose owner process ends goes down by itself, leaving no process and no port.

The labs have only the components a test needs (LABKIT_HOME under tmp_path). Starting one
takes tens of seconds on a busy machine, so the tests of killing, stopping and naming components
share one lab (`lean_lab`); each leaves it whole. The owner test has a lab of its own: it ends it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.lab.embedded.ports import RunningServer, free_port, pid_alive, port_is_free
from orchestrator.lab.home import LabHome
from orchestrator.lab.supervisor import ComponentSpec, Supervisor, SupervisorError
from orchestrator.lab.watchdog import Backoff, Watchdog
from tests.integration.test_labctl_updown import STORAGE_ONLY, down_if_anything_runs
from tests.labctl import processes_mentioning
from tests.labctl import run_labctl as labctl

SLOW = 120.0  # generous: the machine is shared and slow


def state(home: Path) -> dict[str, Any]:
    return json.loads((home / "run" / "state.json").read_text())


def component(home: Path, name: str) -> dict[str, Any]:
    return next(c for c in state(home)["components"] if c["name"] == name)


def wait_until(condition: Callable[[], Any], *, what: str, timeout: float = SLOW) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f}s for {what}")
        time.sleep(0.2)


def status_rows(home: Path) -> dict[str, list[str]]:
    """`labctl status` as {component: its cells}; the STATE cell is a single word here."""
    result = labctl(home, "status")
    assert result.returncode == 0, result.stderr
    return {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}


def watchdog_rounds(home: Path, n: int) -> None:
    """Wait until the watchdog has finished `n` more rounds (its heartbeat file's mtime moves)."""
    beat = home / "run" / "watchdog.beat"
    for _ in range(n):
        before = beat.stat().st_mtime_ns
        wait_until(lambda b=before: beat.stat().st_mtime_ns != b, what="a watchdog round", timeout=30)


def up(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = labctl(home, "up", "--port", str(free_port()), *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


LEAN = ("--nodes", "1", "--runtime", "simulated", "--skip", "relay", "--skip", "controller-manager",
        "--skip", "proxy", "--skip", "dns", "--skip", "metrics-server")
KINDS = ("postgres", "redis", "apiserver", "scheduler", "node-1")  # embedded servers, https, gRPC, node


@pytest.fixture
def lab_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "lab"
    yield home
    down_if_anything_runs(home)


@pytest.fixture(scope="module")
def lean_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("lean") / "lab"
    up(home, *LEAN)
    yield home
    down = labctl(home, "down")
    assert down.returncode == 0, down.stderr
    assert processes_mentioning(home) == []


def all_healthy(home: Path, names: tuple[str, ...] = KINDS) -> bool:
    return all(row.state == "healthy" for row in Supervisor(LabHome(home)).status() if row.name in names)


def test_watchdog_restarts_each_kind_of_component_killed_with_sigkill(lean_lab: Path) -> None:
    lab_home = lean_lab
    victims = KINDS
    before = {name: component(lab_home, name) for name in victims}
    for record in before.values():
        os.kill(record["pid"], signal.SIGKILL)

    def all_back() -> bool:
        for name in victims:
            now = component(lab_home, name)
            if now["restarts"] < 1 or now["pid"] == before[name]["pid"] or not pid_alive(now["pid"]):
                return False
        return all_healthy(lab_home)

    wait_until(all_back, what="every killed component to be restarted and healthy")
    for name in victims:
        assert component(lab_home, name)["address"] == before[name]["address"]  # the same port
    rows = status_rows(lab_home)
    assert rows["COMPONENT"][:3] == ["COMPONENT", "STATE", "RESTARTS"]
    assert all(int(rows[name][2]) >= 1 for name in victims)
    assert rows["watchdog"][:2] == ["watchdog", "pid"]

    # Restarted by the watchdog, the node agent is now its child: its next death is named exactly.
    node = component(lab_home, "node-1")
    os.kill(node["pid"], signal.SIGKILL)
    again = wait_until(
        lambda: (c := component(lab_home, "node-1"))["restarts"] > node["restarts"] and pid_alive(c["pid"]) and c,
        what="node-1 restarted a second time",
    )
    assert again["last_exit"] == "killed by SIGKILL"
    assert "node-1 (pid" in (lab_home / "logs" / "watchdog.log").read_text()
    wait_until(lambda: all_healthy(lab_home), what="every component healthy again")


def test_stop_keeps_a_component_stopped_until_start(lean_lab: Path) -> None:
    lab_home = lean_lab
    supervisor = Supervisor(LabHome(lab_home))

    # The CLI, as a failure lab uses it: the node agent stops and stays stopped.
    old = component(lab_home, "node-1")
    stopped = labctl(lab_home, "stop", "node-1")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped node-1" in stopped.stdout
    assert not pid_alive(old["pid"]) and port_is_free(int(old["address"].rpartition(":")[2]))
    watchdog_rounds(lab_home, 2)
    assert component(lab_home, "node-1")["restarts"] == old["restarts"]
    assert status_rows(lab_home)["node-1"][1:4] == ["stopped", "by", "user"]
    started = labctl(lab_home, "start", "node-1")
    assert started.returncode == 0, started.stderr
    assert "node-1 is running" in started.stdout
    assert all_healthy(lab_home, ("node-1",))

    # The Python API the notebooks use, for every other kind of component.
    for name in ("scheduler", "apiserver", "redis", "postgres"):
        record = supervisor.record(name)
        assert record is not None
        assert supervisor.stop_component(name) is True
        assert not pid_alive(record.pid) and record.port is not None and port_is_free(record.port)
        watchdog_rounds(lab_home, 1)
        after = supervisor.record(name)
        assert after is not None and after.stopped_by_user and not supervisor.alive(after)
        fresh = supervisor.start_component(name)
        assert fresh.pid != record.pid and fresh.address == record.address and supervisor.alive(fresh)
        assert fresh.restarts == record.restarts  # a start on request is not a restart
    wait_until(lambda: all_healthy(lab_home), what="every component healthy again")


def test_unknown_component_is_one_line_listing_the_known_names(lean_lab: Path, tmp_path: Path) -> None:
    for verb in ("stop", "start"):
        result = labctl(lean_lab, verb, "node-9")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [
            "error: unknown component 'node-9': this lab's components are postgres, redis, apiserver, scheduler, node-1"
        ]
    no_lab = Supervisor(LabHome(tmp_path / "nolab"))
    with pytest.raises(SupervisorError) as excinfo:
        no_lab.stop_component("node-1")
    assert str(excinfo.value) == (
        f"unknown component 'node-1': the lab in {tmp_path / 'nolab'} is not running; start it with `labctl up`"
    )


def test_the_lab_goes_down_when_its_owner_process_ends(lab_home: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        up(lab_home, "--owner-pid", str(owner.pid), *STORAGE_ONLY)
        ports = [int(c["address"].rpartition(":")[2]) for c in state(lab_home)["components"]]
        watchdog = state(lab_home)["watchdog"]["pid"]
        assert len(ports) == 2 and pid_alive(watchdog)
        assert "the lab stops when process" in labctl(lab_home, "status").stdout
    finally:
        owner.kill()
        owner.wait()
    # Waited for together: a process part-way through exiting has no command line any more (so
    # processes_mentioning no longer lists it) but is not yet a zombie (so pid_alive is still true).
    wait_until(lambda: processes_mentioning(lab_home) == [] and not pid_alive(watchdog),
               what="every lab process, the watchdog too, to end")
    assert all(port_is_free(p) for p in ports)
    assert state(lab_home)["components"] == [] and "owner" not in state(lab_home)["lab"]
    assert "owner process" in (lab_home / "logs" / "watchdog.log").read_text()


def test_owner_pid_that_does_not_run_is_refused_before_anything_starts(lab_home: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    result = labctl(lab_home, "up", "--owner-pid", str(dead.pid), "--port", str(free_port()))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: owner process {dead.pid} is not running"
    assert processes_mentioning(lab_home) == []


# --- the watchdog's rounds with a fake clock and a small real process -------------------------


def test_watchdog_round_waits_out_the_back_off_then_restarts_and_doubles_it(tmp_path: Path) -> None:
    supervisor = Supervisor(LabHome(tmp_path))
    spec = ComponentSpec(name="sleeper", argv=[sys.executable, "-c", "import time; time.sleep(600)"])
    record, _ = supervisor.start(spec)
    watchdog = Watchdog(LabHome(tmp_path), policy=Backoff(initial=1.0, cap=30.0, reset_after=60.0))
    try:
        os.kill(record.pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(record.pid), what="the sleeper to die")  # reaps it: Popen learns how
        t0 = record.started_at + 5.0  # it "ran" 5 s

        watchdog.tick(t0)
        crashed = supervisor.record("sleeper")
        assert crashed is not None
        assert crashed.backoff == 1.0 and crashed.backoff_until == t0 + 1.0 and crashed.restarts == 0
        assert crashed.last_exit == "killed by SIGKILL"  # this test process was its parent
        assert supervisor.status()[0].state == "exited"  # no watchdog process runs for this home

        watchdog.tick(t0 + 0.5)
        assert supervisor.record("sleeper") == crashed  # still backing off

        watchdog.tick(t0 + 1.0)
        restarted = supervisor.record("sleeper")
        assert restarted is not None and restarted.restarts == 1 and restarted.backoff_until is None
        assert supervisor.alive(restarted) and restarted.pid != record.pid

        # Dies again 5 s into its new life: the next delay doubles.
        os.kill(restarted.pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(restarted.pid), what="the sleeper to die again")
        watchdog.tick(restarted.started_at + 5.0)
        again = supervisor.record("sleeper")
        assert again is not None and again.backoff == 2.0 and again.restarts == 1

        # Stopped by the user during its back-off: no round restarts it.
        supervisor.stop_component("sleeper")
        watchdog.tick(restarted.started_at + 100.0)
        final = supervisor.record("sleeper")
        assert final is not None and final.stopped_by_user and not supervisor.alive(final)
        assert supervisor.status()[0].state == "stopped by user"
    finally:
        supervisor.stop_all()


def test_start_component_refuses_a_component_whose_dependency_is_stopped(tmp_path: Path) -> None:
    supervisor = Supervisor(LabHome(tmp_path))
    sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
    supervisor.start(ComponentSpec(name="db", argv=sleep))
    supervisor.start(ComponentSpec(name="app", argv=sleep, depends_on=("db",)))
    try:
        supervisor.stop_component("app")
        supervisor.stop_component("db")
        with pytest.raises(SupervisorError, match="cannot start app: it needs db, which is not running"):
            supervisor.start_component("app")
        supervisor.start_component("db")
        assert supervisor.alive(supervisor.start_component("app"))
    finally:
        supervisor.stop_all()


def test_external_servers_are_never_stopped_started_or_restarted(tmp_path: Path) -> None:
    supervisor = Supervisor(LabHome(tmp_path))
    port = free_port()  # nobody listens: the watchdog must not try to "restart" it either
    supervisor.adopt(RunningServer(name="postgres", url=f"postgresql://db:{port}/x", host="127.0.0.1", port=port))
    for verb in (supervisor.stop_component, supervisor.start_component):
        with pytest.raises(SupervisorError, match="postgres is an external server .*labctl never"):
            verb("postgres")
    Watchdog(LabHome(tmp_path)).tick(time.time() + 100)
    [row] = supervisor.status()
    assert row.external and row.state == "unreachable" and row.restarts == 0
    record = supervisor.record("postgres")
    assert record is not None and record.backoff_until is None and record.last_exit is None
