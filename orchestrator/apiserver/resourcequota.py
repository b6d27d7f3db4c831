"""The ResourceQuota admission plugin: a create that would take a namespace past a quota's
``hard`` is refused, and what it takes is charged to the quota's ``status.used`` first.

What is counted (the quota's ``hard`` names which of these it limits):

    pods                 pods      1 per pod that is not Succeeded/Failed, also ``count/pods``
    requests.cpu (cpu), requests.memory (memory), limits.cpu, limits.memory
                         pods      the sum over the pod's containers
    count/<resource>[.<group>]   every resource, 1 per object; ``configmaps``, ``secrets``,
                         ``services``, ``replicationcontrollers``, ``resourcequotas`` also by
                         their legacy names

A quota that limits cpu or memory refuses a pod whose containers do not all state that request
or limit: ``failed quota: <name>: must specify requests.cpu for: <containers>`` (the LimitRanger,
which runs before, usually fills them in).

No overshoot under concurrent creates, as in Kubernetes: the check reads ``status.used``, and the
charge is an update of the quota with its resourceVersion as precondition; a writer that lost
the race reads the quota again and checks again. A new quota whose ``status.used`` is not
computed yet is counted from the store. Deletes and pods turning terminal are given back by the
resourcequota controller (orchestrator/controllers/resourcequota.py), which recomputes
``status.used`` from the objects. A create charged here that then fails to be stored is counted
until that controller's next sync of the quota, as upstream. Dry-run creates are checked, not
charged.

Kubernetes equivalent: plugin/pkg/admission/resourcequota/{admission.go,controller.go},
pkg/quota/v1/evaluator/core/pods.go
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from orchestrator.api.errors import Conflict, Forbidden, NotFound
from orchestrator.api.quantity import canonical
from orchestrator.api.quota import (
    COMPUTE,
    LEGACY_COUNTS,
    format_usage,
    missing_requests,
    object_usage,
    pod_usage,
    quantity,
)
from orchestrator.apiserver.admission import Attributes
from orchestrator.apiserver.lister import NamespacedLister
from orchestrator.storage.store import Store

_ATTEMPTS = 60


def _pretty(values: Mapping[str, Any]) -> str:
    return ",".join(f"{name}={canonical(values[name])}" for name in sorted(values))


class ResourceQuotaAdmission:
    """Checks creates against the namespace's quotas and charges them (see the module doc)."""

    def __init__(self, store: Store, lister: NamespacedLister | None = None) -> None:
        self._store = store
        self._lister = lister  # "no quota in this namespace" without a store read (apiserver/lister.py)

    async def _live_usage(self, namespace: str, names: set[str]) -> dict[str, Decimal]:
        """Usage counted from the objects, for a quota whose status is not computed yet."""
        used: dict[str, Decimal] = {name: Decimal(0) for name in names}
        if names & {"pods", "count/pods", *COMPUTE}:
            for pod in (await self._store.list("pods", namespace=namespace)).items:
                for name, amount in pod_usage(pod).items():
                    if name in used:
                        used[name] += amount
        for name in names:
            if name.startswith("count/") and name != "count/pods" or name in LEGACY_COUNTS:
                resource = name.removeprefix("count/")
                try:
                    used[name] = Decimal(len((await self._store.list(resource, namespace=namespace)).items))
                except (KeyError, NotFound, ValueError):
                    continue  # not a served resource: nothing of it exists
        return used

    async def admit(self, attrs: Attributes) -> None:
        if attrs.operation != "CREATE" or not attrs.info.namespaced or attrs.subresource:
            return
        meta = attrs.obj.get("metadata") or {}
        namespace = meta.get("namespace") or ""
        requested = object_usage(attrs.info, attrs.obj)
        if not requested:
            return
        if self._lister is not None and self._lister.items(namespace) == []:
            return  # the namespace has no quota (as the watch has it): nothing to charge, no store read
        for attempt in range(_ATTEMPTS):
            quotas = (await self._store.list("resourcequotas", namespace=namespace)).items
            if not quotas:
                return
            try:
                for quota in quotas:
                    await self._charge(attrs, quota, requested)
                return
            except Conflict:
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise Conflict(f"the quotas of namespace {namespace} changed {_ATTEMPTS} times while this create was "
                       "admitted; try again")

    async def _charge(self, attrs: Attributes, quota: dict[str, Any], requested: Mapping[str, Decimal]) -> None:
        hard = (quota.get("spec") or {}).get("hard") or {}
        tracked = {name for name in requested if name in hard}
        if attrs.info.group_resource == "pods":
            tracked |= set(hard) & set(COMPUTE)  # a pod that states nothing still counts for them
        if not tracked:
            return
        qname = (quota.get("metadata") or {}).get("name", "")
        obj_name = (attrs.obj.get("metadata") or {}).get("name") or ""
        resource = attrs.info.plural
        if attrs.info.group_resource == "pods":
            missing = missing_requests(attrs.obj, hard)
            if missing:
                raise Forbidden(f'{resource} "{obj_name}" is forbidden: failed quota: {qname}: {missing}',
                                kind=resource, name=obj_name)
        status_used = (quota.get("status") or {}).get("used") or {}
        unknown = {name for name in tracked if name not in status_used}
        live = await self._live_usage(attrs.obj["metadata"]["namespace"], unknown) if unknown else {}
        used = {name: quantity(status_used[name]) if name in status_used else live.get(name, Decimal(0))
                for name in tracked}
        new_used = {name: used[name] + requested.get(name, Decimal(0)) for name in tracked}
        exceeded = sorted(name for name in tracked if new_used[name] > quantity(hard[name]))
        if exceeded:
            raise Forbidden(
                f'{resource} "{obj_name}" is forbidden: exceeded quota: {qname}, '
                f"requested: {_pretty({n: requested.get(n, Decimal(0)) for n in exceeded})}, "
                f"used: {_pretty({n: used[n] for n in exceeded})}, "
                f"limited: {_pretty({n: hard[n] for n in exceeded})}",
                kind=resource, name=obj_name)
        if getattr(attrs, "dry_run", False):
            return
        charged = copy.deepcopy(quota)
        status = charged.setdefault("status", {}) or {}
        charged["status"] = status
        status["hard"] = dict(hard)
        status["used"] = {**status_used, **{name: format_usage(value, hard[name]) for name, value in new_used.items()}}
        await self._store.update("resourcequotas", charged)  # Conflict: someone else charged it first
