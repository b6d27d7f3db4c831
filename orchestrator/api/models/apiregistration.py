"""apiregistration.k8s.io/v1 APIService: "this group/version is served by that server" (the aggregation layer).

``spec.url`` is a labkit extension (the shape of an admission webhook's ``clientConfig.url``):
the lab's components run on the host, not as pods behind a Service, so an APIService may name the
server's address directly. docs/metrics.md.

Kubernetes equivalent: k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/types.go
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.api.models.meta import K8sModel, ObjectMeta, Time, TypedModel, doc, merge_list


class _ApiRegistration(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1"


class ServiceReference(_ApiRegistration):
    """ServiceReference holds a reference to Service.legacy.k8s.io"""

    namespace: str | None = doc("Namespace is the namespace of the service")
    name: str | None = doc("Name is the name of the service")
    port: int | None = doc("If specified, the port on the service that hosting webhook. Default to 443.")


class APIServiceSpec(_ApiRegistration):
    """APIServiceSpec contains information for locating and communicating with a server."""

    service: ServiceReference | None = doc("Service is a reference to the service for this API server. If "
                                           "neither service nor url is given, the group is served locally.")
    url: str | None = doc("labkit extension: the http(s) address of the server for this API (a component on the "
                          "lab's host), instead of a service.")
    group: str | None = doc("Group is the API group name this server hosts")
    version: str | None = doc("Version is the API version this server hosts.  For example, \"v1\"")
    insecure_skip_tls_verify: bool | None = doc("InsecureSkipTLSVerify disables TLS certificate verification when "
                                                "communicating with this server.")
    ca_bundle: str | None = doc("CABundle is a PEM encoded CA bundle which will be used to validate an API "
                               "server's serving certificate.")
    group_priority_minimum: int | None = doc("GroupPriorityMinimum is the priority this group should have at least.")
    version_priority: int | None = doc("VersionPriority controls the ordering of this API version inside of its "
                                       "group.")


class APIServiceCondition(_ApiRegistration):
    """APIServiceCondition describes the state of an APIService at a particular point"""

    type: str | None = doc("Type is the type of the condition.")
    status: str | None = doc("Status is the status of the condition. Can be True, False, Unknown.")
    last_transition_time: Time | None = doc("Last time the condition transitioned from one status to another.")
    reason: str | None = doc("Unique, one-word, CamelCase reason for the condition's last transition.")
    message: str | None = doc("Human-readable message indicating details about last transition.")


class APIServiceStatus(_ApiRegistration):
    """APIServiceStatus contains derived information about an API server"""

    conditions: list[APIServiceCondition] | None = merge_list("type", description="Current service state of "
                                                                                   "apiService.")


class APIService(_ApiRegistration, TypedModel):
    """APIService represents a server for a particular GroupVersion. Name must be "version.group"."""

    gvk = ("apiregistration.k8s.io", "v1", "APIService")

    metadata: ObjectMeta | None = None
    spec: APIServiceSpec | None = None
    status: APIServiceStatus | None = None
