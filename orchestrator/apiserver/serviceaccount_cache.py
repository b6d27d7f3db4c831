"""Which ServiceAccounts and Pods were deleted: what makes their tokens stop working.

A ServiceAccount token is verified without a database round trip (signature, audience, expiry),
so on its own it would stay valid until it expires after its account or its bound pod is gone.
Kubernetes checks the bound objects against its informer caches; here one watch per resource
(the API server's own watch cache, no extra database load) records the uids of deleted
ServiceAccounts and Pods, and the authenticator refuses tokens that name one of them. The watches
are *patient* (orchestrator/storage/watchcache.py): a deletion is known within about a quarter of
a second, and a busy pod stream costs the watch cache one Redis round trip per quarter second
rather than one per event when no one else watches pods.

Only deletions are recorded, so a token is never refused because the cache is behind on a
*new* object (the account made a moment ago, its token requested and used at once). Deletions
that happened before this API server started are not known; such tokens expire on their own
(TokenRequest caps lifetimes). The sets keep the newest ``limit`` uids.

Kubernetes equivalent: pkg/serviceaccount/legacy.go and claims.go (validator with getters
backed by informers)
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from orchestrator.api.errors import ApiError
from orchestrator.storage.watchcache import WatchCache

log = logging.getLogger(__name__)


class DeletedObjects:
    """``BoundObjects`` (orchestrator/apiserver/serviceaccount_tokens.py) from deletions seen."""

    def __init__(self, *, limit: int = 100_000) -> None:
        self._limit = limit
        self._gone: dict[str, OrderedDict[str, None]] = {"serviceaccounts": OrderedDict(), "pods": OrderedDict()}

    def forget_deleted(self, resource: str, uid: str) -> None:
        gone = self._gone[resource]
        gone[uid] = None
        while len(gone) > self._limit:
            gone.popitem(last=False)

    def service_account_current(self, namespace: str, name: str, uid: str) -> bool | None:
        return False if uid in self._gone["serviceaccounts"] else None

    def pod_current(self, namespace: str, name: str, uid: str) -> bool | None:
        return False if uid in self._gone["pods"] else None

    async def run(self, watch_cache: WatchCache, current_revision: Callable[[], Awaitable[int]]) -> None:
        """Follow deletions of both resources from now on, until cancelled."""
        async with asyncio.TaskGroup() as tg:
            for resource in self._gone:
                tg.create_task(self._follow(watch_cache, resource, current_revision), name=f"deleted-{resource}")

    async def _follow(self, watch_cache: WatchCache, resource: str,
                      current_revision: Callable[[], Awaitable[int]]) -> None:
        since: int | None = None
        while True:
            try:
                if since is None:
                    since = await current_revision()
                # patient: a quarter of a second late is soon enough, and spares the watch cache
                # a Redis round trip per pod event when nobody else watches pods
                async for event in watch_cache.watch(resource, since=since, patient=True):
                    since = event.revision
                    if event.type == "DELETED":
                        uid = (event.object.get("metadata") or {}).get("uid")
                        if uid:
                            self.forget_deleted(resource, uid)
            except ApiError as err:
                # Expired (we fell behind) or Redis away: some deletions may be missed; carry on
                # from now, as a relisting informer would.
                log.warning("deleted-object cache for %s: %s; following from the current revision", resource, err)
                since = None
                await asyncio.sleep(1.0)
