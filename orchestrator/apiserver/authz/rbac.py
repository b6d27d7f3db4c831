"""The RBAC authorizer: allow a request when a rule of a role bound to its user matches it.

Roles and bindings are objects (``rbac.authorization.k8s.io/v1``); the API server keeps an
in-memory copy of all four kinds, ``RBACCache``, current from its own list+watch, so a decision
costs no database round trip. A request is allowed when, for some binding that names the user
(by name, by one of its groups, or as a ServiceAccount), some rule of the bound role matches:

    ClusterRoleBinding → ClusterRole           the rules apply everywhere (and to non-resource URLs)
    RoleBinding in ns  → Role in ns            the rules apply in ns only
    RoleBinding in ns  → ClusterRole           the ClusterRole's rules, in ns only

A rule matches when its verbs, apiGroups and resources match (``*`` matches all; ``pods/log``
names a subresource; ``*/scale`` every resource's scale), and, when it lists resourceNames,
the request names one of them — so a rule with resourceNames never allows list, watch or
create, which name no object. Non-resource rules match a path exactly or, ending in ``*``, by
prefix (``/apis/*``). RBAC only ever allows: what no rule allows is NO_OPINION, and the chain
turns that into Forbidden.

**Aggregation.** A ClusterRole with an ``aggregationRule`` (``admin``, ``edit``, ``view``) has
as its rules the union of the rules of every ClusterRole whose labels match one of its
``clusterRoleSelectors`` — transitively (``view`` is aggregated into ``edit``, ``edit`` into
``admin``). Kubernetes computes this in a controller that rewrites the aggregated role's
``rules``; here the cache computes it when roles change, at read time, so a new
``aggregate-to-view`` role is in force the moment the API server sees it, without a controller
round trip. The stored ``rules`` of an aggregated role are not consulted (the bootstrap roles
are created with them filled in, so ``kubectl describe clusterrole view`` shows them).

Kubernetes equivalent: plugin/pkg/auth/authorizer/rbac/rbac.go,
pkg/registry/rbac/validation/rule.go, pkg/controller/clusterroleaggregation
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.api.errors import ApiError
from orchestrator.api.selectors import LabelSelector
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes, Decision, RulesResult, groups_of

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Rule = Mapping[str, Any]

KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
SERVICE_ACCOUNT_USER = "system:serviceaccount:{namespace}:{name}"


# --- one rule against one request ----------------------------------------------------------------


def verb_matches(rule: Rule, verb: str) -> bool:
    verbs = rule.get("verbs") or ()
    return "*" in verbs or verb in verbs


def api_group_matches(rule: Rule, group: str) -> bool:
    groups = rule.get("apiGroups") or ()
    return "*" in groups or group in groups


def resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    """``pods`` matches ``pods``; ``pods/log`` matches ``pods/log`` and ``*/log``; ``*`` matches
    both (a rule for ``pods`` does not reach ``pods/log``: subresources are granted by name)."""
    target = f"{resource}/{subresource}" if subresource else resource
    for r in rule.get("resources") or ():
        if r == "*" or r == target or (subresource and r == f"*/{subresource}"):
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    names = rule.get("resourceNames") or ()
    return not names or name in names


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    for url in rule.get("nonResourceURLs") or ():
        if url == "*" or url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Rule) -> bool:
    """Whether one PolicyRule allows the request."""
    if not verb_matches(rule, attrs.verb):
        return False
    if not attrs.resource_request:
        return non_resource_url_matches(rule, attrs.path)
    return (api_group_matches(rule, attrs.api_group)
            and resource_matches(rule, attrs.resource, attrs.subresource)
            and resource_name_matches(rule, attrs.name))


# --- who a binding names ---------------------------------------------------------------------------


def subject_key(subject: Mapping[str, Any], binding_namespace: str) -> tuple[str, str] | None:
    """("user", name) or ("group", name) for one subject; a ServiceAccount is the user
    ``system:serviceaccount:<ns>:<name>`` (its namespace defaults to the binding's, as upstream)."""
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str) or not name:
        return None
    if kind == "User":
        return ("user", name)
    if kind == "Group":
        return ("group", name)
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return ("user", SERVICE_ACCOUNT_USER.format(namespace=namespace, name=name)) if namespace else None
    return None


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _rules(obj: Mapping[str, Any]) -> list[Rule]:
    return [r for r in obj.get("rules") or () if isinstance(r, Mapping)]


@dataclass(frozen=True)
class Grant:
    """One binding that applies to a user, with the rules it grants (for reasons and reviews)."""

    binding_kind: str
    binding_name: str
    binding_namespace: str
    role_kind: str
    role_name: str
    subject: tuple[str, str]
    rules: tuple[Rule, ...]

    def describe(self) -> str:
        where = f' in namespace "{self.binding_namespace}"' if self.binding_namespace else ""
        who = {"user": "User", "group": "Group"}[self.subject[0]]
        return (f'RBAC: allowed by {self.binding_kind} "{self.binding_name}"{where} of {self.role_kind} '
                f'"{self.role_name}" to {who} "{self.subject[1]}"')


# --- the in-memory copy of the four kinds -------------------------------------------------------


