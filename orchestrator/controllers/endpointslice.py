"""The EndpointSlice controller: every Service with a selector has EndpointSlices listing its pods.

``sync(service key)`` in three steps, as upstream's reconciler:

1. **desired endpoints** — one endpoint per pod that backs the Service (``endpointsutil``):
   ``addresses: [podIP]``, ``conditions`` (``ready``: Ready and not terminating, or the Service
   publishes not-ready addresses; ``serving``: Ready; ``terminating``: being deleted),
   ``nodeName``, ``targetRef`` to the pod. The ports each pod serves are resolved per pod (a named
   ``targetPort`` may differ between pods), and endpoints are grouped by that port list: one group,
   one or more slices.
2. **desired slices** — each group cut into slices of at most ``MAX_ENDPOINTS_PER_SLICE`` (100, the
   default of ``--max-endpoints-per-slice``). A Service whose selector matches no pod gets one
   empty *placeholder* slice, as upstream's, so ``kubectl get endpointslices`` shows it exists.
3. **write the difference** — existing slices of this Service (found by the
   ``kubernetes.io/service-name`` label, managed by this controller) with the same ports are
   reused in name order: rewritten only if their endpoints differ; missing ones are created
   (``generateName: <service>-``); the rest are deleted. A Service deleted (or one that stopped
   selecting) has its managed slices deleted; the owner reference also lets the garbage
   collector remove them.

The cache lags the writes: a sync that ran before the informer saw the slice it just created
would create a second one. So each write is remembered (the name and resourceVersion written,
or "gone") until the cache shows it, and a sync of that Service waits for that first — upstream's
endpointSliceTracker (``ShouldSync``/``StaleSlices``) does the same.

Every slice carries the labels kube-proxy and kubectl select on:
``kubernetes.io/service-name: <service>`` and
``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io``, plus the Service's own
labels; ``addressType`` is IPv4 (this lab's pods are IPv4 only).

Kubernetes equivalent: pkg/controller/endpointslice/endpointslice_controller.go,
staging/src/k8s.io/endpointslice/reconciler.go and utils.go (podToEndpoint, placeholderSliceCompare)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from orchestrator.api.errors import AlreadyExists, Conflict, Forbidden, NotFound
from orchestrator.client.informer import DeletedFinalStateUnknown, deleted_object, split_key
from orchestrator.controllers.controller import ControllerContext, Object, by_namespace, ensure_indexer
from orchestrator.controllers.endpointsutil import (
    SERVICE_NAME_LABEL,
    ServicePodsController,
    endpoint_labels,
    find_port,
    selects,
)
from orchestrator.controllers.ownerrefs import is_pod_ready, meta, new_controller_ref

__all__ = ["MANAGED_BY", "MANAGED_BY_LABEL", "MAX_ENDPOINTS_PER_SLICE", "EndpointSliceController", "desired_slices"]

log = logging.getLogger(__name__)

SLICES = "endpointslices.discovery.k8s.io"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100


def pod_endpoint(pod: Object, service: Object) -> dict[str, Any]:
    """podToEndpoint: the endpoint of one pod."""
    m, spec = meta(pod), pod.get("spec") or {}
    ready = is_pod_ready(pod)
    terminating = m.get("deletionTimestamp") is not None
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoint: dict[str, Any] = {
        "addresses": [(pod.get("status") or {})["podIP"]],
        "conditions": {"ready": publish or (ready and not terminating), "serving": publish or ready,
                       "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": m.get("namespace"), "name": m.get("name"), "uid": m.get("uid")},
    }
    if spec.get("nodeName"):
        endpoint["nodeName"] = spec["nodeName"]
    if spec.get("hostname") and spec.get("subdomain") == meta(service).get("name"):
        endpoint["hostname"] = spec["hostname"]
    return endpoint


def pod_ports(pod: Object, service: Object) -> list[dict[str, Any]]:
    """The slice ports this pod serves: one per Service port whose targetPort it has."""
    ports = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        number = find_port(pod, sp)
        if number is None:
            continue
        port: dict[str, Any] = {"name": sp.get("name") or "", "port": number, "protocol": sp.get("protocol", "TCP")}
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        ports.append(port)
    return ports


def desired_slices(service: Object, pods: list[Object]) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(ports, endpoints) of each slice the Service should have, in a stable order."""
    groups: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for pod in pods:
        ports = pod_ports(pod, service)
        key = json.dumps(ports, sort_keys=True)
        groups.setdefault(key, (ports, []))[1].append(pod_endpoint(pod, service))
    slices = []
    for key in sorted(groups):
        ports, endpoints = groups[key]
        for start in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
            slices.append((ports, endpoints[start:start + MAX_ENDPOINTS_PER_SLICE]))
    return slices or [([], [])]  # the placeholder


