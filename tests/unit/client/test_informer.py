"""The informer keeps an exact local copy through lists, watches, 410s and dropped connections,
and reports every change to its handlers exactly as client-go's shared informer does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from orchestrator.client.clock import FakeClock
from orchestrator.client.informer import (
    DeletedFinalStateUnknown,
    Indexer,
    Informer,
    SharedInformerFactory,
    deleted_object,
    meta_namespace_key,
    split_key,
)
from orchestrator.client.rest import ApiClient
from tests.unit.client.test_rest import NODES, PODS, FakeApiServer, pod, status


async def eventually(condition: Callable[[], bool], *, timeout: float = 3.0) -> None:
    """Wait (in real time, bounded) until `condition` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


class Recorder:
    """A handler that writes down every call as a short string."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_add(self, obj: dict[str, Any]) -> None:
        self.calls.append(f"add {obj['metadata']['name']}@{obj['metadata']['resourceVersion']}")

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.calls.append(
            f"update {new['metadata']['name']}@{old['metadata']['resourceVersion']}"
            f"->{new['metadata']['resourceVersion']}"
        )

    def on_delete(self, obj: dict[str, Any] | DeletedFinalStateUnknown) -> None:
        tomb = "tombstone " if isinstance(obj, DeletedFinalStateUnknown) else ""
        last = deleted_object(obj)
        self.calls.append(f"delete {tomb}{last['metadata']['name']}@{last['metadata']['resourceVersion']}")

    def register(self, informer: Informer) -> Recorder:
        informer.add_handler(self.on_add, self.on_update, self.on_delete)
        return self


@pytest.fixture
async def server() -> FakeApiServer:
    return FakeApiServer()


@pytest.fixture
async def client(server: FakeApiServer) -> AsyncIterator[ApiClient]:
    async with server.client() as c:
        yield c


async def running(informer: Informer) -> asyncio.Task[None]:
    task = asyncio.create_task(informer.run(), name=f"test-{informer.resource.plural}")
    await asyncio.wait_for(informer.wait_for_sync(), timeout=3)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --------------------------------------------------------------------------------------------
# Store and indexer
# --------------------------------------------------------------------------------------------


def test_keys_are_namespace_slash_name_or_name_for_cluster_scoped_objects() -> None:
    assert meta_namespace_key(pod("web", namespace="prod")) == "prod/web"
    assert meta_namespace_key({"metadata": {"name": "node-1"}}) == "node-1"
    assert split_key("prod/web") == ("prod", "web")
    assert split_key("node-1") == (None, "node-1")


def test_an_index_follows_objects_as_they_move_and_go() -> None:
    store = Indexer()
    store._put("default/a", pod("a", node="n1"))
    store.add_indexer("node", lambda p: p["spec"].get("nodeName"))  # indexes what is already there
    store._put("default/b", pod("b", node="n1"))
    store._put("default/c", pod("c"))
    assert [p["metadata"]["name"] for p in store.by_index("node", "n1")] == ["a", "b"]
    store._put("default/a", pod("a", node="n2"))
    assert [p["metadata"]["name"] for p in store.by_index("node", "n1")] == ["b"]
    assert [p["metadata"]["name"] for p in store.by_index("node", "n2")] == ["a"]
    store._pop("default/b")
    assert store.by_index("node", "n1") == []
    assert store.index_keys("node", "n2") == {"default/a"}


def test_an_index_function_may_give_several_values_and_unknown_indexes_are_named() -> None:
    store = Indexer()
    store.add_indexer("labels", lambda o: [f"{k}={v}" for k, v in o["metadata"]["labels"].items()])
    store._put("default/a", pod("a", app="web", tier="front"))
    assert store.index_keys("labels", "tier=front") == {"default/a"}
    with pytest.raises(KeyError, match=r"no indexer named 'nope' \(have \['labels'\]\)"):
        store.by_index("nope", "x")
    with pytest.raises(ValueError, match="already exists"):
        store.add_indexer("labels", lambda o: None)


# --------------------------------------------------------------------------------------------
# List, watch, relist
# --------------------------------------------------------------------------------------------


async def test_the_first_list_fills_the_cache_and_calls_on_add_for_each_object(
    server: FakeApiServer, client: ApiClient
) -> None:
    server.put(PODS, pod("a"))
    server.put(PODS, pod("b", namespace="other"))
    informer = Informer(client, "pods")
    calls = Recorder().register(informer)
    assert not informer.has_synced
    task = await running(informer)
    try:
        assert informer.has_synced
        assert sorted(calls.calls) == ["add a@1", "add b@2"]
        cached = informer.get("other/b")
        assert cached is not None and cached["kind"] == "Pod" and cached["apiVersion"] == "v1"
        assert informer.last_sync_resource_version == "2"
        await eventually(lambda: len(server.watch_requests()) == 1)
        assert server.watch_requests()[0].url.params["resourceVersion"] == "2"
        assert server.watch_requests()[0].url.params["allowWatchBookmarks"] == "true"
        assert server.watch_requests()[0].url.params["timeoutSeconds"] == "300"
    finally:
        await stop(task)


async def test_watch_events_update_the_cache_and_call_the_handlers_in_order(
    server: FakeApiServer, client: ApiClient
) -> None:
    informer = Informer(client, "pods", namespace="default")
    calls = Recorder().register(informer)
    task = await running(informer)
    try:
        server.put(PODS, pod("a"))
        server.put(PODS, pod("a", tier="x"))
        server.remove(PODS, "default", "a")
        await eventually(lambda: len(calls.calls) == 3)
        assert calls.calls == ["add a@1", "update a@1->2", "delete a@3"]
        assert informer.list() == []
        assert informer.last_sync_resource_version == "3"
    finally:
        await stop(task)


async def test_a_410_relists_and_reports_the_difference_with_tombstones_for_the_gone(
    server: FakeApiServer, client: ApiClient
) -> None:
    # The module docstring's worked example.
    for name in ("a", "b", "c"):
        server.put(PODS, pod(name))
    informer = Informer(client, "pods")
    calls = Recorder().register(informer)
    task = await running(informer)
    try:
        await eventually(lambda: server.open_watches == 1)
        calls.calls.clear()
        # Changes the watch never delivers (compacted away), then the watch expires.
        server.put(PODS, pod("b", tier="new"), hidden=True)
        server.remove(PODS, "default", "c", hidden=True)
        server.put(PODS, pod("d"), hidden=True)
        server.signal_watches("expire")
        await eventually(lambda: len(calls.calls) == 3)
        assert calls.calls == ["update b@2->4", "add d@6", "delete tombstone c@3"]
        assert sorted(informer.store.keys()) == ["default/a", "default/b", "default/d"]
        assert informer.relists == 1
        # And the new watch continues from the relist's resourceVersion.
        await eventually(lambda: len(server.watch_requests()) == 2)
        assert server.watch_requests()[1].url.params["resourceVersion"] == "6"
        server.put(PODS, pod("e"))
        await eventually(lambda: len(calls.calls) == 4)
        assert calls.calls[-1] == "add e@7"
    finally:
        await stop(task)


async def test_a_tombstone_carries_the_key_and_the_last_known_state(
    server: FakeApiServer, client: ApiClient
) -> None:
    server.put(PODS, pod("gone", node="n1"))
    informer = Informer(client, "pods")
    deleted: list[Any] = []
    informer.add_handler(on_delete=deleted.append)
    task = await running(informer)
    try:
        await eventually(lambda: server.open_watches == 1)
        server.remove(PODS, "default", "gone", hidden=True)
        server.signal_watches("expire")
        await eventually(lambda: len(deleted) == 1)
        assert deleted[0] == DeletedFinalStateUnknown("default/gone", informer_last := deleted[0].obj)
        assert informer_last["spec"]["nodeName"] == "n1" and informer_last["metadata"]["resourceVersion"] == "1"
    finally:
        await stop(task)


async def test_a_dropped_watch_relists_after_a_short_backoff(server: FakeApiServer, client: ApiClient) -> None:
    server.put(PODS, pod("a"))
    informer = Informer(client, "pods", backoff_base=0.01)
    calls = Recorder().register(informer)
    task = await running(informer)
    try:
        await eventually(lambda: server.open_watches == 1)
        server.remove(PODS, "default", "a", hidden=True)
        server.signal_watches("drop")
        await eventually(lambda: len(calls.calls) == 2)
        assert calls.calls == ["add a@1", "delete tombstone a@1"]
        assert len(server.list_requests()) == 2
    finally:
        await stop(task)


async def test_a_watch_the_server_ends_normally_resumes_from_the_last_resource_version_without_a_list(
    server: FakeApiServer, client: ApiClient
) -> None:
    informer = Informer(client, "pods")
    calls = Recorder().register(informer)
    task = await running(informer)
    try:
        server.put(PODS, pod("a"))
        await eventually(lambda: calls.calls == ["add a@1"])
        server.signal_watches("end")
        await eventually(lambda: len(server.watch_requests()) == 2)
        assert [r.url.params["resourceVersion"] for r in server.watch_requests()] == ["0", "1"]
        assert len(server.list_requests()) == 1
        server.put(PODS, pod("b"))
        await eventually(lambda: calls.calls == ["add a@1", "add b@2"])
    finally:
        await stop(task)


async def test_a_bookmark_moves_the_resource_version_without_calling_handlers(
    server: FakeApiServer, client: ApiClient
) -> None:
    informer = Informer(client, "pods", namespace="default")
    calls = Recorder().register(informer)
    task = await running(informer)
    try:
        await eventually(lambda: server.open_watches == 1)
        server.put(NODES, {"metadata": {"name": "n1"}})  # another resource moves the revision
        server.signal_watches("bookmark")
        await eventually(lambda: informer.last_sync_resource_version == "1")
        assert calls.calls == []
    finally:
        await stop(task)


async def test_list_errors_are_retried_with_backoff_on_the_injected_clock(server: FakeApiServer) -> None:
    refusals = 2

    def refuse(request: httpx.Request) -> httpx.Response | None:
        nonlocal refusals
        if refusals and "watch" not in request.url.params:
            refusals -= 1
            raise httpx.ConnectError("connection refused")
        return None

    server.intercept = refuse
    clock = FakeClock()
    async with server.client(read_retries=0) as client:
        informer = Informer(client, "pods", clock=clock, backoff_base=0.8)
        task = asyncio.create_task(informer.run(), name="test-informer")
        try:
            await eventually(lambda: clock.sleepers == 1)
            clock.advance(0.8)
            await eventually(lambda: clock.sleepers == 1 and refusals == 0)
            clock.advance(1.5)
            assert not informer.has_synced  # the second backoff is 1.6 s
            clock.advance(0.2)
            await asyncio.wait_for(informer.wait_for_sync(), timeout=3)
        finally:
            await stop(task)


async def test_cancelling_run_closes_the_watch(server: FakeApiServer, client: ApiClient) -> None:
    informer = Informer(client, "pods")
    task = await running(informer)
    await eventually(lambda: server.open_watches == 1)
    await stop(task)
    await eventually(lambda: server.open_watches == 0)


async def test_label_and_field_selectors_are_passed_to_list_and_watch(
    server: FakeApiServer, client: ApiClient
) -> None:
    server.put(PODS, pod("a", node="n1"))
    server.put(PODS, pod("b", node="n2"))
    informer = Informer(client, "pods", field_selector="spec.nodeName=n1", label_selector="")
    task = await running(informer)
    try:
        assert informer.store.keys() == ["default/a"]
        await eventually(lambda: len(server.watch_requests()) == 1)
        assert server.watch_requests()[0].url.params["fieldSelector"] == "spec.nodeName=n1"
        assert server.list_requests()[0].url.params["fieldSelector"] == "spec.nodeName=n1"
    finally:
        await stop(task)


# --------------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------------


async def test_a_handler_added_after_sync_first_receives_the_cached_objects(
    server: FakeApiServer, client: ApiClient
) -> None:
    server.put(PODS, pod("a"))
    informer = Informer(client, "pods")
    task = await running(informer)
    try:
        late = Recorder().register(informer)
        assert late.calls == ["add a@1"]
    finally:
        await stop(task)


async def test_a_failing_handler_is_logged_and_the_others_still_run(
    server: FakeApiServer, client: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    informer = Informer(client, "pods")

    def broken(obj: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(on_add=broken)
    calls = Recorder().register(informer)
    task = await running(informer)
    try:
        server.put(PODS, pod("a"))
        await eventually(lambda: calls.calls == ["add a@1"])
        assert informer.get("default/a") is not None
        assert "handler bug" in caplog.text
    finally:
        await stop(task)


async def test_resync_calls_on_update_with_the_same_object_every_period(
    server: FakeApiServer, client: ApiClient
) -> None:
    server.put(PODS, pod("a"))
    clock = FakeClock()
    informer = Informer(client, "pods", resync_period=30, clock=clock)
    calls = Recorder().register(informer)
    task = await running(informer)
    try:
        await eventually(lambda: clock.sleepers == 1)
        clock.advance(30)
        await eventually(lambda: calls.calls == ["add a@1", "update a@1->1"])
    finally:
        await stop(task)


# --------------------------------------------------------------------------------------------
# Shared informer factory
# --------------------------------------------------------------------------------------------


async def test_the_factory_shares_one_informer_per_resource_and_selectors_and_runs_them_all(
    server: FakeApiServer, client: ApiClient
) -> None:
    server.put(PODS, pod("a"))
    server.put(NODES, {"metadata": {"name": "n1"}})
    factory = SharedInformerFactory(client)
    pods = factory.informer("pods")
    assert factory.informer("po") is pods
    assert factory.informer("pods", namespace="kube-system") is not pods
    task = asyncio.create_task(factory.run(), name="test-factory")
    try:
        await asyncio.wait_for(factory.wait_for_sync(), timeout=3)
        nodes = factory.informer("nodes")  # asked for after the start: started too
        await asyncio.wait_for(nodes.wait_for_sync(), timeout=3)
        assert factory.has_synced
        assert nodes.store.keys() == ["n1"] and pods.store.keys() == ["default/a"]
    finally:
        await stop(task)


def _paged(server: FakeApiServer, *, expire_second_page: bool = False) -> list[httpx.Request]:
    """Serve pod lists a page of one object at a time, as the API server does with `limit`; the
    second page's continue token answers 410 when `expire_second_page`. Returns the list requests."""
    seen: list[httpx.Request] = []

    def pages(request: httpx.Request) -> httpx.Response | None:
        if "watch" in request.url.params or not request.url.path.endswith("/pods"):
            return None
        seen.append(request)
        items = [o for k, o in sorted(server.objects.items()) if k[0] == "pods"]
        limit = request.url.params.get("limit")
        if limit is None:
            return httpx.Response(200, json={"kind": "PodList", "apiVersion": "v1", "items": items,
                                             "metadata": {"resourceVersion": str(server.revision)}})
        start = int(request.url.params.get("continue") or 0)
        if start and expire_second_page:
            return status(410, "Expired", "The provided continue parameter is too old")
        end = start + 1
        meta: dict[str, Any] = {"resourceVersion": str(server.revision)}
        if end < len(items):
            meta["continue"] = str(end)
        return httpx.Response(200, json={"kind": "PodList", "apiVersion": "v1", "items": items[start:end],
                                         "metadata": meta})

    server.intercept = pages
    return seen


