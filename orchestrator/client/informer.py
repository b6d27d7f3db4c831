"""Informers: a local, always-current copy of one kind of object, and calls when it changes.

An `Informer` lists the objects it is asked for, then watches from the list's resourceVersion,
applying each event to its `Indexer` (a cache keyed ``namespace/name``, or ``name`` for
cluster-scoped objects) and then calling the registered handlers. Components read the cache,
never the API server, in their hot paths; handlers only compute a key and enqueue it.

The loop (the reflector), and why each step is so:

1. **List**, then **watch from the list's resourceVersion**: the list is a consistent snapshot
   at revision R and the watch delivers every change after R, so no change falls between them.
   The list is read in pages of 500 (client-go's pager); the continue token keeps every page at R.
2. A watch **ends normally** after ``timeoutSeconds`` (300 s here): watch again from the last
   resourceVersion seen (an event's, or a BOOKMARK's) — no relist needed.
3. **410 Expired** (the server no longer has the history after our resourceVersion) or a
   **dropped connection** (we cannot know what we missed): list again and *replace* the cache.
   Replace computes the difference, the way client-go's DeltaFIFO.Replace does:

   - an object not in the cache → ``on_add(obj)``;
   - an object whose resourceVersion changed → ``on_update(old, new)``; unchanged ones are
     not reported (they were already seen);
   - an object in the cache but not in the new list was deleted while we were not looking:
     ``on_delete(DeletedFinalStateUnknown(key, last_known_obj))`` — a *tombstone* carrying
     the last state we knew, because the final state is unknown. Use `deleted_object` to get
     the dict from either shape.

   Worked example: the cache holds a (rv 3), b (rv 4), c (rv 5); the watch gets 410; the new
   list holds a (rv 3), b (rv 9), d (rv 8). Calls: ``on_update(b@4, b@9)``, ``on_add(d@8)``,
   ``on_delete(DeletedFinalStateUnknown("ns/c", c@5))``; a is not reported.

4. Errors from the list itself (server down) are retried with capped exponential backoff
   (0.8 s doubling to 30 s, as client-go's reflector backoff).
5. ``catch_up(R)`` (a controller manager taking over the lead): wait until the cache reflects
   revision R; a watch still behind after a short patience is replaced by a fresh list.
   kube-controller-manager gets the same from being a new process whose caches start with a list.

Handlers are synchronous callables called in registration order, from the informer's task,
after the cache already reflects the change. They receive the cached dicts: they must not
modify them (copy first). A handler that raises is logged and does not stop the informer.
A handler added after the informer has synced first receives ``on_add`` for every object
already cached, as in client-go's shared informer.

With `resync_period`, every cached object is passed to ``on_update(obj, obj)`` that often,
so level-triggered controllers re-check state even when nothing changed.

All of this runs on one event loop: the cache is safe to read from any task on that loop
(a "thread-safe store" needs no lock when there is one thread).

Kubernetes equivalent: k8s.io/client-go/tools/cache (reflector.go, shared_informer.go,
delta_fifo.go, thread_safe_store.go, index.go).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.api.errors import ApiError, Expired, Unavailable
from orchestrator.api.resources import ResourceInfo
from orchestrator.client.clock import Clock, LoopClock
from orchestrator.client.rest import ApiClient, resource_info

__all__ = [
    "DeletedFinalStateUnknown",
    "Handler",
    "IndexFunc",
    "Indexer",
    "Informer",
    "SharedInformerFactory",
    "deleted_object",
    "meta_namespace_key",
    "split_key",
]

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 500  # client-go's pager default (tools/pager)
CATCH_UP_POLL_SECONDS = 0.05

Object = dict[str, Any]

IndexFunc = Callable[[Object], Iterable[str] | str | None]
"""The index values of an object, e.g. ``lambda pod: pod["spec"].get("nodeName")``.
A string is one value, ``None`` or an empty iterable none."""


@dataclass(frozen=True)
class DeletedFinalStateUnknown:
    """A deletion noticed by a relist, not by a watch event: `obj` is the last state we saw."""

    key: str
    obj: Object


def deleted_object(obj: Object | DeletedFinalStateUnknown) -> Object:
    """The object an ``on_delete`` handler was given, tombstone or not."""
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


def meta_namespace_key(obj: Object | DeletedFinalStateUnknown) -> str:
    """``namespace/name``, or ``name`` for a cluster-scoped object (client-go MetaNamespaceKeyFunc)."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name", "")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """``("ns", "name")`` from ``ns/name``; ``(None, "name")`` from ``name``."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, key)


class Handler(Protocol):
    """The three callbacks of a handler registration (any may be a no-op)."""

    def on_add(self, obj: Object) -> None: ...

    def on_update(self, old: Object, new: Object) -> None: ...

    def on_delete(self, obj: Object | DeletedFinalStateUnknown) -> None: ...


@dataclass(frozen=True)
class _Callbacks:
    on_add: Callable[[Object], None] | None
    on_update: Callable[[Object, Object], None] | None
    on_delete: Callable[[Object | DeletedFinalStateUnknown], None] | None


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------


class Indexer:
    """Objects by key, plus named secondary indexes (e.g. pods by node name)."""

    def __init__(self) -> None:
        self._items: dict[str, Object] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        # index name -> index value -> keys
        self._indices: dict[str, dict[str, set[str]]] = {}

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        """Add an index; objects already cached are indexed at once."""
        if name in self._index_funcs:
            raise ValueError(f"indexer {name!r} already exists")
        self._index_funcs[name] = fn
        self._indices[name] = {}
        for key, obj in self._items.items():
            self._index(name, key, obj)

    def get(self, key: str) -> Object | None:
        return self._items.get(key)

    def list(self) -> builtins.list[Object]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def by_index(self, index_name: str, value: str) -> builtins.list[Object]:
        """The objects whose index `index_name` has `value`."""
        return [self._items[k] for k in sorted(self.index_keys(index_name, value))]

    def index_keys(self, index_name: str, value: str) -> set[str]:
        try:
            index = self._indices[index_name]
        except KeyError:
            raise KeyError(f"no indexer named {index_name!r} (have {sorted(self._indices)})") from None
        return set(index.get(value, ()))

    # The informer is the only writer.

    def _put(self, key: str, obj: Object) -> None:
        if key in self._items:
            self._unindex(key)
        self._items[key] = obj
        for name in self._index_funcs:
            self._index(name, key, obj)

    def _pop(self, key: str) -> Object | None:
        if key not in self._items:
            return None
        self._unindex(key)
        return self._items.pop(key)

    def _index(self, name: str, key: str, obj: Object) -> None:
        for value in _index_values(self._index_funcs[name], obj):
            self._indices[name].setdefault(value, set()).add(key)

    def _unindex(self, key: str) -> None:
        old = self._items[key]
        for name, fn in self._index_funcs.items():
            index = self._indices[name]
            for value in _index_values(fn, old):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


def _index_values(fn: IndexFunc, obj: Object) -> list[str]:
    values = fn(obj)
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return list(values)


# --------------------------------------------------------------------------------------------
# The informer
# --------------------------------------------------------------------------------------------


class Informer:
    """List-then-watch one resource into an `Indexer` and call handlers on every change.

    ``run()`` is the long-running coroutine: create it as a named task you own and cancel it
    to stop. Read `store` after ``await wait_for_sync()``.
    """

    def __init__(
        self,
        client: ApiClient,
        resource: ResourceInfo | str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
        watch_timeout_seconds: int = 300,
        clock: Clock | None = None,
        backoff_base: float = 0.8,
        backoff_cap: float = 30.0,
    ) -> None:
        if resync_period is not None and resync_period <= 0:
            raise ValueError(f"resync_period must be positive or None, got {resync_period}")
        self.client = client
        self.resource = resource_info(resource)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.watch_timeout_seconds = watch_timeout_seconds
        self.store = Indexer()
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._handlers: list[_Callbacks] = []
        self._synced = asyncio.Event()
        self._last_resource_version = ""
        self._relist_asked = asyncio.Event()  # set by catch_up: list afresh instead of watching on
        self.relists = 0  # lists after the first one: how often the watch could not continue

    def __repr__(self) -> str:
        scope = f" in {self.namespace}" if self.namespace else ""
        return f"<Informer {self.resource.group_resource}{scope} synced={self.has_synced}>"

    # --- the public surface ----------------------------------------------------------------

    def add_handler(
        self,
        on_add: Callable[[Object], None] | None = None,
        on_update: Callable[[Object, Object], None] | None = None,
        on_delete: Callable[[Object | DeletedFinalStateUnknown], None] | None = None,
    ) -> None:
        """Register callbacks; if the cache is already filled, `on_add` is called for each object now."""
        callbacks = _Callbacks(on_add, on_update, on_delete)
        self._handlers.append(callbacks)
        if self.has_synced and on_add is not None:
            for obj in self.store.list():
                self._call(on_add, obj)

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        self.store.add_indexer(name, fn)

    def get(self, key: str) -> Object | None:
        return self.store.get(key)

    def list(self) -> builtins.list[Object]:
        return self.store.list()

    def by_index(self, index_name: str, value: str) -> builtins.list[Object]:
        return self.store.by_index(index_name, value)

    @property
    def has_synced(self) -> bool:
        """True once the first list has been put in the cache."""
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        await self._synced.wait()

    @property
    def last_sync_resource_version(self) -> str:
        """The resourceVersion the cache reflects (of the last list, event or bookmark)."""
        return self._last_resource_version

    def reflects(self, revision: int) -> bool:
        """Whether the cache holds every change up to ``revision``, a resourceVersion of this
        cluster (its last list, event or bookmark is at or past it). The orchestrator's
        resourceVersions are one cluster-wide counter (docs/architecture.md), so any object's
        revision can be compared with any informer's."""
        try:
            return int(self._last_resource_version or 0) >= revision
        except ValueError:
            return False

    async def catch_up(self, revision: int, *, patience: float) -> bool:
        """Wait until the cache `reflects` ``revision``; a watch that has not brought it there
        within ``patience`` seconds (behind, or quiet until its next bookmark) is replaced by a
        fresh list, which is as new as the server. Returns whether it listed again.

        A controller manager that takes over the lead calls this with the Lease's handover
        revision (`LeaderElector.handover_revision`): what the old leader wrote before it stopped
        came before that, so no controller then acts on a cache that misses it (two creates for one missing pod). A quiet
        informer's watch moves only at its next bookmark, so it usually lists afresh."""
        if self.reflects(revision):
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(patience):
                while not self.reflects(revision):
                    await asyncio.sleep(CATCH_UP_POLL_SECONDS)
                return False
        log.info("%s: at resourceVersion %s after %.1fs, not yet %d: listing again",
                 self, self._last_resource_version or "-", patience, revision)
        self._relist_asked.set()
        while not self.reflects(revision):
            await asyncio.sleep(CATCH_UP_POLL_SECONDS)
        return True

    async def run(self) -> None:
        """List and watch until cancelled."""
        async with asyncio.TaskGroup() as tg:
            if self.resync_period is not None:
                tg.create_task(self._resync_loop(), name=f"informer-resync:{self.resource.group_resource}")
            await self._reflect()

    # --- the reflector ---------------------------------------------------------------------

    async def _reflect(self) -> None:
        failures = 0
        while True:
            try:
                # Cleared before the list, not after: an ask that comes while this list runs
                # (which may predate what the asker needs) makes the next one.
                self._relist_asked.clear()
                await self._list_and_replace()
                failures = 0
                await self._watch_until_asked()
            except Expired as err:
                # The history after our resourceVersion is gone: relist at once.
                log.info("%s: watch expired (%s); listing again", self, err.message)
            except ApiError as err:
                delay = min(self._backoff_base * 2**failures, self._backoff_cap)
                failures += 1
                level = logging.INFO if isinstance(err, Unavailable) else logging.WARNING
                log.log(level, "%s: %s; listing again in %.1fs", self, err, delay)
                await self._clock.sleep(delay)
            self.relists += 1

    async def _list_and_replace(self) -> None:
        items, resource_version = await self._list_in_pages()
        self._replace([self._with_type(item) for item in items])
        self._last_resource_version = resource_version
        self._synced.set()

    async def _list_in_pages(self) -> tuple[builtins.list[dict[str, Any]], str]:
        """The objects and the list's resourceVersion, read `LIST_PAGE_SIZE` at a time as client-go's
        reflector pages: each page is one short request, so relisting 30,000 pods never holds the
        API server for seconds, and the pages of one list are one snapshot (the continue token
        pins its revision). A token that expired mid-list means a full list, as client-go's pager."""
        items: builtins.list[dict[str, Any]] = []
        limit: int | None = LIST_PAGE_SIZE
        token: str | None = None
        while True:
            try:
                page = await self.client.list(self.resource, namespace=self.namespace,
                                              label_selector=self.label_selector, field_selector=self.field_selector,
                                              limit=limit, continue_=token)
            except Expired:
                if token is None:
                    raise
                log.info("%s: the list's snapshot expired between pages; listing in one request", self)
                items, limit, token = [], None, None
                continue
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                return items, (page.get("metadata") or {}).get("resourceVersion", "")

    async def _watch_until_asked(self) -> None:
        """`_watch_until_broken`, or return when `catch_up` asks for a fresh list."""
        watching = asyncio.ensure_future(self._watch_until_broken())
        asked = asyncio.ensure_future(self._relist_asked.wait())
        try:
            await asyncio.wait({watching, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watching, asked):
                task.cancel()
            await asyncio.gather(watching, asked, return_exceptions=True)
        if not watching.cancelled():
            watching.result()  # its Expired or ApiError: the reflector's to handle

    async def _watch_until_broken(self) -> None:
        """Watch, and watch again each time the server ends the stream normally.

        Returns never; raises `Expired` (410) or `Unavailable` (dropped) for a relist.
        """
        while True:
            started, events = self._clock.now(), 0
            async for type_, obj in self.client.watch(
                self.resource,
                namespace=self.namespace,
                resource_version=self._last_resource_version,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                timeout_seconds=self.watch_timeout_seconds,
                allow_bookmarks=True,
            ):
                events += 1
                self._apply(type_, obj)
            if events == 0 and self._clock.now() - started < 1.0:
                # A server that ends every watch at once would make this loop spin: treat a
                # "very short watch" as a failure, so the backoff applies (as client-go does).
                raise Unavailable(f"very short watch of {self.resource.group_resource}: ended at once")

    def _apply(self, type_: str, obj: Object) -> None:
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if type_ == "BOOKMARK":
            if rv:
                self._last_resource_version = rv
            return
        obj = self._with_type(obj)
        key = meta_namespace_key(obj)
        if type_ in ("ADDED", "MODIFIED"):
            old = self.store.get(key)
            self.store._put(key, obj)
            if old is None:
                self._notify_add(obj)
            else:
                self._notify_update(old, obj)
        elif type_ == "DELETED":
            self.store._pop(key)
            self._notify_delete(obj)
        else:
            log.warning("%s: ignoring a watch event of unknown type %r", self, type_)
        if rv:
            self._last_resource_version = rv

    def _replace(self, items: builtins.list[Object]) -> None:
        """Make the cache equal to `items`, reporting the difference (see the module docstring)."""
        fresh: dict[str, Object] = {meta_namespace_key(item): item for item in items}
        for key, obj in fresh.items():
            old = self.store.get(key)
            self.store._put(key, obj)
            if old is None:
                self._notify_add(obj)
            elif _rv(old) != _rv(obj):
                self._notify_update(old, obj)
        for key in [k for k in self.store.keys() if k not in fresh]:
            last_known = self.store._pop(key)
            assert last_known is not None
            self._notify_delete(DeletedFinalStateUnknown(key, last_known))

    async def _resync_loop(self) -> None:
        assert self.resync_period is not None
        await self.wait_for_sync()
        while True:
            await self._clock.sleep(self.resync_period)
            for obj in self.store.list():
                self._notify_update(obj, obj)

    def _with_type(self, obj: Object) -> Object:
        # List items come without kind/apiVersion; events and recorders need them.
        if "kind" not in obj or "apiVersion" not in obj:
            obj = {"apiVersion": self.resource.api_version, "kind": self.resource.kind, **obj}
        return obj

    # --- handler calls ---------------------------------------------------------------------

    def _notify_add(self, obj: Object) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _notify_update(self, old: Object, new: Object) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _notify_delete(self, obj: Object | DeletedFinalStateUnknown) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            # One broken handler must not stop the cache (or the other handlers) from updating.
            log.exception("%s: handler %r failed", self, fn)


def _rv(obj: Object) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


# --------------------------------------------------------------------------------------------
# The factory
# --------------------------------------------------------------------------------------------


InformerKey = tuple[str, str | None, str | None, str | None]


class SharedInformerFactory:
    """One informer per (resource, namespace, label selector, field selector), shared by all
    the controllers of a process, so each kind is listed and watched once.

    Ask for informers with `informer`, then run ``factory.run()`` as one owned task: it runs
    every informer (also those asked for later) until cancelled. ``await wait_for_sync()``
    waits for all of them to fill their caches.
    """

    def __init__(self, client: ApiClient, *, resync_period: float | None = None, **informer_options: Any) -> None:
        self.client = client
        self.resync_period = resync_period
        self._options = informer_options
        self._informers: dict[InformerKey, Informer] = {}
        self._added = asyncio.Event()

    def informer(
        self,
        resource: ResourceInfo | str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Informer:
        info = resource_info(resource)
        key: InformerKey = (info.group_resource, namespace, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(
                self.client,
                info,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                resync_period=self.resync_period,
                **self._options,
            )
            self._informers[key] = informer
            self._added.set()
        return informer

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    async def run(self) -> None:
        """Run every informer, starting ones added later too, until cancelled."""
        started: set[InformerKey] = set()
        async with asyncio.TaskGroup() as tg:
            while True:
                self._added.clear()
                for key, informer in list(self._informers.items()):
                    if key not in started:
                        started.add(key)
                        name = "informer:" + "/".join(k or "" for k in key).rstrip("/")
                        tg.create_task(informer.run(), name=name)
                await self._added.wait()

    async def wait_for_sync(self) -> None:
        await asyncio.gather(*(i.wait_for_sync() for i in self.informers))

    async def catch_up(self, revision: int, *, patience: float) -> list[Informer]:
        """`Informer.catch_up` for every informer, at once; returns those that listed again."""
        informers = self.informers
        relisted = await asyncio.gather(*(i.catch_up(revision, patience=patience) for i in informers))
        return [i for i, again in zip(informers, relisted, strict=True) if again]

    @property
    def has_synced(self) -> bool:
        return all(i.has_synced for i in self.informers)