class RBACCache:
    """Roles and bindings as the API server last saw them, indexed for authorization.

    Fed by ``load`` (a list's items: all four kinds, or one kind's relist) and ``apply`` (one
    watch event). Indexes (bindings by subject, aggregated ClusterRole rules) are rebuilt on the
    first read after a change: RBAC objects change rarely and requests are many.
    """

    def __init__(self) -> None:
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {kind: {} for kind in KINDS}
        self._loaded: set[str] = set()
        self._dirty = True
        self._cluster_grants: dict[tuple[str, str], list[Obj]] = {}
        self._namespace_grants: dict[str, dict[tuple[str, str], list[Obj]]] = {}
        self._cluster_role_rules: dict[str, tuple[Rule, ...]] = {}
        self.revision = 0  # moves on every change; for tests and for observers

    # -- feeding

    def load(self, objects: Iterable[Mapping[str, Any]], *, kind: str | None = None) -> None:
        """Replace the cache's content: of ``kind`` only (a relist of that resource), or of all
        four kinds (``kind=None``). Each object must carry its ``kind`` (list items from the
        store do; a List's items from the wire may not: then pass ``kind``)."""
        kinds = (kind,) if kind else KINDS
        for k in kinds:
            self._check_kind(k)
            self._objects[k] = {}
        for obj in objects:
            k = kind or obj.get("kind")
            if k not in kinds:
                raise ValueError(f"RBACCache.load: object of kind {k!r} where {', '.join(kinds)} expected")
            self._objects[k][self._key(obj)] = dict(obj)
        self._loaded.update(kinds)
        self._changed()

    def apply(self, event_type: str, obj: Mapping[str, Any], *, kind: str | None = None) -> None:
        """One watch event (ADDED, MODIFIED, DELETED; BOOKMARK and ERROR change nothing)."""
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            return
        k = kind or obj.get("kind")
        self._check_kind(k)
        assert k is not None
        if event_type == "DELETED":
            self._objects[k].pop(self._key(obj), None)
        else:
            self._objects[k][self._key(obj)] = dict(obj)
        self._changed()

    @property
    def synced(self) -> bool:
        """True once every kind has been loaded: before that, a denial might be wrong."""
        return self._loaded == set(KINDS)

    @staticmethod
    def _check_kind(kind: str | None) -> None:
        if kind not in KINDS:
            raise ValueError(f"RBACCache: kind {kind!r} is not one of {', '.join(KINDS)}")

    @staticmethod
    def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
        meta = _meta(obj)
        return (meta.get("namespace") or "", meta.get("name") or "")

    def _changed(self) -> None:
        self._dirty = True
        self.revision += 1

    # -- reading

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self._objects[kind].get((namespace or "", name))

    def objects(self, kind: str) -> list[Obj]:
        return list(self._objects[kind].values())

    def cluster_role_rules(self, name: str) -> tuple[Rule, ...] | None:
        """The effective rules of a ClusterRole (aggregated if it aggregates); None if absent."""
        self._reindex()
        return self._cluster_role_rules.get(name)

    def role_ref_rules(self, role_ref: Mapping[str, Any], namespace: str) -> tuple[Rule, ...] | None:
        """The rules a roleRef grants (a Role in ``namespace`` or a ClusterRole); None if the role
        does not exist (a binding to a missing role grants nothing, as upstream)."""
        name = role_ref.get("name") or ""
        if role_ref.get("kind") == "ClusterRole":
            return self.cluster_role_rules(name)
        if role_ref.get("kind") == "Role" and namespace:
            role = self.get("Role", namespace, name)
            return tuple(_rules(role)) if role is not None else None
        return None

    def grants(self, user: User, namespace: str) -> Iterator[Grant]:
        """Every binding that applies to ``user`` in ``namespace`` ("" = cluster-wide bindings
        only), ClusterRoleBindings first."""
        self._reindex()
        keys = [("user", user.name)] + [("group", g) for g in groups_of(user)]
        scopes: list[tuple[str, dict[tuple[str, str], list[Obj]]]] = [("", self._cluster_grants)]
        if namespace:
            scopes.append((namespace, self._namespace_grants.get(namespace, {})))
        for scope_ns, index in scopes:
            for key in keys:
                for binding in index.get(key, ()):
                    role_ref = binding.get("roleRef") or {}
                    rules = self.role_ref_rules(role_ref, scope_ns)
                    if rules is None:
                        continue
                    yield Grant(binding_kind="RoleBinding" if scope_ns else "ClusterRoleBinding",
                                binding_name=_meta(binding).get("name", ""), binding_namespace=scope_ns,
                                role_kind=str(role_ref.get("kind")), role_name=str(role_ref.get("name")),
                                subject=key, rules=rules)

    def missing_roles(self, user: User, namespace: str) -> list[str]:
        """Bindings of ``user`` whose role does not exist: reported in reasons, as upstream."""
        self._reindex()
        keys = [("user", user.name)] + [("group", g) for g in groups_of(user)]
        missing: list[str] = []
        scopes = [("", self._cluster_grants)] + ([(namespace, self._namespace_grants.get(namespace, {}))]
                                                 if namespace else [])
        for scope_ns, index in scopes:
            for key in keys:
                for binding in index.get(key, ()):
                    ref = binding.get("roleRef") or {}
                    if self.role_ref_rules(ref, scope_ns) is None:
                        plural = "clusterrole" if ref.get("kind") == "ClusterRole" else "role"
                        missing.append(f'{plural}.rbac.authorization.k8s.io "{ref.get("name")}" not found')
        return missing

    # -- indexes

    def _reindex(self) -> None:
        if not self._dirty:
            return
        cluster: dict[tuple[str, str], list[Obj]] = {}
        for binding in self._objects["ClusterRoleBinding"].values():
            if (binding.get("roleRef") or {}).get("kind") != "ClusterRole":
                continue  # refused by validation; never grants
            for subject in binding.get("subjects") or ():
                key = subject_key(subject, "") if isinstance(subject, Mapping) else None
                if key is not None:
                    cluster.setdefault(key, []).append(binding)
        namespaced: dict[str, dict[tuple[str, str], list[Obj]]] = {}
        for (ns, _), binding in self._objects["RoleBinding"].items():
            for subject in binding.get("subjects") or ():
                key = subject_key(subject, ns) if isinstance(subject, Mapping) else None
                if key is not None:
                    namespaced.setdefault(ns, {}).setdefault(key, []).append(binding)
        self._cluster_grants, self._namespace_grants = cluster, namespaced
        self._cluster_role_rules = aggregate(self._objects["ClusterRole"].values())
        self._dirty = False


