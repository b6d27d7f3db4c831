"""The DaemonSet controller: one pod of the template on every node that should run it.

`sync(key)`, level-triggered, in upstream's steps:

1. **claim pods** and group them by node (`nodeName`, or for a pod not bound yet the node its
   ``matchFields metadata.name In [node]`` affinity names);
2. **manage** (only when the key's expectations are satisfied) — for every node, decide with
   `node_should_run` whether the pod belongs there (nodeSelector, required node affinity, taints
   against the template's tolerations plus the ones every daemon pod gets):
   should run and has none: create one; should run and has a Failed one: delete it (a
   replacement follows); more than one (no surge): keep the oldest; should not run: delete them.
   Pods targeted at a node that no longer exists and never bound are deleted too; pods bound to
   a deleted node are the pod garbage collector's (podgc.py), as upstream;
3. **rolling update** (``updateStrategy.type: RollingUpdate``, after manage is satisfied) —
   old pods are those whose ``controller-revision-hash`` label is not the template's hash.
   Without surge: delete old pods while fewer than ``maxUnavailable`` nodes lack an available
   pod (an old pod that is unavailable anyway is always replaced); manage then creates the new
   one. With ``maxSurge``: create the new pod beside the old one on up to maxSurge nodes, and
   delete the old pod once the new one is available. ``OnDelete``: nothing, new pods come only
   when someone deletes old ones;
4. **update status** — desiredNumberScheduled, currentNumberScheduled, numberMisscheduled,
   numberReady, numberAvailable, numberUnavailable, updatedNumberScheduled, observedGeneration.

Pods are created unbound, with node affinity ``matchFields metadata.name In [<node>]``, and the
scheduler places them (its NodeAffinity plugin honours matchFields), as Kubernetes has done
since 1.12. The revision of a pod is its ``controller-revision-hash`` label (a hash of the
template) and its ``pod-template-generation`` label (the DaemonSet's
``deprecated.daemonset.template.generation`` annotation); a pod is up to date when either
matches. Each template is also kept as a ControllerRevision ``<name>-<hash>`` (constructHistory,
orchestrator/controllers/history.py), so `kubectl rollout history ds/NAME` lists them; revisions
beyond ``revisionHistoryLimit`` that no pod uses are deleted.

Kubernetes equivalent: pkg/controller/daemon/daemon_controller.go, pkg/controller/daemon/update.go,
pkg/controller/daemon/util/daemonset_util.go
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import math
from collections.abc import Iterator
from typing import Any

from orchestrator.api.errors import AlreadyExists, ApiError, Conflict, Invalid, NotFound
from orchestrator.api.selectors import LabelSelector
from orchestrator.client.informer import (
    DeletedFinalStateUnknown,
    deleted_object,
    meta_namespace_key,
    split_key,
)
from orchestrator.controllers.controller import (
    Controller,
    ControllerContext,
    Object,
    by_namespace,
    ensure_indexer,
    write_status,
)
from orchestrator.controllers.deploymentutil import compute_hash
from orchestrator.controllers.expectations import Expectations
from orchestrator.controllers.history import REVISIONS, delete_old, new_revision, owned, revision_data
from orchestrator.controllers.ownerrefs import (
    claim,
    controller_ref,
    is_pod_available,
    is_pod_ready,
    meta,
    parse_time,
)
from orchestrator.controllers.replicaset import BURST_REPLICAS, pod_from_template, slow_start_batch
from orchestrator.scheduler.plugins.nodeaffinity import match_requirement
from orchestrator.scheduler.plugins.tainttoleration import tolerates_taint

__all__ = ["DEFAULT_TOLERATIONS", "DaemonSetController", "new_daemon_pod", "node_should_run", "target_node"]

log = logging.getLogger(__name__)

REVISION_HASH_LABEL = "controller-revision-hash"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

#: What every daemon pod tolerates (upstream AddOrUpdateDaemonPodTolerations): a node agent that
#: stops reporting must not take its node's daemons with it, and node pressure or a cordon must
#: not keep the daemon (often the one that relieves it) away.
DEFAULT_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
_NETWORK_UNAVAILABLE = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"}


# --- the daemon pod and where it belongs ---------------------------------------------------------


def _tolerations(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    tolerations = list(pod_spec.get("tolerations") or [])
    wanted = [*DEFAULT_TOLERATIONS, *([_NETWORK_UNAVAILABLE] if pod_spec.get("hostNetwork") else [])]
    for extra in wanted:
        if not any(t.get("key") == extra["key"] and t.get("effect") == extra["effect"] for t in tolerations):
            tolerations.append(dict(extra))
    return tolerations


def new_daemon_pod(ds: Object, node_name: str | None, *, revision_hash: str) -> Object:
    """The pod `ds` runs on `node_name`: its template, the default tolerations, the revision labels
    and -- with a node -- required node affinity for exactly that node (the scheduler binds it)."""
    pod = pod_from_template(ds, api_version="apps/v1", kind="DaemonSet")
    labels = pod["metadata"]["labels"]
    labels[REVISION_HASH_LABEL] = revision_hash
    labels[TEMPLATE_GENERATION_LABEL] = str(template_generation(ds))
    spec = pod["spec"]
    spec["tolerations"] = _tolerations(spec)
    if node_name is not None:
        # ReplaceDaemonSetPodNodeNameNodeAffinity: the template's required terms are replaced, its
        # preferred ones kept; the node was chosen with the template's own terms already.
        affinity = spec.setdefault("affinity", {})
        node_affinity = affinity.setdefault("nodeAffinity", {})
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    return pod


def template_generation(ds: Object) -> int:
    try:
        return int((meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION) or 0)
    except ValueError:
        return 0


def target_node(pod: Object) -> str | None:
    """The node a daemon pod is for: its nodeName, else its ``metadata.name In [node]`` term."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and len(
                    field.get("values") or []) == 1:
                return str(field["values"][0])
    return None


