"""The invariants a fault run must keep, each checked by code against the real state.

History (checked once, against the PostgreSQL outbox ``events``, which is the revision log):

- watch: each watcher segment (a list, then watches) received exactly the outbox's changes of
  its resource and namespace after the list's revision, up to the last revision it saw: none
  missing, none twice, in revision order, with the same type and name;
- binding: no pod's ``spec.nodeName`` ever changes once set (outbox rows and watch events).

Final state (checked until it holds, or a timeout, since controllers and agents catch up):

- every acknowledged write is there in its final form, through the API (GET) and in the
  ``objects`` row; an object whose last write was ambiguous is in one of its two possible states,
  the same one in both places;
- every Deployment has its replicas: status and Running pods agree with ``spec.replicas``; pods
  of deleted Deployments are gone;
- every simulated runtime has at most one running container per pod and container name, and
  only containers of pods bound to that node (no orphans); every Running pod's container runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from tests.reliability.faults.client import Api, path_for
from tests.reliability.faults.lab import FaultLab
from tests.reliability.faults.watchers import RecordingWatcher
from tests.reliability.faults.workload import GEN, Tracked

CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
RESOURCE_COLUMN = {"pods": "pods", "deployments": "deployments.apps"}


@dataclass(frozen=True)
class OutboxRow:
    revision: int
    type: str
    name: str
    uid: str
    node_name: str | None


@dataclass
class HistoryReport:
    events_checked: int = 0
    segments: int = 0
    violations: list[str] = field(default_factory=list)


async def read_outbox(database_url: str, *, kind: str, namespace: str) -> tuple[list[OutboxRow], int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT revision, type, name, object->'metadata'->>'uid' AS uid, object->'spec'->>'nodeName' AS node"
            " FROM events WHERE resource = $1 AND namespace = $2 ORDER BY revision",
            RESOURCE_COLUMN[kind], namespace)
        compacted = int(await conn.fetchval("SELECT compacted FROM revision"))
    finally:
        await conn.close()
    return [OutboxRow(r["revision"], r["type"], r["name"], r["uid"] or "", r["node"]) for r in rows], compacted


def check_watcher(watcher: RecordingWatcher, outbox: list[OutboxRow], *, compacted: int) -> HistoryReport:
    report = HistoryReport(violations=list(watcher.problems))
    for i, seg in enumerate(watcher.segments):
        report.segments += 1
        if seg.list_revision < compacted:
            report.violations.append(f"{watcher.name} segment {i}: outbox compacted past {seg.list_revision}")
            continue
        want = [(r.revision, r.type, r.name) for r in outbox if seg.list_revision < r.revision <= seg.last_revision]
        got = [(e.revision, e.type, e.name) for e in seg.events]
        report.events_checked += len(got)
        if got == want:
            continue
        revisions = [g[0] for g in got]
        dup = [r for r, n in Counter(revisions).items() if n > 1]
        missing = sorted(set(w[0] for w in want) - set(revisions))
        extra = sorted(set(revisions) - set(w[0] for w in want))
        unordered = any(b <= a for a, b in zip(revisions, revisions[1:], strict=False))
        first = next((k for k, (g, w) in enumerate(zip(got, want, strict=False)) if g != w), min(len(got), len(want)))
        report.violations.append(
            f"{watcher.name} segment {i} (list at {seg.list_revision}, up to {seg.last_revision}): "
            f"{len(got)} events, outbox has {len(want)}; missing {missing[:10]}, duplicated {dup[:10]}, "
            f"not in the outbox {extra[:10]}, out of order: {unordered}; first difference at #{first}: "
            f"got {got[first] if first < len(got) else None}, want {want[first] if first < len(want) else None}")
    return report


def check_bindings(rows: list[OutboxRow], watchers: list[RecordingWatcher]) -> list[str]:
    """No pod is bound twice: its nodeName, once set, never changes (outbox and watch histories)."""
    violations = []
    histories: list[tuple[str, list[tuple[str, str | None]]]] = [
        ("outbox", [(r.uid, r.node_name) for r in rows])]
    for w in watchers:
        histories.append((w.name, [(e.uid, e.node_name) for s in w.segments for e in s.events]))
    for source, history in histories:
        bound: dict[str, str] = {}
        for uid, node in history:
            if node is None:
                if uid in bound:
                    violations.append(f"{source}: pod uid {uid} lost its nodeName {bound[uid]}")
                continue
            if bound.setdefault(uid, node) != node:
                violations.append(f"{source}: pod uid {uid} bound to {bound[uid]}, then to {node}")
    return violations


# --- final state ----------------------------------------------------------------------------


async def _get(api: Api, path: str) -> tuple[int, Any]:
    for _ in range(60):
        answer = await api.call("GET", path)
        if answer.outcome in ("ok", "rejected"):
            return int(answer.status or 0), answer.body
        await asyncio.sleep(0.5)
    raise AssertionError(f"GET {path}: the API server never answered")


def _form(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    if obj is None:
        return None
    form: dict[str, Any] = {"gen": int(((obj.get("metadata") or {}).get("annotations") or {}).get(GEN, -1))}
    if kind == "deployments":
        form["replicas"] = (obj.get("spec") or {}).get("replicas")
    return form


def _expected_forms(t: Tracked) -> list[dict[str, Any] | None]:
    states = [t.snapshot()] if t.ambiguous is None else list(t.ambiguous)
    forms: list[dict[str, Any] | None] = []
    for s in states:
        if s["state"] != "present":
            forms.append(None)
        else:
            forms.append({"gen": s["gen"], **({"replicas": s["replicas"]} if t.kind == "deployments" else {})})
    return forms


async def check_objects(api: Api, conn: asyncpg.Connection, objects: list[Tracked], *,
                        namespace: str) -> list[str]:
    violations = []
    for t in objects:
        status, body = await _get(api, path_for(t.kind, namespace, t.name))
        via_api = body if status == 200 else None
        if status not in (200, 404):
            violations.append(f"{t.kind}/{t.name}: GET answered {status}")
            continue
        raw = await conn.fetchval("SELECT data FROM objects WHERE resource = $1 AND namespace = $2 AND name = $3",
                                  RESOURCE_COLUMN[t.kind], namespace, t.name)
        in_pg = json.loads(raw) if raw is not None else None
        api_form, pg_form = _form(via_api, t.kind), _form(in_pg, t.kind)
        if api_form != pg_form:
            violations.append(f"{t.kind}/{t.name}: the API shows {api_form}, PostgreSQL {pg_form}")
        allowed = _expected_forms(t)
        if api_form not in allowed:
            what = "ambiguous write" if t.ambiguous is not None else "acknowledged write"
            violations.append(f"{t.kind}/{t.name}: after an {what} expected one of {allowed}, found {api_form}"
                              + (" (terminating)" if via_api and via_api["metadata"].get("deletionTimestamp") else ""))
    return violations


def _running(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")


async def check_deployments(api: Api, *, namespace: str) -> list[str]:
    violations = []
    _, deps = await _get(api, path_for("deployments", namespace))
    _, pods = await _get(api, path_for("pods", namespace))
    by_app: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in pods["items"]:
        labels = p["metadata"].get("labels") or {}
        if labels.get("reliability") == "replica":
            by_app[labels.get("app", "")].append(p)
    names = set()
    for d in deps["items"]:
        name = d["metadata"]["name"]
        names.add(name)
        want = d["spec"].get("replicas", 1)
        st = d.get("status") or {}
        running = [p for p in by_app.get(name, []) if _running(p)]
        got = (st.get("observedGeneration", 0) >= d["metadata"].get("generation", 0),
               st.get("replicas", 0), st.get("updatedReplicas", 0), st.get("readyReplicas", 0), len(running))
        if got != (True, want, want, want, want):
            violations.append(f"deployments/{name}: spec.replicas {want}, but (observed current generation, "
                              f"replicas, updated, ready, running pods) = {got}")
    for app, leftovers in by_app.items():
        if app not in names:
            violations.append(f"deployments/{app} is gone but {len(leftovers)} of its pods remain")
    return violations


async def check_runtimes(api: Api, lab: FaultLab, *, namespace: str) -> tuple[list[str], int]:
    """Duplicates, orphans, missing containers on every simulated node; returns (violations, containers)."""
    violations: list[str] = []
    _, pods = await _get(api, "/api/v1/pods")
    bound = {p["metadata"]["uid"]: p for p in pods["items"] if p["spec"].get("nodeName")}
    since = time.time()
    seen = 0
    for node in lab.node_names():
        containers = None
        for _ in range(40):
            containers = lab.containers(node, newer_than=since)
            if containers is not None:
                break
            await asyncio.sleep(0.25)
        if containers is None:
            violations.append(f"{node}: no fresh runtime dump (is the agent running?)")
            continue
        seen += len(containers)
        running = Counter((c["pod_uid"], c["labels"].get(CONTAINER_NAME_LABEL)) for c in containers
                          if c["state"] == "running")
        for (uid, name), n in running.items():
            if n > 1:
                violations.append(f"{node}: {n} running containers {name} of pod uid {uid} (duplicates)")
        for c in containers:
            pod = bound.get(c["pod_uid"])
            if pod is None or pod["spec"]["nodeName"] != node:
                violations.append(f"{node}: orphaned container {c['id']} of pod uid {c['pod_uid']} "
                                  f"({'no such pod' if pod is None else 'bound to ' + pod['spec']['nodeName']})")
        for uid, pod in bound.items():
            if pod["spec"]["nodeName"] == node and _running(pod) and pod["metadata"]["namespace"] == namespace:
                for spec in pod["spec"]["containers"]:
                    if not running.get((uid, spec["name"])):
                        violations.append(f"{node}: pod {pod['metadata']['name']} is Running but its container "
                                          f"{spec['name']} does not run")
    return violations, seen


async def converge(check: Any, *, timeout: float, what: str) -> list[str]:
    """Run `check()` until it reports nothing or `timeout` passes; the last report."""
    deadline = time.monotonic() + timeout
    while True:
        violations = await check()
        if not violations or time.monotonic() > deadline:
            return violations
        await asyncio.sleep(2.0)
