"""The Deployment controller: roll pods from one template to the next through ReplicaSets.

`sync(key)`:

1. claim ReplicaSets (adopt orphans matching the selector, release strays: `ownerrefs.claim`);
2. a Deployment being deleted only gets its status updated;
3. paused: keep or set the Progressing condition to ``DeploymentPaused``; only scaling
   (and history clean-up) happens while paused;
4. a *scaling event* (an active ReplicaSet's ``desired-replicas`` annotation differs from
   ``spec.replicas``, e.g. ``kubectl scale``): resize the ReplicaSets proportionally, no rollout;
5. otherwise roll out by strategy: **RollingUpdate** (`_rollout_rolling`, the arithmetic is in
   `deploymentutil`) or **Recreate** (old ReplicaSets to 0, wait for their pods to be gone,
   then the new one to full size);
6. the status `kubectl rollout status` reads: observedGeneration, replicas, updatedReplicas,
   readyReplicas, availableReplicas, unavailableReplicas, and conditions Available
   (MinimumReplicasAvailable / MinimumReplicasUnavailable) and Progressing
   (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable,
   ProgressDeadlineExceeded).

The new ReplicaSet's name is deterministic (``<deployment>-<hash>``), so a sync after a crash
that finds the create "already exists" simply uses it: no expectations are needed here.

``kubectl rollout undo`` patches the template back to an old ReplicaSet's; the controller
then finds that ReplicaSet as the new one and gives it the next revision.

Kubernetes equivalent: pkg/controller/deployment/ (deployment_controller.go, sync.go,
rolling.go, recreate.go, progress.go).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging

from orchestrator.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from orchestrator.api.selectors import LabelSelector
from orchestrator.client.informer import (
    DeletedFinalStateUnknown,
    deleted_object,
    meta_namespace_key,
    split_key,
)
from orchestrator.controllers import deploymentutil as du
from orchestrator.controllers.controller import (
    Controller,
    ControllerContext,
    Object,
    by_namespace,
    ensure_indexer,
    write_status,
)
from orchestrator.controllers.ownerrefs import (
    claim,
    claimable,
    controller_ref,
    meta,
    new_controller_ref,
    parse_time,
)

__all__ = ["DeploymentController"]

log = logging.getLogger(__name__)

RS = "replicasets.apps"
DEPLOYMENTS = "deployments.apps"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DeploymentController(Controller):
    name = "deployment"
    default_workers = 5  # --concurrent-deployment-syncs

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers)
        self.d_informer = ctx.factory.informer(DEPLOYMENTS, namespace=ctx.namespace)
        self.rs_informer = ctx.factory.informer(RS, namespace=ctx.namespace)
        self.pod_informer = ctx.factory.informer("pods", namespace=ctx.namespace)
        for informer in (self.d_informer, self.rs_informer, self.pod_informer):
            ensure_indexer(informer, "namespace", by_namespace)
        self.d_informer.add_handler(on_add=self.enqueue, on_update=lambda old, cur: self.enqueue(cur),
                                    on_delete=self.enqueue)
        self.rs_informer.add_handler(on_add=self._add_rs, on_update=self._update_rs, on_delete=self._delete_rs)
        self.pod_informer.add_handler(on_delete=self._delete_pod)

    def resync_all(self) -> None:
        for d in self.d_informer.list():
            self.enqueue(d)

    # --- handlers -----------------------------------------------------------------------------

    def _owner(self, obj: Object) -> Object | None:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.d_informer.get(f"{meta(obj).get('namespace')}/{ref.get('name')}")
        if d is None or meta(d).get("uid") != ref.get("uid"):
            return None
        return d

    def _matching_deployments(self, rs: Object) -> list[Object]:
        labels = meta(rs).get("labels") or {}
        found = []
        for d in self.d_informer.by_index("namespace", meta(rs).get("namespace") or ""):
            try:
                selector = LabelSelector.from_structured((d.get("spec") or {}).get("selector"))
            except ApiError:
                continue
            if not selector.empty and selector.matches(labels):
                found.append(d)
        return found

    def _add_rs(self, rs: Object) -> None:
        if meta(rs).get("deletionTimestamp"):
            self._delete_rs(rs)
            return
        owner = self._owner(rs)
        if owner is not None:
            self.enqueue(owner)
        elif controller_ref(rs) is None:
            for d in self._matching_deployments(rs):
                self.enqueue(d)

    def _update_rs(self, old: Object, cur: Object) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        old_owner, cur_owner = self._owner(old), self._owner(cur)
        if old_owner is not None and (cur_owner is None or meta(cur_owner).get("uid") != meta(old_owner).get("uid")):
            self.enqueue(old_owner)
        if cur_owner is not None:
            self.enqueue(cur_owner)
            return
        if controller_ref(cur) is None and (meta(old).get("labels") != meta(cur).get("labels")
                                            or controller_ref(old) is not None):
            for d in self._matching_deployments(cur):
                self.enqueue(d)

    def _delete_rs(self, obj: Object | DeletedFinalStateUnknown) -> None:
        owner = self._owner(deleted_object(obj))
        if owner is not None:
            self.enqueue(owner)

    def _delete_pod(self, obj: Object | DeletedFinalStateUnknown) -> None:
        # Only Recreate waits for pods (all old ones gone before the new ReplicaSet scales up).
        pod = deleted_object(obj)
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs_informer.get(f"{meta(pod).get('namespace')}/{ref.get('name')}")
        d = self._owner(rs) if rs is not None else None
        if d is not None and ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
            self.enqueue(d)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, _ = split_key(key)
        cached = self.d_informer.get(key)
        if cached is None:
            return
        d = copy.deepcopy(cached)  # we update it as we go; never touch the cache's dict
        selector = LabelSelector.from_structured((d.get("spec") or {}).get("selector"))
        if selector.empty:
            self.recorder.event(d, "Warning", "SelectingAll", "This deployment is selecting all pods. "
                                "A non-empty selector is required.")
            if ((d.get("status") or {}).get("observedGeneration") or 0) < (meta(d).get("generation") or 0):
                await write_status(self.client, DEPLOYMENTS, d, {**(d.get("status") or {}),
                                                                  "observedGeneration": meta(d).get("generation")})
            return
        rss = await self._claim_replica_sets(d, selector, namespace or "")
        if meta(d).get("deletionTimestamp"):
            await self._sync_status_only(d, rss)
            return
        d = await self._check_paused_conditions(d)
        if (d.get("spec") or {}).get("paused"):
            await self._sync_scale(d, rss)
            return
        if self._is_scaling_event(d, rss):
            await self._sync_scale(d, rss)
            return
        if ((d.get("spec") or {}).get("strategy") or {}).get("type") == "Recreate":
            await self._rollout_recreate(d, rss)
        else:
            await self._rollout_rolling(d, rss)

    async def _claim_replica_sets(self, d: Object, selector: LabelSelector, namespace: str) -> list[Object]:
        async def can_adopt() -> None:
            m = meta(d)
            fresh = await self.client.get(DEPLOYMENTS, m["name"], namespace=m.get("namespace"))
            if meta(fresh).get("uid") != m.get("uid") or meta(fresh).get("deletionTimestamp"):
                raise Conflict(f"Deployment {m.get('namespace')}/{m['name']} is gone or being deleted: "
                               "not adopting ReplicaSets into it")

        uid = meta(d).get("uid")
        candidates = [copy.deepcopy(rs) for rs in self.rs_informer.by_index("namespace", namespace)
                      if claimable(rs, uid, selector)]
        return await claim(client=self.client, resource=RS, owner=d, owner_api_version="apps/v1",
                           owner_kind="Deployment", selector=selector, candidates=candidates, can_adopt=can_adopt)

    # --- the new ReplicaSet and revisions --------------------------------------------------------

    async def _get_all_replica_sets(self, d: Object, rss: list[Object], *,
                                    create: bool) -> tuple[Object | None, list[Object], Object]:
        """(new RS or None, old RSs, the Deployment as last written)."""
        existing = du.find_new_replica_set(d, rss)
        old = [rs for rs in rss if existing is None or meta(rs).get("uid") != meta(existing).get("uid")]
        new_rs, d = await self._get_new_replica_set(d, rss, old, existing, create=create)
        return new_rs, old, d

    async def _get_new_replica_set(self, d: Object, rss: list[Object], old: list[Object], existing: Object | None,
                                   *, create: bool) -> tuple[Object | None, Object]:
        new_revision = du.max_revision(old) + 1
        now = _now()
        if existing is not None:
            rs = copy.deepcopy(existing)
            annotations_changed = du.set_new_replica_set_annotations(d, rs, new_revision, exists=True)
            min_ready = (d.get("spec") or {}).get("minReadySeconds") or 0
            min_ready_changed = ((rs.get("spec") or {}).get("minReadySeconds") or 0) != min_ready
            if annotations_changed or min_ready_changed:
                rs["spec"]["minReadySeconds"] = min_ready
                return await self.client.update(RS, rs), d
            d = await self._set_deployment_revision(d, (meta(rs).get("annotations") or {}).get(du.REVISION, ""))
            status = copy.deepcopy(d.get("status") or {})
            if du.has_progress_deadline(d) and du.get_condition(status, du.PROGRESSING) is None:
                du.set_condition(status, du.new_condition(du.PROGRESSING, "True", du.FOUND_NEW_RS,
                                                          f'Found new replica set "{meta(rs)["name"]}"', now))
                d = await write_status(self.client, DEPLOYMENTS, d, status)
            return rs, d
        if not create:
            return None, d

        spec = d.get("spec") or {}
        status = copy.deepcopy(d.get("status") or {})
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = du.compute_hash(template, status.get("collisionCount"))
        template.setdefault("metadata", {})
        template["metadata"]["labels"] = {**(template["metadata"].get("labels") or {}), du.TEMPLATE_HASH_LABEL: pod_hash}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), du.TEMPLATE_HASH_LABEL: pod_hash}
        m = meta(d)
        new_rs: Object = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{m['name']}-{pod_hash}",
                "namespace": m.get("namespace"),
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [new_controller_ref(d, api_version="apps/v1", kind="Deployment")],
            },
            "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds") or 0,
                     "selector": selector, "template": template},
        }
        new_replicas = du.new_rs_new_replicas(d, [*old, new_rs], new_rs)
        new_rs["spec"]["replicas"] = new_replicas
        du.set_new_replica_set_annotations(d, new_rs, new_revision, exists=False)
        already_exists = False
        try:
            created = await self.client.create(RS, new_rs)
        except AlreadyExists:
            found = await self.client.get(RS, new_rs["metadata"]["name"], namespace=m.get("namespace"))
            ref = controller_ref(found)
            if (ref is not None and ref.get("uid") == m.get("uid")
                    and du.equal_ignore_hash((found.get("spec") or {}).get("template") or {}, spec.get("template") or {})):
                # Ours, created by an earlier sync whose event has not reached the cache yet.
                created, already_exists = found, True
            else:
                # A different object holds the name: hash again with a bumped collision count.
                status["collisionCount"] = (status.get("collisionCount") or 0) + 1
                await write_status(self.client, DEPLOYMENTS, d, status)
                raise Conflict(f"hash collision for ReplicaSet {new_rs['metadata']['name']}: "
                               f"collisionCount is now {status['collisionCount']}") from None
        if not already_exists and new_replicas > 0:
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled up replica set {meta(created)['name']} from 0 to {new_replicas}")
        d = await self._set_deployment_revision(d, str(new_revision))
        if not already_exists and du.has_progress_deadline(d):
            status = copy.deepcopy(d.get("status") or {})
            du.set_condition(status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_CREATED,
                                                      f'Created new replica set "{meta(created)["name"]}"', now))
            d = await write_status(self.client, DEPLOYMENTS, d, status)
        return created, d

    async def _set_deployment_revision(self, d: Object, revision: str) -> Object:
        """The Deployment carries its newest revision too (what ``kubectl rollout history`` shows).

        Upstream writes it with the status; here the status subresource takes only status, so it
        is a patch of the annotation (which, as upstream, advances metadata.generation).
        """
        if not revision or (meta(d).get("annotations") or {}).get(du.REVISION) == revision:
            return d
        m = meta(d)
        patch = {"metadata": {"annotations": {du.REVISION: revision}, "resourceVersion": m.get("resourceVersion")}}
        return await self.client.patch(DEPLOYMENTS, m["name"], patch, namespace=m.get("namespace"))

    # --- scaling --------------------------------------------------------------------------------

    def _is_scaling_event(self, d: Object, rss: list[Object]) -> bool:
        replicas = du.replicas_of(d)
        for rs in du.active(rss):
            desired = du.int_annotation(rs, du.DESIRED_REPLICAS)
            if desired is not None and desired != replicas:
                return True
        return False

    async def _scale_rs(self, rs: Object, new_scale: int, d: Object, operation: str | None = None) -> Object:
        """Set rs's replicas (and desired/max annotations) if they differ; record the event."""
        old_scale = du.replicas_of(rs)
        desired, maximum = du.replicas_of(d), du.replicas_of(d) + du.max_surge(d)
        updated = copy.deepcopy(rs)
        annotations_changed = du.set_replicas_annotations(updated, desired, maximum)
        if old_scale == new_scale and not annotations_changed:
            return rs
        updated["spec"]["replicas"] = new_scale
        result = await self.client.update(RS, updated)
        if old_scale != new_scale:
            op = operation or ("up" if new_scale > old_scale else "down")
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {op} replica set {meta(rs)['name']} from {old_scale} to {new_scale}")
        return result

    async def _scale(self, d: Object, new_rs: Object | None, old: list[Object]) -> tuple[Object | None, list[Object]]:
        """Resize for a changed spec.replicas (upstream DeploymentController.scale)."""
        replicas = du.replicas_of(d)
        latest = du.find_active_or_latest(new_rs, old)
        if latest is not None:
            if du.replicas_of(latest) != replicas or du.int_annotation(latest, du.DESIRED_REPLICAS) != replicas:
                scaled = await self._scale_rs(latest, replicas, d)
                return _replace(new_rs, old, scaled)
            return new_rs, old
        if du.is_saturated(d, new_rs):
            for rs in du.active(old):
                scaled = await self._scale_rs(rs, 0, d)
                new_rs, old = _replace(new_rs, old, scaled)
            return new_rs, old
        if not du.is_rolling_update(d):
            return new_rs, old  # Recreate with several active ReplicaSets: the rollout sorts it out
        all_active = du.active([*old, *([new_rs] if new_rs is not None else [])])
        allowed = replicas + du.max_surge(d) if replicas > 0 else 0
        to_add = allowed - du.spec_replicas(all_active)
        if to_add > 0:  # bigger ones first, then newer (upstream ReplicaSetsBySizeNewer)
            ordered = sorted(du.by_creation(all_active, newest_first=True), key=lambda r: -du.replicas_of(r))
        else:  # bigger ones first, then older
            ordered = sorted(du.by_creation(all_active), key=lambda r: -du.replicas_of(r))
        sizes: dict[str, int] = {}
        added = 0
        for rs in ordered:
            proportion = du.get_proportion(rs, d, to_add, added) if to_add else 0
            sizes[meta(rs)["name"]] = du.replicas_of(rs) + proportion
            added += proportion
        for i, rs in enumerate(ordered):
            name = meta(rs)["name"]
            if i == 0 and to_add:
                sizes[name] = max(sizes[name] + to_add - added, 0)  # the rounding leftover
            scaled = await self._scale_rs(rs, sizes[name], d)
            new_rs, old = _replace(new_rs, old, scaled)
        return new_rs, old

    async def _sync_scale(self, d: Object, rss: list[Object]) -> None:
        """Paused, or a scaling event: resize, clean up history when paused, write status."""
        new_rs, old, d = await self._get_all_replica_sets(d, rss, create=False)
        new_rs, old = await self._scale(d, new_rs, old)
        if (d.get("spec") or {}).get("paused"):
            await self._cleanup(d, old)
        await self._sync_status(d, [*old, *([new_rs] if new_rs is not None else [])], new_rs)

    async def _sync_status_only(self, d: Object, rss: list[Object]) -> None:
        new_rs, old, d = await self._get_all_replica_sets(d, rss, create=False)
        await self._sync_status(d, [*old, *([new_rs] if new_rs is not None else [])], new_rs)

    # --- rolling update --------------------------------------------------------------------------

    async def _rollout_rolling(self, d: Object, rss: list[Object]) -> None:
        new_rs, old, d = await self._get_all_replica_sets(d, rss, create=True)
        assert new_rs is not None
        # 1. grow the new ReplicaSet as far as maxSurge allows
        replicas = du.replicas_of(d)
        if du.replicas_of(new_rs) != replicas:
            if du.replicas_of(new_rs) > replicas:
                target = replicas
            else:
                target = du.new_rs_new_replicas(d, [*old, new_rs], new_rs)
            if target != du.replicas_of(new_rs):
                new_rs = await self._scale_rs(new_rs, target, d)
                await self._sync_rollout_status(d, [*old, new_rs], new_rs)
                return
        # 2. shrink old ReplicaSets as far as maxUnavailable allows
        scaled_down, old = await self._reconcile_old_replica_sets(d, old, new_rs)
        if scaled_down:
            await self._sync_rollout_status(d, [*old, new_rs], new_rs)
            return
        if du.deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        await self._sync_rollout_status(d, [*old, new_rs], new_rs)

    async def _reconcile_old_replica_sets(self, d: Object, old: list[Object],
                                          new_rs: Object) -> tuple[bool, list[Object]]:
        if du.spec_replicas(old) == 0:
            return False, old
        all_pods = du.spec_replicas([*old, new_rs])
        min_available = du.replicas_of(d) - du.max_unavailable(d)
        new_unavailable = du.replicas_of(new_rs) - ((new_rs.get("status") or {}).get("availableReplicas") or 0)
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False, old
        # First the old pods that are not available anyway: removing them costs no availability.
        old, cleaned = await self._cleanup_unhealthy_replicas(d, old, max_scaled_down)
        old, scaled = await self._scale_down_old_for_rolling_update(d, old, new_rs)
        return cleaned + scaled > 0, old

    async def _cleanup_unhealthy_replicas(self, d: Object, old: list[Object],
                                          max_cleanup: int) -> tuple[list[Object], int]:
        total = 0
        result = []
        for rs in du.by_creation(old):
            replicas = du.replicas_of(rs)
            available = (rs.get("status") or {}).get("availableReplicas") or 0
            if total >= max_cleanup or replicas == 0 or replicas == available:
                result.append(rs)
                continue
            count = min(max_cleanup - total, replicas - available)
            result.append(await self._scale_rs(rs, replicas - count, d))
            total += count
        return result, total

    async def _scale_down_old_for_rolling_update(self, d: Object, old: list[Object],
                                                 new_rs: Object) -> tuple[list[Object], int]:
        min_available = du.replicas_of(d) - du.max_unavailable(d)
        available = du.status_sum([*old, new_rs], "availableReplicas")
        if available <= min_available:
            return old, 0
        to_scale_down = available - min_available
        total = 0
        result = []
        for rs in du.by_creation(old):
            replicas = du.replicas_of(rs)
            if total >= to_scale_down or replicas == 0:
                result.append(rs)
                continue
            count = min(replicas, to_scale_down - total)
            result.append(await self._scale_rs(rs, replicas - count, d))
            total += count
        return result, total

    # --- recreate ---------------------------------------------------------------------------------

    async def _rollout_recreate(self, d: Object, rss: list[Object]) -> None:
        new_rs, old, d = await self._get_all_replica_sets(d, rss, create=False)
        scaled = False
        for i, rs in enumerate(old):
            if du.replicas_of(rs) != 0:
                old[i] = await self._scale_rs(rs, 0, d)
                scaled = True
        all_rss = [*old, *([new_rs] if new_rs is not None else [])]
        if scaled or self._old_pods_running(new_rs, old):
            await self._sync_rollout_status(d, all_rss, new_rs)
            return
        if new_rs is None:
            new_rs, old, d = await self._get_all_replica_sets(d, rss, create=True)
            assert new_rs is not None
        if du.replicas_of(new_rs) != du.replicas_of(d):
            new_rs = await self._scale_rs(new_rs, du.replicas_of(d), d)
        if du.deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        await self._sync_rollout_status(d, [*old, new_rs], new_rs)

    def _old_pods_running(self, new_rs: Object | None, old: list[Object]) -> bool:
        if du.status_sum(old, "replicas") > 0:
            return True
        old_uids = {meta(rs).get("uid") for rs in old}
        namespace = meta(old[0]).get("namespace") if old else None
        if namespace is None:
            return False
        for pod in self.pod_informer.by_index("namespace", namespace):
            if (controller_ref(pod) or {}).get("uid") in old_uids and \
                    (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return True  # terminating pods count: Recreate promises no overlap
        return False

    # --- history and status -----------------------------------------------------------------------

    async def _cleanup(self, d: Object, old: list[Object]) -> None:
        """Delete the oldest empty ReplicaSets beyond revisionHistoryLimit."""
        limit = (d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in old if not meta(rs).get("deletionTimestamp")]
        diff = len(alive) - limit
        if diff <= 0:
            return
        alive.sort(key=lambda rs: (du.revision(rs), meta(rs).get("creationTimestamp") or ""))
        for rs in alive[:diff]:
            status = rs.get("status") or {}
            if (status.get("replicas") or du.replicas_of(rs)
                    or (meta(rs).get("generation") or 0) > (status.get("observedGeneration") or 0)):
                continue  # still has pods, or the ReplicaSet controller has not caught up
            m = meta(rs)
            try:
                await self.client.delete(RS, m["name"], namespace=m.get("namespace"), preconditions={"uid": m["uid"]})
            except NotFound:
                pass
            log.info("%s: cleaned up old ReplicaSet %s/%s (revision %d)", self.name, m.get("namespace"),
                     m["name"], du.revision(rs))

    async def _check_paused_conditions(self, d: Object) -> Object:
        if not du.has_progress_deadline(d):
            return d
        status = copy.deepcopy(d.get("status") or {})
        cond = du.get_condition(status, du.PROGRESSING)
        if cond is not None and cond.get("reason") == du.TIMED_OUT:
            return d  # a timed-out deployment stays so until its template changes
        paused = bool((d.get("spec") or {}).get("paused"))
        paused_cond = cond is not None and cond.get("reason") == du.PAUSED
        now = _now()
        if paused and not paused_cond:
            du.set_condition(status, du.new_condition(du.PROGRESSING, "Unknown", du.PAUSED, "Deployment is paused",
                                                      now))
        elif not paused and paused_cond:
            du.set_condition(status, du.new_condition(du.PROGRESSING, "Unknown", du.RESUMED,
                                                      "Deployment is resumed", now))
        else:
            return d
        return await write_status(self.client, DEPLOYMENTS, d, status)

    async def _sync_status(self, d: Object, all_rss: list[Object], new_rs: Object | None) -> None:
        status = du.calculate_status(all_rss, new_rs, d, _now())
        if status != (d.get("status") or {}):
            await write_status(self.client, DEPLOYMENTS, d, status)

    async def _sync_rollout_status(self, d: Object, all_rss: list[Object], new_rs: Object | None) -> None:
        now = _now()
        status = du.calculate_status(all_rss, new_rs, d, now)
        if not du.has_progress_deadline(d):
            du.remove_condition(status, du.PROGRESSING)
        current = du.get_condition(status, du.PROGRESSING)
        complete = (status["replicas"] == status["updatedReplicas"] and current is not None
                    and current.get("reason") == du.NEW_RS_AVAILABLE)
        if du.has_progress_deadline(d) and not complete:
            rs_name = meta(new_rs)["name"] if new_rs is not None else None
            if du.deployment_complete(d, status):
                du.set_condition(status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_AVAILABLE,
                                                          f'ReplicaSet "{rs_name}" has successfully progressed.', now))
            elif du.deployment_progressing(d, status):
                message = (f'ReplicaSet "{rs_name}" is progressing.' if rs_name
                           else f'Deployment "{meta(d)["name"]}" is progressing.')
                cond = du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED, message, now)
                if current is not None and current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                du.remove_condition(status, du.PROGRESSING)
                du.set_condition(status, cond)
            elif du.deployment_timed_out(d, status, now):
                du.set_condition(status, du.new_condition(du.PROGRESSING, "False", du.TIMED_OUT,
                                                          f'ReplicaSet "{rs_name}" has timed out progressing.', now))
        if status == (d.get("status") or {}):
            self._requeue_stuck(d, status, now)
            return
        await write_status(self.client, DEPLOYMENTS, d, status)

    def _requeue_stuck(self, d: Object, status: Object, now: dt.datetime) -> None:
        """Look again when the progress deadline would pass, to report ProgressDeadlineExceeded."""
        cond = du.get_condition(status, du.PROGRESSING)
        if cond is None or not du.has_progress_deadline(d) or cond.get("reason") in (du.NEW_RS_AVAILABLE,
                                                                                     du.TIMED_OUT):
            return
        if du.deployment_complete(d, status):
            return
        since = parse_time(cond.get("lastUpdateTime"))
        if since is None:
            return
        deadline = since + dt.timedelta(seconds=(d.get("spec") or {})["progressDeadlineSeconds"])
        self.queue.add_after(meta_namespace_key(d), max((deadline - now).total_seconds(), 0) + 1)


def _replace(new_rs: Object | None, old: list[Object], updated: Object) -> tuple[Object | None, list[Object]]:
    """Swap the updated copy of a ReplicaSet into (new, old)."""
    uid = meta(updated).get("uid")
    if new_rs is not None and meta(new_rs).get("uid") == uid:
        return updated, old
    return new_rs, [updated if meta(rs).get("uid") == uid else rs for rs in old]
