"""`labctl up` / `status` / `down` as a user runs them, and the supervisor under them.

labctl runs as a subprocess with LABKIT_HOME in a temporary directory; afterwards no
process may mention that directory and no port the lab used may be busy.
"""

import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from orchestrator.lab.embedded.ports import free_port, pid_alive, port_is_free, wait_exit
from orchestrator.lab.home import LabHome
from orchestrator.lab.supervisor import ComponentSpec, Supervisor, SupervisorError
from tests.labctl import processes_mentioning
from tests.labctl import run_labctl as labctl


def recorded_ports(home: Path) -> list[int]:
    state = json.loads((home / "run" / "state.json").read_text())
    return [int(c["address"].rpartition(":")[2]) for c in state["components"] if c["address"]]


@pytest.fixture
def lab_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "lab"
    yield home
    down_if_anything_runs(home)


def down_if_anything_runs(home: Path) -> None:
    """`labctl down`, unless nothing of the lab runs (a failing test must not leak a cluster)."""
    try:
        state = json.loads((home / "run" / "state.json").read_text())
    except FileNotFoundError:
        state = {}
    if state.get("components") or state.get("watchdog") or processes_mentioning(home):
        labctl(home, "down")


# Only PostgreSQL, Redis and the watchdog: enough for what a test about `up` itself checks.
STORAGE_ONLY = ("--nodes", "0", "--skip", "apiserver", "--skip", "relay", "--skip", "scheduler",
                "--skip", "controller-manager")  # fmt: skip


def test_up_status_down_leaves_no_process_and_no_port_behind(lab_home: Path) -> None:
    up = labctl(lab_home, "up", "--nodes", "1", "--runtime", "simulated", "--port", str(free_port()))
    assert up.returncode == 0, up.stderr
    assert "postgres" in up.stdout and "redis" in up.stdout and "lab is up" in up.stdout
    assert "watchdog" in up.stdout
    ports = recorded_ports(lab_home)
    assert len(ports) >= 2 and not any(port_is_free(p) for p in ports)
    watchdog = json.loads((lab_home / "run" / "state.json").read_text())["watchdog"]["pid"]
    assert pid_alive(watchdog)

    status = labctl(lab_home, "status")
    assert status.returncode == 0, status.stderr
    lines = {line.split()[0]: line.split() for line in status.stdout.splitlines() if line.strip()}
    assert lines["COMPONENT"] == ["COMPONENT", "STATE", "RESTARTS", "PID", "ADDRESS", "AGE", "LAST-EXIT"]
    names = ("postgres", "redis", "apiserver", "relay", "scheduler", "controller-manager", "metrics-server", "node-1")
    assert all(lines[name][1:3] == ["healthy", "0"] for name in names), status.stdout

    kubeconfig = labctl(lab_home, "kubeconfig")
    assert kubeconfig.returncode == 0
    assert Path(kubeconfig.stdout.strip()) == lab_home / "admin.kubeconfig"
    assert (lab_home / "kubeconfigs" / "node-1.kubeconfig").exists()

    state = json.loads((lab_home / "run" / "state.json").read_text())
    assert state["lab"]["nodes"] == 1 and state["lab"]["runtime"] == "simulated"

    down = labctl(lab_home, "down")
    assert down.returncode == 0, down.stderr
    assert "lab is down" in down.stdout and "stopped watchdog" in down.stdout
    assert processes_mentioning(lab_home) == []
    assert all(port_is_free(p) for p in ports)
    assert not pid_alive(watchdog)

    status_after = labctl(lab_home, "status")
    assert status_after.returncode == 0 and "not running" in status_after.stdout


def test_up_on_a_running_lab_changes_nothing_and_on_a_broken_one_restarts_what_died(lab_home: Path) -> None:
    assert labctl(lab_home, "up", *STORAGE_ONLY).returncode == 0
    state_before = json.loads((lab_home / "run" / "state.json").read_text())
    again = labctl(lab_home, "up", *STORAGE_ONLY)
    assert again.returncode == 0, again.stderr
    assert "lab is already up" in again.stdout
    state_after = json.loads((lab_home / "run" / "state.json").read_text())
    assert [c["pid"] for c in state_after["components"]] == [c["pid"] for c in state_before["components"]]
    assert state_after["watchdog"]["pid"] == state_before["watchdog"]["pid"]

    # Without its watchdog, a killed Redis stays down until `up` starts it (and the watchdog) again.
    supervisor = Supervisor(LabHome(lab_home))
    with supervisor.lock():
        supervisor.stop_watchdog()
    redis_record = supervisor.record("redis")
    assert redis_record is not None and redis_record.pid is not None
    os.kill(redis_record.pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(redis_record.pid)], timeout=10)

    status = labctl(lab_home, "status")
    assert next(line for line in status.stdout.splitlines() if line.startswith("redis")).split()[1] == "exited"
    assert "watchdog not running" in status.stdout

    repaired = labctl(lab_home, "up", *STORAGE_ONLY)
    assert repaired.returncode == 0, repaired.stderr
    assert "stale pid file" in repaired.stdout
    restarted = next(line for line in repaired.stdout.splitlines() if "redis" in line and "started" in line)
    assert redis_record.address in restarted
    assert next(line for line in repaired.stdout.splitlines() if "watchdog" in line).split()[2] == "started"
    assert supervisor.watchdog_running()


