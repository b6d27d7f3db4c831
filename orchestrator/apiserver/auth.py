"""Who is calling: authentication.

`RequestAuthenticator` is kube-apiserver's union of request authenticators, in its order: the
client certificate (orchestrator/apiserver/clientcert.py), then the bearer token. The first that
recognises the request decides; a client certificate that fails its checks is the 401 only when
no bearer token authenticates the request either.

Bearer tokens from a static token file in kube-apiserver's ``--token-auth-file``
format (``token,user,uid,"group1,group2"``), which ``labctl up`` writes. Tokens are looked up by
their SHA-256 digest and then compared with ``hmac.compare_digest``, so neither the lookup nor the
comparison takes longer for a "nearly right" token. Tokens are never logged. An unknown token
makes the server re-read a changed token file (at most once a second), so identities that
`labctl up` adds to a running lab work at once.

Authorization is not here: the authorizer chain (the Node authorizer, then RBAC over the roles
and bindings stored as objects) is in ``orchestrator/apiserver/authz/``.

Kubernetes equivalent: k8s.io/apiserver/pkg/authentication/request/union,
k8s.io/apiserver/pkg/authentication/request/bearertoken, k8s.io/apiserver/pkg/authentication/token/tokenfile
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.api.errors import Unauthorized

log = logging.getLogger(__name__)

NODE_PREFIX = "system:node:"


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
            raise Unauthorized("Unauthorized: a bearer token or a client certificate is required "
                               "(see `labctl kubeconfig`)")
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


@dataclass
class RequestAuthenticator:
    """The client certificate, then the bearer token (module docstring)."""

    tokens: TokenAuthenticator
    # The user a client certificate chain (PEM, leaf first) names; None: not mine.
    certificates: Callable[[Sequence[str]], User | None] | None = None

    def authenticate(self, authorization: str | None, client_cert_chain: Sequence[str] = ()) -> User:
        refused: Unauthorized | None = None
        if client_cert_chain and self.certificates is not None:
            try:
                user = self.certificates(client_cert_chain)
            except Unauthorized as err:
                refused = err
            else:
                if user is not None:
                    return user
        if refused is not None and authorization is None:
            raise refused
        return self.tokens.authenticate(authorization)


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
