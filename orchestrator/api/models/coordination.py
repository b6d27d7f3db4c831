"""coordination.k8s.io/v1 Lease: node heartbeats and leader election.

Kubernetes equivalent: k8s.io/api/coordination/v1/types.go
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.api.models.meta import K8sModel, MicroTime, ObjectMeta, TypedModel, doc


class _Coordination(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.coordination.v1"


class LeaseSpec(_Coordination):
    """LeaseSpec is a specification of a Lease."""

    holder_identity: str | None = doc("holderIdentity contains the identity of the holder of a current lease.")
    lease_duration_seconds: int | None = doc("leaseDurationSeconds is a duration that candidates for a lease need to wait to force acquire it.")
    acquire_time: MicroTime | None = doc("acquireTime is a time when the current lease was acquired.")
    renew_time: MicroTime | None = doc("renewTime is a time when the current holder of a lease has last updated the lease.")
    lease_transitions: int | None = doc("leaseTransitions is the number of transitions of a lease between holders.")
    strategy: str | None = None
    preferred_holder: str | None = None


class Lease(_Coordination, TypedModel):
    """Lease defines a lease concept."""

    gvk = ("coordination.k8s.io", "v1", "Lease")

    metadata: ObjectMeta | None = None
    spec: LeaseSpec | None = None
