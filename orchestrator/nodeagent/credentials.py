"""In-pod credentials: the ServiceAccount token, the lab CA and the API server's address.

Every container of a pod that does not opt out (``automountServiceAccountToken: false`` on the
pod; ServiceAccount admission in the API server copies a ServiceAccount's ``false`` onto pods
that do not say) gets, as kubelet's projected
``kube-api-access-*`` volume gives it::

    /var/run/secrets/kubernetes.io/serviceaccount/token      a TokenRequest token bound to the pod
    /var/run/secrets/kubernetes.io/serviceaccount/ca.crt     the lab CA (the API server's issuer)
    /var/run/secrets/kubernetes.io/serviceaccount/namespace  the pod's namespace

and the environment ``KUBERNETES_SERVICE_HOST`` / ``KUBERNETES_SERVICE_PORT``, which is all the
official client's ``config.load_incluster_config()`` reads.

Reaching the API server from a container. The lab's API server listens on 127.0.0.1, which a
container on Docker's ``bridge`` network cannot reach (its 127.0.0.1 is its own). In Kubernetes
the ``kubernetes`` Service's ClusterIP, forwarded by kube-proxy, plays this part; here the node
agent forwards: it listens on the bridge's gateway address (``docker0``, e.g. 172.17.0.1, which
every bridge container reaches and nothing outside the host does) on a free port and relays the
bytes, still TLS end to end, to the API server. ``labctl up`` puts the gateway address in the
serving certificate's names, so the CA check in the container passes. Smaller alternatives were
weighed: binding the API server itself to 0.0.0.0 would expose it on every interface; host
networking for pods would break the lab's isolation rules (docs/nodeagent-runtimes.md).

Tokens. Each container start asks for a fresh pod-bound token (``expirationSeconds`` one day,
as a lab has no token refresh yet); containers restarted later get a new one. A TokenRequest that
fails fails the start with ``CreateContainerConfigError``, as kubelet does, and the worker
retries with back-off — except for the ``default`` account not (yet) there: its pods start
without a token (and a warning), since a lab may run without the controller manager that
creates it.

Kubernetes equivalent: pkg/kubelet/token/token_manager.go, plugin/pkg/admission/serviceaccount
(the kube-api-access volume), pkg/kubelet/kubelet_pods.go (service environment variables)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import psutil
import yaml

from orchestrator.api.errors import ApiError, Forbidden, NotFound
from orchestrator.client.rest import ApiClient
from orchestrator.nodeagent.runtimes.base import ContainerStartFailed

log = logging.getLogger(__name__)

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_SECONDS = 24 * 3600
DOCKER_BRIDGE = "docker0"


@dataclass(frozen=True)
class Projection:
    """What one container gets: environment variables and files (absolute path → bytes)."""

    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)


class PodCredentials(Protocol):
    """What a pod worker asks before it starts a container (the test seam: a fake in unit tests)."""

    async def for_pod(self, pod: Mapping[str, Any]) -> Projection:
        """The projection for the containers of ``pod``; ContainerStartFailed when it cannot be made."""
        ...


def service_account_name(pod: Mapping[str, Any]) -> str:
    spec = pod.get("spec") or {}
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"


class ServiceAccountCredentials:
    """Asks the API server for pod-bound tokens (``serviceaccounts/<sa>/token``, as the node's
    identity) and projects them with the CA and the address containers dial."""

    def __init__(self, client: ApiClient, *, ca_pem: bytes, service_host: str, service_port: int,
                 token_seconds: int = TOKEN_SECONDS) -> None:
        self.client = client
        self.ca_pem = ca_pem
        self.service_host = service_host
        self.service_port = service_port
        self.token_seconds = token_seconds

    async def for_pod(self, pod: Mapping[str, Any]) -> Projection:
        meta = pod.get("metadata") or {}
        namespace, sa_name = meta.get("namespace") or "default", service_account_name(pod)
        env = {"KUBERNETES_SERVICE_HOST": self.service_host, "KUBERNETES_SERVICE_PORT": str(self.service_port),
               "KUBERNETES_SERVICE_PORT_HTTPS": str(self.service_port)}
        spec = pod.get("spec") or {}
        if spec.get("automountServiceAccountToken") is False:
            return Projection(env=env)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": self.token_seconds,
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta.get("name"),
                                            "uid": meta.get("uid")}}}
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa_name}/token"
        try:
            answer = await self.client.request_json("POST", path, body=body)
        except (NotFound, Forbidden) as err:
            if sa_name != "default":
                raise ContainerStartFailed(
                    f'failed to fetch token for service account "{namespace}/{sa_name}": {err}',
                    waiting_reason="CreateContainerConfigError") from err
            # `default` comes from the service-account controller a moment after the namespace (or
            # never, in a lab run without the controller manager): start without a token rather
            # than hold every pod of the namespace back.
            log.warning("pod %s/%s starts without a ServiceAccount token: %s", namespace, meta.get("name"), err)
            return Projection(env=env)
        except ApiError as err:
            raise ContainerStartFailed(
                f'failed to fetch token for service account "{namespace}/{sa_name}": {err}',
                waiting_reason="CreateContainerConfigError") from err
        token = str((answer.get("status") or {}).get("token") or "")
        if not token:
            raise ContainerStartFailed(f'the token request for service account "{namespace}/{sa_name}" '
                                       "returned no token", waiting_reason="CreateContainerConfigError")
        files = {f"{MOUNT_PATH}/token": token.encode(), f"{MOUNT_PATH}/ca.crt": self.ca_pem,
                 f"{MOUNT_PATH}/namespace": namespace.encode()}
        return Projection(env=env, files=files)


def bridge_gateway(interface: str = DOCKER_BRIDGE) -> str | None:
    """The IPv4 address of Docker's bridge on this host (what containers see as their gateway)."""
    for address in psutil.net_if_addrs().get(interface, []):
        if address.family.name == "AF_INET":
            return str(address.address)
    return None


