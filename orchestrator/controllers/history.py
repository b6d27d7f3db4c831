"""ControllerRevisions: the revision history of a StatefulSet's or a DaemonSet's pod template.

A revision is an immutable snapshot: ``data`` holds the template as a strategic-merge patch that
replaces the stored one (``{"spec": {"template": {..., "$patch": "replace"}}}``, upstream's
getPatch), ``revision`` its number (1, 2, ...), the name ``<owner>-<hash>``, a controller
reference to its owner, and the template's labels. `kubectl rollout history sts/NAME` (or ds/)
lists them with the ``kubernetes.io/change-cause`` annotation copied from the owner.

Kubernetes equivalent: pkg/controller/history/controller_history.go,
pkg/controller/statefulset/stateful_set_utils.go (getPatch, newRevision),
pkg/controller/daemon/update.go (constructHistory)
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from orchestrator.api.errors import NotFound
from orchestrator.client.rest import ApiClient
from orchestrator.controllers.ownerrefs import controller_ref, meta, new_controller_ref

__all__ = ["REVISIONS", "delete_old", "new_revision", "owned", "revision_data", "template_of"]

REVISIONS = "controllerrevisions.apps"
Object = dict[str, Any]


def revision_data(owner: Object) -> Object:
    """getPatch: the owner's template as a patch that replaces the stored one."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_of(revision: Object) -> Object:
    """The pod template a revision holds."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def owned(revisions: Iterable[Object], owner: Object) -> list[Object]:
    """The revisions `owner` controls, oldest revision number first."""
    uid = meta(owner).get("uid")
    mine = [r for r in revisions if (controller_ref(r) or {}).get("uid") == uid]
    return sorted(mine, key=lambda r: (int(r.get("revision") or 0), meta(r).get("name") or ""))


def new_revision(owner: Object, *, kind: str, name: str, data: Object, number: int) -> Object:
    """The ControllerRevision body for `data` (NewControllerRevision plus the owner's annotations)."""
    m = meta(owner)
    labels = dict((((owner.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": name, "namespace": m.get("namespace"), "labels": labels,
                         "annotations": dict(m.get("annotations") or {}),
                         "ownerReferences": [new_controller_ref(owner, api_version="apps/v1", kind=kind)]},
            "data": data, "revision": number}


async def delete_old(client: ApiClient, history: list[Object], *, live: set[str], limit: int) -> None:
    """Delete the oldest revisions no pod uses beyond `limit` (truncateHistory / cleanupHistory)."""
    unused = [r for r in history if meta(r)["name"] not in live]
    for old in unused[:max(0, len(unused) - limit)]:
        try:
            await client.delete(REVISIONS, meta(old)["name"], namespace=meta(old).get("namespace"))
        except NotFound:
            continue
