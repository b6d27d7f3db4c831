"""The whole authorization matrix: every identity x every verb x every resource and subresource,
against an expected table written out below.

The table is the policy as documented in docs/rbac.md (the bootstrap RBAC roles, the Node
authorizer and NodeRestriction), written by hand: it is not computed from the code under test, so a
change to the bootstrap roles (orchestrator/apiserver/authz/bootstrap.py) that widens or narrows
what someone may do fails here until the table (the documented policy) is changed with it.

How to read a row: eight columns, one per verb,

    g get   l list   w watch   c create   u update   p patch   d delete   D deletecollection

a letter means allowed (2xx), ``-`` means 403 Forbidden, ``x`` means not served for anyone
(405: namespaces have no deletecollection), ``.`` means the verb does not apply to that
subresource (status and scale: get/update/patch; binding and eviction: create; log: get).

Node identities are judged per object, so their table has one row per *scope*:
``own`` (node-1's Node, its Lease ``kube-node-lease/node-1``, pods bound to node-1, and list/watch
with ``fieldSelector=spec.nodeName=node-1``), ``other`` (the same for node-2) and ``unbound``
(pods bound to no node; list/watch without a field selector).

Every row acts on its own fresh object (made by the admin just before), and deletecollection
is scoped by a label only that row's object carries, so rows never depend on each other.

Kubernetes equivalent: plugin/pkg/auth/authorizer/rbac/bootstrappolicy (the roles),
test/integration/auth/node_test.go (the Node authorizer and NodeRestriction)
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from orchestrator.api.resources import RESOURCES
from tests import factories
from tests.reliability.security.conftest import SecureServer

pytestmark = pytest.mark.timeout(240)

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
LETTERS = "glwcupdD"
SUBRESOURCE_VERBS = {"status": ("get", "update", "patch"), "scale": ("get", "update", "patch"),
                     "binding": ("create",), "eviction": ("create",), "log": ("get",), "token": ("create",)}

ALL = "glwcupdD"
READ = "glw-----"
NONE = "--------"
FLOWCONTROL = ("flowschemas", "prioritylevelconfigurations")
FLOWCONTROL_READ = {kind: "glwxxxxx" for kind in FLOWCONTROL}
FLOWCONTROL_NONE = {kind: "---xxxxx" for kind in FLOWCONTROL}  # as upstream's view: not readable

# ---------------------------------------------------------------------------------------------------
# The expected table. Keys: "<plural>" or "<plural>/<subresource>".
# ---------------------------------------------------------------------------------------------------

# group system:masters: everything. Namespaces have no deletecollection (one request must not end them all).
ADMIN = {
    "namespaces": "glwcupdx", "namespaces/status": "g...up..",
    "pods": ALL, "pods/status": "g...up..", "pods/binding": "...c....", "pods/eviction": "...c....",
    "pods/log": "g.......",
    "nodes": ALL, "nodes/status": "g...up..",
    "events": ALL,
    "deployments": ALL, "deployments/status": "g...up..", "deployments/scale": "g...up..",
    "replicasets": ALL, "replicasets/status": "g...up..", "replicasets/scale": "g...up..",
    "leases": ALL,
    "configmaps": ALL, "secrets": ALL, "serviceaccounts": ALL, "serviceaccounts/token": "...c....",
    **{kind: ALL for kind in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")},
    "customresourcedefinitions": ALL, "customresourcedefinitions/status": "g...up..",
    "apiservices": ALL, "apiservices/status": "g...up..",
    # Services and the workloads of issues 15 and 16, and quotas.
    **{kind: ALL for kind in ("services", "endpoints", "endpointslices", "daemonsets", "jobs", "cronjobs",
                              "poddisruptionbudgets", "limitranges", "resourcequotas", "replicationcontrollers")},
    **{sub: "g...up.." for sub in ("services/status", "daemonsets/status", "jobs/status", "cronjobs/status",
                                   "poddisruptionbudgets/status", "resourcequotas/status",
                                   "replicationcontrollers/status", "replicationcontrollers/scale")},
    # StatefulSets and their storage (issue 16).
    **{kind: ALL for kind in ("statefulsets", "controllerrevisions", "persistentvolumeclaims", "persistentvolumes",
                              "storageclasses")},
    **{sub: "g...up.." for sub in ("statefulsets/status", "statefulsets/scale", "persistentvolumeclaims/status",
                                   "persistentvolumes/status")},
    "horizontalpodautoscalers": ALL, "horizontalpodautoscalers/status": "g...up..",
    # API Priority and Fairness' configuration: written by the API server, served read-only.
    **FLOWCONTROL_READ,
    # Reviews are questions: created (answered), never stored, so nothing else is served.
    **{review: "xxxcxxxx" for review in ("selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews",
                                         "subjectaccessreviews", "localsubjectaccessreviews")},
}

# Every authenticated identity may ask about itself (system:basic-user); nobody but admins reads or
# writes RBAC objects, and asking about others (SubjectAccessReview) is the scheduler's and admins'.
RBAC_NONE = {kind: NONE for kind in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")}
# CustomResourceDefinitions extend the API for everyone: an admin's, as upstream (not in `view`).
CRD_NONE = {"customresourcedefinitions": NONE, "customresourcedefinitions/status": "-...--..",
            # An APIService routes a whole group to a server of its choosing: an admin's, as upstream.
            "apiservices": NONE, "apiservices/status": "-...--.."}
SELF_REVIEWS = {"selfsubjectaccessreviews": "xxxcxxxx", "selfsubjectrulesreviews": "xxxcxxxx",
                "selfsubjectreviews": "xxxcxxxx", "subjectaccessreviews": "xxx-xxxx",
                "localsubjectaccessreviews": "xxx-xxxx"}

# system:kube-controller-manager: everything too (it creates, updates and deletes for users).
CONTROLLER_MANAGER = dict(ADMIN)

# group labkit:viewers: get, list, watch — every resource and every readable subresource, nothing else.
VIEWER = {
    "namespaces": "glw----x", "namespaces/status": "g...--..",
    "pods": READ, "pods/status": "g...--..", "pods/binding": "...-....", "pods/eviction": "...-....",
    "pods/log": "g.......",
    "nodes": READ, "nodes/status": "g...--..",
    "events": READ,
    "deployments": READ, "deployments/status": "g...--..", "deployments/scale": "g...--..",
    "replicasets": READ, "replicasets/status": "g...--..", "replicasets/scale": "g...--..",
    "leases": READ,
    # Not Secrets: Kubernetes' view role leaves them out too.
    "configmaps": READ, "secrets": NONE, "serviceaccounts": READ, "serviceaccounts/token": "...-....",
    # `view` reads no RBAC objects (upstream: they say who may do what, which is an admin's to know).
    **RBAC_NONE, **SELF_REVIEWS, **CRD_NONE, **FLOWCONTROL_NONE,
    **{kind: READ for kind in ("services", "endpoints", "endpointslices", "daemonsets", "jobs", "cronjobs",
                               "poddisruptionbudgets", "limitranges", "resourcequotas")},
    **{sub: "g...--.." for sub in ("services/status", "daemonsets/status", "jobs/status", "cronjobs/status",
                                   "poddisruptionbudgets/status", "resourcequotas/status")},
    "horizontalpodautoscalers": READ, "horizontalpodautoscalers/status": "g...--..",
    # Not in this lab's `view` yet (upstream's has them): ReplicationControllers.
    "replicationcontrollers": NONE, "replicationcontrollers/status": "-...--..",
    "replicationcontrollers/scale": "-...--..",
    # `view` reads StatefulSets, their revisions and claims; labkit:cluster-viewer adds the
    # cluster-scoped PersistentVolumes and StorageClasses (`kubectl get sts,pvc,pv`).
    **{kind: READ for kind in ("statefulsets", "controllerrevisions", "persistentvolumeclaims", "persistentvolumes",
                               "storageclasses")},
    **{sub: "g...--.." for sub in ("statefulsets/status", "statefulsets/scale", "persistentvolumeclaims/status",
                                   "persistentvolumes/status")},
}

# system:kube-scheduler: reads everything; binds pods; writes pod status; events; leases (its lock).
SCHEDULER = {
    **VIEWER,
    "pods/status": "g...up..", "pods/binding": "...c....",
    "events": ALL,
    "leases": ALL,
    "subjectaccessreviews": "xxxcxxxx",  # as upstream's system:kube-scheduler (delegated authorization)
    # Of the newer kinds it reads only what it schedules by: Services and disruption budgets.
    **{kind: NONE for kind in ("endpoints", "endpointslices", "daemonsets", "jobs", "cronjobs", "limitranges",
                               "resourcequotas", "horizontalpodautoscalers")},
    **{sub: "-...--.." for sub in ("services/status", "daemonsets/status", "jobs/status", "cronjobs/status",
                                   "poddisruptionbudgets/status", "resourcequotas/status",
                                   "horizontalpodautoscalers/status")},
    # StatefulSets, claims, volumes and classes it reads (upstream's volume binding reads them);
    # no revisions and no subresources.
    "controllerrevisions": NONE,
    **{sub: "-...--.." for sub in ("statefulsets/status", "statefulsets/scale", "persistentvolumeclaims/status",
                                   "persistentvolumes/status")},
}

# system:node:node-1 (group system:nodes), by scope.
NODE = {
    "own": {
        # Reads every Node; writes only its own (registers it, updates it and its status). It may
        # not delete its Node: stricter than Kubernetes, and the node agent never does.
        "nodes": "glwcup--", "nodes/status": "g...up..",
        # Its Lease in kube-node-lease: read and renew; never list or watch the others'.
        "leases": "g--cupd-",
        # Pods bound to it: read, delete (eviction ends there), write status — never the spec,
        # never a pod of its own making; list/watch only by its own spec.nodeName.
        # Evictions are for drains and disruption budgets, not for the node (it deletes its pods).
        "pods": "glw---d-", "pods/status": "g...up..", "pods/binding": "...-....", "pods/eviction": "...-....",
        "pods/log": "g.......",
    },
    "other": {
        "nodes": "glw-----", "nodes/status": "g...--..",
        "leases": NONE,
        "pods": NONE, "pods/status": "-...--..", "pods/binding": "...-....", "pods/eviction": "...-....",
        "pods/log": "-.......",
    },
    "unbound": {
        "pods": NONE, "pods/status": "-...--..", "pods/binding": "...-....", "pods/eviction": "...-....",
        "pods/log": "-.......",
        # Its own Lease's name, but outside kube-node-lease: no.
        "leases": NONE,
        # Not node-scoped: the same for any object.
        "namespaces": "glw----x", "namespaces/status": "g...--..",
        "events": "glwcup--",  # it reports events (and reads them); it does not delete them
        "deployments": NONE, "deployments/status": "-...--..", "deployments/scale": "-...--..",
        "replicasets": NONE, "replicasets/status": "-...--..", "replicasets/scale": "-...--..",
        "configmaps": NONE, "secrets": NONE, "serviceaccounts": NONE,
        # Allowed past authorization, refused by the token handler: a node gets tokens only bound
        # to a pod it runs (registry/serviceaccounts.py), and this request binds none.
        "serviceaccounts/token": "...-....",
        **RBAC_NONE, **SELF_REVIEWS, **CRD_NONE, **FLOWCONTROL_NONE,
        **{kind: NONE for kind in ("services", "endpoints", "endpointslices", "daemonsets", "jobs", "cronjobs",
                                   "poddisruptionbudgets", "limitranges", "resourcequotas", "replicationcontrollers",
                                   "horizontalpodautoscalers")},
        **{sub: "-...--.." for sub in ("services/status", "daemonsets/status", "jobs/status", "cronjobs/status",
                                       "poddisruptionbudgets/status", "resourcequotas/status",
                                       "replicationcontrollers/status", "replicationcontrollers/scale",
                                       "horizontalpodautoscalers/status")},
        # Claims and volumes only through a pod bound to it (the Node authorizer's graph): a claim no
        # pod of node-1 names, and a volume bound to no such claim, are not its to read.
        **{kind: NONE for kind in ("statefulsets", "controllerrevisions", "persistentvolumeclaims",
                                   "persistentvolumes", "storageclasses")},
        **{sub: "-...--.." for sub in ("statefulsets/status", "statefulsets/scale", "persistentvolumeclaims/status",
                                       "persistentvolumes/status")},
    },
}

IDENTITY_TABLES = {"admin": ADMIN, "controller-manager": CONTROLLER_MANAGER, "viewer": VIEWER,
                   "scheduler": SCHEDULER}
NODE_IDENTITY = "node-1"
OWN, OTHER = "node-1", "node-2"

PREFIX = {r.plural: r.path_prefix() for r in RESOURCES}
NAMESPACED = {r.plural: r.namespaced for r in RESOURCES}


@dataclass(frozen=True)
class Row:
    identity: str
    target: str  # "pods" or "pods/status"
    verb: str
    expect: str  # "allow", "deny" or "not-served"
    scope: str = "any"  # node identities: own / other / unbound

    @property
    def resource(self) -> str:
        return self.target.split("/")[0]

    @property
    def subresource(self) -> str | None:
        return self.target.split("/")[1] if "/" in self.target else None

    def __str__(self) -> str:
        scope = f"[{self.scope}]" if self.scope != "any" else ""
        return f"{self.identity} {self.verb} {self.target}{scope}"


def _rows(identity: str, table: dict[str, str], scope: str = "any") -> Iterator[Row]:
    for target, columns in table.items():
        assert len(columns) == 8, (target, columns)
        sub = target.split("/")[1] if "/" in target else None
        for verb, letter, mark in zip(VERBS, LETTERS, columns, strict=True):
            applies = verb in SUBRESOURCE_VERBS[sub] if sub else True
            assert (mark == ".") == (not applies), f"{identity} {target}: column {verb} is {mark!r}"
            if mark == ".":
                continue
            assert mark in (letter, "-", "x"), f"{identity} {target}: column {verb} is {mark!r}"
            expect = {"-": "deny", "x": "not-served"}.get(mark, "allow")
            yield Row(identity, target, verb, expect, scope)


def all_rows() -> list[Row]:
    rows = [row for identity, table in IDENTITY_TABLES.items() for row in _rows(identity, table)]
    rows += [row for scope, table in NODE.items() for row in _rows(NODE_IDENTITY, table, scope)]
    return rows


# ---------------------------------------------------------------------------------------------------
# Completeness: the table covers what the server serves (orchestrator/api/resources.py).
# ---------------------------------------------------------------------------------------------------

def served_targets() -> set[str]:
    return {r.plural for r in RESOURCES} | {f"{r.plural}/{s}" for r in RESOURCES for s in r.subresources}


@pytest.mark.parametrize("identity", sorted(IDENTITY_TABLES))
def test_the_table_covers_every_served_resource_and_subresource(identity: str) -> None:
    assert set(IDENTITY_TABLES[identity]) == served_targets()


def test_the_node_table_covers_every_served_resource_and_subresource() -> None:
    covered = {target for table in NODE.values() for target in table}
    assert covered == served_targets()
    node_scoped = {"nodes", "nodes/status", "leases", "pods", "pods/status", "pods/binding", "pods/eviction",
                   "pods/log"}
    for scope in ("own", "other"):
        assert set(NODE[scope]) <= node_scoped, scope


def test_the_table_matches_the_verbs_each_resource_serves() -> None:
    for r in RESOURCES:
        served = "".join(letter if verb in r.verbs else "x" for verb, letter in zip(VERBS, LETTERS, strict=True))
        assert ADMIN[r.plural] == served, r.plural


# ---------------------------------------------------------------------------------------------------
# Running a row
# ---------------------------------------------------------------------------------------------------

def manifest(resource: str, name: str, namespace: str | None, *, labels: dict[str, str],
             node: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace and NAMESPACED[resource]:
        meta["namespace"] = namespace
    template = {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    if resource == "pods":
        pod = factories.pod(name, namespace=namespace or "default", labels=labels, node=node)
        return pod
    if resource == "nodes":
        obj = factories.node(name, labels=labels)
        obj["spec"]["unschedulable"] = True
        return obj
    if resource == "namespaces":
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
    if resource == "events":
        return {"apiVersion": "v1", "kind": "Event", "metadata": meta, "type": "Normal", "reason": "Testing",
                "message": "authorization matrix",
                "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": namespace}}
    if resource in ("deployments", "replicasets"):
        return {"apiVersion": "apps/v1", "kind": "Deployment" if resource == "deployments" else "ReplicaSet",
                "metadata": meta, "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                                           "template": template}}
    if resource in ("roles", "clusterroles"):
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role" if resource == "roles" else "ClusterRole",
                "metadata": meta, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}
    if resource in ("rolebindings", "clusterrolebindings"):
        return {"apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding" if resource == "rolebindings" else "ClusterRoleBinding", "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "matrix-nobody"}]}
    if resource == "apiservices":  # named <version>.<group>; nothing answers at port 9 (Available False)
        return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": meta,
                "spec": {"group": name.split(".", 1)[1], "version": "v1", "url": "http://127.0.0.1:9",
                         "groupPriorityMinimum": 100, "versionPriority": 10}}
    if resource == "customresourcedefinitions":
        crd = factories.crontab_crd(group=name.split(".", 1)[1], plural="things", kind="Thing")
        crd["metadata"]["labels"] = dict(labels)
        return crd
    if resource in REVIEW_KINDS:
        group = "authentication.k8s.io" if resource == "selfsubjectreviews" else "authorization.k8s.io"
        review: dict[str, Any] = {"apiVersion": f"{group}/v1", "kind": REVIEW_KINDS[resource], "metadata": meta}
        attributes = {"verb": "get", "resource": "pods", "namespace": namespace or "default"}
        if resource == "selfsubjectaccessreviews":
            review["spec"] = {"resourceAttributes": attributes}
        elif resource == "selfsubjectrulesreviews":
            review["spec"] = {"namespace": namespace or "default"}
        elif resource in ("subjectaccessreviews", "localsubjectaccessreviews"):
            review["spec"] = {"user": "viewer", "groups": ["labkit:viewers"], "resourceAttributes": attributes}
        return review
    if resource == "leases":
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": "matrix", "leaseDurationSeconds": 40}}
    if resource == "configmaps":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}
    if resource == "secrets":
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"k": "v"}}
    if resource == "serviceaccounts":
        return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    if resource == "services":
        return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}
    if resource == "endpoints":
        return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": []}
    if resource == "endpointslices":
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta,
                "addressType": "IPv4", "endpoints": []}
    if resource == "daemonsets":
        return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta,
                "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}}
    if resource == "replicationcontrollers":
        return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": meta,
                "spec": {"replicas": 0, "selector": {"app": name}, "template": template}}
    job_template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}
    if resource == "jobs":
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                "spec": {"suspend": True, "template": job_template}}
    if resource == "cronjobs":
        return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
                "spec": {"schedule": "0 3 * * *", "suspend": True, "jobTemplate": {"spec": {"template": job_template}}}}
    if resource == "poddisruptionbudgets":
        return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": name}}}}
    if resource == "horizontalpodautoscalers":
        return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                         "maxReplicas": 3}}
    # A quota and a limit range that bind nothing the other rows do (no pod defaults, no pod count).
    if resource == "limitranges":
        return {"apiVersion": "v1", "kind": "LimitRange", "metadata": meta,
                "spec": {"limits": [{"type": "Pod", "max": {"cpu": "64"}}]}}
    if resource == "resourcequotas":
        return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta, "spec": {"hard": {"secrets": "1000"}}}
    if resource == "statefulsets":
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
                "spec": {"replicas": 0, "serviceName": "matrix", "selector": {"matchLabels": {"app": name}},
                         "template": template}}
    if resource == "controllerrevisions":
        return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta, "data": {}, "revision": 1}
    claim_spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                  "storageClassName": "matrix-none"}  # no class of that name: nothing provisions it
    if resource == "persistentvolumeclaims":
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": claim_spec}
    if resource == "persistentvolumes":
        return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta,
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                         "storageClassName": "matrix-none",
                         "csi": {"driver": "local-path.labkit.io", "volumeHandle": name}}}
    if resource in FLOWCONTROL:  # only sent to be refused: the resources serve no write
        return {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "metadata": meta,
                "kind": "FlowSchema" if resource == "flowschemas" else "PriorityLevelConfiguration"}
    if resource == "storageclasses":
        return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta,
                "provisioner": "example.com/matrix"}
    raise KeyError(resource)


REVIEW_KINDS = {"selfsubjectaccessreviews": "SelfSubjectAccessReview", "selfsubjectrulesreviews": "SelfSubjectRulesReview",
                "selfsubjectreviews": "SelfSubjectReview", "subjectaccessreviews": "SubjectAccessReview",
                "localsubjectaccessreviews": "LocalSubjectAccessReview"}

STATUS_CHANGE = {
    "customresourcedefinitions": {"status": {"storedVersions": ["v1"]}},
    "pods": {"status": {"message": "written by the authorization matrix"}},
    "nodes": {"status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}}},
    "namespaces": {"status": {"phase": "Active"}},
    "deployments": {"status": {"observedGeneration": 1}},
    "replicasets": {"status": {"observedGeneration": 1}},
    "services": {"status": {"loadBalancer": {}}},
    "daemonsets": {"status": {"observedGeneration": 1, "currentNumberScheduled": 0, "numberMisscheduled": 0,
                              "desiredNumberScheduled": 0, "numberReady": 0}},
    "jobs": {"status": {"active": 0}},
    "cronjobs": {"status": {}},
    "poddisruptionbudgets": {"status": {"observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 0,
                                        "desiredHealthy": 0, "expectedPods": 0}},
    "resourcequotas": {"status": {"hard": {"secrets": "1000"}, "used": {"secrets": "0"}}},
    "replicationcontrollers": {"status": {"replicas": 0, "observedGeneration": 1}},
    "horizontalpodautoscalers": {"status": {"currentReplicas": 1, "desiredReplicas": 1}},
    "apiservices": {"status": {"conditions": [{"type": "Available", "status": "False", "reason": "Matrix"}]}},
    "statefulsets": {"status": {"replicas": 0, "observedGeneration": 1}},
    "persistentvolumeclaims": {"status": {"phase": "Lost"}},
    "persistentvolumes": {"status": {"phase": "Available"}},
}


def collection(resource: str, namespace: str | None) -> str:
    if NAMESPACED[resource] and namespace:
        return f"{PREFIX[resource]}/namespaces/{namespace}/{resource}"
    return f"{PREFIX[resource]}/{resource}"


@dataclass(frozen=True)
class Setup:
    """Where a row acts: its object's name and namespace, the node its pod is bound to, and the
    field selector its list/watch/deletecollection uses."""

    name: str
    namespace: str | None
    node: str | None = None
    field_selector: str | None = None


def setup_for(row: Row, namespace: str) -> Setup:
    fresh = f"m-{uuid.uuid4().hex[:10]}"
    if row.resource == "customresourcedefinitions":
        fresh = f"things.{fresh}.example.com"  # a CRD is named <plural>.<group>
    if row.resource == "apiservices":
        fresh = f"v1.{fresh}.example.com"  # an APIService is named <version>.<group>
    ns = namespace if NAMESPACED[row.resource] else None
    if row.resource in FLOWCONTROL:
        return Setup("global-default", None)  # nobody creates them: the API server's own object
    if row.scope == "any":
        return Setup(fresh, ns)
    node = {"own": OWN, "other": OTHER}.get(row.scope)
    if row.resource in ("nodes", "leases"):
        if row.scope == "unbound":  # leases: the node's own name outside kube-node-lease
            return Setup(OWN, ns)
        lease_ns = "kube-node-lease" if row.resource == "leases" else None
        return Setup(node or fresh, lease_ns)
    if row.resource == "pods":
        return Setup(fresh, ns, node=node, field_selector=f"spec.nodeName={node}" if node else None)
    return Setup(fresh, ns)


async def prepare(admin: httpx.AsyncClient, row: Row, at: Setup, label: dict[str, str]) -> None:
    """As the admin: make the row's object exist (or not, for a create), bound where it should be."""
    item = f"{collection(row.resource, at.namespace)}/{at.name}"
    wants_absent = row.verb == "create" and row.subresource is None
    if row.verb in ("list", "watch") and row.subresource is None or row.resource in FLOWCONTROL:
        return
    r = await admin.delete(item, params={"gracePeriodSeconds": "0"}) if at.name in (OWN, OTHER) else None
    assert r is None or r.status_code in (200, 404), r.text
    if wants_absent:
        return
    obj = manifest(row.resource, at.name, at.namespace, labels=label)
    r = await admin.post(collection(row.resource, at.namespace), json=obj)
    assert r.status_code == 201, f"{row}: setup failed: {r.status_code} {r.text[:300]}"
    if at.node and row.subresource != "binding":
        r = await admin.post(f"{item}/binding", json={"apiVersion": "v1", "kind": "Binding",
                                                      "metadata": {"name": at.name},
                                                      "target": {"apiVersion": "v1", "kind": "Node", "name": at.node}})
        assert r.status_code == 201, f"{row}: binding for setup failed: {r.text[:300]}"


