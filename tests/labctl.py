"""Run `labctl` as a user would, in a subprocess, on a lab home of the test's own.

DATABASE_URL and REDIS_URL are removed from the environment so the lab always starts its embedded
PostgreSQL and Redis, whatever the developer's shell exports; and a lab process (any process whose
command line names the lab home) can be found afterwards to prove that nothing was left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import psutil


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
