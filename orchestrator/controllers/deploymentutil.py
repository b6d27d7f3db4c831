"""Pure rollout arithmetic and bookkeeping of the Deployment controller (no I/O).

**Fenceposts.** ``maxSurge`` and ``maxUnavailable`` are an int or a percentage of
``spec.replicas``; surge rounds *up*, unavailable rounds *down*, and if both come out 0,
unavailable becomes 1 (or the rollout could never move). Worked example, replicas 10 with the
defaults 25%/25%: surge = ceil(2.5) = 3, unavailable = floor(2.5) = 2. So during the rollout at
most 10 + 3 = 13 pods exist and at least 10 - 2 = 8 are available.

**One step of a rolling update** (replicas 10, surge 3, unavailable 2; old RS 10 available):

1. scale up the new RS: ``new = min(maxTotal - current, replicas - new)`` = min(13 - 10, 10) = 3;
2. scale down old RSs by at most ``allPods - minAvailable - newUnavailable`` = 13 - 8 - 3 = 2
   (the 3 new pods are not available yet) -> old 8; then wait: 8 available = minAvailable;
3. as new pods become available the old RS shrinks and the new one grows, until new = 10, old = 0.

**Hash.** A ReplicaSet per pod template: the name is ``<deployment>-<hash>`` and the label
``pod-template-hash=<hash>`` goes on its selector, template and pods, so the ReplicaSets of
two templates never fight over pods. The hash is FNV-32a of the template (canonical JSON here;
upstream hashes its Go struct printout, so the values differ, the shape is the same), plus
``status.collisionCount`` if a name was taken, written with the alphabet
``bcdfghjklmnpqrstvwxz2456789`` (no vowels: no words in names).

**Revisions.** Each ReplicaSet carries ``deployment.kubernetes.io/revision``; the new one
gets max(old revisions) + 1. Rolling back is a template change back to an old RS's template:
that RS becomes the new one again and gets the next revision, its previous one going to
``deployment.kubernetes.io/revision-history``.

Kubernetes equivalent: pkg/controller/deployment/util/deployment_util.go,
pkg/controller/controller_utils.go (ComputeHash), k8s.io/apimachinery/pkg/util/intstr.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from typing import Any

from orchestrator.api.timestamps import rfc3339
from orchestrator.controllers.ownerrefs import meta, parse_time

__all__ = [
    "AVAILABLE", "DESIRED_REPLICAS", "MAX_REPLICAS", "PROGRESSING", "REVISION", "REVISION_HISTORY",
    "TEMPLATE_HASH_LABEL", "compute_hash", "deployment_complete", "deployment_progressing",
    "deployment_timed_out", "equal_ignore_hash", "find_active_or_latest", "find_new_replica_set",
    "get_proportion", "is_rolling_update", "max_revision", "max_surge", "max_unavailable", "new_rs_new_replicas",
    "resolve_fenceposts", "revision", "scaled_value", "set_condition", "set_new_replica_set_annotations",
]

Object = dict[str, Any]

TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Deployment annotations that are not copied onto its ReplicaSets (upstream skipCopyAnnotation).
SKIP_COPY = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
    MAX_REPLICAS, "deprecated.deployment.rollback.to",
})
REVISION_HISTORY_LIMIT_CHARS = 2000  # kube-controller-manager's default

PROGRESSING = "Progressing"
AVAILABLE = "Available"
# Reasons of the Progressing condition, as `kubectl rollout status` and describe show them.
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# --- the hash ---------------------------------------------------------------------------------


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def compute_hash(template: Object, collision_count: int | None = None) -> str:
    """The pod-template-hash of a template (see the module docstring)."""
    data = json.dumps(template or {}, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()  # upstream adds it to the hasher the same way
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in str(_fnv32a(data)))


def _without_hash(template: Object) -> Object:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(TEMPLATE_HASH_LABEL, None)
    return t


def equal_ignore_hash(a: Object, b: Object) -> bool:
    """Templates equal apart from the pod-template-hash label (upstream EqualIgnoreHash)."""
    ta, tb = _without_hash(a), _without_hash(b)
    for t in (ta, tb):  # {} and missing labels are the same thing
        m = t.setdefault("metadata", {})
        if not m.get("labels"):
            m.pop("labels", None)
        if not m.get("annotations"):
            m.pop("annotations", None)
    return ta == tb


# --- int-or-percent and fenceposts ------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """``3`` -> 3; ``"25%"`` of 10 -> 3 rounding up, 2 rounding down (intstr.GetScaledValueFromIntOrPercent)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        percent = int(text[:-1])
        exact = percent * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def _rolling(d: Object) -> dict[str, Any] | None:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    return strategy.get("rollingUpdate") or {"maxSurge": "25%", "maxUnavailable": "25%"}


