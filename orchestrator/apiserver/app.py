"""Builds the API server application: storage, watch cache, relay, routes, error handling.

Shutdown order (the reverse of start-up): stop background tasks (event expiry, relay), close
the watch cache (open watches end with an Expired event so clients re-watch elsewhere), then
close storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator.api.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    InternalError,
    MethodNotAllowed,
    NotFound,
)
from orchestrator.api.resources import ResourceInfo, by_kind
from orchestrator.apiserver import admission
from orchestrator.apiserver.aggregator import Aggregator
from orchestrator.apiserver.auth import RequestAuthenticator, TokenAuthenticator, User
from orchestrator.apiserver.authz.requestinfo import request_attributes
from orchestrator.apiserver.authz.server import Authorization
from orchestrator.apiserver.catalog import serve_catalog
from orchestrator.apiserver.clientcert import X509Authenticator
from orchestrator.apiserver.encryption import EncryptionConfigError, check_readable, load_config, rewrite
from orchestrator.apiserver.flowcontrol import FlowController
from orchestrator.apiserver.kubeletclient import KubeletClient
from orchestrator.apiserver.kubernetesservice import KubernetesService, primary_address
from orchestrator.apiserver.logs import LogProxy
from orchestrator.apiserver.middleware import (
    AuthenticationMiddleware,
    ImpersonationMiddleware,
    MetricsMiddleware,
    NonResourceAuthorizationMiddleware,
    PriorityAndFairnessMiddleware,
)
from orchestrator.apiserver.registry.generic import Registry
from orchestrator.apiserver.registry.serviceaccounts import TOKEN as token_subresource
from orchestrator.apiserver.registry.serviceallocator import ClusterIPRange, NodePortRange, ServiceAllocator
from orchestrator.apiserver.routes import discovery as discovery_routes
from orchestrator.apiserver.routes import resources as resource_routes
from orchestrator.apiserver.routes import streaming as streaming_routes
from orchestrator.apiserver.serviceaccount_cache import DeletedObjects
from orchestrator.apiserver.serviceaccount_tokens import (
    ServiceAccountTokenAuthenticator,
    TokenIssuer,
    load_private_key,
    load_public_keys,
)
from orchestrator.apiserver.settings import Settings
from orchestrator.apiserver.state import ServerState
from orchestrator.storage.relay import Relay
from orchestrator.storage.store import Store
from orchestrator.storage.watchcache import WatchCache

log = logging.getLogger("orchestrator.apiserver")


def status_response(err: ApiError) -> Response:
    headers = {"Retry-After": str(err.retry_after_seconds)} if err.retry_after_seconds is not None else {}
    if err.closes_connection:
        headers["Connection"] = "close"  # uvicorn closes the connection after this answer
    return Response(json.dumps(err.status(), separators=(",", ":")), status_code=err.code,
                    media_type="application/json", headers=headers or None)


async def _expire_events(state: ServerState) -> None:
    while True:
        try:
            removed = await state.registry.expire_events(state.settings.event_ttl_seconds)
            if removed:
                log.info("expired %d events older than %ds", removed, state.settings.event_ttl_seconds)
        except ApiError as exc:
            log.warning("event expiry: %s", exc)
        await asyncio.sleep(60)


def _bootstrap_create(registry: Registry) -> Callable[[ResourceInfo, dict[str, Any]], Awaitable[Any]]:
    """The bootstrap policy is created like any object (validated by its strategy), by the API
    server itself (no user: escalation checks do not apply)."""
    async def create(info: ResourceInfo, obj: dict[str, Any]) -> Any:
        return await registry.create(info, None, obj, field_validation="Strict", user=None)
    return create


async def _ensure_flow_configuration(registry: Registry, controller: FlowController) -> list[str]:
    """Write the priority levels and flow schemas the server classifies by as read-only objects
    (creating missing ones, bringing a changed spec up to date as upstream's autoupdate does) and
    answer with their uids. Returns ``kind/name`` of what was written."""
    written: list[str] = []
    stored: list[dict[str, Any]] = []
    for obj in controller.objects():
        info = by_kind(obj["apiVersion"], obj["kind"])
        assert info is not None
        name = obj["metadata"]["name"]
        try:
            current = await registry.get(info, None, name)
        except NotFound:
            try:
                current = (await registry.create(info, None, obj, field_validation="Strict", user=None)).obj
                written.append(f"{obj['kind']}/{name}")
            except AlreadyExists:  # another API server of the lab wrote it a moment ago
                current = await registry.get(info, None, name)
        if current.get("spec") != obj["spec"]:
            body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
            with contextlib.suppress(Conflict):  # another API server of the lab updated it meanwhile
                current = (await registry.update(info, None, name, body, field_validation="Strict", user=None)).obj
                written.append(f"{obj['kind']}/{name}")
        stored.append(current)
    controller.use_stored_uids(stored)
    return written


def _service_account_tokens(settings: Settings, authenticator: TokenAuthenticator,
                            deleted: DeletedObjects) -> TokenIssuer | None:
    """The signer of serviceaccounts/token and the authenticator of ServiceAccount JWTs, tried
    after the static token file."""
    key_files = settings.service_account_key_files or (
        (settings.service_account_signing_key_file,) if settings.service_account_signing_key_file else ())
    if key_files:
        keys = [k for path in key_files for k in load_public_keys(path)]
        authenticator.token_authenticators.append(ServiceAccountTokenAuthenticator(
            keys, issuer=settings.service_account_issuer, api_audiences=settings.api_audiences,
            bound_objects=deleted).authenticate_token)
    if settings.service_account_signing_key_file is None:
        return None
    return TokenIssuer(load_private_key(settings.service_account_signing_key_file),
                       issuer=settings.service_account_issuer, api_audiences=settings.api_audiences)


async def _check_encryption(store: Store, *, rewrite_stale: bool) -> None:
    """Refuse to start with a configuration that cannot read what is stored; then, if asked,
    re-encrypt what an older key or provider wrote (docs/storage.md, "Secrets at rest")."""
    try:
        await check_readable(store)
    except EncryptionConfigError as exc:
        log.error("%s", exc)
        raise
    if rewrite_stale:
        assert store.transformer is not None
        for resource in store.transformer.resources:
            count = await rewrite(store, resource)
            log.info("encryption: rewrote %d %s with the first key of the configuration", count, resource)


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        authenticator = (TokenAuthenticator.from_file(settings.token_auth_file)
                         if settings.token_auth_file else TokenAuthenticator())
        transformer = load_config(settings.encryption_provider_config) if settings.encryption_provider_config else None
        deleted = DeletedObjects()
        token_issuer = _service_account_tokens(settings, authenticator, deleted)
        store = await Store.connect(settings.database_url, transformer=transformer)
        watch_cache = WatchCache(settings.redis_url, transformer=transformer)
        registry = Registry.for_store(store)
        cluster_ips = ClusterIPRange.parse(settings.service_cluster_ip_range)
        registry.allocators["services"] = ServiceAllocator(
            store, cluster_ips=cluster_ips, node_ports=NodePortRange.parse(settings.service_node_port_range))
        authz = Authorization.for_storage(store, watch_cache)
        registry.admission = admission.Chain(mutating=registry.admission.mutating,
                                             validating=[*registry.admission.validating, authz.escalation],
                                             listers=registry.admission.listers)
        kubelet = KubeletClient(token=settings.kubelet_client_token,
                                client_cert=settings.kubelet_client_certificate,
                                client_key=settings.kubelet_client_key, ca_file=settings.kubelet_certificate_authority)
        state = ServerState(settings, store, watch_cache, authenticator, authz, registry, LogProxy(store, kubelet),
                            kubelet=kubelet)
        state.token_issuer = token_issuer
        state.aggregator = Aggregator(store, watch_cache, proxy_token=settings.proxy_client_token)
        token_subresource.issuer = token_issuer  # serviceaccounts/token signs with it (404 without)
        certificates = (X509Authenticator.from_file(settings.client_ca_file).authenticate
                        if settings.client_ca_file else None)
        authenticators.append(RequestAuthenticator(authenticator, certificates))
        authorizations.append(authz)
        tasks: list[asyncio.Task[None]] = []
        try:
            if transformer is not None:
                await _check_encryption(store, rewrite_stale=settings.rewrite_encrypted_resources)
            await registry.ensure_system_namespaces()
            # Custom resources: the store and the registry resolve them through the catalog, which
            # follows the CRDs (and deletes a deleted CRD's objects) in its own task.
            store.resolve = state.catalog.by_group_resource
            registry.catalog = state.catalog
            tasks.append(asyncio.create_task(serve_catalog(state.catalog, store, watch_cache), name="apiserver-catalog"))
            if settings.run_relay:
                relay = Relay(database_url=settings.database_url, redis_url=settings.redis_url,
                              window=settings.watch_window)
                tasks.append(asyncio.create_task(relay.run(), name="apiserver-relay"))
            tasks.append(asyncio.create_task(_expire_events(state), name="apiserver-event-expiry"))
            tasks.append(asyncio.create_task(deleted.run(watch_cache, store.current_revision),
                                             name="apiserver-deleted-token-objects"))
            created = await authz.ensure_bootstrap(_bootstrap_create(registry))
            if created:
                log.info("bootstrap RBAC policy: created %s", ", ".join(created))
            tasks.append(asyncio.create_task(authz.run(), name="apiserver-rbac-informer"))
            if settings.enable_priority_and_fairness:
                written = await _ensure_flow_configuration(registry, app.state.flowcontrol)
                if written:
                    log.info("API Priority and Fairness configuration: wrote %s", ", ".join(written))
            tasks.append(asyncio.create_task(state.aggregator.run(), name="apiserver-aggregator"))
            for lister in registry.admission.listers:  # what LimitRanger and ResourceQuota read
                tasks.append(asyncio.create_task(lister.run(store, watch_cache), name=f"apiserver-lister-{lister.resource}"))
            kubernetes_service = KubernetesService(
                registry, cluster_ip=cluster_ips.first, port=settings.advertise_port or settings.secure_port,
                address=settings.advertise_address or primary_address())
            await kubernetes_service.reconcile()
            tasks.append(asyncio.create_task(kubernetes_service.run(), name="apiserver-kubernetes-service"))
            # Serving before the roles and bindings are known would deny everyone.
            await authz.wait_synced(timeout=60)
            state.tasks = tasks
            app.state.server = state
            # What start-up built (modules, models, routes, schemas: most of the heap) lives as long
            # as the process: out of the garbage collector's sight, a full collection traverses only
            # what requests made since (docs/benchmarks.md: full collections were ~15% of the CPU).
            gc.collect()
            gc.freeze()
            # A young collection every 700 allocations kept traversing the objects of the requests
            # in flight; almost nothing a request makes is a cycle (reference counting frees it),
            # so collect young objects ten times less often.
            gc.set_threshold(7000, 10, 10)
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await watch_cache.close()
            await state.logs.close()
            await state.aggregator.close()
            await store.close()

    # No OpenTelemetry from FastAPI (its telemetry, new in 0.16x; older versions keep the argument
    # unused): the API server's metrics are Prometheus' (/metrics), and deciding per request whether
    # OpenTelemetry is configured read the environment three times.
    app = FastAPI(title="Orchestrator Lab Kit API server", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, telemetry={"tracing": False, "metrics": False, "logs": False})
    # The authenticator is built in the lifespan; the middleware (built before it) reads it here.
    authenticators: list[RequestAuthenticator] = []

    authorizations: list[Authorization] = []

    def authenticate(authorization: str | None, client_cert_chain: list[str]) -> User:
        return authenticators[-1].authenticate(authorization, client_cert_chain)

    async def impersonate(user: User, headers: list[tuple[str, str]]) -> User:
        return await authorizations[-1].impersonate(user, headers)

    async def authorize_path(user: User, method: str, path: str) -> None:
        attrs = request_attributes(user, method, path, {})
        if not attrs.resource_request:  # resource requests: their route decides, knowing the resource
            await authorizations[-1].check(attrs)

    # Last added runs first: metrics see every request, authentication's 401s included; then
    # authentication; then impersonation (kubectl --as), which needs the authenticated user; then
    # priority and fairness (a seat, classified as the impersonated user), as kube-apiserver orders
    # its filters; then the authorization of paths that name no resource.
    app.add_middleware(NonResourceAuthorizationMiddleware, authorize_path=authorize_path)
    if settings.enable_priority_and_fairness:
        app.state.flowcontrol = FlowController(max_requests_inflight=settings.max_requests_inflight)
        app.add_middleware(PriorityAndFairnessMiddleware, controller=app.state.flowcontrol)
    app.add_middleware(ImpersonationMiddleware, impersonate=impersonate)
    app.add_middleware(AuthenticationMiddleware, authenticate=authenticate)
    app.add_middleware(MetricsMiddleware)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> Response:
        return status_response(err)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> Response:
        return status_response(BadRequest(f"the request is not valid: {err.errors()[0].get('msg', err)}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        if err.status_code == 404:
            return status_response(NotFound("the server could not find the requested resource"))
        if err.status_code == 405:
            return status_response(MethodNotAllowed(f"{request.method} is not supported on {request.url.path}"))
        return status_response(BadRequest(str(err.detail)))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return status_response(InternalError(f"an internal error occurred: {type(err).__name__}"))

    app.include_router(discovery_routes.router)
    app.include_router(streaming_routes.router)  # before resources: its POST routes win over the catch-all
    app.include_router(resource_routes.router)
    # First: the resource paths without FastAPI's per-route work (routes/resources.py, ResourceRoute)
    app.router.routes.insert(0, resource_routes.ResourceRoute(frozenset(streaming_routes.VERB)))
    return app
