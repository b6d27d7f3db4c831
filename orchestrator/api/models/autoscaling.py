"""The autoscaling/v2 HorizontalPodAutoscaler: a target's scale driven by metrics.

Kubernetes equivalent: k8s.io/api/autoscaling/v2/types.go
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.api.models.meta import K8sModel, LabelSelector, ObjectMeta, Quantity, Time, TypedModel, doc


class _Autoscaling(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.autoscaling.v2"


class CrossVersionObjectReference(_Autoscaling):
    """CrossVersionObjectReference contains enough information to let you identify the referred resource."""

    required_fields = ("kind", "name")

    kind: str | None = doc("kind is the kind of the referent (e.g. Deployment).")
    name: str | None = doc("name is the name of the referent.")
    api_version: str | None = doc("apiVersion is the API version of the referent.")


class MetricTarget(_Autoscaling):
    """MetricTarget defines the target value, average value, or average utilization of a specific metric."""

    required_fields = ("type",)

    type: str | None = doc("type represents whether the metric type is Utilization, Value, or AverageValue.")
    value: Quantity | None = doc("value is the target value of the metric (as a quantity).")
    average_value: Quantity | None = doc("averageValue is the target value of the average of the metric across "
                                         "all relevant pods (as a quantity).")
    average_utilization: int | None = doc("averageUtilization is the target value of the average of the resource "
                                          "metric across all relevant pods, represented as a percentage of the "
                                          "requested value of the resource for the pods.")


class MetricIdentifier(_Autoscaling):
    """MetricIdentifier defines the name and optionally selector for a metric."""

    required_fields = ("name",)

    name: str | None = doc("name is the name of the given metric")
    selector: LabelSelector | None = doc("selector is the string-encoded form of a standard kubernetes label "
                                         "selector for the given metric.")


class ResourceMetricSource(_Autoscaling):
    """ResourceMetricSource indicates how to scale on a resource metric known to Kubernetes (CPU or memory)."""

    required_fields = ("name", "target")

    name: str | None = doc("name is the name of the resource in question.")
    target: MetricTarget | None = doc("target specifies the target value for the given metric")


class ContainerResourceMetricSource(_Autoscaling):
    """ContainerResourceMetricSource indicates how to scale on a resource metric of one container of each pod."""

    required_fields = ("name", "target", "container")

    name: str | None = doc("name is the name of the resource in question.")
    target: MetricTarget | None = doc("target specifies the target value for the given metric")
    container: str | None = doc("container is the name of the container in the pods of the scaling target")


class PodsMetricSource(_Autoscaling):
    """PodsMetricSource indicates how to scale on a metric describing each pod in the current scale target."""

    required_fields = ("metric", "target")

    metric: MetricIdentifier | None = doc("metric identifies the target metric by name and selector")
    target: MetricTarget | None = doc("target specifies the target value for the given metric")


class ObjectMetricSource(_Autoscaling):
    """ObjectMetricSource indicates how to scale on a metric describing a kubernetes object."""

    required_fields = ("describedObject", "target", "metric")

    described_object: CrossVersionObjectReference | None = doc("describedObject specifies the descriptions of a "
                                                               "object,such as kind,name apiVersion")
    target: MetricTarget | None = doc("target specifies the target value for the given metric")
    metric: MetricIdentifier | None = doc("metric identifies the target metric by name and selector")


class ExternalMetricSource(_Autoscaling):
    """ExternalMetricSource indicates how to scale on a metric not associated with any Kubernetes object."""

    required_fields = ("metric", "target")

    metric: MetricIdentifier | None = doc("metric identifies the target metric by name and selector")
    target: MetricTarget | None = doc("target specifies the target value for the given metric")


class MetricSpec(_Autoscaling):
    """MetricSpec specifies how to scale based on a single metric (only `type` and one matching field should be
    set at once)."""

    required_fields = ("type",)

    type: str | None = doc("type is the type of metric source. It should be one of \"ContainerResource\", "
                           "\"External\", \"Object\", \"Pods\" or \"Resource\", each mapping to a matching field "
                           "in the object.")
    object: ObjectMetricSource | None = doc("object refers to a metric describing a single kubernetes object.")
    pods: PodsMetricSource | None = doc("pods refers to a metric describing each pod in the current scale target.")
    resource: ResourceMetricSource | None = doc("resource refers to a resource metric (such as those specified in "
                                                "requests and limits) known to Kubernetes describing each pod in "
                                                "the current scale target (e.g. CPU or memory).")
    container_resource: ContainerResourceMetricSource | None = doc("containerResource refers to a resource metric "
                                                                   "of a single container in each pod of the "
                                                                   "current scale target.")
    external: ExternalMetricSource | None = doc("external refers to a global metric that is not associated with "
                                                "any Kubernetes object.")


class HPAScalingPolicy(_Autoscaling):
    """HPAScalingPolicy is a single policy which must hold true for a specified past interval."""

    required_fields = ("type", "value", "periodSeconds")

    type: str | None = doc("type is used to specify the scaling policy (Pods or Percent).")
    value: int | None = doc("value contains the amount of change which is permitted by the policy. It must be "
                            "greater than zero")
    period_seconds: int | None = doc("periodSeconds specifies the window of time for which the policy should "
                                     "hold true. PeriodSeconds must be greater than zero and less than or equal "
                                     "to 1800 (30 min).")


class HPAScalingRules(_Autoscaling):
    """HPAScalingRules configures the scaling behavior for one direction: a stabilization window and policies."""

    stabilization_window_seconds: int | None = doc("stabilizationWindowSeconds is the number of seconds for which "
                                                   "past recommendations should be considered while scaling up or "
                                                   "scaling down. Between 0 and 3600. Defaults: scale up 0, scale "
                                                   "down 300 (the controller's "
                                                   "--horizontal-pod-autoscaler-downscale-stabilization).")
    select_policy: str | None = doc("selectPolicy is used to specify which policy should be used (Max, Min or "
                                    "Disabled). If not set, the default value Max is used.")
    policies: list[HPAScalingPolicy] | None = doc("policies is a list of potential scaling polices which can be "
                                                  "used during scaling.")


class HorizontalPodAutoscalerBehavior(_Autoscaling):
    """HorizontalPodAutoscalerBehavior configures the scaling behavior of the target in both Up and Down
    directions."""

    scale_up: HPAScalingRules | None = doc("scaleUp is scaling policy for scaling Up. Default: the greater of 4 "
                                           "pods or 100% per 15 s, no stabilization.")
    scale_down: HPAScalingRules | None = doc("scaleDown is scaling policy for scaling Down. Default: 100% per 15 "
                                             "s after a 300 s stabilization window.")


class HorizontalPodAutoscalerSpec(_Autoscaling):
    """HorizontalPodAutoscalerSpec describes the desired functionality of the HorizontalPodAutoscaler."""

    required_fields = ("scaleTargetRef", "maxReplicas")

    scale_target_ref: CrossVersionObjectReference | None = doc("scaleTargetRef points to the target resource to "
                                                               "scale, and is used to the pods for which metrics "
                                                               "should be collected, as well as to actually change "
                                                               "the replica count.")
    min_replicas: int | None = doc("minReplicas is the lower limit for the number of replicas to which the "
                                   "autoscaler can scale down. It defaults to 1 pod.")
    max_replicas: int | None = doc("maxReplicas is the upper limit for the number of replicas to which the "
                                   "autoscaler can scale up. It cannot be less that minReplicas.")
    metrics: list[MetricSpec] | None = doc("metrics contains the specifications for which to use to calculate the "
                                           "desired replica count. If not set, the default metric will be set to "
                                           "80% average CPU utilization.")
    behavior: HorizontalPodAutoscalerBehavior | None = doc("behavior configures the scaling behavior of the target "
                                                           "in both Up and Down directions.")


class MetricValueStatus(_Autoscaling):
    """MetricValueStatus holds the current value for a metric"""

    value: Quantity | None = doc("value is the current value of the metric (as a quantity).")
    average_value: Quantity | None = doc("averageValue is the current value of the average of the metric across "
                                         "all relevant pods (as a quantity)")
    average_utilization: int | None = doc("currentAverageUtilization is the current value of the average of the "
                                          "resource metric across all relevant pods, represented as a percentage "
                                          "of the requested value of the resource for the pods.")


class ResourceMetricStatus(_Autoscaling):
    """ResourceMetricStatus indicates the current value of a resource metric known to Kubernetes."""

    required_fields = ("name", "current")

    name: str | None = doc("name is the name of the resource in question.")
    current: MetricValueStatus | None = doc("current contains the current value for the given metric")


class ContainerResourceMetricStatus(_Autoscaling):
    """ContainerResourceMetricStatus indicates the current value of a resource metric of one container."""

    required_fields = ("name", "current", "container")

    name: str | None = doc("name is the name of the resource in question.")
    current: MetricValueStatus | None = doc("current contains the current value for the given metric")
    container: str | None = doc("container is the name of the container in the pods of the scaling target")


class PodsMetricStatus(_Autoscaling):
    """PodsMetricStatus indicates the current value of a metric describing each pod in the current scale
    target."""

    required_fields = ("metric", "current")

    metric: MetricIdentifier | None = doc("metric identifies the target metric by name and selector")
    current: MetricValueStatus | None = doc("current contains the current value for the given metric")


class ObjectMetricStatus(_Autoscaling):
    """ObjectMetricStatus indicates the current value of a metric describing a kubernetes object."""

    required_fields = ("metric", "current", "describedObject")

    metric: MetricIdentifier | None = doc("metric identifies the target metric by name and selector")
    current: MetricValueStatus | None = doc("current contains the current value for the given metric")
    described_object: CrossVersionObjectReference | None = doc("DescribedObject specifies the descriptions of a "
                                                               "object,such as kind,name apiVersion")


class ExternalMetricStatus(_Autoscaling):
    """ExternalMetricStatus indicates the current value of a global metric not associated with any Kubernetes
    object."""

    required_fields = ("metric", "current")

    metric: MetricIdentifier | None = doc("metric identifies the target metric by name and selector")
    current: MetricValueStatus | None = doc("current contains the current value for the given metric")


class MetricStatus(_Autoscaling):
    """MetricStatus describes the last-read state of a single metric."""

    required_fields = ("type",)

    type: str | None = doc("type is the type of metric source.")
    object: ObjectMetricStatus | None = None
    pods: PodsMetricStatus | None = None
    resource: ResourceMetricStatus | None = None
    container_resource: ContainerResourceMetricStatus | None = None
    external: ExternalMetricStatus | None = None


class HorizontalPodAutoscalerCondition(_Autoscaling):
    """HorizontalPodAutoscalerCondition describes the state of a HorizontalPodAutoscaler at a certain point."""

    required_fields = ("type", "status")

    type: str | None = doc("type describes the current condition: AbleToScale, ScalingActive or ScalingLimited.")
    status: str | None = doc("status is the status of the condition (True, False, Unknown)")
    last_transition_time: Time | None = doc("lastTransitionTime is the last time the condition transitioned from "
                                            "one status to another")
    reason: str | None = doc("reason is the reason for the condition's last transition.")
    message: str | None = doc("message is a human-readable explanation containing details about the transition")


class HorizontalPodAutoscalerStatus(_Autoscaling):
    """HorizontalPodAutoscalerStatus describes the current status of a horizontal pod autoscaler."""

    required_fields = ("desiredReplicas",)

    observed_generation: int | None = doc("observedGeneration is the most recent generation observed by this "
                                          "autoscaler.")
    last_scale_time: Time | None = doc("lastScaleTime is the last time the HorizontalPodAutoscaler scaled the "
                                       "number of pods, used by the autoscaler to control how often the number "
                                       "of pods is changed.")
    current_replicas: int | None = doc("currentReplicas is current number of replicas of pods managed by this "
                                       "autoscaler, as last seen by the autoscaler.")
    desired_replicas: int | None = doc("desiredReplicas is the desired number of replicas of pods managed by this "
                                       "autoscaler, as last calculated by the autoscaler.")
    current_metrics: list[MetricStatus] | None = doc("currentMetrics is the last read state of the metrics used by "
                                                     "this autoscaler.")
    conditions: list[HorizontalPodAutoscalerCondition] | None = doc(
        "conditions is the set of conditions required for this autoscaler to scale its target, and indicates "
        "whether or not those conditions are met.",
        json_schema_extra={"x-kubernetes-list-map-keys": ["type"], "x-kubernetes-list-type": "map",
                           "x-kubernetes-patch-merge-key": "type", "x-kubernetes-patch-strategy": "merge"})


class HorizontalPodAutoscaler(_Autoscaling, TypedModel):
    """HorizontalPodAutoscaler is the configuration for a horizontal pod autoscaler, which automatically manages
    the replica count of any resource implementing the scale subresource based on the metrics specified."""

    gvk = ("autoscaling", "v2", "HorizontalPodAutoscaler")

    metadata: ObjectMeta | None = None
    spec: HorizontalPodAutoscalerSpec | None = None
    status: HorizontalPodAutoscalerStatus | None = None


# --- autoscaling/v1: the CPU-only form `kubectl autoscale` (1.32) still writes ---------------------


class _AutoscalingV1(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.autoscaling.v1"


class CrossVersionObjectReferenceV1(_AutoscalingV1):
    """CrossVersionObjectReference contains enough information to let you identify the referred resource."""

    required_fields = ("kind", "name")
    openapi_name: ClassVar[str] = "CrossVersionObjectReference"

    kind: str | None = doc("kind is the kind of the referent.")
    name: str | None = doc("name is the name of the referent.")
    api_version: str | None = doc("apiVersion is the API version of the referent")


class HorizontalPodAutoscalerSpecV1(_AutoscalingV1):
    """specification of a horizontal pod autoscaler."""

    required_fields = ("scaleTargetRef", "maxReplicas")
    openapi_name: ClassVar[str] = "HorizontalPodAutoscalerSpec"

    scale_target_ref: CrossVersionObjectReferenceV1 | None = doc("reference to scaled resource; horizontal pod "
                                                                 "autoscaler will learn the current resource "
                                                                 "consumption and will set the desired number of "
                                                                 "pods by using its Scale subresource.")
    min_replicas: int | None = doc("minReplicas is the lower limit for the number of replicas to which the "
                                   "autoscaler can scale down. It defaults to 1 pod.")
    max_replicas: int | None = doc("maxReplicas is the upper limit for the number of pods that can be set by the "
                                   "autoscaler; cannot be smaller than MinReplicas.")
    target_cpu_utilization_percentage: int | None = doc(
        "targetCPUUtilizationPercentage is the target average CPU utilization (represented as a percentage of "
        "requested CPU) over all the pods; if not specified the default autoscaling policy will be used.",
        alias="targetCPUUtilizationPercentage")


class HorizontalPodAutoscalerStatusV1(_AutoscalingV1):
    """current status of a horizontal pod autoscaler"""

    required_fields = ("currentReplicas", "desiredReplicas")
    openapi_name: ClassVar[str] = "HorizontalPodAutoscalerStatus"

    observed_generation: int | None = doc("observedGeneration is the most recent generation observed by this "
                                          "autoscaler.")
    last_scale_time: Time | None = doc("lastScaleTime is the last time the HorizontalPodAutoscaler scaled the "
                                       "number of pods.")
    current_replicas: int | None = doc("currentReplicas is the current number of replicas of pods managed by this "
                                       "autoscaler.")
    desired_replicas: int | None = doc("desiredReplicas is the desired number of replicas of pods managed by this "
                                       "autoscaler.")
    current_cpu_utilization_percentage: int | None = doc(
        "currentCPUUtilizationPercentage is the current average CPU utilization over all pods, represented as a "
        "percentage of requested CPU, e.g. 70 means that an average pod is using now 70% of its requested CPU.",
        alias="currentCPUUtilizationPercentage")


class HorizontalPodAutoscalerV1(_AutoscalingV1, TypedModel):
    """configuration of a horizontal pod autoscaler."""

    gvk = ("autoscaling", "v1", "HorizontalPodAutoscaler")
    openapi_name: ClassVar[str] = "HorizontalPodAutoscaler"

    metadata: ObjectMeta | None = None
    spec: HorizontalPodAutoscalerSpecV1 | None = None
    status: HorizontalPodAutoscalerStatusV1 | None = None
