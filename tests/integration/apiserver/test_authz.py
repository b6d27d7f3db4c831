"""The authorization matrix on a real lab: identity x verb x resource -> allowed or 403 Forbidden,
and no token or a wrong token -> 401 Unauthorized.

Every case is one row of a table and runs against its own fresh object (created by the admin),
so rows never depend on each other. The rows follow the roles in orchestrator/apiserver/auth.py:
admin and the controller manager may do everything; the viewer reads; the scheduler reads,
binds pods, writes pod status, events and leases; a node agent (system:node:<n>) manages its own
Node and Lease and the pods bound to it, and nothing of another node's.

Kubernetes equivalent: test/integration/auth/node_test.go, test/integration/auth/rbac_test.go
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import pytest

from tests import factories
from tests.support.lab import Lab

# The shared conftest passes the CA path to httpx as a string, which httpx 0.28 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:`verify=<str>` is deprecated:DeprecationWarning")

ADMIN = "admin"
VIEWER = "viewer"
SCHEDULER = "system:kube-scheduler"
CONTROLLER_MANAGER = "system:kube-controller-manager"
NODE_1 = "system:node:node-1"
NODE_2 = "system:node:node-2"

Verb = Literal["get", "list", "watch", "create", "update", "patch", "delete"]
VERBS: tuple[Verb, ...] = ("get", "list", "watch", "create", "update", "patch", "delete")
READS = frozenset({"get", "list", "watch"})

# plural -> (path prefix, namespaced)
RESOURCES: dict[str, tuple[str, bool]] = {
    "pods": ("/api/v1", True),
    "events": ("/api/v1", True),
    "nodes": ("/api/v1", False),
    "namespaces": ("/api/v1", False),
    "deployments": ("/apis/apps/v1", True),
    "replicasets": ("/apis/apps/v1", True),
    "leases": ("/apis/coordination.k8s.io/v1", True),
}

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@dataclass(frozen=True)
class Case:
    """One row: ``user`` does ``verb`` on ``resource`` and is allowed (any 2xx) or not (403)."""

    user: str
    verb: Verb
    resource: str
    allowed: bool
    subresource: str | None = None
    name: str | None = None  # a fixed object name (node-1's Node or Lease); default: a fresh one
    namespace: str | None = None  # a fixed namespace; default: the test's own namespace
    all_namespaces: bool = False  # list/watch /api/v1/pods rather than a namespace's pods
    bound_to: str | None = None  # pods: bind the pod to this node before the request
    field_selector: str | None = None
    bug: str | None = None  # a known server bug: the row is expected to fail until it is fixed

    @property
    def id(self) -> str:
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        extras = [f"name={self.name}" if self.name else "", f"ns={self.namespace}" if self.namespace else "",
                  "all-namespaces" if self.all_namespaces else "", f"bound-to={self.bound_to}" if self.bound_to else "",
                  f"fieldSelector={self.field_selector}" if self.field_selector else ""]
        tail = ",".join(e for e in extras if e)
        return f"{self.user}-{self.verb}-{what}" + (f"[{tail}]" if tail else "") + ("-allowed" if self.allowed else "-403")


def _everything(user: str) -> list[Case]:
    return [Case(user, verb, resource, True) for resource in RESOURCES for verb in VERBS]


def _viewer() -> list[Case]:
    return [Case(VIEWER, verb, resource, verb in READS) for resource in RESOURCES for verb in VERBS] + [
        Case(VIEWER, "create", "pods", False, subresource="binding"),
        Case(VIEWER, "patch", "pods", False, subresource="status"),
        Case(VIEWER, "get", "pods", True, subresource="status"),
    ]


def _scheduler() -> list[Case]:
    cases = []
    for resource in RESOURCES:
        for verb in VERBS:
            if resource == "leases":
                continue  # leases are the scheduler's in kube-system: below
            cases.append(Case(SCHEDULER, verb, resource, verb in READS or resource == "events"))
    cases += [Case(SCHEDULER, verb, "leases", True, namespace="kube-system") for verb in VERBS]
    cases += [
        Case(SCHEDULER, "create", "pods", True, subresource="binding"),
        Case(SCHEDULER, "patch", "pods", True, subresource="status"),
        Case(SCHEDULER, "update", "pods", True, subresource="status"),
        Case(SCHEDULER, "get", "pods", True, bound_to="node-2"),
    ]
    return cases


def _node() -> list[Case]:
    return [
        # Nodes: read all; write only its own Node (and its status).
        Case(NODE_1, "get", "nodes", True),
        Case(NODE_1, "list", "nodes", True),
        Case(NODE_1, "watch", "nodes", True),
        Case(NODE_1, "get", "nodes", True, name="node-2"),
        Case(NODE_1, "create", "nodes", True, name="node-1"),
        Case(NODE_1, "create", "nodes", False, name="node-2"),
        Case(NODE_1, "patch", "nodes", True, name="node-1"),
        Case(NODE_1, "update", "nodes", True, name="node-1"),
        Case(NODE_1, "patch", "nodes", True, name="node-1", subresource="status"),
        Case(NODE_1, "update", "nodes", True, name="node-1", subresource="status"),
        Case(NODE_1, "patch", "nodes", False, name="node-2"),
        Case(NODE_1, "patch", "nodes", False, name="node-2", subresource="status"),
        Case(NODE_1, "update", "nodes", False, name="node-2"),
        Case(NODE_1, "delete", "nodes", False, name="node-2"),
        # Leases: only its own, in kube-node-lease.
        Case(NODE_1, "create", "leases", True, name="node-1", namespace="kube-node-lease"),
        Case(NODE_1, "update", "leases", True, name="node-1", namespace="kube-node-lease"),
        Case(NODE_1, "patch", "leases", True, name="node-1", namespace="kube-node-lease"),
        Case(NODE_1, "get", "leases", True, name="node-1", namespace="kube-node-lease"),
        Case(NODE_1, "create", "leases", False, name="node-2", namespace="kube-node-lease"),
        Case(NODE_1, "update", "leases", False, name="node-2", namespace="kube-node-lease"),
        Case(NODE_1, "patch", "leases", False, name="node-2", namespace="kube-node-lease"),
        Case(NODE_1, "create", "leases", False, name="node-1"),  # its name, but not kube-node-lease
        # Pods: list and watch only its own, by field selector.
        Case(NODE_1, "list", "pods", True, all_namespaces=True, field_selector="spec.nodeName=node-1"),
        Case(NODE_1, "list", "pods", True, field_selector="spec.nodeName=node-1"),
        Case(NODE_1, "list", "pods", True, all_namespaces=True, field_selector="spec.nodeName==node-1"),
        Case(NODE_1, "watch", "pods", True, all_namespaces=True, field_selector="spec.nodeName=node-1"),
        Case(NODE_1, "list", "pods", False, all_namespaces=True),
        Case(NODE_1, "list", "pods", False),
        Case(NODE_1, "watch", "pods", False, all_namespaces=True),
        Case(NODE_1, "list", "pods", False, all_namespaces=True, field_selector="spec.nodeName=node-2"),
        Case(NODE_1, "watch", "pods", False, all_namespaces=True, field_selector="spec.nodeName=node-2"),
        # Pods: get, write status and delete only those bound to it.
        Case(NODE_1, "get", "pods", True, bound_to="node-1"),
        Case(NODE_1, "get", "pods", True, bound_to="node-1", subresource="status"),
        Case(NODE_1, "patch", "pods", True, bound_to="node-1", subresource="status"),
        Case(NODE_1, "update", "pods", True, bound_to="node-1", subresource="status"),
        Case(NODE_1, "delete", "pods", True, bound_to="node-1"),
        Case(NODE_1, "get", "pods", False, bound_to="node-2"),
        Case(NODE_1, "get", "pods", False, bound_to="node-2", subresource="status"),
        Case(NODE_1, "patch", "pods", False, bound_to="node-2", subresource="status"),
        Case(NODE_1, "update", "pods", False, bound_to="node-2", subresource="status"),
        Case(NODE_1, "delete", "pods", False, bound_to="node-2"),
        Case(NODE_1, "get", "pods", False),  # not bound to any node
        Case(NODE_1, "patch", "pods", False, bound_to="node-1"),  # only the status of its pods
        Case(NODE_1, "create", "pods", False),
        Case(NODE_1, "create", "pods", False, subresource="binding"),
        Case(NODE_2, "get", "pods", True, bound_to="node-2"),
        Case(NODE_2, "patch", "pods", True, bound_to="node-2", subresource="status"),
        Case(NODE_2, "get", "pods", False, bound_to="node-1"),
        Case(NODE_2, "patch", "pods", False, bound_to="node-1", subresource="status"),
        # Events: a node reports them; namespaces: it reads them; workloads: none of its business.
        Case(NODE_1, "create", "events", True),
        Case(NODE_1, "get", "namespaces", True),
        Case(NODE_1, "list", "namespaces", True),
        Case(NODE_1, "create", "namespaces", False),
        Case(NODE_1, "delete", "namespaces", False),
        Case(NODE_1, "list", "deployments", False),
        Case(NODE_1, "get", "replicasets", False),
        Case(NODE_1, "create", "deployments", False),
    ]


NODE_CREATE_BUG = ("a node cannot register its own Node: POST /api/v1/nodes carries no name in the URL, so "
                   "auth._authorize_node sees name=None and answers 403 (expected 201; NodeRestriction checks "
                   "the name in the body)")

LEASE_CREATE_BUG = ("a node may create another node's Lease: POST /apis/coordination.k8s.io/v1/namespaces/"
                    "kube-node-lease/leases by node-1 with metadata.name node-2 is 201 (expected 403); the route "
                    "authorizes create with no object, and _authorize_node allows create when obj is None")

CASES = _everything(ADMIN) + _everything(CONTROLLER_MANAGER) + _viewer() + _scheduler() + _node()

# A node's field selector must name exactly its node: "spec.nodeName=node-1" is a prefix of
# "spec.nodeName=node-10", which the server's substring check lets through.
NODE_SELECTOR_PREFIX_BUG = [
    pytest.param(Case(NODE_1, "list", "pods", False, all_namespaces=True, field_selector="spec.nodeName=node-10"),
                 id="system:node:node-1-list-pods[fieldSelector=spec.nodeName=node-10]-403"),
]


# -- manifests ------------------------------------------------------------------------------------

def manifest(resource: str, name: str, namespace: str | None) -> dict[str, Any]:
    """A small valid object of ``resource`` named ``name``."""
    meta: dict[str, Any] = {"name": name}
    if namespace and RESOURCES[resource][1]:
        meta["namespace"] = namespace
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    if resource == "pods":
        pod = factories.pod(name, namespace=namespace or "default")
        # The lab runs a scheduler; a pod that names another scheduler stays unbound until a row binds it.
        pod["spec"]["schedulerName"] = "authz-test"
        return pod
    if resource == "nodes":
        node = factories.node(name)
        node["spec"]["unschedulable"] = True  # the lab's scheduler must not place other tests' pods here
        return node
    if resource == "namespaces":
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
    if resource == "events":
        return {"apiVersion": "v1", "kind": "Event", "metadata": meta, "type": "Normal", "reason": "Testing",
                "message": "authorization matrix",
                "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": namespace}}
    if resource in ("deployments", "replicasets"):
        return {"apiVersion": "apps/v1", "kind": "Deployment" if resource == "deployments" else "ReplicaSet",
                "metadata": meta, "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": template}}
    if resource == "leases":
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": "authz-test", "leaseDurationSeconds": 40}}
    raise KeyError(resource)


def collection_path(resource: str, namespace: str | None) -> str:
    prefix, namespaced = RESOURCES[resource]
    if namespaced and namespace:
        return f"{prefix}/namespaces/{namespace}/{resource}"
    return f"{prefix}/{resource}"


def status_patch(resource: str) -> dict[str, Any]:
    if resource == "pods":
        return {"status": {"message": "patched by the authorization matrix"}}
    if resource == "nodes":
        return {"status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}
    raise KeyError(resource)


async def ensure_absent(api: httpx.AsyncClient, path: str) -> None:
    r = await api.delete(path, params={"gracePeriodSeconds": "0"})
    assert r.status_code in (200, 404), r.text


async def ensure_present(api: httpx.AsyncClient, resource: str, name: str, namespace: str | None) -> None:
    r = await api.post(collection_path(resource, namespace), json=manifest(resource, name, namespace))
    assert r.status_code in (201, 409), r.text


async def bind(api: httpx.AsyncClient, namespace: str, pod: str, node: str) -> None:
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods/{pod}/binding",
                       json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
                             "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
    assert r.status_code == 201, r.text


# -- running one row --------------------------------------------------------------------------------

async def perform(case: Case, *, lab: Lab, api: httpx.AsyncClient, test_namespace: str) -> httpx.Response:
    """Prepare the row's object as admin, then make the row's request as the row's user."""
    namespaced = RESOURCES[case.resource][1]
    ns = (case.namespace or test_namespace) if namespaced else None
    name = case.name or f"authz-{uuid.uuid4().hex[:8]}"
    collection = collection_path(case.resource, None if case.all_namespaces else ns)
    item = f"{collection_path(case.resource, ns)}/{name}"
    target = item + (f"/{case.subresource}" if case.subresource else "")

    if case.verb == "create" and case.subresource is None:
        await ensure_absent(api, item)  # a fixed name may be left from an earlier row or test
    elif case.verb not in ("list", "watch") or case.bound_to:
        await ensure_present(api, case.resource, name, ns)
        if case.bound_to:
            assert ns is not None
            await bind(api, ns, name, case.bound_to)

    async with lab.client(case.user) as client:
        params = {"fieldSelector": case.field_selector} if case.field_selector else {}
        match case.verb:
            case "get":
                return await client.get(target)
            case "list":
                return await client.get(collection, params=params)
            case "watch":
                params |= {"watch": "true", "timeoutSeconds": "1"}
                async with client.stream("GET", collection, params=params) as r:
                    if r.status_code >= 300:
                        await r.aread()
                    return r  # the status line is the answer; an allowed stream is left unread
            case "create":
                if case.subresource == "binding":
                    return await client.post(target, json={
                        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}})
                return await client.post(collection_path(case.resource, ns), json=manifest(case.resource, name, ns))
            case "update":
                current = await api.get(target)
                assert current.status_code == 200, current.text
                body = current.json()
                if case.subresource == "status":
                    body.update(status_patch(case.resource))
                else:
                    body["metadata"].setdefault("labels", {})["touched"] = "yes"
                return await client.put(target, json=body)
            case "patch":
                patch = status_patch(case.resource) if case.subresource == "status" else \
                    {"metadata": {"labels": {"touched": "yes"}}}
                return await client.patch(target, json=patch, headers=MERGE_PATCH)
            case "delete":
                return await client.delete(target)
    raise AssertionError(f"unknown verb {case.verb}")


