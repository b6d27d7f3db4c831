"""Stop a lab when the process that started it is gone: ``python -m labs.reaper --pid P --home H``.

`labs.start()` starts the lab's components as detached processes (they outlive a crashed
kernel on purpose, like `labctl up`). So that a notebook whose kernel dies, is restarted or
killed never leaves a lab behind, `start()` also launches this small watcher in its own
session: it polls the kernel's pid and runs `labctl down` for that home once the pid is gone
(or was reused by another process). It exits by itself when the lab is already down.
It is the fallback while the supervisor has no owner-pid watchdog of its own.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psutil

from orchestrator.cli.down import down
from orchestrator.cli.supervisor import Supervisor
from orchestrator.labhome import LabHome, LabSettings

_POLL_SECONDS = 0.5
_LAB_CHECK_SECONDS = 10.0


def owner_alive(pid: int, create_time: float) -> bool:
    """The owner still runs: same pid *and* same start time (a reused pid is someone else)."""
    try:
        return abs(psutil.Process(pid).create_time() - create_time) < 1.0
    except psutil.Error:
        return False


def watch(*, pid: int, create_time: float, home: LabHome) -> None:
    supervisor = Supervisor(home)
    next_lab_check = time.monotonic() + _LAB_CHECK_SECONDS
    while owner_alive(pid, create_time):
        time.sleep(_POLL_SECONDS)
        if time.monotonic() >= next_lab_check:
            next_lab_check = time.monotonic() + _LAB_CHECK_SECONDS
            if not supervisor.records():  # stopped normally: nothing left to guard
                return
    down(LabSettings(home=home))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.reaper", description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, required=True, help="the owner (the notebook kernel)")
    parser.add_argument("--create-time", type=float, required=True, help="the owner's start time (psutil)")
    parser.add_argument("--home", type=Path, required=True, help="the lab home to stop")
    args = parser.parse_args(argv)
    watch(pid=args.pid, create_time=args.create_time, home=LabHome(args.home))


if __name__ == "__main__":
    main()