def test_busy_api_server_port_fails_with_one_red_line_before_starting_anything(lab_home: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        up = labctl(lab_home, "up", "--port", str(port))
    assert up.returncode == 1
    assert "Traceback" not in up.stderr
    lines = up.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot start the API server: port")
    assert processes_mentioning(lab_home) == []


def test_unreachable_database_url_fails_with_one_line_and_starts_nothing(lab_home: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/labkit"
    up = labctl(lab_home, "up", env={"DATABASE_URL": url})
    assert up.returncode == 1
    assert up.stderr.strip() == (
        f"error: DATABASE_URL {url} is unreachable: cannot connect to 127.0.0.1:{url.split(':')[2].split('/')[0]} "
        "(Connection refused); start that server, or unset DATABASE_URL to use the embedded PostgreSQL"
    )
    assert processes_mentioning(lab_home) == []


def test_unknown_runtime_is_rejected_with_the_allowed_values(lab_home: Path) -> None:
    up = labctl(lab_home, "up", "--runtime", "podman")
    assert up.returncode == 1
    assert "use one of auto, docker, simulated" in up.stderr


def test_kubeconfig_before_up_is_a_clear_error(lab_home: Path) -> None:
    result = labctl(lab_home, "kubeconfig")
    assert result.returncode == 1 and "run `labctl up` first" in result.stderr


# --- the supervisor with small real processes --------------------------------------------------


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_supervisor_names_the_component_and_its_log_when_it_dies_on_start(tmp_path: Path) -> None:
    supervisor = Supervisor(LabHome(tmp_path))
    spec = ComponentSpec(name="crasher", argv=_python("print('bad flag --frobnicate'); raise SystemExit(3)"))
    with pytest.raises(SupervisorError) as excinfo:
        supervisor.start(spec)
    message = str(excinfo.value)
    assert message.startswith("crasher exited while starting")
    assert str(tmp_path / "logs" / "crasher.log") in message
    assert "bad flag --frobnicate" in message
    assert supervisor.records() == []


def test_supervisor_waits_for_an_http_health_url_and_frees_the_port_on_stop(tmp_path: Path) -> None:
    supervisor = Supervisor(LabHome(tmp_path))
    port = free_port()
    spec = ComponentSpec(
        name="web",
        argv=[
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(tmp_path),
        ],
        health=f"http://127.0.0.1:{port}/",
        address=f"127.0.0.1:{port}",
    )
    record, started = supervisor.start(spec)
    assert started and pid_alive(record.pid)
    assert supervisor.start(spec) == (record, False)  # idempotent
    [row] = supervisor.status()
    assert row.name == "web" and row.running and row.healthy

    assert supervisor.stop_all() == ["web"]
    assert not pid_alive(record.pid) and port_is_free(port)
    assert supervisor.status() == []


def test_supervisor_kills_a_component_that_ignores_sigterm(tmp_path: Path) -> None:
    supervisor = Supervisor(LabHome(tmp_path))
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)"
    record, _ = supervisor.start(ComponentSpec(name="stubborn", argv=_python(stubborn)))
    supervisor.stop_all(timeout=0.5)
    assert wait_exit(record.pid, timeout=5)


def test_supervisor_refuses_to_start_a_component_before_its_dependency(tmp_path: Path) -> None:
    supervisor = Supervisor(LabHome(tmp_path))
    spec = ComponentSpec(name="apiserver", argv=_python("pass"), depends_on=("postgres",))
    with pytest.raises(
        SupervisorError, match="cannot start apiserver: it needs postgres, which is not running"
    ):
        supervisor.start(spec)


def test_supervisor_checks_https_health_against_the_lab_ca(tmp_path: Path) -> None:
    from orchestrator.lab.pki import ensure_pki

    home = LabHome(tmp_path)
    ensure_pki(home)
    port = free_port()
    serve_tls = (
        "import http.server, ssl, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200 if self.path == '/readyz' else 404); self.end_headers()\n"
        f"server = http.server.HTTPServer(('127.0.0.1', {port}), H)\n"
        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
        f"ctx.load_cert_chain({str(home.apiserver_cert)!r}, {str(home.apiserver_key)!r})\n"
        "server.socket = ctx.wrap_socket(server.socket, server_side=True)\n"
        "server.serve_forever()\n"
    )
    supervisor = Supervisor(home)
    record, started = supervisor.start(
        ComponentSpec(
            name="tls",
            argv=_python(serve_tls),
            health=f"https://127.0.0.1:{port}/readyz",
            address=f"127.0.0.1:{port}",
            start_timeout=20,
        )
    )
    assert started
    [row] = supervisor.status()
    assert row.healthy
    supervisor.stop_all()
    assert port_is_free(port)