def assert_forbidden(r: httpx.Response, user: str) -> None:
    assert r.status_code == 403, f"expected 403, got {r.status_code}: {r.text}"
    body = r.json()
    assert body["kind"] == "Status"
    assert body["reason"] == "Forbidden"
    assert body["code"] == 403
    assert f'User "{user}"' in body["message"], body["message"]


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(reason=case.bug, strict=True)] if case.bug else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES] + NODE_SELECTOR_PREFIX_BUG)
async def test_identity_may_or_may_not(case: Case, lab: Lab, api: httpx.AsyncClient, namespace: str) -> None:
    r = await perform(case, lab=lab, api=api, test_namespace=namespace)
    if case.allowed:
        assert 200 <= r.status_code < 300, f"{case.id}: expected success, got {r.status_code}: {r.text}"
    else:
        assert_forbidden(r, case.user)


def test_matrix_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


# -- a node token against another node's pod: the key case, step by step --------------------------

async def test_node_cannot_patch_the_status_of_another_nodes_pod(lab: Lab, api: httpx.AsyncClient,
                                                                  namespace: str) -> None:
    await ensure_present(api, "pods", "web", namespace)
    await bind(api, namespace, "web", "node-2")
    async with lab.client(NODE_1) as node1:
        r = await node1.patch(f"/api/v1/namespaces/{namespace}/pods/web/status",
                              json={"status": {"phase": "Failed", "message": "not yours"}}, headers=MERGE_PATCH)
    assert_forbidden(r, NODE_1)
    after = (await api.get(f"/api/v1/namespaces/{namespace}/pods/web")).json()
    assert (after.get("status") or {}).get("phase") != "Failed"
    assert "message" not in (after.get("status") or {})


