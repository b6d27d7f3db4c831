"""Time travel (notebook 08): replay one object's recorded history from the PostgreSQL outbox.

Every write to the etcd simulation adds a row to the ``events`` table in the same transaction:
(revision, type, resource, namespace, name, object, prev, created_at). Kept for a retention window
(the relay's ``history``), it is the cluster's revision log, so one pod's whole life can be read
back, change by change:

    story = timetravel.story(lab, "traveller")         # a Table, one row per change (+ its Events)
    timetravel.state_at(lab, "pods", "traveller", 42)  # the pod as it was at revision 42
    timetravel.Player(lab, story)                      # a slider over the steps (ipywidgets)
    timetravel.data_flow_steps(story)                  # the 10-step data flow of notebook 00, with evidence

Each change is explained by what differs between ``prev`` and ``object`` (node, phase, conditions,
container state, deletion) and attributed to the step of a pod's creation it shows: the 10 steps
of docs/architecture.md, "A pod's life, step by step" (also notebook 00's diagram).

Read-only: it uses `labs.inspect.query` (a PostgreSQL session with default_transaction_read_only).

Kubernetes equivalent: none built in; etcd keeps the same history (``etcdctl watch --rev``), and
kine keeps it in a SQL table just like this one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from labs import inspect
from labs.table import Table

__all__ = ["DATA_FLOW", "Player", "changes", "data_flow_steps", "seed_steps", "state_at", "story"]

# A pod's creation, numbered as docs/architecture.md ("A pod's life, step by step") and notebook 00 do.
DATA_FLOW = {
    1: "you (kubectl, lab.apply) POST the pod over HTTPS; the API server authenticates, authorizes, validates",
    2: "one PostgreSQL transaction: the next revision, the pod row (Pending), the outbox row ADDED",
    3: "the relay publishes the outbox row to the Redis stream (entry id = revision)",
    4: "the API server's watch cache reads the stream and sends ADDED to the watchers: the scheduler",
    5: "the scheduler filters and scores the nodes, then POSTs pods/<name>/binding",
    6: "one transaction: spec.nodeName set, the outbox row MODIFIED",
    7: "the relay publishes the MODIFIED change",
    8: "the node agent of that node, watching the pods bound to it, sees the pod",
    9: "it starts the container (Docker, or the simulated runtime)",
    10: "it PATCHes the pod's status: Running",
}
SEED_STEPS = DATA_FLOW  # the name notebooks of an earlier version used


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _history(lab: Any, resource: str, name: str, namespace: str) -> list[dict[str, Any]]:
    rows = inspect.query(
        lab, "SELECT revision, type, object, prev, created_at FROM events "
             "WHERE resource = $1 AND namespace = $2 AND name = $3 ORDER BY revision",
        resource, namespace, name)
    return [{**r, "object": _json(r["object"]), "prev": _json(r["prev"])} for r in rows]


def _related_events(lab: Any, name: str, namespace: str, kind: str) -> list[dict[str, Any]]:
    """The Events (reason, source) recorded about the object, first write of each only."""
    rows = inspect.query(
        lab, "SELECT revision, object, created_at FROM events WHERE resource = 'events' AND type = 'ADDED' "
             "AND namespace = $1 AND object -> 'involvedObject' ->> 'name' = $2 "
             "AND object -> 'involvedObject' ->> 'kind' = $3 ORDER BY revision",
        namespace, name, kind)
    return [{**r, "object": _json(r["object"])} for r in rows]


def _conditions(pod: dict[str, Any] | None) -> dict[str, str]:
    return {c.get("type"): c.get("status") for c in ((pod or {}).get("status") or {}).get("conditions") or []}


def _container_states(pod: dict[str, Any] | None) -> dict[str, str]:
    out = {}
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        state = cs.get("state") or {}
        kind = next(iter(state), "")
        reason = (state.get(kind) or {}).get("reason") or ""
        out[cs.get("name")] = f"{kind}{f' ({reason})' if reason else ''}"
    return out


def changes(prev: dict[str, Any] | None, obj: dict[str, Any]) -> list[str]:
    """What differs between two versions of a pod, in words: ["nodeName: - → node-1", ...]."""
    out = []
    p_spec, o_spec = (prev or {}).get("spec") or {}, obj.get("spec") or {}
    p_stat, o_stat = (prev or {}).get("status") or {}, obj.get("status") or {}
    p_meta, o_meta = (prev or {}).get("metadata") or {}, obj.get("metadata") or {}
    if p_spec.get("nodeName") != o_spec.get("nodeName"):
        out.append(f"nodeName: {p_spec.get('nodeName') or '-'} → {o_spec.get('nodeName') or '-'}")
    if p_stat.get("phase") != o_stat.get("phase"):
        out.append(f"phase: {p_stat.get('phase') or '-'} → {o_stat.get('phase') or '-'}")
    before, after = _conditions(prev), _conditions(obj)
    for ctype in after:
        if before.get(ctype) != after[ctype]:
            out.append(f"{ctype}={after[ctype]}")
    before_c, after_c = _container_states(prev), _container_states(obj)
    for cname, state in after_c.items():
        if before_c.get(cname) != state:
            out.append(f"container {cname}: {state}")
    for key in ("podIP", "hostIP"):
        if p_stat.get(key) != o_stat.get(key) and o_stat.get(key):
            out.append(f"{key}={o_stat[key]}")
    if o_meta.get("deletionTimestamp") and not p_meta.get("deletionTimestamp"):
        out.append(f"deletionTimestamp set (grace {o_meta.get('deletionGracePeriodSeconds')}s)")
    if p_meta.get("finalizers") != o_meta.get("finalizers"):
        out.append(f"finalizers: {o_meta.get('finalizers') or []}")
    return out or ["(metadata only)"]


def _flow_step(kind: str, prev: dict[str, Any] | None, obj: dict[str, Any]) -> str:
    if kind == "ADDED":
        return "1-4"
    if kind == "DELETED":
        return "after 10: deleted"
    was_bound = bool(((prev or {}).get("spec") or {}).get("nodeName"))
    bound = bool((obj.get("spec") or {}).get("nodeName"))
    if bound and not was_bound:
        return "5-7"
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "after 10: deletion"
    if ((obj.get("status") or {}).get("phase") == "Running"
            and ((prev or {}).get("status") or {}).get("phase") != "Running"):
        return "8-10"
    if bound:
        return "8-10" if (obj.get("status") or {}).get("phase") == "Running" else "8"
    return "-"


def _change_text(kind: str, prev: dict[str, Any] | None, obj: dict[str, Any]) -> str:
    if kind == "ADDED":
        return f"created: phase {(obj.get('status') or {}).get('phase') or 'Pending'}, no node"
    if kind == "DELETED":
        return "row deleted (the node agent confirmed the container is gone)"
    return "; ".join(changes(prev, obj))


def story(lab: Any, name: str, *, namespace: str = "default", with_events: bool = True) -> Table:
    """One pod's life from the outbox: one row per write (revision, +seconds, type, what changed,
    data-flow step), interleaved with the Events recorded about it (source "event")."""
    history = _history(lab, "pods", name, namespace)
    if not history:
        return Table([], title=f"no recorded history for pod {namespace}/{name} (wrong name, or pruned)")
    t0 = history[0]["created_at"]
    rows: list[dict[str, Any]] = []
    for h in history:
        obj = h["object"]
        rows.append({
            "revision": h["revision"], "+s": round((h["created_at"] - t0).total_seconds(), 3),
            "source": "pod", "type": h["type"], "change": _change_text(h["type"], h["prev"], obj),
            "step": _flow_step(h["type"], h["prev"], obj),
        })
    if with_events:
        for e in _related_events(lab, name, namespace, "Pod"):
            ev = e["object"]
            source = (ev.get("source") or {}).get("component") or ev.get("reportingComponent") or ""
            rows.append({
                "revision": e["revision"], "+s": round((e["created_at"] - t0).total_seconds(), 3), "source": "event",
                "type": ev.get("reason"), "change": f"{source}: {ev.get('message', '')}",
                "step": {"Scheduled": "5", "Pulled": "9", "Pulling": "9", "Created": "9", "Started": "9",
                         "Killing": "after 10: deletion"}.get(ev.get("reason") or "", "-"),
            })
    rows.sort(key=lambda r: r["revision"])
    return Table(rows, title=f"the life of pod {namespace}/{name}, from the events outbox",
                 columns=["revision", "+s", "source", "type", "change", "step"])


def state_at(lab: Any, resource: str, name: str, revision: int, *, namespace: str = "default") -> dict[str, Any] | None:
    """The object as it was right after `revision` (None: it did not exist then)."""
    rows = inspect.query(
        lab, "SELECT type, object FROM events WHERE resource = $1 AND namespace = $2 AND name = $3 "
             "AND revision <= $4 ORDER BY revision DESC LIMIT 1",
        resource, namespace, name, revision)
    if not rows or rows[0]["type"] == "DELETED":
        return None
    return _json(rows[0]["object"])


def data_flow_steps(rows: Sequence[dict[str, Any]]) -> Table:
    """The 10 steps of the data flow, each with the revisions in `rows` (a `story`) that show it."""
    evidence: dict[int, list[str]] = {i: [] for i in DATA_FLOW}
    for r in rows:
        step = str(r["step"])
        if step.startswith("after") or step == "-":
            continue
        first, _, last = step.partition("-")
        for i in range(int(first), int(last or first) + 1):
            evidence[i].append(f"{r['revision']} {r['source']} {r['type']}")
    return Table(({"step": i, "what happens": text, "evidence (revision, source, type)": ", ".join(evidence[i]) or "-"}
                  for i, text in DATA_FLOW.items()), title="the data flow of notebook 00, step by step")


seed_steps = data_flow_steps  # the name notebooks of an earlier version used


class Player:
    """A slider over a `story`'s pod writes: the pod as it was at that revision, and what changed."""

    def __init__(self, lab: Any, rows: Sequence[dict[str, Any]], *, name: str | None = None,
                 namespace: str = "default") -> None:
        import ipywidgets as w
        import yaml

        self._yaml = yaml
        self.lab = lab
        self.rows = [r for r in rows if r["source"] == "pod"]
        self.name = name or _name_from_title(getattr(rows, "title", ""))
        self.namespace = namespace
        self.slider = w.IntSlider(min=0, max=max(len(self.rows) - 1, 0), value=0, description="step",
                                  continuous_update=False)
        self.view = w.HTML()
        self.widget = w.VBox([self.slider, self.view])
        self.widget.add_class("labkit-timetravel")
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.show(0)

    def show(self, index: int) -> str:
        import html

        if not self.rows:
            self.view.value = "<i>no steps</i>"
            return ""
        row = self.rows[index]
        obj = state_at(self.lab, "pods", self.name, row["revision"], namespace=self.namespace)
        shown = {k: obj.get(k) for k in ("metadata", "spec", "status")} if obj else None
        if shown:
            meta = dict(shown["metadata"] or {})
            meta.pop("managedFields", None)
            meta.pop("annotations", None)
            shown["metadata"] = meta
        text = self._yaml.safe_dump(shown, sort_keys=False) if shown else "(deleted)"
        self.view.value = (
            f"<b>revision {row['revision']}</b> (+{row['+s']}s) <code>{html.escape(str(row['type']))}</code> — "
            f"{html.escape(str(row['change']))} — step <b>{html.escape(str(row['step']))}</b>"
            f"<pre style='max-height:320px;overflow:auto;font-size:11px'>{html.escape(text)}</pre>")
        return text

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _name_from_title(title: str) -> str:
    # "the life of pod default/traveller, from ..." -> "traveller"
    part = title.split("pod ", 1)[-1].split(",", 1)[0]
    return part.rsplit("/", 1)[-1]
