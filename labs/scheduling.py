"""Ask the lab's scheduler why: the Explain table, the queue, and a second scheduler with your plugin.

    ex = scheduling.explain(lab, "web")            # a pod the cluster has
    ex = scheduling.explain(lab, pod_manifest)      # or a pod that does not exist (a dry run)
    ex.chosen_node, ex.verdicts["small"], ex.scores["large"]["NodeResourcesFit"].normalized
    scheduling.plot_scores(ex)                      # stacked bars: which plugin gave what
    scheduling.queue(lab)                           # activeQ / backoffQ / unschedulablePods
    scheduling.start_scheduler(lab, name="fast-scheduler",
                               plugins={"labs.exercises.scheduler_plugin:PreferFastZone": 5})

Explain is the scheduler's own gRPC method (orchestrator/proto/scheduler.proto), the one
`labctl scheduler explain POD` calls: a dry run of one scheduling cycle over *every* node —
each Filter verdict, each Score plugin's raw score, its normalized score (0..100) and weight —
without binding anything. Scores read ``raw→normalized×weight``; a node's total adds the
weighted ones; the highest total wins.

A second scheduler (`start_scheduler`) runs its own profile: pods choose it with
``spec.schedulerName``; the lab's default scheduler ignores them, as kube-scheduler ignores pods
for another profile. Plugins named ``package.module:Class`` are imported when the process
starts, so after editing your plugin, start the scheduler again (``restart=True``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml

from labs.errors import LabError
from labs.table import Table
from orchestrator.lab.components import Scheduler
from orchestrator.lab.embedded.ports import LOOPBACK, free_port
from orchestrator.lab.supervisor import ComponentSpec, SupervisorError
from orchestrator.proto import scheduler_pb2, scheduler_pb2_grpc
from orchestrator.scheduler.config import parse_config
from orchestrator.scheduler.service import SERVICE_NAME, grpc_health_probe

GRPC_TIMEOUT = 15.0


@dataclass(frozen=True)
class Score:
    """One Score plugin's verdict on one node."""

    raw: int
    normalized: int
    weight: int

    @property
    def weighted(self) -> int:
        return self.normalized * self.weight

    def __str__(self) -> str:
        return f"{self.raw}→{self.normalized}×{self.weight}"


@dataclass(frozen=True)
class Explanation:
    """The scheduler's answer for one pod, keyed for asserts and rendered as a table for people.

    ``verdicts``: node -> "fits" or "<Plugin>: <reasons>"; ``scores``: feasible node -> plugin ->
    Score; ``totals``: feasible node -> total; ``chosen_node``: None when nothing fits, and then
    ``message`` is the FailedScheduling text.
    """

    pod: str
    profile: str
    chosen_node: str | None
    message: str
    verdicts: dict[str, str]
    rejected_by: dict[str, str]
    scores: dict[str, dict[str, Score]]
    totals: dict[str, int]
    plugins: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> list[str]:
        return [node for node, verdict in self.verdicts.items() if verdict == "fits"]

    def table(self) -> Table:
        """One row per node, like `labctl scheduler explain`: the chosen node first, rejected last."""
        order = sorted(
            self.verdicts,
            key=lambda n: (n not in self.totals, n != self.chosen_node, -self.totals.get(n, 0), n),
        )
        rows = []
        for node in order:
            row: dict[str, Any] = {
                "node": ("★ " if node == self.chosen_node else "") + node,
                "filter": self.verdicts[node],
            }
            for plugin in self.plugins:
                score = self.scores.get(node, {}).get(plugin)
                row[plugin] = str(score) if score is not None else ""
            row["total"] = self.totals.get(node, "")
            rows.append(row)
        title = f"{self.pod} (profile {self.profile}): "
        title += f"would go to {self.chosen_node}" if self.chosen_node else self.message
        return Table(rows, title=title, columns=["node", "filter", *self.plugins, "total"])

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def scheduler_address(lab: Any, component: str = "scheduler") -> str:
    """host:port of a scheduler component's gRPC service, from the lab's supervisor records."""
    record = lab.supervisor.record(component)
    if record is None or not record.address:
        raise LabError(f"the lab runs no {component!r} (was it skipped? start it with lab.start_component)")
    return str(record.address)


def _call(lab: Any, component: str, method: str, request: Any) -> Any:
    address = scheduler_address(lab, component)
    with grpc.insecure_channel(address) as channel:
        stub = scheduler_pb2_grpc.SchedulerStub(channel)
        try:
            return getattr(stub, method)(request, timeout=GRPC_TIMEOUT)
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            detail = err.details()  # type: ignore[attr-defined]
            if code == grpc.StatusCode.UNAVAILABLE:
                detail = f"no scheduler answers at {address} ({component} stopped?)"
            raise LabError(f"{component} {method}: {detail}") from None


