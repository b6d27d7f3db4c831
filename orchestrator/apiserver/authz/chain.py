"""One authorization decision per request: the attributes of a request, a decision, the chain.

Every request is described once, by ``Attributes`` (who, which verb, on which resource in which
namespace, or which URL path), and put to a chain of authorizers in order. Each answers ALLOW,
DENY or NO_OPINION with a reason; the first ALLOW or DENY decides, and a request nobody allows is
forbidden. The lab's chain is the Node authorizer (node agents, judged by what is bound to their
node) then RBAC (roles and bindings stored as objects), as kube-apiserver runs with
``--authorization-mode=Node,RBAC``.

A forbidden request is reported in kube-apiserver's words, so a learner can search for them:

    pods "web" is forbidden: User "viewer" cannot delete resource "pods" in API group "" in the namespace "default"
    forbidden: User "viewer" cannot get path "/metrics"

followed by ``: <reason>`` when an authorizer gave one.

Kubernetes equivalent: k8s.io/apiserver/pkg/authorization/authorizer/interfaces.go,
k8s.io/apiserver/pkg/authorization/union/union.go,
k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go (forbiddenMessage)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from orchestrator.api.errors import Forbidden
from orchestrator.apiserver.auth import User

ANONYMOUS = "system:anonymous"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MASTERS = "system:masters"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"


class Verdict(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


@dataclass(frozen=True)
class Decision:
    """What one authorizer (or the chain) says; ``reason`` is shown to the user on a denial."""

    verdict: Verdict
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW

    @classmethod
    def allow(cls, reason: str = "") -> Decision:
        return cls(Verdict.ALLOW, reason)

    @classmethod
    def deny(cls, reason: str = "") -> Decision:
        return cls(Verdict.DENY, reason)

    @classmethod
    def no_opinion(cls, reason: str = "") -> Decision:
        return cls(Verdict.NO_OPINION, reason)


@dataclass(frozen=True)
class Attributes:
    """What a request wants, in Kubernetes' authorization attributes.

    A *resource request* names a resource (``pods``), its API group (``""`` for core), perhaps a
    subresource (``log``), a namespace ("" for cluster-scoped resources and for requests across
    all namespaces) and a name ("" for list, watch, deletecollection and create). A
    *non-resource request* names a URL path (``/healthz``, ``/apis``) and an HTTP-ish verb.
    ``None`` is accepted wherever "" is meant, and stored as "".
    """

    user: User
    verb: str
    resource: str = ""
    api_group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    field_selector: str | None = None
    resource_request: bool = True
    api_version: str = "*"

    def __post_init__(self) -> None:
        for attr in ("resource", "api_group", "subresource", "namespace", "name", "path"):
            if getattr(self, attr) is None:
                object.__setattr__(self, attr, "")

    @classmethod
    def non_resource(cls, user: User, verb: str, path: str) -> Attributes:
        return cls(user=user, verb=verb, path=path, resource_request=False)

    @property
    def target(self) -> str:
        """``pods`` or ``pods/log``: how rules name what this request touches."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@runtime_checkable
class Authorizer(Protocol):
    async def authorize(self, attrs: Attributes) -> Decision:
        """ALLOW or DENY to decide, NO_OPINION to leave it to the next authorizer. Never raises
        for a request it does not understand: that is NO_OPINION."""
        ...


@dataclass
class RulesResult:
    """What a subject may do in one namespace, as ``SelfSubjectRulesReview`` reports it. Rules
    are plain ``PolicyRule`` documents (resource rules and non-resource rules apart)."""

    resource_rules: list[dict[str, Any]] = field(default_factory=list)
    non_resource_rules: list[dict[str, Any]] = field(default_factory=list)
    incomplete: bool = False
    errors: list[str] = field(default_factory=list)


@runtime_checkable
class RuleResolver(Protocol):
    def rules_for(self, user: User, namespace: str) -> RulesResult:
        """Every rule ``user`` holds in ``namespace`` ("" for cluster-wide rules only). An
        authorizer that cannot list what it would allow (the Node authorizer) says incomplete."""
        ...


