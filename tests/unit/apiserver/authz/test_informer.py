"""The RBAC informer lists, watches, and lists again when the watch history is gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from orchestrator.api.errors import Expired
from orchestrator.apiserver.authz.informer import RBACInformer
from orchestrator.apiserver.authz.rbac import RBACCache


@dataclass
class Ev:
    type: str
    object: dict[str, Any]
    revision: int


def crb(name: str, user: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                    "name": "r"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}]}


async def test_list_then_watch_then_relist_after_expiry() -> None:
    stored: dict[str, list[dict[str, Any]]] = {"clusterrolebindings.rbac.authorization.k8s.io": [crb("a", "alice")]}
    lists: list[str] = []
    watches: dict[str, int] = {}
    feed: asyncio.Queue[Ev | Exception] = asyncio.Queue()

    async def list_objects(resource: str) -> tuple[list[dict[str, Any]], int]:
        lists.append(resource)
        return list(stored.get(resource, [])), 10

    async def watch(resource: str, since: int) -> AsyncIterator[Ev]:
        watches[resource] = watches.get(resource, 0) + 1
        if resource != "clusterrolebindings.rbac.authorization.k8s.io":
            await asyncio.Event().wait()  # nothing ever happens to the other kinds
        while True:
            item = await feed.get()
            if isinstance(item, Exception):
                raise item
            yield item

    cache = RBACCache()
    informer = RBACInformer(cache, list_objects=list_objects, watch=watch)
    task = asyncio.create_task(informer.run())
    try:
        await informer.wait_synced(timeout=5)
        assert cache.synced and cache.get("ClusterRoleBinding", "", "a") is not None
        await feed.put(Ev("ADDED", crb("b", "bob"), 11))
        await _until(lambda: cache.get("ClusterRoleBinding", "", "b") is not None)
        # the history is gone: the informer lists again and the list is the truth
        stored["clusterrolebindings.rbac.authorization.k8s.io"] = [crb("c", "carol")]
        await feed.put(Expired("too old"))
        await _until(lambda: cache.get("ClusterRoleBinding", "", "c") is not None)
        assert cache.get("ClusterRoleBinding", "", "b") is None
        assert watches["clusterrolebindings.rbac.authorization.k8s.io"] == 2
        assert len(lists) == 5  # four kinds, and one relist
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _until(condition: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
