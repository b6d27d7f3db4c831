"""Look inside the etcd simulation: PostgreSQL rows and Redis stream entries, read-only.

Components never do this (they only talk to the API server); a learner does, to see what the
API server and the relay wrote. Every connection here is read-only: PostgreSQL sessions run
with ``default_transaction_read_only = on``, and Redis is only asked XRANGE/XREVRANGE/XINFO/GET.

    inspect.tables(lab)                      table names and row counts
    inspect.revision(lab)                    the cluster's revision counter (etcd's "revision")
    inspect.rows(lab, "pods")                `objects` rows: the current state, one per object
    inspect.outbox(lab, resource="pods")     `events` rows: one per committed change (the outbox)
    inspect.stream(lab, "pods")              entries of the Redis stream labkit:stream:pods

Each returns a `labs.Table`, newest last, so a cell shows it and a checkpoint asserts on it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import asyncpg
import redis

from labs import aio
from labs.table import Table
from orchestrator.storage.streams import COMPACTED_KEY, PUBLISHED_KEY, stream_key

if TYPE_CHECKING:
    from labs.lab import Lab

TABLES = ("revision", "objects", "events", "labkit_schema")


async def _fetch(database_url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(
        database_url.replace("postgresql+asyncpg://", "postgresql://", 1),
        timeout=10,
        server_settings={"default_transaction_read_only": "on"},
    )
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def query(lab: Lab, sql: str, *args: Any, title: str = "") -> Table:
    """Run your own read-only SQL (``$1``-style parameters); writes are refused by PostgreSQL."""
    return Table(aio.run(_fetch(lab.database_url, sql, *args)), title=title or sql)


def tables(lab: Lab) -> Table:
    """The tables of the etcd simulation and how many rows each holds."""
    counts = aio.run(
        _fetch(
            lab.database_url,
            " UNION ALL ".join(f"SELECT '{t}' AS table, count(*) AS rows FROM {t}" for t in TABLES),
        )
    )
    return Table(counts, title="PostgreSQL tables")


def revision(lab: Lab) -> int:
    """The revision counter: the revision the last committed change got."""
    rows = aio.run(_fetch(lab.database_url, "SELECT value FROM revision"))
    return int(rows[0]["value"])


def compacted(lab: Lab) -> int:
    """The compaction revision in Redis: a watch from a resourceVersion at or below it gets 410 Gone."""
    with _redis(lab) as r:
        return int(r.get(COMPACTED_KEY) or 0)


def published(lab: Lab) -> int:
    """The newest revision the relay has published to the Redis streams."""
    with _redis(lab) as r:
        return int(r.get(PUBLISHED_KEY) or 0)


def rows(
    lab: Lab, resource: str, *, namespace: str | None = None, name: str | None = None, limit: int = 20
) -> Table:
    """The `objects` rows of a resource (the newest ``limit`` by revision, shown oldest first)."""
    found = aio.run(
        _fetch(
            lab.database_url,
            "SELECT resource, namespace, name, revision, created_revision, "
            "data->'metadata'->>'resourceVersion' AS rv, data FROM objects "
            "WHERE resource = $1 AND ($2::text IS NULL OR namespace = $2) AND ($3::text IS NULL OR name = $3) "
            "ORDER BY revision DESC LIMIT $4",
            resource,
            namespace,
            name,
            limit,
        )
    )
    return Table(
        (
            {
                "resource": r["resource"],
                "namespace": r["namespace"] or "-",
                "name": r["name"],
                "revision": r["revision"],
                "created_revision": r["created_revision"],
                "resourceVersion": r["rv"],
                "data": summary(json.loads(r["data"])),
            }
            for r in reversed(found)
        ),
        title=f"objects rows, resource = {resource!r}",
    )


def outbox(
    lab: Lab,
    *,
    resource: str | None = None,
    name: str | None = None,
    uid: str | None = None,
    since: int | None = None,
    limit: int = 20,
) -> Table:
    """The newest ``limit`` rows of the `events` table (the outbox and revision log), oldest first.

    A name is reused when an object is deleted and created again (a notebook run twice), so to
    follow *one* object pass its ``uid`` (``metadata.uid``), or ``since``: only revisions after it.
    """
    found = aio.run(
        _fetch(
            lab.database_url,
            "SELECT revision, type, resource, namespace, name, object, created_at FROM events "
            "WHERE ($1::text IS NULL OR resource = $1) AND ($2::text IS NULL OR name = $2) "
            "AND ($4::text IS NULL OR object->'metadata'->>'uid' = $4) AND ($5::bigint IS NULL OR revision > $5) "
            "ORDER BY revision DESC LIMIT $3",
            resource,
            name,
            limit,
            uid,
            since,
        )
    )
    return Table(
        (
            {
                "revision": r["revision"],
                "type": r["type"],
                "resource": r["resource"],
                "namespace": r["namespace"] or "-",
                "name": r["name"],
                "object": summary(json.loads(r["object"])),
            }
            for r in reversed(found)
        ),
        title="events rows (the outbox)" + (f", resource = {resource!r}" if resource else ""),
    )


def stream(
    lab: Lab,
    resource: str = "pods",
    *,
    name: str | None = None,
    uid: str | None = None,
    since: int | None = None,
    count: int = 20,
) -> Table:
    """The newest ``count`` entries of the Redis stream of ``resource``, oldest first.

    Only those of ``name``, of the object with ``uid`` (one object, even if its name was used
    before), or with a revision after ``since``, if given.
    """
    key = stream_key(resource)
    entries: list[dict[str, Any]] = []
    # Entry ids are "<revision>-0": a revision range is an id range.
    low = f"({since}-0" if since is not None else "-"
    with _redis(lab) as r:
        cursor = "+"
        # Walk back from the newest entry in pages until we have `count` matching entries.
        while len(entries) < count:
            # decode_responses=True: ids and fields are str
            page = cast(list[tuple[str, dict[str, str]]], r.xrevrange(key, max=cursor, min=low, count=200))
            for entry_id, fields in page:
                if name is not None and fields.get("name") != name:
                    continue
                entry = _entry(entry_id, fields)
                if uid is None or entry["uid"] == uid:
                    entries.append(entry)
            if len(page) < 200:
                break
            last = page[-1][0]
            cursor = "(" + last
    for entry in entries:
        del entry["uid"]
    return Table(list(reversed(entries[:count])), title=f"Redis stream {key}")


def stream_info(lab: Lab, resource: str = "pods") -> dict[str, Any]:
    """XINFO STREAM: length, first and last entry ids of a resource's stream ({} if it has none)."""
    with _redis(lab) as r:
        try:
            info = r.xinfo_stream(stream_key(resource))
        except redis.ResponseError:
            return {}
    first, last = info.get("first-entry"), info.get("last-entry")
    return {
        "length": info.get("length"),
        "first_id": first[0] if first else None,
        "last_id": last[0] if last else None,
    }


def _entry(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    obj = json.loads(fields.get("object") or "{}")
    return {
        "id": entry_id,
        "type": fields.get("type"),
        "namespace": fields.get("namespace") or "-",
        "name": fields.get("name"),
        "resourceVersion": (obj.get("metadata") or {}).get("resourceVersion"),
        "object": summary(obj),
        "uid": (obj.get("metadata") or {}).get("uid"),
    }


def summary(obj: dict[str, Any]) -> str:
    """A one-line summary of an object: the fields a learner looks at first."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    parts = []
    if spec.get("nodeName"):
        parts.append(f"node={spec['nodeName']}")
    if status.get("phase"):
        parts.append(f"phase={status['phase']}")
    if "replicas" in spec:
        parts.append(f"replicas={spec['replicas']}")
    labels = (obj.get("metadata") or {}).get("labels")
    if labels:
        parts.append("labels=" + ",".join(f"{k}={v}" for k, v in labels.items()))
    return " ".join(parts) or "{...}"


class _redis:
    """A short-lived, decoded Redis connection (context manager)."""

    def __init__(self, lab: Lab) -> None:
        self.client = redis.Redis.from_url(lab.redis_url, decode_responses=True, socket_timeout=10)

    def __enter__(self) -> redis.Redis:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
