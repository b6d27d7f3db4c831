"""The apps/v1 kinds this lab serves (Deployment, ReplicaSet, DaemonSet, StatefulSet, ControllerRevision)
and their autoscaling/v1 Scale.

Kubernetes equivalent: k8s.io/api/apps/v1/types.go, k8s.io/api/autoscaling/v1/types.go
"""

from __future__ import annotations

from typing import Any, ClassVar

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


class RollingUpdateDaemonSet(_Apps):
    """Spec to control the desired behavior of daemon set rolling update."""

    max_unavailable: IntOrString | None = doc(
        "The maximum number of DaemonSet pods that can be unavailable during the update. Absolute number or "
        "percentage of total number of DaemonSet pods at the start of the update (ex: 10%). Defaults to 1."
    )
    max_surge: IntOrString | None = doc(
        "The maximum number of nodes with an existing available DaemonSet pod that can have an updated "
        "DaemonSet pod during an update. Defaults to 0."
    )


class DaemonSetUpdateStrategy(_Apps):
    """DaemonSetUpdateStrategy is a struct used to control the update strategy for a DaemonSet."""

    type: str | None = doc("Type of daemon set update. Can be \"RollingUpdate\" or \"OnDelete\". Default is RollingUpdate.")
    rolling_update: RollingUpdateDaemonSet | None = doc("Rolling update config params. Present only if type = \"RollingUpdate\".")


class DaemonSetSpec(_Apps):
    """DaemonSetSpec is the specification of a daemon set."""

    required_fields = ("selector", "template")

    selector: LabelSelector | None = doc("A label query over pods that are managed by the daemon set. "
                                         "Must match in order to be controlled. It must match the pod template's labels.")
    template: PodTemplateSpec | None = doc("An object that describes the pod that will be created. The DaemonSet "
                                           "will create exactly one copy of this pod on every node that matches "
                                           "the template's node selector (or on every node if no node selector "
                                           "is specified). The only allowed template.spec.restartPolicy value is "
                                           "\"Always\".")
    update_strategy: DaemonSetUpdateStrategy | None = doc("An update strategy to replace existing DaemonSet pods with new pods.")
    min_ready_seconds: int | None = doc("The minimum number of seconds for which a newly created DaemonSet pod "
                                        "should be ready without any of its container crashing, for it to be "
                                        "considered available. Defaults to 0.")
    revision_history_limit: int | None = doc("The number of old history to retain to allow rollback. Defaults to 10.")


class DaemonSetCondition(_Apps):
    """DaemonSetCondition describes the state of a DaemonSet at a certain point."""

    required_fields = ("type", "status")

    type: str | None = None
    status: str | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class DaemonSetStatus(_Apps):
    """DaemonSetStatus represents the current status of a daemon set."""

    required_fields = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady")

    current_number_scheduled: int | None = doc("The number of nodes that are running at least 1 daemon pod and "
                                               "are supposed to run the daemon pod.")
    number_misscheduled: int | None = doc("The number of nodes that are running the daemon pod, but are not "
                                          "supposed to run the daemon pod.")
    desired_number_scheduled: int | None = doc("The total number of nodes that should be running the daemon pod "
                                               "(including nodes correctly running the daemon pod).")
    number_ready: int | None = doc("numberReady is the number of nodes that should be running the daemon pod and "
                                   "have one or more of the daemon pod running with a Ready Condition.")
    observed_generation: int | None = doc("The most recent generation observed by the daemon set controller.")
    updated_number_scheduled: int | None = doc("The total number of nodes that are running updated daemon pod")
    number_available: int | None = doc("The number of nodes that should be running the daemon pod and have one or "
                                       "more of the daemon pod running and available (ready for at least "
                                       "spec.minReadySeconds)")
    number_unavailable: int | None = doc("The number of nodes that should be running the daemon pod and have none "
                                         "of the daemon pod running and available (ready for at least "
                                         "spec.minReadySeconds)")
    collision_count: int | None = None
    conditions: list[DaemonSetCondition] | None = merge_list("type")


class DaemonSet(_Apps, TypedModel):
    """DaemonSet represents the configuration of a daemon set."""

    gvk = ("apps", "v1", "DaemonSet")

    metadata: ObjectMeta | None = None
    spec: DaemonSetSpec | None = None
    status: DaemonSetStatus | None = None


class RollingUpdateStatefulSetStrategy(_Apps):
    """RollingUpdateStatefulSetStrategy is used to communicate parameter for RollingUpdateStatefulSetStrategyType."""

    partition: int | None = doc("Partition indicates the ordinal at which the StatefulSet should be partitioned for "
                                "updates. During a rolling update, all pods from ordinal Replicas-1 to Partition "
                                "are updated. All pods from ordinal Partition-1 to 0 remain untouched. Default 0.")
    max_unavailable: IntOrString | None = doc("The maximum number of pods that can be unavailable during the update. "
                                              "Not honoured by this lab (a feature gate, off by default upstream).")


class StatefulSetUpdateStrategy(_Apps):
    """StatefulSetUpdateStrategy indicates the strategy that the StatefulSet controller will use to perform updates."""

    type: str | None = doc("Type indicates the type of the StatefulSetUpdateStrategy: RollingUpdate (the default) "
                           "or OnDelete.")
    rolling_update: RollingUpdateStatefulSetStrategy | None = doc(
        "RollingUpdate is used to communicate parameters when Type is RollingUpdateStatefulSetStrategyType.")