async def test_the_list_is_read_in_pages_that_make_one_snapshot(server: FakeApiServer, client: ApiClient) -> None:
    for name in ("a", "b", "c"):
        server.put(PODS, pod(name))
    requests = _paged(server)
    informer = Informer(client, "pods")
    task = await running(informer)
    try:
        assert sorted(informer.store.keys()) == ["default/a", "default/b", "default/c"]
        assert [r.url.params.get("limit") for r in requests] == ["500"] * 3  # client-go's page size
        assert [r.url.params.get("continue") for r in requests] == [None, "1", "2"]
        assert informer.last_sync_resource_version == "3"
    finally:
        await stop(task)


async def test_a_continue_token_that_expired_between_pages_means_one_full_list(
    server: FakeApiServer, client: ApiClient
) -> None:
    for name in ("a", "b"):
        server.put(PODS, pod(name))
    requests = _paged(server, expire_second_page=True)
    informer = Informer(client, "pods")
    task = await running(informer)
    try:
        assert sorted(informer.store.keys()) == ["default/a", "default/b"]
        assert [(r.url.params.get("limit"), r.url.params.get("continue")) for r in requests] == [
            ("500", None), ("500", "1"), (None, None)]
    finally:
        await stop(task)


# --------------------------------------------------------------------------------------------
# Catching up to a revision (a controller manager taking over the lead)
# --------------------------------------------------------------------------------------------


