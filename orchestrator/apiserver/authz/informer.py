"""Keeps the API server's ``RBACCache`` current: list each RBAC kind, then watch it.

One loop per kind (Role, ClusterRole, RoleBinding, ClusterRoleBinding), each the informer
pattern of client-go's reflector: list (``cache.load(kind=...)``) at a revision, watch from that
revision (``cache.apply``), and list again when the watch history is gone (Expired) or storage
hiccups. The API server reads its own store and watch cache, not its HTTP API, as
kube-apiserver's RBAC authorizer reads its own informers.

Until every kind has been listed once the cache is not ``synced``; the server should wait for
``wait_synced`` before serving, or early requests would be denied for want of bindings.

Kubernetes equivalent: k8s.io/client-go/tools/cache/reflector.go (as used by
plugin/pkg/auth/authorizer/rbac through the shared informers of kube-apiserver)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from orchestrator.api.errors import Expired, Unavailable
from orchestrator.api.resources import RBAC_GROUP
from orchestrator.apiserver.authz.rbac import KINDS, RBACCache

log = logging.getLogger(__name__)

RESOURCES = {
    "Role": f"roles.{RBAC_GROUP}",
    "ClusterRole": f"clusterroles.{RBAC_GROUP}",
    "RoleBinding": f"rolebindings.{RBAC_GROUP}",
    "ClusterRoleBinding": f"clusterrolebindings.{RBAC_GROUP}",
}


class Event(Protocol):
    type: str
    object: dict[str, Any]
    revision: int


Lister = Callable[[str], Awaitable[tuple[list[dict[str, Any]], int]]]
Watcher = Callable[[str, int], AsyncIterator[Event]]


class RBACInformer:
    """Feeds ``cache`` from ``list_objects(resource) -> (items, revision)`` and
    ``watch(resource, since) -> events`` (the store and the watch cache; fakes in tests)."""

    def __init__(self, cache: RBACCache, *, list_objects: Lister, watch: Watcher,
                 retry_seconds: float = 1.0) -> None:
        self.cache = cache
        self._list = list_objects
        self._watch = watch
        self._retry = retry_seconds
        self._synced = asyncio.Event()

    @classmethod
    def for_storage(cls, cache: RBACCache, store: Any, watch_cache: Any) -> RBACInformer:
        """The informer of an API server process: ``orchestrator.storage`` Store and WatchCache."""

        async def list_objects(resource: str) -> tuple[list[dict[str, Any]], int]:
            result = await store.list(resource)
            return result.items, result.revision

        def watch(resource: str, since: int) -> AsyncIterator[Event]:
            return watch_cache.watch(resource, since=since)

        return cls(cache, list_objects=list_objects, watch=watch)

    async def run(self) -> None:
        """Run until cancelled: one named task per kind."""
        async with asyncio.TaskGroup() as group:
            for kind in KINDS:
                group.create_task(self._run_kind(kind), name=f"rbac-informer-{kind}")

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Return once every kind has been listed (TimeoutError after ``timeout`` seconds)."""
        await asyncio.wait_for(self._synced.wait(), timeout)

    async def _run_kind(self, kind: str) -> None:
        resource = RESOURCES[kind]
        while True:
            try:
                items, revision = await self._list(resource)
                self.cache.load(items, kind=kind)
                if self.cache.synced:
                    self._synced.set()
                async for event in self._watch(resource, revision):
                    self.cache.apply(event.type, event.object, kind=kind)
                log.info("RBAC watch of %s ended; listing again", resource)
            except Expired as err:
                log.info("RBAC watch of %s expired (%s); listing again", resource, err.message)
            except Unavailable as err:
                log.warning("RBAC informer for %s: %s; retrying in %.0fs", resource, err.message, self._retry)
                await asyncio.sleep(self._retry)
