"""Builds the API server application: storage, watch cache, relay, routes, error handling.

Shutdown order (the reverse of start-up): stop background tasks (event expiry, relay), close
the watch cache (open watches end with an Expired event so clients re-watch elsewhere), then
close storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator.api.errors import ApiError, BadRequest, InternalError, MethodNotAllowed, NotFound
from orchestrator.apiserver.auth import FixedRoleAuthorizer, PodNode, TokenAuthenticator, User
from orchestrator.apiserver.catalog import serve_catalog
from orchestrator.apiserver.logs import LogProxy
from orchestrator.apiserver.middleware import AuthenticationMiddleware, MetricsMiddleware
from orchestrator.apiserver.registry.generic import Registry
from orchestrator.apiserver.routes import discovery as discovery_routes
from orchestrator.apiserver.routes import resources as resource_routes
from orchestrator.apiserver.routes import streaming as streaming_routes
from orchestrator.apiserver.settings import Settings
from orchestrator.apiserver.state import ServerState
from orchestrator.storage.relay import Relay
from orchestrator.storage.store import Store
from orchestrator.storage.watchcache import WatchCache

log = logging.getLogger("orchestrator.apiserver")


def status_response(err: ApiError) -> Response:
    headers = {"Retry-After": str(err.retry_after_seconds)} if err.retry_after_seconds is not None else None
    return Response(json.dumps(err.status(), separators=(",", ":")), status_code=err.code,
                    media_type="application/json", headers=headers)


async def _expire_events(state: ServerState) -> None:
    while True:
        try:
            removed = await state.registry.expire_events(state.settings.event_ttl_seconds)
            if removed:
                log.info("expired %d events older than %ds", removed, state.settings.event_ttl_seconds)
        except ApiError as exc:
            log.warning("event expiry: %s", exc)
        await asyncio.sleep(60)


def _pod_node(store: Store) -> PodNode:
    """The Node authorizer's question — which node runs this pod? — answered from storage."""
    async def pod_node(namespace: str | None, name: str) -> str | None:
        try:
            pod = await store.get("pods", namespace, name)
        except (NotFound, BadRequest):
            return None
        return (pod.get("spec") or {}).get("nodeName")
    return pod_node


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        authenticator = (TokenAuthenticator.from_file(settings.token_auth_file)
                         if settings.token_auth_file else TokenAuthenticator())
        store = await Store.connect(settings.database_url)
        watch_cache = WatchCache(settings.redis_url)
        registry = Registry.for_store(store)
        state = ServerState(settings, store, watch_cache, authenticator, FixedRoleAuthorizer(_pod_node(store)),
                            registry, LogProxy(store, kubelet_token=settings.kubelet_client_token))
        authenticators.append(authenticator)
        tasks: list[asyncio.Task[None]] = []
        try:
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
            state.tasks = tasks
            app.state.server = state
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await watch_cache.close()
            await state.logs.close()
            await store.close()

    app = FastAPI(title="Orchestrator Lab Kit API server", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    # The authenticator is built in the lifespan; the middleware (built before it) reads it here.
    authenticators: list[TokenAuthenticator] = []

    def authenticate(authorization: str | None) -> User:
        return authenticators[-1].authenticate(authorization)

    # Last added runs first: metrics see every request, authentication's 401s included.
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
    return app
