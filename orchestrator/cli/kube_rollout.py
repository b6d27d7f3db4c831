"""``labctl rollout status|undo|history`` for Deployments, and ``labctl scale``.

**status** reads only the Deployment's status, as kubectl does (`rollout_status` below is
kubectl's DeploymentStatusViewer, sentence for sentence): until the controller has observed the
newest generation it waits for that; then for every replica to be updated, for the old ones to be
gone, for the updated ones to be available. Each change of the sentence is printed once, and
a watch on the one Deployment wakes the check, so it costs nothing while nothing happens.

**undo** is a template change: the controller gives each ReplicaSet of a Deployment a
``deployment.kubernetes.io/revision``; undo finds the ReplicaSet of the previous revision (or
``--to-revision N``) and writes its pod template (minus the ``pod-template-hash`` label) back
into the Deployment with a JSON patch, together with that ReplicaSet's annotations. The
controller then recognises the old ReplicaSet as the new one and gives it the next revision.

**scale** patches the ``scale`` subresource, as `kubectl scale` does.

Kubernetes equivalent: staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go,
rollback.go, history.go; pkg/cmd/scale/scale.go.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncGenerator, Callable
from typing import Any, cast

from orchestrator.api.errors import Expired
from orchestrator.api.resources import ResourceInfo
from orchestrator.api.selectors import LabelSelector
from orchestrator.cli.errors import CliError
from orchestrator.client.rest import ApiClient, WatchEvent
from orchestrator.controllers import deploymentutil as du

DEPLOYMENTS = "deployments.apps"
REPLICASETS = "replicasets.apps"
CHANGE_CAUSE = "kubernetes.io/change-cause"


def rollout_status(d: dict[str, Any]) -> tuple[str, bool]:
    """(the sentence kubectl prints, done). Raises CliError past the progress deadline."""
    name = (d.get("metadata") or {}).get("name", "")
    status = d.get("status") or {}
    generation = int((d.get("metadata") or {}).get("generation") or 0)
    if generation > int(status.get("observedGeneration") or 0):
        return "Waiting for deployment spec update to be observed...", False
    progressing = du.get_condition(status, du.PROGRESSING)
    if progressing is not None and progressing.get("reason") == du.TIMED_OUT:
        raise CliError(f'deployment "{name}" exceeded its progress deadline')
    spec_replicas = (d.get("spec") or {}).get("replicas")
    replicas = int(status.get("replicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if spec_replicas is not None and updated < int(spec_replicas):
        return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of {spec_replicas} '
                "new replicas have been updated..."), False
    if replicas > updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {replicas - updated} old replicas '
                "are pending termination..."), False
    if available < updated:
        return (f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated '
                "replicas are available..."), False
    return f'deployment "{name}" successfully rolled out', True


def require_deployment(info: ResourceInfo, verb: str) -> None:
    if info.group_resource != DEPLOYMENTS:
        raise CliError(f"rollout {verb} works on deployments, not {info.plural}: e.g. deploy/web")


async def wait_rollout(client: ApiClient, name: str, *, namespace: str, timeout: float | None,
                       say: Callable[[str], None]) -> None:
    """Print each new status sentence until the rollout is done; CliError on timeout."""

    last = ""

    def done(d: dict[str, Any]) -> bool:
        nonlocal last
        message, finished = rollout_status(d)
        if message != last:
            say(message)
            last = message
        return finished

    async def follow() -> None:
        while True:
            d = await client.get(DEPLOYMENTS, name, namespace=namespace)
            if done(d):
                return
            since = (d.get("metadata") or {}).get("resourceVersion")
            # An async generator: closed explicitly when we return mid-stream, so the connection goes now.
            events = cast(AsyncGenerator[WatchEvent, None], client.watch(
                DEPLOYMENTS, namespace=namespace, resource_version=since, field_selector=f"metadata.name={name}",
                timeout_seconds=60))
            try:
                async with contextlib.aclosing(events):
                    async for type_, obj in events:
                        if type_ == "DELETED":
                            raise CliError(f'deployment "{name}" was deleted while its rollout was awaited')
                        if done(obj):
                            return
            except Expired:
                pass  # compacted away: read it again

    try:
        await asyncio.wait_for(follow(), timeout)
    except TimeoutError:
        raise CliError(f"timed out after {timeout:g}s waiting for deployment {name!r} to roll out") from None


def _owned(d: dict[str, Any], rss: list[dict[str, Any]]) -> list[dict[str, Any]]:
    uid = (d.get("metadata") or {}).get("uid")
    return [rs for rs in rss
            if any(ref.get("controller") and ref.get("uid") == uid
                   for ref in (rs.get("metadata") or {}).get("ownerReferences") or [])]


async def replica_sets_of(client: ApiClient, d: dict[str, Any]) -> list[dict[str, Any]]:
    """The ReplicaSets the Deployment controls (its selector, then its controller reference)."""
    meta = d.get("metadata") or {}
    selector = LabelSelector.from_structured((d.get("spec") or {}).get("selector"))
    listed = await client.list(REPLICASETS, namespace=meta.get("namespace"), label_selector=str(selector) or None)
    return _owned(d, listed.get("items") or [])


def rollback_target(rss: list[dict[str, Any]], to_revision: int, *, name: str) -> dict[str, Any]:
    """The ReplicaSet to roll back to: `to_revision`, or (0) the one before the newest."""
    if to_revision < 0:
        raise CliError(f"--to-revision must be >= 0, got {to_revision}")
    by_revision = sorted(rss, key=du.revision)
    if to_revision:
        for rs in by_revision:
            if du.revision(rs) == to_revision:
                return rs
        known = ", ".join(str(du.revision(rs)) for rs in by_revision) or "none"
        raise CliError(f"unable to find revision {to_revision} of deployment {name!r}; revisions: {known}")
    if len(by_revision) < 2:
        raise CliError(f"no previous revision of deployment {name!r} to roll back to")
    return by_revision[-2]


def rollback_patch(d: dict[str, Any], rs: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON patch kubectl sends: the old template, and the old ReplicaSet's annotations."""
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(du.TEMPLATE_HASH_LABEL, None)
    current = (d.get("metadata") or {}).get("annotations") or {}
    annotations = {k: v for k, v in current.items() if k in du.SKIP_COPY}
    annotations.update({k: v for k, v in ((rs.get("metadata") or {}).get("annotations") or {}).items()
                        if k not in du.SKIP_COPY})
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]


