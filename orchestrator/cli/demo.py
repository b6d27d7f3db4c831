"""``labctl demo``: the seed's data flow on a live lab, narrated.

It starts a whole lab (embedded PostgreSQL and Redis, the API server, the relay, the scheduler,
the controller manager and two node agents — Docker when an engine answers, else simulated),
applies a 3-replica Deployment and shows, live, what the design card's data flow does to its pods
(steps numbered as in docs/architecture.md, "A pod's life, step by step"):

    1      a user POSTs the desired state (here a Deployment; the controller manager's
           ReplicaSet controller turns it into pods, each one a POST /pods of its own)
    2-4    the API server INSERTs each pod in PostgreSQL (Pending) and its event reaches the
           Redis stream as ADDED — stream entry id = revision = resourceVersion
    5-7    the scheduler, watching, binds the pod to a node: the row is UPDATEd (nodeName), MODIFIED
    8-10   that node's agent, watching, starts the container and reports Running: MODIFIED
    loop   reconciliation: a deleted pod is replaced by the ReplicaSet controller; deleting the
           Deployment cascades (garbage collector) to its ReplicaSet and pods

For one pod it shows, at each step, the PostgreSQL row as of that step's revision, the outbox
(revision log) rows and the Redis stream entries up to it. The pods table is a `rich.live.Live`
display in a terminal; when stdout is a file or a pipe (CI logs, tests), where `Live` would print
only its last frame, each change is printed as one plain line instead.

The demo reads PostgreSQL and Redis directly, read-only, to show them; components never do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Annotated, Any, TypeVar

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions
import typer
from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from orchestrator.api.errors import ApiError, NotFound
from orchestrator.cli import render
from orchestrator.cli.errors import cli_errors, err
from orchestrator.client.rest import ApiClient
from orchestrator.lab.down import down as lab_down
from orchestrator.lab.embedded.postgres import database_url as embedded_database_url
from orchestrator.lab.embedded.redis import redis_url as embedded_redis_url
from orchestrator.lab.home import LabSettings
from orchestrator.lab.supervisor import Supervisor
from orchestrator.lab.up import RUNTIMES, Runtime, resolve_runtime
from orchestrator.lab.up import up as lab_up
from orchestrator.storage.streams import entry_id, stream_key

T = TypeVar("T")

NAMESPACE = "default"
DEPLOYMENT = "demo"
SELECTOR = "app=demo"
REPLICAS = 3
IMAGE = "busybox"
# Generous: the machine may be busy, and a first Docker run may have to pull the image.
STEP_TIMEOUT = 120.0
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff")
MAX_NODES = 20


class DemoError(Exception):
    """A step of the demo did not happen; the message says which and what was seen instead."""


SERVICE = "demo"
CLIENT_POD = "demo-client"
# With --service the pods serve their own name over HTTP (busybox httpd), so a reply says which pod answered.
SERVE_HOSTNAME = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"


def deployment_manifest(replicas: int = REPLICAS, *, serve: bool = False) -> dict[str, Any]:
    command = ["sh", "-c", SERVE_HOSTNAME] if serve else ["sleep", "3600"]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "labels": {"app": "demo"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {
                "metadata": {"labels": {"app": "demo"}},
                "spec": {"terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                                         "command": command}]},
            },
        },
    }  # fmt: skip


def service_manifest() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE},
            "spec": {"selector": {"app": "demo"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def client_pod_manifest() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": CLIENT_POD, "labels": {"app": "demo-client"}},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"]}]}}


def pod_status(obj: dict[str, Any]) -> str:
    """kubectl's STATUS column: Terminating, a container's waiting reason, or the phase."""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase == "Pending":
        for container in status.get("containerStatuses") or []:
            reason = ((container.get("state") or {}).get("waiting") or {}).get("reason")
            if reason:
                return str(reason)
    return str(phase)


@dataclass(frozen=True)
class Change:
    """One watch event, as the demo shows it."""

    type: str
    name: str
    revision: int
    status: str
    node: str
    what: str  # what changed, in words: "bound to node-2 (scheduler)"
    container: str = ""  # the first container's id as the node agent reports it: docker://<id>, ...


@dataclass
class PodRow:
    name: str
    status: str
    node: str
    resource_version: str
    last: str
    gone: bool = False


@dataclass
class PodBoard:
    """The demo's pods as a watch reports them: one row per pod, and every event in order."""

    rows: dict[str, PodRow] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    watch_error: BaseException | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def apply(self, event_type: str, obj: dict[str, Any]) -> Change:
        meta = obj.get("metadata") or {}
        name, rv = str(meta.get("name", "")), str(meta.get("resourceVersion", "0"))
        node = str((obj.get("spec") or {}).get("nodeName") or "")
        status = "Deleted" if event_type == "DELETED" else pod_status(obj)
        before = self.rows.get(name)
        if event_type == "ADDED":
            what = "created (ReplicaSet controller)"
        elif event_type == "DELETED":
            what = "removed from storage"
        elif before is not None and node and not before.node:
            what = f"bound to {node} (scheduler)"
        elif before is not None and status != before.status:
            who = "deletion requested" if status == "Terminating" else "node agent"
            what = f"{before.status} → {status} ({who})"
        else:
            what = "status details (node agent)"
        self.rows[name] = PodRow(name, status, node, rv, what, gone=event_type == "DELETED")
        statuses = (obj.get("status") or {}).get("containerStatuses") or [{}]
        change = Change(event_type, name, int(rv), status, node, what, str(statuses[0].get("containerID") or ""))
        self.changes.append(change)
        self._changed.set()
        return change

    def failed(self, error: BaseException) -> None:
        self.watch_error = error
        self._changed.set()

    def history(self, name: str) -> list[Change]:
        return [c for c in self.changes if c.name == name]

    def first(self, name: str, matches: Callable[[Change], bool]) -> Change | None:
        return next((c for c in self.history(name) if matches(c)), None)

    def live(self) -> list[PodRow]:
        return [row for row in self.rows.values() if not row.gone]

    def table(self) -> Table:
        table = Table(title=f"pods of deployment/{DEPLOYMENT}, as the watch reports them", title_justify="left")
        for column in ("NAME", "STATUS", "NODE", "RESOURCEVERSION", "LAST CHANGE"):
            table.add_column(column)
        styles = {"Running": "green", "Terminating": "yellow", "Deleted": "dim"}
        for row in self.rows.values():
            style = styles.get(row.status, "red" if row.status in PULL_FAILURES else "cyan")
            table.add_row(row.name, Text(row.status, style=style), row.node or "<none>", row.resource_version,
                          row.last, style="dim" if row.gone else None)
        return table

    async def until(self, what: str, check: Callable[[], T | None], *, timeout: float = STEP_TIMEOUT) -> T:
        """Wait (woken by each watch event) until `check` returns something truthy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = check()
            if value:
                return value
            for row in self.live():
                if row.status in PULL_FAILURES:
                    raise DemoError(f"pod/{row.name} is {row.status}: the node cannot get image {IMAGE!r} "
                                    "(no registry here?); try `labctl demo --runtime simulated`")
            if self.watch_error is not None:
                raise DemoError(f"the watch on pods ended: {self.watch_error}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = ", ".join(f"{r.name} {r.status} on {r.node or '<none>'}" for r in self.live()) or "no pods"
                raise DemoError(f"waited {timeout:.0f}s for {what}; pods: {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))


class Display:
    """The pods table: live in a terminal; one printed line per change otherwise (files, pipes)."""

    def __init__(self, console: Console, board: PodBoard) -> None:
        self.console = console
        self.board = board
        # auto_refresh off: the board changes in the event loop, so render it from there too
        # (a refresh thread could see a row half-added).
        self.live = Live(console=console, auto_refresh=False, transient=False) if console.is_terminal else None

    def __enter__(self) -> Display:
        if self.live is not None:
            self.live.update(self.board.table())
            self.live.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.live is not None:
            self.live.update(self.board.table(), refresh=True)
            self.live.stop()

    def changed(self, change: Change) -> None:
        if self.live is not None:
            self.live.update(self.board.table(), refresh=True)
            return
        line = Text(f"  {change.type:<9}", style="bold")
        line.append(f"pod/{change.name:<24} rv {change.revision:<6} {change.status:<18} "
                    f"{change.node or '<none>':<8} {change.what}")
        self.console.print(line, soft_wrap=True)

    def snapshot(self) -> None:
        """The table as it is now; in a terminal it is on screen already."""
        if self.live is None:
            self.console.print(self.board.table())


async def _follow(client: ApiClient, board: PodBoard, display: Display, resource_version: str) -> None:
    """Watch the demo's pods from `resource_version`, as every component does, into the board."""
    rv = resource_version
    try:
        while True:  # a watch ends after its timeout; go on from the last revision seen
            async for event_type, obj in client.watch("pods", namespace=NAMESPACE, label_selector=SELECTOR,
                                                      resource_version=rv, timeout_seconds=300):
                if event_type not in ("ADDED", "MODIFIED", "DELETED"):
                    continue
                display.changed(board.apply(event_type, obj))
                rv = str((obj.get("metadata") or {}).get("resourceVersion", rv))
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 — handed to the step waiting for the board, which reports it
        board.failed(e)