def explain(
    lab: Any, pod: str | Mapping[str, Any], *, namespace: str = "default", scheduler: str = "scheduler"
) -> Explanation:
    """Where ``pod`` would go and why. ``pod``: the name of a pod the cluster has, or a whole pod
    manifest (a dict) that need not exist. ``scheduler``: the component to ask."""
    if isinstance(pod, str):
        request = scheduler_pb2.ExplainRequest(namespace=namespace, name=pod)
    else:
        manifest = dict(pod)
        manifest.setdefault("metadata", {}).setdefault("namespace", namespace)
        request = scheduler_pb2.ExplainRequest(pod_json=json.dumps(manifest))
    answer = _call(lab, scheduler, "Explain", request)
    return explanation_from_proto(answer)


def explanation_from_proto(answer: Any) -> Explanation:
    """ExplainResponse -> Explanation (nodes keyed by name)."""
    verdicts: dict[str, str] = {}
    rejected_by: dict[str, str] = {}
    scores: dict[str, dict[str, Score]] = {}
    totals: dict[str, int] = {}
    plugins: list[str] = []
    for node in answer.nodes:
        if node.feasible:
            verdicts[node.node_name] = "fits"
            totals[node.node_name] = int(node.total_score)
            scores[node.node_name] = {
                s.plugin: Score(int(s.raw), int(s.normalized), int(s.weight)) for s in node.scores
            }
            for s in node.scores:
                if s.plugin not in plugins:
                    plugins.append(s.plugin)
        else:
            verdicts[node.node_name] = f"{node.plugin}: {'; '.join(node.reasons)}"
            rejected_by[node.node_name] = node.plugin
    return Explanation(
        pod=answer.pod,
        profile=answer.profile,
        chosen_node=answer.chosen_node or None,
        message=answer.message,
        verdicts=verdicts,
        rejected_by=rejected_by,
        scores=scores,
        totals=totals,
        plugins=plugins,
    )


def queue(lab: Any, *, scheduler: str = "scheduler") -> Table:
    """The pods the scheduler holds and in which queue (activeQ, backoffQ, unschedulablePods, inFlight)."""
    answer = _call(lab, scheduler, "ListQueue", scheduler_pb2.ListQueueRequest())
    return Table(
        (
            {"pod": p.pod, "queue": p.queue, "attempts": p.attempts, "last failure": p.last_failure}
            for p in answer.pods
        ),
        title=f"{scheduler} queue",
        columns=("pod", "queue", "attempts", "last failure"),
    )


def status(lab: Any, *, scheduler: str = "scheduler") -> dict[str, Any]:
    """The scheduler's GetStatus: identity, leader, profiles, counters, queue sizes."""
    answer = _call(lab, scheduler, "GetStatus", scheduler_pb2.GetStatusRequest())
    return {
        "identity": answer.identity,
        "leader": answer.leader,
        "profiles": list(answer.profiles),
        "counters": dict(answer.counters),
        "queue": dict(answer.queue),
        "nodes": answer.nodes,
        "pods": answer.pods,
    }


def plot_scores(ex: Explanation, *, title: str = "") -> Any:
    """A stacked bar per feasible node: each Score plugin's weighted score; the chosen node starred."""
    from matplotlib.figure import Figure

    import labs.plots  # noqa: F401  (registers Figure display in Jupyter)

    nodes = sorted(ex.totals, key=lambda n: -ex.totals[n])
    fig = Figure(figsize=(8, 0.6 * max(len(nodes), 2) + 1.2))
    ax = fig.subplots()
    left = [0] * len(nodes)
    for plugin in ex.plugins:
        widths = [ex.scores[n][plugin].weighted if plugin in ex.scores[n] else 0 for n in nodes]
        ax.barh([("★ " if n == ex.chosen_node else "") + n for n in nodes], widths, left=left, label=plugin)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("weighted score (normalized 0..100 × weight)")
    ax.set_title(title or f"scores for {ex.pod}")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    fig.tight_layout()
    return fig


