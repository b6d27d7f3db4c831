"""The REST client speaks the Kubernetes wire protocol and turns every failure into a typed error.

`FakeApiServer` (also used by the informer, leader election and event recorder tests) is a small
in-memory API server behind ``httpx.MockTransport``: objects in a dict, one revision counter,
list with ``resourceVersion``, watch from a revision as newline-delimited events, and switches to
end, drop or expire (410) the open watches.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from orchestrator.api.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    NotFound,
    Unavailable,
)
from orchestrator.api.resources import ResourceInfo, lookup
from orchestrator.api.strategicpatch import json_patch, merge_patch
from orchestrator.client.rest import ApiClient, KubeconfigError, WatchEvent
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_pki, issue_client_certificate, write_kubeconfig

SERVER = "https://fake-apiserver:6443"


# --------------------------------------------------------------------------------------------
# A fake API server
# --------------------------------------------------------------------------------------------


def status(code: int, reason: str, message: str, **details: Any) -> httpx.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return httpx.Response(code, json=body)


class FakeApiServer:
    """Just enough of an API server for client tests; every request is recorded in `requests`."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.revision = 0
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []  # (rev, group_resource, type, obj)
        self.compacted = 0  # watches from before this revision get 410
        self.requests: list[httpx.Request] = []
        self.intercept: Callable[[httpx.Request], httpx.Response | None] | None = None
        self._changed = asyncio.Condition()
        self._watch_signal: tuple[int, str] = (0, "")  # (sequence, "end" | "drop" | "expire")
        self.open_watches = 0
        self.transport = httpx.MockTransport(self.handle)

    def client(self, **kwargs: Any) -> ApiClient:
        kwargs.setdefault("retry_backoff", 0.0)
        return ApiClient(SERVER, token="test-token", transport=self.transport, **kwargs)

    # --- test controls ---------------------------------------------------------------------

    def put(
        self, info: ResourceInfo, obj: dict[str, Any], *, type_: str | None = None, hidden: bool = False
    ) -> dict[str, Any]:
        """Store an object directly (as another client would), recording a watch event unless
        `hidden` (a change the watchers miss, as if compacted away: only a relist shows it)."""
        meta = obj.setdefault("metadata", {})
        key = (info.group_resource, meta.get("namespace", "") if info.namespaced else "", meta["name"])
        if type_ is None:
            type_ = "MODIFIED" if key in self.objects else "ADDED"
        meta.setdefault("uid", str(uuid.uuid4()))
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", info.kind)
        self.revision += 1
        meta["resourceVersion"] = str(self.revision)
        self.objects[key] = obj
        if not hidden:
            self._record(info, type_, obj)
        return obj

    def remove(self, info: ResourceInfo, namespace: str, name: str, *, hidden: bool = False) -> dict[str, Any]:
        obj = self.objects.pop((info.group_resource, namespace if info.namespaced else "", name))
        self.revision += 1
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.revision)}}
        if not hidden:
            self._record(info, "DELETED", obj)
        return obj

    def _record(self, info: ResourceInfo, type_: str, obj: dict[str, Any]) -> None:
        self.history.append((self.revision, info.group_resource, type_, json.loads(json.dumps(obj))))
        self._notify()

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(wake())

    def signal_watches(self, action: str) -> None:
        """``end`` (normal end, as at timeoutSeconds), ``drop`` (connection cut), ``expire`` (410)."""
        self._watch_signal = (self._watch_signal[0] + 1, action)
        self._notify()

    def compact(self) -> None:
        self.compacted = self.revision

    def watch_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.params.get("watch") == "true"]

    def list_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "GET" and "watch" not in r.url.params
                and r.url.path.rstrip("/").split("/")[-1] in {"pods", "nodes", "leases", "events"}]

    # --- request handling ------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.intercept is not None:
            answer = self.intercept(request)
            if answer is not None:
                return answer
        parts = request.url.path.strip("/").split("/")
        if parts[0] == "api":
            group, rest = "", parts[2:]
        else:
            group, rest = parts[1], parts[3:]
        namespace = ""
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        info = lookup(group, rest[0])
        if info is None:
            return status(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        key = (info.group_resource, namespace, name or "")
        body = json.loads(request.content) if request.content else None
        method = request.method

        if name is None and method == "GET":
            if request.url.params.get("watch") == "true":
                return self._watch(info, namespace, request)
            return self._list(info, namespace, request)
        if name is None and method == "POST":
            meta = body.setdefault("metadata", {})
            meta.setdefault("namespace", namespace) if info.namespaced else None
            if (info.group_resource, namespace, meta["name"]) in self.objects:
                return status(409, "AlreadyExists", f'{info.plural} "{meta["name"]}" already exists',
                              name=meta["name"], kind=info.plural)
            return httpx.Response(201, json=self.put(info, body))
        current = self.objects.get(key)
        if current is None:
            return status(404, "NotFound", f'{info.plural} "{name}" not found', name=name, kind=info.plural)
        if method == "GET":
            return httpx.Response(200, json=current)
        if method == "POST" and sub == "binding":
            current.setdefault("spec", {})["nodeName"] = body["target"]["name"]
            self.put(info, current)
            return httpx.Response(201, json={"kind": "Status", "apiVersion": "v1", "status": "Success"})
        if method == "PUT":
            sent_rv = body.get("metadata", {}).get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                return status(409, "Conflict", f'Operation cannot be fulfilled on {info.group_resource} '
                              f'"{name}": the object has been modified; please apply your changes to the '
                              "latest version and try again", name=name, kind=info.plural)
            body["metadata"]["uid"] = current["metadata"]["uid"]
            return httpx.Response(200, json=self.put(info, body))
        if method == "PATCH":
            if request.headers["content-type"] == "application/json-patch+json":
                patched = json_patch(current, body)
            else:
                patched = merge_patch(current, body)
            return httpx.Response(200, json=self.put(info, patched))
        if method == "DELETE":
            return httpx.Response(200, json=self.remove(info, namespace, name))
        return status(405, "MethodNotAllowed", f"{method} is not supported")

    def _matches(self, info: ResourceInfo, namespace: str, request: httpx.Request, obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        if namespace and meta.get("namespace") != namespace:
            return False
        labels = meta.get("labels") or {}
        for term in filter(None, request.url.params.get("labelSelector", "").split(",")):
            k, _, v = term.partition("=")
            if labels.get(k) != v:
                return False
        for term in filter(None, request.url.params.get("fieldSelector", "").split(",")):
            k, _, v = term.partition("=")
            value: Any = obj
            for part in k.split("."):
                value = (value or {}).get(part)
            if (value or "") != v:
                return False
        return True

    def _list(self, info: ResourceInfo, namespace: str, request: httpx.Request) -> httpx.Response:
        items = [o for (gr, _, _), o in self.objects.items()
                 if gr == info.group_resource and self._matches(info, namespace, request, o)]
        return httpx.Response(200, json={
            "kind": info.list_kind_name, "apiVersion": info.api_version,
            "metadata": {"resourceVersion": str(self.revision)},
            # Items of a real list carry no kind/apiVersion.
            "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items],
        })

    def _watch(self, info: ResourceInfo, namespace: str, request: httpx.Request) -> httpx.Response:
        since = int(request.url.params.get("resourceVersion") or self.revision)
        bookmarks = request.url.params.get("allowWatchBookmarks") == "true"

        def line(type_: str, obj: dict[str, Any]) -> bytes:
            return json.dumps({"type": type_, "object": obj}).encode() + b"\n"

        async def stream() -> AsyncIterator[bytes]:
            self.open_watches += 1
            try:
                if since < self.compacted:
                    yield line("ERROR", {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                         "reason": "Expired", "code": 410,
                                         "message": f"too old resource version: {since} ({self.compacted})"})
                    return
                seen, signal = since, self._watch_signal[0]
                while True:
                    for rev, gr, type_, obj in self.history:
                        if rev > seen and gr == info.group_resource:
                            seen = rev
                            if self._matches(info, namespace, request, obj):
                                yield line(type_, obj)
                    if self._watch_signal[0] != signal:
                        action = self._watch_signal[1]
                        if action == "drop":
                            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
                        if action == "expire":
                            yield line("ERROR", {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                 "reason": "Expired", "code": 410,
                                                 "message": "The resourceVersion for the provided watch is too old."})
                        if action == "bookmark" and bookmarks:
                            yield line("BOOKMARK", {"kind": info.kind, "apiVersion": info.api_version,
                                                    "metadata": {"resourceVersion": str(self.revision)}})
                            signal = self._watch_signal[0]
                            continue
                        return
                    async with self._changed:
                        await self._changed.wait()
            finally:
                self.open_watches -= 1

        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=stream())


PODS = lookup("", "pods")
NODES = lookup("", "nodes")
assert PODS is not None and NODES is not None


def pod(name: str, *, namespace: str = "default", node: str | None = None, **labels: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace, "labels": labels},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    if node:
        obj["spec"]["nodeName"] = node
    return obj


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


@pytest.fixture
async def server() -> FakeApiServer:
    return FakeApiServer()


@pytest.fixture
async def client(server: FakeApiServer) -> AsyncIterator[ApiClient]:
    async with server.client() as c:
        yield c


# --------------------------------------------------------------------------------------------
# Verbs, paths and parameters
# --------------------------------------------------------------------------------------------


async def test_create_get_update_delete_round_trip_on_kubernetes_paths(
    server: FakeApiServer, client: ApiClient
) -> None:
    created = await client.create("pods", pod("web"), namespace="default")
    assert created["kind"] == "Pod" and created["metadata"]["resourceVersion"] == "1"
    got = await client.get("po", "web", namespace="default")
    got["metadata"]["labels"] = {"tier": "front"}
    updated = await client.update("pods", got)
    assert updated["metadata"]["labels"] == {"tier": "front"}
    await client.delete("pods", "web", namespace="default")
    paths = [(r.method, r.url.path) for r in server.requests]
    assert paths == [
        ("POST", "/api/v1/namespaces/default/pods"),
        ("GET", "/api/v1/namespaces/default/pods/web"),
        ("PUT", "/api/v1/namespaces/default/pods/web"),
        ("DELETE", "/api/v1/namespaces/default/pods/web"),
    ]
    assert all(r.headers["authorization"] == "Bearer test-token" for r in server.requests)


async def test_group_resources_use_apis_paths_and_cluster_scoped_ones_no_namespace(
    server: FakeApiServer, client: ApiClient
) -> None:
    await client.create("leases.coordination.k8s.io", {"metadata": {"name": "l"}, "spec": {}},
                        namespace="kube-system")
    await client.create("nodes", {"metadata": {"name": "n1"}})
    assert [r.url.path for r in server.requests] == [
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
        "/api/v1/nodes",
    ]
    sent = json.loads(server.requests[0].content)
    assert sent["apiVersion"] == "coordination.k8s.io/v1" and sent["kind"] == "Lease"


async def test_list_sends_the_kubernetes_query_parameter_names(server: FakeApiServer, client: ApiClient) -> None:
    server.put(PODS, pod("a", tier="db"))
    result = await client.list("pods", namespace="default", label_selector="tier=db",
                               field_selector="metadata.name=a", limit=500, continue_="tok",
                               resource_version="0")
    assert result["metadata"]["resourceVersion"] == "1" and len(result["items"]) == 1
    assert dict(server.requests[-1].url.params) == {
        "labelSelector": "tier=db", "fieldSelector": "metadata.name=a", "limit": "500",
        "continue": "tok", "resourceVersion": "0",
    }


async def test_delete_sends_delete_options_as_the_body(server: FakeApiServer, client: ApiClient) -> None:
    server.put(PODS, pod("web"))
    await client.delete("pods", "web", namespace="default", propagation_policy="Foreground",
                        grace_period_seconds=0, preconditions={"uid": "u1"})
    assert json.loads(server.requests[-1].content) == {
        "kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0, "preconditions": {"uid": "u1"},
    }


@pytest.mark.parametrize(
    ("patch_type", "content_type"),
    [("merge", "application/merge-patch+json"), ("strategic", "application/strategic-merge-patch+json"),
     ("json", "application/json-patch+json")],
)
async def test_patch_types_map_to_their_content_types(
    server: FakeApiServer, client: ApiClient, patch_type: str, content_type: str
) -> None:
    server.put(PODS, pod("web"))
    body: Any = ([{"op": "add", "path": "/metadata/labels/a", "value": "b"}] if patch_type == "json"
                 else {"metadata": {"labels": {"a": "b"}}})
    patched = await client.patch("pods", "web", body, patch_type=patch_type,  # type: ignore[arg-type]
                                 namespace="default")
    assert patched["metadata"]["labels"] == {"a": "b"}
    assert server.requests[-1].headers["content-type"] == content_type


async def test_patch_of_a_subresource_and_an_unknown_patch_type(server: FakeApiServer, client: ApiClient) -> None:
    server.put(PODS, pod("web"))
    await client.patch("pods", "web", {"status": {"phase": "Running"}}, namespace="default",
                       subresource="status")
    assert server.requests[-1].url.path == "/api/v1/namespaces/default/pods/web/status"
    with pytest.raises(ValueError, match="allowed: merge, strategic, json"):
        await client.patch("pods", "web", {}, patch_type="apply", namespace="default")  # type: ignore[arg-type]


async def test_update_status_puts_to_the_status_subresource(server: FakeApiServer, client: ApiClient) -> None:
    obj = server.put(PODS, pod("web"))
    await client.update_status("pods", {**obj, "status": {"phase": "Running"}})
    assert server.requests[-1].method == "PUT"
    assert server.requests[-1].url.path == "/api/v1/namespaces/default/pods/web/status"


async def test_bind_posts_a_binding_to_the_pod_binding_subresource(
    server: FakeApiServer, client: ApiClient
) -> None:
    server.put(PODS, pod("web"))
    await client.bind("default", "web", "node-1")
    request = server.requests[-1]
    assert (request.method, request.url.path) == ("POST", "/api/v1/namespaces/default/pods/web/binding")
    assert json.loads(request.content) == {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web", "namespace": "default"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"},
    }
    assert server.objects[("pods", "default", "web")]["spec"]["nodeName"] == "node-1"


async def test_logs_come_back_as_text_and_stream_line_by_line(server: FakeApiServer) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b"one\ntw", b"o\n", b"three"):
            yield chunk

    def logs(request: httpx.Request) -> httpx.Response | None:
        if request.url.params.get("follow") == "true":
            return httpx.Response(200, content=chunks(), headers={"Content-Type": "text/plain"})
        return httpx.Response(200, text="one\ntwo\n", headers={"Content-Type": "text/plain"})

    server.intercept = logs
    async with server.client() as client:
        assert await client.get_log("default", "web", container="c", tail_lines=2) == "one\ntwo\n"
        assert dict(server.requests[-1].url.params) == {"container": "c", "tailLines": "2"}
        assert server.requests[-1].url.path == "/api/v1/namespaces/default/pods/web/log"
        lines = [line async for line in client.stream_log("default", "web", container="c")]
    assert lines == ["one", "two", "three"]
    assert dict(server.requests[-1].url.params) == {"container": "c", "follow": "true"}


# --------------------------------------------------------------------------------------------
# Typed errors
# --------------------------------------------------------------------------------------------


async def test_a_404_status_becomes_not_found_with_its_details(client: ApiClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.get("pods", "ghost", namespace="default")
    assert caught.value.message == 'pods "ghost" not found'
    assert (caught.value.name, caught.value.kind) == ("ghost", "pods")


async def test_creating_twice_raises_already_exists_and_a_stale_update_conflict(client: ApiClient) -> None:
    first = await client.create("pods", pod("web"))
    with pytest.raises(AlreadyExists):
        await client.create("pods", pod("web"))
    await client.update("pods", first)
    with pytest.raises(Conflict, match="the object has been modified"):
        await client.update("pods", first)  # still carries resourceVersion 1


async def test_invalid_keeps_the_field_causes(server: FakeApiServer, client: ApiClient) -> None:
    server.intercept = lambda request: httpx.Response(422, json={
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422, "reason": "Invalid",
        "message": 'Pod "x" is invalid: spec.containers: Required value',
        "details": {"name": "x", "kind": "Pod", "causes": [
            {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}]},
    })
    with pytest.raises(Invalid) as caught:
        await client.create("pods", pod("x"))
    assert [(c.field, c.reason) for c in caught.value.causes] == [("spec.containers", "FieldValueRequired")]


async def test_a_body_that_is_not_a_status_still_gives_the_error_of_its_code(
    server: FakeApiServer, client: ApiClient
) -> None:
    server.intercept = lambda request: httpx.Response(503, text="upstream gone")
    with pytest.raises(Unavailable, match="upstream gone"):
        await client.get("pods", "x", namespace="default")


async def test_connection_failures_raise_unavailable_naming_the_server_after_bounded_read_retries(
    server: FakeApiServer,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    server.intercept = refuse
    async with server.client(read_retries=2) as client:
        with pytest.raises(Unavailable, match=r"cannot reach the API server at https://fake-apiserver:6443"):
            await client.list("pods")
        assert len(server.requests) == 3  # one try and two retries
        with pytest.raises(Unavailable):
            await client.create("pods", pod("web"))
        assert len(server.requests) == 4  # a write is never repeated behind the caller's back


async def test_a_read_retried_after_a_transient_connection_error_succeeds(server: FakeApiServer) -> None:
    server.put(PODS, pod("web"))
    failures = iter([True])

    def flaky(request: httpx.Request) -> httpx.Response | None:
        if next(failures, False):
            raise httpx.ConnectError("connection reset")
        return None

    server.intercept = flaky
    async with server.client() as client:
        assert (await client.get("pods", "web", namespace="default"))["metadata"]["name"] == "web"


async def test_a_429_with_retry_after_is_sent_again_even_for_a_create_and_without_it_raised(
    server: FakeApiServer,
) -> None:
    throttled = iter([True, True])

    def busy(request: httpx.Request) -> httpx.Response | None:
        if next(throttled, False):
            response = status(429, "TooManyRequests", "Too many requests, please try again later")
            response.headers["Retry-After"] = "0"
            return response
        return None

    server.intercept = busy
    async with server.client() as client:
        # API Priority and Fairness answered 429 before running it: the create is safe to repeat.
        assert (await client.create("pods", pod("web")))["metadata"]["name"] == "web"
        assert len(server.requests) == 3
        server.intercept = lambda request: status(429, "TooManyRequests", "Cannot evict pod")
        with pytest.raises(ApiError) as raised:  # no Retry-After: the caller decides (kubectl drain)
            await client.get("pods", "web", namespace="default")
        assert raised.value.code == 429 and len(server.requests) == 4


# --------------------------------------------------------------------------------------------
# Watch
# --------------------------------------------------------------------------------------------


def chunked(*chunks: bytes) -> Callable[[httpx.Request], httpx.Response]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return lambda request: httpx.Response(200, content=body())


async def test_watch_parses_events_split_across_chunks_and_several_per_chunk(server: FakeApiServer) -> None:
    e1 = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "caf\u00e9", "resourceVersion": "5"}}},
                    ensure_ascii=False).encode()
    e2 = json.dumps({"type": "MODIFIED", "object": {"metadata": {"name": "b\u2028", "resourceVersion": "6"}}},
                    ensure_ascii=False).encode()
    e3 = json.dumps({"type": "DELETED", "object": {"metadata": {"name": "c", "resourceVersion": "7"}}}).encode()
    stream = e1 + b"\n" + e2 + b"\n" + e3 + b"\n"
    cut = stream.index("\u00e9".encode()) + 1  # in the middle of a two-byte character
    server.intercept = chunked(stream[:10], stream[10:cut], stream[cut:])
    async with server.client() as client:
        events = [e async for e in client.watch("pods", resource_version="4")]
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "caf\u00e9"), ("MODIFIED", "b\u2028"), ("DELETED", "c")]
    assert isinstance(events[0], WatchEvent)
    type_, obj = events[2]
    assert type_ == "DELETED" and obj["metadata"]["resourceVersion"] == "7"


async def test_watch_sends_the_kubernetes_query_parameters(server: FakeApiServer) -> None:
    server.intercept = chunked(b"")
    async with server.client() as client:
        async for _ in client.watch("pods", namespace="ns1", resource_version="12", label_selector="a=b",
                                    field_selector="spec.nodeName=n1", timeout_seconds=300,
                                    allow_bookmarks=True):
            pass
    request = server.requests[-1]
    assert request.url.path == "/api/v1/namespaces/ns1/pods"
    assert dict(request.url.params) == {
        "watch": "true", "resourceVersion": "12", "labelSelector": "a=b", "fieldSelector": "spec.nodeName=n1",
        "timeoutSeconds": "300", "allowWatchBookmarks": "true",
    }


async def test_an_error_event_with_a_410_status_raises_expired(server: FakeApiServer) -> None:
    server.put(PODS, pod("a"))
    server.compact()
    server.put(PODS, pod("b"))
    async with server.client() as client:
        with pytest.raises(Expired, match="too old resource version"):
            async for _ in client.watch("pods", resource_version="0"):
                pass


async def test_a_watch_ends_normally_when_the_server_ends_it(server: FakeApiServer) -> None:
    server.put(PODS, pod("a"))
    async with server.client() as client:
        seen: list[str] = []
        async for type_, obj in client.watch("pods", resource_version="0"):
            seen.append(f"{type_} {obj['metadata']['name']}")
            server.signal_watches("end")
    assert seen == ["ADDED a"]


