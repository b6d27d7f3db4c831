"""`labctl demo` (what `make demo` runs) on a fresh lab home: exit 0, the data flow shown, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil


def test_labctl_demo_runs_the_data_flow_and_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    env = dict(os.environ, LABKIT_HOME=str(home), COLUMNS="120")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-m", "orchestrator.cli.main", "demo"], env=env, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for expected in ("after create: pod demo-1", "after binding", "after status update", "MODIFIED", "DELETED",
                     "exactly once, in order", "lab stopped"):
        assert expected in out, out
    leftovers = [p.info for p in psutil.process_iter(["pid", "cmdline"])
                 if p.info["cmdline"] and any(str(home) in part for part in p.info["cmdline"])]
    assert leftovers == []
