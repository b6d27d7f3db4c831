"""Who is calling (authentication) and may they do this (authorization).

Authentication: bearer tokens from a static token file in kube-apiserver's ``--token-auth-file``
format (``token,user,uid,"group1,group2"``), which ``labctl up`` writes. Tokens are looked up by
their SHA-256 digest and then compared with ``hmac.compare_digest``, so neither the lookup nor the
comparison takes longer for a "nearly right" token. Tokens are never logged. An unknown token
makes the server re-read a changed token file (at most once a second), so identities that
`labctl up` adds to a running lab work at once.

Authorization: a few fixed roles, the lab's equivalent of Kubernetes' default RBAC roles plus the
Node authorizer and NodeRestriction admission:

    group system:masters                     everything
    user system:kube-controller-manager      everything (it creates, updates and deletes on behalf of users)
    user system:kube-scheduler               read everything but Secrets; create pods/binding; update
                                             pod status; events; leases
    group labkit:viewers                     get, list, watch — of everything but Secrets (as
                                             Kubernetes' view role)
    group system:nodes (system:node:<n>)     its own Node and node Lease; pods bound to it (list and
                                             watch only with fieldSelector spec.nodeName=<n>); events;
                                             read nodes and namespaces; tokens for its pods'
                                             ServiceAccounts (serviceaccounts/token checks the pod)
    anyone else                              nothing

The node rules need to know which node a pod is bound to (is this pod mine?). Like Kubernetes'
Node authorizer, ``FixedRoleAuthorizer`` looks that up (its "graph" is a read of the pod) so the
request is decided once, before anything is read or written for it; which Node or Lease a node
may *create* is in the body, and is checked by the NodeRestriction admission plugin
(admission.py) on the decoded object.

Kubernetes equivalent: plugin/pkg/auth/authorizer/node, plugin/pkg/admission/noderestriction,
k8s.io/apiserver/pkg/authentication/request/bearertoken
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.api.errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)

NODE_PREFIX = "system:node:"
READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()

    @property
    def node_name(self) -> str | None:
        """The node this identity speaks for, if it is a node agent."""
        if "system:nodes" in self.groups and self.name.startswith(NODE_PREFIX):
            return self.name[len(NODE_PREFIX):]
        return None


@dataclass(frozen=True)
class Request:
    """What a request wants to do, in Kubernetes' authorization attributes."""

    verb: str  # get list watch create update patch delete deletecollection
    resource: str  # plural, e.g. "pods"
    group: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    field_selector: str | None = None


@dataclass
class TokenAuthenticator:
    _users: dict[bytes, tuple[str, User]] = field(default_factory=dict)
    # The token file this table came from. Unlike kube-apiserver, which reads --token-auth-file
    # once, an unknown token makes us look at the file again (at most once a second): `labctl up
    # --nodes 3` on a running lab adds node-3's token, and node-3 must not need an API server restart.
    path: Path | None = None
    _loaded_mtime: int = 0
    _checked_at: float = 0.0
    # Tried in order for a token the file does not know (ServiceAccount JWTs): each returns the
    # User, None for "not mine", or raises Unauthorized for "mine but not valid".
    token_authenticators: list[Callable[[str], User | None]] = field(default_factory=list)

    @classmethod
    def from_file(cls, path: Path) -> TokenAuthenticator:
        auth = cls(path=path)
        auth._loaded_mtime = path.stat().st_mtime_ns
        auth._users = _read_token_file(path)
        auth._checked_at = time.monotonic()
        return auth

    def add(self, token: str, user: User) -> None:
        self._users[hashlib.sha256(token.encode()).digest()] = (token, user)

    def authenticate(self, authorization: str | None) -> User:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("Unauthorized: a bearer token is required (see `labctl kubeconfig`)")
        token = authorization[7:].strip()
        digest = hashlib.sha256(token.encode()).digest()
        entry = self._users.get(digest)
        if entry is None:
            for authenticate_token in self.token_authenticators:
                user = authenticate_token(token)
                if user is not None:
                    return user
        if entry is None and self._reload_if_changed():
            entry = self._users.get(digest)
        if entry is None or not hmac.compare_digest(entry[0].encode(), token.encode()):
            raise Unauthorized("Unauthorized: the bearer token is not valid")
        return entry[1]

    def _reload_if_changed(self) -> bool:
        """Re-read the token file if it changed; True if the table was replaced."""
        now = time.monotonic()
        if self.path is None or now - self._checked_at < 1.0:
            return False  # a flood of bad tokens costs one stat() a second, not one each
        self._checked_at = now
        try:
            mtime = self.path.stat().st_mtime_ns
            if mtime == self._loaded_mtime:
                return False
            users = _read_token_file(self.path)
        except (OSError, ValueError) as err:
            # Half-written or removed: keep serving the tokens we have.
            log.warning("token file %s not reloaded: %s", self.path, err)
            return False
        self._users, self._loaded_mtime = users, mtime
        log.info("token file %s reloaded: %d identities", self.path, len(users))
        return True


