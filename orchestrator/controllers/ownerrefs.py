"""Owner references and pod facts that several controllers share.

**Claiming** (adopt and release). An owner (a ReplicaSet, a Deployment) *controls* the objects
whose ``ownerReferences`` hold an entry for it with ``controller: true`` — at most one such entry
per object. A sync first claims its objects from the namespace:

- ours and matching our selector: keep;
- ours but no longer matching (someone relabelled it): **release** — remove our reference,
  so the object is an orphan and the owner makes a replacement;
- an orphan matching our selector: **adopt** — add a controller reference to us; but only
  after re-reading the owner from the API server (not the cache) to check that it is still
  the same object (same uid) and not being deleted: adopting into a dying owner would hand
  the object to the garbage collector;
- controlled by someone else: never touched.

Every patch carries the object's ``uid`` and ``resourceVersion``: if the object changed since
we looked (or is a new object with the same name), the API server answers 409 and the sync is
retried on fresh state, instead of writing a reference list computed from stale data.

Kubernetes equivalent: pkg/controller/controller_ref_manager.go, and pkg/api/v1/pod/util.go
(IsPodReady, IsPodAvailable).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from orchestrator.api.errors import Invalid, NotFound
from orchestrator.api.objects import TERMINAL_PHASES
from orchestrator.api.selectors import LabelSelector
from orchestrator.api.timestamps import parse_rfc3339_or_none
from orchestrator.client.rest import ApiClient

__all__ = [
    "CanAdopt",
    "claim",
    "controller_ref",
    "is_pod_active",
    "is_pod_available",
    "is_pod_ready",
    "new_controller_ref",
    "parse_time",
    "pod_ready_since",
]

log = logging.getLogger(__name__)

Object = dict[str, Any]
CanAdopt = Callable[[], Awaitable[None]]


def meta(obj: Object) -> dict[str, Any]:
    return obj.get("metadata") or {}


def controller_ref(obj: Object) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def new_controller_ref(owner: Object, *, api_version: str, kind: str) -> dict[str, Any]:
    """A controller reference to `owner`; blockOwnerDeletion lets Foreground deletion wait for us."""
    m = meta(owner)
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": m["name"],
        "uid": m["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


parse_time = parse_rfc3339_or_none  # the controllers' name for it (orchestrator/api/timestamps.py)


def is_pod_active(pod: Object) -> bool:
    """Counts toward replicas: not finished and not being deleted (upstream FilterActivePods)."""
    return (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES and not meta(pod).get("deletionTimestamp")


def _ready_condition(pod: Object) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def is_pod_ready(pod: Object) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def pod_ready_since(pod: Object) -> dt.datetime | None:
    """When the pod became ready (its Ready condition's lastTransitionTime), if it is ready."""
    cond = _ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def is_pod_available(pod: Object, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready for at least `min_ready_seconds` (upstream IsPodAvailable)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = pod_ready_since(pod)
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) <= now


def claimable(obj: Object, owner_uid: str | None, selector: LabelSelector) -> bool:
    """Whether `claim` could keep, release or adopt `obj` for the owner: it is the owner's, or an
    orphan the selector matches. Filtering candidates with it first spares copying the rest (a
    Deployment among 300 in one namespace copied all 300 ReplicaSets on every sync)."""
    ref = controller_ref(obj)
    if ref is not None:
        return bool(ref.get("uid") == owner_uid)
    return selector.matches(meta(obj).get("labels") or {})


async def claim(
    *,
    client: ApiClient,
    resource: str,
    owner: Object,
    owner_api_version: str,
    owner_kind: str,
    selector: LabelSelector,
    candidates: Iterable[Object],
    can_adopt: CanAdopt,
) -> list[Object]:
    """The objects `owner` controls after adopting matching orphans and releasing strays.

    `can_adopt` is awaited once, before the first adoption; it raises to refuse adopting.
    """
    owner_meta = meta(owner)
    owner_uid = owner_meta.get("uid")
    owner_deleting = bool(owner_meta.get("deletionTimestamp"))
    checked = False
    claimed: list[Object] = []
    for obj in candidates:
        m = meta(obj)
        labels = m.get("labels") or {}
        ref = controller_ref(obj)
        if ref is not None:
            if ref.get("uid") != owner_uid:
                continue  # someone else's
            if selector.matches(labels):
                claimed.append(obj)
            elif not owner_deleting:
                await _release(client, resource, obj, owner_uid)
            continue
        if owner_deleting or m.get("deletionTimestamp") or not selector.matches(labels):
            continue
        if not checked:
            await can_adopt()
            checked = True
        adopted = await _adopt(client, resource, obj, new_controller_ref(owner, api_version=owner_api_version,
                                                                         kind=owner_kind))
        if adopted is not None:
            claimed.append(adopted)
    return claimed


async def _adopt(client: ApiClient, resource: str, obj: Object, ref: dict[str, Any]) -> Object | None:
    m = meta(obj)
    refs = [r for r in m.get("ownerReferences") or [] if r.get("uid") != ref["uid"]] + [ref]
    patch = {"metadata": {"ownerReferences": refs, "uid": m.get("uid"), "resourceVersion": m.get("resourceVersion")}}
    try:
        adopted = await client.patch(resource, m["name"], patch, namespace=m.get("namespace"))
    except NotFound:
        return None  # gone meanwhile: nothing to adopt
    log.info("adopted %s %s/%s into %s %s", resource, m.get("namespace"), m["name"], ref["kind"], ref["name"])
    return adopted


async def _release(client: ApiClient, resource: str, obj: Object, owner_uid: str | None) -> None:
    m = meta(obj)
    refs = [r for r in m.get("ownerReferences") or [] if r.get("uid") != owner_uid]
    patch = {"metadata": {"ownerReferences": refs or None, "uid": m.get("uid"),
                          "resourceVersion": m.get("resourceVersion")}}
    try:
        await client.patch(resource, m["name"], patch, namespace=m.get("namespace"))
    except (NotFound, Invalid):
        return  # gone, or changed so it cannot be patched: nothing left to release
    log.info("released %s %s/%s from owner %s", resource, m.get("namespace"), m["name"], owner_uid)
