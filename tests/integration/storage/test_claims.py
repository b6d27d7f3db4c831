"""Claims: unique values (a Service's ClusterIP, its node ports) written with their object, in one
transaction, refused when another object holds them, released with the object."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.storage.store import Claim, ClaimTaken, Store

IP = "service-cluster-ip"


def _svc(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": {}}


async def test_a_claimed_value_is_refused_to_another_object_and_nothing_of_it_is_written(store: Store) -> None:
    await store.create("services", _svc("a"), claims=(Claim(IP, "10.96.0.10"),))
    before = await store.current_revision()
    with pytest.raises(ClaimTaken) as taken:
        await store.create("services", _svc("b"), claims=(Claim(IP, "10.96.0.11"), Claim(IP, "10.96.0.10")))
    assert taken.value.held == (Claim(IP, "10.96.0.10"),)
    assert await store.current_revision() == before  # no revision, no object, no half claim
    assert await store.claimed(IP) == {"10.96.0.10"}
    assert (await store.list("services")).items[0]["metadata"]["name"] == "a"


async def test_of_concurrent_creates_claiming_one_value_exactly_one_wins(store: Store) -> None:
    results = await asyncio.gather(*(store.create("services", _svc(f"s{i}"), claims=(Claim(IP, "10.96.0.20"),))
                                     for i in range(20)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ClaimTaken) for r in results if isinstance(r, BaseException))


async def test_an_update_keeps_swaps_and_releases_claims_and_a_delete_releases_them_all(store: Store) -> None:
    svc = await store.create("services", _svc("a"), claims=(Claim(IP, "10.96.0.1"), Claim("node-port", "30080")))
    await store.create("services", _svc("b"), claims=(Claim("node-port", "30081"),))
    svc = await store.update("services", svc, claims=(Claim(IP, "10.96.0.1"), Claim("node-port", "30082")))
    assert await store.claimed("node-port") == {"30081", "30082"}
    with pytest.raises(ClaimTaken):
        await store.update("services", svc, claims=(Claim(IP, "10.96.0.1"), Claim("node-port", "30081")))
    svc = await store.update("services", svc)  # claims=None: untouched
    assert await store.claimed("node-port") == {"30081", "30082"}
    await store.delete("services", "default", "a")
    assert await store.claimed(IP) == set()
    assert await store.claimed("node-port") == {"30081"}


async def test_two_stores_as_two_api_servers_never_both_claim_a_value(store: Store, database_url: str) -> None:
    other = await Store.connect(database_url)  # its own pool and committer: another API server's
    try:
        writes = [(store if i % 2 else other).create("services", _svc(f"s{i}"),
                                                     claims=(Claim(IP, f"10.96.1.{i % 5}"),)) for i in range(40)]
        results = await asyncio.gather(*writes, return_exceptions=True)
    finally:
        await other.close()
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(won) == 5 and all(isinstance(r, ClaimTaken) for r in results if isinstance(r, BaseException))
    assert await store.claimed(IP) == {f"10.96.1.{i}" for i in range(5)}
