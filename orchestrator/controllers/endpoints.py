"""The Endpoints controller: the legacy ``v1`` Endpoints of every Service with a selector.

EndpointSlices are what kube-proxy and DNS read; Endpoints remain because older tools and
``kubectl describe service`` still read them. One Endpoints object per Service, named like it:
``subsets`` group addresses by the ports they serve; a Ready pod's address is in ``addresses``,
one that is not Ready in ``notReadyAddresses`` (all in ``addresses`` when the Service publishes
not-ready addresses). Unlike slices, pods being deleted are left out. A Service without a
selector is left alone (whoever made it writes its Endpoints); a deleted Service's Endpoints are
deleted.

Kubernetes equivalent: pkg/controller/endpoint/endpoints_controller.go,
pkg/api/v1/endpoints/util.go (RepackSubsets)
"""

from __future__ import annotations

import json
import logging
from typing import Any

from orchestrator.api.errors import AlreadyExists, Conflict, Forbidden, NotFound
from orchestrator.client.informer import split_key
from orchestrator.controllers.controller import ControllerContext, Object, by_namespace, ensure_indexer
from orchestrator.controllers.endpointsutil import ServicePodsController, endpoint_labels, find_port, selects
from orchestrator.controllers.ownerrefs import is_pod_ready, meta

__all__ = ["EndpointsController", "subsets_for"]

log = logging.getLogger(__name__)


def subsets_for(service: Object, pods: list[Object]) -> list[dict[str, Any]]:
    """RepackSubsets: one subset per distinct port list, addresses sorted by IP."""
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    groups: dict[str, dict[str, Any]] = {}
    for pod in pods:
        m = meta(pod)
        if m.get("deletionTimestamp") is not None:
            continue
        ports = []
        for sp in (service.get("spec") or {}).get("ports") or []:
            number = find_port(pod, sp)
            if number is not None:
                port: dict[str, Any] = {"name": sp.get("name") or "", "port": number,
                                        "protocol": sp.get("protocol", "TCP")}
                if not port["name"]:
                    del port["name"]
                ports.append(port)
        if not ports:
            continue
        address: dict[str, Any] = {"ip": pod["status"]["podIP"],
                                   "targetRef": {"kind": "Pod", "namespace": m.get("namespace"), "name": m.get("name"),
                                                 "uid": m.get("uid")}}
        if (pod.get("spec") or {}).get("nodeName"):
            address["nodeName"] = pod["spec"]["nodeName"]
        subset = groups.setdefault(json.dumps(ports, sort_keys=True), {"ports": ports})
        which = "addresses" if publish or is_pod_ready(pod) else "notReadyAddresses"
        subset.setdefault(which, []).append(address)
    subsets = []
    for key in sorted(groups):
        subset = groups[key]
        for which in ("addresses", "notReadyAddresses"):
            if which in subset:
                subset[which].sort(key=lambda a: a["ip"])
        subsets.append({k: subset[k] for k in ("addresses", "notReadyAddresses", "ports") if k in subset})
    return subsets


class EndpointsController(ServicePodsController):
    name = "endpoint"
    default_workers = 5  # --concurrent-endpoint-syncs

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers)
        self.endpoints = ctx.factory.informer("endpoints", namespace=ctx.namespace)
        ensure_indexer(self.endpoints, "namespace", by_namespace)
        self.endpoints.add_handler(on_delete=self.enqueue)  # deleted by someone: written again

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.service(key)
        current = self.endpoints.get(key)
        if service is None:
            if current is not None:
                try:
                    await self.client.delete("endpoints", name, namespace=namespace)
                except NotFound:
                    pass
            return
        if not selects(service):
            return
        subsets = subsets_for(service, self.selected_pods(service))
        labels = endpoint_labels(service)
        if current is None:
            body = {"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name, "namespace": namespace, "labels": labels}, "subsets": subsets}
            try:
                await self.client.create("endpoints", body, namespace=namespace)
            except AlreadyExists:
                raise Conflict(f"endpoints {key} exist but are not in the cache yet; retrying") from None
            except Forbidden as err:  # the namespace is terminating: its Service goes too
                log.info("%s: no Endpoints for %s: %s", self.name, key, err)
            return
        if (current.get("subsets") or []) == subsets and (meta(current).get("labels") or {}) == labels:
            return
        await self.client.update("endpoints", {**current, "subsets": subsets,
                                               "metadata": {**meta(current), "labels": labels}})
