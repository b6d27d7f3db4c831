"""core/v1 ResourceQuota and LimitRange: what a namespace may consume, and each container's bounds.

Kubernetes equivalent: k8s.io/api/core/v1/types.go (ResourceQuota, LimitRange)
"""

from __future__ import annotations

from orchestrator.api.models.core import _Core
from orchestrator.api.models.meta import ObjectMeta, TypedModel, doc


class ResourceQuotaSpec(_Core):
    """ResourceQuotaSpec defines the desired hard limits to enforce for Quota."""

    hard: dict[str, str] | None = doc("hard is the set of desired hard limits for each named resource.")
    scopes: list[str] | None = doc("A collection of filters that must match each object tracked by a quota.")
    scope_selector: dict[str, object] | None = doc("scopeSelector is also a collection of filters like scopes "
                                                   "that must match each object tracked by a quota.")


class ResourceQuotaStatus(_Core):
    """ResourceQuotaStatus defines the enforced hard limits and observed use."""

    hard: dict[str, str] | None = doc("Hard is the set of enforced hard limits for each named resource.")
    used: dict[str, str] | None = doc("Used is the current observed total usage of the resource in the namespace.")


class ResourceQuota(_Core, TypedModel):
    """ResourceQuota sets aggregate quota restrictions enforced per namespace."""

    gvk = ("", "v1", "ResourceQuota")

    metadata: ObjectMeta | None = None
    spec: ResourceQuotaSpec | None = doc("Spec defines the desired quota.")
    status: ResourceQuotaStatus | None = doc("Status defines the actual enforced quota and its current usage.")


class LimitRangeItem(_Core):
    """LimitRangeItem defines a min/max usage limit for any resource that matches on kind."""

    required_fields = ("type",)

    type: str | None = doc("Type of resource that this limit applies to: Container or Pod.")
    max: dict[str, str] | None = doc("Max usage constraints on this kind by resource name.")
    min: dict[str, str] | None = doc("Min usage constraints on this kind by resource name.")
    default: dict[str, str] | None = doc("Default resource requirement limit value by resource name if resource "
                                         "limit is omitted.")
    default_request: dict[str, str] | None = doc("DefaultRequest is the default resource requirement request "
                                                 "value by resource name if resource request is omitted.")
    max_limit_request_ratio: dict[str, str] | None = doc(
        "MaxLimitRequestRatio if specified, the named resource must have a request and limit that are both "
        "non-zero where limit divided by request is less than or equal to the enumerated value.")


class LimitRangeSpec(_Core):
    """LimitRangeSpec defines a min/max usage limit for resources that match on kind."""

    required_fields = ("limits",)

    limits: list[LimitRangeItem] | None = doc("Limits is the list of LimitRangeItem objects that are enforced.")


class LimitRange(_Core, TypedModel):
    """LimitRange sets resource usage limits for each kind of resource in a Namespace."""

    gvk = ("", "v1", "LimitRange")

    metadata: ObjectMeta | None = None
    spec: LimitRangeSpec | None = doc("Spec defines the limits enforced.")


__all__ = ["LimitRange", "LimitRangeItem", "ResourceQuota"]
