"""Unit tests of who may do what for today's identities, through the authorizer chain (Node →
RBAC over the bootstrap policy) and NodeRestriction (the rows that need no server), and of the
static token file of ``TokenAuthenticator`` (orchestrator/apiserver/auth.py)."""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.api.errors import Forbidden, Unauthorized
from orchestrator.api.resources import lookup
from orchestrator.apiserver import admission, auth
from orchestrator.apiserver.auth import TokenAuthenticator, User
from orchestrator.apiserver.authz.bootstrap import bootstrap_objects
from orchestrator.apiserver.authz.chain import Attributes, Chain
from orchestrator.apiserver.authz.node import NodeAuthorizer
from orchestrator.apiserver.authz.rbac import RBACAuthorizer, RBACCache
from tests import factories


async def node_restriction(attrs: Attributes, obj: dict[str, Any]) -> None:
    """NodeRestriction admission on a create body, as the registry runs it."""
    info = lookup(attrs.api_group, attrs.resource)
    assert info is not None
    body = {**obj, "metadata": {**(obj.get("metadata") or {}), "namespace": attrs.namespace or None}}
    await admission.NodeRestriction().admit(admission.Attributes("CREATE", attrs.user, info, None, body, None))


ADMIN = User("admin", "admin", ("system:masters",))
CONTROLLER_MANAGER = User("system:kube-controller-manager", "system:kube-controller-manager")
SCHEDULER = User("system:kube-scheduler", "system:kube-scheduler")
VIEWER = User("viewer", "viewer", ("labkit:viewers",))
NODE_1 = User("system:node:node-1", "node-1", ("system:nodes",))
STRANGER = User("someone", "someone")
NOT_REALLY_A_NODE = User("system:node:node-1", "node-1")  # the name without the group proves nothing

COORD = "coordination.k8s.io"
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
READS = ("get", "list", "watch")
# (plural, group, namespaced)
RESOURCES = [("pods", "", True), ("events", "", True), ("nodes", "", False), ("namespaces", "", False),
             ("deployments", "apps", True), ("replicasets", "apps", True), ("leases", COORD, True)]


def bound_pod(node: str | None) -> dict[str, Any]:
    return factories.pod("p", namespace="ns", node=node)