async def undo(client: ApiClient, name: str, *, namespace: str, to_revision: int) -> str:
    """Roll back; returns kubectl's line (``rolled back`` or ``skipped rollback (...)``)."""
    d = await client.get(DEPLOYMENTS, name, namespace=namespace)
    if (d.get("spec") or {}).get("paused"):
        raise CliError(f"deployment {name!r} is paused; resume it (spec.paused: false) before rolling back")
    rs = rollback_target(await replica_sets_of(client, d), to_revision, name=name)
    if du.equal_ignore_hash((d.get("spec") or {}).get("template") or {}, (rs.get("spec") or {}).get("template") or {}):
        return (f"deployment.apps/{name} skipped rollback (current template already matches revision "
                f"{du.revision(rs)})")
    await client.patch(DEPLOYMENTS, name, rollback_patch(d, rs), patch_type="json", namespace=namespace)
    return f"deployment.apps/{name} rolled back"


async def history(client: ApiClient, name: str, *, namespace: str) -> list[tuple[int, str]]:
    """(revision, change cause) of each ReplicaSet, oldest first: ``rollout history``."""
    d = await client.get(DEPLOYMENTS, name, namespace=namespace)
    rows = []
    for rs in await replica_sets_of(client, d):
        cause = ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE) or "<none>"
        rows.append((du.revision(rs), cause))
    return sorted(rows)


def require_scalable(info: ResourceInfo) -> None:
    if "scale" not in info.subresources:
        raise CliError(f"cannot scale {info.plural}: only deployments and replicasets have a scale subresource")


async def scale(client: ApiClient, info: ResourceInfo, name: str, *, namespace: str | None, replicas: int) -> None:
    require_scalable(info)
    await client.patch(info, name, {"spec": {"replicas": replicas}}, namespace=namespace, subresource="scale")
