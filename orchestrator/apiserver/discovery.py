"""Discovery documents: how a client learns which versions, groups and resources this server has.

kubectl never hard-codes paths. Before ``kubectl get po`` it asks, in this order:

1. ``GET /version``   -> which kubectl minor to run (the dispatcher on lab machines reads ``minor``),
2. ``GET /api``       -> ``APIVersions``: the core group's versions (``v1``),
3. ``GET /apis``      -> ``APIGroupList``: the named groups (``apps``, ``coordination.k8s.io``),
4. ``GET /api/v1``, ``GET /apis/apps/v1``, ... -> ``APIResourceList``: each resource's plural, kind,
   scope, verbs, ``shortNames`` (``po`` -> pods) and ``categories`` (``all`` -> ``kubectl get all``).

Since Kubernetes 1.26 clients first try *aggregated* discovery: one request to ``/api`` and one to
``/apis`` with ``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``
returns every group, version and resource at once (``aggregated_discovery``). A client that gets
a plain ``APIVersions``/``APIGroupList`` instead (told apart by the response Content-Type) falls back
to the legacy walk above, so both paths end in the same resource mapping.

Every document is computed from a ``ResourceCatalog`` (``apiserver/catalog.py``): the built-ins of
``orchestrator.api.resources.RESOURCES`` plus the served versions of Established CRDs. Adding a
row there, or creating a CRD, makes a resource discoverable. All functions here are pure (no I/O)
and return fresh dicts; without a catalog they describe the built-ins only.

Kubernetes equivalent: staging/src/k8s.io/apiserver/pkg/endpoints/discovery (legacy and aggregated).
"""

from __future__ import annotations

import base64
import hashlib
import platform
import sys
from typing import Any, Literal

from orchestrator.api.errors import NotFound
from orchestrator.api.resources import ResourceInfo
from orchestrator.apiserver.catalog import ResourceCatalog

AggregatedVersion = Literal["v2", "v2beta1"]

KUBERNETES_MAJOR = "1"
# The kubectl dispatcher on lab machines runs the kubectl whose minor matches this one; 1.27/1.28
# would also need protobuf OpenAPI v2 for ``apply``, so report a recent minor.
KUBERNETES_MINOR = "32"
GIT_VERSION = "v1.32.0-labkit"

# Go's GOOS/GOARCH spelling, which kubectl prints as ``platform``.
_GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386"}

_NOT_FOUND_MESSAGE = "the server could not find the requested resource"
_BUILTINS = ResourceCatalog()


def _catalog(catalog: ResourceCatalog | None) -> ResourceCatalog:
    return catalog if catalog is not None else _BUILTINS


def version_info() -> dict[str, str]:
    """``GET /version``: the ``version.Info`` document (every field a string, as the Python client
    validates)."""
    machine = platform.machine().lower()
    return {
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        # There is no Go here; say honestly what runs the server.
        "goVersion": f"python{platform.python_version()}",
        "compiler": "python",
        "platform": f"{sys.platform}/{_GO_ARCH.get(machine, machine)}",
    }


def api_versions(server_address: str, catalog: ResourceCatalog | None = None) -> dict[str, Any]:
    """``GET /api``: the legacy core group, served under ``/api`` rather than ``/apis``.

    ``server_address`` is ``host:port`` as clients should reach the server; the single CIDR
    ``0.0.0.0/0`` says "every client, same address".
    """
    return {
        "kind": "APIVersions",
        "apiVersion": "v1",
        "versions": [version for group, version in _catalog(catalog).groups() if group == ""],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_versions(group: str, catalog: ResourceCatalog) -> list[dict[str, str]]:
    return [
        {"groupVersion": f"{group}/{version}", "version": version}
        for g, version in catalog.groups()
        if g == group
    ]


def _api_group(group: str, catalog: ResourceCatalog) -> dict[str, Any]:
    versions = _group_versions(group, catalog)
    # The first version listed is the preferred one, as upstream orders by priority.
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(catalog: ResourceCatalog | None = None) -> dict[str, Any]:
    """``GET /apis``: every named group (the core group is not one: it lives at ``/api``)."""
    catalog = _catalog(catalog)
    names: list[str] = []
    for group, _ in catalog.groups():
        if group and group not in names:
            names.append(group)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_api_group(g, catalog) for g in names]}


def api_group(group: str, catalog: ResourceCatalog | None = None) -> dict[str, Any]:
    """``GET /apis/<group>``: one group and its versions; ``NotFound`` for a group not served."""
    catalog = _catalog(catalog)
    if not group or not any(g == group for g, _ in catalog.groups()):
        raise NotFound(_NOT_FOUND_MESSAGE)
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(group, catalog)}


