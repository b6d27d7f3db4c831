"""The API server's registry: one strategy per resource behind one generic store-backed registry.

    strategy.py     the contract: what one resource adds to the generic verbs
    base.py         BaseStrategy: every step done the generic way
    rest.py         the create and update steps, in Kubernetes' order
    generic.py      the verbs on the store: CRUD, watch, patch, graceful deletion, finalizers
    <family>.py     one module per resource family (pods, nodes, namespaces, events, leases,
                    replicationcontrollers, apps, daemonsets,
                    batch: jobs and cronjobs, policy: poddisruptionbudgets,
                    autoscaling: horizontalpodautoscalers, apiextensions,
                    config: configmaps and secrets, serviceaccounts, rbac, authorization,
                    services, endpoints: Endpoints and EndpointSlices,
                    quota: resourcequotas and limitranges, apiregistration: apiservices,
                    statefulsets: statefulsets and controllerrevisions,
                    storage: persistentvolumeclaims, persistentvolumes, storageclasses)
    serviceallocator.py  ClusterIPs and node ports for services

Adding a kind: a row in ``orchestrator/api/resources.py``, its model in ``orchestrator/api/models``,
and a strategy (a module here, listed in ``_FAMILIES``). docs/api-machinery.md walks through it.

Kubernetes equivalent: k8s.io/apiserver/pkg/registry/generic/registry, pkg/registry/*
"""

from __future__ import annotations

from orchestrator.api.resources import RESOURCES, ResourceInfo
from orchestrator.apiserver.registry import (
    apiextensions,
    apiregistration,
    apps,
    authorization,
    autoscaling,
    batch,
    config,
    daemonsets,
    endpoints,
    events,
    flowcontrol,
    leases,
    namespaces,
    nodes,
    pods,
    policy,
    quota,
    rbac,
    replicationcontrollers,
    serviceaccounts,
    services,
    statefulsets,
    storage,
)
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Strategy, SubresourceHandler

_FAMILIES = (pods, nodes, namespaces, events, leases, replicationcontrollers, apps, daemonsets, batch, policy,
             autoscaling,
             apiextensions, config, quota, serviceaccounts, rbac, authorization, services, endpoints, apiregistration,
             statefulsets, storage, flowcontrol)

STRATEGIES: dict[str, Strategy] = {s.info.group_resource: s for family in _FAMILIES for s in family.STRATEGIES}
SUBRESOURCES: dict[tuple[str, str], SubresourceHandler] = {
    key: handler for family in _FAMILIES for key, handler in getattr(family, "SUBRESOURCES", {}).items()
}

_missing = [r.group_resource for r in RESOURCES if r.group_resource not in STRATEGIES]
if _missing:  # a served resource without a strategy is a programming error: fail at import
    raise RuntimeError(f"resources without a strategy in apiserver/registry: {', '.join(_missing)}")


def strategy_for(info: ResourceInfo) -> Strategy:
    """The strategy of a served resource (a KeyError for one that is not served). A custom
    resource's info (``catalog.CustomResourceInfo``) carries the strategy its CRD version made."""
    custom = getattr(info, "strategy", None)
    if custom is not None:
        return custom  # type: ignore[no-any-return]
    return STRATEGIES[info.group_resource]


def subresource_handler(info: ResourceInfo, subresource: str) -> SubresourceHandler | None:
    return SUBRESOURCES.get((info.group_resource, subresource))


__all__ = ["STRATEGIES", "SUBRESOURCES", "BaseStrategy", "Strategy", "strategy_for", "subresource_handler",
           "Mapping"]
