"""The ClusterRoles and ClusterRoleBindings every lab starts with, created at API server start.

They are Kubernetes' bootstrap policy, with rules trimmed to the resources this lab serves (or
is adding), plus one lab role:

    cluster-admin                     everything            ← group system:masters (the lab's admin)
    admin / edit / view               aggregated from system:aggregate-to-{admin,edit,view} and any
                                      ClusterRole labelled rbac.authorization.k8s.io/aggregate-to-*
    system:basic-user                 create SelfSubject{Access,Rules}Reviews and SelfSubjectReviews
    system:discovery                  GET /api, /apis, /openapi, /version, /healthz...
    system:public-info-viewer         GET /healthz, /livez, /readyz, /version
                                      (those three ← group system:authenticated)
    system:kube-scheduler             ← user system:kube-scheduler
    system:kube-controller-manager    ← user system:kube-controller-manager
    view + labkit:cluster-viewer      ← group labkit:viewers (``labctl up``'s read-only identity)
    system:node-proxier               ← user system:kube-proxy (the lab's proxy: Services, EndpointSlices)
    system:kube-dns                   ← user system:kube-dns (the cluster DNS server)
    system:metrics-server             ← user system:metrics-server (reads nodes and pods to scrape)
    system:aggregated-metrics-reader  read metrics.k8s.io pods and nodes; aggregated into view/edit/admin
    (system:node)                     no role: node agents are judged by the Node authorizer

Where the lab differs from upstream, on purpose, so that each identity keeps exactly the rights
the lab's security suite documents (tests/reliability/security/test_authorization_matrix.py):

- system:kube-controller-manager may do everything. Upstream runs each controller under its own
  ServiceAccount (``--use-service-account-credentials``) with a narrow role; the lab's controller
  manager has one identity for all its controllers, which create, update and delete for users.
- system:kube-scheduler reads every served workload resource, ConfigMaps and ServiceAccounts
  but not Secrets (not only what scheduling needs),
  owns events and leases outright, and may not delete pods (the lab's scheduler never preempts).
- labkit:viewers read nodes, leases, PersistentVolumes and StorageClasses too
  (``labkit:cluster-viewer``): ``view`` is written for a namespace and leaves cluster-scoped objects
  out, and a learner's first command is ``kubectl get nodes`` (and a StatefulSet's is
  ``kubectl get sts,pvc,pv``). Like upstream ``view``, they do not read Secrets or RBAC objects.

Created when missing, never overwritten: an administrator who edits ``view`` keeps the edit
across restarts (upstream reconciles roles carrying ``rbac.authorization.kubernetes.io/autoupdate:
"true"`` back to the defaults; the lab carries the annotation but does not reconcile).

Kubernetes equivalent: plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go,
pkg/registry/rbac/rest/storage_rbac.go (PostStartHook ensuring the policy)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from orchestrator.api.errors import AlreadyExists
from orchestrator.api.resources import RBAC_GROUP, ResourceInfo, lookup
from orchestrator.apiserver.authz.rbac import aggregate

Obj = dict[str, Any]

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
READ_WRITE = READ + WRITE

AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-{}"
BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}

CORE, APPS, BATCH, POLICY, COORDINATION = "", "apps", "batch", "policy", "coordination.k8s.io"
AUTHORIZATION, AUTHENTICATION = "authorization.k8s.io", "authentication.k8s.io"
DISCOVERY = "discovery.k8s.io"
METRICS = "metrics.k8s.io"
STORAGE = "storage.k8s.io"
AUTOSCALING = "autoscaling"


def rule(verbs: tuple[str, ...], groups: tuple[str, ...], resources: tuple[str, ...],
         names: tuple[str, ...] = ()) -> Obj:
    out: Obj = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        out["resourceNames"] = list(names)
    return out


def url_rule(verbs: tuple[str, ...], urls: tuple[str, ...]) -> Obj:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def cluster_role(name: str, rules: list[Obj], *, labels: dict[str, str] | None = None,
                 aggregate_from: str | None = None) -> Obj:
    role: Obj = {
        "apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {**BOOTSTRAP_LABELS, **(labels or {})}, "annotations": dict(AUTOUPDATE)},
        "rules": rules,
    }
    if aggregate_from:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_TO.format(aggregate_from): "true"}}]}
    return role


def cluster_role_binding(name: str, role: str, subjects: list[tuple[str, str]]) -> Obj:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABELS), "annotations": dict(AUTOUPDATE)},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": kind, "name": subject} for kind, subject in subjects],
    }


def _aggregate_to(role: str) -> dict[str, str]:
    return {AGGREGATE_TO.format(role): "true"}


def cluster_roles() -> list[Obj]:
    roles = [
        cluster_role("cluster-admin", [rule(("*",), ("*",), ("*",)), url_rule(("*",), ("*",))]),
        cluster_role("admin", [], aggregate_from="admin"),
        cluster_role("edit", [], labels=_aggregate_to("admin"), aggregate_from="edit"),
        cluster_role("view", [], labels=_aggregate_to("edit"), aggregate_from="view"),
        cluster_role("system:aggregate-to-admin", [
            rule(("create",), (AUTHORIZATION,), ("localsubjectaccessreviews",)),
            rule(READ_WRITE, (RBAC_GROUP,), ("rolebindings", "roles")),
        ], labels=_aggregate_to("admin")),
        cluster_role("system:aggregate-to-edit", [
            # Read on what can reach further than the object itself (a container's shell, a Secret).
            rule(READ, (CORE,), ("pods/attach", "pods/exec", "pods/portforward", "secrets")),
            rule(("impersonate",), (CORE,), ("serviceaccounts",)),
            rule(WRITE, (CORE,), ("pods", "pods/attach", "pods/exec", "pods/portforward")),
            rule(("create",), (CORE,), ("pods/eviction",)),
            rule(WRITE, (CORE,), ("configmaps", "events", "persistentvolumeclaims", "secrets", "serviceaccounts",
                                  "services")),
            rule(("create",), (CORE,), ("serviceaccounts/token",)),
            rule(WRITE, (APPS,), ("daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                                  "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale")),
            rule(WRITE, (BATCH,), ("cronjobs", "jobs")),
            rule(WRITE, (POLICY,), ("poddisruptionbudgets",)),
            rule(WRITE, (AUTOSCALING,), ("horizontalpodautoscalers",)),
        ], labels=_aggregate_to("edit")),
        cluster_role("system:aggregate-to-view", [
            rule(READ, (CORE,), ("configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
                                 "pods", "serviceaccounts", "services", "services/status")),
            rule(READ, (CORE,), ("bindings", "events", "limitranges", "namespaces/status", "pods/log",
                                 "pods/status", "resourcequotas", "resourcequotas/status")),
            # Read on namespaces in a namespace's scope reads that one namespace (GET /api/v1/namespaces/ns).
            rule(READ, (CORE,), ("namespaces",)),
            rule(READ, (DISCOVERY,), ("endpointslices",)),
            rule(READ, (APPS,), ("controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
                                 "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
                                 "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status")),
            rule(READ, (BATCH,), ("cronjobs", "cronjobs/status", "jobs", "jobs/status")),
            rule(READ, (POLICY,), ("poddisruptionbudgets", "poddisruptionbudgets/status")),
            rule(READ, (AUTOSCALING,), ("horizontalpodautoscalers", "horizontalpodautoscalers/status")),
        ], labels=_aggregate_to("view")),
        cluster_role("system:basic-user", [
            rule(("create",), (AUTHENTICATION,), ("selfsubjectreviews",)),
            rule(("create",), (AUTHORIZATION,), ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),
        ]),
        cluster_role("system:discovery", [
            url_rule(("get",), ("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                "/openapi/*", "/readyz", "/version", "/version/")),
        ]),
        cluster_role("system:public-info-viewer", [
            url_rule(("get",), ("/healthz", "/livez", "/readyz", "/version", "/version/")),
        ]),
        cluster_role("system:kube-scheduler", [
            rule(READ_WRITE, (CORE,), ("events",)),
            rule(READ_WRITE, (COORDINATION,), ("leases",)),
            rule(READ, (CORE,), ("configmaps", "namespaces", "namespaces/status", "nodes", "nodes/status", "pods",
                                 "pods/log", "pods/status", "serviceaccounts", "services")),
            rule(READ, (CORE,), ("persistentvolumeclaims", "persistentvolumes")),
            rule(READ, (STORAGE,), ("storageclasses",)),
            rule(("create",), (CORE,), ("bindings", "pods/binding")),
            rule(("patch", "update"), (CORE,), ("pods/status",)),
            rule(READ, (APPS,), ("deployments", "deployments/scale", "deployments/status", "replicasets",
                                 "replicasets/scale", "replicasets/status", "statefulsets")),
            rule(READ, (POLICY,), ("poddisruptionbudgets",)),
            rule(("create",), (AUTHENTICATION,), ("tokenreviews",)),
            rule(("create",), (AUTHORIZATION,), ("subjectaccessreviews",)),
        ]),
        cluster_role("system:kube-controller-manager", [rule(("*",), ("*",), ("*",))]),
        cluster_role("system:node-proxier", [
            rule(("list", "watch"), (CORE,), ("services", "endpoints")),
            rule(("list", "watch"), (DISCOVERY,), ("endpointslices",)),
            rule(("get", "list", "watch"), (CORE,), ("nodes",)),
            rule(("create", "patch", "update"), (CORE,), ("events",)),
        ]),
        cluster_role("system:kube-dns", [
            rule(("list", "watch"), (CORE,), ("services", "endpoints")),
            rule(("list", "watch"), (DISCOVERY,), ("endpointslices",)),
        ]),
        # metrics-server's manifest: whoever may view may read usage (kubectl top), through the
        # aggregation of view, edit and admin.
        cluster_role("system:aggregated-metrics-reader", [rule(READ, (METRICS,), ("pods", "nodes"))],
                     labels={**_aggregate_to("view"), **_aggregate_to("edit"), **_aggregate_to("admin")}),
        # The metrics server (orchestrator/metrics): reads Nodes (where to scrape) and Pods (their labels).
        cluster_role("system:metrics-server", [
            rule(("get",), (CORE,), ("nodes/metrics",)),
            rule(READ, (CORE,), ("nodes", "pods")),
        ]),
        cluster_role("labkit:cluster-viewer", [
            rule(READ, (CORE,), ("nodes", "nodes/status", "persistentvolumes", "persistentvolumes/status")),
            rule(READ, (STORAGE,), ("storageclasses",)),
            rule(READ, (COORDINATION,), ("leases",)),
        ]),
    ]
    # Fill the aggregated roles' stored rules, so that `kubectl describe clusterrole view` shows
    # them; the authorizer computes them anyway (orchestrator/apiserver/authz/rbac.py).
    effective = aggregate(roles)
    for role in roles:
        if "aggregationRule" in role:
            role["rules"] = [dict(r) for r in effective[role["metadata"]["name"]]]
    return roles


def cluster_role_bindings() -> list[Obj]:
    return [
        cluster_role_binding("cluster-admin", "cluster-admin", [("Group", "system:masters")]),
        cluster_role_binding("system:basic-user", "system:basic-user", [("Group", "system:authenticated")]),
        cluster_role_binding("system:discovery", "system:discovery", [("Group", "system:authenticated")]),
        cluster_role_binding("system:public-info-viewer", "system:public-info-viewer",
                             [("Group", "system:authenticated"), ("Group", "system:unauthenticated")]),
        cluster_role_binding("system:kube-scheduler", "system:kube-scheduler", [("User", "system:kube-scheduler")]),
        cluster_role_binding("system:kube-controller-manager", "system:kube-controller-manager",
                             [("User", "system:kube-controller-manager")]),
        cluster_role_binding("system:node-proxier", "system:node-proxier", [("User", "system:kube-proxy")]),
        cluster_role_binding("system:kube-dns", "system:kube-dns", [("User", "system:kube-dns")]),
        cluster_role_binding("system:metrics-server", "system:metrics-server", [("User", "system:metrics-server")]),
        cluster_role_binding("labkit:viewers", "view", [("Group", "labkit:viewers")]),
        cluster_role_binding("labkit:cluster-viewer", "labkit:cluster-viewer", [("Group", "labkit:viewers")]),
    ]


def bootstrap_objects() -> list[Obj]:
    """Roles first, then the bindings that refer to them."""
    return cluster_roles() + cluster_role_bindings()


Create = Callable[[ResourceInfo, Obj], Awaitable[Any]]


async def ensure_bootstrap_policy(create: Create) -> list[str]:
    """Create every bootstrap object that does not exist yet (``create`` raises AlreadyExists for
    those that do, and the existing one is kept). Returns ``kind/name`` of those created."""
    created: list[str] = []
    for obj in bootstrap_objects():
        info = lookup(RBAC_GROUP, "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings")
        assert info is not None
        try:
            await create(info, obj)
        except AlreadyExists:
            continue
        created.append(f"{obj['kind']}/{obj['metadata']['name']}")
    return created
