"""Secrets encrypted at rest on real PostgreSQL and Redis: ciphertext in the objects row, the
outbox row and the stream entry; plaintext from get, list and watch; rotation by rewrite."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import redis.asyncio as aioredis
import yaml
from sqlalchemy import text

from orchestrator.apiserver.encryption import (
    ENVELOPE_FIELD,
    new_key_secret,
    parse_config,
    render_config,
    rewrite,
)
from orchestrator.storage.relay import Relay
from orchestrator.storage.store import Store, TypeMeta
from orchestrator.storage.streams import stream_key
from orchestrator.storage.watchcache import WatchCache

PASSWORD = base64.b64encode(b"hunter2").decode()


def secret(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "type": "Opaque", "data": {"password": PASSWORD}}


def transformer(*keys: tuple[str, str]):  # noqa: ANN201
    return parse_config(yaml.safe_load(render_config(list(keys))))


async def rows(store: Store, table: str = "objects", column: str = "data") -> list[dict]:
    async with store.engine.connect() as conn:
        result = await conn.execute(text(f"SELECT {column}::text FROM {table} WHERE resource = 'secrets' ORDER BY name"))
        return [json.loads(r[0]) for r in result.all()]


async def test_the_row_and_the_outbox_hold_ciphertext_while_get_and_list_return_plaintext(database_url: str) -> None:
    store = await Store.connect(database_url, transformer=transformer(("key1", new_key_secret())))
    try:
        created = await store.create("secrets", secret("db"))
        assert created["data"] == {"password": PASSWORD}
        [row] = await rows(store)
        assert row[ENVELOPE_FIELD].startswith("k8s:enc:aesgcm:v1:key1:")
        assert PASSWORD not in json.dumps(row) and "data" not in row
        assert row["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
        [event] = await rows(store, "events", "object")
        assert event[ENVELOPE_FIELD].startswith("k8s:enc:aesgcm:v1:key1:")
        got = await store.get("secrets", "default", "db")
        assert got["data"] == {"password": PASSWORD} and got["metadata"]["uid"] == created["metadata"]["uid"]
        assert [o["data"] for o in (await store.list("secrets")).items] == [{"password": PASSWORD}]
        page = await store.list("secrets", limit=1)
        assert page.items[0]["data"] == {"password": PASSWORD}
        [as_text] = (await store.list_text("secrets", TypeMeta("v1", "Secret"))).items
        assert json.loads(as_text)["data"] == {"password": PASSWORD} and json.loads(as_text)["kind"] == "Secret"
        assert ENVELOPE_FIELD not in json.loads(as_text)
        deleted = await store.delete("secrets", "default", "db")
        assert deleted["data"] == {"password": PASSWORD}
    finally:
        await store.close()


async def test_watch_returns_plaintext_while_the_redis_entry_holds_ciphertext(
    database_url: str, redis_url: str
) -> None:
    t = transformer(("key1", new_key_secret()))
    store = await Store.connect(database_url, transformer=t)
    relay = Relay(database_url=database_url, redis_url=redis_url, poll_interval=0.2)
    relay_task = asyncio.create_task(relay.run(), name="test-relay")
    cache = WatchCache(redis_url, transformer=t)
    try:
        while not relay.active:
            await asyncio.sleep(0.02)
        watch = cache.watch("secrets", since=0)
        first = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.1)
        await store.create("secrets", secret("db"))
        updated = await store.guaranteed_update("secrets", "default", "db",
                                                lambda o: {**o, "data": {"password": PASSWORD, "user": "YQ=="}})
        added = await asyncio.wait_for(first, 30)
        modified = await asyncio.wait_for(anext(watch), 30)
        assert added.type == "ADDED" and added.object["data"] == {"password": PASSWORD}
        assert modified.object["data"]["user"] == "YQ==" and modified.prev is not None
        assert modified.prev["data"] == {"password": PASSWORD}
        assert modified.object["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]
        client = aioredis.Redis.from_url(redis_url)
        entries = await client.xrange(stream_key("secrets"))
        await client.aclose()
        assert entries and all(PASSWORD.encode() not in value for _id, f in entries for value in f.values())
        assert all(b"k8s:enc:aesgcm:v1:key1:" in f[b"object"] for _id, f in entries)
    finally:
        await cache.close()
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await store.close()


async def test_rotation_rewrites_every_row_with_the_new_key_and_keeps_the_data(database_url: str) -> None:
    key1, key2 = ("key1", new_key_secret()), ("key2", new_key_secret())
    store = await Store.connect(database_url, transformer=transformer(key1))
    try:
        for i in range(5):
            await store.create("secrets", secret(f"s{i}"))
    finally:
        await store.close()
    store = await Store.connect(database_url, transformer=transformer(key2, key1))
    try:
        assert (await store.get("secrets", "default", "s0"))["data"] == {"password": PASSWORD}  # read with key1
        assert await rewrite(store, "secrets") == 5
        assert {r[ENVELOPE_FIELD].split(":")[4] for r in await rows(store)} == {"key2"}
        assert await rewrite(store, "secrets") == 0  # nothing stale is left
    finally:
        await store.close()
    store = await Store.connect(database_url, transformer=transformer(key2))  # key1 removed: still readable
    try:
        assert [o["data"] for o in (await store.list("secrets")).items] == [{"password": PASSWORD}] * 5
    finally:
        await store.close()


async def test_a_missing_or_wrong_key_is_reported_at_start_naming_the_key(database_url: str) -> None:
    from orchestrator.apiserver.encryption import EncryptionConfigError, check_readable

    store = await Store.connect(database_url, transformer=transformer(("key1", new_key_secret())))
    try:
        await store.create("secrets", secret("db"))
    finally:
        await store.close()
    for cfg, message in ((transformer(("key2", new_key_secret())), 'aesgcm key "key1", which the encryption'),
                         (transformer(("key1", new_key_secret())), "not the one it was written with")):
        store = await Store.connect(database_url, transformer=cfg)
        try:
            with pytest.raises(EncryptionConfigError, match=message):
                await check_readable(store)
        finally:
            await store.close()
