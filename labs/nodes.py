"""Extra nodes of chosen sizes: one node agent process each, supervised like the lab's own.

`lab.add_nodes(n)` adds node-N+1... with the host's capacity; the scheduler lesson needs nodes
that *differ* — a small one, a large one, one with a taint, one in the fast zone — and the node
agent lesson needs one with a short CrashLoopBackOff. `add_node` starts

    python -m orchestrator.nodeagent --name large --cpu 4 --memory 8Gi --labels zone=fast ...

(the same command as `labctl node-agent ...`) through the lab's supervisor, so `labctl status`
lists it, the watchdog restarts it if it crashes and `lab.stop()` stops it with the rest, then
waits until its Node reports Ready. Names must not start with ``node-`` (those belong to `up`).

Identity: the lab issues per-node tokens only for node-1..N, so an extra node runs with the
admin kubeconfig. A real cluster would give it its own ``system:node:<name>`` identity (notebook
02 shows why: a node token may touch only its own Node, Lease and pods).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labs.errors import LabError
from labs.waiting import wait_for
from orchestrator.lab.components import NodeAgent
from orchestrator.lab.embedded.ports import LOOPBACK, free_port
from orchestrator.lab.supervisor import ComponentSpec, SupervisorError

READY_TIMEOUT = 60.0


def node_agent_argv(
    lab: Any,
    name: str,
    *,
    runtime: str,
    log_port: int,
    cpu: str | None = None,
    memory: str | None = None,
    pods: int = 110,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[str] = (),
    crashloop_base: float | None = None,
    crashloop_max: float | None = None,
) -> list[str]:
    """The command line of one extra node agent (what `labctl node-agent` would be given)."""
    return NodeAgent(kubeconfig=lab.kubeconfig, name=name, runtime=runtime, log_port=log_port, log_bind=LOOPBACK,
                     apiserver_token_file=lab.home.kubelet_client_token, pods=pods, cpu=cpu, memory=memory,
                     labels=labels, taints=tuple(taints), crashloop_base=crashloop_base,
                     crashloop_max=crashloop_max, **NodeAgent.tls_for(lab.home, name)).argv()


def add_node(
    lab: Any,
    name: str,
    *,
    cpu: str | None = None,
    memory: str | None = None,
    pods: int = 110,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[str] = (),
    runtime: str | None = None,
    crashloop_base: float | None = None,
    crashloop_max: float | None = None,
    show: bool = True,
) -> dict[str, Any]:
    """Start a node agent for node ``name`` and wait until its Node is Ready; return the Node.

    ``cpu``/``memory``: its capacity ("4", "8Gi"; default: the host's). ``taints``: "key=value:Effect"
    strings. ``runtime``: "docker" or "simulated" (default: the lab's). ``crashloop_base``/``_max``:
    this node's CrashLoopBackOff delays (kubelet's are 10 s and 300 s). Starting a node that already
    runs changes nothing.
    """
    if name.startswith("node-"):
        raise LabError(
            f"node name {name!r}: names node-<N> belong to labs.start()/lab.add_nodes; choose another"
        )
    runtime = runtime or lab.runtime
    if runtime not in ("docker", "simulated"):
        raise LabError(f"runtime must be 'docker' or 'simulated', not {runtime!r}")
    supervisor = lab.supervisor
    existing = supervisor.record(name)
    log_port = existing.port if existing is not None and existing.port else free_port()
    spec = ComponentSpec(
        name=name,
        argv=node_agent_argv(
            lab,
            name,
            runtime=runtime,
            log_port=log_port,
            cpu=cpu,
            memory=memory,
            pods=pods,
            labels=labels,
            taints=taints,
            crashloop_base=crashloop_base,
            crashloop_max=crashloop_max,
        ),
        health=f"https://{LOOPBACK}:{log_port}/healthz",
        depends_on=("apiserver",),
        address=f"{LOOPBACK}:{log_port}",
    )
    try:
        with supervisor.lock():
            supervisor.start(spec)
    except SupervisorError as err:
        raise LabError(f"node {name} did not start: {err}") from None
    node = wait_for(lambda: _ready_node(lab, name), timeout=READY_TIMEOUT, what=f"node {name} to be Ready")
    if show:
        allocatable = node.get("status", {}).get("allocatable", {})
        extras = []
        if labels:
            extras.append("labels " + ",".join(f"{k}={v}" for k, v in labels.items()))
        if taints:
            extras.append("taints " + ",".join(taints))
        print(
            f"node {name} Ready: cpu {allocatable.get('cpu')}, memory {allocatable.get('memory')}, "
            f"{runtime} runtime" + "".join(f", {e}" for e in extras)
        )
    return node


def remove_nodes(lab: Any, *names: str) -> None:
    """Stop these nodes' agents (they stay stopped) and delete their Node objects.

    Delete the nodes' pods first, while the agents run: a pod on a node without an agent stays
    Terminating, because only its node agent confirms that its containers are gone.
    """
    for name in names:
        try:
            lab.supervisor.stop_component(name)
        except SupervisorError as err:
            raise LabError(str(err)) from None
    with lab.http() as client:
        for name in names:
            response = client.delete(f"/api/v1/nodes/{name}")
            if response.status_code not in (200, 202, 404):
                raise LabError(f"deleting node {name}: {response.status_code} {response.text}")
    print(f"removed node(s) {', '.join(names)}")


def _ready_node(lab: Any, name: str) -> dict[str, Any] | None:
    with lab.http() as client:
        response = client.get(f"/api/v1/nodes/{name}")
    if response.status_code != 200:
        return None
    node: dict[str, Any] = response.json()
    for condition in node.get("status", {}).get("conditions") or ():
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return node
    return None


def delete_nodes_without_agent(lab: Any) -> list[str]:
    """Delete the Node objects whose agent this lab does not run (left by an earlier lesson); return their names.

    A Node object outlives its agent: it stays registered, NotReady, until someone deletes it.
    """
    running = {r.name for r in lab.supervisor.records() if lab.supervisor.alive(r)}
    with lab.http() as client:
        response = client.get("/api/v1/nodes")
        response.raise_for_status()
        stale = [
            n["metadata"]["name"]
            for n in response.json().get("items") or []
            if n["metadata"]["name"] not in running
        ]
        for name in stale:
            client.delete(f"/api/v1/nodes/{name}")
    print(
        f"deleted {len(stale)} node(s) without an agent: {', '.join(stale)}"
        if stale
        else "no node objects without an agent"
    )
    return stale