async def test_node_asking_for_a_missing_pod_gets_403_like_any_pod_not_bound_to_it(lab: Lab, namespace: str) -> None:
    async with lab.client(NODE_1) as node1:
        r = await node1.get(f"/api/v1/namespaces/{namespace}/pods/missing")
    assert_forbidden(r, NODE_1)


async def test_node_list_by_field_selector_returns_only_its_pods(lab: Lab, api: httpx.AsyncClient,
                                                                 namespace: str) -> None:
    for pod, node in (("on-1", "node-1"), ("on-2", "node-2")):
        await ensure_present(api, "pods", pod, namespace)
        await bind(api, namespace, pod, node)
    async with lab.client(NODE_1) as node1:
        r = await node1.get(f"/api/v1/namespaces/{namespace}/pods", params={"fieldSelector": "spec.nodeName=node-1"})
    assert r.status_code == 200, r.text
    assert [p["metadata"]["name"] for p in r.json()["items"]] == ["on-1"]


# -- authentication -----------------------------------------------------------------------------------------

def assert_unauthorized(r: httpx.Response) -> None:
    assert r.status_code == 401, f"expected 401, got {r.status_code}: {r.text}"
    body = r.json()
    assert body["kind"] == "Status"
    assert body["reason"] == "Unauthorized"
    assert body["code"] == 401


