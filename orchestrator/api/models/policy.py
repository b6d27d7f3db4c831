"""The policy/v1 kinds: PodDisruptionBudget (and the Eviction a pods/eviction request carries).

Kubernetes equivalent: k8s.io/api/policy/v1/types.go
"""

from __future__ import annotations

from typing import ClassVar

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


class _Policy(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.policy.v1"


class PodDisruptionBudgetSpec(_Policy):
    """PodDisruptionBudgetSpec is a description of a PodDisruptionBudget."""

    min_available: IntOrString | None = doc("An eviction is allowed if at least \"minAvailable\" pods selected by "
                                            "\"selector\" will still be available after the eviction. Absolute "
                                            "number or percentage.")
    selector: LabelSelector | None = doc("Label query over pods whose evictions are managed by the disruption "
                                         "budget. A null selector will match no pods, while an empty ({}) "
                                         "selector will select all pods within the namespace.")
    max_unavailable: IntOrString | None = doc("An eviction is allowed if at most \"maxUnavailable\" pods selected "
                                              "by \"selector\" are unavailable after the eviction. Absolute number "
                                              "or percentage. Mutually exclusive with minAvailable.")
    unhealthy_pod_eviction_policy: str | None = doc("UnhealthyPodEvictionPolicy defines the criteria for when "
                                                    "unhealthy pods should be considered for eviction: "
                                                    "IfHealthyBudget (default) or AlwaysAllow.")


class Condition(K8sModel):
    """Condition contains details for one aspect of the current state of this API Resource."""

    openapi_package: ClassVar[str] = "io.k8s.apimachinery.pkg.apis.meta.v1"

    required_fields = ("type", "status", "lastTransitionTime", "reason", "message")

    type: str | None = doc("type of condition in CamelCase.")
    status: str | None = doc("status of the condition, one of True, False, Unknown.")
    observed_generation: int | None = doc("observedGeneration represents the .metadata.generation that the "
                                          "condition was set based upon.")
    last_transition_time: Time | None = doc("lastTransitionTime is the last time the condition transitioned from "
                                            "one status to another.")
    reason: str | None = doc("reason contains a programmatic identifier indicating the reason for the "
                             "condition's last transition.")
    message: str | None = doc("message is a human readable message indicating details about the transition.")


class PodDisruptionBudgetStatus(_Policy):
    """PodDisruptionBudgetStatus represents information about the status of a PodDisruptionBudget."""

    required_fields = ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods")

    observed_generation: int | None = doc("Most recent generation observed when updating this PDB status.")
    disrupted_pods: dict[str, Time] | None = doc("DisruptedPods contains information about pods whose eviction "
                                                 "was processed by the API server eviction subresource handler "
                                                 "but has not yet been observed by the PodDisruptionBudget "
                                                 "controller.")
    disruptions_allowed: int | None = doc("Number of pod disruptions that are currently allowed.")
    current_healthy: int | None = doc("current number of healthy pods")
    desired_healthy: int | None = doc("minimum desired number of healthy pods")
    expected_pods: int | None = doc("total number of pods counted by this disruption budget")
    conditions: list[Condition] | None = merge_list("type", description="Conditions contain conditions for PDB.")


class PodDisruptionBudget(_Policy, TypedModel):
    """PodDisruptionBudget is an object to define the max disruption that can be caused to a collection of
    pods"""

    gvk = ("policy", "v1", "PodDisruptionBudget")

    metadata: ObjectMeta | None = None
    spec: PodDisruptionBudgetSpec | None = None
    status: PodDisruptionBudgetStatus | None = None
