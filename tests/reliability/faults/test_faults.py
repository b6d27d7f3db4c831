"""kill -9 of every component, in turn, under a steady workload with watchers: nothing acknowledged
is lost, every watch history is exact, Deployments converge, no pod is bound twice, no duplicate or
orphaned container.

CI form: ``LABKIT_RELIABILITY_SECONDS`` unset (90 s of faults, the whole test about 3-4 min).
Long form: ``LABKIT_RELIABILITY_SECONDS=600 .venv/bin/python -m pytest tests/reliability/faults -q -s``.
The report (counts, faults, violations) is printed and written to ``faults.json`` in the artifact
directory (``LABKIT_RELIABILITY_ARTIFACTS``).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.reliability.faults.client import Api, deployments_path, pods_path
from tests.reliability.faults.conftest import SECONDS
from tests.reliability.faults.injector import KINDS, inject
from tests.reliability.faults.invariants import (
    check_bindings,
    check_deployments,
    check_objects,
    check_runtimes,
    check_watcher,
    converge,
    read_outbox,
)
from tests.reliability.faults.lab import FaultLab
from tests.reliability.faults.watchers import RecordingWatcher
from tests.reliability.faults.workload import Workload

NAMESPACE = "reliability"
RATE = float(os.environ.get("LABKIT_RELIABILITY_RATE", "8"))  # writes per second
CONVERGE_SECONDS = 150.0

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(int(SECONDS * 1.5) + 420)]


async def _until(what: str, condition: Any, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.5)


async def test_kill_9_of_every_component_under_load_loses_nothing_acknowledged(
    fault_lab: FaultLab, reliability_seconds: float, artifact_dir: Path
) -> None:
    lab = fault_lab
    api = Api(server=lab.server, token=lab.token, ca_file=lab.ca_file)
    started = time.monotonic()
    try:
        created = await api.call("POST", "/api/v1/namespaces",
                                 body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        assert created.ok, created

        watchers = [RecordingWatcher(api, name=f"pods-{c}", path=pods_path(NAMESPACE)) for c in "ab"]
        watchers += [RecordingWatcher(api, name=f"deployments-{c}", path=deployments_path(NAMESPACE)) for c in "ab"]
        slow = RecordingWatcher(api, name="pods-slow", path=pods_path(NAMESPACE), lag_seconds=3.0)
        watchers.append(slow)
        stop_watching, stop_writing = asyncio.Event(), asyncio.Event()
        watching = [asyncio.create_task(w.run(stop_watching), name=f"watch-{w.name}") for w in watchers]

        async def all_listed() -> bool:
            return all(w.segments for w in watchers)

        await _until("every watcher's first list", all_listed, timeout=30)

        workload = Workload(api, namespace=NAMESPACE, rate=RATE)
        writing = asyncio.create_task(workload.run(stop_writing), name="workload")
        await asyncio.sleep(5)  # the workload is in its stride before the first fault
        faults = await inject(lab, seconds=reliability_seconds, lagging=slow.lagging)
        await asyncio.sleep(3)
        stop_writing.set()
        await writing
        fault_seconds = time.monotonic() - started

        # --- final state: checked until it holds (controllers and agents catch up) --------------
        conn = await asyncpg.connect(lab.database_url)
        try:
            objects = list(workload.objects.values())
            object_violations = await converge(lambda: check_objects(api, conn, objects, namespace=NAMESPACE),
                                               timeout=CONVERGE_SECONDS, what="acknowledged writes")
        finally:
            await conn.close()
        deployment_violations = await converge(lambda: check_deployments(api, namespace=NAMESPACE),
                                               timeout=CONVERGE_SECONDS, what="deployments")
        containers_seen = 0

        async def runtimes() -> list[str]:
            nonlocal containers_seen
            violations, containers_seen = await check_runtimes(api, lab, namespace=NAMESPACE)
            return violations

        runtime_violations = await converge(runtimes, timeout=CONVERGE_SECONDS, what="runtimes")

        # --- histories: watchers catch up with the outbox, then stop ----------------------------
        outboxes = {kind: await read_outbox(lab.database_url, kind=kind, namespace=NAMESPACE)
                    for kind in ("pods", "deployments")}

        last = {kind: max((r.revision for r in rows), default=0) for kind, (rows, _) in outboxes.items()}

        async def caught_up() -> bool:
            return all(w.last_revision >= last[w.name.split("-")[0]] for w in watchers)

        await _until("watchers to reach the outbox's last revision", caught_up, timeout=60)
        stop_watching.set()
        await asyncio.gather(*watching)

        history_violations: list[str] = []
        events_checked = segments = 0
        for w in watchers:
            rows, compacted = outboxes[w.name.split("-")[0]]
            h = check_watcher(w, rows, compacted=compacted)
            history_violations += h.violations
            events_checked += h.events_checked
            segments += h.segments
        binding_violations = check_bindings(outboxes["pods"][0], [w for w in watchers if w.name.startswith("pods")])
    finally:
        await api.close()

    stats = workload.stats
    violations = {
        "rejected writes": stats.violations,
        "acknowledged writes": object_violations,
        "deployments": deployment_violations,
        "runtimes": runtime_violations,
        "watch histories": history_violations,
        "bindings": binding_violations,
        "fault restarts": [f"{f.component}: {f.error}" for f in faults if f.error],
    }
    ambiguous = [t for t in workload.objects.values() if t.ambiguous is not None]
    report = {
        "fault_seconds_requested": reliability_seconds,
        "seconds": round(time.monotonic() - started, 1),
        "workload_seconds": round(fault_seconds, 1),
        "write_rate": RATE,
        "writes": {
            "sent": sum(n for k, n in stats.ops.items() if not k.startswith("skipped")),
            "acknowledged": stats.acknowledged,
            "ambiguous": stats.ambiguous,
            "refused_then_retried": stats.retries_refused,
            "ambiguous_reasons": dict(stats.ambiguous_reasons),
            "by_kind_verb_outcome": dict(sorted(stats.ops.items())),
        },
        "objects_tracked": len(workload.objects),
        "objects_frozen_after_an_ambiguous_write": len(ambiguous),
        "faults_injected": len(faults),
        "faults_by_kind": {k: sum(1 for f in faults if f.kind == k) for k in KINDS},
        "faults": [f.as_dict() for f in faults],
        "watchers": {w.name: dict(w.counts) for w in watchers},
        "watch_segments_checked": segments,
        "events_checked": events_checked,
        "outbox_events": {k: len(v[0]) for k, v in outboxes.items()},
        "containers_checked": containers_seen,
        "lost": len(object_violations),
        "violations": violations,
    }
    text = json.dumps(report, indent=2)
    (artifact_dir / "faults.json").write_text(text + "\n")
    print(f"\nfault report ({artifact_dir / 'faults.json'}):\n{text}")

    assert len(faults) >= len(KINDS)
    assert slow.counts["410 relists"] >= 1, "the compaction fault must have sent the slow watcher a 410"
    assert events_checked > 0 and stats.acknowledged > 0
    assert not any(violations.values()), json.dumps(violations, indent=2)
