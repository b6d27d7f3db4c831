"""The apps/v1 kinds this lab serves (Deployment, ReplicaSet) and their autoscaling/v1 Scale.

Kubernetes equivalent: k8s.io/api/apps/v1/types.go, k8s.io/api/autoscaling/v1/types.go
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.api.models.core import PodTemplateSpec
from orchestrator.api.models.meta import (
    IntOrString,
    K8sModel,
    LabelSelector,
    ObjectMeta,
    Time,
    TypedModel,
    doc,
    merge_list,
)


class _Apps(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.apps.v1"


class RollingUpdateDeployment(_Apps):
    """Spec to control the desired behavior of rolling update."""

    max_unavailable: IntOrString | None = doc(
        "The maximum number of pods that can be unavailable during the update. Absolute number or "
        "percentage of desired pods (ex: 10%). Defaults to 25%."
    )
    max_surge: IntOrString | None = doc(
        "The maximum number of pods that can be scheduled above the desired number of pods. Defaults to 25%."
    )


class DeploymentStrategy(_Apps):
    """DeploymentStrategy describes how to replace existing pods with new ones."""

    type: str | None = doc("Type of deployment. Can be \"Recreate\" or \"RollingUpdate\". Default is RollingUpdate.")
    rolling_update: RollingUpdateDeployment | None = doc("Rolling update config params. Present only if DeploymentStrategyType = RollingUpdate.")


class DeploymentSpec(_Apps):
    """DeploymentSpec is the specification of the desired behavior of the Deployment."""

    required_fields = ("selector", "template")

    replicas: int | None = doc("Number of desired pods. Defaults to 1.")
    selector: LabelSelector | None = doc("Label selector for pods. It must match the pod template's labels.")
    template: PodTemplateSpec | None = doc("Template describes the pods that will be created.")
    strategy: DeploymentStrategy | None = doc("The deployment strategy to use to replace existing pods with new ones.")
    min_ready_seconds: int | None = doc("Minimum number of seconds for which a newly created pod should be ready to be considered available.")
    revision_history_limit: int | None = doc("The number of old ReplicaSets to retain to allow rollback. Defaults to 10.")
    paused: bool | None = doc("Indicates that the deployment is paused.")
    progress_deadline_seconds: int | None = doc("The maximum time in seconds for a deployment to make progress before it is considered to be failed. Defaults to 600s.")


class DeploymentCondition(_Apps):
    """DeploymentCondition describes the state of a deployment at a certain point."""

    required_fields = ("type", "status")

    type: str | None = doc("Type of deployment condition: Available, Progressing, ReplicaFailure.")
    status: str | None = doc("Status of the condition, one of True, False, Unknown.")
    last_update_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class DeploymentStatus(_Apps):
    """DeploymentStatus is the most recently observed status of the Deployment."""

    observed_generation: int | None = doc("The generation observed by the deployment controller.")
    replicas: int | None = doc("Total number of non-terminated pods targeted by this deployment (their labels match the selector).")
    updated_replicas: int | None = doc("Total number of non-terminated pods targeted by this deployment that have the desired template spec.")
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    conditions: list[DeploymentCondition] | None = merge_list("type")
    collision_count: int | None = None


class Deployment(_Apps, TypedModel):
    """Deployment enables declarative updates for Pods and ReplicaSets."""

    gvk = ("apps", "v1", "Deployment")

    metadata: ObjectMeta | None = None
    spec: DeploymentSpec | None = None
    status: DeploymentStatus | None = None


class ReplicaSetSpec(_Apps):
    """ReplicaSetSpec is the specification of a ReplicaSet."""

    required_fields = ("selector",)

    replicas: int | None = doc("Replicas is the number of desired replicas. Defaults to 1.")
    min_ready_seconds: int | None = None
    selector: LabelSelector | None = doc("Selector is a label query over pods that should match the replica count.")
    template: PodTemplateSpec | None = doc("Template is the object that describes the pod that will be created if insufficient replicas are detected.")


class ReplicaSetCondition(_Apps):
    """ReplicaSetCondition describes the state of a replica set at a certain point."""

    required_fields = ("type", "status")

    type: str | None = None
    status: str | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class ReplicaSetStatus(_Apps):
    """ReplicaSetStatus represents the current status of a ReplicaSet."""

    required_fields = ("replicas",)

    replicas: int | None = doc("Replicas is the most recently observed number of replicas.")
    fully_labeled_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    observed_generation: int | None = None
    conditions: list[ReplicaSetCondition] | None = merge_list("type")


class ReplicaSet(_Apps, TypedModel):
    """ReplicaSet ensures that a specified number of pod replicas are running at any given time."""

    gvk = ("apps", "v1", "ReplicaSet")

    metadata: ObjectMeta | None = None
    spec: ReplicaSetSpec | None = None
    status: ReplicaSetStatus | None = None


class _Autoscaling(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.autoscaling.v1"


class ScaleSpec(_Autoscaling):
    """ScaleSpec describes the attributes of a scale subresource."""

    replicas: int | None = doc("replicas is the desired number of instances for the scaled object.")


class ScaleStatus(_Autoscaling):
    """ScaleStatus represents the current status of a scale subresource."""

    required_fields = ("replicas",)

    replicas: int | None = doc("replicas is the actual number of observed instances of the scaled object.")
    selector: str | None = doc("selector is the label query over pods that should match the replicas count, in string form.")


class Scale(_Autoscaling, TypedModel):
    """Scale represents a scaling request for a resource."""

    gvk = ("autoscaling", "v1", "Scale")

    metadata: ObjectMeta | None = None
    spec: ScaleSpec | None = None
    status: ScaleStatus | None = None
