"""Exec and attach on the simulated runtime: a small, deterministic stand-in for a shell.

Simulated containers have no process, so nothing can really run in them. So that ``kubectl
exec`` still teaches the protocol (channels, exit codes, stdin), the node agent answers a fixed
set of commands itself, always with the same output:

    echo ARGS...        ARGS joined by spaces, and a newline
    cat                 stdin copied to stdout until stdin closes
    cat FILE...         a file of one of the container's volumes (read from the node agent's
                        volume directory the path falls in); other paths: "No such file"
    hostname            the pod's name
    env                 the container's environment as the agent resolved it (valueFrom,
                        envFrom), plus HOSTNAME, one NAME=value a line
    true / false        exit 0 / exit 1
    sh -c 'exit N'      exit N (only this form of sh; ``sh -c 'echo x'`` runs echo)
    sim-info            what this stand-in is and what it answers

Anything else exits 127 with ``<cmd>: not found in the simulated runtime (it answers: ...)`` on
stderr, so no one mistakes it for a real container. Attach prints one line on stderr saying the
container is simulated and ends. Port-forward is refused by the node agent: a simulated
container has no network to dial.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestrator.nodeagent.runtimes.base import Mount

COMMANDS = ("echo", "cat", "cat FILE", "hostname", "env", "true", "false", "sh -c 'exit N'", "sim-info")
_EXIT = re.compile(r"^\s*exit\s+(\d{1,3})\s*$")


class SimulatedProcess:
    """One simulated command (a `ProcessStream`): output computed up front, or stdin echoed for cat."""

    def __init__(self, command: Sequence[str], *, pod_name: str, env: Mapping[str, str], attach: bool = False,
                 mounts: Sequence[Mount] = ()) -> None:
        self._mounts = mounts
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._exit: int | None = None
        self._cat = False
        if attach:
            self._emit(2, b"simulated container: there is no process to attach to on the simulated runtime\n")
            self._finish(None)
            return
        self._run(list(command), pod_name=pod_name, env=env)

    def _emit(self, channel: int, data: bytes) -> None:
        self._queue.put_nowait((channel, data))

    def _finish(self, code: int | None) -> None:
        self._exit = code
        self._queue.put_nowait(None)

    def _run(self, argv: list[str], *, pod_name: str, env: Mapping[str, str]) -> None:
        if len(argv) == 3 and argv[0] in ("sh", "/bin/sh") and argv[1] == "-c":
            match = _EXIT.match(argv[2])
            if match:
                self._finish(int(match.group(1)) % 256)
                return
            try:
                argv = shlex.split(argv[2])
            except ValueError:
                argv = [argv[2]]
        name = argv[0].rsplit("/", 1)[-1] if argv else ""
        if name == "echo":
            self._emit(1, (" ".join(argv[1:]) + "\n").encode())
            self._finish(0)
        elif name == "cat" and len(argv) == 1:
            self._cat = True  # ends when stdin closes
        elif name == "cat":
            code = 0
            for path in argv[1:]:
                data = self._read(path)
                if data is None:
                    self._emit(2, f"cat: can't open '{path}': No such file or directory\n".encode())
                    code = 1
                else:
                    self._emit(1, data)
            self._finish(code)
        elif name == "hostname":
            self._emit(1, f"{pod_name}\n".encode())
            self._finish(0)
        elif name == "env":
            lines = [f"{k}={v}" for k, v in {"HOSTNAME": pod_name, **env}.items()]
            self._emit(1, ("\n".join(lines) + "\n").encode())
            self._finish(0)
        elif name in ("true", "false"):
            self._finish(0 if name == "true" else 1)
        elif name == "sim-info":
            self._emit(1, (f"simulated container of pod {pod_name}: no process runs here; "
                           f"the node agent answers only: {', '.join(COMMANDS)}\n").encode())
            self._finish(0)
        else:
            self._emit(2, (f"{name or '(empty command)'}: not found in the simulated runtime "
                           f"(it answers: {', '.join(COMMANDS)})\n").encode())
            self._finish(127)

    def _read(self, path: str) -> bytes | None:
        """The bytes of `path` if it falls in a mounted volume (the longest mount path wins)."""
        path = posixpath.normpath(path)
        for mount in sorted(self._mounts, key=lambda m: len(m.container_path), reverse=True):
            root = posixpath.normpath(mount.container_path)
            if path == root or path.startswith(root.rstrip("/") + "/"):
                host = Path(mount.host_path) / path[len(root):].lstrip("/") if path != root else Path(mount.host_path)
                try:
                    return host.read_bytes()
                except OSError:
                    return None
        return None

    async def read(self) -> tuple[int, bytes] | None:
        return await self._queue.get()

    async def write_stdin(self, data: bytes) -> None:
        if self._cat and self._exit is None:
            self._emit(1, data)

    async def close_stdin(self) -> None:
        if self._cat and self._exit is None:
            self._finish(0)

    async def resize(self, width: int, height: int) -> None:
        return None

    async def exit_code(self) -> int | None:
        return self._exit

    async def close(self) -> None:
        if self._cat and self._exit is None:
            self._finish(0)
