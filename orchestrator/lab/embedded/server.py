"""The start-or-adopt skeleton every embedded server of a lab follows (PostgreSQL, Redis).

`start`: a server of this lab home already running (found through its own pid file, checked to be
the right program) is adopted as it is, on its port; otherwise the port (given, or a free one)
must be free, the server is launched detached (it outlives `labctl up`, `labctl down` stops it),
and waited for; if the wait fails the half-started process is stopped before the error goes up.
`stop`: the server's own shutdown signal, then the port must be free again.

A server supplies the steps that differ: where its binaries are (`prepare`), how to find a running
one (`running`), how to launch it and when it is ready, its URL, its stop signal.

Kubernetes equivalent: none; kubeadm runs etcd as a static pod (the kubelet's start-or-adopt).
"""

from __future__ import annotations

import signal
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from orchestrator.lab.embedded.ports import (
    LOOPBACK,
    EmbeddedServerError,
    RunningServer,
    free_port,
    require_free_port,
    stop_process,
    wait_port_free,
)
from orchestrator.lab.home import LabHome


class EmbeddedServer(ABC):
    """One kind of embedded server for one lab home; subclasses fill in the steps."""

    name: ClassVar[str]  # the supervisor's component name and the log file's: "postgres"
    title: ClassVar[str]  # for people: "PostgreSQL"
    env_var: ClassVar[str]  # the variable that names an external server instead: "DATABASE_URL"
    stop_signal: ClassVar[int] = signal.SIGTERM
    abort_timeout: ClassVar[float] = 5.0  # stopping a server that never became ready

    def __init__(self, home: LabHome) -> None:
        self.home = home

    @abstractmethod
    def url(self, port: int) -> str:
        """The URL clients connect with."""

    @abstractmethod
    def running(self, notes: list[str] | None = None) -> tuple[int, int] | None:
        """(pid, port) of this home's running server, or None (a stale pid file is removed, with a note)."""

    @abstractmethod
    def prepare(self) -> None:
        """Check what `launch` needs before anything is decided (the wheel's binaries)."""

    @abstractmethod
    def launch(self, *, port: int, log_file: Path) -> int:
        """Write what the server needs and start it detached; its pid."""

    @abstractmethod
    def wait_ready(self, *, pid: int, port: int, log_file: Path, timeout: float) -> None:
        """Return once the server serves; raise EmbeddedServerError (naming the log) if it does not."""

    @abstractmethod
    def forget(self) -> None:
        """After a stop: remove what would make a stopped server look running."""

    def start(self, *, port: int | None = None, timeout: float) -> RunningServer:
        self.prepare()
        log_file = self.home.log_file(self.name)
        notes: list[str] = []
        found = self.running(notes)
        if found is not None:
            pid, running_port = found
            return RunningServer(name=self.name, url=self.url(running_port), host=LOOPBACK, port=running_port,
                                 pid=pid, log_file=log_file, notes=tuple(notes), already_running=True)
        port = port or free_port()
        require_free_port(port, what=self.title,
                          hint=f"stop that process or choose another port (or set {self.env_var})")
        self.home.ensure()
        pid = self.launch(port=port, log_file=log_file)
        try:
            self.wait_ready(pid=pid, port=port, log_file=log_file, timeout=timeout)
        except BaseException:
            stop_process(pid, sig=self.stop_signal, timeout=self.abort_timeout)
            raise
        return RunningServer(name=self.name, url=self.url(port), host=LOOPBACK, port=port, pid=pid,
                             log_file=log_file, notes=tuple(notes))

    def stop(self, *, timeout: float) -> bool:
        """Stop this home's server if it runs; True if one was stopped."""
        found = self.running()
        if found is None:
            return False
        pid, port = found
        stop_process(pid, sig=self.stop_signal, timeout=timeout)
        if not wait_port_free(port):
            raise EmbeddedServerError(f"{self.title} (pid {pid}) stopped but port {port} is still in use")
        self.forget()
        return True