def lease(name: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"}}


@dataclass(frozen=True)
class Request:
    """A request as the rows below write it."""

    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    field_selector: str | None = None


@dataclass(frozen=True)
class Row:
    user: User
    req: Request
    allowed: bool
    obj: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        r = self.req
        what = r.resource + (f"/{r.subresource}" if r.subresource else "")
        name = f" {r.name}" if r.name else ""
        where = f" in {r.namespace}" if r.namespace else ""
        extra = f" fieldSelector={r.field_selector!r}" if r.field_selector is not None else ""
        on = f" on {(self.obj.get('spec') or {}).get('nodeName') or self.obj['metadata']['name']}" if self.obj else ""
        return f"{self.user.name} {r.verb} {what}{name}{where}{extra}{on} -> {'allowed' if self.allowed else 'forbidden'}"


def _req(verb: str, plural: str, group: str, namespaced: bool, **kw: Any) -> Request:
    return Request(verb=verb, resource=plural, group=group, namespace="ns" if namespaced else None,
                   name=None if verb in ("list", "watch", "create", "deletecollection") else "x", **kw)


def _roles() -> list[Row]:
    rows = []
    for plural, group, namespaced in RESOURCES:
        for verb in VERBS:
            req = _req(verb, plural, group, namespaced)
            rows.append(Row(ADMIN, req, True))
            rows.append(Row(CONTROLLER_MANAGER, req, True))
            rows.append(Row(VIEWER, req, verb in READS))
            rows.append(Row(SCHEDULER, req, verb in READS or plural in ("events", "leases")))
            rows.append(Row(STRANGER, req, False))
    rows += [
        Row(SCHEDULER, Request("create", "pods", namespace="ns", name="p", subresource="binding"), True),
        Row(SCHEDULER, Request("patch", "pods", namespace="ns", name="p", subresource="status"), True),
        Row(SCHEDULER, Request("update", "pods", namespace="ns", name="p", subresource="status"), True),
        Row(SCHEDULER, Request("update", "leases", COORD, namespace="kube-system", name="kube-scheduler"), True),
        Row(SCHEDULER, Request("delete", "nodes", name="node-1"), False),
        Row(SCHEDULER, Request("patch", "deployments", "apps", namespace="ns", name="d", subresource="scale"), False),
        Row(VIEWER, Request("create", "pods", namespace="ns", name="p", subresource="binding"), False),
        Row(VIEWER, Request("patch", "pods", namespace="ns", name="p", subresource="status"), False),
        Row(VIEWER, Request("get", "pods", namespace="ns", name="p", subresource="log"), True),
        # A user named like a node but without the system:nodes group is nobody.
        Row(NOT_REALLY_A_NODE, Request("get", "nodes", name="node-1"), False),
    ]
    return rows


def _node() -> list[Row]:
    pods_on_1 = ("spec.nodeName=node-1", "spec.nodeName==node-1", "metadata.namespace=ns,spec.nodeName=node-1")
    rows = [Row(NODE_1, Request(verb, "pods", field_selector=fs), True) for verb in ("list", "watch") for fs in pods_on_1]
    rows += [Row(NODE_1, Request(verb, "pods", field_selector=fs), False)
             for verb in ("list", "watch") for fs in (None, "", "spec.nodeName=node-2", "metadata.name=p")]
    rows += [
        Row(NODE_1, Request("list", "pods", namespace="ns", field_selector="spec.nodeName=node-1"), True),
        # nodes: read any, write its own
        Row(NODE_1, Request("get", "nodes", name="node-2"), True),
        Row(NODE_1, Request("list", "nodes"), True),
        Row(NODE_1, Request("watch", "nodes"), True),
        Row(NODE_1, Request("patch", "nodes", name="node-1"), True),
        Row(NODE_1, Request("update", "nodes", name="node-1"), True),
        Row(NODE_1, Request("patch", "nodes", name="node-1", subresource="status"), True),
        Row(NODE_1, Request("update", "nodes", name="node-1", subresource="status"), True),
        Row(NODE_1, Request("patch", "nodes", name="node-2"), False),
        Row(NODE_1, Request("patch", "nodes", name="node-2", subresource="status"), False),
        Row(NODE_1, Request("update", "nodes", name="node-2"), False),
        Row(NODE_1, Request("delete", "nodes", name="node-2"), False),
        Row(NODE_1, Request("create", "nodes"), False, obj=factories.node("node-2")),
        # leases: its own, in kube-node-lease
        Row(NODE_1, Request("get", "leases", COORD, namespace="kube-node-lease", name="node-1"), True),
        Row(NODE_1, Request("update", "leases", COORD, namespace="kube-node-lease", name="node-1"), True),
        Row(NODE_1, Request("patch", "leases", COORD, namespace="kube-node-lease", name="node-1"), True),
        Row(NODE_1, Request("create", "leases", COORD, namespace="kube-node-lease"), True, obj=lease("node-1")),
        Row(NODE_1, Request("create", "leases", COORD, namespace="kube-node-lease"), False, obj=lease("node-2")),
        Row(NODE_1, Request("update", "leases", COORD, namespace="kube-node-lease", name="node-2"), False),
        Row(NODE_1, Request("update", "leases", COORD, namespace="kube-system", name="node-1"), False),
        Row(NODE_1, Request("create", "leases", COORD, namespace="default"), False, obj=lease("node-1")),
        # pods: get, write status and delete those bound to it
        Row(NODE_1, Request("get", "pods", namespace="ns", name="p"), True, obj=bound_pod("node-1")),
        Row(NODE_1, Request("get", "pods", namespace="ns", name="p", subresource="status"), True,
            obj=bound_pod("node-1")),
        Row(NODE_1, Request("get", "pods", namespace="ns", name="p", subresource="log"), True, obj=bound_pod("node-1")),
        Row(NODE_1, Request("patch", "pods", namespace="ns", name="p", subresource="status"), True,
            obj=bound_pod("node-1")),
        Row(NODE_1, Request("update", "pods", namespace="ns", name="p", subresource="status"), True,
            obj=bound_pod("node-1")),
        Row(NODE_1, Request("delete", "pods", namespace="ns", name="p"), True, obj=bound_pod("node-1")),
        Row(NODE_1, Request("get", "pods", namespace="ns", name="p"), False, obj=bound_pod("node-2")),
        Row(NODE_1, Request("get", "pods", namespace="ns", name="p"), False, obj=bound_pod(None)),
        Row(NODE_1, Request("patch", "pods", namespace="ns", name="p", subresource="status"), False,
            obj=bound_pod("node-2")),
        Row(NODE_1, Request("update", "pods", namespace="ns", name="p", subresource="status"), False,
            obj=bound_pod("node-2")),
        Row(NODE_1, Request("delete", "pods", namespace="ns", name="p"), False, obj=bound_pod("node-2")),
        Row(NODE_1, Request("patch", "pods", namespace="ns", name="p"), False, obj=bound_pod("node-1")),
        Row(NODE_1, Request("update", "pods", namespace="ns", name="p"), False, obj=bound_pod("node-1")),
        Row(NODE_1, Request("create", "pods", namespace="ns"), False),
        Row(NODE_1, Request("create", "pods", namespace="ns", name="p", subresource="binding"), False),
        Row(NODE_1, Request("deletecollection", "pods", namespace="ns"), False),
        # events, namespaces, the rest
        Row(NODE_1, Request("create", "events", namespace="ns"), True),
        Row(NODE_1, Request("patch", "events", namespace="ns", name="e"), True),
        Row(NODE_1, Request("delete", "events", namespace="ns", name="e"), False),
        Row(NODE_1, Request("get", "namespaces", name="ns"), True),
        Row(NODE_1, Request("list", "namespaces"), True),
        Row(NODE_1, Request("create", "namespaces"), False),
        Row(NODE_1, Request("list", "deployments", "apps", namespace="ns"), False),
        Row(NODE_1, Request("get", "replicasets", "apps", namespace="ns", name="r"), False),
    ]
    return rows


ROWS = _roles() + _node()


def _cache() -> RBACCache:
    cache = RBACCache()
    cache.load(bootstrap_objects())
    return cache


RBAC = RBACAuthorizer(_cache())


async def authorize(user: User, req: Request, obj: dict[str, Any] | None = None) -> None:
    """Raise Forbidden unless the chain allows ``req`` and, for a create, NodeRestriction the body.
    ``obj``: the pod the request is about (its node), or the body of a create."""
    async def pod_node(namespace: str, name: str) -> str | None:
        return ((obj or {}).get("spec") or {}).get("nodeName") if req.resource == "pods" else None

    attrs = Attributes(user=user, verb=req.verb, resource=req.resource, api_group=req.group,
                       namespace=req.namespace, name=req.name, subresource=req.subresource,
                       field_selector=req.field_selector)
    await Chain([NodeAuthorizer(pod_node), RBAC]).check(attrs)
    if req.verb == "create" and obj is not None:
        await node_restriction(attrs, obj)


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id) for r in ROWS])
async def test_authorize_matrix(row: Row) -> None:
    if row.allowed:
        await authorize(row.user, row.req, row.obj)
    else:
        with pytest.raises(Forbidden):
            await authorize(row.user, row.req, row.obj)