@dataclass(frozen=True)
class Storage:
    """Where the demo looks, read-only, to show the etcd simulation."""

    database_url: str
    redis_url: str


async def _inspect(console: Console, storage: Storage, *, step: str, name: str, revision: int) -> None:
    """The pod as PostgreSQL and Redis held it at `revision`: row, outbox rows, stream entries."""
    conn = await asyncpg.connect(storage.database_url)
    redis = aioredis.Redis.from_url(storage.redis_url, decode_responses=True)
    try:
        now = await conn.fetchval("SELECT revision FROM objects WHERE resource='pods' AND namespace=$1 AND name=$2",
                                  NAMESPACE, name)
        events = await conn.fetch(
            "SELECT revision, type, object->'metadata'->>'resourceVersion' AS rv, object->'spec'->>'nodeName' AS node, "
            "object->'status'->>'phase' AS phase FROM events "
            "WHERE resource='pods' AND namespace=$1 AND name=$2 AND revision <= $3 ORDER BY revision",
            NAMESPACE, name, revision)
        entries: list[tuple[str, dict[str, str]]] = []
        for _ in range(50):  # the relay publishes within milliseconds; wait for it to catch up
            # decode_responses=True: ids and fields are str (redis-py's annotations cover bytes too)
            stream: list[tuple[str, dict[str, str]]] = await redis.xrange(  # type: ignore[assignment]
                stream_key("pods"), max=entry_id(revision))
            entries = [e for e in stream if e[1].get("name") == name and e[1].get("namespace") == NAMESPACE]
            if len(entries) >= len(events):
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
        await redis.aclose()
    table = Table(title=f"{step}: pod {name} at revision {revision}", title_justify="left", expand=False)
    table.add_column("PostgreSQL objects row")
    table.add_column("PostgreSQL events (outbox, the revision log)")
    table.add_column(f"Redis stream {stream_key('pods')}")
    at = events[-1] if events else None
    if at is None:
        pg_row = "(no row)"
    elif at["type"] == "DELETED":
        pg_row = f"(no row: deleted at revision {at['revision']})"
    else:
        pg_row = (f"revision {at['revision']}\nresourceVersion \"{at['rv']}\"\nnodeName {at['node'] or '-'}\n"
                  f"phase {at['phase']}")
        if now is not None and now != at["revision"]:
            pg_row += f"\n(the row is at revision {now} now)"
        elif now is None:
            pg_row += "\n(the row is gone since)"
    table.add_row(pg_row, "\n".join(f"{e['revision']} {e['type']}" for e in events),
                  "\n".join(f"{eid} {fields.get('type')}" for eid, fields in entries))
    console.print(table)


