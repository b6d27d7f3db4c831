"""The ``kubernetes`` Service in ``default``, with the Endpoints and EndpointSlice that point at the
API server: how in-cluster clients find the API (``kubernetes.default.svc``), and what
``kubectl cluster-info`` and ``kubectl get svc`` show first on every cluster.

At start, and every ``interval`` seconds after (someone may delete or change them), the API server
makes sure that:

- the Service exists: ``type: ClusterIP``, the first address of the service range as its ClusterIP
  (10.96.0.1 with the default 10.96.0.0/12), port 443 named ``https`` whose ``targetPort`` is the
  API server's own port, no selector (nobody but the API server writes its endpoints), the label
  ``component: apiserver`` and ``provider: kubernetes``; ports that drifted are put back;
- the Endpoints ``kubernetes`` and the EndpointSlice ``kubernetes`` (label
  ``kubernetes.io/service-name: kubernetes``) name this API server's address and port.

Several API servers: Kubernetes' default ``lease`` reconciler keeps every live API server's address
(each renews a lease in etcd). This lab's API servers share one database but each writes only its
own address, so the last one to reconcile is the one named — the upstream ``master-count``
reconciler with a count of one. Any of them serves the same API, so in-cluster clients still work.
Two API servers of one lab run on one host on two ports (`labctl up --apiservers 2`): one
EndpointSlice cannot name one address with two ports, and the Service's numeric targetPort can
name only one, so there each is started with ``--advertise-port`` = the HAProxy port in front of
both; they then write the same endpoints instead of overwriting each other's every ``interval``
(docs/multi-host.md).

The address is ``--advertise-address`` or else this host's primary address: an endpoint may not be
a loopback address (clients in pods would reach themselves), even though the lab's API server
listens on 127.0.0.1. On Docker, `labctl up` advertises the bridge gateway, so the ClusterIP
reaches it from pods through the proxy's rules (docs/networking.md): one API server also listens
there (``--extra-bind-address``); several name ``<gateway>:<HAProxy's port>``, where HAProxy also
listens and balances pods' connections over them (orchestrator/lab/haproxy.py).

Kubernetes equivalent: pkg/controlplane/controller/kubernetesservice/controller.go,
pkg/controlplane/reconcilers/ (endpointsadapter.go, mastercount.go)
"""

from __future__ import annotations

import asyncio
import copy
import logging
import socket
from typing import Any

from orchestrator.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry.generic import Registry

log = logging.getLogger(__name__)

NAME = "kubernetes"
NAMESPACE = "default"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_SERVICES = by_group_resource("services")
_ENDPOINTS = by_group_resource("endpoints")
_SLICES = by_group_resource("endpointslices.discovery.k8s.io")


def primary_address() -> str | None:
    """The address of the interface holding the default route (nothing is sent: a UDP connect
    only picks the route); None on a host with no route beyond loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address: str = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def service(cluster_ip: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE,
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    }


def endpoints(address: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    }


def endpoint_slice(address: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {SERVICE_NAME_LABEL: NAME}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }


class KubernetesService:
    """Reconciles the ``kubernetes`` Service and its endpoints; see the module docstring."""

    def __init__(self, registry: Registry, *, cluster_ip: str, port: int, address: str | None) -> None:
        self.registry = registry
        self.cluster_ip = cluster_ip
        self.port = port
        self.address = address

    async def reconcile(self) -> None:
        await self._ensure_service()
        if self.address is None:
            log.warning("kubernetes Service: no advertise address (no route beyond loopback and no "
                        "--advertise-address): its endpoints are left empty")
            return
        await self._ensure(_ENDPOINTS, endpoints(self.address, self.port), ("subsets",))
        await self._ensure(_SLICES, endpoint_slice(self.address, self.port), ("addressType", "endpoints", "ports"))

    async def run(self, interval: float = 10.0) -> None:
        """Reconcile every ``interval`` seconds until cancelled (the first pass is the caller's)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reconcile()
            except ApiError as exc:
                log.warning("kubernetes Service: reconcile failed (retrying in %.0fs): %s", interval, exc)

    async def _ensure_service(self) -> None:
        wanted = service(self.cluster_ip, self.port)
        try:
            current = await self.registry.get(_SERVICES, NAMESPACE, NAME)
        except NotFound:
            try:
                await self.registry.create(_SERVICES, NAMESPACE, wanted, field_validation="Strict")
                log.info("created the kubernetes Service (%s:443 -> port %d)", self.cluster_ip, self.port)
            except AlreadyExists:
                pass  # another API server made it first
            return
        spec = current.get("spec") or {}
        if spec.get("ports") == wanted["spec"]["ports"] and spec.get("type") == "ClusterIP":
            return
        # Upstream puts the ports and type back (CreateOrUpdateMasterServiceIfNeeded); the
        # ClusterIP stays whatever was allocated.
        updated = copy.deepcopy(current)
        updated["spec"]["ports"] = wanted["spec"]["ports"]
        updated["spec"]["type"] = "ClusterIP"
        try:
            await self.registry.update(_SERVICES, NAMESPACE, NAME, updated, field_validation="Strict")
        except Conflict:
            pass  # changed meanwhile: the next pass looks again

    async def _ensure(self, info: Any, wanted: dict[str, Any], fields: tuple[str, ...]) -> None:
        try:
            current = await self.registry.get(info, NAMESPACE, NAME)
        except NotFound:
            try:
                await self.registry.create(info, NAMESPACE, wanted, field_validation="Strict")
            except AlreadyExists:
                pass
            return
        if all(current.get(f) == wanted.get(f) for f in fields) and \
                (current["metadata"].get("labels") or {}) == wanted["metadata"]["labels"]:
            return
        updated = copy.deepcopy(current)
        updated["metadata"]["labels"] = wanted["metadata"]["labels"]
        for f in fields:
            updated[f] = wanted[f]
        try:
            await self.registry.update(info, NAMESPACE, NAME, updated, field_validation="Strict")
        except Conflict:
            pass
