"""The API objects a pod's containers are configured from: ConfigMaps, Secrets, ServiceAccount tokens,
and the PersistentVolumeClaims (and their volumes) its volumes name.

The node agent reads them through the API server with its node identity; the Node authorizer
(orchestrator/apiserver/authz/node.py) lets a node read only the ConfigMaps and Secrets that a
pod bound to it references (and the claims such a pod names, and the volumes bound to them), and ask
only for tokens bound to such a pod. Each container start
and each volume resync reads the objects again (a GET each), so a change reaches the next start
and, for volumes, the next resync; kubelet caches them with a watch per object instead, which
saves requests, not correctness.

`ObjectSource` is the seam: `ApiObjectSource` in the agent, a dictionary in unit tests. A missing
object is ``None`` (the caller decides whether that is an error, ``optional`` decides); any other
failure is an `ApiError` and the pod worker retries.

Kubernetes equivalent: pkg/kubelet/configmap/configmap_manager.go, pkg/kubelet/secret/secret_manager.go,
pkg/kubelet/token/token_manager.go
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any, Protocol

from orchestrator.api.errors import NotFound
from orchestrator.client.rest import ApiClient


class ObjectSource(Protocol):
    """Where a pod worker reads ConfigMaps and Secrets and asks for tokens."""

    async def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The ConfigMap's ``data`` and ``binaryData`` as bytes; None when it does not exist."""
        ...

    async def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The Secret's decoded ``data``; None when it does not exist."""
        ...

    async def token(self, pod: Mapping[str, Any], *, audience: str | None, expiration_seconds: int) -> str:
        """A token of the pod's ServiceAccount bound to the pod (TokenRequest)."""
        ...

    async def persistent_volume_claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The PersistentVolumeClaim; None when it does not exist."""
        ...

    async def persistent_volume(self, name: str) -> dict[str, Any] | None:
        """The PersistentVolume; None when it does not exist."""
        ...


def config_map_payload(obj: Mapping[str, Any]) -> dict[str, bytes]:
    """``data`` (text) and ``binaryData`` (base64) of a ConfigMap, as bytes by key."""
    out = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


def secret_payload(obj: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's ``data`` (base64 on the wire) as bytes by key."""
    return {k: base64.b64decode(v or "") for k, v in (obj.get("data") or {}).items()}


class ApiObjectSource:
    """`ObjectSource` through the API server with the node's client; tokens are reused until 80%
    of their life has passed, as kubelet's token manager does."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._tokens: dict[tuple[str, str | None, int], tuple[str, float]] = {}

    async def config_map(self, namespace: str, name: str) -> dict[str, bytes] | None:
        try:
            return config_map_payload(await self.client.get("configmaps", name, namespace=namespace))
        except NotFound:
            return None

    async def secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        try:
            return secret_payload(await self.client.get("secrets", name, namespace=namespace))
        except NotFound:
            return None

    async def persistent_volume_claim(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.client.get("persistentvolumeclaims", name, namespace=namespace)
        except NotFound:
            return None

    async def persistent_volume(self, name: str) -> dict[str, Any] | None:
        try:
            return await self.client.get("persistentvolumes", name)
        except NotFound:
            return None

    async def token(self, pod: Mapping[str, Any], *, audience: str | None, expiration_seconds: int) -> str:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        key = (str(meta.get("uid")), audience, expiration_seconds)
        cached = self._tokens.get(key)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        namespace = meta.get("namespace") or "default"
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        body: dict[str, Any] = {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration_seconds,
                     "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta.get("name"),
                                        "uid": meta.get("uid")}}}
        if audience:
            body["spec"]["audiences"] = [audience]
        answer = await self.client.request_json(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token", body=body)
        token = str((answer.get("status") or {}).get("token") or "")
        self._tokens[key] = (token, time.monotonic() + 0.8 * expiration_seconds)
        return token

    def forget(self, pod_uid: str) -> None:
        """Drop the cached tokens of a pod that ended."""
        for key in [k for k in self._tokens if k[0] == pod_uid]:
            del self._tokens[key]
