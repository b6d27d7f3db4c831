"""core/v1 PersistentVolumeClaim and PersistentVolume, storage.k8s.io/v1 StorageClass: storage a pod
asks for by claim, the volume that satisfies it, and the class that says who provisions it.

Kubernetes equivalent: k8s.io/api/core/v1/types.go (PersistentVolumeClaim, PersistentVolume),
k8s.io/api/storage/v1/types.go (StorageClass)
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator.api.models.core import NodeSelector, ObjectReference, _Core
from orchestrator.api.models.meta import K8sModel, LabelSelector, ObjectMeta, Quantity, Time, TypedModel, doc


class VolumeResourceRequirements(_Core):
    """VolumeResourceRequirements describes the storage resource requirements for a volume."""

    limits: dict[str, Quantity] | None = doc("Limits describes the maximum amount of compute resources allowed.")
    requests: dict[str, Quantity] | None = doc("Requests describes the minimum amount of storage required "
                                               "(resources.requests.storage).")


class PersistentVolumeClaimSpec(_Core):
    """PersistentVolumeClaimSpec describes the common attributes of storage devices and allows a Source
    for provider-specific attributes."""

    access_modes: list[str] | None = doc("accessModes contains the desired access modes the volume should have: "
                                         "ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod.")
    selector: LabelSelector | None = doc("selector is a label query over volumes to consider for binding.")
    resources: VolumeResourceRequirements | None = doc("resources represents the minimum resources the volume "
                                                       "should have.")
    volume_name: str | None = doc("volumeName is the binding reference to the PersistentVolume backing this claim.")
    storage_class_name: str | None = doc("storageClassName is the name of the StorageClass required by the claim.")
    volume_mode: str | None = doc("volumeMode defines what type of volume is required by the claim: Filesystem "
                                  "(the default) or Block.")
    data_source: dict[str, Any] | None = doc("Not supported in this lab.")
    data_source_ref: dict[str, Any] | None = doc("Not supported in this lab.")
    volume_attributes_class_name: str | None = doc("Not used by this lab.")


class PersistentVolumeClaimCondition(_Core):
    """PersistentVolumeClaimCondition contains details about state of pvc."""

    required_fields = ("type", "status")

    type: str | None = None
    status: str | None = None
    last_probe_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class PersistentVolumeClaimStatus(_Core):
    """PersistentVolumeClaimStatus is the current status of a persistent volume claim."""

    phase: str | None = doc("phase represents the current phase of PersistentVolumeClaim: Pending, Bound or Lost.")
    access_modes: list[str] | None = doc("accessModes contains the actual access modes the volume backing the "
                                         "PVC has.")
    capacity: dict[str, Quantity] | None = doc("capacity represents the actual resources of the underlying volume.")
    conditions: list[PersistentVolumeClaimCondition] | None = None


class PersistentVolumeClaim(_Core, TypedModel):
    """PersistentVolumeClaim is a user's request for and claim to a persistent volume."""

    gvk = ("", "v1", "PersistentVolumeClaim")

    metadata: ObjectMeta | None = None
    spec: PersistentVolumeClaimSpec | None = doc("spec defines the desired characteristics of a volume requested "
                                                 "by a pod author.")
    status: PersistentVolumeClaimStatus | None = doc("status represents the current information/status of a "
                                                     "persistent volume claim.")


class CSIPersistentVolumeSource(_Core):
    """Represents storage that is managed by an external CSI volume driver; in this lab the driver
    ``local-path.labkit.io``: a directory the node agent keeps under its root directory."""

    required_fields = ("driver", "volumeHandle")

    driver: str | None = doc("driver is the name of the driver to use for this volume.")
    volume_handle: str | None = doc("volumeHandle is the unique volume name returned by the CSI volume plugin's "
                                    "CreateVolume to refer to the volume on all subsequent calls.")
    read_only: bool | None = None
    fs_type: str | None = None
    volume_attributes: dict[str, str] | None = None


class VolumeNodeAffinity(_Core):
    """VolumeNodeAffinity defines constraints that limit what nodes this volume can be accessed from."""

    required: NodeSelector | None = None


class PersistentVolumeSpec(_Core):
    """PersistentVolumeSpec is the specification of a persistent volume."""

    capacity: dict[str, Quantity] | None = doc("capacity is the description of the persistent volume's resources "
                                               "and capacity.")
    access_modes: list[str] | None = doc("accessModes contains all ways the volume can be mounted.")
    claim_ref: ObjectReference | None = doc("claimRef is part of a bi-directional binding between "
                                            "PersistentVolume and PersistentVolumeClaim.")
    persistent_volume_reclaim_policy: str | None = doc("persistentVolumeReclaimPolicy defines what happens to a "
                                                       "persistent volume when released from its claim: Retain "
                                                       "or Delete.")
    storage_class_name: str | None = doc("storageClassName is the name of StorageClass to which this persistent "
                                         "volume belongs.")
    volume_mode: str | None = None
    mount_options: list[str] | None = None
    node_affinity: VolumeNodeAffinity | None = None
    csi: CSIPersistentVolumeSource | None = doc("csi represents storage that is handled by an external CSI driver; "
                                                "the only volume source this lab serves (driver "
                                                "local-path.labkit.io).")
    host_path: dict[str, Any] | None = doc("Not allowed in this lab.")
    local: dict[str, Any] | None = doc("Not supported in this lab.")
    nfs: dict[str, Any] | None = doc("Not supported in this lab.")


class PersistentVolumeStatus(_Core):
    """PersistentVolumeStatus is the current status of a persistent volume."""

    phase: str | None = doc("phase indicates if a volume is available, bound to a claim, or released by a claim: "
                            "Pending, Available, Bound, Released, Failed.")
    message: str | None = None
    reason: str | None = None
    last_phase_transition_time: Time | None = None


class PersistentVolume(_Core, TypedModel):
    """PersistentVolume (PV) is a storage resource provisioned by an administrator or a provisioner."""

    gvk = ("", "v1", "PersistentVolume")

    metadata: ObjectMeta | None = None
    spec: PersistentVolumeSpec | None = None
    status: PersistentVolumeStatus | None = None


class _Storage(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.storage.v1"


class StorageClass(_Storage, TypedModel):
    """StorageClass describes the parameters for a class of storage for which PersistentVolumes can be
    dynamically provisioned."""

    gvk = ("storage.k8s.io", "v1", "StorageClass")
    required_fields = ("provisioner",)

    metadata: ObjectMeta | None = None
    provisioner: str | None = doc("provisioner indicates the type of the provisioner.")
    parameters: dict[str, str] | None = None
    reclaim_policy: str | None = doc("reclaimPolicy controls the reclaimPolicy for dynamically provisioned "
                                     "PersistentVolumes of this storage class. Defaults to Delete.")
    mount_options: list[str] | None = None
    allow_volume_expansion: bool | None = None
    volume_binding_mode: str | None = doc("volumeBindingMode indicates how PersistentVolumeClaims should be "
                                          "provisioned and bound: Immediate (the default) or WaitForFirstConsumer.")
    allowed_topologies: list[dict[str, Any]] | None = None


__all__ = ["PersistentVolume", "PersistentVolumeClaim", "StorageClass"]