def test_matrix_ids_are_unique() -> None:
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("selector", ["spec.nodeName=node-10", "spec.nodeName=node-1x"])
async def test_node_field_selector_must_name_exactly_its_node(selector: str) -> None:
    with pytest.raises(Forbidden):
        await authorize(NODE_1, Request("list", "pods", field_selector=selector))


async def test_node_may_create_its_own_node_object() -> None:
    await authorize(NODE_1, Request("create", "nodes"), factories.node("node-1"))


async def test_forbidden_message_for_a_cluster_scoped_subresource_says_why() -> None:
    with pytest.raises(Forbidden) as caught:
        await authorize(NODE_1, Request("patch", "nodes", name="node-2", subresource="status"))
    assert caught.value.message == ('nodes "node-2" is forbidden: User "system:node:node-1" cannot patch resource '
                                    '"nodes/status" in API group "" at the cluster scope: '
                                    'a node may only modify its own Node object (node-1)')


def test_node_name_comes_from_user_name_only_with_the_nodes_group() -> None:
    assert NODE_1.node_name == "node-1"
    assert NOT_REALLY_A_NODE.node_name is None
    assert User("kubelet", "k", ("system:nodes",)).node_name is None


# -- TokenAuthenticator ------------------------------------------------------------------------------------

TOKEN_FILE = """\
# token,user,uid,groups
admin-token,admin,admin,"system:masters"
node-token,system:node:node-1,node-1,"system:nodes,labkit:extra"
  spaced-token  , viewer , viewer ,labkit:viewers

scheduler-token,system:kube-scheduler,system:kube-scheduler
,nobody,nobody,system:masters
"""


@pytest.fixture
def authenticator(tmp_path: Path) -> TokenAuthenticator:
    path = tmp_path / "tokens.csv"
    path.write_text(TOKEN_FILE)
    return TokenAuthenticator.from_file(path)


def test_token_file_quoted_groups_are_split(authenticator: TokenAuthenticator) -> None:
    user = authenticator.authenticate("Bearer node-token")
    assert user == User("system:node:node-1", "node-1", ("system:nodes", "labkit:extra"))
    assert user.node_name == "node-1"


