"""``labctl describe``: one object in words, as kubectl describes it, ending with its Events.

Each kind has a describer that writes ``Key: value`` lines (nested by two spaces) into a `Doc`;
`Doc.render` aligns the values of consecutive keys at the same depth, as kubectl's tabwriter
does. The shared parts: metadata (labels, annotations without the bulky last-applied one,
"Controlled By"), conditions as a small table, containers with their state, and the object's
Events — read from the events API by ``involvedObject`` field selectors, then kept only if the
uid matches (an object deleted and made again under the same name has its own history).

Kinds without their own describer (Lease, Event) print metadata and their spec/status as YAML.

Kubernetes equivalent: staging/src/k8s.io/kubectl/pkg/describe/describe.go
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import yaml

from orchestrator.api.printing import human_duration, pod_status_reason, selector_string
from orchestrator.api.resources import ResourceInfo
from orchestrator.client.rest import ApiClient
from orchestrator.controllers.deploymentutil import equal_ignore_hash

Obj = dict[str, Any]

_SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration"}


class Doc:
    """Lines of a description: ``(depth, key, value)`` pairs and pre-formatted text lines."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str, str | None]] = []

    def item(self, depth: int, key: str, value: Any = None) -> None:
        """``Key:  value``; a value of None makes ``Key:`` a heading for deeper lines."""
        self.lines.append((depth, key, None if value is None else _text(value)))

    def text(self, depth: int, line: str) -> None:
        self.lines.append((depth, "", line))

    def mapping(self, depth: int, key: str, values: dict[str, Any] | None, *, skip: set[str] | None = None) -> None:
        """kubectl's map printing: ``Labels: app=web`` then one ``key=value`` per line, ``<none>`` if empty."""
        pairs = [f"{k}={v}" if key == "Labels" or key.endswith("Selectors") else f"{k}: {v}"
                 for k, v in sorted((values or {}).items()) if not skip or k not in skip]
        self.item(depth, key, pairs[0] if pairs else "<none>")
        for pair in pairs[1:]:
            self.lines.append((depth, " ", pair))

    def table(self, depth: int, headers: list[str], rows: list[list[str]]) -> None:
        """A small table: headers, dashes under them, rows, columns two spaces apart."""
        underline = ["-" * len(h) for h in headers]
        widths = [max(len(r[i]) for r in [headers, underline, *rows]) for i in range(len(headers))]
        for row in [headers, underline, *rows]:
            self.text(depth, "  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())

    def render(self) -> str:
        """The text, values aligned as kubectl's tabwriter aligns them: across each run of
        consecutive ``Key: value`` lines, whatever their depth; a heading or table ends a run."""
        out: list[str] = []
        i = 0
        while i < len(self.lines):
            depth, key, value = self.lines[i]
            if not key or value is None:
                out.append("  " * depth + (f"{key}:" if key else (value or "")))
                i += 1
                continue
            j = i
            while j < len(self.lines) and self.lines[j][1] and self.lines[j][2] is not None:
                j += 1
            run = self.lines[i:j]
            width = max(len("  " * d) + len(k) + 1 for d, k, _ in run if k != " ") + 1
            for d, k, v in run:
                label = "  " * d + ("" if k == " " else f"{k}:")
                out.append((label.ljust(width) + (v or "")).rstrip())
            i = j
        return "\n".join(out)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "<none>"
    return str(value)


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def timestamp(value: Any) -> str:
    """kubectl's time format: ``Thu, 26 Nov 2026 05:47:50 +0000``."""
    when = _parse(value)
    return when.strftime("%a, %d %b %Y %H:%M:%S %z") if when else "<unset>"


def since(value: Any, now: datetime) -> str:
    when = _parse(value)
    return human_duration((now - when).total_seconds()) if when else "<unknown>"


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _common(doc: Doc, obj: Obj, *, namespaced: bool) -> None:
    meta = _meta(obj)
    doc.item(0, "Name", meta.get("name", ""))
    if namespaced:
        doc.item(0, "Namespace", meta.get("namespace", ""))


def _labels_annotations(doc: Doc, meta: Obj, depth: int = 0) -> None:
    doc.mapping(depth, "Labels", meta.get("labels"))
    doc.mapping(depth, "Annotations", meta.get("annotations"), skip=_SKIP_ANNOTATIONS)


def _controlled_by(doc: Doc, meta: Obj) -> None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            doc.item(0, "Controlled By", f"{ref.get('kind')}/{ref.get('name')}")


def _state(doc: Doc, depth: int, title: str, state: Obj | None) -> None:
    if not state:
        if title == "State":
            doc.item(depth, title, "Waiting")
        return
    if "running" in state:
        doc.item(depth, title, "Running")
        doc.item(depth + 1, "Started", timestamp((state["running"] or {}).get("startedAt")))
    elif "waiting" in state:
        doc.item(depth, title, "Waiting")
        doc.item(depth + 1, "Reason", (state["waiting"] or {}).get("reason", ""))
    elif "terminated" in state:
        t = state["terminated"] or {}
        doc.item(depth, title, "Terminated")
        doc.item(depth + 1, "Reason", t.get("reason", ""))
        doc.item(depth + 1, "Exit Code", t.get("exitCode", 0))
        doc.item(depth + 1, "Started", timestamp(t.get("startedAt")))
        doc.item(depth + 1, "Finished", timestamp(t.get("finishedAt")))


def _containers(doc: Doc, depth: int, title: str, containers: list[Obj], statuses: list[Obj] | None) -> None:
    doc.item(depth, title)
    by_name = {s.get("name"): s for s in statuses or []}
    for c in containers:
        doc.item(depth + 1, c.get("name", ""))
        status = by_name.get(c.get("name"))
        if statuses is not None:
            doc.item(depth + 2, "Container ID", (status or {}).get("containerID", ""))
        doc.item(depth + 2, "Image", c.get("image", ""))
        ports = [f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in c.get("ports") or []]
        doc.item(depth + 2, "Port", ", ".join(ports) or "<none>")
        if c.get("command"):
            doc.item(depth + 2, "Command")
            for part in c["command"]:
                doc.text(depth + 3, str(part))
        if c.get("args"):
            doc.item(depth + 2, "Args")
            for part in c["args"]:
                doc.text(depth + 3, str(part))
        if statuses is not None:
            _state(doc, depth + 2, "State", (status or {}).get("state"))
            last = (status or {}).get("lastState")
            if last:
                _state(doc, depth + 2, "Last State", last)
            doc.item(depth + 2, "Ready", bool((status or {}).get("ready")))
            doc.item(depth + 2, "Restart Count", int((status or {}).get("restartCount") or 0))
        resources = c.get("resources") or {}
        for key, title_ in (("limits", "Limits"), ("requests", "Requests")):
            if resources.get(key):
                doc.item(depth + 2, title_)
                for k, v in sorted(resources[key].items()):
                    doc.item(depth + 3, k, v)
        env = c.get("env") or []
        doc.item(depth + 2, "Environment", "<none>" if not env else None)
        for e in env:
            doc.item(depth + 3, e.get("name", ""), e.get("value", "<set from a source>"))


def _conditions(doc: Doc, conditions: list[Obj], *, reason: bool = False) -> None:
    if not conditions:
        return
    doc.item(0, "Conditions")
    headers = ["Type", "Status"] + (["Reason"] if reason else [])
    rows = [[c.get("type", ""), c.get("status", "")] + ([c.get("reason", "")] if reason else []) for c in conditions]
    doc.table(1, headers, rows)


def _template(doc: Doc, template: Obj) -> None:
    doc.item(0, "Pod Template")
    _labels_annotations(doc, template.get("metadata") or {}, depth=1)
    spec = template.get("spec") or {}
    _containers(doc, 1, "Containers", spec.get("containers") or [], None)


def describe_pod(doc: Doc, pod: Obj, now: datetime) -> None:
    meta, spec, status = _meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    _common(doc, pod, namespaced=True)
    doc.item(0, "Priority", spec.get("priority", 0))
    doc.item(0, "Service Account", spec.get("serviceAccountName", "default"))
    node = spec.get("nodeName")
    doc.item(0, "Node", f"{node}/{status.get('hostIP', '')}" if node else "<none>")
    doc.item(0, "Start Time", timestamp(status.get("startTime")))
    _labels_annotations(doc, meta)
    shown = status.get("phase", "Unknown")
    if meta.get("deletionTimestamp"):
        shown = f"Terminating (lasts {since(meta['deletionTimestamp'], now)})"
    doc.item(0, "Status", shown)
    reason = pod_status_reason(pod)
    if reason not in (status.get("phase"), "Terminating"):
        doc.item(0, "Reason", reason)
    doc.item(0, "IP", status.get("podIP", ""))
    doc.item(0, "IPs", "<none>" if not status.get("podIPs") else None)
    for ip in status.get("podIPs") or []:
        doc.item(1, "IP", ip.get("ip", ""))
    _controlled_by(doc, meta)
    if spec.get("initContainers"):
        _containers(doc, 0, "Init Containers", spec["initContainers"], status.get("initContainerStatuses") or [])
    _containers(doc, 0, "Containers", spec.get("containers") or [], status.get("containerStatuses") or [])
    _conditions(doc, status.get("conditions") or [])
    doc.item(0, "QoS Class", status.get("qosClass", ""))
    doc.mapping(0, "Node-Selectors", spec.get("nodeSelector"))
    tolerations = [f"{t.get('key', '')}{'=' + t['value'] if t.get('value') else ''}"
                   f"{':' + t['effect'] if t.get('effect') else ''}" for t in spec.get("tolerations") or []]
    doc.item(0, "Tolerations", tolerations[0] if tolerations else "<none>")
    for t in tolerations[1:]:
        doc.lines.append((0, " ", t))


def describe_deployment(doc: Doc, d: Obj, rss: list[Obj]) -> None:
    meta, spec, status = _meta(d), d.get("spec") or {}, d.get("status") or {}
    _common(doc, d, namespaced=True)
    doc.item(0, "CreationTimestamp", timestamp(meta.get("creationTimestamp")))
    _labels_annotations(doc, meta)
    doc.item(0, "Selector", selector_string(spec.get("selector")))
    desired = spec.get("replicas", 1)
    doc.item(0, "Replicas", f"{desired} desired | {status.get('updatedReplicas', 0)} updated | "
                            f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
                            f"{status.get('unavailableReplicas', 0)} unavailable")
    strategy = spec.get("strategy") or {}
    doc.item(0, "StrategyType", strategy.get("type", "RollingUpdate"))
    doc.item(0, "MinReadySeconds", spec.get("minReadySeconds", 0))
    rolling = strategy.get("rollingUpdate")
    if rolling is not None or strategy.get("type", "RollingUpdate") == "RollingUpdate":
        rolling = rolling or {}
        doc.item(0, "RollingUpdateStrategy", f"{rolling.get('maxUnavailable', '25%')} max unavailable, "
                                             f"{rolling.get('maxSurge', '25%')} max surge")
    _template(doc, spec.get("template") or {})
    _conditions(doc, status.get("conditions") or [], reason=True)
    template = spec.get("template") or {}
    new = [rs for rs in rss if _same_template(rs, template)]
    old = [rs for rs in rss if rs not in new and (rs.get("spec") or {}).get("replicas", 0)]
    doc.item(0, "OldReplicaSets", ", ".join(_rs_summary(rs) for rs in old) or "<none>")
    doc.item(0, "NewReplicaSet", _rs_summary(new[0]) if new else "<none>")


def _same_template(rs: Obj, template: Obj) -> bool:
    return equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template)


