"""The core v1 ReplicationController: the ReplicaSet's ancestor, with an equality-only selector.

Kubernetes equivalent: k8s.io/api/core/v1/types.go (ReplicationController)
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.api.models.core import PodTemplateSpec
from orchestrator.api.models.meta import K8sModel, ObjectMeta, Time, TypedModel, doc, merge_list


class _Core(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.core.v1"


class ReplicationControllerSpec(_Core):
    """ReplicationControllerSpec is the specification of a replication controller."""

    replicas: int | None = doc("Replicas is the number of desired replicas. Defaults to 1.")
    min_ready_seconds: int | None = doc("Minimum number of seconds for which a newly created pod should be ready "
                                        "without any of its container crashing, for it to be considered available.")
    selector: dict[str, str] | None = doc("Selector is a label query over pods that should match the Replicas "
                                          "count. If Selector is empty, it is defaulted to the labels present on "
                                          "the Pod template.")
    template: PodTemplateSpec | None = doc("Template is the object that describes the pod that will be created if "
                                           "insufficient replicas are detected.")


class ReplicationControllerCondition(_Core):
    """ReplicationControllerCondition describes the state of a replication controller at a certain point."""

    required_fields = ("type", "status")

    type: str | None = doc("Type of replication controller condition.")
    status: str | None = doc("Status of the condition, one of True, False, Unknown.")
    last_transition_time: Time | None = doc("The last time the condition transitioned from one status to another.")
    reason: str | None = doc("The reason for the condition's last transition.")
    message: str | None = doc("A human readable message indicating details about the transition.")


class ReplicationControllerStatus(_Core):
    """ReplicationControllerStatus represents the current status of a replication controller."""

    required_fields = ("replicas",)

    replicas: int | None = doc("Replicas is the most recently observed number of replicas.")
    fully_labeled_replicas: int | None = doc("The number of pods that have labels matching the labels of the pod "
                                             "template of the replication controller.")
    ready_replicas: int | None = doc("The number of ready replicas for this replication controller.")
    available_replicas: int | None = doc("The number of available replicas (ready for at least minReadySeconds) "
                                         "for this replication controller.")
    observed_generation: int | None = doc("ObservedGeneration reflects the generation of the most recently "
                                          "observed replication controller.")
    conditions: list[ReplicationControllerCondition] | None = merge_list(
        "type", description="Represents the latest available observations of a replication controller's current "
                            "state.")


class ReplicationController(_Core, TypedModel):
    """ReplicationController represents the configuration of a replication controller."""

    gvk = ("", "v1", "ReplicationController")

    metadata: ObjectMeta | None = None
    spec: ReplicationControllerSpec | None = None
    status: ReplicationControllerStatus | None = None
