"""A notebook that fails half-way leaves no lab process behind.

The notebook starts a lab with `labs.start()` and then fails in a cell, before any clean-up cell.
nbval (in a subprocess, as `make test` runs it) reports the failure and shuts the kernel down;
the lab's processes — PostgreSQL, Redis, the API server, the relay — were started detached from
the kernel, so what stops them is the kernel's ownership of the lab (the supervisor's owner-pid
watchdog, orchestrator/lab/watchdog.py). The test proves that nothing mentioning the lab home
still runs afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
from nbformat.v4 import new_code_cell, new_notebook

from orchestrator.lab.down import down
from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.home import LabHome, LabSettings
from orchestrator.lab.supervisor import Supervisor

REPO = Path(__file__).resolve().parents[2]


def _processes_mentioning(root: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["pid"] != os.getpid() and any(str(root) in part for part in cmdline):
            found.append(f"pid {proc.info['pid']} {' '.join(cmdline)[:160]}")
    return found


def test_a_failing_notebook_leaves_no_lab_process_behind(tmp_path: Path) -> None:
    home = tmp_path / "home"
    notebook = tmp_path / "failing.ipynb"
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_code_cell('import labs\nlab = labs.start(nodes=0, runtime="simulated", '
                      'skip=("scheduler", "controller-manager"), show=False, '
                      f'port={free_port()})'),  # fmt: skip
        new_code_cell("import os\nprint('kernel', os.getpid())\nprint(lab.status())"),
        new_code_cell('assert False, "this cell fails on purpose, before any clean-up cell"'),
    ]
    nbformat.write(nb, notebook)
    # Only nbval: the other plugins (schemathesis, hypothesis...) cost tens of seconds of start-up here.
    env = {**os.environ, "LABKIT_HOME": str(home), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "nbval.plugin", str(notebook), "--nbval-lax", "--nbval-current-env",
             "--nbval-cell-timeout=240", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(tmp_path),
             "--basetemp", str(tmp_path / "pt"), "-q", "--tb=line"],  # fmt: skip
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1, f"the notebook must fail (and only in its last cell):\n{output[-3000:]}"
        assert "2 passed" in output and "1 failed" in output and "on purpose" in output, output[-3000:]

        state = json.loads((home / "run" / "state.json").read_text())
        started = [c["name"] for c in state["components"]] or ["(already removed by the watchdog)"]
        deadline = time.monotonic() + 90
        left = _processes_mentioning(home)
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = _processes_mentioning(home)
        assert not left, f"processes of the failed notebook's lab still run (components were {started}): {left}"
        supervisor = Supervisor(LabHome(home))
        alive = [r.name for r in supervisor.records() if r.pid is not None and supervisor.is_running(r.name)]
        assert not alive, f"the lab's state still records running components: {alive}"
    finally:
        down(LabSettings(home=LabHome(home)))
