"""Pydantic models of the served kinds: type checks, unknown-field detection and OpenAPI schemas.

Objects travel as plain dicts; these models are consulted at the API server boundary only.
``model_for("apps/v1", "Deployment")`` finds the model of a kind; ``unknown_fields`` and ``prune``
(from ``meta``) walk a raw dict alongside it.
"""

from __future__ import annotations

from orchestrator.api.models.apiextensions import CustomResourceDefinition
from orchestrator.api.models.apiregistration import APIService
from orchestrator.api.models.apps import (
    ControllerRevision,
    DaemonSet,
    Deployment,
    ReplicaSet,
    Scale,
    StatefulSet,
)
from orchestrator.api.models.authorization import (
    LocalSubjectAccessReview,
    SelfSubjectAccessReview,
    SelfSubjectReview,
    SelfSubjectRulesReview,
    SubjectAccessReview,
)
from orchestrator.api.models.autoscaling import HorizontalPodAutoscaler, HorizontalPodAutoscalerV1
from orchestrator.api.models.batch import CronJob, Job
from orchestrator.api.models.config import ConfigMap, Secret
from orchestrator.api.models.coordination import Lease
from orchestrator.api.models.core import Binding, Event, Namespace, Node, Pod
from orchestrator.api.models.discovery import EndpointSlice
from orchestrator.api.models.flowcontrol import FlowSchema, PriorityLevelConfiguration
from orchestrator.api.models.meta import (
    DeleteOptions,
    K8sModel,
    ObjectMeta,
    Status,
    TypedModel,
    prune,
    unknown_fields,
)
from orchestrator.api.models.policy import PodDisruptionBudget
from orchestrator.api.models.quota import LimitRange, ResourceQuota
from orchestrator.api.models.rbac import ClusterRole, ClusterRoleBinding, Role, RoleBinding
from orchestrator.api.models.replicationcontroller import ReplicationController
from orchestrator.api.models.service import Endpoints, Service
from orchestrator.api.models.serviceaccount import ServiceAccount, TokenRequest
from orchestrator.api.models.storage import PersistentVolume, PersistentVolumeClaim, StorageClass

KINDS: tuple[type[TypedModel], ...] = (
    Namespace, Pod, Binding, Node, Event, Deployment, ReplicaSet, Scale, Lease, CustomResourceDefinition,
    ConfigMap, Secret, ServiceAccount, TokenRequest,
    Role, ClusterRole, RoleBinding, ClusterRoleBinding,
    SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview, LocalSubjectAccessReview,
    SelfSubjectReview, Service, Endpoints, EndpointSlice, Job, CronJob, PodDisruptionBudget, ReplicationController,
    DaemonSet,
    ResourceQuota, LimitRange, APIService,
    StatefulSet, ControllerRevision, PersistentVolumeClaim, PersistentVolume, StorageClass,
    HorizontalPodAutoscaler, HorizontalPodAutoscalerV1, FlowSchema, PriorityLevelConfiguration,
)

_BY_API_VERSION_KIND: dict[tuple[str, str], type[TypedModel]] = {}
for _model in KINDS:
    assert _model.gvk is not None
    _group, _version, _kind = _model.gvk
    _BY_API_VERSION_KIND[(f"{_group}/{_version}" if _group else _version, _kind)] = _model


def model_for(api_version: str, kind: str) -> type[TypedModel] | None:
    """The model of a served kind, e.g. ``model_for("v1", "Pod")``; None when not modelled."""
    return _BY_API_VERSION_KIND.get((api_version, kind))


__all__ = [
    "KINDS", "Binding", "LimitRange", "ResourceQuota", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "CronJob",
    "CustomResourceDefinition", "DaemonSet",
    "DeleteOptions", "Deployment", "EndpointSlice", "Endpoints", "Event", "FlowSchema", "HorizontalPodAutoscaler", "Job", "K8sModel", "Lease",
    "LocalSubjectAccessReview", "Namespace", "Node", "ObjectMeta", "Pod", "PodDisruptionBudget", "PriorityLevelConfiguration", "ReplicaSet",
    "ReplicationController", "Role", "RoleBinding", "Scale", "Secret", "SelfSubjectAccessReview", "SelfSubjectReview",
    "SelfSubjectRulesReview", "Service", "ServiceAccount", "Status", "SubjectAccessReview", "TokenRequest", "TypedModel",
    "model_for", "prune", "unknown_fields",
    "ControllerRevision", "PersistentVolume", "PersistentVolumeClaim", "StatefulSet", "StorageClass",
]
