"""Failure drills (notebook 06): components tuned to notice failures in seconds, a standby
scheduler, emptying Redis, and a timeline that records what the cluster did about it.

Why tuned components: with the defaults (the same as Kubernetes') a stopped node agent is noticed
only after ``--node-monitor-grace-period`` 50 s without a Lease renewal (renewed every 10 s),
and its pods are evicted ``--pod-eviction-timeout`` 300 s after that; a killed scheduler
leader is replaced after its Lease's 15 s. Right for a datacentre, too slow for a lesson.
`prepare_drills` (re)starts the scheduler, the controller manager and the node agents through
the lab's supervisor (so `labctl status` lists them and `labctl down` stops them) with the
same command lines `labctl up` uses plus shorter periods:

==========================  =========  ====  ======================================
flag                        default    here  component
==========================  =========  ====  ======================================
--lease-seconds             10         2     node agent: Lease renewal period
--status-report-seconds     300        5     node agent: re-post Node status at least this often
--node-monitor-grace-period 50         8     controller manager: Ready -> Unknown
--node-monitor-period       5          1     controller manager: health check period
--pod-eviction-timeout      300        3     default tolerationSeconds of the taints
--lease-duration            15         6     scheduler leader election
--renew-deadline            10         4
--retry-period              2          1
==========================  =========  ====  ======================================

`freeze` / `thaw` send SIGSTOP / SIGCONT to node agents: a frozen agent is alive (the supervisor's
watchdog leaves it alone) but silent, as a node behind a network cut; its containers keep running
and, once thawed, it carries on where it stopped. `zone_states` reads the node lifecycle
controller's zone states (Normal, PartialDisruption, FullDisruption) from its /metrics.

`Timeline` watches nodes, pods, the leader Leases and the Events through the API server (the
same list + watch any controller does, resumed from the last resourceVersion after the API
server went away) and keeps one row per *change that matters*: a node's Ready condition and
taints, a pod's phase, node and deletion, a Lease's holder, an Event's reason; plus the drill
steps you `mark`.

Kubernetes equivalent: none; these are the flags of kube-controller-manager, kubelet and
kube-scheduler of the same names.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from labs.table import Table
from orchestrator.lab.components import ControllerManager, NodeAgent, Scheduler
from orchestrator.lab.embedded.ports import LOOPBACK, free_port
from orchestrator.lab.supervisor import ComponentSpec, Supervisor
from orchestrator.lab.up import LabContext, control_plane

__all__ = ["DrillSettings", "Timeline", "back_up", "flush_redis", "freeze", "node_agents", "node_ready", "pods_by_node",
           "prepare_drills", "retune", "running", "scheduler_leader", "start_standby_scheduler", "stream_lengths",
           "takeovers", "takeovers_from_log", "thaw", "wait_rows", "zone_states", "zone_states_from_metrics"]

STANDBY_SCHEDULER = "scheduler-2"


@dataclass(frozen=True)
class DrillSettings:
    lease_seconds: float = 2.0
    # The agent re-posts its Node status this often even when nothing changed: after a
    # controller marked the node Unknown (e.g. while the API server was away) this is what
    # brings Ready=True back.
    status_report_seconds: float = 5.0
    node_monitor_grace_period: float = 8.0
    node_monitor_period: float = 1.0
    pod_eviction_timeout: int = 3
    lease_duration: float = 6.0
    renew_deadline: float = 4.0
    retry_period: float = 1.0


def _extra_flags(name: str, s: DrillSettings) -> list[str]:
    election = {"lease_duration": s.lease_duration, "renew_deadline": s.renew_deadline, "retry_period": s.retry_period}
    if name == "scheduler" or name == STANDBY_SCHEDULER:
        return Scheduler.flags(**election)
    if name == "controller-manager":
        return ControllerManager.flags(node_monitor_grace_period=s.node_monitor_grace_period,
                                       node_monitor_period=s.node_monitor_period,
                                       pod_eviction_timeout=s.pod_eviction_timeout, **election)
    if name.startswith("node-"):
        return NodeAgent.flags(lease_seconds=s.lease_seconds, status_report_seconds=s.status_report_seconds)
    return []


def _lab_specs(lab: Any, supervisor: Supervisor) -> list[ComponentSpec]:
    """The specs `labctl up` would start for this lab (same ports, same kubeconfigs)."""
    remembered = supervisor.lab
    ports = dict(remembered.get("ports", {}))
    running = frozenset(r.name for r in supervisor.records() if supervisor.is_running(r.name))
    ctx = LabContext(home=lab.home, database_url=lab.database_url, redis_url=lab.redis_url,
                     apiserver_port=int(ports["apiserver"]), nodes=len(lab.nodes) or int(remembered.get("nodes", 0)),
                     runtime=lab.runtime, ports=ports, running=running)
    return control_plane(ctx)


def prepare_drills(lab: Any, settings: DrillSettings = DrillSettings()) -> list[dict[str, Any]]:
    """(Re)start the scheduler, controller manager and node agents with the drill's short periods.

    A component already running with the defaults is stopped first (`lab.stop_component`).
    Returns one row per component: name, pid, the flags added.
    """
    return retune(lab, None, settings)


def retune(lab: Any, names: Sequence[str] | None, settings: DrillSettings) -> list[dict[str, Any]]:
    """Restart the named components (None: all that have drill flags) with `settings`' flags."""
    supervisor = Supervisor(lab.home)
    rows = []
    for spec in _lab_specs(lab, supervisor):
        extra = _extra_flags(spec.name, settings)
        if not extra or (names is not None and spec.name not in names):
            continue
        if supervisor.is_running(spec.name):
            lab.stop_component(spec.name)
        tuned = replace(spec, argv=[*spec.argv, *extra])
        with supervisor.lock():
            record, _ = supervisor.start(tuned)
        rows.append({"component": spec.name, "pid": record.pid, "flags added": " ".join(extra)})
    return rows


