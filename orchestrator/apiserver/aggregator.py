"""The aggregation layer: groups this API server does not serve itself, proxied to the server an APIService names.

An ``apiregistration.k8s.io/v1`` APIService ``v1beta1.metrics.k8s.io`` says "requests under
``/apis/metrics.k8s.io/v1beta1`` go to that server". For each such request the API server:

1. authenticates the caller (the middleware, as for every request) and authorizes the request
   from its path (``get pods.metrics.k8s.io in ns``: RBAC decides, as for a built-in resource);
2. forwards it to the server with the caller's identity in ``X-Remote-User`` and one
   ``X-Remote-Group`` header per group, and its own front-proxy credential
   (``--proxy-client-token-file``) as the bearer token, so the server trusts the headers from
   this API server only;
3. passes the answer back unchanged (status, body, content type).

Where the server is: ``spec.url`` (labkit extension: components run on the lab's host), or
``spec.service``, resolved through that Service's Endpoints (the first ready address and port).
An APIService with neither is local: served by this API server (the built-in groups).

Availability: a check per APIService (every `recheck_seconds`, every `retry_seconds` while failing,
and at once when it changes) asks the server for ``/apis/<group>/<version>``. Its answer (an
APIResourceList) is kept for discovery, and the APIService's ``Available`` condition is written
through the status subresource: ``True``/``Passed``, or ``False`` with ``ServiceNotFound``,
``MissingEndpoints`` or ``FailedDiscoveryCheck`` and the reason in the message — what ``kubectl get
apiservices`` shows. Requests to a group that is not available are answered 503 ("the server is
currently unable to handle the request"), as kube-aggregator does.

Discovery: an available group is listed in ``/apis`` (both the legacy APIGroupList and the
aggregated ``APIGroupDiscoveryList`` kubectl reads) with the resources its server reported, so
``kubectl top`` finds ``metrics.k8s.io``; ``/apis/<group>`` and ``/apis/<group>/<version>`` are
answered from the same data.

Kubernetes equivalent: k8s.io/kube-aggregator/pkg/apiserver/handler_proxy.go (proxyHandler),
pkg/controllers/status/available_controller.go, pkg/apiserver/handler_discovery.go,
k8s.io/apiserver/pkg/endpoints/filters/authentication.go (the X-Remote-* headers)
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import Response

from orchestrator.api.errors import ApiError, Expired, NotFound, Unavailable
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.catalog import version_priority
from orchestrator.apiserver.validation import rfc3339

log = logging.getLogger("orchestrator.apiserver.aggregator")

APISERVICES = "apiservices.apiregistration.k8s.io"
UNAVAILABLE_MESSAGE = "the server is currently unable to handle the request"
FORWARDED_HEADERS = ("accept", "content-type", "user-agent")


@dataclass
class _Backend:
    """What this server knows of one non-local APIService."""

    apiservice: dict[str, Any]
    resources: dict[str, Any] | None = None  # the APIResourceList of the last passed check
    available: bool = False


def _key(apiservice: Mapping[str, Any]) -> tuple[str, str]:
    spec = apiservice.get("spec") or {}
    return str(spec.get("group") or ""), str(spec.get("version") or "")


def _local(apiservice: Mapping[str, Any]) -> bool:
    spec = apiservice.get("spec") or {}
    return not spec.get("service") and not spec.get("url")


class Aggregator:
    """The APIServices this server follows, their availability, and the proxy to them."""

    def __init__(self, store: Any, watch_cache: Any, *, proxy_token: str | None, timeout: float = 10.0,
                 recheck_seconds: float = 30.0, retry_seconds: float = 1.0) -> None:
        self._store = store
        self._watch_cache = watch_cache
        self._proxy_token = proxy_token
        self._timeout = timeout
        self._recheck = recheck_seconds
        self._retry = retry_seconds
        self._backends: dict[tuple[str, str], _Backend] = {}
        self._clients: dict[tuple[str, bool], httpx.AsyncClient] = {}
        self._changed = asyncio.Event()

    # --- what routing and discovery ask ------------------------------------------------------

    def serves(self, group: str, version: str) -> bool:
        """Whether requests under /apis/<group>/<version> are proxied (the group is aggregated)."""
        return (group, version) in self._backends

    def groups(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(group, version, APIResourceList) of every available aggregated group/version, the
        preferred version first (versionPriority, then Kubernetes' version order)."""
        out = [(g, v, b) for (g, v), b in self._backends.items() if b.available and b.resources is not None]
        out.sort(key=lambda t: (t[0], -int((t[2].apiservice.get("spec") or {}).get("versionPriority") or 0),
                                version_priority(t[1])))
        return [(g, v, b.resources) for g, v, b in out if b.resources is not None]

    # --- following the APIServices -------------------------------------------------------------

    def _apply(self, event_type: str, apiservice: dict[str, Any]) -> None:
        key = _key(apiservice)
        if event_type == "DELETED" or _local(apiservice):
            if event_type == "DELETED" and self._backends.get(key) is not None:
                name = (self._backends[key].apiservice.get("metadata") or {}).get("name")
                if name != (apiservice.get("metadata") or {}).get("name"):
                    return  # another APIService's deletion
            self._backends.pop(key, None)
            return
        backend = self._backends.get(key)
        if backend is None:
            self._backends[key] = _Backend(apiservice)
            self._changed.set()
            return
        if (backend.apiservice.get("spec") or {}) != (apiservice.get("spec") or {}):
            backend.available, backend.resources = False, None
            self._changed.set()
        backend.apiservice = apiservice

    async def follow(self, *, retry_seconds: float = 1.0) -> None:
        """List the APIServices, then watch them for ever (relisting after Expired or an error)."""
        while True:
            try:
                listed = await self._store.list(APISERVICES)
                names = set()
                for item in listed.items:
                    names.add(_key(item))
                    self._apply("ADDED", item)
                for key in [k for k in self._backends if k not in names]:
                    del self._backends[key]
                async for event in self._watch_cache.watch(APISERVICES, since=listed.revision):
                    self._apply(event.type, event.object)
            except asyncio.CancelledError:
                raise
            except Expired:
                log.info("APIService watch expired; listing again")
            except (ApiError, OSError) as exc:
                log.warning("APIService watch failed (%s); listing again in %.1fs", exc, retry_seconds)
                await asyncio.sleep(retry_seconds)

    async def run(self) -> None:
        """Follow the APIServices and keep their Available condition current (one named task)."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.follow(), name="apiserver-apiservices")
            tg.create_task(self._check_loop(), name="apiserver-apiservice-availability")

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    # --- availability --------------------------------------------------------------------------

    async def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        due: dict[tuple[str, str], float] = {}  # when each APIService is checked next
        while True:
            self._changed.clear()
            for key in list(self._backends):
                if loop.time() >= due.get(key, 0.0):
                    try:
                        passed = await self.check(key)
                    except (ApiError, OSError) as exc:  # storage trouble: try again, never end the loop
                        log.warning("APIService %s/%s: availability check failed: %s", *key, exc)
                        passed = False
                    due[key] = loop.time() + (self._recheck if passed else self._retry)
            for key in [k for k in due if k not in self._backends]:
                del due[key]
            wait = min([d - loop.time() for d in due.values()], default=self._recheck)
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=max(0.05, wait))
            except TimeoutError:
                continue
            for key, backend in self._backends.items():  # a change: look again at the failing ones now
                if not backend.available:
                    due[key] = 0.0

    async def check(self, key: tuple[str, str]) -> bool:
        """Ask the server of one APIService for its discovery document; record and write the result."""
        backend = self._backends.get(key)
        if backend is None:
            return False
        group, version = key
        try:
            base = await self._base_url(backend.apiservice)
            client = self._client(backend.apiservice)
            response = await client.get(f"{base}/apis/{group}/{version}", headers=self._auth_headers(None))
            if response.status_code != 200:
                raise _CheckFailed("FailedDiscoveryCheck", f"failing or missing response from {base}/apis/{group}/"
                                   f"{version}: bad status from {base}: {response.status_code}")
            resources = response.json()
            if not isinstance(resources, dict) or resources.get("kind") != "APIResourceList":
                raise _CheckFailed("FailedDiscoveryCheck", f"{base}/apis/{group}/{version} did not answer an "
                                   "APIResourceList")
        except _CheckFailed as failed:
            backend.available, backend.resources = False, None
            await self._write_condition(backend.apiservice, False, failed.reason, failed.message)
            return False
        except (httpx.HTTPError, ValueError) as exc:
            backend.available, backend.resources = False, None
            await self._write_condition(backend.apiservice, False, "FailedDiscoveryCheck",
                                        f"failing or missing response from {backend.apiservice['spec'].get('url') or key}"
                                        f": {exc or type(exc).__name__}")
            return False
        backend.available, backend.resources = True, resources
        await self._write_condition(backend.apiservice, True, "Passed", "all checks passed")
        return True

    async def _write_condition(self, apiservice: Mapping[str, Any], available: bool, reason: str, message: str) -> None:
        name = (apiservice.get("metadata") or {}).get("name")
        wanted = ("True" if available else "False", reason, message)

        def mutate(obj: dict[str, Any]) -> dict[str, Any] | None:
            status = obj.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
            current = next((c for c in conditions if c.get("type") == "Available"), None)
            if current is not None and (current.get("status"), current.get("reason"), current.get("message")) == wanted:
                return None
            since = current.get("lastTransitionTime") if current is not None and current.get("status") == wanted[0] \
                else rfc3339(datetime.now(UTC))
            status["conditions"] = [{"type": "Available", "status": wanted[0], "lastTransitionTime": since,
                                     "reason": reason, "message": message}] + \
                [c for c in conditions if c.get("type") != "Available"]
            return obj

        try:
            await self._store.guaranteed_update(APISERVICES, None, name, mutate)
        except NotFound:
            pass
        except ApiError as exc:
            log.warning("APIService %s: could not write its Available condition: %s", name, exc)

    async def _base_url(self, apiservice: Mapping[str, Any]) -> str:
        spec = apiservice.get("spec") or {}
        if spec.get("url"):
            return str(spec["url"]).rstrip("/")
        service = spec.get("service") or {}
        namespace, name = service.get("namespace"), service.get("name")
        try:
            await self._store.get("services", namespace, name)
        except NotFound:
            raise _CheckFailed("ServiceNotFound", f'service/{name} in "{namespace}" is not present') from None
        try:
            endpoints = await self._store.get("endpoints", namespace, name)
        except NotFound:
            raise _CheckFailed("MissingEndpoints", f"endpoints for service/{name} in \"{namespace}\" have no "
                               "addresses") from None
        for subset in endpoints.get("subsets") or []:
            addresses, ports = subset.get("addresses") or [], subset.get("ports") or []
            if addresses and ports:
                scheme = "https" if int(ports[0].get("port", 443)) != 80 else "http"
                return f"{scheme}://{addresses[0]['ip']}:{ports[0]['port']}"
        raise _CheckFailed("MissingEndpoints", f'endpoints for service/{name} in "{namespace}" have no addresses')

    def _client(self, apiservice: Mapping[str, Any]) -> httpx.AsyncClient:
        spec = apiservice.get("spec") or {}
        ca, insecure = str(spec.get("caBundle") or ""), bool(spec.get("insecureSkipTLSVerify"))
        client = self._clients.get((ca, insecure))
        if client is None:
            verify: ssl.SSLContext | bool = True
            if insecure:
                verify = False
            elif ca:
                import base64

                verify = ssl.create_default_context(cadata=base64.b64decode(ca).decode())
            client = httpx.AsyncClient(timeout=self._timeout, verify=verify)
            self._clients[(ca, insecure)] = client
        return client

    def _auth_headers(self, user: User | None) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        if self._proxy_token:
            headers.append(("Authorization", f"Bearer {self._proxy_token}"))
        if user is not None:
            headers.append(("X-Remote-User", user.name))
            headers.extend(("X-Remote-Group", g) for g in user.groups)
        return headers

    # --- the proxy -----------------------------------------------------------------------------

    async def proxy(self, request: Request, user: User, group: str, version: str) -> Response:
        """Forward an authorized request under /apis/<group>/<version> to its server."""
        backend = self._backends.get((group, version))
        if backend is None or not backend.available:
            raise Unavailable(UNAVAILABLE_MESSAGE)
        try:
            base = await self._base_url(backend.apiservice)
        except _CheckFailed:
            raise Unavailable(UNAVAILABLE_MESSAGE) from None
        headers = self._auth_headers(user)
        headers.extend((k, v) for k, v in request.headers.items() if k in FORWARDED_HEADERS)
        body = await request.body()
        try:
            upstream = await self._client(backend.apiservice).request(
                request.method, f"{base}{request.url.path}", params=list(request.query_params.multi_items()),
                headers=headers, content=body or None)
        except httpx.HTTPError as exc:
            log.warning("proxy to %s/%s at %s failed: %s", group, version, base, exc)
            self._changed.set()  # look again soon: it may be gone
            backend.available = False
            raise Unavailable(UNAVAILABLE_MESSAGE) from exc
        return Response(upstream.content, status_code=upstream.status_code,
                        media_type=upstream.headers.get("content-type", "application/json"))


class _CheckFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


# --- discovery documents with the aggregated groups merged in -------------------------------------


def merge_group_list(body: dict[str, Any], aggregator: Aggregator | None) -> dict[str, Any]:
    """``GET /apis`` (APIGroupList) plus every available aggregated group."""
    if aggregator is None:
        return body
    by_group: dict[str, list[str]] = {}
    for group, version, _ in aggregator.groups():
        by_group.setdefault(group, []).append(version)
    known = {g["name"] for g in body.get("groups") or []}
    for group, versions in by_group.items():
        if group in known:
            continue
        body.setdefault("groups", []).append(api_group(group, versions))
    return body


def api_group(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries,
            "preferredVersion": entries[0]}


def merge_aggregated(body: dict[str, Any], aggregator: Aggregator | None) -> dict[str, Any]:
    """``GET /apis`` as an APIGroupDiscoveryList plus every available aggregated group."""
    if aggregator is None:
        return body
    known = {(item.get("metadata") or {}).get("name") for item in body.get("items") or []}
    items: dict[str, dict[str, Any]] = {}
    for group, version, resources in aggregator.groups():
        if group in known:
            continue
        entry = items.setdefault(group, {"metadata": {"creationTimestamp": None, "name": group}, "versions": []})
        entry["versions"].append({"version": version, "freshness": "Current",
                                  "resources": [_discovery_resource(group, version, r)
                                                for r in resources.get("resources") or [] if "/" not in r["name"]]})
    body.setdefault("items", []).extend(items.values())
    return body


def _discovery_resource(group: str, version: str, resource: Mapping[str, Any]) -> dict[str, Any]:
    return {"resource": resource["name"],
            "responseKind": {"group": group, "version": version, "kind": resource.get("kind")},
            "scope": "Namespaced" if resource.get("namespaced") else "Cluster",
            "singularResource": resource.get("singularName") or "",
            "verbs": sorted(resource.get("verbs") or [])}


__all__ = ["APISERVICES", "Aggregator", "UNAVAILABLE_MESSAGE", "api_group", "merge_aggregated", "merge_group_list"]
