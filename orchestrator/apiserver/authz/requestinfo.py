"""From an HTTP request (method, path, query) to authorization ``Attributes``.

The same rules kube-apiserver applies before it authorizes, so a request is judged the same
whichever route will serve it:

    GET    /api/v1/namespaces/ns/pods              list pods in ns       (?watch=true: watch)
    GET    /api/v1/namespaces/ns/pods/web/log      get pods/log "web" in ns
    POST   /apis/apps/v1/namespaces/ns/deployments create deployments.apps in ns (no name: it is in the body)
    DELETE /api/v1/namespaces/ns/pods              deletecollection pods in ns
    GET    /api/v1/namespaces/ns                   get namespaces "ns" *in the namespace ns* (reading your
                                                   own namespace is what a RoleBinding there can grant)
    GET    /healthz, /apis, /api/v1, /version      non-resource: verb = lower-case HTTP method, the path

A list or watch with ``fieldSelector=metadata.name=x`` is about the object ``x`` (``kubectl get
pod x -w``), so its name is ``x``, as upstream.

Kubernetes equivalent: k8s.io/apiserver/pkg/endpoints/request/requestinfo.go
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes

_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete"}
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


def request_attributes(user: User, method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """The authorization attributes of one HTTP request (see the module docstring)."""
    parts = [p for p in path.strip("/").split("/") if p]
    method = method.upper()
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return Attributes.non_resource(user, method.lower(), path)
    group = ""
    rest = parts[1:]
    if parts[0] == "apis":
        if len(rest) < 3:
            return Attributes.non_resource(user, method.lower(), path)  # /apis/<group>/<version>: discovery
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    verb = _METHOD_VERBS.get(method, method.lower())
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    field_selector = query.get("fieldSelector")
    if not name and verb == "get":
        verb = "watch" if query.get("watch", "").lower() in ("true", "1") else "list"
        name = _name_from_field_selector(field_selector)
    elif not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user=user, verb=verb, resource=resource, api_group=group, subresource=subresource,
                      namespace=namespace, name=name, field_selector=field_selector, api_version=version)


def _name_from_field_selector(text: str | None) -> str:
    """``metadata.name=x`` (or ``==x``) among the terms; "" when absent or not a usable name.
    A malformed selector is the route's to report: authorization then judges the collection."""
    for term in (text or "").split(","):
        key, sep, value = term.partition("=")
        if sep and key.strip() == "metadata.name" and "!" not in key:
            name = value[1:] if value.startswith("=") else value
            name = name.strip()
            if name and name not in (".", "..") and "/" not in name and "%" not in name:
                return name
    return ""