def aggregate(cluster_roles: Iterable[Mapping[str, Any]]) -> dict[str, tuple[Rule, ...]]:
    """Every ClusterRole's effective rules: its own, or for one with an aggregationRule the
    union (without duplicates, in a stable order) of the effective rules of the roles its
    selectors match, itself excepted. Cycles contribute what was found before the cycle closed."""
    roles = {_meta(r).get("name", ""): r for r in cluster_roles}
    selectors: dict[str, list[LabelSelector]] = {}
    for name, role in roles.items():
        rule = role.get("aggregationRule")
        if isinstance(rule, Mapping):
            parsed = []
            for selector in rule.get("clusterRoleSelectors") or ():
                try:
                    parsed.append(LabelSelector.from_structured(selector))
                except ApiError:
                    log.warning("ClusterRole %s: an unusable clusterRoleSelector is ignored", name)
            selectors[name] = parsed
    result: dict[str, tuple[Rule, ...]] = {}

    def effective(name: str, visiting: frozenset[str]) -> tuple[Rule, ...]:
        if name in result:
            return result[name]
        role = roles[name]
        if name not in selectors:
            rules: tuple[Rule, ...] = tuple(_rules(role))
        else:
            collected: list[Rule] = []
            for other in sorted(roles):
                if other == name or other in visiting:
                    continue
                labels = _meta(roles[other]).get("labels") or {}
                if any(s.matches(labels) for s in selectors[name]):
                    for rule in effective(other, visiting | {name}):
                        if rule not in collected:
                            collected.append(rule)
            rules = tuple(collected)
        if not visiting:
            result[name] = rules
        return rules

    for name in roles:
        result[name] = effective(name, frozenset())
    return result


# --- the authorizer ------------------------------------------------------------------------------


class RBACAuthorizer:
    """Allows what a bound rule allows; NO_OPINION otherwise (RBAC never denies)."""

    def __init__(self, cache: RBACCache) -> None:
        self.cache = cache

    async def authorize(self, attrs: Attributes) -> Decision:
        return self.decide(attrs)

    def decide(self, attrs: Attributes) -> Decision:
        """The same as ``authorize``, for callers that are not coroutines."""
        # Non-resource URLs are only granted cluster-wide; resource rules in the request's namespace.
        namespace = attrs.namespace if attrs.resource_request else ""
        for grant in self.cache.grants(attrs.user, namespace):
            for rule in grant.rules:
                if rule_allows(attrs, rule):
                    return Decision.allow(grant.describe())
        missing = self.cache.missing_roles(attrs.user, namespace)
        return Decision.no_opinion(f"RBAC: [{', '.join(missing)}]" if missing else "")

    def rules_for(self, user: User, namespace: str) -> RulesResult:
        result = RulesResult()
        for grant in self.cache.grants(user, namespace):
            for rule in grant.rules:
                if rule.get("nonResourceURLs"):
                    if not grant.binding_namespace:  # only ClusterRoleBindings grant URLs
                        result.non_resource_rules.append(
                            {"verbs": list(rule.get("verbs") or ()),
                             "nonResourceURLs": list(rule.get("nonResourceURLs") or ())})
                if rule.get("resources"):
                    entry = {"verbs": list(rule.get("verbs") or ()), "apiGroups": list(rule.get("apiGroups") or ()),
                             "resources": list(rule.get("resources") or ())}
                    if rule.get("resourceNames"):
                        entry["resourceNames"] = list(rule["resourceNames"])
                    result.resource_rules.append(entry)
        result.errors += self.cache.missing_roles(user, namespace)
        return result