async def _revision_log(storage: Storage, names: list[str], *, after: int, upto: int) -> list[int]:
    """The revisions PostgreSQL committed for these pods in (after, upto]: what a watch must deliver."""
    conn = await asyncpg.connect(storage.database_url)
    try:
        rows = await conn.fetch("SELECT revision FROM events WHERE resource='pods' AND namespace=$1 "
                                "AND name = ANY($2::text[]) AND revision > $3 AND revision <= $4 ORDER BY revision",
                                NAMESPACE, names, after, upto)
    finally:
        await conn.close()
    return [int(r["revision"]) for r in rows]


async def _clear_earlier_run(client: ApiClient, console: Console) -> None:
    """An interrupted `demo --keep` may have left its Deployment; start from none."""
    leftovers = 0
    for resource in ("deployments", "replicasets", "pods"):
        for item in (await client.list(resource, namespace=NAMESPACE, label_selector=SELECTOR))["items"]:
            with contextlib.suppress(NotFound):
                await client.delete(resource, item["metadata"]["name"], namespace=NAMESPACE,
                                    propagation_policy="Background", grace_period_seconds=0)
                leftovers += 1
    if not leftovers:
        return
    console.print(f"removed {leftovers} object(s) left by an earlier demo")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT
    while (await client.list("pods", namespace=NAMESPACE, label_selector=SELECTOR))["items"]:
        if loop.time() > deadline:
            raise DemoError(f"pods labelled {SELECTOR} from an earlier demo are still there after "
                            f"{STEP_TIMEOUT:.0f}s; `labctl down` and try again")
        await asyncio.sleep(0.5)


