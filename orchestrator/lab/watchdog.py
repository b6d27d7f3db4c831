"""The lab's watchdog: restarts a crashed component with exponential back-off, as a kubelet
restarts a static pod, and takes the whole lab down when its owner process is gone.

`labctl up` starts it (idempotently) as one more detached process,

    python -m orchestrator.lab.watchdog --home <lab home>

recorded under "watchdog" in run/state.json; `labctl down` stops it before anything else.
About once a second it looks at every component recorded in state.json:

- running, stopped by the user (`labctl stop`), or external: nothing to do;
- dead and not yet noticed: a crash. It records how it ended (`last_exit`) and when it may be
  restarted (`backoff_until` = now + delay, see `Backoff`);
- dead and its back-off over: restart it from its record, on the same port (`Supervisor.respawn`),
  and count the restart. A restart that fails at once (port taken, server refuses) counts as
  one more crash.

Back-off, worked example with the defaults (1 s, doubling, capped at 30 s, reset after 60 s up):
a component that dies 5 s after each start is restarted after 1 s, 2 s, 4 s, 8 s, 16 s, 30 s,
30 s, ...; one that ran for 10 minutes before it died is restarted after 1 s again.

It acts only while it holds the lab's lock (`Supervisor.try_lock`), so it never restarts a
component in the middle of `labctl up`, `down`, `stop` or `start`: when a verb holds the lock it
skips that round. It exits when state.json no longer names it as the watchdog (`down` ran, or a
newer watchdog took over). If `up` was given an owner pid (a notebook kernel), the watchdog runs
`labctl down` once that process is gone, then exits: a killed kernel leaves no process behind.
It writes one line per crash and restart to logs/watchdog.log.

Kubernetes equivalent: the kubelet's container restart back-off (pkg/kubelet/kuberuntime,
`MaxContainerBackOff` = 300 s; the lab caps at 30 s so that learners are not kept waiting).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orchestrator.lab.embedded.ports import EmbeddedServerError, exit_code
from orchestrator.lab.home import LabHome, LabSettings
from orchestrator.lab.supervisor import ComponentRecord, Supervisor, SupervisorError

Step = Literal["nothing", "crashed", "wait", "restart"]


@dataclass(frozen=True)
class Backoff:
    """How long a crashed component waits before its restart."""

    initial: float = 1.0
    cap: float = 30.0
    # A component that stayed up this long before it crashed starts again from `initial`.
    reset_after: float = 60.0

    def next_delay(self, previous: float | None, *, ran_for: float) -> float:
        """The delay before the next restart, given the last delay and how long it ran this time."""
        if previous is None or ran_for >= self.reset_after:
            return self.initial
        return min(previous * 2, self.cap)


def next_step(*, alive: bool, stopped_by_user: bool, backoff_until: float | None, now: float) -> Step:
    """What the watchdog does with one (restartable) component in this round."""
    if alive or stopped_by_user:
        return "nothing"
    if backoff_until is None:
        return "crashed"
    return "restart" if now >= backoff_until else "wait"


def describe_exit(code: int | None) -> str:
    """'killed by SIGKILL', 'exited with code 1', or 'process ended' when we cannot know."""
    if code is None:
        # Only a process's parent learns its exit status; `labctl up` started it and is gone.
        return "process ended"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Watchdog:
    """One round per `tick()`; `run()` loops until the lab no longer wants this watchdog."""

    def __init__(self, home: LabHome, *, policy: Backoff | None = None, interval: float = 1.0) -> None:
        self.home = home
        self.supervisor = Supervisor(home)
        self.policy = policy or Backoff()
        self.interval = interval

    def run(self) -> int:
        _say(f"watching the lab in {self.home.root} (pid {os.getpid()})")
        while True:
            if self.supervisor.owner_gone():
                owner = self.supervisor.owner()
                _say(f"owner process {owner[0] if owner else '?'} is gone: taking the lab down")
                self._take_lab_down()
                return 0
            with self.supervisor.try_lock() as locked:
                if locked:
                    if not self._still_mine():
                        _say("state.json no longer names this watchdog: exiting")
                        return 0
                    self.tick(time.time())
            try:
                self.supervisor.heartbeat_file.touch()
            except FileNotFoundError:
                _say(f"{self.home.run_dir} is gone: exiting")
                return 0
            time.sleep(self.interval)

    def tick(self, now: float) -> None:
        """Look at every component once; the caller holds the lab's lock.

        All crashes are noted before any restart: restarting PostgreSQL takes seconds, and a
        component that died with it should not have its crash (and back-off) noticed late.
        """
        due: list[ComponentRecord] = []
        for record in self.supervisor.records():
            if record.kind == "external":
                continue
            step = next_step(
                alive=self.supervisor.alive(record),
                stopped_by_user=record.stopped_by_user,
                backoff_until=record.backoff_until,
                now=now,
            )
            if step == "crashed":
                reason = describe_exit(exit_code(record.pid) if record.pid else None)
                self._crashed(record, reason=reason, ran_for=now - record.started_at, now=now)
            elif step == "restart":
                due.append(record)
        for record in due:  # in start order: PostgreSQL and Redis before the API server
            self._restart(record, now=time.time())

    def _crashed(self, record: ComponentRecord, *, reason: str, ran_for: float, now: float) -> None:
        delay = self.policy.next_delay(record.backoff, ran_for=ran_for)
        record.last_exit = reason
        record.last_exit_at = now
        record.backoff = delay
        record.backoff_until = now + delay
        self.supervisor.put(record)
        _say(f"{record.name} (pid {record.pid}) {reason} after {ran_for:.0f}s up; restarting in {delay:g}s")

    def _restart(self, record: ComponentRecord, *, now: float) -> None:
        try:
            fresh = self.supervisor.respawn(record)
        except (SupervisorError, EmbeddedServerError) as err:
            self._crashed(record, reason=f"restart failed: {str(err).splitlines()[0]}", ran_for=0.0, now=now)
            return
        fresh.restarts += 1
        self.supervisor.put(fresh)
        _say(f"restarted {fresh.name}: pid {fresh.pid} (restart {fresh.restarts})")

    def _still_mine(self) -> bool:
        record = self.supervisor.watchdog()
        return record is not None and record.pid == os.getpid()

    def _take_lab_down(self) -> None:
        from orchestrator.lab.down import down

        try:
            result = down(LabSettings(home=self.home))
        except (SupervisorError, EmbeddedServerError) as err:
            _say(f"taking the lab down failed: {err}")
            return
        _say(f"stopped {', '.join(result.stopped + result.strays) or 'nothing'}; the lab is down")


def _say(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.lab.watchdog", description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, type=Path, help="the lab home (as LABKIT_HOME)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    args = parser.parse_args(argv)
    if not (args.home / "run").is_dir():
        print(f"error: --home {args.home} is not a lab home (no run/ directory)", file=sys.stderr)
        return 1
    return Watchdog(LabHome(args.home), interval=args.interval).run()


if __name__ == "__main__":
    sys.exit(main())