def storage_version_hash(info: ResourceInfo) -> str:
    """A stable opaque hash of the storage version, computed as upstream does (first 8 bytes of
    SHA-256 over ``group/version/kind``, base64). Clients only compare it for equality."""
    digest = hashlib.sha256(f"{info.group}/{info.version}/{info.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


# A subresource's kind, group/version (when not the parent's) and verbs, as kube-apiserver reports them.
# (group, version) of None means "the parent's".
_SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None, tuple[str, ...]]] = {
    "status": (None, None, None, ("get", "patch", "update")),
    "binding": (None, None, "Binding", ("create",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
    "log": (None, None, None, ("get",)),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "finalize": (None, None, None, ("update",)),
}


def _subresource(info: ResourceInfo, sub: str) -> tuple[str, str, str, list[str]]:
    """(group, version, kind, verbs) of ``<plural>/<sub>``."""
    group, version, kind, verbs = _SUBRESOURCES.get(sub, (None, None, None, ("get",)))
    return (
        info.group if group is None else group,
        info.version if version is None else version,
        kind or info.kind,
        list(verbs),
    )


def _legacy_resource(info: ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": sorted(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    entry["storageVersionHash"] = storage_version_hash(info)
    return entry


def _legacy_subresource(info: ResourceInfo, sub: str) -> dict[str, Any]:
    group, version, kind, verbs = _subresource(info, sub)
    entry: dict[str, Any] = {
        "name": f"{info.plural}/{sub}",
        "singularName": "",
        "namespaced": info.namespaced,
        "kind": kind,
        "verbs": verbs,
    }
    # group/version appear only when they differ from the list's groupVersion (deployments/scale
    # answers an autoscaling/v1 Scale); kubectl scale reads them to decode the reply.
    if (group, version) != (info.group, info.version):
        entry["group"] = group
        entry["version"] = version
    return entry


def _served(group: str, version: str, catalog: ResourceCatalog) -> list[ResourceInfo]:
    return [r for r in catalog.resources() if r.group == group and r.version == version]


def api_resource_list(group: str, version: str, catalog: ResourceCatalog | None = None) -> dict[str, Any]:
    """``GET /api/v1`` (group ``""``) or ``GET /apis/<group>/<version>``: the ``APIResourceList``.

    Subresources are listed as their own entries named ``<plural>/<sub>`` (``pods/log``,
    ``deployments/scale``), sorted by name like kube-apiserver does.
    """
    served = _served(group, version, _catalog(catalog))
    if not served:
        raise NotFound(_NOT_FOUND_MESSAGE)
    resources: list[dict[str, Any]] = []
    for info in served:
        resources.append(_legacy_resource(info))
        resources.extend(_legacy_subresource(info, sub) for sub in info.subresources)
    resources.sort(key=lambda r: r["name"])
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# --- aggregated discovery (apidiscovery.k8s.io) ------------------------------------------------


def aggregated_discovery_content_type(version: AggregatedVersion) -> str:
    """The Content-Type an aggregated answer must carry: client-go tells aggregated from legacy
    discovery by these parameters, not by the body."""
    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"


def _aggregated_resource(info: ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": sorted(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    subresources = []
    for sub in sorted(info.subresources):
        group, version, kind, verbs = _subresource(info, sub)
        subresources.append({
            "subresource": sub,
            "responseKind": {"group": group, "version": version, "kind": kind},
            "verbs": verbs,
        })
    if subresources:
        entry["subresources"] = subresources
    return entry


def _aggregated_group(group: str, catalog: ResourceCatalog) -> dict[str, Any]:
    versions = []
    for g, version in catalog.groups():
        if g != group:
            continue
        resources = sorted((_aggregated_resource(r) for r in _served(g, version, catalog)), key=lambda e: e["resource"])
        versions.append({"version": version, "resources": resources, "freshness": "Current"})
    # The core group has no name: its metadata is empty apart from the null timestamp Go emits.
    metadata: dict[str, Any] = {"creationTimestamp": None}
    if group:
        metadata["name"] = group
    return {"metadata": metadata, "versions": versions}


def aggregated_discovery(kind: Literal["api", "apis"], version: AggregatedVersion,
                         catalog: ResourceCatalog | None = None) -> dict[str, Any]:
    """``GET /api`` or ``GET /apis`` when the client asked for ``as=APIGroupDiscoveryList``.

    ``/api`` holds only the core group, ``/apis`` only the named groups; versions are listed in
    preference order. v2 and v2beta1 have the same shape and differ only in ``apiVersion``.
    """
    if version not in ("v2", "v2beta1"):
        raise NotFound(_NOT_FOUND_MESSAGE)
    catalog = _catalog(catalog)
    names: list[str] = []
    for group, _ in catalog.groups():
        if (group == "") == (kind == "api") and group not in names:
            names.append(group)
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": [_aggregated_group(g, catalog) for g in names],
    }
