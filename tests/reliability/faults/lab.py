"""A whole lab for fault injection: what `labctl up` starts, plus standbys, plus inspectable nodes.

`FaultLab.start()` runs `orchestrator.lab.up.up` (embedded PostgreSQL and Redis, API server,
relay, scheduler, controller manager) without its node agents, then starts

- a standby scheduler and a standby controller manager (``--identity rel-standby``), so that
  killing a leader exercises leader election, not just a restart;
- ``nodes`` simulated node agents through `simnode` (the real agent, plus a dump of its
  runtime's containers that `containers()` reads).

`kill(name)` is kill -9 of the component's whole process group (PostgreSQL's backends die with
its postmaster: a crash, recovered on the next start). The lab's watchdog, which `up` starts,
restarts it from its record on the same port (Redis comes back empty: the lab's Redis never
persists); `wait_restarted(name)` waits for that, and restarts it itself only if the watchdog
does not. The standbys and nodes are recorded through the same `Supervisor`, so the watchdog
restarts them too.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.lab.components import ControllerManager, NodeAgent, Scheduler
from orchestrator.lab.embedded.ports import LOOPBACK, free_port, pid_alive
from orchestrator.lab.embedded.postgres import database_url
from orchestrator.lab.embedded.redis import redis_url
from orchestrator.lab.home import LabHome, LabSettings
from orchestrator.lab.supervisor import ComponentSpec, Supervisor
from orchestrator.lab.up import Outcome, up

REPO = Path(__file__).resolve().parents[3]
STANDBY = "rel-standby"


class _Quiet:
    def starting(self, name: str) -> None:
        pass

    def done(self, name: str, outcome: Outcome, detail: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass
class FaultLab:
    home: LabHome
    nodes: int = 3
    standbys: bool = True
    apiserver_port: int = 0
    specs: dict[str, ComponentSpec] = field(default_factory=dict)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.home)

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.apiserver_port}"

    @property
    def token(self) -> str:
        import yaml

        config = yaml.safe_load(self.home.kubeconfig.read_text())
        return str(config["users"][0]["user"]["token"])

    @property
    def ca_file(self) -> str:
        return str(self.home.ca_cert)

    @property
    def database_url(self) -> str:
        record = self.supervisor.record("postgres")
        assert record is not None and record.port is not None
        return database_url(record.port)

    @property
    def redis_url(self) -> str:
        record = self.supervisor.record("redis")
        assert record is not None and record.port is not None
        return redis_url(record.port)

    def node_names(self) -> list[str]:
        return [f"node-{i}" for i in range(1, self.nodes + 1)]

    # --- start / stop -----------------------------------------------------------------------

    def start(self) -> None:
        self.apiserver_port = free_port()
        self._up()
        ports = self.supervisor.lab.get("ports", {})
        for name in ("scheduler", "controller-manager") if self.standbys else ():
            kind = Scheduler if name == "scheduler" else ControllerManager
            grpc, metrics = free_port(), free_port()
            self.specs[f"{name}-standby"] = ComponentSpec(
                name=f"{name}-standby",
                argv=kind(kubeconfig=self.home.kubeconfig_for(name), leader_elect=True, identity=STANDBY,
                          bind_address=LOOPBACK, grpc_port=grpc, metrics_port=metrics).argv(),
                health=f"http://{LOOPBACK}:{metrics}/healthz",
                address=f"{LOOPBACK}:{grpc}",
            )
        del ports
        for node in self.node_names():
            log_port = free_port()
            self.specs[node] = ComponentSpec(
                name=node,
                argv=[sys.executable, "-m", "tests.reliability.faults.simnode",
                      "--state-file", str(self.state_file(node)),
                      *NodeAgent.flags(kubeconfig=self.home.kubeconfig_for(node), name=node, log_port=log_port,
                                       log_bind=LOOPBACK, apiserver_token_file=self.home.kubelet_client_token,
                                       **NodeAgent.tls_for(self.home, node))],  # as `labctl up` starts node agents
                env={"PYTHONPATH": str(REPO)},
                health=f"https://{LOOPBACK}:{log_port}/healthz",
                address=f"{LOOPBACK}:{log_port}",
            )
        for spec in self.specs.values():
            self.supervisor.start(spec)

    def _up(self) -> None:
        up(LabSettings(home=self.home), nodes=self.nodes, runtime="simulated", port=self.apiserver_port,
           skip=("nodes",), progress=_Quiet())

    def stop(self) -> None:
        self.supervisor.stop_all(timeout=10.0)

    # --- faults -----------------------------------------------------------------------------

    def pid(self, name: str) -> int | None:
        record = self.supervisor.record(name)
        return record.pid if record is not None else None

    def kill(self, name: str) -> int:
        """kill -9 the component's process group; returns the pid killed."""
        pid = self.pid(name)
        assert pid is not None and pid_alive(pid), f"{name} does not run"
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while pid_alive(pid):
            assert time.monotonic() < deadline, f"{name} (pid {pid}) survived SIGKILL"
            time.sleep(0.05)
        return pid

    def wait_restarted(self, name: str, *, old_pid: int, timeout: float = 60.0) -> str:
        """Wait until `name` runs again as a new, healthy process; returns who restarted it.

        The lab's watchdog (orchestrator/lab/watchdog.py) restarts crashed components after a
        back-off; that restart is part of what is tested. Only if it has not happened within
        `timeout` does the test restart the component itself (and the report says so).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._runs_anew(name, old_pid):
                return "watchdog"
            time.sleep(0.2)
        self.supervisor.start_component(name)
        while not self._runs_anew(name, old_pid):
            assert time.monotonic() < deadline + 60, f"{name} did not come back after a restart by the test"
            time.sleep(0.2)
        return "test"

    def _runs_anew(self, name: str, old_pid: int) -> bool:
        row = next((r for r in self.supervisor.status() if r.name == name), None)
        return row is not None and row.pid != old_pid and row.running and row.healthy

    def lease_holder(self, lease: str) -> str:
        """The holder of kube-system/<lease> as PostgreSQL has it (no API server needed)."""
        import asyncio

        import asyncpg

        async def read() -> str:
            conn = await asyncpg.connect(self.database_url)
            try:
                data = await conn.fetchval(
                    "SELECT data FROM objects WHERE resource = $1 AND namespace = 'kube-system' AND name = $2",
                    LEASE_RESOURCE, lease)
            finally:
                await conn.close()
            return str(json.loads(data)["spec"].get("holderIdentity") or "") if data else ""

        return asyncio.run(read())

    def leader_component(self, component: str) -> str:
        """'scheduler' or 'scheduler-standby' (likewise for the controller manager): who leads now."""
        lease = "kube-scheduler" if component == "scheduler" else "kube-controller-manager"
        holder = self.lease_holder(lease)
        return f"{component}-standby" if holder == STANDBY else component

    # --- the simulated runtimes -------------------------------------------------------------

    def state_file(self, node: str) -> Path:
        return self.home.run_dir / f"{node}.containers.json"

    def containers(self, node: str, *, newer_than: float) -> list[dict[str, Any]] | None:
        """The node's containers from a dump written after `newer_than` by the running agent."""
        try:
            dump = json.loads(self.state_file(node).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if dump["at"] < newer_than or dump["pid"] != self.pid(node):
            return None
        return list(dump["containers"])


LEASE_RESOURCE = "leases.coordination.k8s.io"
