"""apiregistration.k8s.io/v1 APIService: which server serves an aggregated group/version.

What an APIService may say, each problem a cause naming its field:

- ``metadata.name`` is ``<spec.version>.<spec.group>`` (``v1beta1.metrics.k8s.io``);
- ``spec.group`` a DNS subdomain, ``spec.version`` a DNS-1035 label;
- ``spec.groupPriorityMinimum`` in 1..20000 and ``spec.versionPriority`` in 1..1000 (both required
  for a non-local service);
- where the server is: ``spec.service`` (namespace, name, port 1..65535), or the labkit extension
  ``spec.url`` (``http://`` or ``https://``, no query or fragment): not both; neither is a local
  APIService, served by this API server itself, which only makes sense for built-in groups;
- ``spec.caBundle`` and ``spec.insecureSkipTLSVerify`` not both.

``status`` (the Available condition) is written by the API server's availability check
(orchestrator/apiserver/aggregator.py), through the status subresource.

``kubectl get apiservices``: NAME, SERVICE (``kube-system/metrics-server`` or the URL, ``Local``
without either), AVAILABLE (``True``, or ``False (FailedDiscoveryCheck)``), AGE — as upstream.

Kubernetes equivalent: k8s.io/kube-aggregator/pkg/registry/apiservice/strategy.go,
pkg/apis/apiregistration/validation/validation.go
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from orchestrator.api import names
from orchestrator.api import printing as tables
from orchestrator.api.resources import by_group_resource
from orchestrator.api.timestamps import parse_rfc3339
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.validation import FieldErrors

Cell = Any


def _column(name: str, description: str, *, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": "string", "format": fmt, "description": description, "priority": 0}


_COLUMNS = [
    _column("Name", "Name must be unique within a namespace.", fmt="name"),
    _column("Service", "The reference to the service that hosts this API endpoint."),
    _column("Available", "Whether this service is available."),
    _column("Age", "CreationTimestamp is a timestamp representing the server time when this object was created."),
]


def service_text(obj: Mapping[str, Any]) -> str:
    spec = obj.get("spec") or {}
    service = spec.get("service") or {}
    if service.get("name"):
        return f"{service.get('namespace')}/{service.get('name')}"
    return str(spec.get("url") or "Local")


def available_text(obj: Mapping[str, Any]) -> str:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Available":
            if condition.get("status") == "True":
                return "True"
            return f"{condition.get('status')} ({condition.get('reason')})"
    return "Unknown"


def _row(obj: dict[str, Any], now: datetime) -> tuple[list[Cell], None]:
    meta = obj.get("metadata") or {}
    try:
        created = parse_rfc3339(str(meta.get("creationTimestamp")))
        age = tables.human_duration(max(0.0, (now - created).total_seconds()))
    except ValueError:
        age = "<unknown>"
    return [meta.get("name", ""), service_text(obj), available_text(obj), age], None


APISERVICE = tables.TablePrinter(_COLUMNS, _row)


def validate_apiservice(errs: FieldErrors, obj: Mapping[str, Any]) -> None:
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name") or ""
    group, version = spec.get("group"), spec.get("version")
    if not group:
        errs.required("spec.group", "the API group this server hosts, e.g. metrics.k8s.io")
    else:
        for message in names.dns1123_subdomain(str(group)):
            errs.invalid("spec.group", group, message)
    if not version:
        errs.required("spec.version", "the API version this server hosts, e.g. v1beta1")
    else:
        for message in names.dns1035_label(str(version)):
            errs.invalid("spec.version", version, message)
    if group and version and name != f"{version}.{group}":
        errs.invalid("metadata.name", name, f'must be "{version}.{group}" (<spec.version>.<spec.group>)')
    service, url = spec.get("service"), spec.get("url")
    local = not service and not url
    if service and url:
        errs.forbidden("spec.url", "give spec.service or spec.url, not both")
    for field, low, high in (("groupPriorityMinimum", 1, 20000), ("versionPriority", 1, 1000)):
        value = spec.get(field)
        if value is None:
            if not local:
                errs.required(f"spec.{field}", f"an integer from {low} to {high}")
        elif isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errs.invalid(f"spec.{field}", value, f"must be in the range {low}-{high}")
    if service:
        if not service.get("namespace"):
            errs.required("spec.service.namespace")
        if not service.get("name"):
            errs.required("spec.service.name")
        port = service.get("port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
            errs.invalid("spec.service.port", port, "must be a valid port number (1-65535)")
    if url is not None:
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errs.invalid("spec.url", url, "must be an http:// or https:// address with a host")
        elif parts.query or parts.fragment:
            errs.invalid("spec.url", url, "must not have a query or a fragment")
    if spec.get("caBundle") and spec.get("insecureSkipTLSVerify"):
        errs.invalid("spec.insecureSkipTLSVerify", True, "may not be true if caBundle is present")


class APIServiceStrategy(BaseStrategy):
    printer = APISERVICE

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_apiservice(errs, obj)


STRATEGIES = (APIServiceStrategy(by_group_resource("apiservices.apiregistration.k8s.io")),)
