"""The persistent-volume controller: binds claims to volumes, provisions local-path volumes, reclaims them.

Keys are ``<namespace>/<claim>`` for PersistentVolumeClaims, ``<volume>`` for PersistentVolumes
(cluster-scoped) and ``storageclass:local-path`` for the default class. `sync(key)`, level-triggered:

**a claim** (syncClaim):

1. no ``storageClassName`` at all: it gets the default StorageClass's name (the retroactive default
   assignment Kubernetes does since 1.28);
2. not bound (no ``spec.volumeName``): the smallest ``Available`` volume of its class whose access
   modes and capacity satisfy it (or one pre-bound to it by ``claimRef``) is bound: the volume's
   ``claimRef`` first, then the claim's ``volumeName``, then the claim's status ``Bound`` with the
   volume's capacity and access modes. None: when the class's provisioner is ``local-path.labkit.io``,
   provision a volume ``pvc-<claim uid>`` already pre-bound to the claim (``claimRef``), so the next
   sync binds it; otherwise an event says why the claim stays ``Pending``;
3. bound: the status says ``Bound`` (or ``Lost`` when its volume is gone);

**a volume** (syncVolume): ``Available`` without a claim, ``Bound`` when its claim names it,
``Released`` when its claim is gone; a released volume whose ``persistentVolumeReclaimPolicy`` is
``Delete`` is deleted — its directory too, when this controller knows where the node agents keep
them (``--local-volume-dir``; `labctl up` passes ``<lab home>/nodes/persistentvolumes``, the
directory the node agents mount from: orchestrator/nodeagent/volumes.py);

**the default class**: when no StorageClass of the local-path provisioner exists, ``local-path``
is created, marked default (what kind and k3s ship as their addon).

**a claim being deleted** (the pvc-protection controller's part): its ``kubernetes.io/pvc-protection``
finalizer is lifted once no pod that has not finished names it (asked of the API server, not only
the cache), so a claim in use — and its volume's data — goes only after its last pod.

Not done here: volume expansion, ``WaitForFirstConsumer`` (volumes are node-independent in a lab: all
node agents of a lab run on one machine and share the directory).

Kubernetes equivalent: pkg/controller/volume/persistentvolume/pv_controller.go (syncClaim,
syncVolume, bindVolumeToClaim, reclaimVolume), pkg/controller/volume/pvcprotection/pvc_protection_controller.go,
sigs.k8s.io/sig-storage-lib-external-provisioner,
rancher/local-path-provisioner
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

from orchestrator.api.errors import AlreadyExists, Conflict, NotFound
from orchestrator.api.quantity import parse_quantity
from orchestrator.client.informer import DeletedFinalStateUnknown, deleted_object, meta_namespace_key
from orchestrator.controllers.controller import Controller, ControllerContext, Object, write_status
from orchestrator.controllers.ownerrefs import meta

__all__ = ["DEFAULT_CLASS", "LOCAL_PATH_DRIVER", "PersistentVolumeController", "volume_fits"]

log = logging.getLogger(__name__)

PVCS, PVS, CLASSES = "persistentvolumeclaims", "persistentvolumes", "storageclasses.storage.k8s.io"
LOCAL_PATH_DRIVER = "local-path.labkit.io"
DEFAULT_CLASS = "local-path"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
CLASS_KEY = f"storageclass:{DEFAULT_CLASS}"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
PVC_PROTECTION = "kubernetes.io/pvc-protection"


def _storage(amounts: Any) -> int:
    try:
        return int(parse_quantity(str((amounts or {}).get("storage") or "0")))
    except ValueError:
        return 0


def volume_fits(pv: Object, pvc: Object) -> bool:
    """Whether `pv` could satisfy `pvc`: same class, every asked access mode, enough capacity, a
    matching volume mode (findMatchingVolume's checks)."""
    pv_spec, pvc_spec = pv.get("spec") or {}, pvc.get("spec") or {}
    if (pv_spec.get("storageClassName") or "") != (pvc_spec.get("storageClassName") or ""):
        return False
    if not set(pvc_spec.get("accessModes") or []) <= set(pv_spec.get("accessModes") or []):
        return False
    if (pv_spec.get("volumeMode") or "Filesystem") != (pvc_spec.get("volumeMode") or "Filesystem"):
        return False
    return _storage(pv_spec.get("capacity")) >= _storage((pvc_spec.get("resources") or {}).get("requests"))


def _claims_of(pod: Object) -> list[str]:
    return [str(v["persistentVolumeClaim"]["claimName"]) for v in (pod.get("spec") or {}).get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("claimName")]


def _claim_ref_names(pv: Object, pvc: Object) -> bool:
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    m = meta(pvc)
    return (ref.get("name") == m.get("name") and ref.get("namespace") == m.get("namespace")
            and ref.get("uid") in (None, "", m.get("uid")))


class PersistentVolumeController(Controller):
    name = "persistentvolume-binder"
    default_workers = 2

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None,
                 local_volume_dir: Path | None = None) -> None:
        super().__init__(ctx, workers=workers)
        self.local_volume_dir = local_volume_dir
        self.claims = ctx.factory.informer(PVCS, namespace=ctx.namespace)
        self.volumes = ctx.factory.informer(PVS)
        self.classes = ctx.factory.informer(CLASSES)
        self.pods = ctx.factory.informer("pods", namespace=ctx.namespace)
        self.pods.add_handler(on_add=lambda pod: None, on_update=lambda old, cur: self._pod_gone(cur),
                              on_delete=self._pod_gone)
        self.claims.add_handler(on_add=self.enqueue, on_update=lambda old, cur: self._claim_changed(cur),
                                on_delete=self._claim_deleted)
        self.volumes.add_handler(on_add=self.enqueue, on_update=lambda old, cur: self._volume_changed(cur),
                                 on_delete=lambda obj: None)
        self.classes.add_handler(on_add=lambda sc: self._resync_claims(), on_update=lambda old, cur: None,
                                 on_delete=lambda sc: self.queue.add(CLASS_KEY))

    # --- handlers: compute keys, never reconcile ---------------------------------------------

    def resync_all(self) -> None:
        self.queue.add(CLASS_KEY)
        for obj in [*self.claims.list(), *self.volumes.list()]:
            self.enqueue(obj)

    def _resync_claims(self) -> None:
        for claim in self.claims.list():
            if (claim.get("status") or {}).get("phase") != "Bound":
                self.enqueue(claim)

    def _claim_changed(self, claim: Object) -> None:
        self.enqueue(claim)
        volume = (claim.get("spec") or {}).get("volumeName")
        if volume:
            self.queue.add(volume)

    def _claim_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        # Its volume is released: look at every volume that names it.
        claim = deleted_object(obj)
        for pv in self.volumes.list():
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            if ref.get("namespace") == meta(claim).get("namespace") and ref.get("name") == meta(claim).get("name"):
                self.enqueue(pv)

    def _pod_gone(self, obj: Object | DeletedFinalStateUnknown) -> None:
        # A pod that ended or went may have held the last use of a claim being deleted.
        pod = deleted_object(obj)
        namespace = meta(pod).get("namespace")
        for name in _claims_of(pod):
            claim = self.claims.get(f"{namespace}/{name}")
            if claim is not None and meta(claim).get("deletionTimestamp"):
                self.enqueue(claim)

    def _volume_changed(self, pv: Object) -> None:
        self.enqueue(pv)
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if ref.get("namespace") and ref.get("name"):
            self.queue.add(f"{ref['namespace']}/{ref['name']}")

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        if key == CLASS_KEY:
            await self._ensure_default_class()
        elif "/" in key:
            claim = self.claims.get(key)
            if claim is not None and meta(claim).get("deletionTimestamp"):
                await self._lift_protection(claim)
            elif claim is not None:
                await self._sync_claim(claim)
        else:
            volume = self.volumes.get(key)
            if volume is not None and not meta(volume).get("deletionTimestamp"):
                await self._sync_volume(volume)

    async def _lift_protection(self, claim: Object) -> None:
        m = meta(claim)
        if PVC_PROTECTION not in (m.get("finalizers") or []):
            return
        pods = (await self.client.list("pods", namespace=m.get("namespace")))["items"]
        users = [meta(p)["name"] for p in pods if m["name"] in _claims_of(p)
                 and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        if users:
            log.info("%s: claim %s is in use by %s: kept until they are gone", self.name, meta_namespace_key(claim),
                     ", ".join(users))
            return
        finalizers = [f for f in m.get("finalizers") or [] if f != PVC_PROTECTION]
        try:
            await self.client.update(PVCS, {**claim, "metadata": {**m, "finalizers": finalizers}})
        except NotFound:
            return

    async def _ensure_default_class(self) -> None:
        if any(sc.get("provisioner") == LOCAL_PATH_DRIVER for sc in self.classes.list()):
            return
        default_exists = any((meta(sc).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
                             for sc in self.classes.list())
        body = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": DEFAULT_CLASS,
                             "annotations": {} if default_exists else {DEFAULT_CLASS_ANNOTATION: "true"}},
                "provisioner": LOCAL_PATH_DRIVER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
        try:
            await self.client.create(CLASSES, body)
        except AlreadyExists:
            return
        log.info("%s: created the StorageClass %s", self.name, DEFAULT_CLASS)

    def _default_class(self) -> Object | None:
        defaults = [sc for sc in self.classes.list()
                    if (meta(sc).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
        # Several defaults: the newest wins, as the DefaultStorageClass admission plugin picks.
        return max(defaults, key=lambda sc: (meta(sc).get("creationTimestamp") or "", meta(sc)["name"]),
                   default=None)

    async def _sync_claim(self, claim: Object) -> None:
        spec = claim.get("spec") or {}
        if spec.get("storageClassName") is None:
            default = self._default_class()
            if default is not None:
                await self.client.update(PVCS, {**claim, "spec": {**spec, "storageClassName": meta(default)["name"]}})
            return  # the update brings the claim back with its class
        if spec.get("volumeName"):
            await self._sync_bound_claim(claim)
            return
        candidates = [pv for pv in self.volumes.list() if not meta(pv).get("deletionTimestamp")
                      and volume_fits(pv, claim)
                      and ((pv.get("status") or {}).get("phase") in ("Available", "Pending", None)
                           or _claim_ref_names(pv, claim))]
        pre_bound = [pv for pv in candidates if _claim_ref_names(pv, claim)]
        free = [pv for pv in candidates if not (pv.get("spec") or {}).get("claimRef")]
        chosen = pre_bound[0] if pre_bound else min(
            free, key=lambda pv: (_storage((pv.get("spec") or {}).get("capacity")), meta(pv)["name"]), default=None)
        if chosen is not None:
            await self._bind(chosen, claim)
            return
        await self._provision(claim)

    async def _bind(self, pv: Object, claim: Object) -> None:
        """bindVolumeToClaim, then bindClaimToVolume, then the claim's status."""
        m = meta(claim)
        if not (pv.get("spec") or {}).get("claimRef"):
            ref = {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": m.get("namespace"),
                   "name": m["name"], "uid": m.get("uid"), "resourceVersion": m.get("resourceVersion")}
            pv_meta = {**meta(pv), "annotations": {**(meta(pv).get("annotations") or {}), BOUND_BY_CONTROLLER: "yes"}}
            pv = await self.client.update(PVS, {**pv, "metadata": pv_meta, "spec": {**pv["spec"], "claimRef": ref}})
        annotations = {**(m.get("annotations") or {}), BIND_COMPLETED: "yes", BOUND_BY_CONTROLLER: "yes"}
        claim = await self.client.update(PVCS, {**claim, "metadata": {**m, "annotations": annotations},
                                                "spec": {**claim["spec"], "volumeName": meta(pv)["name"]}})
        await self._claim_status(claim, pv)
        self.recorder.event(claim, "Normal", "Bound", f"Bound to volume {meta(pv)['name']}")

    async def _claim_status(self, claim: Object, pv: Object | None) -> None:
        pv_spec = (pv or {}).get("spec") or {}
        status: dict[str, Any] = {"phase": "Lost"} if pv is None else {
            "phase": "Bound", "accessModes": list(pv_spec.get("accessModes") or []),
            "capacity": dict(pv_spec.get("capacity") or {})}
        if (claim.get("status") or {}) != status:
            await write_status(self.client, PVCS, claim, status)

    async def _sync_bound_claim(self, claim: Object) -> None:
        pv = self.volumes.get(str(claim["spec"]["volumeName"]))
        if pv is None:
            if (claim.get("status") or {}).get("phase") == "Bound":
                # Only once it was bound is the volume lost; before, the binding is under way.
                try:
                    await self.client.get(PVS, str(claim["spec"]["volumeName"]))
                    return  # the cache is behind
                except NotFound:
                    self.recorder.event(claim, "Warning", "ClaimLost", "Bound claim has lost its PersistentVolume. "
                                                                       "Data on the volume is lost!")
                    await self._claim_status(claim, None)
            return
        if not (pv.get("spec") or {}).get("claimRef"):
            await self._bind(pv, claim)  # the claim was pre-bound by volumeName: finish the volume side
            return
        if _claim_ref_names(pv, claim):
            await self._claim_status(claim, pv)

    async def _provision(self, claim: Object) -> None:
        m, spec = meta(claim), claim.get("spec") or {}
        class_name = spec.get("storageClassName") or ""
        sc = self.classes.get(class_name) if class_name else None
        if sc is None or sc.get("provisioner") != LOCAL_PATH_DRIVER:
            why = (f'storageclass.storage.k8s.io "{class_name}" not found' if class_name and sc is None else
                   "no persistent volumes available for this claim and no storage class is set" if not class_name
                   else f"waiting for a volume to be created by the external provisioner '{sc and sc.get('provisioner')}'")
            self.recorder.event(claim, "Warning" if sc is None else "Normal",
                                "ProvisioningFailed" if class_name and sc is None else "FailedBinding", why)
            return
        name = f"pvc-{m['uid']}"
        if self.volumes.get(name) is not None:
            return  # provisioned; its informer event brings the claim back
        annotations = m.get("annotations") or {}
        if annotations.get(STORAGE_PROVISIONER) != LOCAL_PATH_DRIVER:
            # Once per claim (a later sync may run before the new volume reaches the cache).
            claim = await self.client.update(PVCS, {**claim, "metadata": {
                **m, "annotations": {**annotations, STORAGE_PROVISIONER: LOCAL_PATH_DRIVER}}})
            m = meta(claim)
            self.recorder.event(claim, "Normal", "Provisioning", "External provisioner is provisioning volume "
                                                                 f'for claim "{m.get("namespace")}/{m["name"]}"')
        pv = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {PROVISIONED_BY: LOCAL_PATH_DRIVER}},
            "spec": {
                "capacity": {"storage": str(((spec.get("resources") or {}).get("requests") or {}).get("storage"))},
                "accessModes": list(spec.get("accessModes") or []),
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                "storageClassName": class_name, "volumeMode": spec.get("volumeMode") or "Filesystem",
                "csi": {"driver": LOCAL_PATH_DRIVER, "volumeHandle": name},
                "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": m.get("namespace"),
                             "name": m["name"], "uid": m.get("uid"), "resourceVersion": m.get("resourceVersion")},
            },
        }
        try:
            await self.client.create(PVS, pv)
        except AlreadyExists:
            return
        self.recorder.event(claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {name}")

    async def _sync_volume(self, pv: Object) -> None:
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        phase = (pv.get("status") or {}).get("phase")
        if not ref.get("name"):
            if phase != "Available":
                await write_status(self.client, PVS, pv, {"phase": "Available"})
            return
        claim = self.claims.get(f"{ref.get('namespace')}/{ref['name']}")
        if claim is None and self.ctx.namespace not in (None, ref.get("namespace")):
            return  # a claim of a namespace this controller does not watch
        if claim is None:
            try:  # the cache may be behind a claim created a moment ago
                claim = await self.client.get(PVCS, ref["name"], namespace=ref.get("namespace"))
            except NotFound:
                claim = None
        if claim is not None and ref.get("uid") not in (None, "", meta(claim).get("uid")):
            claim = None  # a new claim of the same name is not ours
        if claim is None:
            await self._release(pv, phase)
            return
        wanted = "Bound" if (claim.get("spec") or {}).get("volumeName") == meta(pv)["name"] else "Available"
        if phase != wanted:
            await write_status(self.client, PVS, pv, {"phase": wanted})

    async def _release(self, pv: Object, phase: str | None) -> None:
        if phase != "Released":
            pv = await write_status(self.client, PVS, pv, {"phase": "Released"})
        if (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") != "Delete":
            return
        handle = ((pv.get("spec") or {}).get("csi") or {}).get("volumeHandle")
        if self.local_volume_dir is not None and handle:
            directory = self.local_volume_dir / str(handle)
            # A directory the node agents made for this volume: its data goes with the volume.
            await asyncio.to_thread(shutil.rmtree, directory, True)
        try:
            await self.client.delete(PVS, meta(pv)["name"], preconditions={"uid": meta(pv)["uid"]})
        except (NotFound, Conflict):
            return
        log.info("%s: deleted the released volume %s (reclaim policy Delete)", self.name, meta_namespace_key(pv))
