"""The fault driver: kill -9 one component after another while the workload runs, and restart it.

The kinds, in the order they are injected (then again, for as long as the run lasts):

    apiserver, relay, redis (comes back empty), postgres (crash: the postmaster and its backends,
    then crash recovery), scheduler-leader and controller-manager-leader (whichever of the two
    candidates holds the Lease: the standby must take over), node-agent (node-1, node-2, ... in
    turn), and watch-compaction (not a kill: the watch window shrinks to one revision while a
    slow watcher is away, so it must get 410 Expired and relist).

Each fault gets an equal slot of the run: kill at the slot's start, wait until the lab's
watchdog has restarted it (a new process, healthy), then let the system work until the slot ends.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.storage.relay import compact_now
from tests.reliability.faults.lab import FaultLab

KINDS = ("apiserver", "relay", "redis", "postgres", "scheduler-leader", "controller-manager-leader", "node-agent",
         "watch-compaction")
KILLS = KINDS[:-1]


@dataclass
class Fault:
    kind: str
    component: str
    pid: int
    at: float  # seconds since the run started
    back_after_seconds: float  # until a new process runs and is healthy
    restarted_by: str  # "watchdog" (the lab's own), or "test" when the watchdog did not
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(seconds: float, *, slot: float = 13.0) -> tuple[int, float]:
    """How many faults fit in `seconds` (at least one of each kind) and the slot of each."""
    count = max(len(KINDS), int(seconds // slot))
    return count, seconds / count


def _component(lab: FaultLab, kind: str, index: int) -> str:
    if kind == "scheduler-leader":
        return lab.leader_component("scheduler")
    if kind == "controller-manager-leader":
        return lab.leader_component("controller-manager")
    if kind == "node-agent":
        return lab.node_names()[(index // len(KINDS)) % lab.nodes]
    return kind


async def inject(lab: FaultLab, *, seconds: float, lagging: asyncio.Event | None = None,
                 log: Any = print) -> list[Fault]:
    count, slot = plan(seconds)
    faults: list[Fault] = []
    start = time.monotonic()
    for i in range(count):
        slot_start = start + i * slot
        await asyncio.sleep(max(0.0, slot_start - time.monotonic()))
        kind = KINDS[i % len(KINDS)]
        if kind == "watch-compaction":
            faults.append(await _compact(lab, lagging, at=round(time.monotonic() - start, 1), log=log))
            continue
        component = await asyncio.to_thread(_component, lab, kind, i)
        try:
            pid = await asyncio.to_thread(lab.kill, component)
        except AssertionError as err:  # it did not run: an earlier restart failed; try again below
            log(f"fault {i + 1}/{count}: {err}")
            pid = 0
        killed = time.monotonic()
        t0 = time.monotonic()
        error, restarted_by = "", ""
        try:
            restarted_by = await asyncio.to_thread(lab.wait_restarted, component, old_pid=pid)
        except Exception as err:  # recorded in the report (a violation); the run goes on
            error = f"{type(err).__name__}: {err}"
        fault = Fault(kind=kind, component=component, pid=pid, at=round(killed - start, 1),
                      back_after_seconds=round(time.monotonic() - t0, 1), restarted_by=restarted_by,
                      error=error[:2000])
        faults.append(fault)
        log(f"fault {i + 1}/{count}: kill -9 {component} (pid {pid}) at {fault.at}s, "
            f"back in {fault.back_after_seconds}s ({restarted_by or 'not restarted'}){' ERROR ' + error[:300] if error else ''}")
    await asyncio.sleep(max(0.0, start + count * slot - time.monotonic()))
    return faults


async def _compact(lab: FaultLab, lagging: asyncio.Event | None, *, at: float, log: Any) -> Fault:
    """Compact every watch stream to its last revision while a slow watcher is between two watches:
    its next watch starts from a compacted revision and must get 410 Expired, relist, and go on."""
    error = ""
    if lagging is not None:
        try:
            await asyncio.wait_for(lagging.wait(), timeout=30)
        except TimeoutError:
            error = "the lagging watcher never paused"
    await asyncio.sleep(1.0)  # writes go on meanwhile: the watcher falls behind the compaction
    revision = await compact_now(database_url=lab.database_url, redis_url=lab.redis_url, keep=1)
    log(f"fault: watch streams compacted up to revision {revision}")
    return Fault(kind="watch-compaction", component="redis streams", pid=0, at=at, back_after_seconds=0.0,
                 restarted_by="", error=error)
