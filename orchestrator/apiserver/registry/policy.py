"""policy/v1 PodDisruptionBudgets, and the budget check the ``pods/eviction`` subresource makes.

- A budget names its pods by ``spec.selector`` and says how many must stay available: either
  ``minAvailable`` or ``maxUnavailable`` (never both), each a number or a percentage.
- The disruption controller (controllers/disruption.py) keeps ``status``: currentHealthy,
  desiredHealthy, expectedPods, disruptionsAllowed and the DisruptionAllowed condition.
- An eviction (`check_eviction`) of a pod one budget covers is refused with 429 when the budget
  allows no disruption; otherwise the budget's ``disruptionsAllowed`` goes down by one and the pod is
  written into ``status.disruptedPods`` *before* the pod is deleted, in one status write guarded by
  the resourceVersion: two concurrent evictions cannot both spend the last allowed disruption. The
  controller, which has not seen the deletion yet, counts a pod in ``disruptedPods`` as unhealthy,
  so it does not hand the disruption back early.

Kubernetes equivalent: pkg/registry/policy/poddisruptionbudget/strategy.go,
pkg/registry/core/pod/storage/eviction.go, pkg/apis/policy/validation/validation.go
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.errors import Cause, Conflict, Forbidden, InternalError, Invalid, TooManyRequests
from orchestrator.api.resources import by_group_resource
from orchestrator.api.selectors import LabelSelector
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import FieldErrors, rfc3339

__all__ = ["EVICTION_REFUSED", "PodDisruptionBudgetStrategy", "check_eviction"]

EVICTION_REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
MAX_DISRUPTED_PODS = 2000  # upstream MaxDisruptedPodSize
UNHEALTHY_POLICIES = ("IfHealthyBudget", "AlwaysAllow")
_PERCENT = re.compile(r"^[0-9]+%$")


def _int_or_percent(errs: FieldErrors, value: Any, path: str) -> None:
    """ValidatePositiveIntOrPercent + IsNotMoreThan100Percent."""
    if isinstance(value, bool):
        errs.invalid(path, value, "must be an integer or percentage (e.g '5%')")
    elif isinstance(value, int):
        if value < 0:
            errs.invalid(path, value, "must be greater than or equal to 0")
    elif isinstance(value, str):
        if not _PERCENT.match(value):
            errs.invalid(path, value, "must be an integer or percentage (e.g '5%')")
        elif int(value[:-1]) > 100:
            errs.invalid(path, value, "must not be greater than 100%")


class PodDisruptionBudgetStrategy(BaseStrategy):
    printer = tables.PDB
    has_generation = True

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        obj["status"] = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        spec = obj.get("spec") or {}
        if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
            errs.invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set")
        for key in ("minAvailable", "maxUnavailable"):
            if spec.get(key) is not None:
                _int_or_percent(errs, spec[key], f"spec.{key}")
        if spec.get("selector") is not None:
            try:
                LabelSelector.from_structured(spec["selector"], field_path="spec.selector")
            except Invalid as err:
                errs.extend(err.causes)
        policy = spec.get("unhealthyPodEvictionPolicy")
        if policy is not None and policy not in UNHEALTHY_POLICIES:
            errs.not_supported("spec.unhealthyPodEvictionPolicy", policy, UNHEALTHY_POLICIES)
        status = obj.get("status") or {}
        for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
            if isinstance(status.get(key), int) and status[key] < 0:
                errs.invalid(f"status.{key}", status[key], "must be greater than or equal to 0")


# --- the eviction check ----------------------------------------------------------------------------


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _covering(pdbs: list[dict[str, Any]], pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    found = []
    for pdb in pdbs:
        selector = (pdb.get("spec") or {}).get("selector")
        if selector is None:
            continue  # a null selector matches no pods
        try:
            parsed = LabelSelector.from_structured(selector)
        except Invalid:
            continue
        if parsed.matches(labels):  # an empty selector ({}) matches every pod of the namespace
            found.append(pdb)
    return found


def _too_many(message: str, *, retry_after: int) -> TooManyRequests:
    return TooManyRequests(EVICTION_REFUSED, retry_after_seconds=retry_after,
                           causes=[Cause("", message, DISRUPTION_BUDGET_CAUSE)])


async def check_eviction(registry: Any, pod: Mapping[str, Any], *, dry_run: bool) -> None:
    """Spend one disruption of the budget covering `pod`, or raise 429 when none is allowed.

    A pod that is not running (Pending, Succeeded, Failed) or already being deleted is no
    disruption: it is evicted without looking at budgets. A pod that is not Ready does not count as
    healthy, so evicting it spends nothing while the budget has the healthy pods it wants
    (``unhealthyPodEvictionPolicy: IfHealthyBudget``, the default) -- or always (``AlwaysAllow``).
    """
    meta = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed", "Pending") or meta.get("deletionTimestamp"):
        return
    namespace, name = meta.get("namespace"), meta.get("name")
    info = by_group_resource("poddisruptionbudgets.policy")
    for _attempt in range(5):
        listed = await registry.store.list(info.group_resource, namespace=namespace, label_selector=None,
                                           field_selector=None, limit=None, continue_token=None)
        pdbs = _covering(list(listed.items), pod)
        if not pdbs:
            return
        if len(pdbs) > 1:
            raise InternalError("This pod has more than one PodDisruptionBudget, which the eviction subresource "
                                "does not support.")
        pdb = pdbs[0]
        pmeta, spec, status = pdb["metadata"], pdb.get("spec") or {}, dict(pdb.get("status") or {})
        if not _pod_ready(pod):
            if spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
                return
            if (status.get("currentHealthy") or 0) >= (status.get("desiredHealthy") or 0) > 0:
                return
        if (status.get("observedGeneration") or 0) < (pmeta.get("generation") or 1):
            raise _too_many(f"The disruption budget {pmeta['name']} is still being processed by the server.",
                            retry_after=10)
        allowed = status.get("disruptionsAllowed") or 0
        if allowed < 0:
            raise Forbidden(f'poddisruptionbudgets.policy "{pmeta["name"]}" is forbidden: pdb disruptions allowed '
                            "is negative", kind="poddisruptionbudgets", group="policy", name=pmeta["name"])
        if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
            raise Forbidden(f'poddisruptionbudgets.policy "{pmeta["name"]}" is forbidden: DisruptedPods map too big - '
                            "too many evictions not confirmed by PDB controller",
                            kind="poddisruptionbudgets", group="policy", name=pmeta["name"])
        if allowed == 0:
            raise _too_many(f"The disruption budget {pmeta['name']} needs {status.get('desiredHealthy') or 0} healthy "
                            f"pods and has {status.get('currentHealthy') or 0} currently", retry_after=0)
        if dry_run:
            return
        status["disruptionsAllowed"] = allowed - 1
        now = rfc3339(datetime.now(UTC))
        if allowed - 1 == 0:
            status["conditions"] = _disruption_allowed(status.get("conditions") or [], False, "InsufficientPods", now,
                                                       pmeta.get("generation"))
        status["disruptedPods"] = {**(status.get("disruptedPods") or {}), name: now}
        try:
            await registry.store.update(info.group_resource, {**pdb, "status": status})
        except Conflict:
            continue  # someone else spent or refreshed it: decide again on the fresh budget
        return
    raise _too_many("The disruption budget changed too often while evicting; try again.", retry_after=1)


def _disruption_allowed(conditions: list[dict[str, Any]], allowed: bool, reason: str, now: str,
                        generation: int | None) -> list[dict[str, Any]]:
    """The conditions with DisruptionAllowed set (its lastTransitionTime kept when the status stays)."""
    status = "True" if allowed else "False"
    old = next((c for c in conditions if c.get("type") == "DisruptionAllowed"), None)
    cond = {"type": "DisruptionAllowed", "status": status, "reason": reason, "message": "",
            "observedGeneration": generation or 1,
            "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == status
            and old.get("lastTransitionTime") else now}
    return [c for c in conditions if c.get("type") != "DisruptionAllowed"] + [cond]


STRATEGIES = (PodDisruptionBudgetStrategy(by_group_resource("poddisruptionbudgets.policy")),)