def test_token_file_single_group_and_no_groups(authenticator: TokenAuthenticator) -> None:
    assert authenticator.authenticate("Bearer admin-token") == User("admin", "admin", ("system:masters",))
    assert authenticator.authenticate("Bearer scheduler-token") == User(
        "system:kube-scheduler", "system:kube-scheduler", ())


def test_token_file_fields_are_stripped(authenticator: TokenAuthenticator) -> None:
    assert authenticator.authenticate("Bearer spaced-token").name == "viewer"


def test_token_file_comment_and_blank_lines_grant_nothing(authenticator: TokenAuthenticator) -> None:
    for token in ("# token", "#", ""):
        with pytest.raises(Unauthorized):
            authenticator.authenticate(f"Bearer {token}")


def test_an_empty_token_in_the_file_never_authenticates(authenticator: TokenAuthenticator) -> None:
    with pytest.raises(Unauthorized):
        authenticator.authenticate("Bearer ")
    with pytest.raises(Unauthorized):
        authenticator.authenticate("Bearer")


@pytest.mark.parametrize("line", ["only-a-token", "token,user"])
def test_token_file_line_with_too_few_fields_is_an_error(tmp_path: Path, line: str) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(f"good,admin,admin\n{line}\n")
    with pytest.raises(ValueError, match=r"token,user,uid\[,groups\]"):
        TokenAuthenticator.from_file(path)


def test_a_missing_token_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        TokenAuthenticator.from_file(tmp_path / "absent.csv")


@pytest.mark.parametrize("header", [None, "", "admin-token", "Basic admin-token", "Token admin-token",
                                    "Bearer admin-token-", "Bearer ADMIN-TOKEN", "Bearer admin-toke"])
def test_authenticate_refuses_anything_but_the_exact_bearer_token(authenticator: TokenAuthenticator,
                                                                   header: str | None) -> None:
    with pytest.raises(Unauthorized) as caught:
        authenticator.authenticate(header)
    status = caught.value.status()
    assert (status["code"], status["reason"]) == (401, "Unauthorized")
    assert "admin-token" not in caught.value.message  # tokens never echo back


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_scheme_is_case_insensitive_and_token_is_trimmed(authenticator: TokenAuthenticator,
                                                                scheme: str) -> None:
    assert authenticator.authenticate(f"{scheme} admin-token ").name == "admin"


def test_token_is_compared_in_constant_time(authenticator: TokenAuthenticator,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert authenticator.authenticate("Bearer admin-token").name == "admin"
    assert calls == [(b"admin-token", b"admin-token")]


def test_tokens_are_held_by_digest_not_as_dictionary_keys(authenticator: TokenAuthenticator) -> None:
    """A dict keyed by the token itself would compare candidate keys with ==, which stops at the
    first differing byte; keys are SHA-256 digests so lookup time says nothing about the token."""
    keys = list(authenticator._users)
    assert all(isinstance(k, bytes) and len(k) == 32 for k in keys)
    assert b"admin-token" not in keys


def test_add_registers_a_token(authenticator: TokenAuthenticator) -> None:
    authenticator.add("fresh", User("late", "late"))
    assert authenticator.authenticate("Bearer fresh") == User("late", "late")


def _bump(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a visibly newer mtime


def test_a_token_added_to_the_file_works_without_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(TOKEN_FILE)
    auth = TokenAuthenticator.from_file(path)
    _bump(path, TOKEN_FILE + 'node3-token,system:node:node-3,node-3,"system:nodes"\n')
    monkeypatch.setattr(auth, "_checked_at", 0.0)  # as if the last look was long ago
    assert auth.authenticate("Bearer node3-token").node_name == "node-3"
    assert auth.authenticate("Bearer admin-token").name == "admin"


def test_unknown_tokens_look_at_the_file_at_most_once_a_second(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(TOKEN_FILE)
    auth = TokenAuthenticator.from_file(path)
    _bump(path, TOKEN_FILE + "late-token,late,late\n")
    # Just loaded: a flood of unknown tokens does not re-read the file on every request.
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer late-token")


def test_a_broken_token_file_keeps_the_tokens_already_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text(TOKEN_FILE)
    auth = TokenAuthenticator.from_file(path)
    _bump(path, "half-written-line\n")
    monkeypatch.setattr(auth, "_checked_at", 0.0)
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer nope")
    assert auth.authenticate("Bearer admin-token").name == "admin"
