"""Strategies of rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

What differs from the generic verbs:

- names are *path segments*, not DNS names: ``system:kube-scheduler`` is a valid ClusterRole
  name (anything but ``.``, ``..`` and names containing ``/`` or ``%``);
- a rule needs verbs, and either apiGroups + resources or nonResourceURLs (never both); a
  Role's rules (namespaced) cannot name URLs;
- a ClusterRole's aggregationRule needs at least one well-formed clusterRoleSelector;
- a binding's roleRef is ``rbac.authorization.k8s.io`` Role or ClusterRole (a ClusterRoleBinding:
  ClusterRole only), and it is immutable: to bind another role, make another binding;
- subjects are User and Group (apiGroup ``rbac.authorization.k8s.io``, defaulted) or ServiceAccount
  (apiGroup "", a namespace required in a ClusterRoleBinding);
- kubectl prints roles as NAME, CREATED AT and bindings as NAME, ROLE, AGE (wide: USERS, GROUPS,
  SERVICEACCOUNTS).

Who may write these objects at all is escalation prevention (orchestrator/apiserver/authz/
escalation.py), which needs the author and the authorizer: the registry runs it, not the strategy.

Kubernetes equivalent: pkg/registry/rbac/{role,clusterrole,rolebinding,clusterrolebinding}/strategy.go,
pkg/apis/rbac/validation/validation.go, pkg/apis/rbac/v1/defaults.go, pkg/printers/internalversion
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.errors import Cause, Invalid
from orchestrator.api.names import path_segment_name
from orchestrator.api.printing import human_duration
from orchestrator.api.resources import RBAC_GROUP, by_group_resource
from orchestrator.api.selectors import LabelSelector
from orchestrator.api.timestamps import parse_rfc3339
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.validation import FieldErrors

Obj = dict[str, Any]  # as registry/strategy.py names it
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


# --- field errors (the words of k8s.io/apimachinery/pkg/util/validation/field) --------------------


def _go(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[]string{" + ", ".join(_go(v) for v in value) + "}"
    return "null" if value is None else str(value)


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, f"Required value: {detail}" if detail else "Required value", "FieldValueRequired")


def invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, f"Invalid value: {_go(value)}: {detail}", "FieldValueInvalid")


def not_supported(path: str, value: Any, supported: tuple[str, ...]) -> Cause:
    listed = ", ".join(f'"{s}"' for s in supported)
    return Cause(path, f"Unsupported value: {_go(value)}: supported values: {listed}", "FieldValueNotSupported")




# --- roles ---------------------------------------------------------------------------------------


def validate_rule(rule: Mapping[str, Any], *, namespaced: bool, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not rule.get("verbs"):
        causes.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs") or []
    if urls:
        if namespaced:
            causes.append(invalid(f"{path}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            causes.append(invalid(f"{path}.nonResourceURLs", urls,
                                  "rules cannot apply to both regular resources and non-resource URLs"))
        return causes
    if not rule.get("apiGroups"):
        causes.append(required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        causes.append(required(f"{path}.resources", "resource rules must supply at least one resource"))
    return causes


def validate_role(obj: Mapping[str, Any], *, namespaced: bool) -> list[Cause]:
    """A Role's (``namespaced``) or ClusterRole's fields; the metadata is BaseStrategy's."""
    causes: list[Cause] = []
    for i, rule in enumerate(obj.get("rules") or []):
        causes += validate_rule(rule, namespaced=namespaced, path=f"rules[{i}]")
    aggregation = obj.get("aggregationRule")
    if not namespaced and aggregation is not None:
        selectors = aggregation.get("clusterRoleSelectors") or []
        if not selectors:
            causes.append(required("aggregationRule.clusterRoleSelectors",
                                   "at least one clusterRoleSelector required if aggregationRule is non-nil"))
        for i, selector in enumerate(selectors):
            try:
                LabelSelector.from_structured(selector, field_path=f"aggregationRule.clusterRoleSelectors[{i}]")
            except Invalid as err:
                causes += err.causes
    return causes


# --- bindings ------------------------------------------------------------------------------------


def default_binding(obj: Obj) -> None:
    """roleRef.apiGroup and subjects' apiGroup as Kubernetes defaults them. In place."""
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    for subject in obj.get("subjects") or []:
        if isinstance(subject, dict) and "apiGroup" not in subject and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = RBAC_GROUP


