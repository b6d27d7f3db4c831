"""Live views for notebooks (ipywidgets): a pod board and an event timeline.

    board = labs.widgets.PodBoard(lab)          # pods grouped by node, coloured by phase
    board                                       # display it; it follows a watch by itself
    board.phase_of("web-1")                     # what the board shows, for checkpoints
    board.stop()

Each view lists then watches the API server in a background thread (`labs.watching.Follower`)
and re-renders at most every 0.2 s. The root widget of PodBoard carries the CSS class
``labkit-podboard`` (the browser smoke test looks for it), EventTimeline ``labkit-eventtimeline``.
"""

from __future__ import annotations

import html
import threading
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from labs.watching import Follower

if TYPE_CHECKING:
    from labs.lab import Lab

PHASE_COLOURS = {
    "Pending": "#f0ad4e",
    "Running": "#5cb85c",
    "Succeeded": "#5bc0de",
    "Failed": "#d9534f",
    "Unknown": "#999999",
    "Terminating": "#9e9e9e",
}
_RENDER_SECONDS = 0.2
UNSCHEDULED = "(not scheduled)"


def pod_phase(pod: dict[str, Any]) -> str:
    """The phase a board shows: the pod's status.phase, or Terminating once deletion started."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return (pod.get("status") or {}).get("phase") or "Pending"


class _LiveView:
    """Shared by the views: a follower thread, a lock, throttled rendering into an HTML widget."""

    css_class = ""

    def __init__(self, lab: Lab, path: str, *, title: str) -> None:
        self.lab = lab
        self.title = title
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._listed = threading.Event()
        self.last_error = ""
        self._html = w.HTML(value=f"<i>{html.escape(title)}: listing...</i>")
        self.widget = w.VBox([self._html])
        self.widget.add_class(self.css_class)
        self._follower = Follower(lab, path, on_list=self._list, on_event=self._event, on_error=self._error,
                                  name=f"labs-{self.css_class}")  # fmt: skip
        self._renderer = threading.Thread(target=self._render_loop, name=f"{self.css_class}-render", daemon=True)
        self._stopped = threading.Event()
        self._follower.start()
        self._renderer.start()

    def _list(self, items: list[dict[str, Any]]) -> None:
        with self._lock:
            self._replace(items)
        self._listed.set()
        self._dirty.set()

    def _event(self, event_type: str, obj: dict[str, Any]) -> None:
        with self._lock:
            self._apply(event_type, obj)
        self._dirty.set()

    def _error(self, message: str) -> None:
        self.last_error = message
        self._dirty.set()

    def _render_loop(self) -> None:
        while not self._stopped.is_set():
            if self._dirty.wait(0.5):
                self._dirty.clear()
                with self._lock:
                    self._html.value = self._render()
                time.sleep(_RENDER_SECONDS)

    def wait_listed(self, timeout: float = 30.0) -> bool:
        """Block until the first list arrived (the view shows real data)."""
        return self._listed.wait(timeout)

    def stop(self) -> None:
        """Stop following the API server (the widget keeps its last picture)."""
        self._stopped.set()
        self._follower.stop()

    @property
    def running(self) -> bool:
        return self._follower.running

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # implemented by each view
    def _replace(self, items: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _apply(self, event_type: str, obj: dict[str, Any]) -> None:
        raise NotImplementedError

    def _render(self) -> str:
        raise NotImplementedError


class PodBoard(_LiveView):
    """Pods grouped by node (one column per node, plus "not scheduled"), coloured by phase."""

    css_class = "labkit-podboard"

    def __init__(self, lab: Lab, namespace: str = "default") -> None:
        self.namespace = namespace
        self.pods: dict[str, dict[str, Any]] = {}
        self.nodes: list[str] = _node_names(lab)
        super().__init__(lab, f"/api/v1/namespaces/{namespace}/pods", title=f"pods in {namespace}")

    def _replace(self, items: list[dict[str, Any]]) -> None:
        self.pods = {p["metadata"]["name"]: p for p in items}
        for pod in items:
            self._remember_node(pod)

    def _apply(self, event_type: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self.pods.pop(name, None)
        else:
            self.pods[name] = obj
            self._remember_node(obj)

    def _remember_node(self, pod: dict[str, Any]) -> None:
        # A node stays on the board once seen, also when its last pod is gone.
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node not in self.nodes:
            self.nodes.append(node)

    def phase_of(self, name: str) -> str | None:
        """The phase the board shows for pod ``name`` (None: not on the board)."""
        with self._lock:
            pod = self.pods.get(name)
            return pod_phase(pod) if pod else None

    def node_of(self, name: str) -> str | None:
        with self._lock:
            pod = self.pods.get(name)
            return (pod.get("spec") or {}).get("nodeName") if pod else None

    def by_node(self) -> dict[str, list[tuple[str, str]]]:
        """{node: [(pod, phase), ...]} as the board shows it."""
        with self._lock:
            return self._by_node()

    def _by_node(self) -> dict[str, list[tuple[str, str]]]:
        columns: dict[str, list[tuple[str, str]]] = {node: [] for node in sorted(self.nodes)}
        for name in sorted(self.pods):
            pod = self.pods[name]
            node = (pod.get("spec") or {}).get("nodeName") or UNSCHEDULED
            columns.setdefault(node, []).append((name, pod_phase(pod)))
        return columns

    def _render(self) -> str:
        cells = []
        for node, pods in self._by_node().items():
            chips = "".join(
                f"<div class='labkit-pod' data-pod='{html.escape(name)}' data-phase='{phase}' "
                f"style='background:{PHASE_COLOURS.get(phase, '#999')};color:white;border-radius:4px;"
                f"padding:2px 6px;margin:2px 0;font-family:monospace'>{html.escape(name)} "
                f"<small>{phase}</small></div>"
                for name, phase in pods
            ) or "<div style='color:#999'><i>no pods</i></div>"
            cells.append(
                f"<div class='labkit-node' data-node='{html.escape(node)}' style='border:1px solid #ccc;"
                f"border-radius:6px;padding:6px;min-width:150px'><b>{html.escape(node)}</b>{chips}</div>"
            )
        legend = " ".join(
            f"<span style='background:{colour};color:white;padding:0 4px;border-radius:3px'>{phase}</span>"
            for phase, colour in PHASE_COLOURS.items()
        )
        error = f"<div style='color:#d9534f'>watch: {html.escape(self.last_error)} (retrying)</div>" if (
            self.last_error and not self._listed.is_set()) else ""  # fmt: skip
        return (
            f"<div><b>{html.escape(self.title)}</b> <small>{len(self.pods)} pods, live</small> {legend}</div>"
            f"<div style='display:flex;gap:8px;flex-wrap:wrap;margin-top:4px'>{''.join(cells)}</div>{error}"
        )


class EventTimeline(_LiveView):
    """Kubernetes Events (Scheduled, Pulled, Started, Killing, FailedScheduling...) as rows, newest last."""

    css_class = "labkit-eventtimeline"

    def __init__(self, lab: Lab, namespace: str | None = "default", *, max_rows: int = 30) -> None:
        self.namespace = namespace
        self.max_rows = max_rows
        self.events: dict[str, dict[str, Any]] = {}
        path = f"/api/v1/namespaces/{namespace}/events" if namespace else "/api/v1/events"
        super().__init__(lab, path, title=f"events in {namespace or 'all namespaces'}")

    def _replace(self, items: list[dict[str, Any]]) -> None:
        self.events = {e["metadata"]["uid"]: e for e in items if (e.get("metadata") or {}).get("uid")}

    def _apply(self, event_type: str, obj: dict[str, Any]) -> None:
        uid = (obj.get("metadata") or {}).get("uid")
        if not uid:
            return
        if event_type == "DELETED":
            self.events.pop(uid, None)
        else:
            self.events[uid] = obj

    def rows(self) -> list[dict[str, Any]]:
        """The events as rows, oldest first: time, type, reason, object, source, message, count."""
        with self._lock:
            return self._rows()

    def reasons(self) -> list[str]:
        return [row["reason"] for row in self.rows()]

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for ev in self.events.values():
            involved = ev.get("involvedObject") or {}
            rows.append({
                "time": ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp")
                or (ev.get("metadata") or {}).get("creationTimestamp") or "",
                "type": ev.get("type", ""),
                "reason": ev.get("reason", ""),
                "object": f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
                "source": (ev.get("source") or {}).get("component") or ev.get("reportingComponent") or "",
                "message": ev.get("message", ""),
                "count": ev.get("count") or 1,
            })  # fmt: skip
        rows.sort(key=lambda r: str(r["time"]))
        return rows

    def _render(self) -> str:
        rows = self._rows()[-self.max_rows :]
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in ("time", "type", "reason", "object",
                                                                          "source", "message"))  # fmt: skip
        body = "".join(
            "<tr>" + "".join(
                f"<td style='text-align:left;{'color:#d9534f' if r['type'] == 'Warning' else ''}'>"
                f"{html.escape(str(r[c]))}</td>" for c in ("time", "type", "reason", "object", "source", "message")
            ) + "</tr>"
            for r in rows
        ) or "<tr><td colspan='6'><i>no events yet</i></td></tr>"  # fmt: skip
        return f"<b>{html.escape(self.title)}</b> <small>live</small><table>{'<thead><tr>' + head + '</tr></thead>'}<tbody>{body}</tbody></table>"


def _node_names(lab: Lab) -> list[str]:
    try:
        with lab.http() as client:
            response = client.get("/api/v1/nodes")
            response.raise_for_status()
            return [n["metadata"]["name"] for n in response.json().get("items", [])]
    except Exception:  # the board still works; nodes appear as pods land on them
        return []
