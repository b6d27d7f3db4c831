"""The resources this orchestrator serves: one table that discovery, routing, storage keys and
the CLI all read, so adding a kind is one row.

Objects travel everywhere as plain JSON documents (``dict``) in Kubernetes shape; Pydantic
models are used only at the API server boundary to validate and default them.

A resource is named the Kubernetes way, ``<plural>.<group>`` (``pods``, ``deployments.apps``,
``leases.coordination.k8s.io``): that string is the storage key prefix and the name of its
Redis stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NewType

GroupResource = NewType("GroupResource", str)
"""``pods`` or ``deployments.apps``: a resource independent of its version."""

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
# Kubernetes serves no deletecollection for namespaces: one request must not end them all.
NAMESPACE_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
# Reviews (SubjectAccessReview, SelfSubjectReview...) are questions: created, answered, never stored.
CREATE_ONLY = ("create",)
# Objects the API server writes itself and serves for reading only (API Priority and Fairness' configuration).
READ_ONLY = ("get", "list", "watch")

RBAC_GROUP = "rbac.authorization.k8s.io"
AUTHORIZATION_GROUP = "authorization.k8s.io"
AUTHENTICATION_GROUP = "authentication.k8s.io"
FLOWCONTROL_GROUP = "flowcontrol.apiserver.k8s.io"


@dataclass(frozen=True)
class ResourceInfo:
    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    list_kind: str = field(default="")
    # How names are checked: "subdomain" (DNS-1123, most kinds), "label" (namespaces), or
    # "path_segment" (RBAC: `system:kube-scheduler` is a valid ClusterRole name).
    name_format: str = "subdomain"

    @property
    def stored(self) -> bool:
        """False for the create-only reviews: nothing to list, watch, store or delete."""
        return "list" in self.verbs

    @property
    def group_resource(self) -> GroupResource:
        return GroupResource(f"{self.plural}.{self.group}" if self.group else self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind_name(self) -> str:
        return self.list_kind or f"{self.kind}List"

    def path_prefix(self) -> str:
        """``/api/v1`` or ``/apis/apps/v1``."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection_path(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.path_prefix()}/namespaces/{namespace}/{self.plural}"
        return f"{self.path_prefix()}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection_path(namespace)}/{name}"


RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), (), ("status",), NAMESPACE_VERBS),
    ResourceInfo("", "v1", "pods", "pod", "Pod", True, ("po",), ("all",), ("status", "binding", "eviction", "log")),
    ResourceInfo("", "v1", "nodes", "node", "Node", False, ("no",), (), ("status",)),
    ResourceInfo("", "v1", "events", "event", "Event", True, ("ev",), ()),
    ResourceInfo("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",), ()),
    ResourceInfo("", "v1", "secrets", "secret", "Secret", True, (), ()),
    ResourceInfo("", "v1", "services", "service", "Service", True, ("svc",), ("all",), ("status",)),
    ResourceInfo("", "v1", "endpoints", "endpoints", "Endpoints", True, ("ep",), (), list_kind="EndpointsList"),
    ResourceInfo("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",), (), ("token",)),
    ResourceInfo("", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController", True, ("rc",),
                 ("all",), ("status", "scale")),
    ResourceInfo("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", True, ("quota",), (), ("status",)),
    ResourceInfo("", "v1", "limitranges", "limitrange", "LimitRange", True, ("limits",), ()),
    ResourceInfo("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", True, ("pvc",),
                 (), ("status",)),
    ResourceInfo("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", False, ("pv",), (),
                 ("status",)),
    ResourceInfo("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",), ("all",),
                 ("status", "scale")),
    ResourceInfo("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",), ("all",),
                 ("status", "scale")),
    ResourceInfo("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",), ("all",), ("status",)),
    ResourceInfo("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, ("sts",), ("all",),
                 ("status", "scale")),
    ResourceInfo("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", True),
    ResourceInfo("batch", "v1", "jobs", "job", "Job", True, (), ("all",), ("status",)),
    ResourceInfo("batch", "v1", "cronjobs", "cronjob", "CronJob", True, ("cj",), ("all",), ("status",)),
    ResourceInfo("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler",
                 True, ("hpa",), ("all",), ("status",)),
    ResourceInfo("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True,
                 ("pdb",), (), ("status",)),
    ResourceInfo("coordination.k8s.io", "v1", "leases", "lease", "Lease", True, (), ()),
    ResourceInfo("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
                 "CustomResourceDefinition", False, ("crd", "crds"), ("api-extensions",), ("status",)),
    # RBAC: kubectl knows no short names for these, and they belong to no category.
    ResourceInfo(RBAC_GROUP, "v1", "roles", "role", "Role", True, name_format="path_segment"),
    ResourceInfo(RBAC_GROUP, "v1", "rolebindings", "rolebinding", "RoleBinding", True, name_format="path_segment"),
    ResourceInfo(RBAC_GROUP, "v1", "clusterroles", "clusterrole", "ClusterRole", False, name_format="path_segment"),
    ResourceInfo(RBAC_GROUP, "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", False, name_format="path_segment"),
    # Reviews: questions answered in the create request, never stored (orchestrator/apiserver/authz/reviews.py).
    ResourceInfo(AUTHORIZATION_GROUP, "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
                 "SelfSubjectAccessReview", False, verbs=CREATE_ONLY),
    ResourceInfo(AUTHORIZATION_GROUP, "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview",
                 "SelfSubjectRulesReview", False, verbs=CREATE_ONLY),
    ResourceInfo(AUTHORIZATION_GROUP, "v1", "subjectaccessreviews", "subjectaccessreview",
                 "SubjectAccessReview", False, verbs=CREATE_ONLY),
    ResourceInfo(AUTHORIZATION_GROUP, "v1", "localsubjectaccessreviews", "localsubjectaccessreview",
                 "LocalSubjectAccessReview", True, verbs=CREATE_ONLY),
    ResourceInfo(AUTHENTICATION_GROUP, "v1", "selfsubjectreviews", "selfsubjectreview",
                 "SelfSubjectReview", False, verbs=CREATE_ONLY),
    ResourceInfo("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", True),
    ResourceInfo("apiregistration.k8s.io", "v1", "apiservices", "apiservice", "APIService", False, (),
                 ("api-extensions",), ("status",)),
    ResourceInfo("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", False, ("sc",)),
    # API Priority and Fairness' configuration, fixed in code (orchestrator/apiserver/flowcontrol.py)
    # and written by the API server at start-up so that kubectl can show it.
    ResourceInfo(FLOWCONTROL_GROUP, "v1", "flowschemas", "flowschema", "FlowSchema", False, verbs=READ_ONLY),
    ResourceInfo(FLOWCONTROL_GROUP, "v1", "prioritylevelconfigurations", "prioritylevelconfiguration",
                 "PriorityLevelConfiguration", False, verbs=READ_ONLY),
)

# Versions served beside a resource's stored one (its row above), converted at the request's edge
# (orchestrator/apiserver/conversion.py): kubectl 1.32's `autoscale` writes autoscaling/v1.
CONVERTED_VERSIONS: tuple[ResourceInfo, ...] = (
    ResourceInfo("autoscaling", "v1", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler",
                 True, ("hpa",), ("all",), ("status",)),
)

_BY_GROUP_RESOURCE = {r.group_resource: r for r in RESOURCES}
_BY_GROUP_PLURAL = {(r.group, r.plural): r for r in RESOURCES}
_BY_API_VERSION_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def by_group_resource(group_resource: str) -> ResourceInfo:
    try:
        return _BY_GROUP_RESOURCE[GroupResource(group_resource)]
    except KeyError:
        raise KeyError(f"unknown resource {group_resource!r}") from None


def lookup(group: str, plural: str) -> ResourceInfo | None:
    return _BY_GROUP_PLURAL.get((group, plural))


def by_kind(api_version: str, kind: str) -> ResourceInfo | None:
    return _BY_API_VERSION_KIND.get((api_version, kind))


def resolve(name: str) -> ResourceInfo | None:
    """What a person types: ``po``, ``pod``, ``pods``, ``deploy``, ``deployments.apps``, ``Pod``."""
    wanted = name.lower()
    for r in RESOURCES:
        names = {r.plural, r.singular, r.kind.lower(), *r.short_names, r.group_resource}
        if wanted in names:
            return r
    return None


def groups() -> list[tuple[str, str]]:
    """The (group, version) pairs served, core group first, in a stable order."""
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        if (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen
