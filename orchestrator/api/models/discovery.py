"""discovery.k8s.io/v1 EndpointSlice: a slice (at most 100) of the endpoints behind a Service.

Kubernetes equivalent: k8s.io/api/discovery/v1/types.go
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator.api.models.core import ObjectReference
from orchestrator.api.models.meta import K8sModel, ObjectMeta, TypedModel, doc


class _Discovery(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.discovery.v1"


class EndpointConditions(_Discovery):
    """EndpointConditions represents the current condition of an endpoint."""

    ready: bool | None = doc("Ready indicates that this endpoint is ready to receive traffic.")
    serving: bool | None = doc("Serving is identical to ready except that it is set regardless of the "
                               "terminating state of endpoints.")
    terminating: bool | None = doc("Terminating indicates that this endpoint is terminating.")


class Endpoint(_Discovery):
    """Endpoint represents a single logical "backend" implementing a service."""

    required_fields = ("addresses",)

    addresses: list[str] | None = doc("Addresses of this endpoint (one, for a pod: its podIP).",
                                      json_schema_extra={"x-kubernetes-list-type": "set"})
    conditions: EndpointConditions | None = None
    hostname: str | None = None
    target_ref: ObjectReference | None = doc("A reference to the Kubernetes object that represents this endpoint.")
    deprecated_topology: dict[str, str] | None = None
    node_name: str | None = doc("The name of the Node hosting this endpoint.")
    zone: str | None = None
    hints: dict[str, Any] | None = None


class EndpointPort(_Discovery):
    """EndpointPort represents a Port used by an EndpointSlice."""

    name: str | None = None
    protocol: str | None = None
    port: int | None = None
    app_protocol: str | None = None


class EndpointSlice(_Discovery, TypedModel):
    """EndpointSlice represents a subset of the endpoints that implement a service."""

    gvk = ("discovery.k8s.io", "v1", "EndpointSlice")
    required_fields = ("addressType", "endpoints")

    metadata: ObjectMeta | None = None
    address_type: str | None = doc("The type of address carried by this EndpointSlice: IPv4, IPv6 or FQDN.")
    endpoints: list[Endpoint] | None = doc("A list of unique endpoints in this slice (at most 1000).",
                                      json_schema_extra={"x-kubernetes-list-type": "atomic"})
    ports: list[EndpointPort] | None = doc("The network ports exposed by each endpoint in this slice.",
                                           json_schema_extra={"x-kubernetes-list-type": "atomic"})