async def run_demo(settings: LabSettings, *, console: Console, runtime: str, replicas: int = REPLICAS,
                   service: bool = False) -> None:
    """The demo proper, on a lab that is up: one Deployment, followed from POST to cascade delete."""
    client = ApiClient.from_kubeconfig(settings.home.kubeconfig)
    ports = json.loads(settings.home.state_file.read_text())["lab"]["ports"]
    storage = Storage(settings.database_url or embedded_database_url(ports["postgres"]),
                      settings.redis_url or embedded_redis_url(ports["redis"]))
    board = PodBoard()
    try:
        await _clear_earlier_run(client, console)
        start_rv = (await client.list("pods", namespace=NAMESPACE, label_selector=SELECTOR))["metadata"]["resourceVersion"]
        with Display(console, board) as display:
            watch = asyncio.create_task(_follow(client, board, display, start_rv), name="demo-watch")
            try:
                followed = await _steps(client, console, board, display, storage, runtime=runtime, replicas=replicas,
                                        service=settings if service else None)
            finally:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)
        await _check_watch(console, board, storage, followed=followed, after=int(start_rv))
    finally:
        await client.close()


async def _steps(client: ApiClient, console: Console, board: PodBoard, display: Display, storage: Storage, *,
                 runtime: str, replicas: int, service: LabSettings | None = None) -> str:
    """Each step of the data flow; returns the name of the pod followed through storage."""
    say = console.print

    say("Step numbers are those of the data flow in docs/architecture.md.")
    console.rule("1  you POST the desired state: a Deployment of 3 pods")
    created = await client.create("deployments", deployment_manifest(replicas, serve=service is not None),
                                  namespace=NAMESPACE)
    say(f"deployment.apps/{DEPLOYMENT} created, resourceVersion {created['metadata']['resourceVersion']}. "
        "The controller manager sees it through its watch and creates a ReplicaSet; the ReplicaSet "
        f"controller sees {replicas} wanted, 0 there, and POSTs {replicas} pods.", soft_wrap=True)

    console.rule("2-4  API server: INSERT pod (Pending) into PostgreSQL → outbox → Redis stream entry ADDED")
    await board.until(f"the ReplicaSet controller to create {replicas} pods",
                      lambda: len([c for c in board.changes if c.type == "ADDED"]) >= replicas)
    first = next(c for c in board.changes if c.type == "ADDED")
    say(f"following pod/{first.name}: its resourceVersion is the revision of its last write, "
        f"and the stream entry id of that write is <revision>-0")
    await _inspect(console, storage, step="2-4 after create", name=first.name, revision=first.revision)

    console.rule("5-7  scheduler: watch → pick a node → POST pods/<name>/binding → UPDATE nodeName → MODIFIED")
    await board.until("the scheduler to bind every pod",
                      lambda: len(board.live()) >= replicas and all(r.node for r in board.live()))
    bound = board.first(first.name, lambda c: bool(c.node))
    assert bound is not None  # the board saw it bound just now
    spread = ", ".join(f"{node}: {n}" for node, n in sorted(_count_by_node(board).items()))
    say(f"pod/{first.name} bound to {bound.node} at revision {bound.revision}  (pods per node: {spread})")
    await _inspect(console, storage, step="5-7 after binding", name=first.name, revision=bound.revision)

    console.rule(f"8-10  node agent: watch → start the container ({runtime}) → PATCH status Running → MODIFIED")
    await board.until("the node agents to report every pod Running",
                      lambda: len(board.live()) >= replicas and all(r.status == "Running" for r in board.live()))
    running = board.first(first.name, lambda c: c.status == "Running")
    assert running is not None
    say(f"pod/{first.name} Running on {running.node} at revision {running.revision}, "
        f"container {running.container[:24] or '?'}")
    await _inspect(console, storage, step="8-10 after status update", name=first.name, revision=running.revision)
    display.snapshot()

    console.rule("reconcile  delete one pod: the ReplicaSet controller counts 2 of 3 and creates a replacement")
    known = set(board.rows)
    await client.delete("pods", first.name, namespace=NAMESPACE)
    say(f"DELETE pod/{first.name}: graceful — Terminating, its node agent stops the container, then the row goes")
    replacement = await board.until(
        "the ReplicaSet controller to create a replacement pod",
        lambda: next((c for c in board.changes if c.type == "ADDED" and c.name not in known), None))
    say(f"replacement pod/{replacement.name} created (Pending) — a new name, the same template")
    await board.until(f"the replacement pod/{replacement.name} to be bound and Running",
                      lambda: board.rows[replacement.name].status == "Running")
    await board.until(f"pod/{first.name} to be removed", lambda: board.rows[first.name].gone)
    gone = board.history(first.name)[-1]
    say(f"pod/{first.name} deleted at revision {gone.revision}; pod/{replacement.name} Running on "
        f"{board.rows[replacement.name].node}")
    await _inspect(console, storage, step="after delete", name=first.name, revision=gone.revision)
    display.snapshot()

    if service is not None:
        await _service_step(client, console, service, runtime=runtime, replicas=replicas)

    console.rule("cascade  DELETE the Deployment: the garbage collector deletes its ReplicaSet, then the pods")
    await client.delete("deployments", DEPLOYMENT, namespace=NAMESPACE, propagation_policy="Background")
    await board.until("the garbage collector to delete every pod of the Deployment", lambda: not board.live())

    async def replicasets_left() -> list[Any]:
        return list((await client.list("replicasets", namespace=NAMESPACE, label_selector=SELECTOR))["items"])

    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT
    while await replicasets_left():
        if loop.time() > deadline:
            raise DemoError(f"the ReplicaSet of deployment/{DEPLOYMENT} is still there after {STEP_TIMEOUT:.0f}s")
        await asyncio.sleep(0.3)
    say(f"deployment/{DEPLOYMENT}, its ReplicaSet and all {len(board.rows)} pods are gone")
    return first.name