def validate_subject(subject: Mapping[str, Any], *, namespaced: bool, path: str) -> list[Cause]:
    causes: list[Cause] = []
    name = subject.get("name") or ""
    if not name:
        causes.append(required(f"{path}.name"))
    kind = subject.get("kind") or ""
    group = subject.get("apiGroup") or ""
    if kind == "ServiceAccount":
        if name:
            causes += [invalid(f"{path}.name", name, p) for p in path_segment_name(name)]
        if group:
            causes.append(not_supported(f"{path}.apiGroup", group, ("",)))
        if not namespaced and not subject.get("namespace"):
            causes.append(required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            causes.append(not_supported(f"{path}.apiGroup", group, (RBAC_GROUP,)))
    else:
        causes.append(not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return causes


def validate_binding(obj: Mapping[str, Any], *, namespaced: bool) -> list[Cause]:
    """A RoleBinding's (``namespaced``) or ClusterRoleBinding's fields; the metadata is BaseStrategy's."""
    causes: list[Cause] = []
    ref = obj.get("roleRef") or {}
    if (ref.get("apiGroup") or "") != RBAC_GROUP:
        causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", (RBAC_GROUP,)))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("kind") not in kinds:
        causes.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    name = ref.get("name") or ""
    if not name:
        causes.append(required("roleRef.name"))
    causes += [invalid("roleRef.name", name, p) for p in path_segment_name(name)]
    for i, subject in enumerate(obj.get("subjects") or []):
        causes += validate_subject(subject, namespaced=namespaced, path=f"subjects[{i}]")
    return causes


def validate_binding_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    if (new.get("roleRef") or {}) != (old.get("roleRef") or {}):
        ref = new.get("roleRef") or {}
        shown = f"{{APIGroup:{ref.get('apiGroup', '')} Kind:{ref.get('kind', '')} Name:{ref.get('name', '')}}}"
        return [Cause("roleRef", f"Invalid value: {shown}: cannot change roleRef", "FieldValueInvalid")]
    return []


# --- printing ------------------------------------------------------------------------------------

_NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "priority": 0,
                "description": "Name must be unique within a namespace."}
_CREATED_AT = {"name": "Created At", "type": "date", "format": "", "priority": 0,
               "description": "Time at which the object was created"}
ROLE_COLUMNS: list[dict[str, Any]] = [_NAME_COLUMN, _CREATED_AT]
BINDING_COLUMNS: list[dict[str, Any]] = [
    _NAME_COLUMN,
    {"name": "Role", "type": "string", "format": "", "priority": 0, "description": "Role of the binding"},
    {"name": "Age", "type": "string", "format": "", "priority": 0,
     "description": "CreationTimestamp is a timestamp representing the server time when this object was created."},
    {"name": "Users", "type": "string", "format": "", "priority": 1, "description": "Users in the binding"},
    {"name": "Groups", "type": "string", "format": "", "priority": 1, "description": "Groups in the binding"},
    {"name": "ServiceAccounts", "type": "string", "format": "", "priority": 1,
     "description": "ServiceAccounts in the binding"},
]


def role_row(obj: Mapping[str, Any], now: datetime) -> tuple[list[Any], None]:
    meta = obj.get("metadata") or {}
    return [meta.get("name", ""), meta.get("creationTimestamp") or ""], None


def _age(created: Any, now: datetime) -> str:
    if not isinstance(created, str) or not created:
        return "<unknown>"
    try:
        then = parse_rfc3339(created)
    except ValueError:
        return "<unknown>"
    return human_duration((now - then).total_seconds())


def binding_row(obj: Mapping[str, Any], now: datetime) -> tuple[list[Any], None]:
    meta = obj.get("metadata") or {}
    ref = obj.get("roleRef") or {}
    users, groups, accounts = [], [], []
    for s in obj.get("subjects") or []:
        if s.get("kind") == "User":
            users.append(s.get("name", ""))
        elif s.get("kind") == "Group":
            groups.append(s.get("name", ""))
        elif s.get("kind") == "ServiceAccount":
            accounts.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
    cells = [meta.get("name", ""), f"{ref.get('kind', '')}/{ref.get('name', '')}",
             _age(meta.get("creationTimestamp"), now), ", ".join(users), ", ".join(groups), ", ".join(accounts)]
    return cells, None


# --- the strategies ------------------------------------------------------------------------------

ROLE_PRINTER = tables.TablePrinter(ROLE_COLUMNS, role_row)
BINDING_PRINTER = tables.TablePrinter(BINDING_COLUMNS, binding_row)


class RoleStrategy(BaseStrategy):
    """Role and ClusterRole: rules (and a ClusterRole's aggregationRule)."""

    name_rule = staticmethod(path_segment_name)
    printer = ROLE_PRINTER

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        errs.extend(validate_role(obj, namespaced=self.info.namespaced))


class BindingStrategy(BaseStrategy):
    """RoleBinding and ClusterRoleBinding: defaulted apiGroups, an immutable roleRef."""

    name_rule = staticmethod(path_segment_name)
    printer = BINDING_PRINTER

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        default_binding(obj)

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        default_binding(new)

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        errs.extend(validate_binding(obj, namespaced=self.info.namespaced))

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        return validate_binding_update(new, old)


STRATEGIES = (
    RoleStrategy(by_group_resource(f"roles.{RBAC_GROUP}")),
    RoleStrategy(by_group_resource(f"clusterroles.{RBAC_GROUP}")),
    BindingStrategy(by_group_resource(f"rolebindings.{RBAC_GROUP}")),
    BindingStrategy(by_group_resource(f"clusterrolebindings.{RBAC_GROUP}")),
)
