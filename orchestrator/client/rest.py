"""The REST client every component uses to reach the API server: verbs by resource, typed errors.

One `ApiClient` wraps two `httpx.AsyncClient`s, one for requests and one for streams (HTTP/1.1,
TLS verified against the lab CA, a bearer token on every request), and speaks the Kubernetes REST
protocol: the paths come from the resource table (``/api/v1/namespaces/{ns}/pods/{name}``,
``/apis/apps/v1/...``), objects are plain JSON dicts, and the query parameters carry their
Kubernetes names (``labelSelector``, ``fieldSelector``, ``resourceVersion``, ``watch=true``,
``timeoutSeconds``, ``allowWatchBookmarks``, ``limit``, ``continue``).

Errors, translated once, here at the boundary:

- any non-2xx answer raises the typed error its `Status` body names
  (`orchestrator.api.errors.from_status`: a 409 ``AlreadyExists`` becomes `AlreadyExists`,
  a 410 becomes `Expired`, ...); a body that is not a Status still gives the error of its code;
- the server cannot be reached (refused, TLS failure, timeout, dropped mid-stream) raises
  `Unavailable` with a message naming the server.

Reads (GET of one object or a list) are idempotent, so a connection error is retried a few
times with a short, growing pause before `Unavailable` is raised; writes are never retried
here — a create that timed out may have happened, and only the caller knows whether repeating
it is safe.

A watch is one long GET answered with newline-delimited JSON events
``{"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR", "object": {...}}``. `watch`
yields ``WatchEvent(type, object)`` tuples until the server ends the stream (at
``timeoutSeconds``); an ``ERROR`` event raises its typed error (410 → `Expired`: the caller
must list again), and a stream cut mid-way raises `Unavailable`.

Kubernetes equivalent: k8s.io/client-go/rest (request.go) and client-go/dynamic.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import httpx
import yaml

from orchestrator.api.errors import ApiError, InternalError, NotFound, Unavailable, from_status
from orchestrator.api.jsontext import dumps_compact, loads_stored
from orchestrator.api.resources import ResourceInfo, by_group_resource, resolve
from orchestrator.client.aiohttp_transport import AiohttpTransport
from orchestrator.client.transport import transport as http_transport

__all__ = [
    "ApiClient",
    "KubeconfigError",
    "PatchType",
    "TABLE_ACCEPT",
    "WatchEvent",
    "resource_info",
]

log = logging.getLogger(__name__)

PatchType = Literal["merge", "strategic", "json"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]

# What kubectl sends to have the server print the columns of ``kubectl get`` (a meta.k8s.io Table).
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


class WatchEvent(NamedTuple):
    """One event of a watch stream; unpacks as ``type_, obj = event``."""

    type: str
    object: dict[str, Any]


class KubeconfigError(ValueError):
    """The kubeconfig file is missing, unreadable, or lacks what the client needs."""


def resource_info(resource: ResourceInfo | str) -> ResourceInfo:
    """The table row for ``pods``, ``po``, ``Pod``, ``deployments.apps`` or a `ResourceInfo`."""
    if isinstance(resource, ResourceInfo):
        return resource
    info = resolve(resource)
    if info is None:
        try:
            info = by_group_resource(resource)
        except KeyError:
            raise ValueError(f"the server doesn't have a resource type {resource!r}") from None
    return info


def _bool_param(value: bool) -> str:
    return "true" if value else "false"


def tls_context(*, ca_data: bytes | None = None, ca_file: str | os.PathLike[str] | None = None,
                insecure_skip_tls_verify: bool = False,
                client_cert: tuple[bytes, bytes] | None = None) -> ssl.SSLContext | bool:
    """How a client verifies the API server (and shows its own certificate): an SSL context, or
    True (the default trust store) when there is nothing of the kubeconfig's to load."""
    if not (ca_data or ca_file or insecure_skip_tls_verify or client_cert):
        return True
    context = ssl.create_default_context(cadata=ca_data.decode() if ca_data else None,
                                         cafile=os.fspath(ca_file) if ca_file and not ca_data else None)
    if insecure_skip_tls_verify:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if client_cert is not None:
        # ssl loads a certificate and key from a file only: one private file, gone at once.
        with tempfile.TemporaryDirectory(prefix="labkit-client-cert-") as tmp:
            pem = Path(tmp) / "client.pem"
            fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(client_cert[0] + b"\n" + client_cert[1])
            context.load_cert_chain(pem)
    return context