async def _service_step(client: ApiClient, console: Console, settings: LabSettings, *, runtime: str,
                        replicas: int) -> None:
    """--service: a ClusterIP Service in front of the pods, its EndpointSlice, the proxy's NAT rules
    and (on Docker) requests from another pod spread over the backends (docs/networking.md)."""
    from orchestrator.client.streams import StreamTarget, exec_command
    from orchestrator.proxy.rules import rules_of_service

    say = console.print
    loop = asyncio.get_running_loop()

    async def until(what: str, check: Callable[[], Awaitable[T | None]]) -> T:
        deadline = loop.time() + STEP_TIMEOUT
        while (found := await check()) is None:
            if loop.time() > deadline:
                raise DemoError(f"waited {STEP_TIMEOUT:.0f}s for {what}")
            await asyncio.sleep(0.3)
        return found

    console.rule("service  a ClusterIP in front of the pods: EndpointSlice, the proxy's NAT rules, a request")
    svc = await client.create("services", service_manifest(), namespace=NAMESPACE)
    ip = svc["spec"]["clusterIP"]
    say(f"service/{SERVICE} created: ClusterIP {ip}, port 80 → the pods' 8080. The address was claimed in "
        "PostgreSQL's allocations table in the same transaction as the Service row.", soft_wrap=True)

    async def ready_endpoints() -> list[dict[str, Any]] | None:
        slices = await client.list("endpointslices", namespace=NAMESPACE,
                                   label_selector=f"kubernetes.io/service-name={SERVICE}")
        found = [e for sl in slices["items"] for e in sl.get("endpoints") or []
                 if (e.get("conditions") or {}).get("ready")]
        return found if len(found) >= replicas else None

    endpoints = await until("the EndpointSlice controller to list every ready pod", ready_endpoints)
    table = Table(title=f"EndpointSlice of service/{SERVICE} (the endpointslice controller keeps it in step with "
                        "ready pods)", title_justify="left")
    for column in ("ADDRESS", "POD", "NODE", "READY"):
        table.add_column(column)
    for e in endpoints:
        table.add_row(", ".join(e.get("addresses") or []), (e.get("targetRef") or {}).get("name", ""),
                      e.get("nodeName", ""), "true")
    console.print(table)

    path = settings.home.proxy_rules_file

    async def rules() -> list[str] | None:
        text = path.read_text() if path.exists() else ""
        found = rules_of_service(text, f"{NAMESPACE}/{SERVICE}")
        return found if len([r for r in found if "DNAT" in r]) >= replicas else None

    lines = await until("the proxy to write the Service's rules", rules)
    dry = "DRY RUN" in path.read_text().split("\n", 1)[0]
    say(f"the proxy's NAT rules for service/{SERVICE} ({'a dry run: computed, not applied' if dry else 'applied with iptables-restore'}; "
        f"all of them in {path}):", soft_wrap=True)
    for line in lines:
        console.print(f"  {line}", markup=False, soft_wrap=True)
    if runtime != "docker":
        say("simulated runtime: no container can send a packet, so the request is left out "
            "(`labctl demo --runtime docker --service` makes it).")
    else:
        await client.create("pods", client_pod_manifest(), namespace=NAMESPACE)

        async def client_running() -> bool | None:
            pod = await client.get("pods", CLIENT_POD, namespace=NAMESPACE)
            return True if (pod.get("status") or {}).get("phase") == "Running" else None

        await until(f"pod/{CLIENT_POD} to run", client_running)
        target = StreamTarget.from_kubeconfig(settings.home.kubeconfig)
        answers: list[str] = []
        for _ in range(3 * replicas):
            out: list[bytes] = []
            # busybox's wget -T crashes; `timeout` bounds a request that finds no backend.
            code = await exec_command(target, namespace=NAMESPACE, pod=CLIENT_POD,
                                      command=["timeout", "5", "wget", "-qO-", f"http://{ip}/"],
                                      stdout=out.append, stderr=lambda _: None)
            answers.append(b"".join(out).decode().strip() if code == 0 else f"(failed, exit {code})")
        counts = {name: answers.count(name) for name in sorted(set(answers))}
        say(f"{len(answers)} requests from pod/{CLIENT_POD} to http://{ip}/ were answered by: "
            + ", ".join(f"{name} ×{n}" for name, n in counts.items()), soft_wrap=True)
        if not any(name.startswith(f"{DEPLOYMENT}-") for name in counts):
            raise DemoError(f"no request to the ClusterIP {ip} reached a pod of the Deployment: {answers}")
        await client.delete("pods", CLIENT_POD, namespace=NAMESPACE)
    await client.delete("services", SERVICE, namespace=NAMESPACE)
    say(f"service/{SERVICE} deleted: its ClusterIP goes back to the pool, the proxy removes its chains")


