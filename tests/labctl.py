"""Run `labctl` as a user would, in a subprocess, on a lab home of the test's own.

DATABASE_URL and REDIS_URL are removed from the environment so the lab always starts its embedded
PostgreSQL and Redis, whatever the developer's shell exports; and a lab process (any process whose
command line names the lab home) can be found afterwards to prove that nothing was left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import psutil
import pytest


def run_labctl(home: Path, *args: str, env: Mapping[str, str] | None = None, input: str | None = None,
               timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`labctl ARGS` with LABKIT_HOME=home; `env` adds or overrides variables."""
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    full.update({"LABKIT_HOME": str(home), "COLUMNS": "200", **(env or {})})
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], env=full, input=input,
                          capture_output=True, text=True, timeout=timeout, check=False)


def processes_mentioning(path: Path) -> list[str]:
    """Live (non-zombie) processes whose command line names `path`, as 'pid: cmdline'."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(str(path) in part for part in proc.info["cmdline"] or []):
            found.append(f"{proc.info['pid']}: {' '.join(proc.info['cmdline'])}")
    return found


@contextlib.contextmanager
def simulated_lab(tmp_path_factory: pytest.TempPathFactory, name: str, *, nodes: int,
                  env: Mapping[str, str] | None = None) -> Iterator[Path]:
    """`labctl up --nodes N --runtime simulated` in a fresh home, for kubectl tests (skipped without
    kubectl unless LABKIT_REQUIRE_KUBECTL=1); `labctl down` afterwards, whatever happened. `env`
    adds LABKIT_* settings for the lab's components (orchestrator/lab/home.py)."""
    if shutil.which("kubectl") is None:
        if os.environ.get("LABKIT_REQUIRE_KUBECTL") == "1":
            pytest.fail("kubectl is not installed, and LABKIT_REQUIRE_KUBECTL=1 says this test must run")
        pytest.skip(reason="kubectl is not installed (set LABKIT_REQUIRE_KUBECTL=1 to make this a failure)")
    from orchestrator.lab.embedded.ports import free_port

    home = tmp_path_factory.mktemp(name)
    up = run_labctl(home, "up", "--nodes", str(nodes), "--runtime", "simulated", "--port", str(free_port()),
                    env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield home
    finally:
        down = run_labctl(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr
