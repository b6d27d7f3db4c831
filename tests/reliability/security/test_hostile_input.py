"""Hostile input the bad-input suite (tests/integration/apiserver/test_bad_input.py) does not send:
path traversal in every segment and by every encoding, sent raw; invalid names for every kind;
out-of-range numbers; invalid UTF-8 in the path and query; deep nesting inside a valid object;
oversize bodies on every write verb. Every answer is a 4xx Status within a timeout — zero 5xx,
zero hangs — and nothing outside the addressed object changes.

Kubernetes equivalent: staging/src/k8s.io/apiserver/pkg/endpoints/handlers, pkg/apis/core/validation
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests import factories
from tests.reliability.security.conftest import SecureServer
from tests.reliability.security.rawhttp import raw_request

pytestmark = pytest.mark.timeout(120)

MERGE = {"Content-Type": "application/merge-patch+json"}
MiB = 1024 * 1024


def assert_4xx_status(code: int, body: bytes, what: str) -> dict[str, Any]:
    assert 400 <= code < 500, f"{what}: {code} {body[:300]!r}"
    status = json.loads(body)
    assert status["kind"] == "Status" and status["code"] == code, f"{what}: {status}"
    return status


# -- path traversal ------------------------------------------------------------------------------------

TRAVERSALS = [
    "..", "../..", "..%2F..%2Fnodes%2Fsentinel", "..%2f..%2fnodes%2fsentinel", "%2e%2e%2F%2e%2e%2Fnodes%2Fsentinel",
    "..%252F..%252Fnodes%252Fsentinel", "..%5C..%5Cnodes%5Csentinel", "..\\..\\nodes\\sentinel", "sentinel%00",
    "%2E%2E", "a%2Fb", "%2F", "sentinel%2F..", ".%2E/.%2E/nodes/sentinel", "..;/..;/nodes/sentinel",
    "\u2025", "%C0%AE%C0%AE%2F", "%00", "%20sentinel", "sentinel%20",
]


@pytest.fixture
async def sentinels(admin: httpx.AsyncClient, namespace: str) -> dict[str, dict[str, Any]]:
    """A Node, a pod and a Deployment that traversal must never reach; their state before."""
    node = factories.node(f"sentinel-{uuid.uuid4().hex[:6]}")
    node["spec"]["unschedulable"] = True
    made = {
        "node": (await admin.post("/api/v1/nodes", json=node)).json(),
        "pod": (await admin.post(f"/api/v1/namespaces/{namespace}/pods",
                                 json=factories.pod("sentinel", namespace=namespace))).json(),
    }
    return made


async def _unchanged(admin: httpx.AsyncClient, namespace: str, before: dict[str, dict[str, Any]]) -> None:
    node = before["node"]["metadata"]
    r = await admin.get(f"/api/v1/nodes/{node['name']}")
    assert r.status_code == 200 and r.json()["metadata"]["resourceVersion"] == node["resourceVersion"], r.text
    r = await admin.get(f"/api/v1/namespaces/{namespace}/pods/sentinel")
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["resourceVersion"] == before["pod"]["metadata"]["resourceVersion"]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])  # POST to an object path is 405 first
async def test_path_traversal_in_names_is_a_4xx_and_touches_nothing(secure_server: SecureServer,
                                                                    admin: httpx.AsyncClient, namespace: str,
                                                                    sentinels: dict[str, Any], method: str) -> None:
    node = sentinels["node"]["metadata"]["name"]
    patch = json.dumps({"metadata": {"labels": {"hijacked": "yes"}}}).encode()
    body = patch if method in ("PUT", "PATCH", "POST") else b""
    targets = []
    for t in TRAVERSALS:
        t = t.replace("sentinel", node)
        targets += [f"/api/v1/namespaces/{namespace}/pods/{t}", f"/api/v1/namespaces/{namespace}/pods/sentinel/{t}",
                    f"/api/v1/namespaces/{t}/pods/sentinel", f"/api/v1/nodes/{t}"]
    answered = 0
    for target in targets:
        raw_target = target.encode("utf-8")
        code, headers, answer = await raw_request(secure_server, method, raw_target, body)
        answered += 1
        if code < 400:
            # Only a path that, decoded, really names an object may succeed (e.g. GET of the namespace list).
            assert method == "GET", f"{method} {target}: {code} {answer[:200]!r}"
            continue
        if headers.get("content-type", "").startswith("application/json"):
            assert_4xx_status(code, answer, f"{method} {target}")
        else:
            assert 400 <= code < 500, f"{method} {target}: {code} {answer[:200]!r}"
    assert answered == len(targets)
    await _unchanged(admin, namespace, sentinels)


# -- invalid names, every kind --------------------------------------------------------------------------

INVALID_NAMES = ["UPPER", "a/b", "..", ".", "a..b", "-x", "x-", "a" * 254, "with space", "under_score", "ü",
                 "a\u0000b", "a%2Fb", "../../etc/passwd"]
KINDS = {
    "pods": "/api/v1/namespaces/{ns}/pods", "events": "/api/v1/namespaces/{ns}/events",
    "nodes": "/api/v1/nodes", "namespaces": "/api/v1/namespaces",
    "deployments": "/apis/apps/v1/namespaces/{ns}/deployments", "replicasets": "/apis/apps/v1/namespaces/{ns}/replicasets",
    "leases": "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
}


def manifest(kind: str, name: str, namespace: str) -> dict[str, Any]:
    meta = {"name": name}
    if kind == "pods":
        return {**factories.pod("x", namespace=namespace), "metadata": {**meta, "namespace": namespace}}
    if kind == "nodes":
        return {**factories.node("x"), "metadata": meta}
    if kind == "namespaces":
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
    if kind == "events":
        return {"apiVersion": "v1", "kind": "Event", "metadata": meta, "type": "Normal", "reason": "R",
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace}}
    if kind == "leases":
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": {}}
    labels = {"app": "x"}
    return {"apiVersion": "apps/v1", "kind": "Deployment" if kind == "deployments" else "ReplicaSet", "metadata": meta,
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_invalid_names_of_every_kind_are_422_naming_metadata_name(admin: httpx.AsyncClient, namespace: str,
                                                                        kind: str) -> None:
    path = KINDS[kind].format(ns=namespace)
    for name in INVALID_NAMES:
        r = await admin.post(path, json=manifest(kind, name, namespace))
        assert r.status_code in (400, 422), f"{kind} {name!r}: {r.status_code} {r.text[:300]}"
        status = r.json()
        assert status["kind"] == "Status"
        if r.status_code == 422:
            assert "metadata.name" in [c["field"] for c in status["details"]["causes"]], status
    listed = (await admin.get(path)).json()["items"]
    assert not [o["metadata"]["name"] for o in listed if o["metadata"]["name"] in INVALID_NAMES]


# -- numbers out of range --------------------------------------------------------------------------------

BIG = [2**31, 2**63, 10**30, -(2**63) - 1, 1e308, 1.5, -0.5, "3", None, True]


@pytest.mark.parametrize("value", BIG, ids=[repr(v) for v in BIG])
async def test_replicas_out_of_range_or_of_the_wrong_type_are_4xx(admin: httpx.AsyncClient, namespace: str,
                                                                  value: Any) -> None:
    obj = manifest("deployments", f"d-{uuid.uuid4().hex[:6]}", namespace)
    obj["spec"]["replicas"] = value
    r = await admin.post(KINDS["deployments"].format(ns=namespace), json=obj)
    if value is None:
        assert r.status_code == 201, r.text  # replicas: null is "not set": defaulted to 1
        assert r.json()["spec"]["replicas"] == 1
        return
    assert r.status_code in (400, 422), f"replicas={value!r}: {r.status_code} {r.text[:300]}"


@pytest.mark.parametrize(("field", "value"), [
    ("terminationGracePeriodSeconds", 10**30), ("activeDeadlineSeconds", 2**63), ("priority", 2**40),
    ("terminationGracePeriodSeconds", -(10**30)),
])
async def test_pod_spec_numbers_out_of_range_are_4xx(admin: httpx.AsyncClient, namespace: str, field: str,
                                                     value: int) -> None:
    obj = factories.pod(f"n-{uuid.uuid4().hex[:6]}", namespace=namespace)
    obj["spec"][field] = value
    r = await admin.post(KINDS["pods"].format(ns=namespace), json=obj)
    assert 400 <= r.status_code < 500, f"{field}={value}: {r.status_code} {r.text[:300]}"


@pytest.mark.parametrize("port", [0, -1, 65536, 2**31, 10**30])
async def test_container_ports_out_of_range_are_422(admin: httpx.AsyncClient, namespace: str, port: int) -> None:
    obj = factories.pod(f"p-{uuid.uuid4().hex[:6]}", namespace=namespace)
    obj["spec"]["containers"][0]["ports"] = [{"containerPort": port}]
    r = await admin.post(KINDS["pods"].format(ns=namespace), json=obj)
    assert r.status_code in (400, 422), f"containerPort={port}: {r.status_code} {r.text[:300]}"


@pytest.mark.parametrize(("param", "value"), [
    ("gracePeriodSeconds", str(10**30)), ("gracePeriodSeconds", str(2**63)), ("gracePeriodSeconds", "1e9"),
])
async def test_delete_with_an_out_of_range_grace_period_is_a_4xx_or_honoured(admin: httpx.AsyncClient, namespace: str,
                                                                             param: str, value: str) -> None:
    name = f"g-{uuid.uuid4().hex[:6]}"
    assert (await admin.post(KINDS["pods"].format(ns=namespace), json=factories.pod(name, namespace=namespace))
            ).status_code == 201
    r = await admin.delete(f"/api/v1/namespaces/{namespace}/pods/{name}", params={param: value})
    assert r.status_code < 500, f"{param}={value}: {r.status_code} {r.text[:300]}"


@pytest.mark.parametrize(("param", "value"), [("limit", str(10**30)), ("limit", str(2**63)),
                                              ("timeoutSeconds", str(10**30)), ("resourceVersion", str(10**30)),
                                              ("resourceVersion", str(2**63))])
async def test_list_and_watch_parameters_out_of_range_are_not_a_server_error(secure_server: SecureServer,
                                                                             namespace: str, param: str,
                                                                             value: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    async with secure_server.client("admin", timeout=httpx.Timeout(30, read=5)) as client:
        r = await client.get(path, params={param: value})
        assert r.status_code < 500, f"list {param}={value}: {r.status_code} {r.text[:300]}"
        async with client.stream("GET", path, params={param: value, "watch": "true",
                                                      **({"timeoutSeconds": "1"} if param != "timeoutSeconds" else {})}
                                 ) as w:
            assert w.status_code < 500, f"watch {param}={value}: {w.status_code}"
            if w.status_code == 200 and param == "resourceVersion":
                first = json.loads(await anext(w.aiter_lines()))
                assert first["type"] == "ERROR" or first["type"] in ("ADDED", "BOOKMARK"), first


def _continue_token(payload: dict[str, Any]) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("token", [
    _continue_token({"rv": 10**30, "ns": "", "name": ""}), _continue_token({"rv": -1, "ns": "", "name": ""}),
    _continue_token({"rv": 1, "ns": "a\u0000b", "name": ""}), _continue_token({"rv": 1, "ns": 5, "name": []}),
    _continue_token({"rv": "1", "ns": "", "name": ""}), _continue_token({"rv": 1.5}), _continue_token([]),
])
async def test_a_forged_continue_token_is_a_4xx(admin: httpx.AsyncClient, namespace: str, token: str) -> None:
    r = await admin.get(f"/api/v1/namespaces/{namespace}/pods", params={"limit": "1", "continue": token})
    assert 400 <= r.status_code < 500 or r.status_code == 410, f"{token}: {r.status_code} {r.text[:300]}"


@pytest.mark.parametrize("selector", ["spec.nodeName=\u0000", "metadata.name=a\u0000b"])
async def test_selectors_with_characters_no_object_can_hold_are_400(admin: httpx.AsyncClient, namespace: str,
                                                                     selector: str) -> None:
    r = await admin.get(f"/api/v1/namespaces/{namespace}/pods", params={"fieldSelector": selector})
    assert r.status_code == 400, r.text[:300]
    r = await admin.get(f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": "a=" + selector[-6:]})
    assert r.status_code == 400, r.text[:300]


# -- encodings in the URL ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "/api/v1/namespaces/%FF%FE/pods", "/api/v1/namespaces/{ns}/pods/%FF", "/api/v1/namespaces/{ns}/pods?labelSelector=%FF",
    "/api/v1/namespaces/{ns}/pods?fieldSelector=spec.nodeName%3D%C3%28", "/api/v1/namespaces/{ns}/pods?limit=%00",
    "/api/v1/namespaces/{ns}/pods?watch=true&resourceVersion=%FF&timeoutSeconds=1",
])
async def test_invalid_utf8_in_the_path_or_query_is_not_a_server_error(secure_server: SecureServer, namespace: str,
                                                                       target: str) -> None:
    code, _, answer = await raw_request(secure_server, "GET", target.format(ns=namespace))
    assert code < 500, f"{target}: {code} {answer[:300]!r}"


async def test_raw_invalid_utf8_bytes_in_the_request_line_are_a_4xx(secure_server: SecureServer,
                                                                    namespace: str) -> None:
    code, _, answer = await raw_request(secure_server, "GET", f"/api/v1/namespaces/{namespace}/pods/".encode() + b"\xff\xfe")
    assert 400 <= code < 500, f"{code} {answer[:300]!r}"


# -- deep nesting inside a valid object, and oversize on every write verb ---------------------------------

@pytest.mark.parametrize("depth", [100, 500, 900, 5_000])
async def test_deep_nesting_in_a_field_kept_as_given_is_not_a_server_error(admin: httpx.AsyncClient, namespace: str,
                                                                           depth: int) -> None:
    """``lifecycle`` is kept as given, so validation does not stop the nesting before storage does."""
    name = f"deep-{depth}"
    nested = "[" * depth + "]" * depth
    raw = json.dumps(factories.pod(name, namespace=namespace)).replace(
        '"image": "busybox"', f'"image": "busybox", "lifecycle": {{"postStart": {{"exec": {{"x": {nested}}}}}}}', 1)
    r = await admin.post(KINDS["pods"].format(ns=namespace), content=raw.encode(),
                         headers={"Content-Type": "application/json"})
    assert r.status_code < 500, f"depth {depth}: {r.status_code} {r.text[:300]}"
    if r.status_code == 201:
        got = await admin.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        assert got.status_code == 200, got.text[:300]
        r = await admin.patch(f"/api/v1/namespaces/{namespace}/pods/{name}",
                              json={"metadata": {"labels": {"a": "b"}}}, headers=MERGE)
        assert r.status_code < 500, r.text[:300]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_a_body_over_the_limit_is_413_on_every_write_verb(admin: httpx.AsyncClient, namespace: str,
                                                                method: str) -> None:
    name = f"big-{method.lower()}"
    assert (await admin.post(KINDS["pods"].format(ns=namespace), json=factories.pod(name, namespace=namespace))
            ).status_code == 201
    r = await admin.request(method, f"/api/v1/namespaces/{namespace}/pods/{name}", content=b" " * (3 * MiB + 1),
                            headers=MERGE if method == "PATCH" else {"Content-Type": "application/json"})
    assert r.status_code == 413, r.text[:300]
    assert r.json()["reason"] == "RequestEntityTooLarge"