def _client_cert(file: Path, user: dict[str, Any]) -> tuple[bytes, bytes] | None:
    """A kubeconfig user's client certificate and key (PEM), inline (``-data``) or as files."""
    for cert_key, key_key, read in (("client-certificate-data", "client-key-data", base64.b64decode),
                                    ("client-certificate", "client-key",
                                     lambda name: (file.parent / name).read_bytes())):
        if not (user.get(cert_key) or user.get(key_key)):
            continue
        missing = key_key if user.get(cert_key) else cert_key
        if not user.get(missing):
            raise KubeconfigError(f"kubeconfig {file}: a client certificate needs both {cert_key} and "
                                  f"{key_key}; {missing} is missing")
        try:
            return read(user[cert_key]), read(user[key_key])
        except (OSError, ValueError) as err:
            raise KubeconfigError(f"kubeconfig {file}: cannot read the client certificate: {err}") from None
    return None


MAX_THROTTLED_RETRIES = 10  # client-go's maxRetries for 429 / Retry-After
# Requests and streams (watches, followed logs) have a connection pool each. A pool's cost per
# request grows with the square of its kept connections: httpcore checks every idle connection
# (two system calls each) and counts the idle ones again for each of them, on every request and
# every release. With one pool of 100 kept connections that was half of the scheduler's CPU
# (docs/benchmarks.md, "Scheduler"). 16 requests in flight keep a one-process API server busy; a
# stream holds its connection for its whole life, so streams get as many as they need.
REQUEST_CONNECTIONS = 16
STREAM_CONNECTIONS = 100
KEEPALIVE_EXPIRY = 4.0  # seconds; below the API server's (uvicorn's) 5 s idle timeout


class KubeconfigCredentials(NamedTuple):
    """Where a kubeconfig context points and who it says the user is."""

    server: str
    token: str | None
    client_cert: tuple[bytes, bytes] | None
    ca_data: bytes | None
    ca_file: Path | None
    insecure_skip_tls_verify: bool

    def tls_context(self) -> ssl.SSLContext | bool:
        return tls_context(ca_data=self.ca_data, ca_file=self.ca_file,
                           insecure_skip_tls_verify=self.insecure_skip_tls_verify, client_cert=self.client_cert)


