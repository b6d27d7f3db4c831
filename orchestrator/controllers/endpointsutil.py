"""What the Endpoints and EndpointSlice controllers share: which pods back a Service, and which port
each pod serves for each of the Service's ports.

Both controllers are keyed by Service (``namespace/name``) and watch the same two informers: a
Service change queues that Service; a pod change queues every Service in the pod's namespace whose
selector matches the pod before or after the change (a relabelled pod leaves one Service and joins
another). ``sync`` then recomputes from the caches, as every level-triggered controller does.

Which pods count (upstream's ShouldPodBeInEndpoints): the Service has a selector and is not
ExternalName; the pod matches the selector, has a ``podIP`` (a pod not yet started has nowhere
to send traffic), and has not finished (Succeeded or Failed). Readiness is the pod's ``Ready``
condition, which the node agent sets from the readiness probes.

A ``targetPort`` given by name is looked up per pod in its containers' ports (name and protocol),
so two pods of one Service may serve it on different numbers; a pod that has no such port serves
the others (in a slice without it; in Endpoints, in a subset without it).

Kubernetes equivalent: pkg/controller/util/endpoint/controller_utils.go (ShouldPodBeInEndpoints,
GetPodServiceMemberships), pkg/api/v1/pod/util.go (FindPort)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.api.selectors import LabelSelector
from orchestrator.client.informer import DeletedFinalStateUnknown, deleted_object, split_key
from orchestrator.controllers.controller import (
    Controller,
    ControllerContext,
    Object,
    by_namespace,
    ensure_indexer,
)
from orchestrator.controllers.ownerrefs import is_pod_ready, meta

__all__ = ["HEADLESS_LABEL", "SERVICE_NAME_LABEL", "ServicePodsController", "endpoint_labels", "find_port", "meta_key",
           "selects", "should_be_in_endpoints"]

HEADLESS_LABEL = "service.kubernetes.io/headless"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def selects(service: Object) -> bool:
    """Whether a controller keeps this Service's endpoints (a selector, not ExternalName)."""
    spec = service.get("spec") or {}
    return bool(spec.get("selector")) and spec.get("type") != "ExternalName"


def should_be_in_endpoints(pod: Object) -> bool:
    return bool((pod.get("status") or {}).get("podIP")) and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def find_port(pod: Object, service_port: Mapping[str, Any]) -> int | None:
    """The pod's port for ``service_port``'s targetPort: the number itself, or the container port
    of that name and protocol (None when the pod has none)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def endpoint_labels(service: Object) -> dict[str, str]:
    """The Service's labels, plus ``service.kubernetes.io/headless`` for a headless one (what
    upstream copies onto its Endpoints and EndpointSlices)."""
    labels = {k: v for k, v in (meta(service).get("labels") or {}).items() if k != SERVICE_NAME_LABEL}
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


class ServicePodsController(Controller):
    """Base of the controllers keyed by Service that follow its pods (see the module docstring)."""

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers)
        self.services = ctx.factory.informer("services", namespace=ctx.namespace)
        self.pods = ctx.factory.informer("pods", namespace=ctx.namespace)
        ensure_indexer(self.services, "namespace", by_namespace)
        ensure_indexer(self.pods, "namespace", by_namespace)
        self.services.add_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                  on_delete=self.enqueue)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    def resync_all(self) -> None:
        for service in self.services.list():
            self.enqueue(service)

    # --- handlers: a pod change queues the Services it belongs (or belonged) to -----------------

    def _queue_services_of(self, *pods: Object) -> None:
        namespace = meta(pods[0]).get("namespace") or ""
        for service in self.services.by_index("namespace", namespace):
            selector = (service.get("spec") or {}).get("selector")
            if not selector:
                continue
            wanted = LabelSelector.from_structured({"matchLabels": selector})
            if any(wanted.matches(meta(p).get("labels")) for p in pods):
                self.enqueue(service)

    def _pod_added(self, pod: Object) -> None:
        self._queue_services_of(pod)

    def _pod_updated(self, old: Object, new: Object) -> None:
        if _endpoint_view(old) != _endpoint_view(new):
            self._queue_services_of(old, new)

    def _pod_deleted(self, pod: Object | DeletedFinalStateUnknown) -> None:
        self._queue_services_of(deleted_object(pod))

    # --- what sync reads -----------------------------------------------------------------------

    def service(self, key: str) -> Object | None:
        return self.services.get(key)

    def selected_pods(self, service: Object) -> list[Object]:
        """The pods that back ``service`` now, sorted by name (stable output, fewer rewrites)."""
        namespace, _ = split_key(meta_key(service))
        wanted = LabelSelector.from_structured({"matchLabels": (service.get("spec") or {}).get("selector") or {}})
        pods = [p for p in self.pods.by_index("namespace", namespace or "")
                if wanted.matches(meta(p).get("labels")) and should_be_in_endpoints(p)]
        return sorted(pods, key=lambda p: meta(p).get("name") or "")


def meta_key(obj: Object) -> str:
    m = meta(obj)
    return f"{m.get('namespace')}/{m.get('name')}"


def _endpoint_view(pod: Object) -> tuple[Any, ...]:
    """What of a pod its endpoints show: an update that changes none of it queues nothing."""
    status = pod.get("status") or {}
    m = meta(pod)
    return (m.get("labels"), status.get("podIP"), status.get("phase"), is_pod_ready(pod),
            m.get("deletionTimestamp") is not None, (pod.get("spec") or {}).get("nodeName"),
            [c.get("ports") for c in (pod.get("spec") or {}).get("containers") or []])

