"""Discovery, OpenAPI, version, health and metrics endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orchestrator.apiserver import discovery, metrics, openapi
from orchestrator.apiserver.aggregator import api_group, merge_aggregated, merge_group_list
from orchestrator.apiserver.negotiation import negotiate
from orchestrator.apiserver.routes.resources import respond
from orchestrator.apiserver.state import ServerState

router = APIRouter()


def _state(request: Request) -> ServerState:
    return request.app.state.server


@router.get("/healthz", include_in_schema=False)
@router.get("/livez", include_in_schema=False)
async def healthz() -> Response:
    return Response("ok", media_type="text/plain")


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    state = _state(request)
    try:
        await state.store.current_revision()
        await state.watch_cache.redis.ping()
    except Exception as exc:  # readiness reports any failure as not ready
        return Response(f"not ready: {type(exc).__name__}: {exc}", status_code=503, media_type="text/plain")
    return Response("ok", media_type="text/plain")


@router.get("/version", include_in_schema=False)
async def version(request: Request) -> Response:
    return respond(discovery.version_info())


@router.get("/api", include_in_schema=False)
async def api(request: Request) -> Response:
    n = negotiate(request.headers.get("accept"))
    if n.aggregated_discovery:
        return respond(discovery.aggregated_discovery("api", n.aggregated_discovery, _state(request).catalog),
                       content_type=discovery.aggregated_discovery_content_type(n.aggregated_discovery))
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return respond(discovery.api_versions(host, _state(request).catalog))


@router.get("/apis", include_in_schema=False)
async def apis(request: Request) -> Response:
    n = negotiate(request.headers.get("accept"))
    if n.aggregated_discovery:
        return respond(merge_aggregated(discovery.aggregated_discovery("apis", n.aggregated_discovery,
                                                                       _state(request).catalog),
                                        _state(request).aggregator),
                       content_type=discovery.aggregated_discovery_content_type(n.aggregated_discovery))
    return respond(merge_group_list(discovery.api_group_list(_state(request).catalog), _state(request).aggregator))


@router.get("/api/v1", include_in_schema=False)
async def core_resources(request: Request) -> Response:
    return respond(discovery.api_resource_list("", "v1", _state(request).catalog))


@router.get("/apis/{group}", include_in_schema=False)
async def group(request: Request, group: str) -> Response:
    aggregator = _state(request).aggregator
    versions = [v for g, v, _ in aggregator.groups() if g == group] if aggregator is not None else []
    if versions and not any(g == group for g, _ in _state(request).catalog.groups()):
        return respond(api_group(group, versions))
    return respond(discovery.api_group(group, _state(request).catalog))


@router.get("/apis/{group}/{version}", include_in_schema=False)
async def group_resources(request: Request, group: str, version: str) -> Response:
    state = _state(request)
    if state.aggregator is not None and state.aggregator.serves(group, version):
        return await state.aggregator.proxy(request, request.state.user, group, version)
    return respond(discovery.api_resource_list(group, version, _state(request).catalog))


@router.get("/openapi/v3", include_in_schema=False)
async def openapi_root(request: Request) -> Response:
    return respond(openapi.openapi_v3_root(catalog=_state(request).catalog))


@router.get("/openapi/v3/{path:path}", include_in_schema=False)
async def openapi_group_version(request: Request, path: str) -> Response:
    parts = path.strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[:1] == ["apis"] and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        from orchestrator.api.errors import NotFound

        raise NotFound(f"no OpenAPI document for {path}")
    body = openapi.group_version_bytes(group, version, _state(request).catalog)
    return Response(body, media_type="application/json")


@router.get("/debug/api_priority_and_fairness/dump_priority_levels", include_in_schema=False)
async def dump_priority_levels(request: Request) -> Response:
    controller = getattr(request.app.state, "flowcontrol", None)
    if controller is None:
        from orchestrator.api.errors import NotFound

        raise NotFound("API Priority and Fairness is off (--no-enable-priority-and-fairness)")
    return Response(controller.dump_priority_levels(), media_type="text/plain")


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    state = _state(request)
    metrics.STORE_WRITES.set(state.store.writes_committed)
    metrics.STORE_BATCHES.set(state.store.batches_committed)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
