"""The StatefulSet controller: pods with stable names and storage, started and stopped in order.

A StatefulSet ``web`` with 3 replicas owns the pods ``web-0``, ``web-1``, ``web-2`` (hostname the
pod's name, subdomain ``spec.serviceName``, so ``web-0.nginx.<ns>.svc`` resolves through the
headless Service) and, per ``volumeClaimTemplates`` entry ``www``, the claims ``www-web-0``...
which are created before their pod and never deleted by this controller: a pod deleted, or
scaled away and back, gets the same claim and so the same data.

`sync(key)`, level-triggered, in upstream's steps (updateStatefulSet):

1. **revisions** — the template is stored as a ControllerRevision ``<name>-<hash>`` (``data``:
   the template as a patch, ``revision``: 1, 2, ...); the *update revision* is the one of the
   current template, the *current revision* the one ``status.currentRevision`` names. Old
   revisions beyond ``revisionHistoryLimit`` that no pod uses are deleted. `kubectl rollout
   history sts/NAME` lists them;
2. **sort the pods** into ``replicas`` (ordinals ``0..replicas-1``, a missing one planned at the
   revision it should have: the current one below the partition, the update one above) and
   ``condemned`` (ordinals beyond, highest first);
3. **each replica in ordinal order**: a Failed or Succeeded pod is deleted (recreated next sync);
   a missing one is created, its claims first. With ``podManagementPolicy: OrderedReady``
   (*monotonic*) the loop stops after a creation and at the first pod that is terminating or not
   Running and Ready (and available for ``minReadySeconds``): ``web-1`` is not created before
   ``web-0`` is ready. ``Parallel`` does them all at once;
4. **condemned, highest ordinal first**: deleted one at a time, each only once every pod before it
   is healthy (OrderedReady), or all at once (Parallel);
5. **rolling update** (``updateStrategy.type: RollingUpdate``): from the highest ordinal down to
   ``rollingUpdate.partition``, the first pod not at the update revision is deleted (step 3 then
   recreates it at the new revision); an unhealthy pod on the way stops the walk. ``OnDelete``:
   pods change revision only when someone deletes them;
6. **status** — replicas, readyReplicas, availableReplicas, currentReplicas, updatedReplicas,
   currentRevision, updateRevision, observedGeneration; once every pod is at the update revision
   and ready, the current revision becomes the update revision.

Ordinals start at ``spec.ordinals.start`` (default 0). Not done here:
``persistentVolumeClaimRetentionPolicy: Delete`` (validated, the claims are kept anyway) and
``maxUnavailable`` in rolling updates.

Kubernetes equivalent: pkg/controller/statefulset/stateful_set.go, stateful_set_control.go
(updateStatefulSet, processReplica, processCondemned), stateful_set_utils.go,
pkg/controller/history/controller_history.go
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import logging
import re
from collections.abc import Awaitable, Callable
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
from orchestrator.controllers.history import (
    REVISIONS,
    delete_old,
    new_revision,
    owned,
    revision_data,
    template_of,
)
from orchestrator.controllers.ownerrefs import (
    claim,
    controller_ref,
    is_pod_available,
    is_pod_ready,
    meta,
)
from orchestrator.controllers.replicaset import pod_from_template

__all__ = ["REVISION_LABEL", "StatefulSetController", "claim_name", "get_ordinal", "new_statefulset_pod",
           "plan_replicas"]

log = logging.getLogger(__name__)

STS, PODS, PVCS = "statefulsets.apps", "pods", "persistentvolumeclaims"
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


# --- identity and storage of one replica ----------------------------------------------------------


def get_ordinal(sts_name: str, pod: Object) -> int | None:
    """The ordinal of a pod named ``<sts>-<n>``; None for any other name."""
    match = _ORDINAL.match(meta(pod).get("name") or "")
    if match is None or match.group(1) != sts_name:
        return None
    return int(match.group(2))


def claim_name(template_name: str, sts_name: str, ordinal: int) -> str:
    return f"{template_name}-{sts_name}-{ordinal}"


def _start(sts: Object) -> int:
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def new_statefulset_pod(sts: Object, template: Object, ordinal: int, revision: str) -> Object:
    """newStatefulSetPod + setPodRevision: the template, the stable name, hostname and subdomain,
    one claim volume per volumeClaimTemplate, and the revision label."""
    spec = sts.get("spec") or {}
    pod = pod_from_template({**sts, "spec": {**spec, "template": template}}, api_version="apps/v1",
                            kind="StatefulSet")
    name = f"{meta(sts)['name']}-{ordinal}"
    pod_meta = pod["metadata"]
    del pod_meta["generateName"]
    pod_meta["name"] = name
    pod_meta["labels"].update({POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal), REVISION_LABEL: revision})
    pod_spec = pod["spec"]
    pod_spec["hostname"] = name
    pod_spec["subdomain"] = spec.get("serviceName") or ""
    claims = {str((t.get("metadata") or {}).get("name")): claim_name(str((t.get("metadata") or {}).get("name")),
                                                                   meta(sts)["name"], ordinal)
              for t in spec.get("volumeClaimTemplates") or []}
    volumes = [v for v in pod_spec.get("volumes") or [] if v.get("name") not in claims]
    volumes += [{"name": template, "persistentVolumeClaim": {"claimName": claim}} for template, claim in claims.items()]
    if volumes:
        pod_spec["volumes"] = volumes
    return pod


def _new_claims(sts: Object, ordinal: int) -> list[Object]:
    """getPersistentVolumeClaims: each template's claim, labelled with the template's and the set's labels."""
    spec = sts.get("spec") or {}
    selector_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    out = []
    for template in spec.get("volumeClaimTemplates") or []:
        tmeta = template.get("metadata") or {}
        labels = {**(tmeta.get("labels") or {}), **selector_labels}
        claim_meta: dict[str, Any] = {"name": claim_name(str(tmeta.get("name")), meta(sts)["name"], ordinal),
                                      "namespace": meta(sts).get("namespace"), "labels": labels}
        if tmeta.get("annotations"):
            claim_meta["annotations"] = dict(tmeta["annotations"])
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": claim_meta,
                    "spec": copy.deepcopy(template.get("spec") or {})})
    return out