class ApiServerForwarder:
    """Relays TCP connections from ``listen_host`` (the bridge gateway) to the API server."""

    def __init__(self, server_url: str, *, listen_host: str, listen_port: int = 0) -> None:
        parts = urlsplit(server_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 443)
        self.listen_host = listen_host
        self.listen_port = listen_port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, self.listen_host, self.listen_port)
        self.listen_port = self._server.sockets[0].getsockname()[1]
        log.info("forwarding %s:%d to the API server at %s:%d for containers", self.listen_host,
                 self.listen_port, *self.target)
        return self.listen_port

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError as err:
            log.warning("forwarder: the API server at %s:%d does not answer: %s", *self.target, err)
            writer.close()
            return
        a = asyncio.create_task(_pipe(reader, up_writer), name="forwarder-up")
        b = asyncio.create_task(_pipe(up_reader, writer), name="forwarder-down")
        self._pipes.update((a, b))
        try:
            await asyncio.gather(a, b)
        finally:
            self._pipes.difference_update((a, b))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._pipes):
                task.cancel()
            await asyncio.gather(*self._pipes, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class InPodAccess:
    """What one node agent process runs for in-pod credentials: the provider and, on Docker,
    the forwarder it must close at the end."""

    credentials: ServiceAccountCredentials
    forwarder: ApiServerForwarder | None = None

    async def close(self) -> None:
        if self.forwarder is not None:
            await self.forwarder.close()


async def start_in_pod_access(client: ApiClient, *, runtime: str, ca_pem: bytes | None) -> InPodAccess | None:
    """The credentials provider for this agent's runtime; containers dial the forwarder on the
    bridge gateway. None on the simulated runtime (nothing runs in its containers, and a fleet of
    thousands of pods must not cost a TokenRequest per container start) and when the kubeconfig
    carries no CA (a container could not verify the API server anyway)."""
    if runtime != "docker":
        return None
    if ca_pem is None:
        log.warning("no CA in the kubeconfig: containers get no ServiceAccount credentials")
        return None
    parts = urlsplit(client.server)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    forwarder: ApiServerForwarder | None = None
    gateway = bridge_gateway()
    if gateway is None:
        log.warning("no %s interface on this host: containers cannot reach the API server at %s",
                    DOCKER_BRIDGE, client.server)
    else:
        forwarder = ApiServerForwarder(client.server, listen_host=gateway)
        port = await forwarder.start()
        host = gateway
    creds = ServiceAccountCredentials(client, ca_pem=ca_pem, service_host=host, service_port=port)
    return InPodAccess(creds, forwarder)


def kubeconfig_ca(path: Path) -> bytes | None:
    """The CA (PEM) of the kubeconfig's current cluster: the lab CA that signed the API server."""
    config = yaml.safe_load(path.read_text()) or {}
    context = next((c.get("context") or {} for c in config.get("contexts") or []
                    if c.get("name") == config.get("current-context")), {})
    cluster = next((c.get("cluster") or {} for c in config.get("clusters") or []
                    if c.get("name") == context.get("cluster")), {})
    if cluster.get("certificate-authority-data"):
        return base64.b64decode(cluster["certificate-authority-data"])
    if cluster.get("certificate-authority"):
        return (path.parent / cluster["certificate-authority"]).read_bytes()
    return None
