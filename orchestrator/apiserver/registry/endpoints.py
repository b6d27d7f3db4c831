"""Endpoints (core/v1, legacy) and EndpointSlices (discovery.k8s.io/v1): the addresses behind a
Service, written by the controller manager's endpoint and endpointslice controllers (and, for the
``kubernetes`` Service, by the API server itself: ``apiserver/kubernetesservice.py``).

Validation follows Kubernetes' rules for what consumers (kube-proxy, DNS) rely on: addresses are IPs
of the slice's ``addressType`` and are not loopback, link-local or multicast addresses (traffic
sent there would never leave the node); ports are 1-65535 with unique names; a slice holds at most
1000 endpoints and its ``addressType`` never changes.

Kubernetes equivalent: pkg/registry/core/endpoint/strategy.go,
pkg/registry/discovery/endpointslice/strategy.go, pkg/apis/discovery/validation/validation.go,
pkg/apis/core/validation/validation.go (ValidateEndpoints), pkg/printers/internalversion/printers.go
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import names
from orchestrator.api import printing as tables
from orchestrator.api.errors import Cause
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.validation import FieldErrors, _valid_port

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
PROTOCOLS = ("SCTP", "TCP", "UDP")
MAX_ENDPOINTS = 1000  # maxEndpoints in discovery validation
MAX_ADDRESSES = 100


def _check_ip(errs: FieldErrors, path: str, value: Any, family: int | None = None) -> None:
    """ValidateEndpointIP: an IP (of ``family``), and not one that cannot leave the node."""
    try:
        ip = ipaddress.ip_address(value)
    except (ValueError, TypeError):
        errs.invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
        return
    if family is not None and ip.version != family:
        errs.invalid(path, value, f"must be an IPv{family} address")
    if ip.is_unspecified:
        errs.invalid(path, value, "may not be unspecified (0.0.0.0)")
    elif ip.is_loopback:
        errs.invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)")
    elif ip.is_link_local:
        errs.invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    elif ip.is_multicast:
        errs.invalid(path, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")


def _check_ports(errs: FieldErrors, ports: list[Any], path: str, *, require_port: bool, require_names: bool) -> None:
    seen: set[str] = set()
    for i, port in enumerate(p for p in ports if isinstance(p, dict)):
        name = port.get("name") or ""
        if name:
            for msg in names.dns1123_label(name):
                errs.invalid(f"{path}[{i}].name", name, msg)
            if name in seen:
                errs.duplicate(f"{path}[{i}].name", name)
            seen.add(name)
        elif require_names and len(ports) > 1:
            errs.required(f"{path}[{i}].name", "")
        number = port.get("port")
        if number is None:
            if require_port:
                errs.required(f"{path}[{i}].port", "")
        else:
            _valid_port(errs, f"{path}[{i}].port", number)
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            errs.not_supported(f"{path}[{i}].protocol", protocol, PROTOCOLS)


# --- EndpointSlice -----------------------------------------------------------------------------------


def validate_endpoint_slice(errs: FieldErrors, obj: Mapping[str, Any]) -> None:
    address_type = obj.get("addressType")
    if not address_type:
        errs.required("addressType", "")
    elif address_type not in ADDRESS_TYPES:
        errs.not_supported("addressType", address_type, ADDRESS_TYPES)
    endpoints = obj.get("endpoints") or []
    if len(endpoints) > MAX_ENDPOINTS:
        errs.too_long("endpoints", f"must have at most {MAX_ENDPOINTS} items")
    family = {"IPv4": 4, "IPv6": 6}.get(address_type or "")
    for i, endpoint in enumerate(e for e in endpoints if isinstance(e, dict)):
        path = f"endpoints[{i}]"
        addresses = endpoint.get("addresses") or []
        if not addresses:
            errs.required(f"{path}.addresses", "must contain at least 1 address")
        elif len(addresses) > MAX_ADDRESSES:
            errs.too_long(f"{path}.addresses", f"must have at most {MAX_ADDRESSES} items")
        for j, address in enumerate(addresses):
            if address_type == "FQDN":
                for msg in names.dns1123_subdomain(str(address)):
                    errs.invalid(f"{path}.addresses[{j}]", address, msg)
            elif family is not None:
                _check_ip(errs, f"{path}.addresses[{j}]", address, family)
        if endpoint.get("nodeName"):
            for msg in names.dns1123_subdomain(endpoint["nodeName"]):
                errs.invalid(f"{path}.nodeName", endpoint["nodeName"], msg)
        if endpoint.get("hostname"):
            for msg in names.dns1123_label(endpoint["hostname"]):
                errs.invalid(f"{path}.hostname", endpoint["hostname"], msg)
    _check_ports(errs, obj.get("ports") or [], "ports", require_port=False, require_names=False)


def _slice_ports(ports: list[Mapping[str, Any]]) -> str:
    """formatDiscoveryPorts: ``80,443``; ``<unset>`` for none (or a port without a number)."""
    if not ports:
        return "<unset>"
    cells = [str(p["port"]) if p.get("port") is not None else "<unset>" for p in ports]
    shown = ",".join(cells[:3])
    return f"{shown} + {len(cells) - 3} more..." if len(cells) > 3 else shown


def _slice_endpoints(endpoints: list[Mapping[str, Any]]) -> str:
    """formatDiscoveryEndpoints: the first three addresses, then ``+ N more...``."""
    addresses = [a for e in endpoints for a in e.get("addresses") or []]
    shown = ",".join(addresses[:3])
    if len(addresses) > 3:
        return f"{shown} + {len(addresses) - 3} more..."
    return shown or "<unset>"


def endpoint_slice_row(obj: Mapping[str, Any], now: datetime) -> tuple[list[Any], None]:
    meta = obj.get("metadata") or {}
    return [meta.get("name", ""), obj.get("addressType", ""), _slice_ports(obj.get("ports") or []),
            _slice_endpoints([e for e in obj.get("endpoints") or [] if isinstance(e, dict)]),
            tables._since(meta.get("creationTimestamp"), now)], None


ENDPOINT_SLICE_PRINTER = tables.TablePrinter([
    tables._NAME,
    tables._column("AddressType", "The IP protocol for this slice."),
    tables._column("Ports", "The ports for this slice."),
    tables._column("Endpoints", "First N endpoints for this slice."),
    tables._AGE,
], endpoint_slice_row)


class EndpointSliceStrategy(BaseStrategy):
    printer = ENDPOINT_SLICE_PRINTER

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_endpoint_slice(errs, obj)

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        if new.get("addressType") != old.get("addressType"):
            errs.invalid("addressType", new.get("addressType"), "field is immutable")
        return errs.causes


# --- Endpoints ---------------------------------------------------------------------------------------


def validate_endpoints(errs: FieldErrors, obj: Mapping[str, Any]) -> None:
    for i, subset in enumerate(s for s in obj.get("subsets") or [] if isinstance(s, dict)):
        path = f"subsets[{i}]"
        addresses, not_ready = subset.get("addresses") or [], subset.get("notReadyAddresses") or []
        if not addresses and not not_ready:
            errs.required(path, "must specify `addresses` or `notReadyAddresses`")
        for key, listed in (("addresses", addresses), ("notReadyAddresses", not_ready)):
            for j, address in enumerate(a for a in listed if isinstance(a, dict)):
                _check_ip(errs, f"{path}.{key}[{j}].ip", address.get("ip"))
        _check_ports(errs, subset.get("ports") or [], f"{path}.ports", require_port=True, require_names=True)


def _endpoints_cell(subsets: list[Mapping[str, Any]]) -> str:
    """formatEndpoints: ``10.0.0.1:80,10.0.0.2:80 + 1 more...``; ``<none>`` for none."""
    cells = []
    for subset in subsets:
        ports = subset.get("ports") or [{}]
        for port in ports:
            for address in subset.get("addresses") or []:
                ip = address.get("ip", "")
                cells.append(f"{ip}:{port['port']}" if port.get("port") is not None else ip)
    if not cells:
        return "<none>"
    shown = ",".join(cells[:3])
    return f"{shown} + {len(cells) - 3} more..." if len(cells) > 3 else shown


def endpoints_row(obj: Mapping[str, Any], now: datetime) -> tuple[list[Any], None]:
    meta = obj.get("metadata") or {}
    return [meta.get("name", ""), _endpoints_cell([s for s in obj.get("subsets") or [] if isinstance(s, dict)]),
            tables._since(meta.get("creationTimestamp"), now)], None


ENDPOINTS_PRINTER = tables.TablePrinter([
    tables._NAME,
    tables._column("Endpoints", "Endpoints of the service."),
    tables._AGE,
], endpoints_row)


class EndpointsStrategy(BaseStrategy):
    printer = ENDPOINTS_PRINTER

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_endpoints(errs, obj)


STRATEGIES = (EndpointsStrategy(by_group_resource("endpoints")),
              EndpointSliceStrategy(by_group_resource("endpointslices.discovery.k8s.io")))