def is_rolling_update(d: Object) -> bool:
    return _rolling(d) is not None


def replicas_of(obj: Object | None) -> int:
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None and obj.get("kind") == "Deployment" else (value or 0)


def resolve_fenceposts(max_surge_value: Any, max_unavailable_value: Any, desired: int) -> tuple[int, int]:
    surge = scaled_value(max_surge_value, desired, round_up=True)
    unavailable = scaled_value(max_unavailable_value, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        # Both zero would deadlock the rollout; upstream allows one unavailable pod.
        unavailable = 1
    return surge, unavailable


def max_surge(d: Object) -> int:
    rolling = _rolling(d)
    if rolling is None:
        return 0
    surge, _ = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas_of(d))
    return surge


def max_unavailable(d: Object) -> int:
    rolling = _rolling(d)
    replicas = replicas_of(d)
    if rolling is None or replicas == 0:
        return 0
    _, unavailable = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas)
    return min(unavailable, replicas)


# --- counting over ReplicaSets ----------------------------------------------------------------


def spec_replicas(rss: list[Object]) -> int:
    return sum((rs.get("spec") or {}).get("replicas") or 0 for rs in rss)


def status_sum(rss: list[Object], field: str) -> int:
    return sum((rs.get("status") or {}).get(field) or 0 for rs in rss)


def active(rss: list[Object]) -> list[Object]:
    """ReplicaSets that should have pods (upstream FilterActiveReplicaSets)."""
    return [rs for rs in rss if (rs.get("spec") or {}).get("replicas")]


def new_rs_new_replicas(d: Object, all_rss: list[Object], new_rs: Object) -> int:
    """How big the new ReplicaSet may be now (step 1 of the module docstring's example)."""
    replicas = replicas_of(d)
    if _rolling(d) is None:
        return replicas  # Recreate: all at once (after the old pods are gone)
    new_replicas = replicas_of(new_rs)
    current = spec_replicas(all_rss)
    max_total = replicas + max_surge(d)
    if current >= max_total:
        return new_replicas
    scale_up = min(max_total - current, replicas - new_replicas)
    return new_replicas + scale_up


# --- finding the new and old ReplicaSets -------------------------------------------------------


def by_creation(rss: list[Object], *, newest_first: bool = False) -> list[Object]:
    return sorted(rss, key=lambda rs: (meta(rs).get("creationTimestamp") or "", meta(rs).get("name") or ""),
                  reverse=newest_first)