def scheduler_config(
    name: str, plugins: Mapping[str, int], plugin_args: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """A KubeSchedulerConfiguration with one profile ``name``: the default plugins plus ``plugins``
    (plugin name -> Score weight), each joining every extension point it implements."""
    profile: dict[str, Any] = {
        "schedulerName": name,
        "plugins": {"multiPoint": {"enabled": [{"name": p, "weight": w} for p, w in plugins.items()]}},
    }
    if plugin_args:
        profile["pluginConfig"] = [{"name": p, "args": dict(a)} for p, a in plugin_args.items()]
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "profiles": [profile],
    }


def start_scheduler(
    lab: Any,
    *,
    name: str,
    plugins: Mapping[str, int],
    plugin_args: Mapping[str, Mapping[str, Any]] | None = None,
    restart: bool = False,
    show: bool = True,
    python_path: Sequence[Path | str] = (),
) -> str:
    """Run a second scheduler process whose one profile is ``name`` (pods opt in with
    ``spec.schedulerName: <name>``), with ``plugins`` added to the default ones. Returns its
    component name (``scheduler-<name>``), for `explain(..., scheduler=...)` and `queue`.

    The configuration is checked here first (a plugin that cannot be imported, or has no ``name``,
    is reported at once); ``restart=True`` stops a running one first, to load an edited plugin.
    ``python_path``: folders the scheduler process imports plugins from too (a learner's copy).
    """
    component = f"scheduler-{name}"
    config = scheduler_config(name, plugins, plugin_args)
    try:
        parse_config(config)
    except Exception as err:  # Invalid, with the message listing what is allowed
        raise LabError(str(err)) from None
    supervisor = lab.supervisor
    path = lab.home.run_dir / f"{component}.yaml"
    text = yaml.safe_dump(config, sort_keys=False)
    existing = supervisor.record(component)
    changed = not path.exists() or path.read_text() != text
    if existing is not None and supervisor.alive(existing) and (restart or changed):
        try:
            supervisor.stop_component(component)
        except SupervisorError as err:
            raise LabError(str(err)) from None
    path.write_text(text)
    grpc_port = existing.port if existing is not None and existing.port else free_port()
    address = f"{LOOPBACK}:{grpc_port}"
    env = {}
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in python_path), os.environ.get("PYTHONPATH", "")])
    spec = ComponentSpec(
        name=component,
        env=env,
        argv=Scheduler(kubeconfig=lab.home.kubeconfig_for("scheduler"), config=path, bind_address=LOOPBACK,
                       grpc_port=grpc_port, metrics_port=0).argv(),
        # Healthy once its informers have synced: only then does Explain see the nodes.
        health=lambda: grpc_health_probe(address, service=SERVICE_NAME),
        depends_on=("apiserver",),
        address=address,
    )
    try:
        with supervisor.lock():
            supervisor.start(spec)
    except SupervisorError as err:
        raise LabError(f"{component} did not start: {err}") from None
    if show:
        print(
            f"{component} running on {address}: profile {name!r} with "
            + ", ".join(f"{p} (weight {w})" for p, w in plugins.items())
        )
    return component


def pod_events(lab: Any, pod: str, *, namespace: str = "default") -> Table:
    """The Events about one pod, oldest first: type, reason, from, count, message.

    Only those about the pod that has this name now (its uid): Events outlive their pod, and a
    notebook run twice would otherwise show the first run's Scheduled and FailedScheduling too.
    """
    with lab.http() as client:
        current = client.get(f"/api/v1/namespaces/{namespace}/pods/{pod}")
        response = client.get(
            f"/api/v1/namespaces/{namespace}/events", params={"fieldSelector": f"involvedObject.name={pod}"}
        )
    response.raise_for_status()
    items = response.json().get("items") or []
    if current.status_code == 200:
        uid = current.json()["metadata"]["uid"]
        items = [e for e in items if (e.get("involvedObject") or {}).get("uid") == uid]
    items.sort(key=lambda e: (e.get("lastTimestamp") or e.get("eventTime") or "", e["metadata"]["name"]))
    return Table(
        (
            {
                "type": e.get("type"),
                "reason": e.get("reason"),
                "from": (e.get("source") or {}).get("component") or e.get("reportingComponent"),
                "count": e.get("count"),
                "message": e.get("message"),
            }
            for e in items
        ),
        title=f"events of pod {namespace}/{pod}",
        columns=("type", "reason", "from", "count", "message"),
    )


def node_of(lab: Any, pod: str, *, namespace: str = "default") -> str | None:
    """The node a pod is bound to (spec.nodeName), or None while it is pending (or absent)."""
    with lab.http() as client:
        response = client.get(f"/api/v1/namespaces/{namespace}/pods/{pod}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return (response.json().get("spec") or {}).get("nodeName") or None