async def test_a_watch_cut_mid_stream_raises_unavailable(server: FakeApiServer) -> None:
    server.put(PODS, pod("a"))
    async with server.client() as client:
        with pytest.raises(Unavailable, match="watch of pods"):
            async for _ in client.watch("pods", resource_version="0"):
                server.signal_watches("drop")


async def test_a_watch_refused_with_a_status_raises_before_any_event(server: FakeApiServer) -> None:
    server.intercept = lambda request: status(403, "Forbidden", 'pods is forbidden: User "x" cannot watch')
    async with server.client() as client:
        with pytest.raises(Forbidden, match="cannot watch"):
            async for _ in client.watch("pods"):
                pass


# --------------------------------------------------------------------------------------------
# Kubeconfig and TLS
# --------------------------------------------------------------------------------------------


async def _https_echo_server(home: LabHome, *, require_client_cert: bool = False
                             ) -> tuple[asyncio.Server, int, list[str]]:
    """A real HTTPS server with the lab certificate that answers every request with a Pod
    (and, asked to, requires a client certificate signed by the lab CA: its CN is recorded)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(home.apiserver_cert, home.apiserver_key)
    if require_client_cert:
        context.load_verify_locations(home.ca_cert)
        context.verify_mode = ssl.CERT_REQUIRED
    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        peer = writer.get_extra_info("peercert")
        if peer:
            head += "client-cn: " + dict(x[0] for x in peer["subject"])["commonName"]
        seen.append(head)
        body = json.dumps({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web"}}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    return srv, srv.sockets[0].getsockname()[1], seen


async def test_from_kubeconfig_verifies_the_lab_ca_and_sends_the_token(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    ensure_pki(home)
    srv, port, seen = await _https_echo_server(home)
    try:
        path = tmp_path / "admin.kubeconfig"
        write_kubeconfig(path, server=f"https://127.0.0.1:{port}", ca_pem=home.ca_cert.read_bytes(),
                         token="s3cret", user="admin")
        async with ApiClient.from_kubeconfig(path) as client:
            assert client.server == f"https://127.0.0.1:{port}"
            got = await client.get("pods", "web", namespace="default")
        assert got["metadata"]["name"] == "web"
        assert "GET /api/v1/namespaces/default/pods/web HTTP/1.1" in seen[0]
        assert "authorization: bearer s3cret" in seen[0].lower()
    finally:
        srv.close()
        await srv.wait_closed()


async def test_a_server_not_signed_by_the_configured_ca_is_unavailable(tmp_path: Path) -> None:
    lab, other = LabHome(tmp_path / "lab"), LabHome(tmp_path / "other")
    ensure_pki(lab)
    ensure_pki(other)
    srv, port, _ = await _https_echo_server(lab)
    try:
        async with ApiClient(f"https://127.0.0.1:{port}", ca_file=other.ca_cert, read_retries=0) as client:
            with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get("pods", "web", namespace="default")
    finally:
        srv.close()
        await srv.wait_closed()


async def test_from_kubeconfig_shows_the_client_certificate(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    ensure_pki(home)
    srv, port, seen = await _https_echo_server(home, require_client_cert=True)
    try:
        path = tmp_path / "alice.kubeconfig"
        write_kubeconfig(path, server=f"https://127.0.0.1:{port}", ca_pem=home.ca_cert.read_bytes(), user="alice",
                         client_cert=issue_client_certificate(home, user="alice", groups=["dev"]))
        async with ApiClient.from_kubeconfig(path) as client:
            await client.get("pods", "web", namespace="default")
        assert "client-cn: alice" in seen[0] and "authorization" not in seen[0].lower()
    finally:
        srv.close()
        await srv.wait_closed()


def test_a_client_certificate_without_its_key_says_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"client-certificate": "alice.crt"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    with pytest.raises(KubeconfigError, match="needs both client-certificate and client-key; client-key is missing"):
        ApiClient.from_kubeconfig(path)


def test_a_kubeconfig_without_the_named_context_says_which_exist(tmp_path: Path) -> None:
    path = tmp_path / "config"
    write_kubeconfig(path, server="https://127.0.0.1:1", ca_pem=b"", token="t", user="u")
    with pytest.raises(KubeconfigError, match=r"no context named 'other' \(have \['labkit'\]\)"):
        ApiClient.from_kubeconfig(path, context="other")
    with pytest.raises(KubeconfigError, match="cannot read kubeconfig"):
        ApiClient.from_kubeconfig(tmp_path / "missing")