def _read_token_file(path: Path) -> dict[bytes, tuple[str, User]]:
    users: dict[bytes, tuple[str, User]] = {}
    for row in csv.reader(io.StringIO(path.read_text())):
        if not row or not row[0].strip() or row[0].startswith("#"):
            continue
        if len(row) < 3:
            raise ValueError(f"{path}: each line needs token,user,uid[,groups]; got {len(row)} fields")
        groups = tuple(g for g in (row[3].split(",") if len(row) > 3 else []) if g)
        token = row[0].strip()
        users[hashlib.sha256(token.encode()).digest()] = (token, User(row[1].strip(), row[2].strip(), groups))
    return users


def forbidden(user: User, req: Request, why: str = "") -> Forbidden:
    target = req.resource + (f"/{req.subresource}" if req.subresource else "")
    group = f' in API group "{req.group}"' if req.group else ' in API group ""'
    scope = f' in the namespace "{req.namespace}"' if req.namespace else " at the cluster scope"
    msg = f'{req.resource}{"." + req.group if req.group else ""}'
    msg += f' "{req.name}"' if req.name else ""
    msg += f' is forbidden: User "{user.name}" cannot {req.verb} resource "{target}"{group}{scope}'
    return Forbidden(msg + (f": {why}" if why else ""), kind=req.resource, name=req.name, group=req.group)


def authorize(user: User, req: Request, obj: dict[str, Any] | None = None) -> None:
    """Raise Forbidden unless ``user`` may do ``req`` (to ``obj``, when it is known)."""
    if "system:masters" in user.groups or user.name == "system:kube-controller-manager":
        return
    secret = req.resource == "secrets" and req.group == ""
    if user.name == "system:kube-scheduler":
        if req.verb in READ_VERBS and not secret:
            return
        if req.resource == "pods" and req.subresource in ("binding", "status"):
            return
        if req.resource == "events" or (req.resource == "leases" and req.group == "coordination.k8s.io"):
            return
        raise forbidden(user, req)
    if "labkit:viewers" in user.groups:
        if req.verb in READ_VERBS and not secret:
            return
        raise forbidden(user, req)
    node = user.node_name
    if node is not None:
        _authorize_node(user, node, req, obj)
        return
    raise forbidden(user, req)


def _authorize_node(user: User, node: str, req: Request, obj: dict[str, Any] | None) -> None:
    # A create names its object in the body, not the URL: judged once the body is read.
    name = req.name if req.name is not None else (_name(obj) if obj is not None else None)
    deferred = req.verb == "create" and obj is None
    if req.resource in ("nodes",) and req.group == "":
        if req.verb in READ_VERBS:
            return
        if (name == node or deferred) and req.verb in ("create", "update", "patch"):
            return
        raise forbidden(user, req, f"a node may only modify its own Node object ({node})")
    if req.resource == "leases" and req.group == "coordination.k8s.io":
        if req.namespace == "kube-node-lease" and (name == node or deferred):
            return
        raise forbidden(user, req, f"a node may only use its own Lease (kube-node-lease/{node})")
    if req.resource == "events" and req.verb in ("create", "patch", "update", *READ_VERBS):
        return
    if req.resource == "namespaces" and req.verb in READ_VERBS:
        return
    if req.resource == "serviceaccounts" and req.subresource == "token" and req.verb == "create":
        return  # only for a pod bound to this node: the token handler checks the bound pod
    if req.resource == "pods" and req.group == "":
        if req.verb in ("list", "watch"):
            if _selects_only_node(req.field_selector, node):
                return
            raise forbidden(user, req, f"a node may only list and watch pods with fieldSelector spec.nodeName={node}")
        if req.verb in ("get", "update", "patch", "delete") and req.subresource in (None, "status", "log"):
            if req.verb in ("update", "patch") and req.subresource is None:
                raise forbidden(user, req, "a node may only update the status of its pods")
            if obj is None:
                return  # checked again once the pod is read
            if ((obj.get("spec") or {}).get("nodeName")) == node:
                return
            raise forbidden(user, req, f"the pod is not bound to node {node}")
        raise forbidden(user, req)
    raise forbidden(user, req)


def _name(obj: dict[str, Any]) -> str | None:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta.get("name") if isinstance(meta, dict) else None


def _selects_only_node(field_selector: str | None, node: str) -> bool:
    from orchestrator.api.errors import BadRequest
    from orchestrator.api.selectors import FieldSelector

    try:
        return FieldSelector.parse(field_selector, group_resource="pods").exact("spec.nodeName") == node
    except BadRequest:
        return False


PodNode = Callable[[str | None, str], Awaitable[str | None]]
"""``(namespace, name) -> the node the pod is bound to``, None when unbound or absent."""


class FixedRoleAuthorizer:
    """Today's fixed roles and the Node authorizer, decided once per request.

    For a node identity touching one pod, the pod's node is looked up (a missing pod is as good
    as someone else's: a node learns nothing about pods that are not its own)."""

    def __init__(self, pod_node: PodNode) -> None:
        self._pod_node = pod_node

    async def authorize(self, user: User, req: Request) -> None:
        if (user.node_name is not None and req.resource == "pods" and req.group == "" and req.name
                and req.verb in ("get", "update", "patch", "delete")):
            node = await self._pod_node(req.namespace, req.name)
            authorize(user, req, {"spec": {"nodeName": node}} if node else {})
            return
        authorize(user, req)
