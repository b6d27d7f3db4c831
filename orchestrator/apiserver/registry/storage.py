"""core/v1 PersistentVolumeClaims and PersistentVolumes, storage.k8s.io/v1 StorageClasses.

- a claim needs ``accessModes`` and ``resources.requests.storage`` (422 naming ``spec.accessModes``
  and ``spec.resources[storage]`` as upstream); it is created ``Pending`` with the
  ``kubernetes.io/pvc-protection`` finalizer (upstream's StorageObjectInUseProtection admission),
  and its spec is immutable afterwards, except the storage request and the binder setting
  ``volumeName`` once;
- a volume needs ``capacity.storage``, ``accessModes`` and exactly one volume source; this lab
  serves one, ``csi`` with the driver ``local-path.labkit.io`` (a directory the node agent keeps under
  its root directory: docs/pod-spec.md), and refuses ``hostPath`` as pods' volumes do; a volume is
  created ``Pending`` (the binder makes it ``Available``) with ``persistentVolumeReclaimPolicy``
  Retain unless it says otherwise;
- a StorageClass has a provisioner, a reclaim policy (Delete) and a binding mode (Immediate);
- the Tables are kubectl's ``get pvc``, ``get pv`` and ``get sc``.

The binding itself (claimRef, volumeName, the phases) is the persistent-volume controller's
(orchestrator/controllers/persistentvolume.py).

Kubernetes equivalent: pkg/registry/core/persistentvolumeclaim/strategy.go,
plugin/pkg/admission/storage/storageobjectinuseprotection,
pkg/registry/core/persistentvolume/strategy.go, pkg/registry/storage/storageclass/strategy.go,
pkg/apis/core/validation/validation.go (ValidatePersistentVolumeClaimSpec, ValidatePersistentVolumeSpec),
pkg/printers/internalversion/printers.go (printPersistentVolumeClaim, printPersistentVolume, printStorageClass)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import names
from orchestrator.api import printing as tables
from orchestrator.api.errors import Cause, Invalid
from orchestrator.api.printing import _AGE, _NAME, Cell, _column, _since
from orchestrator.api.quantity import canonical, parse_quantity
from orchestrator.api.resources import by_group_resource
from orchestrator.api.selectors import LabelSelector
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import FieldErrors

__all__ = ["ACCESS_MODES", "LOCAL_PATH_DRIVER", "PersistentVolumeClaimStrategy", "PersistentVolumeStrategy",
           "StorageClassStrategy", "access_modes_string", "validate_claim_spec"]

#: The one volume driver of this lab: the node agent's directory ``persistentvolumes/<volumeHandle>``.
LOCAL_PATH_DRIVER = "local-path.labkit.io"
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
_SHORT_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
RECLAIM_POLICIES = ("Retain", "Delete")
VOLUME_MODES = ("Block", "Filesystem")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
PVC_PROTECTION = "kubernetes.io/pvc-protection"


def access_modes_string(modes: list[str] | None) -> str:
    """helper.GetAccessModesAsString: the short forms, always in the same order, comma-separated."""
    given = set(modes or [])
    return ",".join(short for mode, short in _SHORT_MODES.items() if mode in given)


def _validate_access_modes(errs: FieldErrors, modes: Any, path: str) -> None:
    if not modes:
        errs.required(path, "at least 1 access mode is required")
        return
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.not_supported(path, mode, ACCESS_MODES)
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.forbidden(path, "may not use ReadWriteOncePod with other access modes")


def _positive_storage(errs: FieldErrors, amounts: Mapping[str, Any], path: str, key_path: str) -> None:
    value = amounts.get("storage")
    if value is None:
        errs.required(key_path)
        return
    try:
        if parse_quantity(value) <= 0:
            errs.invalid(key_path, value, "must be greater than zero")
    except ValueError as err:
        errs.invalid(key_path, value, str(err))


def validate_claim_spec(errs: FieldErrors, spec: Mapping[str, Any], path: str) -> None:
    """ValidatePersistentVolumeClaimSpec (also for a StatefulSet's volumeClaimTemplates)."""
    _validate_access_modes(errs, spec.get("accessModes"), f"{path}.accessModes")
    if spec.get("selector") is not None:
        try:
            LabelSelector.from_structured(spec["selector"], field_path=f"{path}.selector")
        except Invalid as err:
            errs.extend(err.causes)
    requests = ((spec.get("resources") or {}).get("requests")) or {}
    _positive_storage(errs, requests, f"{path}.resources", f"{path}.resources[storage]")
    class_name = spec.get("storageClassName")
    if class_name:
        for msg in names.dns1123_subdomain(class_name):
            errs.invalid(f"{path}.storageClassName", class_name, msg)
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        errs.not_supported(f"{path}.volumeMode", mode, VOLUME_MODES)
    for key in ("dataSource", "dataSourceRef"):
        if spec.get(key) is not None:
            errs.forbidden(f"{path}.{key}", "volume populators are not supported in this lab")


def _default_volume(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")


def _canonical_storage(amounts: Any) -> None:
    if isinstance(amounts, dict) and "storage" in amounts:
        try:
            amounts["storage"] = canonical(amounts["storage"])
        except ValueError:
            pass  # validation names it


def _claim_row(pvc: dict[str, Any], now: datetime) -> tuple[list[Cell], None]:
    meta, spec, status = pvc.get("metadata") or {}, pvc.get("spec") or {}, pvc.get("status") or {}
    phase = "Terminating" if meta.get("deletionTimestamp") else str(status.get("phase") or "")
    capacity = modes = ""
    if spec.get("volumeName"):
        capacity = str((status.get("capacity") or {}).get("storage") or "")
        modes = access_modes_string(status.get("accessModes"))
    return [meta.get("name", ""), phase, str(spec.get("volumeName") or ""), capacity, modes,
            str(spec.get("storageClassName") or ""), str(spec.get("volumeAttributesClassName") or "<unset>"),
            _since(meta.get("creationTimestamp"), now), str(spec.get("volumeMode") or "<unset>")], None


def _volume_row(pv: dict[str, Any], now: datetime) -> tuple[list[Cell], None]:
    meta, spec, status = pv.get("metadata") or {}, pv.get("spec") or {}, pv.get("status") or {}
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace') or ''}/{ref.get('name') or ''}" if ref else ""
    phase = "Terminating" if meta.get("deletionTimestamp") else str(status.get("phase") or "")
    return [meta.get("name", ""), str((spec.get("capacity") or {}).get("storage") or ""),
            access_modes_string(spec.get("accessModes")), str(spec.get("persistentVolumeReclaimPolicy") or ""),
            phase, claim, str(spec.get("storageClassName") or ""),
            str(spec.get("volumeAttributesClassName") or "<unset>"), str(status.get("reason") or ""),
            _since(meta.get("creationTimestamp"), now), str(spec.get("volumeMode") or "<unset>")], None


def _class_row(sc: dict[str, Any], now: datetime) -> tuple[list[Cell], None]:
    meta = sc.get("metadata") or {}
    name = meta.get("name", "")
    if (meta.get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true":
        name += " (default)"
    return [name, str(sc.get("provisioner") or ""), str(sc.get("reclaimPolicy") or "Delete"),
            str(sc.get("volumeBindingMode") or "Immediate"), str(bool(sc.get("allowVolumeExpansion"))).lower(),
            _since(meta.get("creationTimestamp"), now)], None


class PersistentVolumeClaimStrategy(BaseStrategy):
    printer = tables.TablePrinter([
        _NAME,
        _column("Status", "The phase of the claim: Pending, Bound or Lost."),
        _column("Volume", "The name of the PersistentVolume bound to the claim."),
        _column("Capacity", "The capacity of the bound volume."),
        _column("Access Modes", "The access modes of the bound volume."),
        _column("StorageClass", "The name of the StorageClass the claim asks for."),
        _column("VolumeAttributesClass", "The VolumeAttributesClass of the claim."),
        _AGE,
        _column("VolumeMode", "Filesystem or Block.", priority=1),
    ], _claim_row)


    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        obj["status"] = {"phase": "Pending"}
        # The StorageObjectInUseProtection admission plugin: a claim a pod still uses is only
        # deleted once no pod does (the persistent-volume controller lifts the finalizer).
        finalizers = obj.setdefault("metadata", {}).setdefault("finalizers", [])
        if PVC_PROTECTION not in finalizers:
            finalizers.append(PVC_PROTECTION)

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        new.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        super().prepare_for_update(new, old, now=now)

    def canonicalize(self, obj: Obj) -> None:
        resources = (obj.get("spec") or {}).get("resources") or {}
        _canonical_storage(resources.get("requests"))
        _canonical_storage(resources.get("limits"))

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_claim_spec(errs, obj.get("spec") or {}, "spec")

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        old_spec, new_spec = dict(old.get("spec") or {}), dict(new.get("spec") or {})
        # The binder sets volumeName once; the storage request may grow (expansion).
        if not old_spec.get("volumeName"):
            old_spec.pop("volumeName", None)
            new_spec.pop("volumeName", None)
        for spec in (old_spec, new_spec):
            spec.pop("resources", None)
            spec.pop("volumeAttributesClassName", None)
        if old_spec.get("storageClassName") is None:
            # Retroactive default StorageClass assignment: a claim without a class gets the default.
            new_spec.pop("storageClassName", None)
            old_spec.pop("storageClassName", None)
        if old_spec != new_spec:
            errs.forbidden("spec", "spec is immutable after creation except resources.requests and "
                                   "volumeAttributesClassName for bound claims")
        return errs.causes


class PersistentVolumeStrategy(BaseStrategy):
    printer = tables.TablePrinter([
        _NAME,
        _column("Capacity", "The capacity of the volume."),
        _column("Access Modes", "All ways the volume can be mounted."),
        _column("Reclaim Policy", "What happens to the volume when released from its claim."),
        _column("Status", "The phase of the volume: Pending, Available, Bound, Released or Failed."),
        _column("Claim", "The claim bound to the volume, namespace/name."),
        _column("StorageClass", "The StorageClass the volume belongs to."),
        _column("VolumeAttributesClass", "The VolumeAttributesClass of the volume."),
        _column("Reason", "Why the volume is in its phase."),
        _AGE,
        _column("VolumeMode", "Filesystem or Block.", priority=1),
    ], _volume_row)


    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        _default_volume(obj)
        obj["status"] = {"phase": "Pending"}

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        _default_volume(new)
        super().prepare_for_update(new, old, now=now)

    def canonicalize(self, obj: Obj) -> None:
        _canonical_storage((obj.get("spec") or {}).get("capacity"))

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        spec = obj.get("spec") or {}
        capacity = spec.get("capacity")
        if not capacity:
            errs.required("spec.capacity")
        else:
            _positive_storage(errs, capacity, "spec.capacity", "spec.capacity[storage]")
        _validate_access_modes(errs, spec.get("accessModes"), "spec.accessModes")
        policy = spec.get("persistentVolumeReclaimPolicy")
        if policy not in RECLAIM_POLICIES:
            errs.not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES)
        class_name = spec.get("storageClassName")
        if class_name:
            for msg in names.dns1123_subdomain(class_name):
                errs.invalid("spec.storageClassName", class_name, msg)
        mode = spec.get("volumeMode")
        if mode is not None and mode not in VOLUME_MODES:
            errs.not_supported("spec.volumeMode", mode, VOLUME_MODES)
        sources = [k for k in ("csi", "hostPath", "local", "nfs") if spec.get(k) is not None]
        if not sources:
            errs.required("spec", "must specify a volume type")
        elif len(sources) > 1:
            errs.forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume type")
        for source in sources:
            if source != "csi":
                errs.forbidden(f"spec.{source}", f"only csi volumes of the driver {LOCAL_PATH_DRIVER} are "
                                                 "supported in this lab")
        csi = spec.get("csi")
        if isinstance(csi, Mapping):
            if csi.get("driver") != LOCAL_PATH_DRIVER:
                errs.not_supported("spec.csi.driver", csi.get("driver"), (LOCAL_PATH_DRIVER,))
            handle = csi.get("volumeHandle")
            if not handle:
                errs.required("spec.csi.volumeHandle")
            else:
                # The node agent makes a directory of that name: a DNS label keeps it one path segment.
                for msg in names.dns1123_subdomain(str(handle)):
                    errs.invalid("spec.csi.volumeHandle", handle, msg)
        ref = spec.get("claimRef")
        if isinstance(ref, Mapping):
            if not ref.get("name"):
                errs.required("spec.claimRef.name")
            if not ref.get("namespace"):
                errs.required("spec.claimRef.namespace")

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if old_spec.get("csi") != new_spec.get("csi"):
            errs.forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation")
        return errs.causes


class StorageClassStrategy(BaseStrategy):
    printer = tables.TablePrinter([
        _NAME,
        _column("Provisioner", "Indicates the type of the provisioner."),
        _column("ReclaimPolicy", "Dynamically provisioned PersistentVolumes of this storage class are created "
                                 "with this reclaimPolicy. Defaults to Delete."),
        _column("VolumeBindingMode", "VolumeBindingMode indicates how PersistentVolumeClaims should be "
                                     "provisioned and bound. When unset, VolumeBindingImmediate is used."),
        _column("AllowVolumeExpansion", "AllowVolumeExpansion shows whether the storage class allow volume "
                                        "expand."),
        _AGE,
    ], _class_row)


    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        self.prepare_for_create(new, now=now)

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        if not obj.get("provisioner"):
            errs.required("provisioner")
        if obj.get("reclaimPolicy") not in RECLAIM_POLICIES:
            errs.not_supported("reclaimPolicy", obj.get("reclaimPolicy"), RECLAIM_POLICIES)
        if obj.get("volumeBindingMode") not in BINDING_MODES:
            errs.not_supported("volumeBindingMode", obj.get("volumeBindingMode"), BINDING_MODES)

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        for key in ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"):
            if new.get(key) != old.get(key):
                errs.forbidden(key, "updates to " + key + " are forbidden.")
        return errs.causes


STRATEGIES = (
    PersistentVolumeClaimStrategy(by_group_resource("persistentvolumeclaims")),
    PersistentVolumeStrategy(by_group_resource("persistentvolumes")),
    StorageClassStrategy(by_group_resource("storageclasses.storage.k8s.io")),
)
