"""The PostgreSQL schema of the etcd simulation, as numbered migrations applied on start.

Why versioned SQL and not Alembic: the schema is four tables that learners are meant to read in
a notebook; plain numbered SQL strings are the whole story in one screen. Each migration runs
once, in order, inside one transaction, recorded in ``labkit_schema``; an advisory lock keeps two
API servers starting at once from racing.

Tables:

    revision  one row: ``value`` is the cluster's global revision counter (etcd's "revision");
              ``compacted`` is the newest revision whose history was pruned from ``events``.
    objects   the current state: one JSON document per (resource, namespace, name), with the
              revision of its last write (= metadata.resourceVersion) and of its creation.
    events    the transactional outbox *and* the revision log: one row per committed change,
              written in the same transaction as the object row. ``object`` is the state after
              the change (for DELETED: the last state), ``prev`` the state before it.
    allocations  (migration 2) unique values objects hold: a Service's ClusterIP, its node ports.
              The primary key (pool, value) makes a double allocation impossible; rows are written
              in the same transaction as their object and go with it (ON DELETE CASCADE).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

SCHEMA_LOCK_KEY = 0x6C61626B69740001  # "labkit" + 1: serializes migrations across processes

MIGRATIONS: tuple[str, ...] = (
    # 1: the three tables of the etcd simulation
    """
    CREATE TABLE revision (
        id        smallint PRIMARY KEY CHECK (id = 1),
        value     bigint NOT NULL,
        compacted bigint NOT NULL DEFAULT 0
    );
    INSERT INTO revision (id, value, compacted) VALUES (1, 0, 0);

    CREATE TABLE objects (
        resource         text   NOT NULL,
        namespace        text   NOT NULL,
        name             text   NOT NULL,
        uid              text   NOT NULL,
        revision         bigint NOT NULL,
        created_revision bigint NOT NULL,
        data             jsonb  NOT NULL,
        PRIMARY KEY (resource, namespace, name)
    );
    -- the node agent lists and watches "its" pods by spec.nodeName
    CREATE INDEX objects_node_name ON objects (resource, ((data -> 'spec' ->> 'nodeName')));

    CREATE TABLE events (
        revision   bigint PRIMARY KEY,
        resource   text   NOT NULL,
        namespace  text   NOT NULL,
        name       text   NOT NULL,
        type       text   NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
        object     jsonb  NOT NULL,
        prev       jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    -- rebuilding "the state at revision R" for a paginated list looks up a key's history
    CREATE INDEX events_key ON events (resource, namespace, name, revision);
    """,
    # 2: values allocated to objects (Kubernetes keeps a bitmap per range in etcd instead:
    # pkg/registry/core/service/ipallocator, portallocator; docs/networking.md compares the two)
    """
    CREATE TABLE allocations (
        pool      text NOT NULL,
        value     text NOT NULL,
        resource  text NOT NULL,
        namespace text NOT NULL,
        name      text NOT NULL,
        PRIMARY KEY (pool, value),
        FOREIGN KEY (resource, namespace, name) REFERENCES objects (resource, namespace, name) ON DELETE CASCADE
    );
    CREATE INDEX allocations_owner ON allocations (resource, namespace, name);
    """,
)


async def migrate(conn: AsyncConnection) -> int:
    """Apply the migrations this database has not seen; return the schema version now in force."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
    await conn.execute(
        text("CREATE TABLE IF NOT EXISTS labkit_schema (version integer PRIMARY KEY, applied_at timestamptz DEFAULT now())")
    )
    current = (await conn.execute(text("SELECT coalesce(max(version), 0) FROM labkit_schema"))).scalar_one()
    for version, sql in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        # asyncpg's simple-query path runs several statements in one call
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(sql)  # type: ignore[union-attr]
        await conn.execute(text("INSERT INTO labkit_schema (version) VALUES (:v)"), {"v": version})
    return len(MIGRATIONS)
