"""``labctl apply -f``: create an object, or patch it to what the file says — kubectl's client-side apply.

Each applied object remembers what was applied in its annotation
``kubectl.kubernetes.io/last-applied-configuration`` (so `kubectl apply` and `labctl apply` can
take turns on the same objects). To apply `modified` (the file) to `live` (the server's object)
whose annotation holds `original` (the last file), the three-way merge goes:

1. remove what the last apply set and the file no longer has: the strategic merge patch from
   `original` to `modified`, applied to `live` (a label dropped from the file leaves the object);
2. set everything the file says, over whatever changed since (`kubectl scale` set replicas 5,
   the file says 3: back to 3) — `modified` itself applied as a strategic merge patch, so
   containers merge by name and fields the server defaulted stay;
3. send the strategic merge patch from `live` to that result: empty means **unchanged**,
   otherwise the object is **configured**. An object that does not exist is **created**.

Worked example: live has labels {app: web, tier: fe} and replicas 5 (scaled by hand); the
last-applied had labels {app: web, tier: fe}, replicas 3; the file now has labels {app: web},
replicas 3. Step 1 deletes ``tier``; step 2 sets replicas back to 3; the patch sent is
``{"metadata": {"labels": {"tier": null}, "annotations": {...}}, "spec": {"replicas": 3}}``.

The patch arithmetic is the API server's own (`orchestrator.api.strategicpatch`): pure functions,
so client and server merge lists by the same keys, as kubectl and kube-apiserver share
apimachinery's strategicpatch.

Kubernetes equivalent: staging/src/k8s.io/kubectl/pkg/cmd/apply/patcher.go,
apimachinery/pkg/util/strategicpatch (CreateThreeWayMergePatch).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any, Literal

from orchestrator.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from orchestrator.api.strategicpatch import create_two_way_merge_patch, strategic_merge_patch
from orchestrator.client.manifests import Manifest, ManifestError, namespace_of, type_name
from orchestrator.client.rest import ApiClient

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

Outcome = Literal["created", "configured", "unchanged"]


def with_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    """The object to send: the file's object plus the annotation recording it (without itself)."""
    recorded = copy.deepcopy(obj)
    # kubectl records `"annotations": {}` when there are none: the same text lets both tools
    # see "unchanged" after the other applied the same file.
    annotations = recorded["metadata"].get("annotations") or {}
    annotations.pop(LAST_APPLIED, None)
    recorded["metadata"]["annotations"] = annotations
    result = copy.deepcopy(recorded)
    result["metadata"].setdefault("annotations", {})[LAST_APPLIED] = (
        json.dumps(recorded, separators=(",", ":"), sort_keys=True) + "\n"
    )
    return result


def last_applied(live: dict[str, Any]) -> dict[str, Any] | None:
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def apply_patch(live: dict[str, Any], modified: dict[str, Any], original: dict[str, Any] | None,
                *, kind: str) -> dict[str, Any]:
    """The strategic merge patch that takes `live` to what `modified` asks (steps 1–3 above); {} if none."""
    target = live
    if original is not None:
        target = strategic_merge_patch(target, create_two_way_merge_patch(original, modified, kind=kind), kind=kind)
    target = strategic_merge_patch(target, modified, kind=kind)
    return create_two_way_merge_patch(live, target, kind=kind)


async def apply_one(client: ApiClient, manifest: Manifest, *, namespace: str | None,
                    warn: Callable[[str], None]) -> Outcome:
    info = manifest.info
    obj = copy.deepcopy(manifest.obj)
    ns = namespace_of(info, manifest.namespace or namespace)
    if ns is not None:
        obj["metadata"]["namespace"] = ns
    modified = with_last_applied(obj)
    try:
        live = await client.get(info, manifest.name, namespace=ns)
    except NotFound:
        await client.create(info, modified, namespace=ns)
        return "created"
    original = last_applied(live)
    if original is None:
        warn(f"{type_name(info)}/{manifest.name} is missing the {LAST_APPLIED} annotation "
             "(it was not made by apply); it is patched now and the annotation added")
    patch = apply_patch(live, modified, original, kind=info.kind)
    if not patch:
        return "unchanged"
    await client.patch(info, manifest.name, patch, patch_type="strategic", namespace=ns)
    return "configured"


def check_namespaces(manifests: list[Manifest], namespace: str | None) -> None:
    """As kubectl: a file's namespace and -n must agree, so -n never silently loses."""
    if namespace is None:
        return
    for m in manifests:
        if m.info.namespaced and m.namespace and m.namespace != namespace:
            raise ManifestError(f"{m.source}: the namespace of {type_name(m.info)}/{m.name} is {m.namespace!r}, "
                           f"not {namespace!r} as -n says; drop -n or pass -n {m.namespace}")


def describe_failure(manifest: Manifest, e: ApiError) -> str:
    return f"{manifest.source}: {type_name(manifest.info)}/{manifest.name}: {api_message(e)}"


def api_message(e: ApiError) -> str:
    """An API error as one line: the Status message, as kubectl prints it, plus its reason."""
    if isinstance(e, NotFound | AlreadyExists | Conflict):
        return e.message
    causes = "; ".join(f"{c.field}: {c.message}" if c.field else c.message for c in e.causes)
    detail = f" ({causes})" if causes and causes not in e.message else ""
    return f"the API server refused ({e.reason}): {e.message}{detail}"
