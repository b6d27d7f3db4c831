"""Escalation prevention: nobody grants, through RBAC objects, a right they do not hold.

Being allowed to create Roles or RoleBindings would otherwise be a way to every right. So, as
in Kubernetes, on create and update:

- a Role or ClusterRole may only contain rules its author already holds (where the role acts:
  in the Role's namespace, cluster-wide for a ClusterRole) — unless the author may ``escalate``
  that role (verb ``escalate`` on ``roles``/``clusterroles``); setting an ``aggregationRule``,
  which can gather any rule, needs every right (cluster-admin) or ``escalate``;
- a RoleBinding or ClusterRoleBinding may only bind a role whose rules the author holds
  (in the binding's namespace, or cluster-wide) — unless the author may ``bind`` that role
  (verb ``bind`` on ``roles``/``clusterroles`` named by the roleRef);
- members of ``system:masters`` skip both checks (upstream: the privileged group);
- ``escalate`` and ``bind`` are asked of RBAC alone: no other authorizer grants verbs on RBAC
  objects (the Node authorizer has no opinion on them); the checks run as a validating admission
  plugin, on the object as it will be stored;
- an update that changes no rule (labels, annotations) is not a grant and is not checked.

"Holds" is rule *covering*: each rule to grant is broken into atoms (one verb, one group, one
resource, one name — or one verb on one URL) and every atom must be covered by a rule the author
holds. ``*`` covers all; ``*/scale`` covers ``pods/scale``; a URL ending in ``*`` covers the
paths below it; a rule without resourceNames covers any name, one with names only those names.

Kubernetes equivalent: pkg/registry/rbac/escalation_check.go, pkg/registry/rbac/validation/
policy_comparator.go and rule.go (ConfirmNoEscalation), pkg/registry/rbac/*/policybased/storage.go
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from orchestrator.api.errors import Forbidden
from orchestrator.api.resources import RBAC_GROUP
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import MASTERS, Attributes, groups_of
from orchestrator.apiserver.authz.rbac import RBACAuthorizer

Rule = Mapping[str, Any]

FULL_AUTHORITY: tuple[dict[str, Any], ...] = (
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
)


# --- covering ------------------------------------------------------------------------------------


def breakdown(rule: Rule) -> Iterator[dict[str, Any]]:
    """The atoms of one rule: one verb × (one group × one resource × one name | one URL)."""
    verbs = list(rule.get("verbs") or ())
    for verb in verbs:
        for group in rule.get("apiGroups") or ():
            for resource in rule.get("resources") or ():
                names = rule.get("resourceNames") or ()
                if names:
                    for name in names:
                        yield {"verbs": [verb], "apiGroups": [group], "resources": [resource], "resourceNames": [name]}
                else:
                    yield {"verbs": [verb], "apiGroups": [group], "resources": [resource]}
        for url in rule.get("nonResourceURLs") or ():
            yield {"verbs": [verb], "nonResourceURLs": [url]}


def _resource_covers(owner: Iterable[str], servant: str) -> bool:
    owner = list(owner)
    if "*" in owner or servant in owner:
        return True
    if "/" in servant:
        return f"*/{servant.split('/', 1)[1]}" in owner
    return False


def _url_covers(owner: Iterable[str], servant: str) -> bool:
    for url in owner:
        if url == "*" or url == servant or (url.endswith("*") and servant.startswith(url[:-1])):
            return True
    return False


def rule_covers(owner: Rule, atom: Rule) -> bool:
    """Whether one held rule covers one atom (see ``breakdown``)."""
    verbs = owner.get("verbs") or ()
    if not ("*" in verbs or all(v in verbs for v in atom.get("verbs") or ())):
        return False
    if atom.get("nonResourceURLs"):
        return all(_url_covers(owner.get("nonResourceURLs") or (), u) for u in atom["nonResourceURLs"])
    groups = owner.get("apiGroups") or ()
    if not ("*" in groups or all(g in groups for g in atom.get("apiGroups") or ())):
        return False
    if not all(_resource_covers(owner.get("resources") or (), r) for r in atom.get("resources") or ()):
        return False
    owner_names = owner.get("resourceNames") or ()
    atom_names = atom.get("resourceNames") or ()
    if not atom_names:
        return not owner_names
    return not owner_names or all(n in owner_names for n in atom_names)


def covers(owner_rules: Iterable[Rule], servant_rules: Iterable[Rule]) -> tuple[bool, list[dict[str, Any]]]:
    """(True, []) when every servant rule is covered by the owner rules; else (False, the atoms
    not covered)."""
    owner = list(owner_rules)
    missing = [atom for rule in servant_rules for atom in breakdown(rule)
               if not any(rule_covers(o, atom) for o in owner)]
    return not missing, missing


def compact(rule: Rule) -> str:
    """A rule as Kubernetes prints it in escalation errors: ``{APIGroups:["apps"], Resources:["deployments"], Verbs:["delete"]}``."""
    parts = []
    for key, label in (("apiGroups", "APIGroups"), ("resources", "Resources"), ("resourceNames", "ResourceNames"),
                       ("nonResourceURLs", "NonResourceURLs"), ("verbs", "Verbs")):
        if rule.get(key):
            parts.append(f"{label}:[{', '.join(json.dumps(v) for v in rule[key])}]")
    return "{" + ", ".join(parts) + "}"


# --- the checks ---------------------------------------------------------------------------------


def _not_held(user: User, missing: list[dict[str, Any]], errors: list[str]) -> str:
    groups = ", ".join(json.dumps(g) for g in groups_of(user))
    text = (f'user "{user.name}" (groups=[{groups}]) is attempting to grant RBAC permissions not currently held:\n'
            + "\n".join(compact(m) for m in missing))
    if errors:
        text += f"; resolution errors: [{', '.join(errors)}]"
    return text


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _forbidden(plural: str, name: str, message: str) -> Forbidden:
    return Forbidden(f'{plural}.{RBAC_GROUP} "{name}" is forbidden: {message}',
                     kind=plural, name=name or None, group=RBAC_GROUP)


def check_role_write(*, user: User, rbac: RBACAuthorizer, kind: str,
                           obj: Mapping[str, Any], old: Mapping[str, Any] | None = None,
                           namespace: str | None = None) -> None:
    """Raise Forbidden if writing Role/ClusterRole ``obj`` (over ``old`` on update) would grant
    rules ``user`` does not hold; ``rbac`` also answers whether ``user`` may ``escalate``.
    ``namespace``: the request's (a body may not say it); default: the object's."""
    plural = "roles" if kind == "Role" else "clusterroles"
    meta = _meta(obj)
    name = meta.get("name") or ""
    namespace = ((namespace or meta.get("namespace") or "") if kind == "Role" else "")
    if MASTERS in groups_of(user):
        return
    if old is not None and old.get("rules") == obj.get("rules") and old.get("aggregationRule") == obj.get("aggregationRule"):
        return
    escalate = Attributes(user=user, verb="escalate", resource=plural, api_group=RBAC_GROUP,
                          namespace=namespace, name=name)
    if rbac.decide(escalate).allowed:
        return
    held = rbac.rules_for(user, namespace)
    rules = [r for r in obj.get("rules") or () if isinstance(r, Mapping)]
    aggregation = obj.get("aggregationRule")
    if aggregation:
        # The aggregated rules are computed from other roles, whatever obj.rules says.
        rules = []
    ok, missing = covers(held.resource_rules + held.non_resource_rules, rules)
    if not ok:
        raise _forbidden(plural, name, _not_held(user, missing, held.errors))
    if aggregation:
        ok, _ = covers(held.resource_rules + held.non_resource_rules, FULL_AUTHORITY)
        if not ok:
            raise _forbidden(plural, name, "must have cluster-admin privileges to use the aggregationRule")


def check_binding_write(*, user: User, rbac: RBACAuthorizer, kind: str,
                              obj: Mapping[str, Any], old: Mapping[str, Any] | None = None,
                              namespace: str | None = None) -> None:
    """Raise Forbidden if writing RoleBinding/ClusterRoleBinding ``obj`` would grant a role whose
    rules ``user`` does not hold, unless ``user`` may ``bind`` that role. ``namespace``: the
    request's (a body may not say it); default: the object's."""
    plural = "rolebindings" if kind == "RoleBinding" else "clusterrolebindings"
    meta = _meta(obj)
    name = meta.get("name") or ""
    namespace = ((namespace or meta.get("namespace") or "") if kind == "RoleBinding" else "")
    if MASTERS in groups_of(user):
        return
    if old is not None and old.get("subjects") == obj.get("subjects") and old.get("roleRef") == obj.get("roleRef"):
        return
    role_ref = obj.get("roleRef") or {}
    bind = Attributes(user=user, verb="bind", api_group=RBAC_GROUP,
                      resource="clusterroles" if role_ref.get("kind") == "ClusterRole" else "roles",
                      # the binding's namespace: delegation may allow binding a ClusterRole in one namespace only
                      namespace=namespace, name=role_ref.get("name") or "")
    if rbac.decide(bind).allowed:
        return
    rules = rbac.cache.role_ref_rules(role_ref, namespace)
    if rules is None:
        ref_plural = "clusterroles" if role_ref.get("kind") == "ClusterRole" else "roles"
        raise _forbidden(plural, name, f'{ref_plural}.{RBAC_GROUP} "{role_ref.get("name")}" not found')
    held = rbac.rules_for(user, namespace)
    ok, missing = covers(held.resource_rules + held.non_resource_rules, rules)
    if not ok:
        raise _forbidden(plural, name, _not_held(user, missing, held.errors))


class RBACEscalation:
    """The validating admission plugin: escalation checks on every create and update of the RBAC
    kinds (``orchestrator.apiserver.admission`` calls ``admit``). Writes by the API server itself
    (``user`` None: the bootstrap policy) are not checked."""

    def __init__(self, rbac: RBACAuthorizer) -> None:
        self.rbac = rbac

    async def admit(self, attrs: Any) -> None:
        info = attrs.info
        if info.group != RBAC_GROUP or attrs.user is None or attrs.operation == "DELETE":
            return
        if info.kind in ("Role", "ClusterRole"):
            check_role_write(user=attrs.user, rbac=self.rbac, kind=info.kind, obj=attrs.obj, old=attrs.old)
        elif info.kind in ("RoleBinding", "ClusterRoleBinding"):
            check_binding_write(user=attrs.user, rbac=self.rbac, kind=info.kind, obj=attrs.obj, old=attrs.old)
