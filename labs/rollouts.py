"""Controllers at work: a rolling update recorded pod by pod, and what a cascading deletion removes first.

    samples = rollouts.record(lab, "web", change=lambda: lab.kubectl("set", "env", "deploy/web", "V=2"))
    rollouts.plot(samples, replicas=6, max_surge=1, max_unavailable=1)
    rollouts.follow_deletion(lab, "replicasets", "web-5d94f4b4f9", cascade="Foreground", selector="app=web")

`record` samples the Deployment's pods every ``interval`` seconds while the Deployment controller
rolls them from the old ReplicaSet to the new one, and tells old from new by the
``pod-template-hash`` label that every ReplicaSet stamps on its pods. A pod with a
deletionTimestamp is *terminating*: the controllers no longer count it.

`follow_deletion` deletes an owner with a propagation policy (``Background``, ``Foreground`` or
``Orphan``: ``kubectl delete --cascade=...``) and samples the owner and its dependents until the
story is over, so the order in which they disappear is visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from labs.errors import LabError
from labs.table import Table

HASH_LABEL = "pod-template-hash"
PATHS = {
    "deployments": "/apis/apps/v1/namespaces/{ns}/deployments",
    "replicasets": "/apis/apps/v1/namespaces/{ns}/replicasets",
    "pods": "/api/v1/namespaces/{ns}/pods",
}


def _path(resource: str, namespace: str, name: str = "") -> str:
    if resource not in PATHS:
        raise LabError(f"resource must be one of {', '.join(PATHS)}, not {resource!r}")
    return PATHS[resource].format(ns=namespace) + (f"/{name}" if name else "")


def _complete(deployment: dict[str, Any]) -> bool:
    """What `kubectl rollout status` waits for: the controller saw the latest spec, every replica is
    updated and available, and no old replica is left."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    replicas = spec.get("replicas", 1)
    return (
        status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
        and status.get("updatedReplicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
    )


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def record(
    lab: Any,
    deployment: str,
    *,
    change: Callable[[], Any] | None = None,
    namespace: str = "default",
    interval: float = 0.25,
    timeout: float = 90.0,
) -> Table:
    """Sample the Deployment's pods until its rollout is complete; ``change`` (e.g. a `kubectl set
    image`) runs after the first sample, so t≈0 is the change. Rows: t, old ready, old not ready,
    new ready, new not ready, terminating, pods (not terminating), available (the Deployment's own
    count), desired (the sum of its ReplicaSets' spec.replicas: what maxSurge bounds)."""
    raw: list[tuple[float, dict[str, list[int]], int, int, int]] = []
    start = time.monotonic()
    with lab.http() as client:
        dep = client.get(_path("deployments", namespace, deployment))
        if dep.status_code != 200:
            raise LabError(f"deployment {namespace}/{deployment}: {dep.status_code} {dep.text}")
        labels = dep.json()["spec"]["selector"].get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        changed = change is None
        while True:
            now = time.monotonic() - start
            pods = (
                client.get(_path("pods", namespace), params={"labelSelector": selector}).json().get("items")
                or []
            )
            dep_obj = client.get(_path("deployments", namespace, deployment)).json()
            sets = client.get(_path("replicasets", namespace), params={"labelSelector": selector}).json()[
                "items"
            ]
            desired = sum((rs.get("spec") or {}).get("replicas", 0) for rs in sets)
            by_hash: dict[str, list[int]] = {}
            terminating = 0
            for pod in pods:
                if pod["metadata"].get("deletionTimestamp"):
                    terminating += 1
                    continue
                counts = by_hash.setdefault(pod["metadata"].get("labels", {}).get(HASH_LABEL, "?"), [0, 0])
                counts[0 if _ready(pod) else 1] += 1
            available = (dep_obj.get("status") or {}).get("availableReplicas", 0)
            raw.append((round(now, 2), by_hash, terminating, available, desired))
            if not changed:
                change()  # type: ignore[misc]
                changed = True
            elif _complete(dep_obj) and len(by_hash) <= 1 and not terminating:
                break
            if now > timeout:
                raise LabError(f"the rollout of {deployment} did not complete within {timeout:.0f}s")
            time.sleep(max(0.0, interval - (time.monotonic() - start - now)))
    new_hash = next(iter(raw[-1][1]), "?")
    rows = []
    for t, by_hash, terminating, available, desired in raw:
        new = by_hash.get(new_hash, [0, 0])
        old = [sum(c[i] for h, c in by_hash.items() if h != new_hash) for i in (0, 1)]
        rows.append({"t": t, "old ready": old[0], "old not ready": old[1], "new ready": new[0],
                     "new not ready": new[1], "terminating": terminating,
                     "pods": old[0] + old[1] + new[0] + new[1], "available": available,
                     "desired": desired})  # fmt: skip
    return Table(rows, title=f"rollout of {namespace}/{deployment} (new pod-template-hash {new_hash})")


def plot(samples: Sequence[dict[str, Any]], *, replicas: int, max_surge: int, max_unavailable: int,
         title: str = "") -> Any:  # fmt: skip
    """Old and new ready pods and all pods over time, against the two limits of a rolling update."""
    from labs.plots import plot_timeline

    series = [(s["t"], {"old (ready)": s["old ready"], "new (ready)": s["new ready"],
                        "ready (old + new)": s["old ready"] + s["new ready"],
                        "desired by the ReplicaSets": s["desired"],
                        "pods (not terminating)": s["pods"]}) for s in samples]  # fmt: skip
    return plot_timeline(
        series,
        title=title
        or f"rolling update: replicas {replicas}, maxSurge {max_surge}, maxUnavailable {max_unavailable}",
        ylabel="pods",
        hlines={
            f"at most replicas + maxSurge = {replicas + max_surge} desired": replicas + max_surge,
            f"at least replicas - maxUnavailable = {replicas - max_unavailable} ready": replicas
            - max_unavailable,
        },
    )


def follow_deletion(
    lab: Any,
    resource: str,
    name: str,
    *,
    cascade: str,
    selector: str,
    dependents: str = "pods",
    namespace: str = "default",
    interval: float = 0.2,
    timeout: float = 60.0,
    settle: float = 3.0,
) -> Table:
    """Delete ``resource/name`` with propagationPolicy ``cascade`` and sample until the owner and its
    dependents (``dependents`` matching ``selector``) are gone — or, for Orphan, until the owner is gone
    and nothing changed for ``settle`` seconds. Rows (only when something changed): t, owner (exists /
    deleting [finalizers] / gone), how many dependents exist, how many of them are terminating, and how
    many still carry an ownerReference."""
    if cascade not in ("Background", "Foreground", "Orphan"):
        raise LabError(f"cascade must be Background, Foreground or Orphan, not {cascade!r}")
    rows: list[dict[str, Any]] = []
    start = time.monotonic()
    last_change = start
    with lab.http() as client:
        response = client.request(
            "DELETE",
            _path(resource, namespace, name),
            json={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": cascade},
        )
        if response.status_code not in (200, 202):
            raise LabError(f"deleting {resource}/{name}: {response.status_code} {response.text}")
        while True:
            now = time.monotonic()
            owner = client.get(_path(resource, namespace, name))
            if owner.status_code == 404:
                owner_state = "gone"
            else:
                meta = owner.json()["metadata"]
                owner_state = (
                    f"deleting {meta.get('finalizers') or []}" if meta.get("deletionTimestamp") else "exists"
                )
            response = client.get(_path(dependents, namespace), params={"labelSelector": selector})
            items = response.json()["items"]
            row = {
                "t": round(now - start, 1),
                "owner": owner_state,
                dependents: len(items),
                "terminating": sum(1 for i in items if i["metadata"].get("deletionTimestamp")),
                "with an ownerReference": sum(1 for i in items if i["metadata"].get("ownerReferences")),
            }
            if not rows or any(rows[-1][k] != row[k] for k in row if k != "t"):
                rows.append(row)
                last_change = now
            if owner_state == "gone" and (not items or (cascade == "Orphan" and now - last_change >= settle)):
                break
            if now - start > timeout:
                raise LabError(
                    f"waited {timeout:.0f}s for the {cascade} deletion of {resource}/{name}; last: {row}"
                )
            time.sleep(interval)
    return Table(rows, title=f"delete {resource}/{name} with propagationPolicy={cascade}")


def pods(lab: Any, selector: str, *, namespace: str = "default") -> Table:
    """The pods matching ``selector``: name, phase, node, owner (kind/name), terminating."""
    with lab.http() as client:
        items = (
            client.get(_path("pods", namespace), params={"labelSelector": selector}).json().get("items") or []
        )
    rows = []
    for pod in sorted(items, key=lambda p: p["metadata"]["name"]):
        owners = pod["metadata"].get("ownerReferences") or []
        rows.append({
            "name": pod["metadata"]["name"],
            "phase": (pod.get("status") or {}).get("phase"),
            "node": (pod.get("spec") or {}).get("nodeName"),
            "owner": ", ".join(f"{o['kind']}/{o['name']}" for o in owners) or None,
            "terminating": bool(pod["metadata"].get("deletionTimestamp")),
        })  # fmt: skip
    return Table(rows, title=f"pods {selector}", columns=("name", "phase", "node", "owner", "terminating"))


def replicasets(lab: Any, selector: str, *, namespace: str = "default") -> Table:
    """The ReplicaSets matching ``selector``: name, revision, desired, ready, owner, pod-template-hash."""
    with lab.http() as client:
        items = client.get(_path("replicasets", namespace), params={"labelSelector": selector}).json()[
            "items"
        ]
    rows = []
    for rs in items:
        meta = rs["metadata"]
        owners = meta.get("ownerReferences") or []
        rows.append({
            "name": meta["name"],
            "revision": (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision"),
            "desired": (rs.get("spec") or {}).get("replicas"),
            "ready": (rs.get("status") or {}).get("readyReplicas", 0),
            "owner": ", ".join(f"{o['kind']}/{o['name']}" for o in owners) or None,
            "pod-template-hash": (meta.get("labels") or {}).get(HASH_LABEL),
        })  # fmt: skip
    rows.sort(key=lambda r: int(r["revision"] or 0))
    return Table(rows, title=f"replicasets {selector}",
                 columns=("name", "revision", "desired", "ready", "owner", "pod-template-hash"))  # fmt: skip