async def perform(client: httpx.AsyncClient, admin: httpx.AsyncClient, row: Row, at: Setup,
                  label: dict[str, str]) -> httpx.Response:
    coll = collection(row.resource, at.namespace)
    item = f"{coll}/{at.name}"
    target = f"{item}/{row.subresource}" if row.subresource else item
    selector = {"fieldSelector": at.field_selector} if at.field_selector else {}
    merge = {"Content-Type": "application/merge-patch+json"}
    match (row.verb, row.subresource):
        case ("get", _):
            return await client.get(target)
        case ("list", None):
            return await client.get(coll, params=selector)
        case ("watch", None):
            async with client.stream("GET", coll, params={**selector, "watch": "true", "timeoutSeconds": "1"}) as r:
                if r.status_code >= 300:
                    await r.aread()
                return r  # the status line is the answer; an allowed stream is left unread
        case ("create", None):
            obj = manifest(row.resource, at.name, at.namespace, labels=label, node=at.node)
            return await client.post(coll, json=obj)
        case ("create", "binding"):
            return await client.post(target, json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": at.name},
                                                   "target": {"apiVersion": "v1", "kind": "Node", "name": OWN}})
        case ("create", "token"):
            return await client.post(target, json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                                   "spec": {}})
        case ("create", "eviction"):
            return await client.post(target, json={"apiVersion": "policy/v1", "kind": "Eviction",
                                                   "metadata": {"name": at.name},
                                                   "deleteOptions": {"gracePeriodSeconds": 0}})
        case ("update", _) if row.expect == "not-served":
            # nothing stored to start from (a review): the verb itself must be refused
            return await client.put(target, json=manifest(row.resource, at.name, at.namespace, labels=label))
        case ("update", _):
            # Read and write again on a conflict, as client-go's RetryOnConflict: a controller may write
            # the object in between (the APIService availability controller writes its status).
            for _attempt in range(5):
                current = await admin.get(target)
                assert current.status_code == 200, current.text
                body = current.json()
                if row.subresource == "status":
                    body.update(STATUS_CHANGE[row.resource])
                elif row.subresource == "scale":
                    body["spec"]["replicas"] = 0
                else:
                    body["metadata"].setdefault("labels", {})["touched"] = "yes"
                answer = await client.put(target, json=body)
                if answer.status_code != 409:
                    break
            return answer
        case ("patch", _):
            patch = (STATUS_CHANGE[row.resource] if row.subresource == "status" else
                     {"spec": {"replicas": 0}} if row.subresource == "scale" else
                     {"metadata": {"labels": {"touched": "yes"}}})
            return await client.patch(target, content=json.dumps(patch), headers=merge)
        case ("delete", None):
            return await client.delete(target)
        case ("deletecollection", None):
            params = {**selector, "labelSelector": ",".join(f"{k}={v}" for k, v in label.items())}
            return await client.delete(coll, params=params)
    raise AssertionError(f"no request for {row}")


def verdict(row: Row, r: httpx.Response, user: str) -> str | None:
    """None when the answer is what the table says, else what is wrong."""
    if row.subresource == "log" and row.expect == "allow":
        # Allowed: the request gets past authorization to the log proxy, which has no node agent to
        # ask here (400 not scheduled, 404 no such Node, 503 the Node serves no logs).
        ok = r.status_code not in (401, 403, 500)
        return None if ok else f"{row}: expected to be allowed, got {r.status_code}: {r.text[:200]}"
    if r.status_code >= 500:
        return f"{row}: {r.status_code} server error: {r.text[:200]}"
    if row.expect == "not-served":
        return None if r.status_code in (404, 405) else f"{row}: expected 405 (not served), got {r.status_code}"
    if row.expect == "deny":
        if r.status_code != 403:
            return f"{row}: expected 403, got {r.status_code}: {r.text[:200]}"
        body = r.json()
        if body.get("kind") != "Status" or body.get("reason") != "Forbidden" or f'User "{user}"' not in body["message"]:
            return f"{row}: 403 without a Forbidden Status naming the user: {body}"
        return None
    return None if 200 <= r.status_code < 300 else f"{row}: expected success, got {r.status_code}: {r.text[:200]}"


async def run_rows(server: SecureServer, rows: list[Row], namespace: str, *, parallel: int) -> list[str]:
    problems: list[str] = []
    gate = asyncio.Semaphore(parallel)
    async with server.client("admin") as admin:
        async def one(row: Row, client: httpx.AsyncClient) -> None:
            async with gate:
                at = setup_for(row, namespace)
                label = {"matrix-row": uuid.uuid4().hex[:12]}
                await prepare(admin, row, at, label)
                problem = verdict(row, await perform(client, admin, row, at, label), server.users[row.identity])
                if problem:
                    problems.append(problem)

        by_identity: dict[str, list[Row]] = {}
        for row in rows:
            by_identity.setdefault(row.identity, []).append(row)
        for identity, its_rows in by_identity.items():
            async with server.client(identity) as client:
                await asyncio.gather(*(one(row, client) for row in its_rows))
    return sorted(problems)


@pytest.mark.parametrize("identity", sorted(IDENTITY_TABLES))
async def test_identity_may_do_exactly_what_the_table_says(secure_server: SecureServer, namespace: str,
                                                           identity: str) -> None:
    rows = [row for row in all_rows() if row.identity == identity]
    problems = await run_rows(secure_server, rows, namespace, parallel=8)
    assert not problems, f"{len(problems)} of {len(rows)} rows differ from the table:\n" + "\n".join(problems)


async def test_a_node_may_do_exactly_what_the_table_says(secure_server: SecureServer, namespace: str) -> None:
    # One row at a time: the node's own Node and Lease have fixed names that several rows use.
    rows = [row for row in all_rows() if row.identity == NODE_IDENTITY]
    problems = await run_rows(secure_server, rows, namespace, parallel=1)
    assert not problems, f"{len(problems)} of {len(rows)} rows differ from the table:\n" + "\n".join(problems)