class StatefulSetPersistentVolumeClaimRetentionPolicy(_Apps):
    """StatefulSetPersistentVolumeClaimRetentionPolicy describes the policy used for PVCs created from the
    StatefulSet VolumeClaimTemplates."""

    when_deleted: str | None = doc("Retain (the default) or Delete. Only Retain is honoured by this lab.")
    when_scaled: str | None = doc("Retain (the default) or Delete. Only Retain is honoured by this lab.")


class StatefulSetOrdinals(_Apps):
    """StatefulSetOrdinals describes the policy used for replica ordinal assignment in this StatefulSet."""

    start: int | None = doc("start is the number representing the first replica's index. Defaults to 0.")


class StatefulSetSpec(_Apps):
    """A StatefulSetSpec is the specification of a StatefulSet."""

    required_fields = ("selector", "template")

    replicas: int | None = doc("replicas is the desired number of replicas of the given Template. Defaults to 1.")
    selector: LabelSelector | None = doc("selector is a label query over pods that should match the replica count. "
                                         "It must match the pod template's labels.")
    template: PodTemplateSpec | None = doc("template is the object that describes the pod that will be created if "
                                           "insufficient replicas are detected. Each pod stamped out by the "
                                           "StatefulSet will fulfill this Template, but have a unique identity "
                                           "from the rest of the StatefulSet.")
    volume_claim_templates: list[dict[str, Any]] | None = doc(
        "volumeClaimTemplates is a list of claims that pods are allowed to reference. Every claim in this list "
        "must have at least one matching (by name) volumeMount in one container in the template.")
    service_name: str | None = doc("serviceName is the name of the service that governs this StatefulSet. This "
                                   "service must exist before the StatefulSet, and is responsible for the network "
                                   "identity of the set. Pods get DNS/hostnames that follow the pattern: "
                                   "pod-specific-string.serviceName.default.svc.cluster.local.")
    pod_management_policy: str | None = doc("podManagementPolicy controls how pods are created during initial "
                                            "scale up, when replacing pods on nodes, or when scaling down: "
                                            "OrderedReady (the default) or Parallel.")
    update_strategy: StatefulSetUpdateStrategy | None = doc("updateStrategy indicates the StatefulSetUpdateStrategy "
                                                            "that will be employed to update Pods in the "
                                                            "StatefulSet when a revision is made to Template.")
    revision_history_limit: int | None = doc("revisionHistoryLimit is the maximum number of revisions that will be "
                                             "maintained in the StatefulSet's revision history. Defaults to 10.")
    min_ready_seconds: int | None = doc("Minimum number of seconds for which a newly created pod should be ready "
                                        "without any of its container crashing for it to be considered available.")
    persistent_volume_claim_retention_policy: StatefulSetPersistentVolumeClaimRetentionPolicy | None = doc(
        "persistentVolumeClaimRetentionPolicy describes the lifecycle of persistent volume claims created from "
        "volumeClaimTemplates.")
    ordinals: StatefulSetOrdinals | None = None


class StatefulSetCondition(_Apps):
    """StatefulSetCondition describes the state of a statefulset at a certain point."""

    required_fields = ("type", "status")

    type: str | None = None
    status: str | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class StatefulSetStatus(_Apps):
    """StatefulSetStatus represents the current state of a StatefulSet."""

    required_fields = ("replicas",)

    observed_generation: int | None = doc("observedGeneration is the most recent generation observed for this "
                                          "StatefulSet.")
    replicas: int | None = doc("replicas is the number of Pods created by the StatefulSet controller.")
    ready_replicas: int | None = doc("readyReplicas is the number of pods created for this StatefulSet with a "
                                     "Ready Condition.")
    current_replicas: int | None = doc("currentReplicas is the number of Pods created by the StatefulSet "
                                       "controller from the StatefulSet version indicated by currentRevision.")
    updated_replicas: int | None = doc("updatedReplicas is the number of Pods created by the StatefulSet "
                                       "controller from the StatefulSet version indicated by updateRevision.")
    current_revision: str | None = doc("currentRevision, if not empty, indicates the version of the StatefulSet "
                                       "used to generate Pods in the sequence [0,currentReplicas).")
    update_revision: str | None = doc("updateRevision, if not empty, indicates the version of the StatefulSet "
                                      "used to generate Pods in the sequence [replicas-updatedReplicas,replicas)")
    collision_count: int | None = None
    conditions: list[StatefulSetCondition] | None = merge_list("type")
    available_replicas: int | None = doc("Total number of available pods (ready for at least minReadySeconds) "
                                         "targeted by this statefulset.")


class StatefulSet(_Apps, TypedModel):
    """StatefulSet represents a set of pods with consistent identities: a stable network name
    (<name>-<ordinal>.<serviceName>) and stable storage (PersistentVolumeClaims from volumeClaimTemplates)."""

    gvk = ("apps", "v1", "StatefulSet")

    metadata: ObjectMeta | None = None
    spec: StatefulSetSpec | None = None
    status: StatefulSetStatus | None = None


class ControllerRevision(_Apps, TypedModel):
    """ControllerRevision implements an immutable snapshot of state data. The StatefulSet controller
    keeps one per revision of a StatefulSet's template (what `kubectl rollout history` lists)."""

    gvk = ("apps", "v1", "ControllerRevision")
    required_fields = ("revision",)

    metadata: ObjectMeta | None = None
    data: dict[str, Any] | None = doc("Data is the serialized representation of the state.")
    revision: int | None = doc("Revision indicates the revision of the state represented by Data.")