def _rs_summary(rs: Obj) -> str:
    status = rs.get("status") or {}
    return f"{_meta(rs).get('name')} ({status.get('replicas', 0)}/{(rs.get('spec') or {}).get('replicas', 0)} " \
           "replicas created)"


def describe_replicaset(doc: Doc, rs: Obj, pods: list[Obj]) -> None:
    meta, spec, status = _meta(rs), rs.get("spec") or {}, rs.get("status") or {}
    _common(doc, rs, namespaced=True)
    doc.item(0, "Selector", selector_string(spec.get("selector")))
    _labels_annotations(doc, meta)
    _controlled_by(doc, meta)
    doc.item(0, "Replicas", f"{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired")
    phases = [(p.get("status") or {}).get("phase") for p in pods]
    doc.item(0, "Pods Status", f"{phases.count('Running')} Running / {phases.count('Pending')} Waiting / "
                               f"{phases.count('Succeeded')} Succeeded / {phases.count('Failed')} Failed")
    _template(doc, spec.get("template") or {})
    _conditions(doc, status.get("conditions") or [], reason=True)


def describe_node(doc: Doc, node: Obj, pods: list[Obj]) -> None:
    meta, spec, status = _meta(node), node.get("spec") or {}, node.get("status") or {}
    _common(doc, node, namespaced=False)
    roles = sorted(k.split("/", 1)[1] for k in meta.get("labels") or {}
                   if k.startswith("node-role.kubernetes.io/") and "/" in k)
    doc.item(0, "Roles", ",".join(roles) or "<none>")
    _labels_annotations(doc, meta)
    doc.item(0, "CreationTimestamp", timestamp(meta.get("creationTimestamp")))
    taints = [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
              for t in spec.get("taints") or []]
    doc.item(0, "Taints", taints[0] if taints else "<none>")
    for t in taints[1:]:
        doc.lines.append((0, " ", t))
    doc.item(0, "Unschedulable", bool(spec.get("unschedulable")))
    conditions = status.get("conditions") or []
    if conditions:
        doc.item(0, "Conditions")
        doc.table(1, ["Type", "Status", "LastHeartbeatTime", "Reason", "Message"],
                  [[c.get("type", ""), c.get("status", ""), timestamp(c.get("lastHeartbeatTime")),
                    c.get("reason", ""), c.get("message", "")] for c in conditions])
    doc.item(0, "Addresses")
    for a in status.get("addresses") or []:
        doc.item(1, a.get("type", ""), a.get("address", ""))
    for key, title in (("capacity", "Capacity"), ("allocatable", "Allocatable")):
        doc.item(0, title)
        for k, v in sorted((status.get(key) or {}).items()):
            doc.item(1, k, v)
    info = status.get("nodeInfo") or {}
    doc.item(0, "System Info")
    for k, title in (("operatingSystem", "Operating System"), ("architecture", "Architecture"),
                     ("osImage", "OS Image"), ("kernelVersion", "Kernel Version"),
                     ("containerRuntimeVersion", "Container Runtime Version"), ("kubeletVersion", "Kubelet Version")):
        doc.item(1, title, info.get(k, ""))
    active = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    doc.item(0, "Non-terminated Pods", f"({len(active)} in total)")
    if active:
        doc.table(1, ["Namespace", "Name", "Age"],
                  [[_meta(p).get("namespace", ""), _meta(p).get("name", ""),
                    since(_meta(p).get("creationTimestamp"), datetime.now(UTC))] for p in active])


