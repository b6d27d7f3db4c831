"""``pods/<name>/log``: the API server proxies to the node agent that runs the pod, as
kube-apiserver proxies to the kubelet's ``/containerLogs/<ns>/<pod>/<container>``.

The node's address and port come from its Node object (``status.addresses`` InternalIP and
``status.daemonEndpoints.kubeletEndpoint.Port``); the agent's reply is streamed through line
by line, so ``kubectl logs -f`` follows, and ends when the agent ends the stream. The connection
is HTTPS with the API server's client certificate when it has one (orchestrator/apiserver/kubeletclient.py).

Kubernetes equivalent: pkg/registry/core/pod/rest/log.go, pkg/registry/core/pod/strategy.go (LogLocation)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from orchestrator.api.errors import BadRequest, Unavailable, from_status
from orchestrator.apiserver.kubeletclient import KubeletClient
from orchestrator.storage.store import Store

FORWARDED_PARAMS = ("follow", "tailLines", "timestamps", "sinceSeconds", "previous", "limitBytes")


class LogProxy:
    def __init__(self, store: Store, kubelet: KubeletClient) -> None:
        self._store = store
        self._kubelet = kubelet
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None),
                                         verify=kubelet.ssl_context if kubelet.ssl_context is not None else True)

    async def close(self) -> None:
        await self._client.aclose()

    async def proxy(self, pod: dict[str, Any], request: Request) -> Response:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        containers = [c.get("name") for c in spec.get("containers") or []]
        container = request.query_params.get("container")
        if not container:
            if len(containers) != 1:
                raise BadRequest(f'a container name must be specified for pod {meta.get("name")}, choose one of: {containers}')
            container = containers[0]
        elif container not in containers:
            raise BadRequest(f'container {container} is not valid for pod {meta.get("name")}')
        node_name = spec.get("nodeName")
        if not node_name:
            raise BadRequest(f'container "{container}" in pod "{meta.get("name")}" is waiting to start: the pod is not scheduled yet')
        endpoint = await self._kubelet.locate(self._store, node_name, what="logs")
        url = self._kubelet.url(endpoint, f"/containerLogs/{meta.get('namespace')}/{meta.get('name')}/{container}")
        params = {k: request.query_params[k] for k in FORWARDED_PARAMS if k in request.query_params}
        headers = self._kubelet.headers()
        try:
            upstream = await self._client.send(self._client.build_request("GET", url, params=params, headers=headers),
                                               stream=True)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the node agent of {node_name} is not reachable at "
                              f"{endpoint.address}:{endpoint.port}: {exc}") from exc
        if upstream.status_code >= 400:
            body = await upstream.aread()
            await upstream.aclose()
            try:
                import json

                raise from_status(json.loads(body))
            except ValueError:
                raise BadRequest(body.decode(errors="replace") or f"the node agent answered {upstream.status_code}") from None

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            except httpx.HTTPError:
                return
            finally:
                await upstream.aclose()

        return StreamingResponse(relay(), media_type="text/plain")
