"""What each verb does to stored objects, independent of HTTP: the generic registry.

The routes parse the request and format the answer; everything between — the create and update
steps (rest.py, with the resource's strategy), optimistic concurrency, graceful deletion,
finalizers, the scale and status subresources — happens here, on plain JSON documents and the
store, the same way for every resource. Nothing here names a kind: what differs per resource is
asked of its strategy.

Deletion, as in Kubernetes:
- an object the strategy deletes *gracefully* (a pod bound to a node) gets ``deletionTimestamp``
  (now + grace period) and stays until its node agent has stopped the containers and deletes it
  again with grace period 0; an unbound or finished pod goes at once;
- an object with ``finalizers`` gets ``deletionTimestamp`` and stays until the last finalizer
  is removed by an update; the update that removes it completes the deletion;
- ``propagationPolicy`` is recorded the Kubernetes way for the garbage collector: Orphan adds
  the ``orphan`` finalizer, Foreground the ``foregroundDeletion`` finalizer, Background (the
  default) nothing — the collector deletes dependents once the owner is gone;
- an object whose strategy ``empties_before_delete`` (a namespace) with objects in it becomes
  Terminating; the namespace controller empties it.

Kubernetes equivalent: k8s.io/apiserver/pkg/registry/generic/registry/store.go,
k8s.io/apiserver/pkg/registry/rest/delete.go
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.api import strategicpatch as patching
from orchestrator.api.errors import AlreadyExists, BadRequest, Conflict, NotFound, Unavailable
from orchestrator.api.jsontext import check_storable_text
from orchestrator.api.resources import RESOURCES, ResourceInfo, by_group_resource
from orchestrator.api.selectors import FieldSelector, LabelSelector
from orchestrator.api.timestamps import parse_rfc3339
from orchestrator.apiserver import admission
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.fieldmanager import FieldManager, field_manager_for
from orchestrator.apiserver.registry import strategy_for
from orchestrator.apiserver.registry.rest import prepare_create, prepare_update
from orchestrator.apiserver.validation import Prepared, rfc3339
from orchestrator.storage.store import Claim, ClaimTaken, ListResult, Store, TextListResult, TypeMeta

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-node-lease", "kube-public")
_ALLOCATION_ATTEMPTS = 16


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.setdefault("metadata", {})


class NamespaceCache:
    """Namespaces looked up by every create. A short positive cache keeps that off the database,
    and one lookup per namespace at a time serves a burst of concurrent creates."""

    def __init__(self, store: Store, ttl_seconds: float = 5.0) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._seen: dict[str, tuple[float, dict[str, Any]]] = {}
        self._inflight: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def get(self, name: str) -> dict[str, Any]:
        hit = self._seen.get(name)
        if hit is not None and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        pending = self._inflight.get(name)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._inflight[name] = future
        try:
            ns = await self._store.get("namespaces", None, name)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must be told
            raise
        finally:
            self._inflight.pop(name, None)
        self._seen[name] = (time.monotonic(), ns)
        future.set_result(ns)
        return ns

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)


@dataclass
class Registry:
    store: Store
    namespaces: NamespaceCache
    admission: admission.Chain
    # The server's ResourceCatalog (app.py): what "every resource" means, custom ones included.
    catalog: Any = None
    # Resources whose objects hold unique values (services: ClusterIP, node ports), by group
    # resource: a ServiceAllocator (registry/serviceallocator.py) picks them; the store writes
    # them with the object (Kubernetes: the service REST's BeginCreate/BeginUpdate hooks).
    allocators: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_store(cls, store: Store) -> Registry:
        namespaces = NamespaceCache(store)
        return cls(store, namespaces, admission.default_chain(namespaces, store))

    # -- reads ------------------------------------------------------------------------------

    async def get(self, info: ResourceInfo, namespace: str | None, name: str) -> dict[str, Any]:
        return _with_type(info, await self.store.get(info.group_resource, namespace, name))

    async def list(self, info: ResourceInfo, *, namespace: str | None, label_selector: str | None,
                   field_selector: str | None, limit: int | None, continue_token: str | None) -> ListResult:
        return await self.store.list(info.group_resource, namespace=namespace, label_selector=label_selector,
                                     field_selector=field_selector, limit=limit, continue_token=continue_token)

    async def list_text(self, info: ResourceInfo, *, namespace: str | None, label_selector: LabelSelector | str | None,
                        field_selector: FieldSelector | str | None, limit: int | None,
                        continue_token: str | None) -> TextListResult:
        """`list` with each item as JSON text at the version asked (``info``), for a plain JSON answer."""
        # A custom resource is read at the version asked, whatever version wrote it (registry: `_with_type`).
        type_meta = TypeMeta(info.api_version, info.kind, replace=getattr(info, "strategy", None) is not None)
        return await self.store.list_text(info.group_resource, type_meta, namespace=namespace,
                                          label_selector=label_selector, field_selector=field_selector,
                                          limit=limit, continue_token=continue_token)

    # -- create -----------------------------------------------------------------------------

    async def create(self, info: ResourceInfo, namespace: str | None, body: Any, *, field_validation: str | None,
                     dry_run: bool = False, user: User | None = None, manager: str = "") -> Prepared:
        """Create ``body`` in ``namespace`` (the route has resolved it: the URL's, else the body's,
        else ``default``)."""
        if info.namespaced and not namespace:
            raise BadRequest(f"{info.plural} are namespaced: a namespace is required")
        # The mutating phase sees the body as sent (the strategy has not decoded it yet: any shape).
        sent = body if isinstance(body, dict) else {}
        sent_meta = sent.get("metadata") if isinstance(sent.get("metadata"), dict) else {}
        await self.admission.admit(admission.Attributes(
            "CREATE", user, info, None, {**sent, "metadata": {**sent_meta, "namespace": namespace}}, None))
        prepared = prepare_create(strategy_for(info), body, namespace=namespace if info.namespaced else None,
                                  field_validation=field_validation)
        await self.admission.validate(admission.Attributes("CREATE", user, info, None, prepared.obj, None,
                                                             dry_run=dry_run))
        _fields(info).record_create(prepared.obj, manager=manager, incoming=_managed_fields(body))
        return await self._store_create(info, prepared, dry_run=dry_run)

    async def _store_create(self, info: ResourceInfo, prepared: Prepared, *, dry_run: bool) -> Prepared:
        async def write(obj: dict[str, Any], claims: tuple[Claim, ...] | None) -> dict[str, Any]:
            if dry_run:
                return obj
            return await self.store.create(info.group_resource, obj, claims=claims)

        stored = await self._write_allocating(info, prepared.obj, None, write)
        if not dry_run:
            self._observed(info, stored)
        return Prepared(_with_type(info, stored), prepared.warnings)

    def _observed(self, info: ResourceInfo, stored: dict[str, Any]) -> None:
        """This process's own write reaches the admission listers at once, not a watch delivery later:
        a LimitRange created and then a pod at once must see it (apiserver/lister.py)."""
        for lister in self.admission.listers:
            if lister.resource == info.group_resource:
                lister.observe(stored)

    async def _write_allocating(
        self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None,
        write: Callable[[dict[str, Any], tuple[Claim, ...] | None], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """Write ``obj`` with the values its allocator picks and the claims it holds. A value
        picked here that another writer took meanwhile is picked again; one the client asked
        for is the allocator's 422."""
        allocator = self.allocators.get(info.group_resource)
        if allocator is None:
            return await write(obj, None)
        for _ in range(_ALLOCATION_ATTEMPTS):
            candidate = copy.deepcopy(obj)
            allocation = await allocator.allocate(candidate, old)
            try:
                return await write(candidate, allocation.claims)
            except ClaimTaken as taken:
                if not set(taken.held) <= allocation.picked:
                    raise allocator.refused(candidate, taken.held) from None
            finally:
                allocator.settle(allocation)
        raise Unavailable(f"could not allocate the values of {info.kind} "
                          f"{(obj.get('metadata') or {}).get('name')!r}: others took them {_ALLOCATION_ATTEMPTS} "
                          "times in a row; try again")

    # -- update and patch --------------------------------------------------------------------

    async def update(self, info: ResourceInfo, namespace: str | None, name: str, body: Any, *,
                     field_validation: str | None, subresource: str | None = None, dry_run: bool = False,
                     user: User | None = None, manager: str = "") -> Prepared:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        body_name = (body.get("metadata") or {}).get("name")
        if subresource != "scale" and body_name and body_name != name:
            raise BadRequest(f'the name of the object ({body_name}) does not match the name on the URL ({name})')
        old = await self.store.get(info.group_resource, namespace, name)
        prepared = prepare_update(strategy_for(info), old, body,
                                  field_validation=field_validation, subresource=subresource)
        await self.admission.validate(admission.Attributes("UPDATE", user, info, subresource, prepared.obj, old))
        _fields(info).record_update(old, prepared.obj, manager=manager, subresource=subresource,
                                    incoming=_managed_fields(body))
        return await self._write_update(info, prepared, old, dry_run=dry_run)

    async def patch(self, info: ResourceInfo, namespace: str | None, name: str, raw: bytes, *, content_type: str,
                    field_validation: str | None, subresource: str | None = None, dry_run: bool = False,
                    user: User | None = None, manager: str = "") -> Prepared:
        for attempt in range(8):
            old = await self.store.get(info.group_resource, namespace, name)
            base = strategy_for(info).to_scale(old) if subresource == "scale" else _with_type(info, copy.deepcopy(old))
            kind = "Scale" if subresource == "scale" else info.kind
            patched = patching.apply_patch(base, raw, content_type=content_type, kind=kind)
            check_storable_text(patched)
            if subresource != "scale":
                # a patch that does not name a resourceVersion applies to what we read
                _meta(patched).setdefault("resourceVersion", _meta(old)["resourceVersion"])
            elif not (patched.get("metadata") or {}).get("resourceVersion"):
                _meta(patched)["resourceVersion"] = _meta(old)["resourceVersion"]
            prepared = prepare_update(strategy_for(info), old, patched,
                                      field_validation=field_validation, subresource=subresource)
            await self.admission.validate(admission.Attributes("UPDATE", user, info, subresource, prepared.obj, old))
            _fields(info).record_update(old, prepared.obj, manager=manager, subresource=subresource,
                                        incoming=None if subresource == "scale" else _managed_fields(patched))
            try:
                return await self._write_update(info, prepared, old, dry_run=dry_run)
            except Conflict:
                # A patch without a precondition is retried on a fresh read, like kube-apiserver.
                if _patch_names_resource_version(raw) or attempt == 7:
                    raise
                await asyncio.sleep(0.001 * 2**attempt)
        raise AssertionError("unreachable")

    async def apply(self, info: ResourceInfo, namespace: str | None, name: str, raw: bytes, *, manager: str,
                    force: bool, field_validation: str | None, subresource: str | None = None,
                    dry_run: bool = False, user: User | None = None,
                    authorize_create: Callable[[], Awaitable[None]] | None = None) -> tuple[Prepared, bool]:
        """Server-side apply: merge the configuration in ``raw`` into the object, or create it.
        Returns the result and whether it was created (201). The field manager merges and
        prunes, the strategy prepares the result as for any update, then the field manager
        decides conflicts against what will be stored (fieldmanager/manager.py)."""
        if subresource not in (None, "status"):
            raise BadRequest(f"server-side apply is not supported on {info.plural}/{subresource}")
        config = patching.decode_apply(raw)
        fields = _fields(info)
        for attempt in range(8):
            try:
                old = await self.store.get(info.group_resource, namespace, name)
            except NotFound:
                if subresource:
                    raise
                if authorize_create is not None:
                    await authorize_create()  # an apply that creates needs the right to create
                try:
                    return await self._apply_create(info, namespace, name, config, manager=manager,
                                                    field_validation=field_validation, dry_run=dry_run,
                                                    user=user), True
                except AlreadyExists:
                    continue  # created meanwhile: apply to it
            plan = fields.begin_apply(_with_type(info, copy.deepcopy(old)), config, manager=manager,
                                      subresource=subresource)
            check_storable_text(plan.obj)
            _meta(plan.obj).setdefault("resourceVersion", _meta(old)["resourceVersion"])
            prepared = prepare_update(strategy_for(info), old, plan.obj,
                                      field_validation=field_validation, subresource=subresource)
            await self.admission.validate(admission.Attributes("UPDATE", user, info, subresource, prepared.obj, old))
            fields.finish_apply(plan, prepared.obj, force=force, subresource=subresource)
            if _unchanged(prepared.obj, old):
                # Re-applying what is there writes nothing: no new revision, no watch event.
                return Prepared(_with_type(info, old), prepared.warnings), False
            try:
                return await self._write_update(info, prepared, old, dry_run=dry_run), False
            except Conflict:
                named = (config.get("metadata") or {}).get("resourceVersion") if isinstance(config, dict) else None
                if named or attempt == 7:
                    raise
                await asyncio.sleep(0.001 * 2**attempt)
        raise AssertionError("unreachable")

    async def _apply_create(self, info: ResourceInfo, namespace: str | None, name: str, config: Any, *,
                            manager: str, field_validation: str | None, dry_run: bool,
                            user: User | None) -> Prepared:
        fields = _fields(info)
        plan = fields.begin_apply(None, config, manager=manager)
        meta = _meta(plan.obj)
        if meta.get("name") and meta["name"] != name:
            raise BadRequest(f'the name of the object ({meta["name"]}) does not match the name on the URL ({name})')
        meta["name"] = name
        if info.namespaced and not namespace:
            raise BadRequest(f"{info.plural} are namespaced: a namespace is required")
        check_storable_text(plan.obj)
        await self.admission.admit(admission.Attributes(
            "CREATE", user, info, None, {**plan.obj, "metadata": {**meta, "namespace": namespace}}, None))
        prepared = prepare_create(strategy_for(info), plan.obj, namespace=namespace if info.namespaced else None,
                                  field_validation=field_validation)
        await self.admission.validate(admission.Attributes("CREATE", user, info, None, prepared.obj, None,
                                                             dry_run=dry_run))
        fields.finish_apply(plan, prepared.obj, force=False)
        return await self._store_create(info, prepared, dry_run=dry_run)

    async def _write_update(self, info: ResourceInfo, prepared: Prepared, old: dict[str, Any], *,
                            dry_run: bool) -> Prepared:
        obj = prepared.obj
        meta = _meta(obj)
        if not meta.get("resourceVersion"):
            meta["resourceVersion"] = _meta(old)["resourceVersion"]  # PUT without one: unconditional, as in k8s
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not meta.get("deletionGracePeriodSeconds"):
            if dry_run:
                return Prepared(_with_type(info, obj), prepared.warnings)
            # The last finalizer is gone: the update completes the deletion.
            deleted = await self.store.delete(info.group_resource, meta.get("namespace"), meta["name"],
                                              expected_revision=int(meta["resourceVersion"]))
            return Prepared(_with_type(info, deleted), prepared.warnings)

        async def write(new: dict[str, Any], claims: tuple[Claim, ...] | None) -> dict[str, Any]:
            if dry_run:
                return new
            return await self.store.update(info.group_resource, new, claims=claims)

        stored = await self._write_allocating(info, obj, old, write)
        if not dry_run:
            self._observed(info, stored)
        return Prepared(_with_type(info, stored), prepared.warnings)

    # -- delete -----------------------------------------------------------------------------

    async def delete(self, info: ResourceInfo, namespace: str | None, name: str, options: dict[str, Any], *,
                     dry_run: bool = False, user: User | None = None) -> tuple[dict[str, Any], bool]:
        """Delete (or start deleting) an object. Returns (the object, whether it is gone)."""
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool) or grace < 0):
            raise BadRequest("gracePeriodSeconds must be a non-negative integer")
        policy = options.get("propagationPolicy")
        if options.get("orphanDependents") is True and policy is None:
            policy = "Orphan"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise BadRequest(f'propagationPolicy "{policy}" is not supported: use Orphan, Background or Foreground')
        preconditions = options.get("preconditions") or {}
        for attempt in range(8):
            obj = await self.store.get(info.group_resource, namespace, name)
            meta = _meta(obj)
            if preconditions.get("uid") and preconditions["uid"] != meta.get("uid"):
                raise Conflict(f'Precondition failed: UID in precondition: {preconditions["uid"]}, UID in object meta: {meta.get("uid")}',
                               kind=info.plural, name=name)
            if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != meta.get("resourceVersion"):
                raise Conflict(f'Precondition failed: ResourceVersion in precondition: {preconditions["resourceVersion"]}, '
                               f'ResourceVersion in object meta: {meta.get("resourceVersion")}', kind=info.plural, name=name)
            await self.admission.validate(admission.Attributes("DELETE", user, info, None, obj, None))
            try:
                return await self._delete_once(info, obj, grace=grace, policy=policy, dry_run=dry_run)
            except Conflict:
                if preconditions or attempt == 7:
                    raise
        raise AssertionError("unreachable")

    async def _delete_once(self, info: ResourceInfo, obj: dict[str, Any], *, grace: int | None, policy: str | None,
                           dry_run: bool) -> tuple[dict[str, Any], bool]:
        meta = _meta(obj)
        rv = int(meta["resourceVersion"])
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp") is None:
            if policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
        strategy = strategy_for(info)
        period = strategy.graceful_delete_seconds(obj, grace)
        if strategy.empties_before_delete and not await self._namespace_empty(meta["name"]):
            return await self._mark_deleting(info, obj, finalizers, grace_seconds=0, terminating=True, dry_run=dry_run)
        if period:
            current = meta.get("deletionGracePeriodSeconds")
            if meta.get("deletionTimestamp") and current is not None and current <= period:
                return _with_type(info, obj), False  # already terminating at least this fast
            return await self._mark_deleting(info, obj, finalizers, grace_seconds=period, dry_run=dry_run)
        if finalizers:
            if meta.get("deletionTimestamp") and meta.get("finalizers") == finalizers and not meta.get("deletionGracePeriodSeconds"):
                return _with_type(info, obj), False
            return await self._mark_deleting(info, obj, finalizers, grace_seconds=0, dry_run=dry_run)
        if dry_run:
            return _with_type(info, obj), True
        deleted = await self.store.delete(info.group_resource, meta.get("namespace"), meta["name"], expected_revision=rv)
        if strategy.empties_before_delete:
            self.namespaces.forget(meta["name"])
        return _with_type(info, deleted), True

    async def _mark_deleting(self, info: ResourceInfo, obj: dict[str, Any], finalizers: list[str], *,
                             grace_seconds: int, terminating: bool = False, dry_run: bool) -> tuple[dict[str, Any], bool]:
        meta = _meta(obj)
        if not meta.get("deletionTimestamp") or grace_seconds < (meta.get("deletionGracePeriodSeconds") or 0):
            meta["deletionTimestamp"] = rfc3339(datetime.now(UTC) + timedelta(seconds=grace_seconds))
        meta["deletionGracePeriodSeconds"] = grace_seconds
        if finalizers:
            meta["finalizers"] = finalizers
        if terminating:
            obj.setdefault("status", {})["phase"] = "Terminating"
            self.namespaces.forget(meta["name"])
        if dry_run:
            return _with_type(info, obj), False
        stored = await self.store.update(info.group_resource, obj)
        return _with_type(info, stored), False

    async def _namespace_empty(self, namespace: str) -> bool:
        served = self.catalog.resources() if self.catalog is not None else RESOURCES
        seen: set[str] = set()
        for r in served:
            if r.group_resource in seen:
                continue  # the versions of one resource share their objects
            seen.add(r.group_resource)
            if r.namespaced and (await self.store.list(r.group_resource, namespace=namespace, limit=1)).items:
                return False
        return True

    # -- system objects ---------------------------------------------------------------------

    async def ensure_system_namespaces(self) -> None:
        info = by_group_resource("namespaces")
        for name in SYSTEM_NAMESPACES:
            try:
                await self.store.get("namespaces", None, name)
            except NotFound:
                obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                try:
                    await self.store.create("namespaces", prepare_create(strategy_for(info), obj, namespace=None,
                                                                               field_validation="Strict").obj)
                except AlreadyExists:
                    pass  # another API server made it first

    async def expire_events(self, ttl_seconds: int) -> int:
        """Delete core/v1 Events not seen for ``ttl_seconds`` (kube-apiserver's --event-ttl)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=ttl_seconds)
        removed = 0
        result = await self.store.list("events")
        for ev in result.items:
            stamp = ev.get("lastTimestamp") or ev.get("eventTime") or _meta(ev).get("creationTimestamp")
            try:
                when = parse_rfc3339(str(stamp))
            except ValueError:
                continue
            if when < cutoff:
                try:
                    await self.store.delete("events", _meta(ev)["namespace"], _meta(ev)["name"],
                                            expected_revision=int(_meta(ev)["resourceVersion"]))
                    removed += 1
                except (NotFound, Conflict):
                    pass
        return removed


def _with_type(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    if getattr(info, "strategy", None) is not None:
        # A custom object is stored at its CRD's storage version and read at the version asked
        # for: conversion "None" changes only apiVersion (apiextensions' nopConverter).
        obj["apiVersion"] = info.api_version
    obj.setdefault("apiVersion", info.api_version)
    obj.setdefault("kind", info.kind)
    return obj


def _fields(info: ResourceInfo) -> FieldManager:
    custom = getattr(info, "strategy", None)
    if custom is not None:
        return custom.field_manager()  # type: ignore[no-any-return]  # lists typed by the CRD's schema
    return field_manager_for(info.kind, info.api_version, "status" in info.subresources)


def _unchanged(new: dict[str, Any], old: dict[str, Any]) -> bool:
    def body(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}

    return body(new) == body(old)


def _managed_fields(body: Any) -> Any:
    """The managedFields a request body carries (the strategy drops them; the field manager decides)."""
    meta = body.get("metadata") if isinstance(body, dict) else None
    return meta.get("managedFields") if isinstance(meta, dict) else None


def _patch_names_resource_version(raw: bytes) -> bool:
    return b'"resourceVersion"' in raw