def read_kubeconfig(path: str | os.PathLike[str] | None = None, *, context: str | None = None) -> KubeconfigCredentials:
    """The current (or named) context of a kubeconfig file.

    Without `path`: ``$KUBECONFIG`` (its first entry), else ``~/.kube/config``. Reads the
    cluster's ``server`` and ``certificate-authority-data`` (or ``certificate-authority``,
    a file path relative to the kubeconfig) and the user's ``token`` (or ``tokenFile``), or
    client certificate (``client-certificate-data`` + ``client-key-data``, or the file paths
    ``client-certificate`` + ``client-key``).
    """
    if path is None:
        env = os.environ.get("KUBECONFIG", "")
        path = env.split(os.pathsep)[0] if env else Path.home() / ".kube" / "config"
    file = Path(path)
    try:
        config = yaml.safe_load(file.read_text()) or {}
    except OSError as err:
        raise KubeconfigError(f"cannot read kubeconfig {file}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise KubeconfigError(f"kubeconfig {file} is not valid YAML: {err}") from None

    def named(section: str, name: str) -> dict[str, Any]:
        for entry in config.get(section) or []:
            if entry.get("name") == name:
                return dict(entry.get(section[:-1]) or {})
        known = [e.get("name") for e in config.get(section) or []]
        raise KubeconfigError(f"kubeconfig {file}: no {section[:-1]} named {name!r} (have {known})")

    context_name = context or config.get("current-context")
    if not context_name:
        raise KubeconfigError(f"kubeconfig {file}: no current-context set and no context given")
    ctx = named("contexts", context_name)
    cluster = named("clusters", ctx.get("cluster", ""))
    user = named("users", ctx.get("user", "")) if ctx.get("user") else {}
    server = cluster.get("server")
    if not server:
        raise KubeconfigError(f"kubeconfig {file}: cluster {ctx.get('cluster')!r} has no server")

    ca_data: bytes | None = None
    ca_file: Path | None = None
    if cluster.get("certificate-authority-data"):
        ca_data = base64.b64decode(cluster["certificate-authority-data"])
    elif cluster.get("certificate-authority"):
        ca_file = file.parent / cluster["certificate-authority"]
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = (file.parent / user["tokenFile"]).read_text().strip()
    return KubeconfigCredentials(server, token, _client_cert(file, user), ca_data, ca_file,
                                 bool(cluster.get("insecure-skip-tls-verify", False)))


class ApiClient:
    """An async Kubernetes REST client for one API server.

    Build it from a kubeconfig (`from_kubeconfig`) or from `server`, `token` (or `client_cert`:
    certificate PEM, key PEM) and `ca_file`.
    Use it as ``async with ApiClient(...) as client:`` or call `close` when done. `transport`
    replaces the network (tests pass an ``httpx.MockTransport``).
    """

    def __init__(
        self,
        server: str,
        *,
        token: str | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        ca_data: bytes | None = None,
        insecure_skip_tls_verify: bool = False,
        client_cert: tuple[bytes, bytes] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        read_retries: int = 3,
        retry_backoff: float = 0.2,
        user_agent: str = "orchestrator-labkit",
    ) -> None:
        if not server:
            raise ValueError("server is required, e.g. https://127.0.0.1:6443")
        if read_retries < 0:
            raise ValueError(f"read_retries must be >= 0, got {read_retries}")
        self.server = server.rstrip("/")
        self._read_retries = read_retries
        self._retry_backoff = retry_backoff
        headers = {"Accept": "application/json", "User-Agent": user_agent}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        verify: ssl.SSLContext | bool = tls_context(
            ca_data=ca_data, ca_file=ca_file, insecure_skip_tls_verify=insecure_skip_tls_verify,
            client_cert=client_cert)
        def pool(connections: int, *, streams: bool) -> httpx.AsyncClient:
            # Every connection the pool opens stays for the next request: with httpx's default of
            # 20 kept, a ReplicaSet's burst of creates over 100 connections closed 80 of them and
            # the next burst paid 80 TLS handshakes (15 % of a busy controller manager's CPU).
            # The expiry stays under uvicorn's 5 s idle timeout, so the pool never reuses a
            # connection the server is closing.
            limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections,
                                  keepalive_expiry=KEEPALIVE_EXPIRY)
            return httpx.AsyncClient(
                base_url=self.server,
                headers=headers,
                verify=verify,  # with `limits`, for a proxy from the environment; the transport has its own
                limits=limits,
                timeout=httpx.Timeout(timeout),
                transport=transport if transport is not None else (
                    http_transport(verify=verify, limits=limits) if streams else
                    # requests: on aiohttp's pool, a third of httpcore's CPU per request (aiohttp_transport.py)
                    AiohttpTransport(verify=verify, connections=connections, keepalive_expiry=KEEPALIVE_EXPIRY)),
            )

        self._http = pool(REQUEST_CONNECTIONS, streams=False)
        self._streams = pool(STREAM_CONNECTIONS, streams=True)
        # Requests beyond the pool's connections wait here, not in httpcore's queue, which the pool
        # walks whole (every queued request against every connection) each time a request starts
        # or ends: 64 binds in flight on 16 connections made that a quarter of the scheduler's CPU.
        self._in_flight = asyncio.Semaphore(REQUEST_CONNECTIONS)

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        context: str | None = None,
        **kwargs: Any,
    ) -> ApiClient:
        """A client for the current (or named) context of a kubeconfig file (`read_kubeconfig`).
        Extra keyword arguments go to the constructor.
        """
        creds = read_kubeconfig(path, context=context)
        return cls(creds.server, token=creds.token, client_cert=creds.client_cert, ca_data=creds.ca_data,
                   ca_file=creds.ca_file, insecure_skip_tls_verify=creds.insecure_skip_tls_verify, **kwargs)

    async def close(self) -> None:
        try:
            await self._http.aclose()
        finally:
            await self._streams.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"ApiClient({self.server!r})"

    # --- the verbs -------------------------------------------------------------------------

    async def get(
        self, resource: ResourceInfo | str, name: str, *, namespace: str | None = None
    ) -> dict[str, Any]:
        info = resource_info(resource)
        return await self.request_json("GET", info.object_path(_ns(info, namespace), name))

    async def list(
        self,
        resource: ResourceInfo | str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """One page of a list: the List object with ``metadata.resourceVersion`` and ``items``.

        Without `namespace` a namespaced resource is listed across all namespaces.
        """
        info = resource_info(resource)
        params = _params(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            limit=limit,
            resourceVersion=resource_version,
        )
        if continue_:
            params["continue"] = continue_
        return await self.request_json("GET", info.collection_path(namespace), params=params)

    async def table(
        self,
        resource: ResourceInfo | str,
        *,
        name: str | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict[str, Any]:
        """The server-printed ``meta.k8s.io/v1`` Table of one object (`name`) or a list, as
        ``kubectl get`` asks for it: column definitions (wide ones with priority 1) and rows."""
        info = resource_info(resource)
        if name is not None:
            path = info.object_path(_ns(info, namespace), name)
            params: dict[str, str] = {}
        else:
            path = info.collection_path(namespace)
            params = _params(labelSelector=label_selector, fieldSelector=field_selector)
        return await self.request_json("GET", path, params=params, accept=TABLE_ACCEPT)

    async def create(
        self, resource: ResourceInfo | str, obj: Mapping[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        info = resource_info(resource)
        namespace = namespace or _meta(obj).get("namespace")
        return await self.request_json(
            "POST", info.collection_path(_ns(info, namespace, need=True)), body=_with_type(info, obj)
        )

    async def update(
        self, resource: ResourceInfo | str, obj: Mapping[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        """PUT the whole object; its ``metadata.resourceVersion`` makes it conditional (409 if stale)."""
        info = resource_info(resource)
        return await self.request_json("PUT", _object_path(info, obj, namespace), body=_with_type(info, obj))

    async def update_status(
        self, resource: ResourceInfo | str, obj: Mapping[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        """PUT to the ``status`` subresource: only the status of `obj` is written."""
        info = resource_info(resource)
        path = _object_path(info, obj, namespace) + "/status"
        return await self.request_json("PUT", path, body=_with_type(info, obj))

    async def patch(
        self,
        resource: ResourceInfo | str,
        name: str,
        patch: Any,
        *,
        patch_type: PatchType = "merge",
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """PATCH with a JSON merge patch (a dict), a strategic merge patch (a dict) or a JSON patch (a list)."""
        try:
            content_type = PATCH_CONTENT_TYPES[patch_type]
        except KeyError:
            allowed = ", ".join(PATCH_CONTENT_TYPES)
            raise ValueError(f"unknown patch_type {patch_type!r}; allowed: {allowed}") from None
        info = resource_info(resource)
        path = info.object_path(_ns(info, namespace), name)
        if subresource:
            path += f"/{subresource}"
        return await self.request_json("PATCH", path, body=patch, content_type=content_type)

    async def delete(
        self,
        resource: ResourceInfo | str,
        name: str,
        *,
        namespace: str | None = None,
        propagation_policy: Literal["Orphan", "Background", "Foreground"] | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """DELETE with a DeleteOptions body. Returns what the server answers: the object (still
        there, being deleted gracefully or held by finalizers) or a ``Success`` Status."""
        info = resource_info(resource)
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = dict(preconditions)
        return await self.request_json("DELETE", info.object_path(_ns(info, namespace), name), body=options)

    async def bind(self, namespace: str, pod_name: str, node_name: str) -> dict[str, Any]:
        """Bind a pod to a node: POST a Binding to ``pods/{name}/binding`` (what the scheduler does)."""
        info = resource_info("pods")
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod_name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        return await self.request_json(
            "POST", info.object_path(namespace, pod_name) + "/binding", body=binding
        )

    async def get_log(
        self,
        namespace: str,
        pod_name: str,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        timestamps: bool = False,
        previous: bool = False,
        since_seconds: int | None = None,
    ) -> str:
        """The log of a pod's container as text (``GET pods/{name}/log``)."""
        params = _log_params(container, tail_lines, timestamps, previous, since_seconds, follow=False)
        path = resource_info("pods").object_path(namespace, pod_name) + "/log"
        response = await self._send("GET", path, params=params, idempotent=True)
        return response.text

    async def stream_log(
        self,
        namespace: str,
        pod_name: str,
        *,
        container: str | None = None,
        follow: bool = True,
        tail_lines: int | None = None,
        timestamps: bool = False,
        since_seconds: int | None = None,
    ) -> AsyncIterator[str]:
        """The log line by line (without the newline), following it while the container runs."""
        params = _log_params(container, tail_lines, timestamps, False, since_seconds, follow=follow)
        path = resource_info("pods").object_path(namespace, pod_name) + "/log"
        async with self._stream("GET", path, params=params) as response:
            try:
                async for line in _split_lines(response):
                    yield line.decode("utf-8", errors="replace")
            except httpx.TransportError as err:
                raise self._unavailable(err, "log stream") from None

    async def watch(
        self,
        resource: ResourceInfo | str,
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = False,
        accept: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Watch changes after `resource_version`; yields ``WatchEvent(type, object)``.

        ``accept=TABLE_ACCEPT`` makes each event's object a one-row Table (``kubectl get -w``).

        Ends when the server ends the stream (after `timeout_seconds`). Raises the typed error
        of an ``ERROR`` event (`Expired` for 410: list again), and `Unavailable` if the
        connection drops mid-stream.
        """
        info = resource_info(resource)
        params = _params(
            watch="true",
            resourceVersion=resource_version,
            labelSelector=label_selector,
            fieldSelector=field_selector,
            timeoutSeconds=timeout_seconds,
        )
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        # A watch may be silent for its whole life, so no read timeout beyond the server's own.
        read = None if timeout_seconds is None else timeout_seconds + 30.0
        timeout = httpx.Timeout(self._http.timeout.connect, read=read)
        path = info.collection_path(namespace)
        async with self._stream("GET", path, params=params, timeout=timeout, accept=accept) as r:
            try:
                async for line in _split_lines(r):
                    yield _decode_event(line)
            except httpx.TransportError as err:
                raise self._unavailable(err, f"watch of {info.group_resource}") from None

    async def server_resources(self) -> list[ResourceInfo]:
        """Every resource the server serves now, by legacy discovery (``/api/v1``, ``/apis``, then
        each group's preferred version): custom resources included, subresources not.

        Kubernetes equivalent: client-go discovery's ServerPreferredResources."""
        found: list[ResourceInfo] = []
        lists = [("", "v1")]
        groups = await self.request_json("GET", "/apis")
        for group in groups.get("groups") or []:
            preferred = group.get("preferredVersion") or {}
            if group.get("name") and preferred.get("version"):
                lists.append((group["name"], preferred["version"]))
        for group_name, version in lists:
            path = f"/apis/{group_name}/{version}" if group_name else f"/api/{version}"
            try:
                listed = await self.request_json("GET", path)
            except NotFound:
                continue  # the group went away between the two requests
            for r in listed.get("resources") or []:
                if "/" in str(r.get("name")):
                    continue
                found.append(ResourceInfo(
                    group_name, version, r["name"], r.get("singularName") or r["name"], r.get("kind", ""),
                    bool(r.get("namespaced")), tuple(r.get("shortNames") or ()), tuple(r.get("categories") or ()),
                    (), tuple(r.get("verbs") or ()),
                ))
        return found

    # --- lower level -----------------------------------------------------------------------

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> dict[str, Any]:
        """Send one request to `path` (e.g. ``/version``) and return the decoded JSON answer."""
        response = await self._send(
            method, path, params=params, body=body, content_type=content_type, idempotent=method == "GET",
            accept=accept,
        )
        try:
            decoded = loads_stored(response.content)  # orjson: the server's JSON, decoded in C
        except ValueError:
            raise InternalError(
                f"the server answered {method} {path} with a body that is not JSON: {response.text[:200]!r}"
            ) from None
        if not isinstance(decoded, dict):
            raise InternalError(f"the server answered {method} {path} with JSON that is not an object")
        return decoded

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        idempotent: bool,
        accept: str | None = None,
    ) -> httpx.Response:
        content = None if body is None else dumps_compact(body)
        headers = {"Content-Type": content_type} if content is not None else {}
        if accept:
            headers["Accept"] = accept
        attempts = 1 + (self._read_retries if idempotent else 0)
        throttled = 0
        attempt = 0
        while True:
            try:
                await self._take_slot()
                try:
                    response = await self._http.request(
                        method, path, params=params, content=content, headers=headers
                    )
                finally:
                    self._in_flight.release()
            except httpx.TransportError as err:
                attempt += 1
                if attempt >= attempts:
                    raise self._unavailable(err, f"{method} {path}") from None
                # Small and bounded: 0.2 s, 0.4 s, 0.8 s by default, then give up.
                delay = self._retry_backoff * 2 ** (attempt - 1)
                log.debug("retrying %s %s in %.2fs after %s", method, path, delay, err)
                await asyncio.sleep(delay)
                continue
            # 429 with Retry-After: the server did not run the request (API Priority and Fairness
            # had no seat for it), so any verb may be sent again, as client-go does (up to 10 times).
            if response.status_code == 429 and throttled < MAX_THROTTLED_RETRIES:
                retry_after = _retry_after(response)
                if retry_after is not None:
                    throttled += 1
                    log.debug("%s %s throttled (429); again in %.1fs", method, path, retry_after)
                    await asyncio.sleep(retry_after)
                    continue
            break
        if not response.is_success:
            raise _error_from_response(response)
        return response

    async def _take_slot(self) -> None:
        """One of the requests in flight, waiting at most the pool timeout, as httpx's pool did:
        a request that cannot start in time fails as httpx's PoolTimeout would (Unavailable)."""
        try:
            async with asyncio.timeout(self._http.timeout.pool):
                await self._in_flight.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(f"no connection to {self.server} free within {self._http.timeout.pool}s") from None

    def _stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        accept: str | None = None,
    ) -> _Streaming:
        return _Streaming(self, method, path, params, timeout, accept)

    def _unavailable(self, err: Exception, what: str) -> Unavailable:
        reason = str(err) or type(err).__name__
        return Unavailable(f"cannot reach the API server at {self.server} ({what}): {reason}")


class _Streaming:
    """``async with`` a streamed response: opens it, turns a non-2xx answer into its typed error."""

    def __init__(
        self,
        client: ApiClient,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        timeout: httpx.Timeout | None,
        accept: str | None = None,
    ) -> None:
        self._client = client
        self._request = client._streams.build_request(
            method, path, params=params, timeout=timeout if timeout is not None else client._streams.timeout,
            headers={"Accept": accept} if accept else None,
        )
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        try:
            self._response = await self._client._streams.send(self._request, stream=True)
        except httpx.TransportError as err:
            raise self._client._unavailable(err, f"{self._request.method} {self._request.url.path}") from None
        if not self._response.is_success:
            try:
                await self._response.aread()
            except httpx.TransportError as err:
                raise self._client._unavailable(err, self._request.url.path) from None
            finally:
                await self._response.aclose()
            raise _error_from_response(self._response)
        return self._response

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            await self._response.aclose()


# --- helpers -------------------------------------------------------------------------------


def _retry_after(response: httpx.Response) -> float | None:
    """The Retry-After seconds of a response (capped: a client keeps its own deadlines), or None."""
    try:
        return min(max(float(response.headers["retry-after"]), 0.0), 10.0)
    except (KeyError, ValueError):
        return None


async def _split_lines(response: httpx.Response) -> AsyncIterator[bytes]:
    """Lines of a streamed body, split on ``\\n`` only.

    Bytes are split before decoding: a UTF-8 multi-byte character never contains the byte
    0x0A, so a character cut between two chunks is rejoined intact. (``str.splitlines`` would
    also split on U+2028 inside a JSON string, which a JSON encoder may leave unescaped.)
    """
    buffer = b""
    async for chunk in response.aiter_bytes():
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


def _decode_event(line: bytes) -> WatchEvent:
    try:
        event = loads_stored(line)
        type_ = event["type"]
        obj = event["object"]
    except (ValueError, KeyError, TypeError):
        raise InternalError(f"the server sent a watch event that is not valid: {line[:200]!r}") from None
    if type_ == "ERROR":
        raise from_status(obj if isinstance(obj, dict) else {})
    return WatchEvent(type_, obj)


def _error_from_response(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        status = dict(body)
        status.setdefault("code", response.status_code)
        return from_status(status)
    text = response.text.strip()[:500] or response.reason_phrase
    return from_status({"code": response.status_code, "message": text})


def _params(**values: object) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None and v != ""}


def _log_params(
    container: str | None,
    tail_lines: int | None,
    timestamps: bool,
    previous: bool,
    since_seconds: int | None,
    *,
    follow: bool,
) -> dict[str, str]:
    params = _params(container=container, tailLines=tail_lines, sinceSeconds=since_seconds)
    for key, flag in (("follow", follow), ("timestamps", timestamps), ("previous", previous)):
        if flag:
            params[key] = _bool_param(flag)
    return params


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _ns(info: ResourceInfo, namespace: str | None, *, need: bool = False) -> str | None:
    if not info.namespaced:
        return None
    if need and not namespace:
        return "default"  # as kubectl: a namespaced object without a namespace goes to "default"
    if not namespace:
        raise ValueError(f"a namespace is required for {info.group_resource}")
    return namespace


def _object_path(info: ResourceInfo, obj: Mapping[str, Any], namespace: str | None) -> str:
    meta = _meta(obj)
    name = meta.get("name")
    if not name:
        raise ValueError(f"{info.kind} has no metadata.name")
    return info.object_path(_ns(info, namespace or meta.get("namespace")), name)


def _with_type(info: ResourceInfo, obj: Mapping[str, Any]) -> dict[str, Any]:
    # Objects read from a list may lack apiVersion/kind; the URL says what they are.
    body = dict(obj)
    body.setdefault("apiVersion", info.api_version)
    body.setdefault("kind", info.kind)
    return body
