"""The store: Kubernetes objects as JSON documents in PostgreSQL, with etcd's revision semantics.

Invariants (docs/architecture.md, "The etcd simulation: invariants"):

1. One global revision counter. Every successful write gets the next revision, and an
   object's ``metadata.resourceVersion`` is the revision of its last write.
2. Every committed change writes exactly one row to the ``events`` outbox *in the same
   transaction* as the object row, so an event exists if and only if the change committed.
3. Commit order equals revision order. Each write transaction locks the one ``revision`` row
   (``SELECT ... FOR UPDATE``) before it takes numbers and holds the lock until it commits, so
   revision R+1 can never become visible before R. This is what lets the relay publish
   "everything after R" without ever skipping a revision that commits late.
4. A LIST is one REPEATABLE READ snapshot: the objects and the revision it reports are read
   together, so "list at R, then watch from R" neither misses nor repeats a change.
5. Updates and deletes may carry the revision they were based on; a stale one is a Conflict.

Group commit. Invariant 3 serializes writers: with one transaction per write, 16 concurrent
writers reach about 18% of PostgreSQL's plain commit rate (docs/storage.md). So writes go
through one committer task per store that takes every write waiting at that moment and
applies them in a single transaction under one lock of the counter — one fsync for the whole batch.
Each write in a batch is a single statement that reports success or a failed precondition
as a value (a NULL revision) instead of an error, so one write's Conflict never aborts its
neighbours, and a run of same-verb writes goes to PostgreSQL in one pipelined round trip.

Losing PostgreSQL. Reads and the committer talk to the raw asyncpg connection, whose errors never
reach SQLAlchemy's pool, so the store discards broken connections itself: a connection the driver
already knows is closed is replaced when it is checked out (a local check, no round trip — unlike
``pool_pre_ping``), and one that fails mid-statement is invalidated so it is never handed out again
(asyncpg leaves it in its error-consuming state, and its next use fails with "another operation is
in progress"). A read that failed on a pooled connection is retried once on a fresh one; a write
batch is never retried once it began, since it may have committed. Every connection failure is
Unavailable (503), never a 500.

Kubernetes equivalent: k8s.io/apiserver/pkg/storage/etcd3/store.go (and kine's SQL log).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from orchestrator.api import names
from orchestrator.api.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Cause,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    Unavailable,
)
from orchestrator.api.jsontext import check_storable_text, loads_stored, storable_json_text
from orchestrator.api.resources import ResourceInfo, by_group_resource
from orchestrator.api.selectors import FieldSelector, LabelSelector
from orchestrator.api.timestamps import now_rfc3339
from orchestrator.storage.schema import migrate
from orchestrator.storage.streams import NOTIFY_CHANNEL
from orchestrator.storage.transform import ValueTransformer

log = logging.getLogger(__name__)

T = TypeVar("T")

JSON_SEPARATORS = (",", ":")


def asyncpg_url(database_url: str) -> str:
    """``postgresql://…`` as people write it → the SQLAlchemy asyncpg form."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+asyncpg://" + database_url[len(prefix):]
    raise ValueError(f"DATABASE_URL must start with postgresql:// (got {database_url.split(':', 1)[0]}://…)")


