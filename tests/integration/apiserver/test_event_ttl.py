"""Events expire after the event TTL (kube-apiserver --event-ttl, 1 h by default), so storage stays bounded."""

from __future__ import annotations

from orchestrator.apiserver.registry.generic import Registry
from orchestrator.storage.store import Store


def event(name: str, last_seen: str) -> dict:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Scheduled", "message": "m", "type": "Normal", "count": 1,
            "firstTimestamp": last_seen, "lastTimestamp": last_seen}


async def test_events_older_than_the_ttl_are_deleted_and_recent_ones_kept(store: Store) -> None:
    registry = Registry.for_store(store)
    await store.create("events", event("old.1", "2020-01-01T00:00:00Z"))
    await store.create("events", event("recent.1", "2999-01-01T00:00:00Z"))
    assert await registry.expire_events(3600) == 1
    names = [e["metadata"]["name"] for e in (await store.list("events")).items]
    assert names == ["recent.1"]
