"""core/v1 Service and Endpoints: a stable virtual address for a set of pods, and the legacy list of
the addresses behind it.

Kubernetes equivalent: k8s.io/api/core/v1/types.go (Service, ServiceSpec, ServicePort, Endpoints)
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from orchestrator.api.models.core import ObjectReference
from orchestrator.api.models.meta import IntOrString, K8sModel, ObjectMeta, TypedModel, doc, merge_list


class _Core(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.core.v1"


class ServicePort(_Core):
    """ServicePort contains information on service's port."""

    required_fields = ("port",)

    name: str | None = doc("The name of this port within the service. Must be a DNS_LABEL; required when the "
                           "service has more than one port, and unique among them.")
    protocol: str | None = doc('The IP protocol for this port. Supports "TCP", "UDP", and "SCTP". Default is TCP.')
    app_protocol: str | None = doc("The application protocol for this port (a hint for implementations).")
    port: int | None = doc("The port that will be exposed by this service.")
    target_port: IntOrString | None = doc(
        "Number or name of the port to access on the pods targeted by the service. A name is looked up in "
        "each pod's container ports. Defaults to the value of the 'port' field.")
    node_port: int | None = doc("The port on each node on which this service is exposed when type is NodePort or "
                                "LoadBalancer. Allocated from the node-port range when not given.")


class ClientIPConfig(_Core):
    """ClientIPConfig represents the configurations of Client IP based session affinity."""

    timeout_seconds: int | None = doc("The seconds of ClientIP type session sticky time (default 10800).")


class SessionAffinityConfig(_Core):
    """SessionAffinityConfig represents the configurations of session affinity."""

    client_ip: ClientIPConfig | None = Field(default=None, alias="clientIP",
                                             description="clientIP contains the configurations of Client IP based session affinity.")


class ServiceSpec(_Core):
    """ServiceSpec describes the attributes that a user creates on a service."""

    ports: list[ServicePort] | None = Field(
        default=None,
        description="The list of ports that are exposed by this service.",
        json_schema_extra={
            "x-kubernetes-list-map-keys": ["port", "protocol"],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-patch-merge-key": "port",
            "x-kubernetes-patch-strategy": "merge",
        },
    )
    selector: dict[str, str] | None = doc(
        "Route service traffic to pods with label keys and values matching this selector. If empty or not "
        "present, the service is assumed to have an external process managing its endpoints.")
    cluster_ip: str | None = Field(default=None, alias="clusterIP", description=(
        'The IP address of the service, usually assigned randomly from the service-cluster-ip-range. "None" '
        "makes a headless service. Cannot be changed once set."))
    cluster_ips: list[str] | None = Field(default=None, alias="clusterIPs",
                                          description="The IP addresses of the service; clusterIPs[0] == clusterIP.",
                                          json_schema_extra={"x-kubernetes-list-type": "atomic"})
    type: str | None = doc("How the Service is exposed: ClusterIP (default), NodePort, LoadBalancer or ExternalName.")
    external_ips: list[str] | None = Field(default=None, alias="externalIPs",
                                           description="IP addresses for which nodes will also accept traffic.")
    session_affinity: str | None = doc('"ClientIP" or "None" (default).')
    load_balancer_ip: str | None = Field(default=None, alias="loadBalancerIP", description="Deprecated; kept as given.")
    load_balancer_source_ranges: list[str] | None = None
    external_name: str | None = doc("The external reference (a DNS name) that discovery returns as a CNAME record "
                                    "for an ExternalName service.")
    external_traffic_policy: str | None = doc('"Cluster" (default) or "Local", for NodePort and LoadBalancer.')
    health_check_node_port: int | None = None
    publish_not_ready_addresses: bool | None = doc("Publish endpoints of pods that are not ready.")
    session_affinity_config: SessionAffinityConfig | None = None
    ip_families: list[str] | None = doc("IPv4 and/or IPv6; set by the API server from the cluster's ranges.",
                                        json_schema_extra={"x-kubernetes-list-type": "atomic"})
    ip_family_policy: str | None = doc("SingleStack (default), PreferDualStack or RequireDualStack.")
    allocate_load_balancer_node_ports: bool | None = None
    load_balancer_class: str | None = None
    internal_traffic_policy: str | None = doc('"Cluster" (default) or "Local".')
    traffic_distribution: str | None = None


class LoadBalancerStatus(_Core):
    """LoadBalancerStatus represents the status of a load-balancer."""

    ingress: list[dict[str, Any]] | None = None


class ServiceStatus(_Core):
    """ServiceStatus represents the current status of a service."""

    load_balancer: LoadBalancerStatus | None = doc("LoadBalancer contains the current status of the load-balancer, if one is present.")
    conditions: list[dict[str, Any]] | None = merge_list("type")


class Service(_Core, TypedModel):
    """Service is a named abstraction of software service (for example, mysql) consisting of local port (for
    example 3306) that the proxy listens on, and the selector that determines which pods will answer
    requests sent through the proxy."""

    gvk = ("", "v1", "Service")

    metadata: ObjectMeta | None = None
    spec: ServiceSpec | None = None
    status: ServiceStatus | None = None


class EndpointAddress(_Core):
    """EndpointAddress is a tuple that describes single IP address."""

    required_fields = ("ip",)

    ip: str | None = doc("The IP of this endpoint.")
    hostname: str | None = None
    node_name: str | None = None
    target_ref: ObjectReference | None = None


class EndpointPort(_Core):
    """EndpointPort is a tuple that describes a single port."""

    required_fields = ("port",)

    name: str | None = None
    port: int | None = None
    protocol: str | None = None
    app_protocol: str | None = None


class EndpointSubset(_Core):
    """EndpointSubset is a group of addresses with a common set of ports."""

    addresses: list[EndpointAddress] | None = None
    not_ready_addresses: list[EndpointAddress] | None = None
    ports: list[EndpointPort] | None = None


class Endpoints(_Core, TypedModel):
    """Endpoints is a collection of endpoints that implement the actual service (legacy: see EndpointSlice)."""

    gvk = ("", "v1", "Endpoints")

    metadata: ObjectMeta | None = None
    subsets: list[EndpointSubset] | None = None