def _connect_args(database_url: str) -> dict[str, Any]:
    """On loopback, skip asyncpg's TLS negotiation attempt: it costs a round trip per connection."""
    host = database_url.split("@", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    return {"ssl": False} if host in ("127.0.0.1", "localhost", "[::1]", "") else {}


@dataclass(frozen=True)
class ListResult:
    items: list[dict[str, Any]]
    revision: int
    continue_token: str | None = None


@dataclass(frozen=True)
class TypeMeta:
    """The ``apiVersion`` and ``kind`` every item of a served list carries. Stored documents may lack
    them (they are filled in where missing); ``replace`` sets ``apiVersion`` even where there is one:
    a custom resource is read at the version asked, not the one it was written at."""

    api_version: str
    kind: str
    replace: bool = False


@dataclass(frozen=True)
class TextListResult:
    """A list whose items are JSON text, ready to be joined into a response without decoding."""

    items: list[str]
    revision: int
    continue_token: str | None = None


@dataclass(frozen=True)
class Claim:
    """A unique value an object holds: ``Claim("service-cluster-ip", "10.96.0.10")``. No two objects
    hold the same (pool, value); the row goes when its object goes."""

    pool: str
    value: str


class ClaimTaken(Conflict):
    """A write asked for values another object holds; nothing was written. ``held`` names them."""

    def __init__(self, message: str, *, held: tuple[Claim, ...], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.held = held


@dataclass
class _Write:
    """One write waiting for the committer."""

    verb: Literal["create", "update", "delete"]
    resource: str
    namespace: str
    name: str
    obj: dict[str, Any] | None
    expected_revision: int | None
    future: asyncio.Future[dict[str, Any]] = field(repr=False)
    stored: dict[str, Any] | None = None  # the document as written: `obj` after the transformer
    decode: Callable[[dict[str, Any]], dict[str, Any]] | None = field(default=None, repr=False)
    # The values this object holds in `allocations` after the write (None: leave them as they are).
    claims: tuple[Claim, ...] | None = None
    text: str | None = field(default=None, repr=False)  # `stored` or `obj` as JSON, when already encoded

    @property
    def statement(self) -> str:
        return self.verb if self.claims is None else f"{self.verb}+claims"


# One statement per write verb, run on the raw asyncpg connection. Each statement does the whole
# write — precondition check, counter bump, object row, outbox row — and always returns exactly one
# row: the write's new revision (NULL when its precondition failed) and whether the key existed, so
# the outcome (AlreadyExists / Conflict / NotFound) is decided at the write's own place in the batch.
# Because no statement depends on a value the client computes from an earlier one, a run of writes
# of one verb goes to PostgreSQL as one pipelined round trip (asyncpg's fetchmany). The revision is
# taken by `UPDATE revision ... RETURNING` only when the precondition holds, so revisions stay
# gap-free and follow the order of the batch. ``metadata.resourceVersion`` is stamped into the
# document by PostgreSQL (jsonb_set) for the same reason.
_KEY = "resource = $1 AND namespace = $2 AND name = $3"
_CREATE = f"""
    WITH taken AS (
        SELECT EXISTS (SELECT 1 FROM objects WHERE {_KEY}) AS found
    ), rev AS (
        UPDATE revision SET value = value + 1
        WHERE id = 1 AND NOT (SELECT found FROM taken)
        RETURNING value
    ), doc AS (
        SELECT value, jsonb_set($5::jsonb, '{{metadata,resourceVersion}}', to_jsonb(value::text)) AS data FROM rev
    ), ins AS (
        INSERT INTO objects (resource, namespace, name, uid, revision, created_revision, data)
        SELECT $1, $2, $3, $4, value, value, data FROM doc
    ), ev AS (
        INSERT INTO events (revision, resource, namespace, name, type, object, prev)
        SELECT value, $1, $2, $3, 'ADDED', data, NULL FROM doc
    )
    SELECT (SELECT value FROM rev) AS rev, (SELECT found FROM taken) AS found
"""
_UPDATE = f"""
    WITH old AS (
        SELECT revision, data FROM objects WHERE {_KEY} FOR UPDATE
    ), ok AS (
        SELECT data FROM old WHERE $5::bigint IS NULL OR revision = $5::bigint
    ), rev AS (
        UPDATE revision SET value = value + 1 WHERE id = 1 AND EXISTS (SELECT 1 FROM ok) RETURNING value
    ), doc AS (
        SELECT value, jsonb_set($4::jsonb, '{{metadata,resourceVersion}}', to_jsonb(value::text)) AS data FROM rev
    ), upd AS (
        UPDATE objects SET data = doc.data, revision = doc.value FROM doc WHERE {_KEY}
    ), ev AS (
        INSERT INTO events (revision, resource, namespace, name, type, object, prev)
        SELECT doc.value, $1, $2, $3, 'MODIFIED', doc.data, ok.data FROM doc, ok
    )
    SELECT (SELECT value FROM rev) AS rev, EXISTS (SELECT 1 FROM old) AS found
"""
_DELETE = f"""
    WITH old AS (
        SELECT revision, data FROM objects WHERE {_KEY} FOR UPDATE
    ), ok AS (
        SELECT data FROM old WHERE $4::bigint IS NULL OR revision = $4::bigint
    ), rev AS (
        UPDATE revision SET value = value + 1 WHERE id = 1 AND EXISTS (SELECT 1 FROM ok) RETURNING value
    ), del AS (
        DELETE FROM objects WHERE {_KEY} AND EXISTS (SELECT 1 FROM rev)
    ), ev AS (
        INSERT INTO events (revision, resource, namespace, name, type, object, prev)
        SELECT rev.value, $1, $2, $3, 'DELETED',
               jsonb_set(ok.data, '{{metadata,resourceVersion}}', to_jsonb(rev.value::text)), ok.data
        FROM rev, ok
        RETURNING object
    )
    SELECT (SELECT value FROM rev) AS rev, EXISTS (SELECT 1 FROM old) AS found, (SELECT object::text FROM ev) AS object
"""
# Writes that also claim unique values (a Service's ClusterIP and node ports) in `allocations`, in
# the same statement as the object: $6/$7 are the claims' pools and values. A value another object
# holds is a clash: no revision, nothing written, and `held` names it. The check cannot race: it runs
# under the batch's lock on `revision`, which every writer of `allocations` holds (and the primary
# key would refuse a double claim anyway). A deleted object's claims go with its row (ON DELETE
# CASCADE), so no delete statement needs to know about them.
_CLAIMS = "unnest($6::text[], $7::text[]) AS c(pool, value)"
_CREATE_CLAIMING = f"""
    WITH taken AS (
        SELECT EXISTS (SELECT 1 FROM objects WHERE {_KEY}) AS found
    ), clash AS (
        SELECT coalesce(array_agg(a.pool || ' ' || a.value), '{{}}') AS held
        FROM allocations a JOIN {_CLAIMS} ON a.pool = c.pool AND a.value = c.value
    ), rev AS (
        UPDATE revision SET value = value + 1
        WHERE id = 1 AND NOT (SELECT found FROM taken) AND cardinality((SELECT held FROM clash)) = 0
        RETURNING value
    ), doc AS (
        SELECT value, jsonb_set($5::jsonb, '{{metadata,resourceVersion}}', to_jsonb(value::text)) AS data FROM rev
    ), ins AS (
        INSERT INTO objects (resource, namespace, name, uid, revision, created_revision, data)
        SELECT $1, $2, $3, $4, value, value, data FROM doc
    ), claim AS (
        INSERT INTO allocations (pool, value, resource, namespace, name)
        SELECT c.pool, c.value, $1, $2, $3 FROM {_CLAIMS}, rev
    ), ev AS (
        INSERT INTO events (revision, resource, namespace, name, type, object, prev)
        SELECT value, $1, $2, $3, 'ADDED', data, NULL FROM doc
    )
    SELECT (SELECT value FROM rev) AS rev, (SELECT found FROM taken) AS found, (SELECT held FROM clash) AS held
"""
_UPDATE_CLAIMING = f"""
    WITH old AS (
        SELECT revision, data FROM objects WHERE {_KEY} FOR UPDATE
    ), ok AS (
        SELECT data FROM old WHERE $5::bigint IS NULL OR revision = $5::bigint
    ), clash AS (
        SELECT coalesce(array_agg(a.pool || ' ' || a.value), '{{}}') AS held
        FROM allocations a JOIN {_CLAIMS} ON a.pool = c.pool AND a.value = c.value
        WHERE NOT (a.resource = $1 AND a.namespace = $2 AND a.name = $3)
    ), rev AS (
        UPDATE revision SET value = value + 1
        WHERE id = 1 AND EXISTS (SELECT 1 FROM ok) AND cardinality((SELECT held FROM clash)) = 0
        RETURNING value
    ), doc AS (
        SELECT value, jsonb_set($4::jsonb, '{{metadata,resourceVersion}}', to_jsonb(value::text)) AS data FROM rev
    ), upd AS (
        UPDATE objects SET data = doc.data, revision = doc.value FROM doc WHERE {_KEY}
    ), released AS (
        DELETE FROM allocations a
        WHERE a.resource = $1 AND a.namespace = $2 AND a.name = $3 AND EXISTS (SELECT 1 FROM rev)
          AND (a.pool, a.value) NOT IN (SELECT c.pool, c.value FROM {_CLAIMS})
    ), claim AS (
        INSERT INTO allocations (pool, value, resource, namespace, name)
        SELECT c.pool, c.value, $1, $2, $3 FROM {_CLAIMS}, rev
        ON CONFLICT (pool, value) DO NOTHING
    ), ev AS (
        INSERT INTO events (revision, resource, namespace, name, type, object, prev)
        SELECT doc.value, $1, $2, $3, 'MODIFIED', doc.data, ok.data FROM doc, ok
    )
    SELECT (SELECT value FROM rev) AS rev, EXISTS (SELECT 1 FROM old) AS found, (SELECT held FROM clash) AS held
"""
_GET = "SELECT data::text FROM objects WHERE resource = $1 AND namespace = $2 AND name = $3"
_STATEMENTS = {"create": _CREATE, "update": _UPDATE, "delete": _DELETE,
               "create+claims": _CREATE_CLAIMING, "update+claims": _UPDATE_CLAIMING}
_CLAIMED = "SELECT value FROM allocations WHERE pool = $1"
# The row lock on `revision`, taken first and held until COMMIT: commit order = revision order.
_BEGIN_AND_LOCK = "BEGIN; SELECT 1 FROM revision WHERE id = 1 FOR UPDATE"
# What the raw driver raises when the server or the connection went away mid-statement.
# InternalClientError ("cannot switch to state 12; another operation (2) is in progress") is a
# connection that an earlier failure left in asyncpg's error-consuming state: it is as unusable.
_DRIVER_CONNECTION_ERRORS = (
    asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError, ConnectionError,
)


def _unavailable(exc: BaseException) -> Unavailable:
    return Unavailable(f"PostgreSQL is unavailable: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": "))


class _ConnectionLost(Unavailable):
    """A connection failed after it was checked out of the pool, so it was a stale pooled one or
    the server went away mid-read: worth one retry on a fresh connection (reads only)."""


def _replace_if_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool checkout hook: hand out no connection that asyncpg already knows is closed (the server
    restarted while it sat in the pool). Raising DisconnectionError makes the pool reconnect."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("pooled connection was closed by the server")


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | OSError | ConnectionError):
        return True
    # Reads on the raw driver connection (`get`) see asyncpg's own errors, not SQLAlchemy's:
    # "connection is closed" on a pooled connection that PostgreSQL's restart left dead.
    if isinstance(exc, _DRIVER_CONNECTION_ERRORS):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", exc)
    # SQLAlchemy's asyncpg adapter re-raises most driver errors as its generic `Error`
    # (`raise translated from error`), so the driver's own class is the cause: without it
    # "the database system is starting up" (crash recovery) was a 500, not a 503.
    names = {type(e).__name__ for e in (orig, orig.__cause__) if e is not None}
    return any("Connection" in n or "CannotConnectNow" in n or "AdminShutdown" in n for n in names)


class Store:
    """Create, read, list, update and delete objects; see the module docstring for the rules."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 128,
                 transformer: ValueTransformer | None = None) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._transformer = transformer
        # Resources whose documents go through the transformer; every other resource pays one
        # set lookup per read or write and nothing else.
        self._transformed = frozenset(transformer.resources) if transformer is not None else frozenset()
        self._pending: asyncio.Queue[_Write] | None = None
        self._committer: asyncio.Task[None] | None = None
        self.batches_committed = 0
        self.writes_committed = 0
        # Which resource a key prefix is (scope, names for messages). The API server points this at
        # its resource catalog so custom resources resolve too; other users get the built-ins.
        self.resolve: Callable[[str], ResourceInfo] = by_group_resource

    # -- life cycle -------------------------------------------------------------------------

    @classmethod
    async def connect(cls, database_url: str, *, pool_size: int = 20, max_batch: int = 128,
                      transformer: ValueTransformer | None = None) -> Store:
        """Open the database, create or migrate the schema, and return a ready store."""
        # No overflow: connections opened for a burst and closed after it cost far more than
        # waiting briefly for a pooled one (and pre-ping would add a round trip to every read).
        engine = create_async_engine(asyncpg_url(database_url), pool_size=pool_size, max_overflow=0,
                                     pool_timeout=30, pool_recycle=3600, connect_args=_connect_args(database_url))
        event.listen(engine.sync_engine.pool, "checkout", _replace_if_closed)
        try:
            async with engine.begin() as conn:
                await migrate(conn)
        except Exception as exc:
            await engine.dispose()
            if _is_connection_error(exc) or isinstance(exc, OSError):
                raise _unavailable(exc) from exc
            raise
        return cls(engine, max_batch=max_batch, transformer=transformer)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def transformer(self) -> ValueTransformer | None:
        return self._transformer

    def _from_storage(self, resource: str, namespace: str, name: str, stored: dict[str, Any]) -> dict[str, Any]:
        if resource not in self._transformed:
            return stored
        assert self._transformer is not None
        return self._transformer.from_storage(resource, namespace, name, stored)

    async def close(self) -> None:
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
            self._committer = None
        await self._engine.dispose()

    # -- reads ------------------------------------------------------------------------------

    async def current_revision(self) -> int:
        return await _read_retrying_once(self._revision_column, "value")

    async def compacted_revision(self) -> int:
        return await _read_retrying_once(self._revision_column, "compacted")

    async def _revision_column(self, column: Literal["value", "compacted"]) -> int:
        async with self._connect() as conn:
            return int((await conn.execute(text(f"SELECT {column} FROM revision"))).scalar_one())

    async def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        info = self.resolve(resource)
        ns = self._namespace(info, namespace)
        row = await _read_retrying_once(self._get_row, resource, ns, name)
        if row is None:
            raise NotFound(f'{info.plural}{"." + info.group if info.group else ""} "{name}" not found',
                           kind=info.plural, name=name, group=info.group)
        return self._from_storage(resource, ns, name, loads_stored(row[0]))

    async def _get_row(self, resource: str, ns: str, name: str) -> asyncpg.Record | None:
        try:
            conn = await self._engine.connect()
        except Exception as exc:
            if _is_connection_error(exc):
                raise _unavailable(exc) from exc
            raise
        try:
            # One statement, no transaction around it: a single read is its own snapshot, and
            # the BEGIN/COMMIT round trips would triple the cost of the API's hottest call.
            raw: asyncpg.Connection = (await conn.get_raw_connection()).driver_connection  # type: ignore[assignment]
            return await raw.fetchrow(_GET, resource, ns, name)
        except Exception as exc:
            if _is_connection_error(exc):
                # The driver's error never reached the pool: without this the connection goes back
                # in and fails every request it is handed to.
                await _invalidate(conn)
                raise _lost(exc) from exc
            raise
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def list(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: LabelSelector | str | None = None,
        field_selector: FieldSelector | str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        """A consistent snapshot of the matching objects and the revision it reflects.

        With ``limit``, at most that many items come back and ``continue_token`` resumes the
        same snapshot: later pages rebuild each object's state at the first page's revision
        from the revision log, as etcd serves a continued range at a past revision. A token
        older than the retained history is Expired.
        """
        query = self._list_query(resource, namespace, label_selector, field_selector, limit, continue_token)
        items, revision, token = await _read_retrying_once(self._list_snapshot, query, None)
        return ListResult(items, revision, token)

    async def list_text(
        self,
        resource: str,
        type_meta: TypeMeta,
        *,
        namespace: str | None = None,
        label_selector: LabelSelector | str | None = None,
        field_selector: FieldSelector | str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> TextListResult:
        """`list`, with each item as its stored JSON text carrying ``type_meta``: a plain JSON LIST
        is then served without decoding and encoding every object again (PostgreSQL prints the
        documents, and adds ``apiVersion``/``kind``). Objects are decoded only where a selector must
        be checked that SQL did not apply, or the resource is transformed at rest."""
        query = self._list_query(resource, namespace, label_selector, field_selector, limit, continue_token)
        items, revision, token = await _read_retrying_once(self._list_snapshot, query, type_meta)
        return TextListResult(items, revision, token)

    def _list_query(
        self, resource: str, namespace: str | None, label_selector: LabelSelector | str | None,
        field_selector: FieldSelector | str | None, limit: int | None, continue_token: str | None,
    ) -> _ListQuery:
        info = self.resolve(resource)
        labels = label_selector if isinstance(label_selector, LabelSelector) else LabelSelector.parse(label_selector)
        fields = (
            field_selector
            if isinstance(field_selector, FieldSelector)
            else FieldSelector.parse(field_selector, group_resource=resource)
        )
        if limit is not None and limit < 0:
            raise BadRequest(f"limit must be a non-negative integer, got {limit}")
        ns = namespace if (info.namespaced and namespace) else None
        # a field selector on metadata.namespace is a namespace filter the database can do
        ns = ns if ns is not None or not info.namespaced else fields.exact("metadata.namespace")
        name_eq = fields.exact("metadata.name")
        node_eq = fields.exact("spec.nodeName") if resource == "pods" else None
        after: tuple[str, str] | None = None
        at_revision: int | None = None
        if continue_token:
            at_revision, after = _decode_continue(continue_token)
        # Every field requirement SQL applied as asked (an `=` to the very value in the WHERE clause,
        # each field once) needs no check in Python; anything else does.
        in_sql = {"metadata.namespace": ns, "metadata.name": name_eq, "spec.nodeName": node_eq}
        reqs = fields.requirements
        pushed = (len({r.field for r in reqs}) == len(reqs)
                  and all(r.operator == "=" and in_sql.get(r.field) == r.value for r in reqs))
        matches = None
        if not (labels.empty and pushed):
            def matches(obj: dict[str, Any]) -> bool:
                return labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)
        return _ListQuery(resource, ns, name_eq, node_eq, after, at_revision, limit, matches)

    async def _list_snapshot(self, q: _ListQuery, type_meta: TypeMeta | None) -> tuple[list[Any], int, str | None]:
        """The items of one list (decoded, or JSON text when ``type_meta`` is given), its revision and
        continue token."""
        transformed = q.resource in self._transformed
        async with self._connect(snapshot=True) as conn:
            revision = int((await conn.execute(text("SELECT value FROM revision"))).scalar_one())
            if q.at_revision is not None:
                compacted = int((await conn.execute(text("SELECT compacted FROM revision"))).scalar_one())
                if q.at_revision < compacted:
                    raise Expired(
                        "The provided continue parameter is too old to display a consistent list result. "
                        "You can start a new list without the continue parameter."
                    )
                revision = q.at_revision
            chunk = max(q.limit or 0, 500) if q.limit else None
            items: list[Any] = []
            cursor = q.after
            while True:
                rows = await self._fetch_page(conn, q, after=cursor, limit=chunk,
                                              type_meta=None if transformed else type_meta)
                for key, doc in rows:
                    cursor = key
                    item: Any = doc  # as PostgreSQL printed it, when nothing needs the object
                    if type_meta is None or transformed or q.matches is not None:
                        obj = self._from_storage(q.resource, key[0], key[1], loads_stored(doc))
                        if q.matches is not None and not q.matches(obj):
                            continue
                        if type_meta is None:
                            item = obj
                        elif transformed:
                            _set_type_meta(obj, type_meta)
                            item = json.dumps(obj, separators=JSON_SEPARATORS)
                    items.append(item)
                    if q.limit and len(items) == q.limit:
                        more = await self._exists_after(
                            conn, resource=q.resource, namespace=q.ns, after=key, at_revision=q.at_revision
                        )
                        return items, revision, _encode_continue(revision, key) if more else None
                if chunk is None or len(rows) < chunk:
                    return items, revision, None

    async def _fetch_page(
        self, conn: AsyncConnection, q: _ListQuery, *, after: tuple[str, str] | None, limit: int | None,
        type_meta: TypeMeta | None,
    ) -> list[tuple[tuple[str, str], str]]:
        """One page of the list's rows as (key, JSON text); with ``type_meta``, the text carries it."""
        where = ["resource = :r"]
        params: dict[str, Any] = {"r": q.resource}
        if q.ns is not None:
            where.append("namespace = :ns")
            params["ns"] = q.ns
        if q.name_eq is not None:
            where.append("name = :name")
            params["name"] = q.name_eq
        if after is not None:
            where.append("(namespace, name) > (:after_ns, :after_name)")
            params["after_ns"], params["after_name"] = after
        node_sql = ""
        if q.node_eq is not None:
            node_sql = ("(data -> 'spec' ->> 'nodeName') = :node" if q.node_eq else
                        "coalesce(data -> 'spec' ->> 'nodeName', '') = ''")
            params["node"] = q.node_eq
        limit_sql = ""
        if limit is not None:
            limit_sql = "LIMIT :limit"
            params["limit"] = limit
        printed = "data::text"
        if type_meta is not None:
            # jsonb's || keeps the right operand's value of a key both sides have
            params["av"], params["kind"] = type_meta.api_version, type_meta.kind
            if type_meta.replace:
                printed = ("(jsonb_build_object('kind', CAST(:kind AS text)) || data"
                           " || jsonb_build_object('apiVersion', CAST(:av AS text)))::text")
            else:
                printed = "(jsonb_build_object('apiVersion', CAST(:av AS text), 'kind', CAST(:kind AS text)) || data)::text"
        cond = " AND ".join(where + [node_sql] if node_sql else where)
        if q.at_revision is None:
            sql = f"SELECT namespace, name, {printed} FROM objects WHERE {cond} ORDER BY namespace, name {limit_sql}"
        else:
            # The state at revision R: rows unchanged since R, plus, for keys changed after R,
            # the `prev` of their first change after R (no row if that change created the key).
            # Only events after R are needed, so any R at or above the compaction revision works.
            # The node filter applies to that state, so only after the first change is picked: filtering
            # the changes first would pick a later one (a pod created after R, or bound after R).
            params["at"] = q.at_revision
            ev_cond = " AND ".join(where)
            prev_node = " AND " + node_sql.replace("data -> 'spec'", "prev -> 'spec'") if node_sql else ""
            sql = f"""
            SELECT namespace, name, {printed} FROM (
                SELECT namespace, name, data FROM objects WHERE {cond} AND revision <= :at
                UNION ALL
                SELECT namespace, name, prev FROM (
                    SELECT DISTINCT ON (namespace, name) namespace, name, type, prev FROM events
                    WHERE {ev_cond} AND revision > :at
                    ORDER BY namespace, name, revision
                ) first_change WHERE type <> 'ADDED'{prev_node}
            ) state ORDER BY namespace, name {limit_sql}"""
        rows = (await conn.execute(text(sql), params)).all()
        return [((r[0], r[1]), r[2]) for r in rows]

    async def _exists_after(
        self, conn: AsyncConnection, *, resource: str, namespace: str | None, after: tuple[str, str],
        at_revision: int | None,
    ) -> bool:
        # Kubernetes returns a continue token whenever the range has more keys, even if none
        # of them match the selector; the client then gets an empty last page. Same here.
        params: dict[str, Any] = {"r": resource, "a_ns": after[0], "a_n": after[1]}
        ns_sql = ""
        if namespace is not None:
            ns_sql = " AND namespace = :ns"
            params["ns"] = namespace
        sql = f"SELECT 1 FROM objects WHERE resource = :r{ns_sql} AND (namespace, name) > (:a_ns, :a_n) LIMIT 1"
        if at_revision is not None:
            sql = (f"({sql}) UNION ALL (SELECT 1 FROM events WHERE resource = :r{ns_sql} "
                   f"AND (namespace, name) > (:a_ns, :a_n) AND revision > :at LIMIT 1)")
            params["at"] = at_revision
        return (await conn.execute(text(sql), params)).first() is not None

    async def claimed(self, pool: str) -> set[str]:
        """The values of ``pool`` that objects hold now (a Service allocator picks among the rest)."""
        return await _read_retrying_once(self._claimed, pool)

    async def _claimed(self, pool: str) -> set[str]:
        async with self._connect() as conn:
            raw: asyncpg.Connection = (await conn.get_raw_connection()).driver_connection  # type: ignore[assignment]
            return {r[0] for r in await raw.fetch(_CLAIMED, pool)}

    # -- writes -----------------------------------------------------------------------------

    async def create(self, resource: str, obj: dict[str, Any], *,
                     claims: tuple[Claim, ...] | None = None) -> dict[str, Any]:
        """Store a new object; AlreadyExists if the key is taken. Returns it as stored.
        ``claims``: unique values the object holds from now on, written in the same transaction;
        ClaimTaken (and nothing written) if another object holds one."""
        info = self.resolve(resource)
        obj, meta = _with_own_metadata(obj)
        ns, name = self._key(info, meta)
        # Not setdefault: its default would be computed for every create the API server already stamped.
        if "uid" not in meta:
            meta["uid"] = str(uuid.uuid4())
        if "creationTimestamp" not in meta:
            meta["creationTimestamp"] = now_rfc3339()
        if info.namespaced:
            meta["namespace"] = ns
        return await self._submit("create", resource, ns, name, obj, None, claims)

    async def update(
        self, resource: str, obj: dict[str, Any], *, expected_revision: int | None | Literal["object"] = "object",
        claims: tuple[Claim, ...] | None = None,
    ) -> dict[str, Any]:
        """Replace an object. By default the object's own resourceVersion is the precondition
        (stale → Conflict); ``expected_revision=None`` writes unconditionally. ``claims`` (when
        not None) are all the unique values the object holds after the write: the ones it no
        longer names are released in the same transaction."""
        info = self.resolve(resource)
        obj, meta = _with_own_metadata(obj)
        ns, name = self._key(info, meta)
        expected = _parse_rv(meta.get("resourceVersion")) if expected_revision == "object" else expected_revision
        return await self._submit("update", resource, ns, name, obj, expected, claims)

    async def delete(
        self, resource: str, namespace: str | None, name: str, *, expected_revision: int | None = None
    ) -> dict[str, Any]:
        """Remove an object; returns its last state with the deletion's revision."""
        info = self.resolve(resource)
        ns = self._namespace(info, namespace)
        return await self._submit("delete", resource, ns, name, None, expected_revision)

    async def guaranteed_update(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any] | None | Awaitable[dict[str, Any] | None]],
        *,
        attempts: int = 16,
    ) -> dict[str, Any]:
        """Read, apply ``mutate``, write with the read revision as precondition; on Conflict,
        read again and retry (client-go's RetryOnConflict). ``mutate`` returning None means
        "no change needed" and the current object is returned without a write."""
        for attempt in range(attempts):
            current = await self.get(resource, namespace, name)
            changed = mutate(json.loads(json.dumps(current)))
            if asyncio.iscoroutine(changed) or isinstance(changed, Awaitable):
                changed = await changed  # type: ignore[misc]
            if changed is None:
                return current
            changed.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
            try:
                return await self.update(resource, changed)
            except Conflict:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.001 * (2 ** min(attempt, 6)))
        raise AssertionError("unreachable")

    async def _submit(
        self, verb: Literal["create", "update", "delete"], resource: str, namespace: str, name: str,
        obj: dict[str, Any] | None, expected: int | None, claims: tuple[Claim, ...] | None = None,
    ) -> dict[str, Any]:
        stored = obj
        text = None
        if obj is not None:
            # Before batching: one unstorable document must not fail its batch. The check's JSON
            # text is what gets written, encoded here in the writer's task rather than the committer's.
            text = storable_json_text(obj)
            if text is None:
                check_storable_text(obj)  # names the field; passes when the fast check was only unsure
            if resource in self._transformed:
                assert self._transformer is not None
                # In the writer's task, not the committer's: encryption spreads over the requests.
                stored = self._transformer.to_storage(resource, namespace, name, obj)
                text = None
        if self._pending is None:
            self._pending = asyncio.Queue()
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_loop(), name="store-committer")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        decode = (lambda doc: self._from_storage(resource, namespace, name, doc)) if resource in self._transformed else None
        self._pending.put_nowait(_Write(verb, resource, namespace, name, obj, expected, future, stored, decode,
                                         claims, text))
        return await future

    async def _commit_loop(self) -> None:
        assert self._pending is not None
        # The committer keeps one connection for as long as it works: checking one out of the
        # pool per batch cost a pre-ping (three more round trips) on every batch.
        conn: AsyncConnection | None = None
        try:
            while True:
                batch = [await self._pending.get()]
                while len(batch) < self._max_batch and not self._pending.empty():
                    batch.append(self._pending.get_nowait())
                batch = [w for w in batch if not w.future.cancelled()]
                if not batch:
                    continue
                try:
                    conn, outcomes = await self._commit_on_live_connection(conn, batch)
                except asyncio.CancelledError:
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(Unavailable("the store is shutting down"))
                    raise
                except Exception as exc:  # the whole transaction failed: nothing of it committed
                    conn = await _discard(conn)
                    down = _is_connection_error(exc) or isinstance(exc, _DRIVER_CONNECTION_ERRORS)
                    err = exc if isinstance(exc, ApiError) else _unavailable(exc) if down else ApiError(str(exc))
                    if not isinstance(err, Unavailable):
                        log.exception("write batch failed")
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(err)
                    continue
                for w, outcome in zip(batch, outcomes, strict=True):
                    if w.future.done():
                        continue
                    if isinstance(outcome, ApiError):
                        w.future.set_exception(outcome)
                    else:
                        w.future.set_result(outcome)
        finally:
            # Cancelled mid-batch the connection may be inside a transaction: closing it is the
            # rollback.
            await _discard(conn)

    async def _commit_on_live_connection(
        self, conn: AsyncConnection | None, batch: list[_Write]
    ) -> tuple[AsyncConnection, list[dict[str, Any] | ApiError]]:
        """Commit on the held connection; if it turns out dead before the batch began (PostgreSQL
        restarted while we idled), retry once on a fresh one — nothing can have committed yet."""
        if conn is not None:
            try:
                return conn, await self._commit_batch(conn, batch)
            except _BatchNotStarted as stale:
                log.info("store: the committer's connection died while idle (%s); reconnecting", stale.error)
                await _discard(conn)
        conn = await self._engine.connect()
        try:
            return conn, await self._commit_batch(conn, batch)
        except _BatchNotStarted as exc:
            await _discard(conn)
            raise _unavailable(exc.error) from exc.error

    async def _commit_batch(self, conn: AsyncConnection, batch: list[_Write]) -> list[dict[str, Any] | ApiError]:
        """Apply the batch in one transaction, in three kinds of round trip: BEGIN with the lock on
        the counter; one pipelined round trip per run of same-verb writes; NOTIFY with COMMIT.
        One fsync for the lot. A failure leaves the transaction open: the caller closes the
        connection, and closing is the rollback."""
        # The raw asyncpg connection: SQLAlchemy cannot pipeline, and its per-statement overhead
        # was most of the committer's CPU time (docs/benchmarks.md).
        driver: asyncpg.Connection = (await conn.get_raw_connection()).driver_connection  # type: ignore[assignment]
        try:
            # The row lock on `revision` is held until COMMIT: commit order = revision order.
            await driver.execute(_BEGIN_AND_LOCK)
        except _DRIVER_CONNECTION_ERRORS as exc:
            raise _BatchNotStarted(exc) from exc
        outcomes: list[dict[str, Any] | ApiError] = []
        first = last = None
        for statement, run in itertools.groupby(batch, key=lambda w: w.statement):
            writes = list(run)
            rows = await driver.fetchmany(_STATEMENTS[statement], [_arguments(w) for w in writes])
            for w, row in zip(writes, rows, strict=True):
                if row["rev"] is not None:
                    assert last is None or row["rev"] == last + 1, "revisions must follow the batch order"
                    first = row["rev"] if first is None else first
                    last = row["rev"]
                outcomes.append(_outcome(w, row))
        if last is None:
            await driver.execute("COMMIT")
        else:
            # The notification is delivered at COMMIT, and only if it commits.
            await driver.execute(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '{int(last)}'); COMMIT")
        self.batches_committed += 1
        if first is not None and last is not None:
            self.writes_committed += last - first + 1
        return outcomes

    # -- helpers ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connect(self, *, snapshot: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection in one transaction; ``snapshot`` makes it REPEATABLE READ, read-only.
        Connection failures become Unavailable here, once, for every read: _ConnectionLost (and
        the connection invalidated) if the connection failed after checkout."""
        try:
            conn = await self._engine.connect()
        except Exception as exc:
            if _is_connection_error(exc):
                raise _unavailable(exc) from exc
            raise
        try:
            if snapshot:
                await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            async with conn.begin():
                yield conn
        except ApiError:
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                await _invalidate(conn)
                raise _lost(exc) from exc
            raise
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    @staticmethod
    def _namespace(info: ResourceInfo, namespace: str | None) -> str:
        if not info.namespaced:
            return ""
        if not namespace:
            raise BadRequest(f"{info.plural} are namespaced: a namespace is required")
        return namespace

    def _key(self, info: ResourceInfo, meta: dict[str, Any]) -> tuple[str, str]:
        name = meta.get("name")
        causes: list[Cause] = []
        if not isinstance(name, str) or not name:
            causes.append(Cause("metadata.name", "name or generateName is required", "FieldValueRequired"))
        else:
            validate = (names.dns1123_label if info.plural == "namespaces" else
                        names.path_segment_name if info.name_format == "path_segment" else names.dns1123_subdomain)
            causes.extend(Cause("metadata.name", f'Invalid value: "{name}": {m}') for m in validate(name))
        ns = ""
        if info.namespaced:
            ns = meta.get("namespace") or ""
            if not ns:
                causes.append(Cause("metadata.namespace", "namespace is required", "FieldValueRequired"))
            else:
                causes.extend(Cause("metadata.namespace", f'Invalid value: "{ns}": {m}') for m in names.dns1123_label(ns))
        if causes:
            raise Invalid(
                f'{info.kind} "{name}" is invalid: ' + ", ".join(f"{c.field}: {c.message}" for c in causes),
                kind=info.kind, name=name if isinstance(name, str) else None, group=info.group, causes=causes,
            )
        return ns, name  # type: ignore[return-value]


@dataclass(frozen=True)
class _ListQuery:
    """What one list asks for, resolved: the filters SQL applies, where to resume, and the check
    left for Python (None when SQL applied every selector)."""

    resource: str
    ns: str | None
    name_eq: str | None
    node_eq: str | None
    after: tuple[str, str] | None
    at_revision: int | None
    limit: int | None
    matches: Callable[[dict[str, Any]], bool] | None


def _set_type_meta(obj: dict[str, Any], type_meta: TypeMeta) -> None:
    if type_meta.replace:
        obj["apiVersion"] = type_meta.api_version
    obj.setdefault("apiVersion", type_meta.api_version)
    obj.setdefault("kind", type_meta.kind)


class _BatchNotStarted(Exception):
    """The connection failed at BEGIN, before anything of the batch reached the database."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


