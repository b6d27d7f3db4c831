"""The ``metrics.k8s.io/v1beta1`` endpoints, as the API server's aggregator reaches them.

    GET /apis/metrics.k8s.io/v1beta1                                   APIResourceList (nodes, pods)
    GET /apis/metrics.k8s.io/v1beta1/nodes[/<name>]                    NodeMetrics(List)
    GET /apis/metrics.k8s.io/v1beta1/pods                              PodMetricsList, all namespaces
    GET /apis/metrics.k8s.io/v1beta1/namespaces/<ns>/pods[/<name>]     PodMetrics(List)

Lists take ``labelSelector`` (matched against the Node's or Pod's labels, from the informers)
and ``fieldSelector`` (``metadata.name``, ``metadata.namespace``). Only get and list: a watch or
a write is 405, an unknown object 404 (``podmetrics.metrics.k8s.io "x" not found``).

Who may call: only the API server. Every request but /healthz, /livez and /readyz must carry
the front-proxy token (``Authorization: Bearer``; the API server's ``--proxy-client-token-file``,
our ``--requestheader-token-file``); the user the API server authenticated and authorized comes in
``X-Remote-User`` / ``X-Remote-Group`` and is only logged: the API server already decided. A
request with no or another token is 401, so nobody reaches the metrics around the API server's
authorization. (Kubernetes proves the proxy with a front-proxy client certificate,
``--requestheader-client-ca-file``; the lab uses a token, as it does towards node agents.)

Kubernetes equivalent: sigs.k8s.io/metrics-server/pkg/api (nodeMetrics, podMetrics),
k8s.io/apiserver/pkg/authentication/request/headerrequest
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from orchestrator.api.errors import ApiError, MethodNotAllowed, NotFound, Unauthorized
from orchestrator.api.selectors import FieldSelector, LabelSelector
from orchestrator.api.timestamps import now_rfc3339
from orchestrator.metrics.convert import API_VERSION, GROUP, VERSION, metrics_list, node_metrics, pod_metrics
from orchestrator.metrics.storage import MetricsStorage

log = logging.getLogger("orchestrator.metrics.api")

PUBLIC = ("/healthz", "/livez", "/readyz")

RESOURCE_LIST = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": API_VERSION,
    "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
    ],
}
API_GROUP = {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP,
             "versions": [{"groupVersion": API_VERSION, "version": VERSION}],
             "preferredVersion": {"groupVersion": API_VERSION, "version": VERSION}}

Labels = Callable[[str | None, str], Mapping[str, str] | None]  # (namespace, name) -> labels, None: unknown object


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json")


_now = now_rfc3339


def create_app(*, storage: MetricsStorage, node_labels: Labels, pod_labels: Labels, proxy_tokens: list[str],
               ready: Callable[[], bool]) -> Starlette:
    """The metrics API over `storage`; labels come from the informers; `proxy_tokens` are the
    front-proxy credentials accepted (at least one)."""
    if not proxy_tokens:
        raise ValueError("the metrics API needs the API server's front-proxy token (--requestheader-token-file)")
    accepted = [t.encode() for t in proxy_tokens]

    def authenticate(request: Request) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip().encode() if header.lower().startswith("bearer ") else b""
        if not token or not any([hmac.compare_digest(token, t) for t in accepted]):
            raise Unauthorized("Unauthorized: the metrics API answers the API server only (front-proxy token)")

    def nodes(label_selector: LabelSelector, field_selector: FieldSelector) -> list[dict[str, Any]]:
        now, out = _now(), []
        for usage in sorted(storage.nodes(), key=lambda n: n.name):
            labels = node_labels(None, usage.name)
            if labels is None:
                continue  # the Node is gone
            obj = node_metrics(usage, labels=labels, now=now)
            if label_selector.matches(labels) and field_selector.matches(obj):
                out.append(obj)
        return out

    def pods(namespace: str | None, label_selector: LabelSelector, field_selector: FieldSelector) -> list[dict[str, Any]]:
        now, out = _now(), []
        for usage in sorted(storage.pods(), key=lambda p: (p.namespace, p.name)):
            if namespace is not None and usage.namespace != namespace:
                continue
            labels = pod_labels(usage.namespace, usage.name)
            if labels is None:
                continue  # the Pod is gone: its last sample is not shown
            obj = pod_metrics(usage, labels=labels, now=now)
            if label_selector.matches(labels) and field_selector.matches(obj):
                out.append(obj)
        return out

    async def metrics_endpoint(request: Request) -> Response:
        try:
            authenticate(request)
            if request.method != "GET" or request.query_params.get("watch", "").lower() in ("true", "1"):
                raise MethodNotAllowed(f"{request.method} is not supported: metrics are read with get and list")
            log.debug("%s %s for %s %s", request.method, request.url.path, request.headers.get("x-remote-user"),
                      request.headers.getlist("x-remote-group"))
            return _json(answer(request))
        except ApiError as err:
            return _json(err.status(), err.code)

    def answer(request: Request) -> dict[str, Any]:
        path = request.url.path.rstrip("/")
        prefix = f"/apis/{GROUP}/{VERSION}"
        if path == f"/apis/{GROUP}":
            return API_GROUP
        if path == prefix:
            return RESOURCE_LIST
        if not path.startswith(prefix + "/"):
            raise NotFound("the server could not find the requested resource")
        segs = path[len(prefix) + 1:].split("/")
        q = request.query_params
        namespace: str | None = None
        if segs[0] == "namespaces" and len(segs) >= 3:
            namespace, segs = segs[1], segs[2:]
        resource, name = segs[0], (segs[1] if len(segs) == 2 else None)
        if len(segs) > 2 or resource not in ("nodes", "pods") or (resource == "nodes" and namespace is not None):
            raise NotFound("the server could not find the requested resource")
        if resource == "pods" and name is not None and namespace is None:
            raise NotFound("pods are namespaced: use /apis/metrics.k8s.io/v1beta1/namespaces/<namespace>/pods/<name>")
        kind = "NodeMetrics" if resource == "nodes" else "PodMetrics"
        if name is not None:
            selector = FieldSelector.parse(f"metadata.name={name}", group_resource=resource)
            found = (nodes(LabelSelector.everything(), selector) if resource == "nodes"
                     else pods(namespace, LabelSelector.everything(), selector))
            if not found:
                raise NotFound(f'{resource[:-1]}metrics.{GROUP} "{name}" not found', kind=resource, name=name, group=GROUP)
            return found[0]
        labels = LabelSelector.parse(q.get("labelSelector"))
        fields = FieldSelector.parse(q.get("fieldSelector"), group_resource=resource)
        items = nodes(labels, fields) if resource == "nodes" else pods(namespace, labels, fields)
        return metrics_list(kind, items)

    async def health(request: Request) -> Response:
        if request.url.path == "/readyz" and not ready():
            return PlainTextResponse("not ready: no scrape finished yet", status_code=503)
        return PlainTextResponse("ok")

    routes = [Route(p, health) for p in PUBLIC]
    routes.append(Route("/{path:path}", metrics_endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    return Starlette(routes=routes)


__all__ = ["API_GROUP", "RESOURCE_LIST", "create_app"]