def _count_by_node(board: PodBoard) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in board.live():
        counts[row.node] = counts.get(row.node, 0) + 1
    return counts


async def _check_watch(console: Console, board: PodBoard, storage: Storage, *, followed: str, after: int) -> None:
    """Compare what the watch delivered with PostgreSQL's revision log: the same revisions, once each, in order."""
    table = Table(title=f"what a watcher (any component) received for pod {followed}, in order", title_justify="left")
    for column in ("TYPE", "RESOURCEVERSION", "STREAM ID", "STATUS", "NODE"):
        table.add_column(column)
    for c in board.history(followed):
        table.add_row(c.type, str(c.revision), entry_id(c.revision), c.status, c.node or "<none>")
    console.print(table)
    delivered = [c.revision for c in board.changes]
    committed = await _revision_log(storage, sorted(board.rows), after=after, upto=max(delivered, default=after))
    if delivered != committed:
        raise DemoError(f"the watch delivered revisions {delivered}, PostgreSQL committed {committed}")
    console.print(Panel.fit(f"The watch delivered {len(delivered)} changes of {len(board.rows)} pods: exactly the "
                            "revisions PostgreSQL committed, each exactly once, in order.", style="green"))


def register(app: typer.Typer) -> None:
    """Add `labctl demo` to labctl."""
    app.command()(demo)