def _identity_matches(sts: Object, pod: Object) -> bool:
    m, spec = meta(pod), pod.get("spec") or {}
    return ((m.get("labels") or {}).get(POD_NAME_LABEL) == m.get("name") and spec.get("hostname") == m.get("name")
            and spec.get("subdomain") == (sts.get("spec") or {}).get("serviceName"))


# --- pod states -----------------------------------------------------------------------------------


def _phase(pod: Object) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _terminating(pod: Object) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def _created(pod: Object) -> bool:
    return bool(meta(pod).get("uid"))


def _running_and_ready(pod: Object) -> bool:
    return _phase(pod) == "Running" and is_pod_ready(pod)


def _healthy(pod: Object) -> bool:
    return _running_and_ready(pod) and not _terminating(pod)


def _revision_of(pod: Object) -> str:
    return str((meta(pod).get("labels") or {}).get(REVISION_LABEL) or "")


def plan_replicas(sts: Object, pods: list[Object]) -> tuple[list[Object | None], list[Object]]:
    """(replicas by ordinal with None where a pod is missing, condemned pods highest ordinal first)."""
    name = meta(sts)["name"]
    start = _start(sts)
    count = int((sts.get("spec") or {}).get("replicas") or 0)
    replicas: list[Object | None] = [None] * count
    condemned: list[tuple[int, Object]] = []
    for pod in pods:
        ordinal = get_ordinal(name, pod)
        if ordinal is None:
            continue
        if start <= ordinal < start + count:
            replicas[ordinal - start] = pod
        else:
            condemned.append((ordinal, pod))
    return replicas, [p for _, p in sorted(condemned, key=lambda item: -item[0])]