def groups_of(user: User) -> tuple[str, ...]:
    """The user's groups with those every authenticated identity has, as kube-apiserver adds
    them: ``system:authenticated``, and ``system:serviceaccounts`` plus
    ``system:serviceaccounts:<namespace>`` for a ServiceAccount. Idempotent: an authenticator
    that already added them loses nothing."""
    groups = list(user.groups)
    extra: list[str] = []
    if user.name == ANONYMOUS:
        extra.append(UNAUTHENTICATED)
    else:
        extra.append(AUTHENTICATED)
    sa = service_account_of(user.name)
    if sa is not None:
        extra += [SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{sa[0]}"]
    for group in extra:
        if group not in groups:
            groups.append(group)
    return tuple(groups)


def service_account_of(username: str) -> tuple[str, str] | None:
    """``system:serviceaccount:<ns>:<name>`` → (ns, name); None for any other user name."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    rest = username[len(SERVICE_ACCOUNT_PREFIX):]
    namespace, sep, name = rest.partition(":")
    if not sep or not namespace or not name or ":" in name:
        return None
    return namespace, name


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """kube-apiserver's sentence for a forbidden request (see the module docstring)."""
    user = attrs.user.name
    if not attrs.resource_request:
        message = f'forbidden: User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    else:
        what = attrs.resource + (f".{attrs.api_group}" if attrs.api_group else "")
        if attrs.name:
            what += f' "{attrs.name}"'
        scope = f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
        message = (f'{what} is forbidden: User "{user}" cannot {attrs.verb} resource "{attrs.target}"'
                   f' in API group "{attrs.api_group}"{scope}')
    return f"{message}: {reason}" if reason else message


def forbidden(attrs: Attributes, reason: str = "") -> Forbidden:
    if not attrs.resource_request:
        return Forbidden(forbidden_message(attrs, reason))
    return Forbidden(forbidden_message(attrs, reason), kind=attrs.resource, name=attrs.name or None,
                     group=attrs.api_group)


class PrivilegedGroups:
    """Members of ``system:masters`` may do anything, decided before any other authorizer.

    kube-apiserver does the same (its privileged-groups authorizer comes first): an administrator
    is never locked out by a deleted or broken RBAC object, and the lab's most frequent caller
    (the admin of every notebook and benchmark) costs one membership test instead of an RBAC
    evaluation. RBAC still lists their rules: bootstrap binds system:masters to cluster-admin."""

    GROUP = "system:masters"

    async def authorize(self, attrs: Attributes) -> Decision:
        if self.GROUP in attrs.user.groups:
            return Decision.allow(f"member of {self.GROUP}")
        return Decision.no_opinion()


class Chain:
    """Authorizers asked in order; the first that decides wins (kube-apiserver's union authorizer)."""

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = tuple(authorizers)

    async def authorize(self, attrs: Attributes) -> Decision:
        reasons: list[str] = []
        for authorizer in self.authorizers:
            decision = await authorizer.authorize(attrs)
            if decision.verdict is not Verdict.NO_OPINION:
                return decision
            if decision.reason:
                reasons.append(decision.reason)
        return Decision.no_opinion("; ".join(reasons))

    async def check(self, attrs: Attributes) -> None:
        """Raise ``Forbidden`` (kube-apiserver's message) unless the chain allows ``attrs``."""
        decision = await self.authorize(attrs)
        if not decision.allowed:
            raise forbidden(attrs, decision.reason)

    def rules_for(self, user: User, namespace: str) -> RulesResult:
        """The union of what every authorizer that can list rules lists; incomplete when one
        cannot (a node's rights depend on which pods are bound to it)."""
        result = RulesResult()
        for authorizer in self.authorizers:
            if isinstance(authorizer, RuleResolver):
                part = authorizer.rules_for(user, namespace)
                result.resource_rules += part.resource_rules
                result.non_resource_rules += part.non_resource_rules
                result.incomplete = result.incomplete or part.incomplete
                result.errors += part.errors
        return result