def _matches_term(term: dict[str, Any], node: Object) -> bool:
    expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not expressions and not fields:
        return False
    labels = meta(node).get("labels") or {}
    return (all(match_requirement(r, labels.get(r.get("key", ""))) for r in expressions)
            and all(r.get("key") == "metadata.name" and match_requirement(r, meta(node).get("name"))
                    for r in fields))


def _fits_node_affinity(pod_spec: dict[str, Any], node: Object) -> bool:
    labels = meta(node).get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return True
    return any(_matches_term(term, node) for term in required.get("nodeSelectorTerms") or [])


def _untolerated(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]], effects: set[str]) -> bool:
    return any(t.get("effect") in effects and not any(tolerates_taint(tol, t) for tol in tolerations)
               for t in taints)


def node_should_run(ds: Object, node: Object) -> tuple[bool, bool]:
    """(should run a daemon pod, should keep running one it has) -- upstream NodeShouldRunDaemonPod.

    A NoSchedule taint keeps new daemon pods away but leaves a running one alone; only an
    untolerated NoExecute taint (or a selector/affinity that no longer matches) removes it.
    """
    pod_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    if pod_spec.get("nodeName") and pod_spec["nodeName"] != meta(node).get("name"):
        return False, False
    if not _fits_node_affinity(pod_spec, node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = _tolerations(pod_spec)
    if _untolerated(taints, tolerations, {"NoSchedule", "NoExecute"}):
        return False, not _untolerated(taints, tolerations, {"NoExecute"})
    return True, True


def _oldest_first(pods: list[Object]) -> list[Object]:
    """Scheduled pods first, then by creation time and name (podByCreationTimestampAndPhase)."""
    def key(pod: Object) -> tuple[int, float, str]:
        created = parse_time(meta(pod).get("creationTimestamp"))
        return (0 if (pod.get("spec") or {}).get("nodeName") else 1,
                created.timestamp() if created else 0.0, meta(pod).get("name", ""))
    return sorted(pods, key=key)


def _scaled(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent of `total` (maxUnavailable and maxSurge both round up for DaemonSets)."""
    if isinstance(value, str) and value.endswith("%"):
        share = int(value[:-1]) * total / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value or 0)


class DaemonSetController(Controller):
    name = "daemonset"
    default_workers = 2  # kube-controller-manager's --concurrent-daemonset-syncs

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None,
                 burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__(ctx, workers=workers)
        self.burst_replicas = burst_replicas
        self.expectations: Expectations = Expectations(clock=ctx.clock)
        self.ds_informer = ctx.factory.informer("daemonsets.apps", namespace=ctx.namespace)
        self.pod_informer = ctx.factory.informer("pods", namespace=ctx.namespace)
        self.node_informer = ctx.factory.informer("nodes")
        self.revision_informer = ctx.factory.informer(REVISIONS, namespace=ctx.namespace)
        ensure_indexer(self.ds_informer, "namespace", by_namespace)
        ensure_indexer(self.pod_informer, "namespace", by_namespace)
        ensure_indexer(self.revision_informer, "namespace", by_namespace)
        self.ds_informer.add_handler(on_add=self.enqueue, on_update=lambda old, cur: self.enqueue(cur),
                                     on_delete=self._delete_ds)
        self.pod_informer.add_handler(on_add=self._add_pod, on_update=self._update_pod, on_delete=self._delete_pod)
        self.node_informer.add_handler(on_add=lambda node: self.resync_all(), on_update=self._update_node,
                                       on_delete=lambda node: self.resync_all())

    def resync_all(self) -> None:
        for ds in self.ds_informer.list():
            self.enqueue(ds)

    # --- handlers: compute keys, never reconcile ---------------------------------------------

    def _delete_ds(self, obj: Object | DeletedFinalStateUnknown) -> None:
        key = meta_namespace_key(obj)
        self.expectations.delete(key)
        self.queue.add(key)

    def _update_node(self, old: Object, cur: Object) -> None:
        # Only what decides placement matters; the node agent's status heartbeats do not.
        if meta(old).get("labels") != meta(cur).get("labels") or old.get("spec") != cur.get("spec"):
            self.resync_all()

    def _owner(self, pod: Object) -> Object | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "DaemonSet":
            return None
        ds = self.ds_informer.get(f"{meta(pod).get('namespace')}/{ref.get('name')}")
        return ds if ds is not None and meta(ds).get("uid") == ref.get("uid") else None

    def _enqueue_matching(self, pod: Object) -> None:
        labels = meta(pod).get("labels") or {}
        for ds in self.ds_informer.by_index("namespace", meta(pod).get("namespace") or ""):
            try:
                selector = LabelSelector.from_structured((ds.get("spec") or {}).get("selector"))
            except Invalid:
                continue
            if not selector.empty and selector.matches(labels):
                self.enqueue(ds)

    def _add_pod(self, pod: Object) -> None:
        if meta(pod).get("deletionTimestamp"):
            self._delete_pod(pod)
            return
        ds = self._owner(pod)
        if ds is not None:
            key = meta_namespace_key(ds)
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _update_pod(self, old: Object, cur: Object) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        if meta(cur).get("deletionTimestamp"):
            self._delete_pod(cur)
            return
        ds = self._owner(cur)
        if ds is not None:
            self.enqueue(ds)
            min_ready = (ds.get("spec") or {}).get("minReadySeconds") or 0
            if min_ready > 0 and not is_pod_ready(old) and is_pod_ready(cur):
                self.enqueue_after(ds, min_ready + 1)  # it becomes available then
        elif controller_ref(cur) is None:
            self._enqueue_matching(cur)
        old_owner = self._owner(old)
        if old_owner is not None and old_owner is not ds:
            self.enqueue(old_owner)

    def _delete_pod(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = deleted_object(obj)
        ds = self._owner(pod)
        if ds is None:
            return
        key = meta_namespace_key(ds)
        self.expectations.deletion_observed(key, meta_namespace_key(pod))
        self.queue.add(key)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        ds = self.ds_informer.get(key)
        if ds is None:
            self.expectations.delete(key)
            return
        if meta(ds).get("deletionTimestamp"):
            return  # the garbage collector takes its pods
        nodes = [n for n in self.node_informer.list() if not meta(n).get("deletionTimestamp")]
        revision_hash = compute_hash((ds.get("spec") or {}).get("template") or {})
        node_pods = await self._node_to_daemon_pods(ds, namespace or "")
        await self._construct_history(ds, revision_hash, node_pods)
        if self.expectations.satisfied(key):
            await self._manage(ds, nodes, node_pods, revision_hash)
            strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
            if self.expectations.satisfied(key) and strategy.get("type", "RollingUpdate") == "RollingUpdate":
                # Read the pods again: the ones manage just created may already be in the cache
                # (that is what satisfied the expectations), and each counts as unavailable.
                node_pods = await self._node_to_daemon_pods(ds, namespace or "")
                await self._rolling_update(ds, nodes, node_pods, revision_hash)
        await self._update_status(ds, nodes, node_pods, revision_hash)

    async def _construct_history(self, ds: Object, revision_hash: str, node_pods: dict[str, list[Object]]) -> None:
        """The ControllerRevision of the current template (the newest number; an old template
        applied again gets its revision back with the next number), and the history truncated."""
        m = meta(ds)
        history = owned(self.revision_informer.by_index("namespace", m.get("namespace") or ""), ds)
        name = f"{m['name']}-{revision_hash}"
        newest = max((int(r.get("revision") or 0) for r in history), default=0)
        current = next((r for r in history if meta(r).get("name") == name), None)
        try:
            if current is None:
                await self.client.create(REVISIONS, new_revision(ds, kind="DaemonSet", name=name,
                                                                 data=revision_data(ds), number=newest + 1))
            elif int(current.get("revision") or 0) < newest:
                await self.client.update(REVISIONS, {**current, "revision": newest + 1})
        except (AlreadyExists, Conflict):
            pass  # made or bumped by a sync whose cache had not seen it yet: the next sync looks again
        live = {name, *(f"{m['name']}-{(meta(p).get('labels') or {}).get(REVISION_HASH_LABEL)}"
                        for pods in node_pods.values() for p in pods)}
        await delete_old(self.client, history, live=live,
                         limit=int((ds.get("spec") or {}).get("revisionHistoryLimit", 10) or 0))

    async def _node_to_daemon_pods(self, ds: Object, namespace: str) -> dict[str, list[Object]]:
        async def can_adopt() -> None:
            m = meta(ds)
            fresh = await self.client.get("daemonsets.apps", m["name"], namespace=m.get("namespace"))
            if meta(fresh).get("uid") != m.get("uid") or meta(fresh).get("deletionTimestamp"):
                raise Conflict(f"DaemonSet {m.get('namespace')}/{m['name']} is gone or being deleted")

        selector = LabelSelector.from_structured((ds.get("spec") or {}).get("selector"))
        candidates = self.pod_informer.by_index("namespace", namespace)
        pods = await claim(client=self.client, resource="pods", owner=ds, owner_api_version="apps/v1",
                           owner_kind="DaemonSet", selector=selector, candidates=candidates, can_adopt=can_adopt)
        by_node: dict[str, list[Object]] = {}
        for pod in pods:
            node = target_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        return by_node

    def _is_updated(self, pod: Object, ds: Object, revision_hash: str) -> bool:
        labels = meta(pod).get("labels") or {}
        return (labels.get(REVISION_HASH_LABEL) == revision_hash
                or labels.get(TEMPLATE_GENERATION_LABEL) == str(template_generation(ds)))

    async def _manage(self, ds: Object, nodes: list[Object], node_pods: dict[str, list[Object]],
                      revision_hash: str) -> None:
        surge = self._max_surge_and_unavailable(ds, nodes)[0] > 0
        to_create: list[str] = []
        to_delete: list[Object] = []
        for node in nodes:
            name = meta(node)["name"]
            should_run, should_continue = node_should_run(ds, node)
            pods = node_pods.get(name, [])
            if should_run and not pods:
                to_create.append(name)
            elif should_continue:
                running = []
                for pod in pods:
                    if meta(pod).get("deletionTimestamp"):
                        continue
                    if (pod.get("status") or {}).get("phase") == "Failed":
                        self.recorder.event(ds, "Warning", "FailedDaemonPod",
                                            f"Found failed daemon pod {meta(pod).get('namespace')}/"
                                            f"{meta(pod)['name']} on node {name}, will try to kill it")
                        to_delete.append(pod)
                    else:
                        running.append(pod)
                to_delete += self._surplus(ds, _oldest_first(running), revision_hash, surge=surge)
            elif pods:
                to_delete += [p for p in pods if not meta(p).get("deletionTimestamp")]
        # Pods aimed at a node that is gone and never bound: nobody else will remove them.
        known = {meta(n)["name"] for n in nodes}
        for name, pods in node_pods.items():
            if name not in known:
                to_delete += [p for p in pods if not (p.get("spec") or {}).get("nodeName")
                              and not meta(p).get("deletionTimestamp")]
        await self._sync_nodes(ds, to_delete, to_create, revision_hash)

    def _surplus(self, ds: Object, running: list[Object], revision_hash: str, *, surge: bool) -> list[Object]:
        """Of one node's running daemon pods (oldest first), those that must go."""
        if len(running) <= 1:
            return []
        if not surge:
            return running[1:]
        # With surge, one old and one new pod may share a node -- until the new one is available.
        newest_kept: Object | None = None
        oldest_old: Object | None = None
        extra: list[Object] = []
        for pod in running:
            if self._is_updated(pod, ds, revision_hash):
                if newest_kept is None:
                    newest_kept = pod
                    continue
            elif oldest_old is None:
                oldest_old = pod
                continue
            extra.append(pod)
        min_ready = (ds.get("spec") or {}).get("minReadySeconds") or 0
        if newest_kept is not None and oldest_old is not None and is_pod_available(
                newest_kept, min_ready, dt.datetime.now(dt.UTC)):
            extra.append(oldest_old)
        return extra

    def _max_surge_and_unavailable(self, ds: Object, nodes: list[Object]) -> tuple[int, int]:
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return 0, 0
        rolling = strategy.get("rollingUpdate") or {}
        desired = sum(1 for n in nodes if node_should_run(ds, n)[0])
        surge = _scaled(rolling.get("maxSurge"), desired, round_up=True)
        unavailable = _scaled(rolling.get("maxUnavailable", 1), desired, round_up=True)
        if surge == 0 and unavailable == 0:
            unavailable = 1  # as upstream: a rollout must be able to make progress
        return surge, unavailable

    async def _rolling_update(self, ds: Object, nodes: list[Object], node_pods: dict[str, list[Object]],
                              revision_hash: str) -> None:
        max_surge, max_unavailable = self._max_surge_and_unavailable(ds, nodes)
        min_ready = (ds.get("spec") or {}).get("minReadySeconds") or 0
        now = dt.datetime.now(dt.UTC)
        known = {meta(n)["name"]: n for n in nodes}
        old_to_delete: list[Object] = []
        new_nodes: list[str] = []
        if max_surge == 0:
            # A node that should run a pod and has none is down too (its pod is on its way).
            unavailable = sum(1 for name, node in known.items()
                              if name not in node_pods and node_should_run(ds, node)[0])
            always: list[Object] = []
            candidates: list[Object] = []
            for pods in node_pods.values():
                found = self._new_and_old(ds, pods, revision_hash)
                if found is None:
                    unavailable += 1
                    continue
                new, old = found
                if (new is None) == (old is None):
                    unavailable += 1  # manage creates or deletes here: count it down meanwhile
                elif new is not None:
                    if not is_pod_available(new, min_ready, now):
                        unavailable += 1
                elif old is not None and not is_pod_available(old, min_ready, now):
                    always.append(old)  # down anyway: replacing it costs nothing
                elif old is not None and unavailable < max_unavailable:
                    candidates.append(old)
            room = max(0, min(max_unavailable - unavailable, len(candidates)))
            old_to_delete = always + candidates[:room]
        else:
            surged = 0
            allowed: list[str] = []
            candidate_nodes: list[str] = []
            for name, pods in node_pods.items():
                found = self._new_and_old(ds, pods, revision_hash)
                if found is None:
                    surged += 1
                    continue
                new, old = found
                if old is None:
                    continue
                if new is None:
                    if not is_pod_available(old, min_ready, now):
                        if name in known and node_should_run(ds, known[name])[0]:
                            allowed.append(name)
                    elif surged < max_surge:
                        candidate_nodes.append(name)
                elif not is_pod_available(new, min_ready, now):
                    surged += 1
                else:
                    old_to_delete.append(old)
            room = max(0, min(max_surge - surged, len(candidate_nodes)))
            new_nodes = allowed + candidate_nodes[:room]
        if old_to_delete or new_nodes:
            log.info("%s: rolling update of %s: deleting %d old pods, surging on %d nodes", self.name,
                     meta_namespace_key(ds), len(old_to_delete), len(new_nodes))
            await self._sync_nodes(ds, old_to_delete, new_nodes, revision_hash)

    def _new_and_old(self, ds: Object, pods: list[Object], revision_hash: str
                     ) -> tuple[Object | None, Object | None] | None:
        """(the up-to-date pod, the old pod) of one node; None when it has two of a kind
        (manage sorts that out first) -- upstream findUpdatedPodsOnNode."""
        new = old = None
        for pod in pods:
            if meta(pod).get("deletionTimestamp"):
                continue
            if self._is_updated(pod, ds, revision_hash):
                if new is not None:
                    return None
                new = pod
            else:
                if old is not None:
                    return None
                old = pod
        return new, old

    async def _sync_nodes(self, ds: Object, to_delete: list[Object], to_create: list[str],
                          revision_hash: str) -> None:
        key = meta_namespace_key(ds)
        to_create = to_create[:self.burst_replicas]
        to_delete = to_delete[:self.burst_replicas]
        if not to_create and not to_delete:
            return
        # Expect before acting: the informer's events may arrive before the requests return.
        self.expectations.expect(key, creations=len(to_create), deletions=[meta_namespace_key(p) for p in to_delete])
        errors: list[BaseException] = []
        if to_create:
            names: Iterator[str] = iter(to_create)
            attempted = 0

            async def create_one() -> None:
                nonlocal attempted
                attempted += 1
                node = next(names)
                try:
                    created = await self.client.create("pods", new_daemon_pod(ds, node, revision_hash=revision_hash))
                except ApiError as err:
                    self.expectations.creation_observed(key)
                    self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {err}")
                    raise
                self.recorder.event(ds, "Normal", "SuccessfulCreate", f"Created pod: {meta(created)['name']}")

            _, error = await slow_start_batch(len(to_create), create_one)
            self.expectations.lower_expectations(key, add=len(to_create) - attempted)
            if error is not None:
                errors.append(error)

        async def delete_one(pod: Object) -> None:
            m = meta(pod)
            try:
                await self.client.delete("pods", m["name"], namespace=m.get("namespace"),
                                         preconditions={"uid": m["uid"]})
            except NotFound:
                self.expectations.deletion_observed(key, meta_namespace_key(pod))
                return
            except ApiError as err:
                self.expectations.deletion_observed(key, meta_namespace_key(pod))
                self.recorder.event(ds, "Warning", "FailedDelete", f"Error deleting: {err}")
                raise
            self.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {m['name']}")

        results = await asyncio.gather(*(delete_one(copy.deepcopy(p)) for p in to_delete), return_exceptions=True)
        errors += [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _update_status(self, ds: Object, nodes: list[Object], node_pods: dict[str, list[Object]],
                             revision_hash: str) -> None:
        min_ready = (ds.get("spec") or {}).get("minReadySeconds") or 0
        now = dt.datetime.now(dt.UTC)
        desired = current = misscheduled = ready = available = updated = 0
        for node in nodes:
            should_run, _ = node_should_run(ds, node)
            pods = node_pods.get(meta(node)["name"], [])
            if not should_run:
                misscheduled += 1 if pods else 0
                continue
            desired += 1
            if not pods:
                continue
            current += 1
            pod = _oldest_first(pods)[0]
            if is_pod_ready(pod):
                ready += 1
                if is_pod_available(pod, min_ready, now):
                    available += 1
            if self._is_updated(pod, ds, revision_hash):
                updated += 1
        status: dict[str, Any] = {
            "currentNumberScheduled": current, "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired, "numberReady": ready,
            "observedGeneration": meta(ds).get("generation") or 0,
            "updatedNumberScheduled": updated, "numberAvailable": available,
            "numberUnavailable": desired - available,
        }
        old = ds.get("status") or {}
        if any((old.get(k) or 0) != v for k, v in status.items()):
            if old.get("conditions"):
                status["conditions"] = old["conditions"]
            await write_status(self.client, "daemonsets.apps", ds, status)
        if min_ready > 0 and ready != available:
            self.queue.add_after(meta_namespace_key(ds), min_ready)
