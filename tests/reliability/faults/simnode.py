"""A simulated node agent process whose runtime can be inspected from outside.

``python -m tests.reliability.faults.simnode --state-file F <the node agent's own flags>`` runs
exactly what ``python -m orchestrator.nodeagent --runtime simulated`` runs, and additionally
writes the simulated runtime's containers to ``F`` (JSON, atomically) every half second. The
simulated runtime lives in the agent's memory, so this dump is the only way a test in another
process can check "no duplicate containers, no orphans" on it. A kill -9 of this process is a
node reboot: its containers die with it and the restarted agent starts its pods' containers again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from orchestrator.client.process import run_component
from orchestrator.nodeagent import fleet
from orchestrator.nodeagent.__main__ import parse_args
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime

DUMP_SECONDS = 0.5


async def _dump(runtime: SimulatedRuntime, *, nodes: list[str], state_file: Path) -> None:
    tmp = state_file.with_suffix(".tmp")
    while True:
        containers = []
        for node in nodes:
            for c in await runtime.list_containers(node=node):
                containers.append({"node": node, "id": c.id, "name": c.name, "state": c.state,
                                   "pod_uid": c.pod_uid, "labels": dict(c.labels)})
        tmp.write_text(json.dumps({"pid": os.getpid(), "at": time.time(), "containers": containers}))
        tmp.replace(state_file)
        await asyncio.sleep(DUMP_SECONDS)


def main(argv: list[str]) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--state-file", type=Path, required=True)
    ours, rest = pre.parse_known_args(argv)
    config = parse_args([*rest, "--runtime", "simulated"])
    runtime = SimulatedRuntime()

    async def connect(name: str, **_: object) -> SimulatedRuntime:
        return runtime

    # run_nodes builds its runtime through this module-level function: handing it ours is the
    # one seam that lets this process both run the real agent and see the runtime it drives.
    fleet.connect_runtime = connect  # type: ignore[assignment]

    async def serve() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(fleet.run_nodes(config), name="node-agent")
            tg.create_task(_dump(runtime, nodes=[n.name for n in config.nodes], state_file=ours.state_file),
                           name="runtime-dump")

    return run_component("simulated node agent", serve)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
