"""rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

Who may do what is stored as objects: a *role* lists rules (verbs on resources, or on
non-resource URLs), a *binding* grants one role to subjects (users, groups, ServiceAccounts).
A Role and a RoleBinding act in their namespace; a ClusterRole is a set of rules that a
ClusterRoleBinding grants everywhere or a RoleBinding grants in one namespace.

Kubernetes equivalent: k8s.io/api/rbac/v1/types.go
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from orchestrator.api.models.meta import K8sModel, LabelSelector, ObjectMeta, TypedModel, doc


class _Rbac(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.rbac.v1"


class PolicyRule(_Rbac):
    """PolicyRule holds information that describes a policy rule, but does not contain information
    about who the rule applies to or which namespace the rule applies to."""

    required_fields = ("verbs",)

    verbs: list[str] | None = doc("Verbs is a list of Verbs that apply to ALL the ResourceKinds contained in this rule. '*' represents all verbs.")
    api_groups: list[str] | None = doc("APIGroups is the name of the APIGroup that contains the resources. \"\" represents the core API group and \"*\" represents all API groups.")
    resources: list[str] | None = doc("Resources is a list of resources this rule applies to. '*' represents all resources.")
    resource_names: list[str] | None = doc("ResourceNames is an optional white list of names that the rule applies to. An empty set means that everything is allowed.")
    non_resource_ur_ls: list[str] | None = Field(
        default=None, alias="nonResourceURLs",
        description="NonResourceURLs is a set of partial urls that a user should have access to. *s are allowed, but only as the full, final step in the path.")


class AggregationRule(_Rbac):
    """AggregationRule describes how to locate ClusterRoles to aggregate into the ClusterRole."""

    cluster_role_selectors: list[LabelSelector] | None = doc("ClusterRoleSelectors holds a list of selectors which will be used to find ClusterRoles and create the rules. If any of the selectors match, then the ClusterRole's permissions will be added.")


class Role(_Rbac, TypedModel):
    """Role is a namespaced, logical grouping of PolicyRules that can be referenced as a unit by a RoleBinding."""

    gvk = ("rbac.authorization.k8s.io", "v1", "Role")

    metadata: ObjectMeta | None = None
    rules: list[PolicyRule] | None = doc("Rules holds all the PolicyRules for this Role")


class ClusterRole(_Rbac, TypedModel):
    """ClusterRole is a cluster level, logical grouping of PolicyRules that can be referenced as a
    unit by a RoleBinding or ClusterRoleBinding."""

    gvk = ("rbac.authorization.k8s.io", "v1", "ClusterRole")

    metadata: ObjectMeta | None = None
    rules: list[PolicyRule] | None = doc("Rules holds all the PolicyRules for this ClusterRole")
    aggregation_rule: AggregationRule | None = doc("AggregationRule is an optional field that describes how to build the Rules for this ClusterRole. If AggregationRule is set, then the Rules are controller managed and direct changes to Rules will be stomped by the controller.")


class RoleRef(_Rbac):
    """RoleRef contains information that points to the role being used."""

    required_fields = ("apiGroup", "kind", "name")

    api_group: str | None = doc("APIGroup is the group for the resource being referenced")
    kind: str | None = doc("Kind is the type of resource being referenced")
    name: str | None = doc("Name is the name of resource being referenced")


class Subject(_Rbac):
    """Subject contains a reference to the object or user identities a role binding applies to."""

    required_fields = ("kind", "name")

    kind: str | None = doc("Kind of object being referenced. Values defined by this API group are \"User\", \"Group\", and \"ServiceAccount\".")
    api_group: str | None = doc("APIGroup holds the API group of the referenced subject. Defaults to \"\" for ServiceAccount subjects. Defaults to \"rbac.authorization.k8s.io\" for User and Group subjects.")
    name: str | None = doc("Name of the object being referenced.")
    namespace: str | None = doc("Namespace of the referenced object. If the object kind is non-namespace, such as \"User\" or \"Group\", and this value is not empty the Authorizer should report an error.")


class RoleBinding(_Rbac, TypedModel):
    """RoleBinding references a role, but does not contain it. It adds who information via
    Subjects and namespace information by which namespace it exists in."""

    gvk = ("rbac.authorization.k8s.io", "v1", "RoleBinding")
    required_fields = ("roleRef",)

    metadata: ObjectMeta | None = None
    subjects: list[Subject] | None = doc("Subjects holds references to the objects the role applies to.")
    role_ref: RoleRef | None = doc("RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. This field is immutable.")


class ClusterRoleBinding(_Rbac, TypedModel):
    """ClusterRoleBinding references a ClusterRole, but not contain it. It can reference a
    ClusterRole in the global namespace, and adds who information via Subject."""

    gvk = ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding")
    required_fields = ("roleRef",)

    metadata: ObjectMeta | None = None
    subjects: list[Subject] | None = doc("Subjects holds references to the objects the role applies to.")
    role_ref: RoleRef | None = doc("RoleRef can only reference a ClusterRole in the global namespace. This field is immutable.")