def start_standby_scheduler(lab: Any, settings: DrillSettings = DrillSettings()) -> dict[str, Any]:
    """A second scheduler process, candidate on the same Lease kube-system/kube-scheduler.

    It runs with ``--identity scheduler-2`` so the Lease's holder names it; the lab's own
    scheduler has the default identity (``<hostname>_<random>``).
    """
    supervisor = Supervisor(lab.home)
    grpc_port, metrics_port = free_port(), free_port()
    spec = ComponentSpec(
        name=STANDBY_SCHEDULER,
        argv=Scheduler(kubeconfig=lab.home.kubeconfig_for("scheduler"), leader_elect=True, identity=STANDBY_SCHEDULER,
                       bind_address=LOOPBACK, grpc_port=grpc_port, metrics_port=metrics_port,
                       extra=tuple(_extra_flags(STANDBY_SCHEDULER, settings))).argv(),
        health=f"http://{LOOPBACK}:{metrics_port}/healthz",
        depends_on=("apiserver",),
        address=f"{LOOPBACK}:{grpc_port}",
    )
    with supervisor.lock():
        record, _ = supervisor.start(spec)
    return {"component": STANDBY_SCHEDULER, "pid": record.pid, "address": record.address}


def scheduler_leader(lab: Any, lease: str = "kube-scheduler") -> tuple[str, str]:
    """(holder identity, component name) of the Lease kube-system/<lease>."""
    with lab.http() as http:
        response = http.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}")
        response.raise_for_status()
        holder = (response.json().get("spec") or {}).get("holderIdentity") or ""
    component = STANDBY_SCHEDULER if holder == STANDBY_SCHEDULER else "scheduler" if holder else ""
    return holder, component


def flush_redis(lab: Any) -> int:
    """FLUSHALL the lab's Redis (the drill: every stream and mark gone). Returns the keys there were."""
    import redis

    client = redis.Redis.from_url(lab.redis_url)
    try:
        before = int(client.dbsize())
        client.flushall()
        return before
    finally:
        client.close()


def stream_lengths(lab: Any) -> dict[str, int]:
    """Entries per Redis stream, e.g. {"pods": 12, "nodes": 40}; read-only (XLEN)."""
    import redis

    client = redis.Redis.from_url(lab.redis_url, decode_responses=True)
    try:
        prefix = "labkit:stream:"
        return {key[len(prefix):]: int(client.xlen(key)) for key in sorted(client.scan_iter(f"{prefix}*"))}
    finally:
        client.close()


# --- the timeline -------------------------------------------------------------------------------

@dataclass
class _Watch:
    resource: str
    path: str
    summarize: Callable[[str, dict[str, Any]], str | None]
    last: dict[str, str] = field(default_factory=dict)