def find_new_replica_set(d: Object, rss: list[Object]) -> Object | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash label)."""
    template = (d.get("spec") or {}).get("template") or {}
    for rs in by_creation(rss):
        if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template):
            return rs
    return None


def find_active_or_latest(new_rs: Object | None, old_rss: list[Object]) -> Object | None:
    """The only active ReplicaSet, or the newest if none is active; None if several are active."""
    if new_rs is None and not old_rss:
        return None
    ordered = by_creation(old_rss, newest_first=True)
    candidates = ordered + ([new_rs] if new_rs is not None else [])
    act = active(candidates)
    if not act:
        return new_rs if new_rs is not None else ordered[0]
    if len(act) == 1:
        return act[0]
    return None


def revision(obj: Object) -> int:
    try:
        return int((meta(obj).get("annotations") or {}).get(REVISION, "0") or "0")
    except ValueError:
        return 0


def max_revision(rss: list[Object]) -> int:
    return max((revision(rs) for rs in rss), default=0)


# --- annotations ------------------------------------------------------------------------------


def set_new_replica_set_annotations(d: Object, rs: Object, new_revision: int, *, exists: bool,
                                    history_limit_chars: int = REVISION_HISTORY_LIMIT_CHARS) -> bool:
    """Copy the Deployment's annotations and set the revision (and history) on `rs`, in place.

    Returns whether anything changed (upstream SetNewReplicaSetAnnotations).
    """
    rs_meta = rs.setdefault("metadata", {})
    annotations = rs_meta.setdefault("annotations", {})
    changed = False
    for k, v in ((meta(d).get("annotations")) or {}).items():
        if k in SKIP_COPY:
            continue
        if annotations.get(k) != v:
            annotations[k] = v
            changed = True
    old_revision_text = annotations.get(REVISION, "")
    try:
        old_revision = int(old_revision_text or "0")
    except ValueError:
        return changed
    if old_revision < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if exists and old_revision_text:
            history = annotations.get(REVISION_HISTORY, "")
            revisions = history.split(",") if history else []
            total = len(history) + len(old_revision_text) + 1
            start = 0
            while total > history_limit_chars and start < len(revisions):
                total -= len(revisions[start]) + 1
                start += 1
            if total <= history_limit_chars:
                annotations[REVISION_HISTORY] = ",".join([*revisions[start:], old_revision_text])
    if not exists:
        changed = set_replicas_annotations(rs, replicas_of(d), replicas_of(d) + max_surge(d)) or changed
    return changed


def set_replicas_annotations(rs: Object, desired: int, maximum: int) -> bool:
    annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if annotations.get(key) != value:
            annotations[key] = value
            changed = True
    return changed


def int_annotation(obj: Object, key: str) -> int | None:
    try:
        return int((meta(obj).get("annotations") or {})[key])
    except (KeyError, ValueError):
        return None


def is_saturated(d: Object, rs: Object | None) -> bool:
    if rs is None:
        return False
    replicas = replicas_of(d)
    return (int_annotation(rs, DESIRED_REPLICAS) == replicas and replicas_of(rs) == replicas
            and ((rs.get("status") or {}).get("availableReplicas") or 0) == replicas)


def _round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def get_proportion(rs: Object | None, d: Object, to_add: int, added: int) -> int:
    """The share of `to_add` replicas for `rs` when a Deployment is scaled mid-rollout.

    Worked example: replicas 10 -> 15 (surge 3 -> 4) while old RS has 8 and new has 5 (max-replicas
    annotation 13): old gets round(8 * 19 / 13) - 8 = 12 - 8 = 4, new gets round(5 * 19/13) - 5 = 2.
    """
    if rs is None or replicas_of(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _replica_set_fraction(rs: Object, d: Object) -> int:
    replicas = replicas_of(d)
    if replicas == 0:
        return -replicas_of(rs)
    deployment_replicas = replicas + max_surge(d)
    annotated = int_annotation(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = (d.get("status") or {}).get("replicas") or 0
    if annotated == 0:
        return 0
    return _round_half_away(replicas_of(rs) * deployment_replicas / annotated) - replicas_of(rs)


# --- status and conditions --------------------------------------------------------------------


def get_condition(status: Object, type_: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def new_condition(type_: str, status: str, reason: str, message: str, now: dt.datetime) -> dict[str, Any]:
    stamp = rfc3339(now)
    return {"type": type_, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def set_condition(status: Object, cond: dict[str, Any]) -> None:
    """Set `cond` in `status`, in place; a same-status same-reason condition is left alone,
    and a same-status condition keeps its lastTransitionTime (upstream SetDeploymentCondition)."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]] + [cond]


def remove_condition(status: Object, type_: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != type_]


def calculate_status(all_rss: list[Object], new_rs: Object | None, d: Object, now: dt.datetime) -> dict[str, Any]:
    available = status_sum(all_rss, "availableReplicas")
    old = d.get("status") or {}
    status: dict[str, Any] = {
        "observedGeneration": meta(d).get("generation") or 0,
        "replicas": status_sum(all_rss, "replicas"),
        "updatedReplicas": status_sum([new_rs] if new_rs is not None else [], "replicas"),
        "readyReplicas": status_sum(all_rss, "readyReplicas"),
        "availableReplicas": available,
        # Negative while scaling down with more available than wanted: that is zero unavailable.
        "unavailableReplicas": max(replicas_of(d) - available, 0),
        "conditions": copy.deepcopy(old.get("conditions") or []),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= replicas_of(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.",
                                            now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status


def deployment_complete(d: Object, status: Object) -> bool:
    replicas = replicas_of(d)
    return (status.get("updatedReplicas") == replicas and status.get("replicas") == replicas
            and status.get("availableReplicas") == replicas
            and (status.get("observedGeneration") or 0) >= (meta(d).get("generation") or 0))


def deployment_progressing(d: Object, new_status: Object) -> bool:
    """More updated, fewer old, more ready or more available pods than the recorded status."""
    old = d.get("status") or {}
    old_old = (old.get("replicas") or 0) - (old.get("updatedReplicas") or 0)
    new_old = (new_status.get("replicas") or 0) - (new_status.get("updatedReplicas") or 0)
    return ((new_status.get("updatedReplicas") or 0) > (old.get("updatedReplicas") or 0)
            or new_old < old_old
            or (new_status.get("readyReplicas") or 0) > (old.get("readyReplicas") or 0)
            or (new_status.get("availableReplicas") or 0) > (old.get("availableReplicas") or 0))


def has_progress_deadline(d: Object) -> bool:
    deadline = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return deadline is not None and deadline != 2**31 - 1


def deployment_timed_out(d: Object, status: Object, now: dt.datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    return since + dt.timedelta(seconds=(d.get("spec") or {})["progressDeadlineSeconds"]) < now
