"""ResourceRoute (routes/resources.py) answers exactly the requests the two FastAPI catch-all
routes answered, and lets everything that some other route took first fall through."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Match

from orchestrator.apiserver.routes import resources as resource_routes
from orchestrator.apiserver.routes import streaming as streaming_routes

ROUTE = resource_routes.ResourceRoute(frozenset(streaming_routes.VERB))


def scope(method: str, path: str, kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}


def first_of(routes: list[Any], s: dict[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """The route Starlette's router would run: the first full match (a partial one, e.g. the
    wrong method, only when nothing matches fully)."""
    partial = None
    for route in routes:
        match, child = route.matches(s)
        if match == Match.FULL:
            return route, child
        if match == Match.PARTIAL and partial is None:
            partial = (route, child)
    return partial


PATHS = [
    "/api/v1/pods",
    "/api/v1/namespaces",
    "/api/v1/namespaces/default",
    "/api/v1/namespaces/default/status",
    "/api/v1/namespaces/default/pods",
    "/api/v1/namespaces/default/pods/web",
    "/api/v1/namespaces/default/pods/web/status",
    "/api/v1/namespaces/default/pods/web/log",
    "/api/v1/namespaces/default/pods/web/binding",
    "/api/v1/namespaces/default/pods/web/exec",
    "/api/v1/namespaces/default/pods/web/attach",
    "/api/v1/namespaces/default/pods/web/portforward",
    "/api/v1/namespaces/default/pods/exec",  # a pod named "exec"
    "/api/v1/namespaces/default/services/web/exec",
    "/api/v1/namespaces/default/pods/web/exec/more",
    "/api/v1/",
    "/api/v1",
    "/api",
    "/apis",
    "/apis/apps",
    "/apis/apps/v1",
    "/apis/apps/v1/",
    "/apis/apps/v1/deployments",
    "/apis/apps/v1/namespaces/default/deployments/web/scale",
    "/apis/metrics.k8s.io/v1beta1/nodes",
    "/apis//v1/x",
    "/healthz",
    "/openapi/v3/api/v1",
    "/version",
    # Starlette's `{path:path}` is `.*$`: no newline inside, one at the end dropped
    "/api/v1/pods\n",
    "/api/v1/po\nds",
    "/api/v1/namespaces/default/pods/web/exec\n",
    "/apis/apps/v1/deployments\n",
    "/apis/apps/v1/deploy\nments",
]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", PATHS)
def test_it_takes_what_the_catch_all_routes_took_and_nothing_else(method: str, path: str) -> None:
    # The routes as app.py registers them, without the fast route: discovery, streaming, resources.
    from orchestrator.apiserver.routes import discovery as discovery_routes

    before = [*discovery_routes.router.routes, *streaming_routes.router.routes, *resource_routes.router.routes]
    s = scope(method, path)
    chosen = first_of(before, s)
    catch_alls = {id(r) for r in resource_routes.router.routes}
    took = chosen is not None and id(chosen[0]) in catch_alls and chosen[0].matches(s)[0] == Match.FULL
    match, child = ROUTE.matches(s)
    assert (match == Match.FULL) == took, f"{method} {path}: the catch-all took it: {took}; ResourceRoute: {match}"
    if took:
        assert chosen is not None
        params = chosen[1]["path_params"]
        assert child["path_params"]["path"] == params["path"]
        assert child["path_params"]["group"] == params.get("group", "")
        assert child["path_params"]["version"] == params.get("version", "v1")


@pytest.mark.parametrize("method,kind", [("HEAD", "http"), ("OPTIONS", "http"), ("GET", "websocket")])
def test_other_methods_and_websockets_fall_through_to_the_routes_after_it(method: str, kind: str) -> None:
    assert ROUTE.matches(scope(method, "/api/v1/namespaces/default/pods", kind))[0] == Match.NONE


def test_building_a_url_by_name_passes_it_by() -> None:
    from starlette.routing import NoMatchFound

    with pytest.raises(NoMatchFound):
        ROUTE.url_path_for("core_v1", path="pods")


def test_the_app_tries_it_first() -> None:
    from orchestrator.apiserver.app import create_app
    from orchestrator.apiserver.settings import Settings

    app = create_app(Settings(database_url="postgresql://unused", redis_url="redis://unused"))  # not connected: no lifespan
    assert isinstance(app.router.routes[0], resource_routes.ResourceRoute)
