"""The resources one API server serves right now: the built-ins plus every Established CRD's versions.

``orchestrator.api.resources.RESOURCES`` is fixed at import; CustomResourceDefinitions add
resources while the server runs. The catalog is the one place routing, discovery, OpenAPI and
storage ask "which resources exist?", so a new CRD appears in all of them at once.

Invariants:
- The catalog learns CRDs only from the store: a list, then the watch of
  ``customresourcedefinitions.apiextensions.k8s.io`` (``follow_crds``). A write through this server
  and a write through another API server reach it the same way, so every server converges on
  the same catalog within the watch's latency; none trusts its own writes.
- Built-ins always win: a CRD whose group/plural a built-in serves is not served (Kubernetes
  forbids the groups of built-ins the same way). Between CRDs, the older one (by
  creationTimestamp, then name) wins a plural, kind or short name; the loser is listed in
  ``conflicts`` with the reason, as upstream's NamesAccepted=False condition says.
- Only versions with ``served: true`` of a CRD whose ``Established`` condition is True are served.
  A CRD being deleted (``Terminating``) stays in the catalog so its instances can be listed and
  deleted, but ``terminating`` is set and creates are refused.
- ``generation`` grows by one on every change: caches of documents derived from the catalog
  (OpenAPI, discovery) compare it instead of recomputing on each request.

Kubernetes equivalent: k8s.io/apiextensions-apiserver/pkg/apiserver/customresource_handler.go
(crdHandler's crdInfo map, updated by the CRD informer), .../controller/openapi, .../controller/apiapproval
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.api.errors import ApiError, Conflict, Expired, NotFound
from orchestrator.api.resources import ALL_VERBS, CONVERTED_VERSIONS, RESOURCES, ResourceInfo
from orchestrator.apiserver.registry.apiextensions import CLEANUP_FINALIZER
from orchestrator.apiserver.registry.customresource import CustomResourceStrategy, CustomResourceVersion
from orchestrator.apiserver.validation import rfc3339

log = logging.getLogger("orchestrator.apiserver.catalog")

CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key, most preferred first: GA before beta before alpha, higher numbers first, other
    names last alphabetically (v2 < v1 < v1beta2 < v1beta1 < v1alpha1 < foo)."""
    match = _VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, level, minor = int(match.group(1)), match.group(2), int(match.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[level]
    return (rank, -major, -minor, version)


def established(crd: Mapping[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions if isinstance(c, Mapping))


def _fingerprint(served: Mapping[tuple[str, str, str], _Served]) -> str:
    """What a served version is, as comparable text (the info and strategy refer to each other)."""
    described = {}
    for key, s in served.items():
        version = {f.name: getattr(s.version, f.name) for f in dataclasses.fields(s.version) if f.name != "info"}
        version["info"] = [getattr(s.version.info, f.name) for f in dataclasses.fields(ResourceInfo)]
        described["/".join(key)] = version
    return json.dumps(described, sort_keys=True, default=str)


@dataclass(frozen=True)
class CustomResourceInfo(ResourceInfo):
    """A ResourceInfo served because of a CRD. It carries its strategy, so code that only has
    the info (routing → registry → tables) finds the strategy without asking the catalog again."""

    strategy: CustomResourceStrategy | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def version_of_crd(self) -> CustomResourceVersion:
        assert self.strategy is not None
        return self.strategy.version


def _crd_order(crd: Mapping[str, Any]) -> tuple[str, str]:
    meta = crd.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


@dataclass(frozen=True)
class _Served:
    version: CustomResourceVersion
    strategy: CustomResourceStrategy


class ResourceCatalog:
    """Built-in resources plus the served versions of the Established CRDs (see module doc)."""

    def __init__(self, builtins: Sequence[ResourceInfo] = RESOURCES + CONVERTED_VERSIONS) -> None:
        self._builtins = tuple(builtins)
        # first wins: a resource's stored version comes before the versions converted to it
        self._builtin_by_gr = {r.group_resource: r for r in reversed(self._builtins)}
        self._crds: dict[str, dict[str, Any]] = {}
        self._served: dict[tuple[str, str, str], _Served] = {}  # (group, version, plural)
        self._resources: tuple[ResourceInfo, ...] = self._builtins
        self._by_group_resource: dict[str, ResourceInfo] = dict(self._builtin_by_gr)
        self._index()
        self.conflicts: dict[str, str] = {}
        self.generation = 0
        self._listeners: list[Callable[[], None]] = []

    # --- changes ------------------------------------------------------------------------------

    def apply(self, event_type: str, crd: Mapping[str, Any]) -> bool:
        """A watch event of a CRD (ADDED, MODIFIED, DELETED). Returns whether the catalog changed."""
        name = (crd.get("metadata") or {}).get("name")
        if not name:
            return False
        if event_type == "DELETED":
            if self._crds.pop(name, None) is None:
                return False
        else:
            self._crds[name] = dict(crd)
        return self._rebuild()

    def replace(self, crds: Iterable[Mapping[str, Any]]) -> bool:
        """The result of a list: exactly these CRDs exist."""
        self._crds = {c["metadata"]["name"]: dict(c) for c in crds if (c.get("metadata") or {}).get("name")}
        return self._rebuild()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every change (cache invalidation; never I/O)."""
        self._listeners.append(listener)

    def _rebuild(self) -> bool:
        served: dict[tuple[str, str, str], _Served] = {}
        conflicts: dict[str, str] = {}
        taken: dict[tuple[str, str], str] = {}  # (group, plural|kind|shortName) -> CRD name
        for crd in sorted(self._crds.values(), key=_crd_order):
            name = crd["metadata"]["name"]
            spec = crd.get("spec") or {}
            group, names = spec.get("group") or "", spec.get("names") or {}
            plural, kind = names.get("plural"), names.get("kind")
            if not plural or not kind or not group:
                continue
            if f"{plural}.{group}" in self._builtin_by_gr or any(r.group == group for r in self._builtins):
                conflicts[name] = f"the group {group!r} is served by this API server's built-in resources"
                continue
            wanted = [("plural", plural), ("kind", kind), *[("shortName", s) for s in names.get("shortNames") or []]]
            clash = next(((what, value) for what, value in wanted if (group, value.lower()) in taken), None)
            if clash is not None:
                conflicts[name] = f'{clash[0]} "{clash[1]}" is already in use by {taken[(group, clash[1].lower())]}'
                continue
            for _, value in wanted:
                taken[(group, value.lower())] = name
            if not established(crd):
                continue  # its names are reserved, but it is not served (yet)
            for version in self._versions_of(crd):
                assert isinstance(version.info, CustomResourceInfo) and version.info.strategy is not None
                served[(group, version.info.version, plural)] = _Served(version, version.info.strategy)
        before = _fingerprint(self._served)
        self._served, self.conflicts = served, conflicts
        if _fingerprint(served) == before:
            return False
        custom = sorted(served.values(), key=lambda s: (s.version.info.group, version_priority(s.version.info.version),
                                                        s.version.info.plural))
        self._resources = self._builtins + tuple(s.version.info for s in custom)
        by_gr = dict(self._builtin_by_gr)
        for s in custom:
            gr = s.version.info.group_resource
            # the storage version answers for the resource as a whole (store keys, messages)
            if gr not in by_gr or s.version.info.version == s.version.storage_version:
                by_gr[gr] = s.version.info
        self._by_group_resource = by_gr
        self._index()
        self.generation += 1
        for listener in self._listeners:
            listener()
        return True

    def _index(self) -> None:
        """Lookups by path are on every request's path: dictionaries, first (preferred) wins."""
        self._by_path: dict[tuple[str, str, str], ResourceInfo] = {}
        self._by_group_plural: dict[tuple[str, str], ResourceInfo] = {}
        for r in self._resources:
            self._by_path.setdefault((r.group, r.version, r.plural), r)
            self._by_group_plural.setdefault((r.group, r.plural), r)

    @staticmethod
    def _versions_of(crd: Mapping[str, Any]) -> list[CustomResourceVersion]:
        meta = crd.get("metadata") or {}
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        versions = [v for v in spec.get("versions") or [] if isinstance(v, Mapping)]
        storage = next((v.get("name") for v in versions if v.get("storage")), "")
        out = []
        for v in versions:
            if not v.get("served") or not v.get("name"):
                continue
            subresources = v.get("subresources") or {}
            subs = tuple(s for s in ("scale", "status") if subresources.get(s) is not None)
            info = CustomResourceInfo(
                spec["group"], v["name"], names["plural"], names.get("singular") or names["kind"].lower(), names["kind"],
                spec.get("scope") == "Namespaced", tuple(names.get("shortNames") or ()),
                tuple(names.get("categories") or ()), subs, ALL_VERBS, names.get("listKind") or f"{names['kind']}List",
            )
            version = CustomResourceVersion(
                info=info,
                crd_name=meta.get("name", ""),
                schema=((v.get("schema") or {}).get("openAPIV3Schema") or {"type": "object",
                                                                            "x-kubernetes-preserve-unknown-fields": True}),
                storage_version=storage,
                status_subresource="status" in subs,
                scale=subresources.get("scale"),
                printer_columns=tuple(v.get("additionalPrinterColumns") or ()),
                deprecated=bool(v.get("deprecated")),
                deprecation_warning=v.get("deprecationWarning"),
                terminating=bool(meta.get("deletionTimestamp")),
                crd_resource_version=str(meta.get("resourceVersion") or ""),
                selectable_fields=tuple(f.get("jsonPath", "") for f in v.get("selectableFields") or []),
            )
            # The info and its strategy refer to each other: set once, here, before anyone sees them.
            object.__setattr__(info, "strategy", CustomResourceStrategy(version))
            out.append(version)
        return out

    # --- questions ----------------------------------------------------------------------------

    def resources(self) -> tuple[ResourceInfo, ...]:
        """Every served resource version: built-ins first, then custom ones by group and preference."""
        return self._resources

    def groups(self) -> list[tuple[str, str]]:
        """(group, version) pairs served, core first, each group's versions in preference order."""
        seen: list[tuple[str, str]] = []
        for r in self._resources:
            if (r.group, r.version) not in seen:
                seen.append((r.group, r.version))
        return seen

    def lookup(self, group: str, plural: str, version: str | None = None) -> ResourceInfo | None:
        """The resource at ``/apis/<group>/<version>/<plural>`` (the preferred version when None)."""
        if version is None:
            return self._by_group_plural.get((group, plural))
        return self._by_path.get((group, version, plural))

    def by_group_resource(self, group_resource: str) -> ResourceInfo:
        """``pods``, ``crontabs.stable.example.com``: the storage view of a resource (KeyError if none)."""
        try:
            return self._by_group_resource[group_resource]
        except KeyError:
            raise KeyError(f"unknown resource {group_resource!r}") from None

    def by_kind(self, api_version: str, kind: str) -> ResourceInfo | None:
        for r in self._resources:
            if r.api_version == api_version and r.kind == kind:
                return r
        return None

    def custom(self, info: ResourceInfo) -> CustomResourceVersion | None:
        """The CRD version behind ``info``; None for a built-in."""
        served = self._served.get((info.group, info.version, info.plural))
        return served.version if served else None

    def strategy(self, info: ResourceInfo) -> CustomResourceStrategy | None:
        served = self._served.get((info.group, info.version, info.plural))
        return served.strategy if served else None

    def custom_versions(self, group: str, version: str) -> list[CustomResourceVersion]:
        return [s.version for (g, v, _), s in sorted(self._served.items()) if (g, v) == (group, version)]

    def crds(self) -> list[dict[str, Any]]:
        return [self._crds[n] for n in sorted(self._crds)]

    def naming_updates(self) -> list[tuple[str, bool, str]]:
        """(CRD name, names accepted?, message) for each CRD whose NamesAccepted condition says
        otherwise than the catalog found: what the naming controller has to write."""
        updates = []
        for crd in self.crds():
            meta = crd.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                continue
            conditions = (crd.get("status") or {}).get("conditions") or []
            current = next((c.get("status") for c in conditions if isinstance(c, Mapping)
                            and c.get("type") == "NamesAccepted"), None)
            conflict = self.conflicts.get(meta.get("name", ""))
            if (conflict is None) != (current == "True"):
                updates.append((meta["name"], conflict is None, conflict or "no conflicts found"))
        return updates

    def terminating_crds(self) -> list[dict[str, Any]]:
        return [c for c in self.crds() if (c.get("metadata") or {}).get("deletionTimestamp")
                and CLEANUP_FINALIZER in ((c.get("metadata") or {}).get("finalizers") or [])]


# --- keeping the catalog current, and cleaning up after deleted CRDs ---------------------------------------


async def follow_crds(catalog: ResourceCatalog, store: Any, watch_cache: Any, *,
                      on_terminating: Callable[[dict[str, Any]], Any] | None = None,
                      on_names: Callable[[str, bool, str], Any] | None = None,
                      retry_seconds: float = 1.0) -> None:
    """List the CRDs, then watch them for ever, feeding the catalog (run as a named task).

    On Expired or any storage error it lists again: a relist replaces the catalog's CRDs, so a
    missed deletion cannot leave a resource behind. ``on_terminating`` is called with every CRD
    seen with a deletionTimestamp and the cleanup finalizer (after a relist, again)."""
    while True:
        try:
            listed = await store.list(CRD_RESOURCE)
            catalog.replace(listed.items)
            if on_terminating is not None:
                for crd in catalog.terminating_crds():
                    on_terminating(crd)
            if on_names is not None:
                for update in catalog.naming_updates():
                    on_names(*update)
            async for event in watch_cache.watch(CRD_RESOURCE, since=listed.revision):
                catalog.apply(event.type, event.object)
                if on_names is not None:
                    for update in catalog.naming_updates():
                        on_names(*update)
                meta = event.object.get("metadata") or {}
                if on_terminating is not None and event.type != "DELETED" and meta.get("deletionTimestamp") \
                        and CLEANUP_FINALIZER in (meta.get("finalizers") or []):
                    on_terminating(event.object)
        except asyncio.CancelledError:
            raise
        except Expired:
            log.info("CRD watch expired; listing again")
        except (ApiError, OSError) as exc:
            log.warning("CRD watch failed (%s); listing again in %.1fs", exc, retry_seconds)
            await asyncio.sleep(retry_seconds)


async def serve_catalog(catalog: ResourceCatalog, store: Any, watch_cache: Any) -> None:
    """What an API server runs for its catalog: follow the CRDs and clean up after deleted ones.

    One cleanup task per terminating CRD at a time (named ``crd-cleanup:<name>``), all cancelled
    when this task is."""
    cleanups: dict[str, asyncio.Task[Any]] = {}

    def start(kind: str, name: str, work: Any) -> None:
        key = f"{kind}:{name}"
        running = cleanups.get(key)
        if running is not None and not running.done():
            work.close()  # one at a time per CRD: the running one sees the latest state
            return
        cleanups[key] = asyncio.create_task(work, name=key)

    def start_cleanup(crd: dict[str, Any]) -> None:
        start("crd-cleanup", crd["metadata"]["name"], cleanup_crd(catalog, store, crd))

    def write_names(name: str, accepted: bool, message: str) -> None:
        start("crd-names", name, write_names_accepted(store, name, accepted=accepted, message=message))

    try:
        await follow_crds(catalog, store, watch_cache, on_terminating=start_cleanup, on_names=write_names)
    finally:
        for task in cleanups.values():
            task.cancel()
        await asyncio.gather(*cleanups.values(), return_exceptions=True)


async def write_names_accepted(store: Any, name: str, *, accepted: bool, message: str) -> None:
    """The naming controller's write: NamesAccepted (and Established with it) True, or False
    with the conflict named. Idempotent; another API server may have written it already."""
    now = rfc3339(datetime.now(UTC))
    wanted = {
        "NamesAccepted": ("True", "NoConflicts", "no conflicts found") if accepted else
        ("False", "NameConflicts", message),
        "Established": ("True", "InitialNamesAccepted", "the initial names have been accepted") if accepted else
        ("False", "NotAccepted", "not all names are accepted"),
    }

    def mutate(crd: dict[str, Any]) -> dict[str, Any] | None:
        status = crd.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        current = {c.get("type"): (c.get("status"), c.get("reason"), c.get("message")) for c in conditions}
        if all(current.get(t) == w for t, w in wanted.items()):
            return None
        others = [c for c in conditions if c.get("type") not in wanted]
        status["conditions"] = [{"type": t, "status": w[0], "lastTransitionTime": now, "reason": w[1], "message": w[2]}
                                for t, w in wanted.items()] + others
        return crd

    try:
        await store.guaranteed_update(CRD_RESOURCE, None, name, mutate)
    except NotFound:
        pass


async def cleanup_crd(catalog: ResourceCatalog, store: Any, crd: Mapping[str, Any], *,
                      poll_seconds: float = 0.5, patience_seconds: float = 300.0) -> bool:
    """Delete every instance of a CRD being deleted, then remove its cleanup finalizer.

    Instances with finalizers of their own (an operator's) are marked deleted and waited for, as
    upstream's finalizer controller requeues until the list is empty. Safe to run in several API
    servers at once: NotFound and Conflict mean another got there first. Returns whether the
    finalizer was removed."""
    meta = crd.get("metadata") or {}
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group_resource = f"{names.get('plural')}.{spec.get('group')}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_seconds
    while True:
        try:
            catalog.by_group_resource(group_resource)
        except KeyError:
            break  # never served (not Established): nothing can be stored under it
        items = (await store.list(group_resource)).items
        if not items:
            break
        for item in items:
            await _delete_instance(store, group_resource, item)
        if loop.time() > deadline:
            log.warning("CRD %s: %d instances still have finalizers after %.0fs", meta.get("name"), len(items),
                        patience_seconds)
            return False
        await asyncio.sleep(poll_seconds)
    return await _remove_finalizer(store, meta["name"])


async def _delete_instance(store: Any, group_resource: str, item: dict[str, Any]) -> None:
    meta = item.get("metadata") or {}
    try:
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = rfc3339(datetime.now(UTC))
                meta["deletionGracePeriodSeconds"] = 0
                await store.update(group_resource, item)
            return
        await store.delete(group_resource, meta.get("namespace"), meta["name"],
                           expected_revision=int(meta["resourceVersion"]))
    except (NotFound, Conflict):
        pass  # changed or gone meanwhile: the next round sees its new state


async def _remove_finalizer(store: Any, name: str) -> bool:
    for _ in range(8):
        try:
            crd = await store.get(CRD_RESOURCE, None, name)
        except NotFound:
            return True
        meta = crd.setdefault("metadata", {})
        finalizers = [f for f in meta.get("finalizers") or [] if f != CLEANUP_FINALIZER]
        try:
            if not finalizers and meta.get("deletionTimestamp"):
                await store.delete(CRD_RESOURCE, None, name, expected_revision=int(meta["resourceVersion"]))
            else:
                meta["finalizers"] = finalizers
                await store.update(CRD_RESOURCE, crd)
            return True
        except NotFound:
            return True
        except Conflict:
            continue
    return False


__all__ = ["CRD_RESOURCE", "ResourceCatalog", "cleanup_crd", "serve_catalog", "write_names_accepted", "established", "follow_crds", "version_priority"]
