"""``labctl demo``: the seed's data flow on a live lab, narrated.

It starts the lab (embedded PostgreSQL and Redis, the API server, the relay, the scheduler, the
controller manager and a node agent), creates pods through the API, and follows one of them as
the scheduler binds it to the node and the node agent starts its container and reports it
Running — and after each step shows what the etcd simulation holds for that pod: the
PostgreSQL row (its revision = resourceVersion), the outbox events, and the Redis stream
entries whose ids are those revisions, as a watcher received them. Then it cleans up and stops
the lab, unless ``--keep``.

The demo reads PostgreSQL and Redis directly, read-only, to show them; components never do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
import redis.asyncio as aioredis
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from orchestrator.api.errors import ApiError
from orchestrator.cli import render
from orchestrator.cli.down import down as lab_down
from orchestrator.cli.errors import cli_errors, err
from orchestrator.cli.up import up as lab_up
from orchestrator.client.rest import ApiClient
from orchestrator.embedded.postgres import database_url as embedded_database_url
from orchestrator.embedded.redis import redis_url as embedded_redis_url
from orchestrator.labhome import LabSettings

NAMESPACE = "default"
POD_NAMES = ("demo-1", "demo-2", "demo-3")


@dataclass
class Watcher:
    """Collects the watch events a client receives, as a component would."""

    client: ApiClient
    resource_version: str
    events: list[tuple[str, str, str]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async for event_type, obj in self.client.watch("pods", namespace=NAMESPACE,
                                                       resource_version=self.resource_version, timeout_seconds=120):
            meta = obj.get("metadata") or {}
            self.events.append((event_type, meta.get("name", ""), meta.get("resourceVersion", "")))


async def _wait_for(client: ApiClient, name: str, ready: Any, *, what: str, timeout: float = 60) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        pod = await client.get("pods", name, namespace=NAMESPACE)
        if ready(pod):
            return pod
        if loop.time() > deadline:
            raise RuntimeError(f"waited {timeout:.0f}s for {what}; pod/{name} is {pod.get('status')}")
        await asyncio.sleep(0.2)


def _pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "demo"}},
            "spec": {"terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"]}]}}


async def _inspect(console: Console, *, step: str, database_url: str, redis_url: str, name: str) -> None:
    conn = await asyncpg.connect(database_url)
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        row = await conn.fetchrow("SELECT revision, data->'metadata'->>'resourceVersion' AS rv, "
                                  "data->'spec'->>'nodeName' AS node, data->'status'->>'phase' AS phase "
                                  "FROM objects WHERE resource='pods' AND namespace=$1 AND name=$2", NAMESPACE, name)
        events = await conn.fetch("SELECT revision, type FROM events WHERE resource='pods' AND namespace=$1 "
                                  "AND name=$2 ORDER BY revision", NAMESPACE, name)
        for _ in range(50):  # the relay publishes within milliseconds; wait for it to catch up
            entries = [e for e in await redis.xrange("labkit:stream:pods") if e[1].get("name") == name]
            if len(entries) >= len(events):
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
        await redis.aclose()
    table = Table(title=f"{step}: pod {name}", title_justify="left", expand=False)
    table.add_column("PostgreSQL objects row")
    table.add_column("PostgreSQL events (outbox)")
    table.add_column("Redis stream labkit:stream:pods")
    pg_row = (f"revision {row['revision']}\nresourceVersion \"{row['rv']}\"\nnodeName {row['node'] or '-'}\n"
              f"phase {row['phase']}") if row else "(no row)"
    table.add_row(pg_row, "\n".join(f"{e['revision']} {e['type']}" for e in events),
                  "\n".join(f"{eid} {fields.get('type')}" for eid, fields in entries))
    console.print(table)


async def run_demo(settings: LabSettings, *, console: Console) -> None:
    """The demo proper, on a lab that is up."""
    client = ApiClient.from_kubeconfig(settings.home.kubeconfig)
    ports = json.loads(settings.home.state_file.read_text())["lab"]["ports"]
    database_url = settings.database_url or embedded_database_url(ports["postgres"])
    redis_url = settings.redis_url or embedded_redis_url(ports["redis"])
    try:
        for name in POD_NAMES:  # a previous demo run that was interrupted
            with contextlib.suppress(Exception):
                await client.delete("pods", name, namespace=NAMESPACE, grace_period_seconds=0)
        listed = await client.list("pods", namespace=NAMESPACE)
        watcher = Watcher(client, listed["metadata"]["resourceVersion"])
        watcher.task = asyncio.create_task(watcher.run(), name="demo-watcher")

        console.rule("1-4  a user creates pods: API server → PostgreSQL row + outbox event → Redis stream")
        for name in POD_NAMES:
            created = await client.create("pods", _pod(name), namespace=NAMESPACE)
            console.print(f"created pod/{name}  resourceVersion={created['metadata']['resourceVersion']}  phase=Pending")
        await _inspect(console, step="after create", database_url=database_url, redis_url=redis_url, name=POD_NAMES[0])

        console.rule("5-7  the scheduler binds the pod to a node: POST pods/demo-1/binding")
        bound = await _wait_for(client, POD_NAMES[0], lambda p: bool((p.get("spec") or {}).get("nodeName")),
                                what="the scheduler to bind it")
        console.print(f"pod/{POD_NAMES[0]} bound to {bound['spec']['nodeName']}")
        await _inspect(console, step="after binding", database_url=database_url, redis_url=redis_url, name=POD_NAMES[0])

        console.rule("8-10  the node agent starts the container and reports Running: PATCH pods/demo-1/status")
        running = await _wait_for(client, POD_NAMES[0], lambda p: (p.get("status") or {}).get("phase") == "Running",
                                  what="the node agent to report it Running", timeout=90)
        statuses = (running.get("status") or {}).get("containerStatuses") or [{}]
        console.print(f"pod/{POD_NAMES[0]} Running, container {statuses[0].get('containerID', '?')}")
        await _inspect(console, step="after status update", database_url=database_url, redis_url=redis_url,
                       name=POD_NAMES[0])

        for name in POD_NAMES:
            await client.delete("pods", name, namespace=NAMESPACE, grace_period_seconds=0)
        await asyncio.sleep(0.3)
        watcher.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher.task
        table = Table(title="what a watcher (any component) received, in order", title_justify="left")
        for col in ("TYPE", "POD", "RESOURCEVERSION = STREAM ID"):
            table.add_column(col)
        for event_type, name, rv in watcher.events:
            table.add_row(event_type, name, f"{rv}  ({rv}-0)")
        console.print(table)
        revisions = [int(rv) for _, _, rv in watcher.events]
        if revisions != sorted(set(revisions)) or len(watcher.events) < len(POD_NAMES) * 2:
            raise RuntimeError(f"the watcher saw an unexpected history: {watcher.events}")
        console.print(Panel.fit("Every change got the next revision; the watcher saw each one exactly once, in order.",
                                style="green"))
    finally:
        await client.close()


def register(app: typer.Typer) -> None:
    """Add `labctl demo` to labctl."""
    app.command()(demo)


def demo(
    keep: Annotated[bool, typer.Option(help="Leave the lab running afterwards.")] = False,
) -> None:
    """Start a lab and show the seed's data flow live: rows, outbox, stream entries, watch events."""
    out = Console(highlight=False)
    settings = LabSettings.from_env()
    out.print(f"lab home [bold]{settings.home.root}[/bold]")
    progress = render.RichProgress(out)
    failed = False
    with cli_errors():
        try:
            lab_up(settings, nodes=1, runtime="auto", port=None, extra_sans=(), progress=progress)
        finally:
            progress.close()
        try:
            asyncio.run(run_demo(settings, console=out))
        except (ApiError, RuntimeError, OSError) as e:
            render.error(err, f"demo failed: {e}")
            failed = True
        finally:
            if not keep:
                lab_down(settings, on_stop=lambda name: None)
                out.print("lab stopped (use --keep to leave it running)")
    if failed:
        raise typer.Exit(1)
