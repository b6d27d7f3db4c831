"""The resourcequota controller: every ResourceQuota's ``status`` says what the namespace uses.

``status.hard`` is ``spec.hard``; ``status.used`` is recomputed from the objects themselves
(pods from the informer, not Succeeded/Failed; ``count/<resource>`` by a list). Admission
(orchestrator/apiserver/resourcequota.py) charges creates as they happen, so like upstream this
controller syncs a quota when it appears or its spec changes, when a pod is deleted or turns
terminal (*replenishment*: giving usage back), and every `FULL_RESYNC_SECONDS` — not on every
pod create, which admission has already counted.

Admission charges a create before the object is stored, so for a moment a quota counts a pod
that no cache (and no list) has yet. A count that would *lower* a quota's usage is therefore
written only when a second count, `CONFIRM_LOWER_SECONDS` later and of the same quota version,
agrees: written at once, it would give the charge of a pod still on its way back, and let a
create past the quota (upstream has this race: kubernetes/kubernetes#123434). The price: usage
comes down only after a second in which no create was charged to the quota, so a namespace at
its quota and creating without pause has creates refused for a second or two that upstream would
admit.

Kubernetes equivalent: pkg/controller/resourcequota/resource_quota_controller.go,
pkg/controller/resourcequota/resource_quota_monitor.go
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from orchestrator.api.errors import Conflict, NotFound
from orchestrator.api.objects import TERMINAL_PHASES
from orchestrator.api.quota import LEGACY_COUNTS, format_usage, pod_usage, quantity
from orchestrator.api.resources import resolve
from orchestrator.client.informer import DeletedFinalStateUnknown
from orchestrator.controllers.controller import Controller, ControllerContext, Object
from orchestrator.controllers.ownerrefs import meta

__all__ = ["FULL_RESYNC_SECONDS", "ResourceQuotaController"]

log = logging.getLogger(__name__)

FULL_RESYNC_SECONDS = 300.0  # --resource-quota-sync-period's default (5m)
CONFIRM_LOWER_SECONDS = 1.0


class ResourceQuotaController(Controller):
    name = "resourcequota"
    default_workers = 1

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers)
        self.quotas = ctx.factory.informer("resourcequotas", namespace=ctx.namespace)
        self.pods = ctx.factory.informer("pods", namespace=ctx.namespace)
        self.quotas.add_handler(on_add=self.enqueue, on_update=self._quota_updated)
        self.pods.add_handler(on_update=self._pod_updated, on_delete=self._pod_deleted)
        # quota key -> (its version, the time) when a count lower than its status.used was first seen
        self._lowering: dict[str, tuple[str, float]] = {}

    def _quota_updated(self, old: Object, cur: Object) -> None:
        hard = (cur.get("spec") or {}).get("hard") or {}
        if (old.get("spec") or {}).get("hard") != hard or (cur.get("status") or {}).get("hard") != hard:
            self.enqueue(cur)

    def _pod_updated(self, old: Object, cur: Object) -> None:
        was = (old.get("status") or {}).get("phase") in TERMINAL_PHASES
        if not was and (cur.get("status") or {}).get("phase") in TERMINAL_PHASES:
            self._namespace_changed(meta(cur).get("namespace"))

    def _pod_deleted(self, pod: Object | DeletedFinalStateUnknown) -> None:
        obj = pod.obj if isinstance(pod, DeletedFinalStateUnknown) else pod
        if isinstance(obj, dict):
            self._namespace_changed(meta(obj).get("namespace"))

    def _namespace_changed(self, namespace: str | None) -> None:
        for quota in self.quotas.list():
            if meta(quota).get("namespace") == namespace:
                self.enqueue(quota)

    def resync_all(self) -> None:
        for quota in self.quotas.list():
            self.enqueue(quota)

    async def _usage(self, namespace: str, hard: dict[str, Any]) -> dict[str, str]:
        used: dict[str, Decimal] = {name: Decimal(0) for name in hard}
        for pod in self.pods.list():
            if meta(pod).get("namespace") != namespace:
                continue
            for name, amount in pod_usage(pod).items():
                if name in used:
                    used[name] += amount
        for name in hard:
            if name == "count/pods" or not (name.startswith("count/") or name in LEGACY_COUNTS):
                continue
            info = resolve(name.removeprefix("count/"))
            if info is None:
                continue  # not served here: none exist
            items = (await self.client.list(info, namespace=namespace)).get("items") or []
            used[name] = Decimal(len(items))
        return {name: format_usage(value, hard[name]) for name, value in used.items()}

    async def sync(self, key: str) -> None:
        quota = self.quotas.get(key)
        if quota is None:
            self._lowering.pop(key, None)
            return
        namespace = meta(quota).get("namespace") or ""
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        status = {"hard": hard, "used": await self._usage(namespace, hard)}
        self.queue.add_after(key, FULL_RESYNC_SECONDS)
        if quota.get("status") == status:
            self._lowering.pop(key, None)
            return
        if _lowers(((quota.get("status") or {}).get("used")) or {}, status["used"]):
            # Any sync may be the second count (a pod deleted meanwhile triggers one at once), but
            # only one a whole CONFIRM_LOWER_SECONDS after the first, of the same quota version.
            version, now = meta(quota).get("resourceVersion") or "", self.clock.now()
            first_version, first_seen = self._lowering.get(key, (None, now))
            if first_version != version:  # first sight, or a new charge meanwhile: start over
                self._lowering[key] = (version, now)
                self.queue.add_after(key, CONFIRM_LOWER_SECONDS)
                return
            if now - first_seen < CONFIRM_LOWER_SECONDS:
                self.queue.add_after(key, first_seen + CONFIRM_LOWER_SECONDS - now)
                return
        self._lowering.pop(key, None)
        try:
            await self.client.update_status("resourcequotas", {**quota, "status": status}, namespace=namespace)
        except NotFound:
            return
        except Conflict:
            # Admission charged it meanwhile; our cache is behind. A fixed pause, not the rate
            # limiter: a sync that returns normally resets its back-off (Controller.process).
            self.queue.add_after(key, CONFIRM_LOWER_SECONDS)
            return
        log.info("%s: %s used %s", self.name, key, status["used"])


def _lowers(current: dict[str, Any], counted: dict[str, str]) -> bool:
    """True if `counted` gives back some of what `current` (a quota's ``status.used``) holds."""
    return any(name in current and quantity(counted[name]) < quantity(current[name]) for name in counted)