class StatefulSetController(Controller):
    name = "statefulset"
    default_workers = 2  # kube-controller-manager's --concurrent-statefulset-syncs is 5

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers)
        self.sts_informer = ctx.factory.informer(STS, namespace=ctx.namespace)
        self.pod_informer = ctx.factory.informer(PODS, namespace=ctx.namespace)
        self.revision_informer = ctx.factory.informer(REVISIONS, namespace=ctx.namespace)
        self.claim_informer = ctx.factory.informer(PVCS, namespace=ctx.namespace)
        for informer in (self.sts_informer, self.pod_informer, self.revision_informer):
            ensure_indexer(informer, "namespace", by_namespace)
        self.sts_informer.add_handler(on_add=self.enqueue, on_update=lambda old, cur: self.enqueue(cur),
                                      on_delete=self.enqueue)
        self.pod_informer.add_handler(on_add=self._pod_event, on_update=self._pod_updated,
                                      on_delete=self._pod_event)

    def resync_all(self) -> None:
        for sts in self.sts_informer.list():
            self.enqueue(sts)

    # --- handlers: compute keys, never reconcile ---------------------------------------------

    def _owner_key(self, pod: Object) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "StatefulSet":
            return None
        return f"{meta(pod).get('namespace')}/{ref.get('name')}"

    def _pod_event(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = deleted_object(obj)
        key = self._owner_key(pod)
        if key is not None:
            self.queue.add(key)
        elif controller_ref(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Object, cur: Object) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        self._pod_event(cur)
        key = self._owner_key(cur)
        sts = self.sts_informer.get(key) if key else None
        min_ready = int(((sts or {}).get("spec") or {}).get("minReadySeconds") or 0)
        if sts is not None and min_ready > 0 and not is_pod_ready(old) and is_pod_ready(cur):
            self.enqueue_after(sts, min_ready + 1)  # it becomes available then

    def _enqueue_matching(self, pod: Object) -> None:
        labels = meta(pod).get("labels") or {}
        for sts in self.sts_informer.by_index("namespace", meta(pod).get("namespace") or ""):
            try:
                selector = LabelSelector.from_structured((sts.get("spec") or {}).get("selector"))
            except Invalid:
                continue
            if not selector.empty and selector.matches(labels):
                self.enqueue(sts)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        sts = self.sts_informer.get(key)
        if sts is None:
            return  # the garbage collector removes its pods and revisions
        sts = copy.deepcopy(sts)
        pods = await self._claim_pods(sts, namespace or "")
        revisions = self._revisions(sts, namespace or "")
        current, update, collision = await self._ensure_revisions(sts, revisions)
        status = await self._update_statefulset(sts, pods, current, update)
        status["collisionCount"] = collision
        await self._truncate_history(sts, pods, revisions, current, update)
        await self._update_status(sts, status)

    async def _claim_pods(self, sts: Object, namespace: str) -> list[Object]:
        async def can_adopt() -> None:
            m = meta(sts)
            fresh = await self.client.get(STS, m["name"], namespace=m.get("namespace"))
            if meta(fresh).get("uid") != m.get("uid") or meta(fresh).get("deletionTimestamp"):
                raise Conflict(f"StatefulSet {m.get('namespace')}/{m['name']} is gone or being deleted")

        selector = LabelSelector.from_structured((sts.get("spec") or {}).get("selector"))
        # Only pods named <set>-<ordinal> belong to a StatefulSet (isMemberOf), whatever their labels.
        candidates = [p for p in self.pod_informer.by_index("namespace", namespace)
                      if get_ordinal(meta(sts)["name"], p) is not None]
        return await claim(client=self.client, resource=PODS, owner=sts, owner_api_version="apps/v1",
                           owner_kind="StatefulSet", selector=selector, candidates=candidates, can_adopt=can_adopt)

    def _revisions(self, sts: Object, namespace: str) -> list[Object]:
        return owned(self.revision_informer.by_index("namespace", namespace), sts)

    async def _ensure_revisions(self, sts: Object, revisions: list[Object]) -> tuple[Object, Object, int]:
        """getStatefulSetRevisions: (current revision, update revision, collision count)."""
        status = sts.get("status") or {}
        collision = int(status.get("collisionCount") or 0)
        data = revision_data(sts)
        next_number = max((int(r.get("revision") or 0) for r in revisions), default=0) + 1
        equal = [r for r in revisions if r.get("data") == data]
        if equal:
            update = equal[-1]
            if int(update.get("revision") or 0) < next_number - 1:
                # A rollback to an old template: that revision becomes the newest (upstream bumps it).
                update = await self.client.update(REVISIONS, {**update, "revision": next_number})
        else:
            update, collision = await self._create_revision(sts, data, next_number, collision)
        current = next((r for r in revisions if meta(r).get("name") == status.get("currentRevision")), update)
        return current, update, collision

    async def _create_revision(self, sts: Object, data: Object, number: int, collision: int) -> tuple[Object, int]:
        """The revision of `data`, named ``<set>-<hash>``; a name taken by other data is a hash
        collision, and the next collision count gives the next name."""
        m = meta(sts)
        while True:
            name = f"{m['name']}-{compute_hash(data, collision)}"
            body = new_revision(sts, kind="StatefulSet", name=name, data=data, number=number)
            try:
                created = await self.client.create(REVISIONS, body)
            except AlreadyExists:
                existing = await self.client.get(REVISIONS, name, namespace=m.get("namespace"))
                if existing.get("data") == data and (controller_ref(existing) or {}).get("uid") == m.get("uid"):
                    return existing, collision  # ours, from a sync whose cache had not seen it yet
                collision += 1
                continue
            return created, collision

    async def _update_statefulset(self, sts: Object, pods: list[Object], current: Object,
                                  update: Object) -> dict[str, Any]:
        spec = sts.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        current_sts = {**sts, "spec": {**spec, "template": template_of(current)}}
        current_name, update_name = meta(current)["name"], meta(update)["name"]
        status = self._replica_status(sts, pods, current_name, update_name, min_ready)

        replicas, condemned = plan_replicas(sts, pods)
        strategy = spec.get("updateStrategy") or {}
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        start = _start(sts)
        for i, pod in enumerate(replicas):
            if pod is None:
                ordinal = start + i
                # newVersionedStatefulSetPod: below the partition a new pod keeps the current revision.
                at_current = (strategy.get("type", "RollingUpdate") == "RollingUpdate"
                              and ordinal < start + partition)
                replicas[i] = (new_statefulset_pod(current_sts, template_of(current), ordinal, current_name)
                               if at_current else new_statefulset_pod(sts, template_of(update), ordinal, update_name))
        if meta(sts).get("deletionTimestamp"):
            return status
        unhealthy = next((p for p in [*replicas, *condemned] if p is not None and not _healthy(p)), None)

        async def process_replica(i: int) -> bool:
            return await self._process_replica(sts, replicas[i], monotonic=monotonic, min_ready=min_ready)

        if await self._run_for_all(len(replicas), process_replica, monotonic=monotonic):
            return status

        async def process_condemned(i: int) -> bool:
            return await self._process_condemned(sts, condemned[i], unhealthy, monotonic=monotonic,
                                                 min_ready=min_ready)

        if await self._run_for_all(len(condemned), process_condemned, monotonic=monotonic):
            return status
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return status  # OnDelete: pods are replaced when someone deletes them
        for target in range(len(replicas) - 1, partition - 1, -1):
            pod = replicas[target]
            if pod is None:
                continue
            if _revision_of(pod) != update_name and not _terminating(pod):
                log.info("%s: rolling update of %s: deleting %s (revision %s -> %s)", self.name,
                         meta_namespace_key(sts), meta(pod)["name"], _revision_of(pod), update_name)
                await self._delete_pod(sts, pod)
                status["currentReplicas"] = max(0, int(status["currentReplicas"]) - 1)
                return status
            if not _healthy(pod):
                return status  # wait for it before touching the next one down
        return status

    @staticmethod
    async def _run_for_all(count: int, fn: Callable[[int], Awaitable[bool]], *, monotonic: bool) -> bool:
        """runForAll: in order, stopping at the first that says so (monotonic); else all at once."""
        if monotonic:
            for i in range(count):
                if await fn(i):
                    return True
            return False
        results = await asyncio.gather(*(fn(i) for i in range(count)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return False

    async def _process_replica(self, sts: Object, pod: Object | None, *, monotonic: bool, min_ready: int) -> bool:
        """processReplica: True when the walk over the replicas must stop here."""
        assert pod is not None
        if _created(pod) and _phase(pod) in ("Failed", "Succeeded"):
            if not _terminating(pod):
                await self._delete_pod(sts, pod)
            return True  # a new pod is created once this one is gone
        if not _created(pod):
            await self._create_claims(sts, pod)
            await self._create_pod(sts, pod)
            return monotonic
        if _phase(pod) == "Pending":
            await self._create_claims(sts, pod)  # a claim deleted under a pending pod comes back
        if _terminating(pod) and monotonic:
            return True
        if monotonic and not _running_and_ready(pod):
            return True
        if monotonic and not is_pod_available(pod, min_ready, dt.datetime.now(dt.UTC)):
            return True
        if not _identity_matches(sts, pod):
            fixed = copy.deepcopy(pod)
            fixed["metadata"].setdefault("labels", {})[POD_NAME_LABEL] = meta(pod)["name"]
            try:
                await self.client.update(PODS, fixed)
            except (NotFound, Conflict):
                return monotonic
        return False

    async def _process_condemned(self, sts: Object, pod: Object, unhealthy: Object | None, *, monotonic: bool,
                                 min_ready: int) -> bool:
        if _terminating(pod):
            return monotonic  # wait for it to be gone before the next one (OrderedReady)
        if monotonic and pod is not unhealthy and not (
                _running_and_ready(pod) and is_pod_available(pod, min_ready, dt.datetime.now(dt.UTC))):
            return True
        log.info("%s: %s scales down: deleting %s", self.name, meta_namespace_key(sts), meta(pod)["name"])
        await self._delete_pod(sts, pod)
        return True

    async def _create_claims(self, sts: Object, pod: Object) -> None:
        ordinal = get_ordinal(meta(sts)["name"], pod)
        assert ordinal is not None
        for body in _new_claims(sts, ordinal):
            key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
            if self.claim_informer.get(key) is not None:
                continue
            try:
                await self.client.create(PVCS, body)
            except AlreadyExists:
                continue
            except ApiError as err:
                self.recorder.event(sts, "Warning", "FailedCreate",
                                    f"create Claim {body['metadata']['name']} for Pod {meta(pod)['name']} in "
                                    f"StatefulSet {meta(sts)['name']} failed error: {err}")
                raise
            self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                f"create Claim {body['metadata']['name']} Pod {meta(pod)['name']} in StatefulSet "
                                f"{meta(sts)['name']} success")

    async def _create_pod(self, sts: Object, pod: Object) -> None:
        try:
            await self.client.create(PODS, pod)
        except AlreadyExists:
            return  # the cache had not seen it yet: the next sync does
        except ApiError as err:
            self.recorder.event(sts, "Warning", "FailedCreate", f"create Pod {meta(pod)['name']} in StatefulSet "
                                                                f"{meta(sts)['name']} failed error: {err}")
            raise
        self.recorder.event(sts, "Normal", "SuccessfulCreate",
                            f"create Pod {meta(pod)['name']} in StatefulSet {meta(sts)['name']} successful")

    async def _delete_pod(self, sts: Object, pod: Object) -> None:
        m = meta(pod)
        try:
            await self.client.delete(PODS, m["name"], namespace=m.get("namespace"), preconditions={"uid": m["uid"]})
        except (NotFound, Conflict):
            return
        self.recorder.event(sts, "Normal", "SuccessfulDelete",
                            f"delete Pod {m['name']} in StatefulSet {meta(sts)['name']} successful")

    def _replica_status(self, sts: Object, pods: list[Object], current: str, update: str,
                        min_ready: int) -> dict[str, Any]:
        """computeReplicaStatus over the pods that belong to the set."""
        now = dt.datetime.now(dt.UTC)
        counts = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "currentReplicas": 0,
                  "updatedReplicas": 0}
        for pod in pods:
            if get_ordinal(meta(sts)["name"], pod) is None:
                continue
            counts["replicas"] += 1
            if _running_and_ready(pod):
                counts["readyReplicas"] += 1
                if is_pod_available(pod, min_ready, now):
                    counts["availableReplicas"] += 1
            if not _terminating(pod):
                counts["currentReplicas"] += _revision_of(pod) == current
                counts["updatedReplicas"] += _revision_of(pod) == update
        return {**counts, "currentRevision": current, "updateRevision": update,
                "observedGeneration": int(meta(sts).get("generation") or 0)}

    async def _truncate_history(self, sts: Object, pods: list[Object], revisions: list[Object], current: Object,
                                update: Object) -> None:
        live = {meta(current)["name"], meta(update)["name"], *(_revision_of(p) for p in pods)}
        limit = int((sts.get("spec") or {}).get("revisionHistoryLimit", 10) or 0)
        await delete_old(self.client, revisions, live=live, limit=limit)

    async def _update_status(self, sts: Object, status: dict[str, Any]) -> None:
        spec = sts.get("spec") or {}
        strategy = spec.get("updateStrategy") or {}
        # completeRollingUpdate: every pod at the update revision and ready, so it is the current one.
        if (strategy.get("type", "RollingUpdate") == "RollingUpdate"
                and status["updatedReplicas"] == status["replicas"] == status["readyReplicas"]):
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = status["updateRevision"]
        old = sts.get("status") or {}
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        if all(old.get(k) == v for k, v in status.items()):
            return
        log.debug("%s: status of %s: %s", self.name, meta_namespace_key(sts), json.dumps(status))
        await write_status(self.client, STS, sts, status)
        min_ready = int(spec.get("minReadySeconds") or 0)
        if min_ready > 0 and status["readyReplicas"] != status["availableReplicas"]:
            self.queue.add_after(meta_namespace_key(sts), min_ready)