def _node_summary(kind: str, node: dict[str, Any]) -> str | None:
    if kind == "DELETED":
        return "deleted"
    ready = next((c.get("status") for c in (node.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"), None)
    taints = sorted(f"{t.get('key', '').rsplit('/', 1)[-1]}:{t.get('effect')}"
                    for t in (node.get("spec") or {}).get("taints") or [])
    return f"Ready={ready}" + (f" taints {','.join(taints)}" if taints else "")


def _pod_summary(kind: str, pod: dict[str, Any]) -> str | None:
    if kind == "DELETED":
        return "deleted"
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    node = (pod.get("spec") or {}).get("nodeName")
    text = f"{phase}" + (f" on {node}" if node else " (not bound)")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        text += ", terminating"
    return text


def _lease_summary(kind: str, lease: dict[str, Any]) -> str | None:
    if kind == "DELETED":
        return "deleted"
    return f"holder {(lease.get('spec') or {}).get('holderIdentity') or '(none)'}"


def _event_summary(kind: str, event: dict[str, Any]) -> str | None:
    if kind == "DELETED":
        return None
    return f"{event.get('reason')}: {event.get('message', '')}"


class Timeline:
    """Records what the cluster does, from watches that survive an API server restart.

    ``Timeline(lab)`` starts at once; ``mark("killed node-1")`` adds a drill step;
    ``rows(since=...)`` / ``table(...)`` give the rows (seconds since start, source, object,
    change); ``stop()`` ends the watches.
    """

    def __init__(self, lab: Any, *, namespace: str = "default") -> None:
        self.lab = lab
        self.t0 = time.monotonic()
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._responses: dict[str, httpx.Response] = {}
        self.watches = [
            _Watch("node", "/api/v1/nodes", _node_summary),
            _Watch("pod", f"/api/v1/namespaces/{namespace}/pods", _pod_summary),
            _Watch("lease", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", _lease_summary),
            _Watch("event", "/api/v1/events", _event_summary),
        ]
        self._threads = [threading.Thread(target=self._run, args=(w,), name=f"timeline-{w.resource}", daemon=True)
                         for w in self.watches]
        self._listed = {w.resource: threading.Event() for w in self.watches}
        for t in self._threads:
            t.start()
        for listed in self._listed.values():
            listed.wait(timeout=30)

    # --- recording -----------------------------------------------------------------------------

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    def add(self, source: str, obj: str, change: str) -> None:
        with self._lock:
            self._rows.append({"t (s)": self.now(), "source": source, "object": obj, "change": change})

    def mark(self, step: str) -> float:
        """Record a drill step; returns its time, to pass to `rows(since=...)`."""
        t = self.now()
        self.add("drill", "", step)
        return t

    def rows(self, *, since: float = 0.0, source: str | None = None, contains: str = "") -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._rows if r["t (s)"] >= since and (source is None or r["source"] == source)
                    and contains in f"{r['object']} {r['change']}"]

    def table(self, *, since: float = 0.0, source: str | None = None, contains: str = "") -> Table:
        return Table(self.rows(since=since, source=source, contains=contains))

    def first(self, *, since: float = 0.0, source: str | None = None, contains: str = "") -> dict[str, Any] | None:
        rows = self.rows(since=since, source=source, contains=contains)
        return rows[0] if rows else None

    def plot(self, *, since: float = 0.0, title: str = "what the cluster did") -> Any:
        """A matplotlib Figure: one lane per source (node, pod, lease, event, watch), a dot per row,
        and each drill step as a labelled vertical line."""
        from matplotlib.figure import Figure

        import labs.plots  # noqa: F401 - lets Jupyter show a bare Figure

        lanes = ["watch", "event", "lease", "pod", "node"]
        rows = self.rows(since=since)
        fig = Figure(figsize=(9, 3.2))
        ax = fig.subplots()
        for i, lane in enumerate(lanes):
            xs = [r["t (s)"] for r in rows if r["source"] == lane]
            ax.plot(xs, [i] * len(xs), "o", markersize=4, alpha=0.6)
        for r in rows:
            if r["source"] == "drill":
                ax.axvline(r["t (s)"], color="grey", linestyle="--", linewidth=1)
                ax.annotate(r["change"], xy=(r["t (s)"], len(lanes) - 0.5), fontsize=7, rotation=90, va="top",
                            ha="right", color="dimgrey")
        ax.set_yticks(range(len(lanes)), lanes)
        ax.set_ylim(-0.5, len(lanes) - 0.5)
        ax.set(title=title, xlabel="seconds since the timeline started")
        ax.grid(alpha=0.3, axis="x")
        fig.tight_layout()
        return fig

    def stop(self) -> None:
        self._stop.set()
        for response in list(self._responses.values()):
            # Closing a client does not wake a thread blocked reading its socket; shutting the
            # socket down does.
            with contextlib.suppress(Exception):
                response.extensions["network_stream"].get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(timeout=2)

    # --- watching ------------------------------------------------------------------------------

    def _run(self, watch: _Watch) -> None:
        """List, then watch from the list's resourceVersion; after a broken watch resume from the
        last resourceVersion seen (410 Gone: list again) -- what every informer does."""
        rv: str | None = None
        announced = False
        broken_since: float | None = None
        while not self._stop.is_set():
            client = self.lab.http()
            try:
                if rv is None:
                    listing = client.get(watch.path, timeout=10)
                    listing.raise_for_status()
                    body = listing.json()
                    rv = body["metadata"]["resourceVersion"]
                    for item in body.get("items") or []:
                        self._observe(watch, "ADDED", item, quiet=not announced)
                if not announced:
                    announced = True
                    self._listed[watch.resource].set()
                params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "300"}
                with client.stream("GET", watch.path, params=params, timeout=httpx.Timeout(10, read=None)) as stream:
                    self._responses[watch.resource] = stream
                    if stream.status_code == 410:
                        rv = None
                        continue
                    stream.raise_for_status()
                    if broken_since is not None:
                        self.add("watch", watch.resource + "s", f"watch resumed from resourceVersion {rv} "
                                 f"after {time.monotonic() - broken_since:.1f}s")
                        broken_since = None
                    for line in _lines(stream.iter_lines()):
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            if obj.get("code") == 410:
                                self.add("watch", watch.resource + "s", "410 Expired: list again")
                                rv = None
                            break
                        rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                        if event.get("type") != "BOOKMARK":
                            self._observe(watch, event["type"], obj)
            except (httpx.HTTPError, OSError, ValueError, KeyError) as err:
                if self._stop.is_set():
                    return
                if broken_since is None and announced:
                    broken_since = time.monotonic()
                    self.add("watch", watch.resource + "s", f"watch broken ({type(err).__name__}); retrying")
                time.sleep(0.5)
            finally:
                self._responses.pop(watch.resource, None)
                client.close()

    def _observe(self, watch: _Watch, kind: str, obj: dict[str, Any], *, quiet: bool = False) -> None:
        meta = obj.get("metadata") or {}
        key = meta.get("name") or ""
        summary = watch.summarize(kind, obj)
        if summary is None or watch.last.get(key) == summary:
            return
        watch.last[key] = summary
        if kind == "DELETED":
            watch.last.pop(key, None)
        if not quiet:
            if watch.resource == "event":
                involved = obj.get("involvedObject") or {}
                key = f"{involved.get('kind', '')}/{involved.get('name', '')}"
            self.add(watch.resource, key, summary)


_TAKEOVER = re.compile(
    r"^(?P<time>\S+ \S+) \S+ orchestrator\.controllers\.manager: (?P<identity>\S+): leading: caches at revision "
    r"(?P<revision>\d+) after (?P<seconds>[\d.]+)s \((?P<count>\d+) listed again: (?P<listed>[^)]*)\)")


def takeovers_from_log(text: str) -> list[dict[str, Any]]:
    """The "leading: caches at revision ..." lines of a controller manager's log, one row each:
    when it took the lead, the Lease's handover revision (the old leader's release, or the
    write that took its expired Lease; 0 if there was none), how long its caches took to reach it, and
    which informers listed afresh instead (their watch had not brought it within the patience)."""
    rows = []
    for line in text.splitlines():
        m = _TAKEOVER.match(line)
        if m:
            rows.append({"time": m["time"], "identity": m["identity"], "handover revision": int(m["revision"]),
                         "caught up in (s)": float(m["seconds"]), "listed again": int(m["count"]),
                         "which": "" if m["listed"] == "none" else m["listed"]})
    return rows


def takeovers(lab: Any, component: str = "controller-manager") -> list[dict[str, Any]]:
    """`takeovers_from_log` of the component's log file in the lab home (its restarts append to it)."""
    path = lab.home.log_file(component)
    return takeovers_from_log(path.read_text(errors="replace")) if path.exists() else []


def _lines(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if line.strip():
            yield line


def wait_rows(timeline: Timeline, *, since: float, source: str | None = None, contains: str = "",
              count: int = 1) -> Sequence[dict[str, Any]]:
    """For `labs.wait_for`: the matching rows once there are at least `count`, else an empty list."""
    rows = timeline.rows(since=since, source=source, contains=contains)
    return rows if len(rows) >= count else []


def back_up(lab: Any, name: str, *, timeout: float = 45.0) -> str:
    """Wait for the supervisor's watchdog to restart a killed component; start it ourselves if it
    does not within `timeout` (a lab without the watchdog). Returns who brought it back."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(lab, name):
            return "restarted by the supervisor's watchdog"
        time.sleep(0.25)
    lab.start_component(name)
    return "started again with lab.start_component (no watchdog restarted it)"


def _healthy(lab: Any, name: str) -> bool:
    return any(row.name == name and row.running and row.healthy for row in lab.supervisor.status())


def pods_by_node(lab: Any, namespace: str = "default") -> dict[str, list[str]]:
    """{node: [pod names]} of the pods that are bound and not terminating."""
    with lab.http() as http:
        response = http.get(f"/api/v1/namespaces/{namespace}/pods")
        response.raise_for_status()
        items = response.json().get("items") or []
    out: dict[str, list[str]] = {}
    for pod in items:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            out.setdefault(node, []).append(pod["metadata"]["name"])
    return out


def running(lab: Any, *, selector: str = "", namespace: str = "default") -> list[str]:
    """Names of the pods that are Running, bound, and not terminating (a terminating pod on a
    dead node keeps phase Running until its agent comes back to confirm the deletion)."""
    with lab.http() as http:
        response = http.get(f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": selector} if selector else None)
        response.raise_for_status()
        items = response.json().get("items") or []
    return sorted(p["metadata"]["name"] for p in items
                  if (p.get("status") or {}).get("phase") == "Running" and (p.get("spec") or {}).get("nodeName")
                  and not p["metadata"].get("deletionTimestamp"))


# --- the whole fleet at once ----------------------------------------------------------------------

def node_agents(lab: Any) -> list[str]:
    """The lab's node agent components: ``node-N`` (one process per node) or ``fleet-N``."""
    return [r.name for r in Supervisor(lab.home).records() if r.name.startswith(("node-", "fleet-"))]


def _signal(lab: Any, names: Sequence[str], sig: signal.Signals) -> list[dict[str, Any]]:
    supervisor = Supervisor(lab.home)
    rows = []
    for name in names:
        record = supervisor.record(name)
        if record is None or record.pid is None or not supervisor.alive(record):
            raise RuntimeError(f"{name} is not running (lab.status() lists the components)")
        os.kill(record.pid, sig)
        rows.append({"component": name, "pid": record.pid, "sent": sig.name})
    return rows


def _renew_time(lab: Any, node: str) -> str:
    with lab.http() as http:
        response = http.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}")
        response.raise_for_status()
        return str((response.json().get("spec") or {}).get("renewTime") or "")


def freeze(lab: Any, names: Sequence[str], *, after_renewal_of: str | None = None,
           timeout: float = 15.0) -> list[dict[str, Any]]:
    """SIGSTOP the components `names` (node agents): alive, silent, their containers untouched.

    With `after_renewal_of` (a node name) the signals go out just after that node renewed its
    Lease, so that node's silence starts last: the controller notices the others first.
    """
    if after_renewal_of is not None:
        seen = _renew_time(lab, after_renewal_of)
        deadline = time.monotonic() + timeout
        while _renew_time(lab, after_renewal_of) == seen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{after_renewal_of} did not renew its Lease within {timeout:.0f}s")
            time.sleep(0.05)
    return _signal(lab, names, signal.SIGSTOP)


def thaw(lab: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    """SIGCONT the components `names`; harmless for one that was not frozen."""
    return _signal(lab, names, signal.SIGCONT)


def node_ready(lab: Any) -> dict[str, str]:
    """{node: status of its Ready condition} ("True", "False", "Unknown")."""
    with lab.http() as http:
        response = http.get("/api/v1/nodes")
        response.raise_for_status()
        items = response.json().get("items") or []
    return {n["metadata"]["name"]: str(next((c.get("status") for c in (n.get("status") or {}).get("conditions") or []
                                             if c.get("type") == "Ready"), None))
            for n in items}


def zone_states_from_metrics(text: str) -> dict[str, str]:
    """{zone: state} from the gauge ``node_collector_zone_state{zone, state}`` (1 = the state it is
    in) of a Prometheus text exposition; the nodes without a zone label are the zone ""."""
    from prometheus_client.parser import text_string_to_metric_families

    states: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "node_collector_zone_state":
            continue
        for sample in family.samples:
            if sample.value == 1.0:
                states[sample.labels.get("zone", "")] = sample.labels.get("state", "")
    return states


def zone_states(lab: Any) -> dict[str, str]:
    """The node lifecycle controller's zone states, read from the controller manager's /metrics."""
    record = Supervisor(lab.home).record("controller-manager")
    if record is None or not record.health or not record.health.startswith("http"):
        raise RuntimeError("the lab runs no controller manager with a metrics endpoint")
    metrics_url = record.health.rsplit("/", 1)[0] + "/metrics"
    response = httpx.get(metrics_url, timeout=5.0)
    response.raise_for_status()
    return zone_states_from_metrics(response.text)