def describe_namespace(doc: Doc, ns: Obj) -> None:
    _common(doc, ns, namespaced=False)
    _labels_annotations(doc, _meta(ns))
    doc.item(0, "Status", (ns.get("status") or {}).get("phase", ""))


def describe_generic(doc: Doc, obj: Obj, info: ResourceInfo) -> None:
    _common(doc, obj, namespaced=info.namespaced)
    _labels_annotations(doc, _meta(obj))
    doc.item(0, "API Version", obj.get("apiVersion", info.api_version))
    doc.item(0, "Kind", info.kind)
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    for key, value in sorted(rest.items()):
        if isinstance(value, dict | list):
            doc.item(0, title(key))
            for line in yaml.safe_dump(value, sort_keys=True, default_flow_style=False).splitlines():
                doc.text(1, line)
        else:
            doc.item(0, title(key), value)


def title(field: str) -> str:
    """``involvedObject`` -> ``Involved Object``: a JSON field name as a describe heading."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", field)
    return words[:1].upper() + words[1:]


def event_rows(events: list[Obj], now: datetime) -> list[list[str]]:
    """Type, Reason, Age (``3m (x4 over 5m)``), From, Message — oldest first, as kubectl."""
    def last_seen(e: Obj) -> str:
        return e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or ""

    rows = []
    for e in sorted(events, key=last_seen):
        first = e.get("firstTimestamp") or e.get("eventTime")
        count = int(e.get("count") or 1)
        age = since(last_seen(e), now)
        if count > 1:
            age = f"{age} (x{count} over {since(first, now)})"
        source = e.get("source") or {}
        origin = source.get("component") or e.get("reportingComponent") or ""
        rows.append([e.get("type", ""), e.get("reason", ""), age, origin, (e.get("message") or "").strip()])
    return rows


def events_section(doc: Doc, events: list[Obj], now: datetime) -> None:
    if not events:
        doc.item(0, "Events", "<none>")
        return
    doc.item(0, "Events")
    doc.table(1, ["Type", "Reason", "Age", "From", "Message"], event_rows(events, now))


async def object_events(client: ApiClient, info: ResourceInfo, obj: Obj) -> list[Obj]:
    meta = _meta(obj)
    fields = [f"involvedObject.name={meta.get('name')}", f"involvedObject.kind={info.kind}"]
    if info.namespaced:
        fields.append(f"involvedObject.namespace={meta.get('namespace')}")
    listed = await client.list("events", namespace=meta.get("namespace") if info.namespaced else None,
                               field_selector=",".join(fields))
    uid = meta.get("uid")
    return [e for e in listed.get("items") or []
            if not (e.get("involvedObject") or {}).get("uid") or (e.get("involvedObject") or {}).get("uid") == uid]


async def describe(client: ApiClient, info: ResourceInfo, obj: Obj, *, now: datetime | None = None) -> str:
    """The description of `obj` (already read), with what else it needs read from the API."""
    now = now or datetime.now(UTC)
    doc = Doc()
    meta = _meta(obj)
    kind = info.group_resource
    if kind == "pods":
        describe_pod(doc, obj, now)
    elif kind == "deployments.apps":
        listed = await client.list("replicasets.apps", namespace=meta.get("namespace"),
                                   label_selector=selector_string((obj.get("spec") or {}).get("selector")) or None)
        owned = [rs for rs in listed.get("items") or []
                 if any(r.get("uid") == meta.get("uid") for r in _meta(rs).get("ownerReferences") or [])]
        describe_deployment(doc, obj, owned)
    elif kind == "replicasets.apps":
        listed = await client.list("pods", namespace=meta.get("namespace"))
        owned = [p for p in listed.get("items") or []
                 if any(r.get("uid") == meta.get("uid") for r in _meta(p).get("ownerReferences") or [])]
        describe_replicaset(doc, obj, owned)
    elif kind == "nodes":
        listed = await client.list("pods", field_selector=f"spec.nodeName={meta.get('name')}")
        describe_node(doc, obj, listed.get("items") or [])
    elif kind == "namespaces":
        describe_namespace(doc, obj)
    else:
        describe_generic(doc, obj, info)
    if kind != "events":
        events_section(doc, await object_events(client, info, obj), now)
    return doc.render()