PROTECTED_PATHS = ["/api", "/apis", "/api/v1", "/apis/apps/v1", "/version", "/openapi/v3", "/openapi/v3/api/v1",
                   "/metrics", "/api/v1/namespaces", "/api/v1/nodes", "/api/v1/pods",
                   "/api/v1/namespaces/default/pods", "/apis/apps/v1/namespaces/default/deployments",
                   "/api/v1/namespaces/default"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/livez"])
async def test_anonymous_may_probe_health(lab: Lab, path: str) -> None:
    async with lab.client("") as anonymous:
        r = await anonymous.get(path)
    assert r.status_code == 200, r.text
    assert r.text == "ok"


@pytest.mark.parametrize("path", PROTECTED_PATHS)
async def test_anonymous_gets_401_everywhere_else(lab: Lab, path: str) -> None:
    async with lab.client("") as anonymous:
        assert_unauthorized(await anonymous.get(path))


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_anonymous_writes_get_401(lab: Lab, method: str) -> None:
    async with lab.client("") as anonymous:
        r = await anonymous.request(method, "/api/v1/namespaces/default/pods/x", json=factories.pod("x"),
                                    headers=MERGE_PATCH if method == "PATCH" else None)
    assert_unauthorized(r)


@pytest.mark.parametrize("authorization", [
    "Bearer not-a-token",
    "Bearer",
    "bearer " + "x" * 4096,
    "Basic YWRtaW46YWRtaW4=",
    "Token abc",
])
async def test_a_wrong_token_gets_401(lab: Lab, authorization: str) -> None:
    async with lab.client("") as client:
        assert_unauthorized(await client.get("/api/v1/namespaces", headers={"Authorization": authorization}))


async def test_a_token_with_one_character_changed_gets_401(lab: Lab) -> None:
    token = lab.tokens[ADMIN]
    nearly = token[:-1] + ("A" if token[-1] != "A" else "B")
    async with lab.client("") as client:
        assert_unauthorized(await client.get("/api/v1/namespaces", headers={"Authorization": f"Bearer {nearly}"}))


async def test_the_bearer_scheme_is_case_insensitive(lab: Lab) -> None:
    async with lab.client("") as client:
        r = await client.get("/api/v1/namespaces", headers={"Authorization": f"bearer {lab.tokens[VIEWER]}"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("user", [ADMIN, VIEWER, SCHEDULER, CONTROLLER_MANAGER, NODE_1, NODE_2])
async def test_every_identity_may_read_discovery(lab: Lab, user: str) -> None:
    async with lab.client(user) as client:
        for path in ("/api", "/apis", "/api/v1", "/version"):
            r = await client.get(path)
            assert r.status_code == 200, f"{user} GET {path}: {r.status_code} {r.text}"
