"""The store on a real PostgreSQL: CRUD, revisions, conflicts, selectors, pagination, bad input."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import text

from orchestrator.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    Unavailable,
)
from orchestrator.storage.store import Store, TypeMeta
from tests.factories import node, pod


async def test_create_assigns_the_next_revision_uid_and_timestamp(store: Store) -> None:
    before = await store.current_revision()
    created = await store.create("pods", pod("web-1"))
    meta = created["metadata"]
    assert meta["resourceVersion"] == str(before + 1)
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert await store.get("pods", "default", "web-1") == created


async def test_create_of_an_existing_key_is_already_exists_and_changes_nothing(store: Store) -> None:
    await store.create("pods", pod("web-1"))
    revision = await store.current_revision()
    with pytest.raises(AlreadyExists, match='pods "web-1" already exists'):
        await store.create("pods", pod("web-1"))
    assert await store.current_revision() == revision


async def test_get_of_a_missing_object_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match='pods "ghost" not found'):
        await store.get("pods", "default", "ghost")


async def test_update_with_a_stale_resource_version_is_a_conflict(store: Store) -> None:
    first = await store.create("pods", pod("web-1"))
    first["metadata"]["labels"] = {"v": "2"}
    second = await store.update("pods", dict(first, metadata=dict(first["metadata"])))
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    stale = dict(first, metadata=dict(first["metadata"], labels={"v": "3"}))
    with pytest.raises(Conflict, match="the object has been modified"):
        await store.update("pods", stale)
    assert (await store.get("pods", "default", "web-1"))["metadata"]["labels"] == {"v": "2"}


async def test_update_of_a_missing_object_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.update("pods", pod("ghost"), expected_revision=None)


async def test_delete_returns_the_last_state_at_the_deletion_revision(store: Store) -> None:
    created = await store.create("pods", pod("web-1"))
    deleted = await store.delete("pods", "default", "web-1")
    assert int(deleted["metadata"]["resourceVersion"]) == int(created["metadata"]["resourceVersion"]) + 1
    assert deleted["metadata"]["uid"] == created["metadata"]["uid"]
    with pytest.raises(NotFound):
        await store.get("pods", "default", "web-1")
    with pytest.raises(NotFound):
        await store.delete("pods", "default", "web-1")


async def test_delete_with_a_stale_precondition_is_a_conflict(store: Store) -> None:
    created = await store.create("pods", pod("web-1"))
    await store.update("pods", created)
    with pytest.raises(Conflict):
        await store.delete("pods", "default", "web-1", expected_revision=int(created["metadata"]["resourceVersion"]))


async def test_every_change_writes_exactly_one_outbox_event_in_revision_order(store: Store) -> None:
    a = await store.create("pods", pod("a"))
    a = await store.update("pods", a)
    await store.delete("pods", "default", "a")
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT revision, type, name FROM events ORDER BY revision"))).all()
    assert [(r.type, r.name) for r in rows] == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert [r.revision for r in rows] == list(range(rows[0].revision, rows[0].revision + 3))


async def test_concurrent_writers_get_gap_free_unique_revisions(store: Store) -> None:
    start = await store.current_revision()

    async def writer(w: int) -> list[int]:
        out = []
        for i in range(25):
            obj = await store.create("pods", pod(f"w{w}-{i}"))
            out.append(int(obj["metadata"]["resourceVersion"]))
        return out

    revisions = sorted(r for rs in await asyncio.gather(*(writer(w) for w in range(16))) for r in rs)
    assert revisions == list(range(start + 1, start + 1 + 16 * 25))
    assert await store.current_revision() == start + 16 * 25
    assert store.batches_committed < 16 * 25, "concurrent writes should share transactions (group commit)"


async def test_retry_on_conflict_loses_no_update_among_concurrent_updaters(store: Store) -> None:
    await store.create("pods", pod("counter", labels={"n": "0"}))

    def bump(obj: dict) -> dict:
        obj["metadata"]["labels"]["n"] = str(int(obj["metadata"]["labels"]["n"]) + 1)
        return obj

    await asyncio.gather(*(store.guaranteed_update("pods", "default", "counter", bump, attempts=200) for _ in range(30)))
    assert (await store.get("pods", "default", "counter"))["metadata"]["labels"]["n"] == "30"


async def test_list_filters_by_namespace_label_and_field_selectors(store: Store) -> None:
    await store.create("pods", pod("a", labels={"app": "web", "tier": "fe"}, node="n1", phase="Running"))
    await store.create("pods", pod("b", labels={"app": "web"}, node="n2", phase="Pending"))
    await store.create("pods", pod("c", labels={"app": "db"}, phase="Pending"))
    await store.create("pods", pod("d", namespace="other", labels={"app": "web"}))

    async def names(**kw) -> list[str]:
        return [p["metadata"]["name"] for p in (await store.list("pods", **kw)).items]

    assert await names() == ["a", "b", "c", "d"]
    assert await names(namespace="default") == ["a", "b", "c"]
    assert await names(label_selector="app=web") == ["a", "b", "d"]
    assert await names(label_selector="app==web,tier") == ["a"]
    assert await names(label_selector="app!=web") == ["c"]
    assert await names(label_selector="app in (db, cache)") == ["c"]
    assert await names(label_selector="app notin (db),!tier") == ["b", "d"]
    assert await names(field_selector="spec.nodeName=n2") == ["b"]
    assert await names(field_selector="spec.nodeName=") == ["c", "d"]
    assert await names(field_selector="status.phase!=Pending,metadata.namespace=default") == ["a"]
    assert await names(field_selector="metadata.name=c") == ["c"]


@pytest.mark.parametrize("selectors", [
    {},
    {"namespace": "default"},
    {"label_selector": "app=web"},
    {"label_selector": "app notin (db),!tier"},
    {"field_selector": "spec.nodeName=n2"},
    {"field_selector": "spec.nodeName="},
    {"field_selector": "status.phase!=Pending,metadata.namespace=default"},
    {"field_selector": "metadata.name=c"},
    # pinned twice: SQL filters on the first value, so the rows must still be checked (matches none)
    {"field_selector": "metadata.name=a,metadata.name=b"},
    # the URL's namespace and another in the selector: SQL filters on the URL's (matches none)
    {"namespace": "default", "field_selector": "metadata.namespace=other"},
    {"namespace": "default", "limit": 2},
])
async def test_list_text_is_the_decoded_list_as_json_with_kind_and_api_version(store: Store, selectors: dict) -> None:
    await store.create("pods", pod("a", labels={"app": "web", "tier": "fe"}, node="n1", phase="Running"))
    await store.create("pods", pod("b", labels={"app": "web"}, node="n2", phase="Pending"))
    bare = pod("c", labels={"app": "db"}, phase="Pending")
    del bare["kind"], bare["apiVersion"]  # stored without them, as some writers do
    await store.create("pods", bare)
    await store.create("pods", pod("d", namespace="other", labels={"app": "web"}))

    decoded = await store.list("pods", **selectors)
    as_text = await store.list_text("pods", TypeMeta("v1", "Pod"), **selectors)
    expected = [{"apiVersion": "v1", "kind": "Pod", **o} for o in decoded.items]
    assert [json.loads(t) for t in as_text.items] == expected
    assert (as_text.revision, as_text.continue_token) == (decoded.revision, decoded.continue_token)
    if decoded.continue_token:  # the next page, from the same snapshot, the same way
        rest = await store.list_text("pods", TypeMeta("v1", "Pod"), namespace="default",
                                     continue_token=as_text.continue_token)
        assert [json.loads(t)["metadata"]["name"] for t in rest.items] == ["c"]
        assert json.loads(rest.items[0])["kind"] == "Pod"


async def test_list_text_replaces_the_api_version_only_when_asked(store: Store) -> None:
    await store.create("pods", pod("a"))
    [kept] = (await store.list_text("pods", TypeMeta("v2", "Other"))).items
    [replaced] = (await store.list_text("pods", TypeMeta("v2", "Other", replace=True))).items
    assert (json.loads(kept)["apiVersion"], json.loads(kept)["kind"]) == ("v1", "Pod")
    assert (json.loads(replaced)["apiVersion"], json.loads(replaced)["kind"]) == ("v2", "Pod")


async def test_list_reports_the_revision_of_its_snapshot(store: Store) -> None:
    await store.create("nodes", node("n1"))
    result = await store.list("nodes")
    assert result.revision == await store.current_revision()
    assert [n["metadata"]["name"] for n in result.items] == ["n1"]


async def test_pagination_serves_later_pages_from_the_first_pages_snapshot(store: Store) -> None:
    for i in range(7):
        await store.create("pods", pod(f"p{i}"))
    page1 = await store.list("pods", namespace="default", limit=3)
    assert [p["metadata"]["name"] for p in page1.items] == ["p0", "p1", "p2"]
    assert page1.continue_token
    # changes after the first page must not show in the rest of this list
    await store.delete("pods", "default", "p4")
    p5 = await store.get("pods", "default", "p5")
    p5["metadata"]["labels"] = {"changed": "yes"}
    await store.update("pods", p5)
    await store.create("pods", pod("p3a"))
    page2 = await store.list("pods", namespace="default", limit=3, continue_token=page1.continue_token)
    assert [p["metadata"]["name"] for p in page2.items] == ["p3", "p4", "p5"]
    assert page2.revision == page1.revision
    assert page2.items[2]["metadata"].get("labels") == {}
    page3 = await store.list("pods", namespace="default", limit=3, continue_token=page2.continue_token)
    assert [p["metadata"]["name"] for p in page3.items] == ["p6"]
    assert page3.continue_token is None


async def test_later_pages_filtered_by_node_show_each_pod_as_it_was_at_the_first_page(store: Store) -> None:
    for i in range(4):
        await store.create("pods", pod(f"p{i}", node="n1"))
    await store.create("pods", pod("p2b"))  # unbound when the list starts
    page1 = await store.list("pods", namespace="default", field_selector="spec.nodeName=n1", limit=2)
    assert [p["metadata"]["name"] for p in page1.items] == ["p0", "p1"]
    # After the first page: a pod created on n1 and changed, and the unbound pod bound to n1 and changed.
    created = await store.create("pods", pod("p2a", node="n1"))
    created["metadata"]["labels"] = {"changed": "yes"}
    await store.update("pods", created)
    bound = await store.get("pods", "default", "p2b")
    bound["spec"]["nodeName"] = "n1"
    bound = await store.update("pods", bound)
    bound["metadata"]["labels"] = {"changed": "yes"}
    await store.update("pods", bound)
    # Neither was on n1 at the first page's revision, so neither belongs to this list.
    rest = await store.list("pods", namespace="default", field_selector="spec.nodeName=n1", limit=10,
                            continue_token=page1.continue_token)
    assert [p["metadata"]["name"] for p in rest.items] == ["p2", "p3"]
    as_text = await store.list_text("pods", TypeMeta("v1", "Pod"), namespace="default",
                                    field_selector="spec.nodeName=n1", limit=10, continue_token=page1.continue_token)
    assert [json.loads(t)["metadata"]["name"] for t in as_text.items] == ["p2", "p3"]
    unbound = await store.list("pods", namespace="default", field_selector="spec.nodeName=", limit=10,
                               continue_token=page1.continue_token)
    assert [p["metadata"]["name"] for p in unbound.items] == ["p2b"]  # as it was: not yet bound


async def test_a_continue_token_older_than_the_retained_history_is_expired(store: Store) -> None:
    for i in range(3):
        await store.create("pods", pod(f"p{i}"))
    page1 = await store.list("pods", limit=1)
    await store.create("pods", pod("later"))
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE revision SET compacted = value"))
    with pytest.raises(Expired, match="too old"):
        await store.list("pods", limit=1, continue_token=page1.continue_token)


@pytest.mark.parametrize(
    ("selector", "kind"),
    [("app in web", "label"), ("a=b,,", "label"), ("=x", "label"), ("spec.bogus=1", "field"), ("status.phase", "field")],
)
async def test_selectors_that_do_not_parse_are_bad_requests(store: Store, selector: str, kind: str) -> None:
    with pytest.raises(BadRequest):
        if kind == "label":
            await store.list("pods", label_selector=selector)
        else:
            await store.list("pods", field_selector=selector)


async def test_a_garbage_continue_token_is_a_bad_request(store: Store) -> None:
    with pytest.raises(BadRequest, match="continue"):
        await store.list("pods", limit=1, continue_token="not-a-token!")


@pytest.mark.parametrize("name", ["Web", "web_1", "-web", "a" * 254, "web/1", ""])
async def test_invalid_names_are_rejected_with_field_causes(store: Store, name: str) -> None:
    with pytest.raises(Invalid) as err:
        await store.create("pods", pod(name))
    assert err.value.causes[0].field == "metadata.name"


async def test_an_unreachable_database_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="PostgreSQL is unavailable"):
        await Store.connect("postgresql://postgres@127.0.0.1:1/labkit")


async def test_one_batch_mixing_verbs_on_one_key_decides_each_write_in_order(store: Store) -> None:
    """Writes submitted together share a transaction (group commit); each is still decided at its
    own place in the batch, against the writes before it."""
    start = await store.current_revision()
    results = await asyncio.gather(
        store.create("pods", pod("k")),
        store.update("pods", pod("k", labels={"v": "1"}), expected_revision=None),
        store.create("pods", pod("k")),  # exists by now
        store.delete("pods", "default", "k"),
        store.update("pods", pod("k"), expected_revision=None),  # gone by now
        store.create("pods", pod("k", labels={"v": "again"})),
        store.delete("pods", "default", "k", expected_revision=start + 1),  # stale by now
        return_exceptions=True,
    )
    kinds = [type(r).__name__ if isinstance(r, Exception) else int(r["metadata"]["resourceVersion"]) for r in results]
    assert kinds == [start + 1, start + 2, "AlreadyExists", start + 3, "NotFound", start + 4, "Conflict"]
    assert (await store.get("pods", "default", "k"))["metadata"]["labels"] == {"v": "again"}
    assert await store.current_revision() == start + 4
