"""Impersonation: act as another user (``kubectl --as=jane --as-group=devs``) when allowed to.

The headers ``Impersonate-User``, ``Impersonate-Group`` (repeatable), ``Impersonate-Uid`` and
``Impersonate-Extra-<key>`` ask the server to treat the request as coming from someone else.
Each asked-for attribute is itself authorized for the *real* user, with the verb
``impersonate``:

    Impersonate-User: jane                          users "jane"                    (core group)
    Impersonate-User: system:serviceaccount:ns:sa   serviceaccounts "sa" in ns      (core group)
    Impersonate-Group: devs                         groups "devs"                   (core group)
    Impersonate-Uid: 42                             uids "42"                       (authentication.k8s.io)
    Impersonate-Extra-scopes: view                  userextras/scopes "view"        (authentication.k8s.io)

Only ``cluster-admin`` (``system:masters``) holds these by default, and ``edit`` may impersonate
ServiceAccounts of its namespace. The impersonated user is then authenticated like any other
(``system:authenticated``, and the ServiceAccount groups for a ServiceAccount).

Kubernetes equivalent: k8s.io/apiserver/pkg/endpoints/filters/impersonation.go
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.api.errors import BadRequest
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import (
    ANONYMOUS,
    Attributes,
    Authorizer,
    forbidden,
    groups_of,
    service_account_of,
)

IMPERSONATE_USER = "impersonate-user"
IMPERSONATE_GROUP = "impersonate-group"
IMPERSONATE_UID = "impersonate-uid"
IMPERSONATE_EXTRA = "impersonate-extra-"
AUTHENTICATION = "authentication.k8s.io"


async def impersonate(user: User, headers: Iterable[tuple[str, str]], authorizer: Authorizer) -> User:
    """The user a request acts as: ``user`` itself without impersonation headers, else the
    impersonated user once every asked-for attribute is allowed. ``headers`` are (name, value)
    pairs, names in any case, repeated names kept (Starlette: ``request.headers.items()``).
    Raises Forbidden (not allowed to impersonate) or BadRequest (groups without a user)."""
    name: str | None = None
    uid: str | None = None
    groups: list[str] = []
    extras: list[tuple[str, str]] = []
    for key, value in headers:
        k = key.lower()
        if k == IMPERSONATE_USER:
            name = value.strip()
        elif k == IMPERSONATE_GROUP:
            groups.append(value.strip())
        elif k == IMPERSONATE_UID:
            uid = value.strip()
        elif k.startswith(IMPERSONATE_EXTRA):
            extras.append((k[len(IMPERSONATE_EXTRA):], value.strip()))
    if name is None:
        if groups or uid is not None or extras:
            asked = ", ".join([f"Impersonate-Group: {g}" for g in groups]
                              + ([f"Impersonate-Uid: {uid}"] if uid is not None else [])
                              + [f"Impersonate-Extra-{k}: {v}" for k, v in extras])
            raise BadRequest(f"requested [{asked}] without impersonating a user")
        return user
    if not name:
        raise BadRequest("Impersonate-User: the user name must not be empty")
    checks: list[Attributes] = []
    sa = service_account_of(name)
    if sa is not None:
        checks.append(Attributes(user=user, verb="impersonate", resource="serviceaccounts", namespace=sa[0], name=sa[1]))
    else:
        checks.append(Attributes(user=user, verb="impersonate", resource="users", name=name))
    checks += [Attributes(user=user, verb="impersonate", resource="groups", name=g) for g in groups]
    if uid is not None:
        checks.append(Attributes(user=user, verb="impersonate", resource="uids", api_group=AUTHENTICATION, name=uid))
    checks += [Attributes(user=user, verb="impersonate", resource="userextras", subresource=k,
                          api_group=AUTHENTICATION, name=v) for k, v in extras]
    for attrs in checks:
        decision = await authorizer.authorize(attrs)
        if not decision.allowed:
            raise forbidden(attrs, decision.reason)
    impersonated = User(name, uid or "", tuple(groups))
    if name == ANONYMOUS:
        return impersonated
    return User(name, uid or "", groups_of(impersonated))