def _managed_service(slice_: Object) -> str | None:
    labels = meta(slice_).get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or not labels.get(SERVICE_NAME_LABEL):
        return None
    return f"{meta(slice_).get('namespace')}/{labels[SERVICE_NAME_LABEL]}"


class EndpointSliceController(ServicePodsController):
    name = "endpointslice"
    default_workers = 5  # --concurrent-service-endpoint-syncs

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers)
        self.slices = ctx.factory.informer(SLICES, namespace=ctx.namespace,
                                           label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}")
        ensure_indexer(self.slices, "namespace", by_namespace)
        ensure_indexer(self.slices, "service", lambda s: [_managed_service(s) or ""])
        # service key -> {slice name: resourceVersion written, or None for deleted}, until seen.
        self._unseen: dict[str, dict[str, int | None]] = {}
        # A slice changed or deleted by someone else is put back by the next sync of its Service.
        self.slices.add_handler(on_update=lambda old, new: self._slice_changed(new), on_delete=self._slice_changed)

    def _slice_changed(self, slice_: Object | DeletedFinalStateUnknown) -> None:
        key = _managed_service(deleted_object(slice_))
        if key:
            self.queue.add(key)

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.service(key)
        existing = sorted(self.slices.by_index("service", key), key=lambda s: meta(s).get("name") or "")
        if not self._cache_caught_up(key, existing):
            self.queue.add_after(key, 0.05)
            return
        if service is None or not selects(service):
            for slice_ in existing:
                await self._delete(slice_)
            return
        wanted = desired_slices(service, self.selected_pods(service))
        unused = list(existing)
        for ports, endpoints in wanted:
            match = next((s for s in unused if (s.get("ports") or []) == ports), None)
            if match is not None:
                unused.remove(match)
                await self._update(match, service, ports, endpoints)
            else:
                await self._create(service, ports, endpoints)
        for slice_ in unused:
            await self._delete(slice_)

    def _cache_caught_up(self, key: str, existing: list[Object]) -> bool:
        unseen = self._unseen.get(key)
        if not unseen:
            return True
        cached = {meta(s)["name"]: int(meta(s).get("resourceVersion") or 0) for s in existing}
        for name, written in list(unseen.items()):
            seen = name not in cached if written is None else cached.get(name, -1) >= written
            if seen:
                del unseen[name]
        if not unseen:
            del self._unseen[key]
        return not unseen

    def _remember(self, slice_: Mapping[str, Any], written: int | None) -> None:
        m = slice_.get("metadata") or {}
        key = f"{m.get('namespace')}/{(m.get('labels') or {}).get(SERVICE_NAME_LABEL)}"
        self._unseen.setdefault(key, {})[m["name"]] = written

    def _body(self, service: Object, ports: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> Object:
        m = meta(service)
        labels = {**endpoint_labels(service), SERVICE_NAME_LABEL: m["name"], MANAGED_BY_LABEL: MANAGED_BY}
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"generateName": f"{m['name']}-", "namespace": m.get("namespace"), "labels": labels,
                             "ownerReferences": [new_controller_ref(service, api_version="v1", kind="Service")]},
                "addressType": "IPv4", "endpoints": endpoints, "ports": ports}

    async def _create(self, service: Object, ports: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> None:
        body = self._body(service, ports, endpoints)
        try:
            created = await self.client.create(SLICES, body, namespace=body["metadata"]["namespace"])
        except AlreadyExists:
            raise Conflict("a generated EndpointSlice name was taken; retrying") from None
        except Forbidden as err:  # the namespace is terminating: its Service goes too
            log.info("%s: no EndpointSlice for %s/%s: %s", self.name, body["metadata"]["namespace"],
                     meta(service).get("name"), err)
            return
        self._remember(created, int(meta(created)["resourceVersion"]))
        log.info("%s: created EndpointSlice %s/%s (%d endpoints)", self.name, body["metadata"]["namespace"],
                 meta(created).get("name"), len(endpoints))

    async def _update(self, current: Object, service: Object, ports: list[dict[str, Any]],
                      endpoints: list[dict[str, Any]]) -> None:
        body = self._body(service, ports, endpoints)
        labels = body["metadata"]["labels"]
        if current.get("endpoints") == endpoints and (meta(current).get("labels") or {}) == labels \
                and current.get("addressType") == "IPv4":
            return
        updated = {**current, "endpoints": endpoints, "ports": ports,
                   "metadata": {**meta(current), "labels": labels}}
        stored = await self.client.update(SLICES, updated)
        self._remember(stored, int(meta(stored)["resourceVersion"]))

    async def _delete(self, slice_: Mapping[str, Any]) -> None:
        m = slice_.get("metadata") or {}
        try:
            await self.client.delete(SLICES, m["name"], namespace=m.get("namespace"))
        except NotFound:
            pass
        self._remember(slice_, None)