async def _discard(conn: AsyncConnection | None) -> None:
    """Close a committer connection for good: the server rolls back whatever it left open."""
    if conn is not None:
        await _invalidate(conn)
        with contextlib.suppress(Exception):
            await conn.close()


async def _invalidate(conn: AsyncConnection) -> None:
    """Drop the connection from the pool for good: its record reconnects on its next checkout."""
    with contextlib.suppress(Exception):
        await conn.invalidate()


def _lost(exc: BaseException) -> _ConnectionLost:
    return _ConnectionLost(str(_unavailable(exc)))


async def _read_retrying_once(read: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run an idempotent read; if its connection failed after checkout (a stale pooled connection
    after a PostgreSQL restart), run it once more on a fresh one."""
    try:
        return await read(*args)
    except _ConnectionLost as exc:
        log.info("store: a read's connection failed (%s); retrying once on a fresh one", exc)
    return await read(*args)


def _arguments(w: _Write) -> tuple[Any, ...]:
    """The positional arguments of the verb's statement for one write."""
    key = (w.resource, w.namespace, w.name)
    if w.verb == "delete":
        return (*key, w.expected_revision)
    assert w.obj is not None
    data = w.text if w.text is not None else json.dumps(w.stored if w.stored is not None else w.obj,
                                                         separators=JSON_SEPARATORS)
    claims: tuple[Any, ...] = ()
    if w.claims is not None:
        claims = ([c.pool for c in w.claims], [c.value for c in w.claims])
    if w.verb == "create":
        return (*key, w.obj["metadata"]["uid"], data, *claims)
    return (*key, data, w.expected_revision, *claims)


def _outcome(w: _Write, row: asyncpg.Record) -> dict[str, Any] | ApiError:
    """What the caller of one write gets: the stored object, or the failed precondition."""
    info = _names_of(w.resource)
    rev: int | None = row["rev"]
    if rev is not None:
        if w.verb == "delete":
            last = loads_stored(row["object"])
            return w.decode(last) if w.decode is not None else last
        assert w.obj is not None
        w.obj["metadata"]["resourceVersion"] = str(rev)
        return w.obj
    if w.claims is not None and row["held"]:
        held = tuple(Claim(*h.split(" ", 1)) for h in row["held"])
        return ClaimTaken(f'{_qualified(info)} "{w.name}": already allocated: '
                          + ", ".join(f"{c.pool} {c.value}" for c in held),
                          held=held, kind=info.plural, name=w.name, group=info.group)
    if w.verb == "create":
        return AlreadyExists(
            f'{_qualified(info)} "{w.name}" already exists', kind=info.plural, name=w.name, group=info.group
        )
    if not row["found"]:
        return NotFound(f'{_qualified(info)} "{w.name}" not found', kind=info.plural, name=w.name, group=info.group)
    return Conflict(
        f'Operation cannot be fulfilled on {_qualified(info)} "{w.name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        kind=info.plural, name=w.name, group=info.group,
    )


def _with_own_metadata(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A shallow copy whose metadata the store may stamp without touching the caller's dict."""
    meta = dict(obj.get("metadata") or {})
    return {**obj, "metadata": meta}, meta


def _names_of(resource: str) -> ResourceInfo:
    """Enough of a ResourceInfo to word an error: ``crontabs.stable.example.com`` needs no catalog."""
    try:
        return by_group_resource(resource)
    except KeyError:
        plural, _, group = resource.partition(".")
        return ResourceInfo(group, "", plural, plural, "", True)


def _qualified(info: ResourceInfo) -> str:
    return f"{info.plural}.{info.group}" if info.group else info.plural


def _parse_rv(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f'invalid resourceVersion "{value}": must be a decimal revision') from None


def parse_resource_version(value: str | None) -> int | None:
    """A resourceVersion from a request: absent or "" → None, else a non-negative integer."""
    rv = _parse_rv(value)
    if rv is not None and rv < 0:
        raise BadRequest(f'invalid resourceVersion "{value}": must be a non-negative revision')
    return rv


def _encode_continue(revision: int, key: tuple[str, str]) -> str:
    raw = json.dumps({"rv": revision, "ns": key[0], "name": key[1]}, separators=JSON_SEPARATORS)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        rv, ns, name = data["rv"], data["ns"], data["name"]
        # A forged token must not reach PostgreSQL with a value it refuses (a 500): only what
        # _encode_continue writes is accepted.
        if not (isinstance(rv, int) and 0 <= rv < 2**63 and isinstance(ns, str) and isinstance(name, str)):
            raise ValueError("not a token this server wrote")
        check_storable_text(ns)
        check_storable_text(name)
        return rv, (ns, name)
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, BadRequest):
        raise BadRequest("continue key is not valid: it must be a token returned by a previous list") from None