async def test_catch_up_is_at_once_when_the_cache_is_there_and_waits_for_the_watch_when_it_brings_it(
    server: FakeApiServer, client: ApiClient
) -> None:
    server.put(PODS, pod("a"))
    informer = Informer(client, "pods")
    task = await running(informer)
    try:
        assert await asyncio.wait_for(informer.catch_up(1, patience=5), 1) is False
        await eventually(lambda: server.open_watches == 1)
        waiting = asyncio.ensure_future(informer.catch_up(2, patience=5))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # revision 2 is not written yet
        server.put(PODS, pod("b"))
        assert await asyncio.wait_for(waiting, 3) is False  # the watch brought it: no list
        assert informer.get("default/b") is not None
        assert len(server.list_requests()) == 1
    finally:
        await stop(task)


async def test_a_watch_still_behind_after_the_patience_is_replaced_by_a_fresh_list(
    server: FakeApiServer, client: ApiClient
) -> None:
    informer = Informer(client, "pods")
    calls = Recorder().register(informer)
    task = await running(informer)
    try:
        await eventually(lambda: server.open_watches == 1)
        server.put(PODS, pod("a"), hidden=True)  # written, but this watch lags: it never sees it
        relisted = await asyncio.wait_for(informer.catch_up(1, patience=0.2), 3)
        assert relisted is True
        assert calls.calls == ["add a@1"]
        assert informer.reflects(1) and len(server.list_requests()) == 2
        await eventually(lambda: server.open_watches == 1)  # watching again, from the new list
        server.put(PODS, pod("b"))
        await eventually(lambda: calls.calls == ["add a@1", "add b@2"])
        assert informer.relists == 1
    finally:
        await stop(task)


async def test_the_factory_catches_every_informer_up_and_names_those_that_listed_again(
    server: FakeApiServer, client: ApiClient
) -> None:
    factory = SharedInformerFactory(client)
    pods, nodes = factory.informer("pods"), factory.informer("nodes")
    task = asyncio.create_task(factory.run(), name="test-factory")
    try:
        await asyncio.wait_for(factory.wait_for_sync(), 3)
        await eventually(lambda: server.open_watches == 2)
        server.put(PODS, pod("a"))  # the pod watch brings revision 1
        server.put(NODES, {"metadata": {"name": "n1"}}, hidden=True)  # revision 2: the node watch lags
        await eventually(lambda: pods.reflects(1))
        relisted = await asyncio.wait_for(factory.catch_up(2, patience=0.2), 3)
        # The quiet pod informer had no event past 1: it lists too, as a quiet informer would
        # between bookmarks. The node informer lists and finds n1.
        assert set(relisted) == {pods, nodes}
        assert nodes.get("n1") is not None and pods.reflects(2) and nodes.reflects(2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