def demo(
    keep: Annotated[bool, typer.Option(help="Leave the lab running afterwards.")] = False,
    runtime: Annotated[
        str, typer.Option(help="Container runtime of the nodes: auto (Docker when an engine answers), docker or simulated.")
    ] = "auto",
    nodes: Annotated[int, typer.Option(help="Number of node agents (1 to 20).")] = 2,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="API server port (default 6443 if free).")
    ] = None,
    service: Annotated[bool, typer.Option(
        "--service", help="One more step: a Service in front of the pods, its EndpointSlice, the proxy's rules "
                          "and (on Docker) requests from another pod through the ClusterIP.")] = False,
) -> None:
    """Start a lab and show the seed's data flow live: a Deployment's pods from POST to Running, rows and stream entries."""
    if runtime not in RUNTIMES:
        render.error(err, f"unknown --runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
        raise typer.Exit(1)
    if not 1 <= nodes <= MAX_NODES:
        render.error(err, f"--nodes {nodes}: the demo needs 1 to {MAX_NODES} node agents")
        raise typer.Exit(1)
    out = Console(highlight=False)
    settings = LabSettings.from_env()
    resolved = _runtime(runtime)
    if resolved == "docker" and runtime == "docker" and resolve_runtime("auto") != "docker":
        render.error(err, "--runtime docker: no Docker engine answers (`docker info` fails); "
                          "start Docker or use --runtime simulated")
        raise typer.Exit(1)
    out.print(f"lab home [bold]{settings.home.root}[/bold]")
    # A lab that was already running (`labctl up` before) is the user's: the demo leaves it up.
    was_up = _lab_is_running(settings)
    if was_up:
        out.print(Panel.fit("The lab in this home is already running: the demo uses it as it is (its node agents "
                            "keep the runtime they were started with) and leaves it running.", style="yellow"))
    else:
        out.print(Panel.fit(_runtime_sentence(resolved, asked=runtime, nodes=nodes),
                            style="green" if resolved == "docker" else "yellow"))
    keep = keep or was_up
    progress = render.RichProgress(out)
    exit_code = 0
    with cli_errors():
        try:
            try:
                # Owned by this process unless kept: if the demo is killed, the lab's watchdog takes it down.
                lab_up(settings, nodes=nodes, runtime=resolved, port=port, extra_sans=(), progress=progress,
                       owner_pid=None if keep else os.getpid())
            finally:
                progress.close()
            asyncio.run(run_demo(settings, console=out, runtime=resolved, service=service))
        except (DemoError, ApiError, OSError, asyncpg.PostgresError, redis.exceptions.RedisError) as e:
            render.error(err, f"demo failed: {e}")
            exit_code = 1
        except KeyboardInterrupt:
            # Handled here, not by cli_errors: the lab is stopped just below, so there is nothing to tell.
            render.error(err, "interrupted")
            exit_code = 130
        finally:
            if not keep:
                lab_down(settings, on_stop=lambda name: None)
                out.print("lab stopped (use --keep to leave it running)")
            elif was_up:
                out.print("the lab was running before the demo, so it stays up (`labctl down` stops it)")
            else:
                out.print(f"lab left running (--keep): export KUBECONFIG={settings.home.kubeconfig}", soft_wrap=True)
    if exit_code:
        raise typer.Exit(exit_code)


def _lab_is_running(settings: LabSettings) -> bool:
    if not settings.home.state_file.exists():
        return False
    supervisor = Supervisor(settings.home)
    return any(not record.external and supervisor.is_running(record.name) for record in supervisor.records())


def _runtime(value: str) -> Runtime:
    for runtime in RUNTIMES:
        if runtime == value:
            return resolve_runtime(runtime)
    raise ValueError(value)


def _runtime_sentence(runtime: Runtime, *, asked: str, nodes: int) -> str:
    how = "asked for with --runtime" if asked != "auto" else (
        "a Docker engine answers" if runtime == "docker" else "no Docker engine answers")
    if runtime == "docker":
        return f"{nodes} node agents on Docker ({how}): each pod is a real container (image {IMAGE})."
    return (f"{nodes} node agents on the simulated runtime ({how}): containers are simulated, "
            "nothing really runs; everything else is the same.")
