"""Services: defaults and validation of a Service, what an update may change, and its Table.

- create: Kubernetes' defaults — ``type: ClusterIP``, ``sessionAffinity: None``, each port's
  ``protocol: TCP`` and ``targetPort`` = ``port``, ``internalTrafficPolicy: Cluster``,
  ``externalTrafficPolicy: Cluster`` for NodePort and LoadBalancer, ``ipFamilies: [IPv4]`` and
  ``ipFamilyPolicy: SingleStack`` (this lab's ranges are IPv4 only), ``status.loadBalancer: {}``.
  The ClusterIP and node ports are not chosen here: the allocator (``serviceallocator.py``) fills
  in what the client left empty, after validation, in the same transaction as the write.
- type LoadBalancer is served as Kubernetes serves it without a cloud: a ClusterIP and node ports
  are allocated and ``status.loadBalancer`` stays empty, so ``kubectl get`` shows EXTERNAL-IP
  ``<pending>`` forever (no load-balancer controller exists in the lab).
- update: ``clusterIP``/``clusterIPs`` may not change once set (an update that leaves them out
  keeps them, as upstream's patchAllocatedValues does for ``kubectl apply``), and so does a node
  port that the update does not mention; NodePort → ClusterIP drops the node ports (the allocator
  releases them); ClusterIP ↔ ExternalName drops or allocates the ClusterIP.

Kubernetes equivalent: pkg/registry/core/service/strategy.go, pkg/apis/core/v1/defaults.go
(SetDefaults_Service), pkg/apis/core/validation/validation.go (ValidateService,
ValidateServiceUpdate), pkg/registry/core/service/storage/storage.go (patchAllocatedValues)
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
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import FieldErrors, _valid_port, validate_labels

CLUSTER_IP, NODE_PORT, LOAD_BALANCER, EXTERNAL_NAME = "ClusterIP", "NodePort", "LoadBalancer", "ExternalName"
SERVICE_TYPES = (CLUSTER_IP, EXTERNAL_NAME, LOAD_BALANCER, NODE_PORT)
PROTOCOLS = ("SCTP", "TCP", "UDP")
HEADLESS = "None"
MAX_CLIENT_IP_TIMEOUT = 86400  # core.MaxClientIPServiceAffinitySeconds
DEFAULT_CLIENT_IP_TIMEOUT = 10800  # core.DefaultClientIPServiceAffinitySeconds


def uses_cluster_ip(spec: Mapping[str, Any]) -> bool:
    return spec.get("type", CLUSTER_IP) != EXTERNAL_NAME


def uses_node_ports(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") in (NODE_PORT, LOAD_BALANCER)


def is_headless(spec: Mapping[str, Any]) -> bool:
    return spec.get("clusterIP") == HEADLESS


def default_service(obj: Obj) -> None:
    """SetDefaults_Service plus what the service REST storage defaults (ipFamilies)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", CLUSTER_IP)
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        config = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        config.setdefault("timeoutSeconds", DEFAULT_CLIENT_IP_TIMEOUT)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    # clusterIPs[0] and clusterIP are the same address, whichever the client wrote.
    cluster_ip, cluster_ips = spec.get("clusterIP"), spec.get("clusterIPs")
    if cluster_ip and not cluster_ips:
        spec["clusterIPs"] = [cluster_ip]
    elif cluster_ips and not cluster_ip and isinstance(cluster_ips, list):
        spec["clusterIP"] = cluster_ips[0]
    if uses_cluster_ip(spec):
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("ipFamilies", ["IPv4"])
    else:
        for key in ("internalTrafficPolicy", "ipFamilyPolicy", "ipFamilies"):
            spec.pop(key, None)
    if uses_node_ports(spec):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == LOAD_BALANCER:
        spec.setdefault("allocateLoadBalancerNodePorts", True)


def _valid_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_service(errs: FieldErrors, obj: Mapping[str, Any]) -> None:
    """ValidateService without the metadata part (the base strategy checks metadata)."""
    spec = obj.get("spec") or {}
    type_ = spec.get("type", CLUSTER_IP)
    if type_ not in SERVICE_TYPES:
        errs.not_supported("spec.type", type_, SERVICE_TYPES)
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    if type_ == EXTERNAL_NAME:
        external = spec.get("externalName")
        if not external:
            errs.required("spec.externalName", "")
        else:
            for msg in names.dns1123_subdomain(str(external).rstrip(".")):
                errs.invalid("spec.externalName", external, msg)
        if spec.get("clusterIPs") or spec.get("clusterIP"):
            errs.forbidden("spec.clusterIPs", "may not be set for ExternalName services")
    elif not ports and not is_headless(spec):
        errs.required("spec.ports", "")
    _validate_cluster_ips(errs, spec, type_)
    seen_names: set[str] = set()
    seen_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            errs.required(f"{path}.name", "")
        elif name:
            for msg in names.dns1123_label(name):
                errs.invalid(f"{path}.name", name, msg)
            if name in seen_names:
                errs.duplicate(f"{path}.name", name)
            seen_names.add(name)
        number = port.get("port")
        if number is None:
            errs.required(f"{path}.port", "")
        else:
            _valid_port(errs, f"{path}.port", number)
        protocol = port.get("protocol", "TCP")
        if protocol not in PROTOCOLS:
            errs.not_supported(f"{path}.protocol", protocol, PROTOCOLS)
        key = (number, protocol)
        if key in seen_ports:
            errs.duplicate(f"{path}", {"port": number, "protocol": protocol})
        seen_ports.add(key)
        if type_ != EXTERNAL_NAME:
            _valid_port(errs, f"{path}.targetPort", port.get("targetPort"))
        node_port = port.get("nodePort")
        if node_port not in (None, 0):
            if not uses_node_ports(spec):
                errs.forbidden(f"{path}.nodePort", f"may not be used when `type` is '{type_}'")
            else:
                _valid_port(errs, f"{path}.nodePort", node_port)
    selector = spec.get("selector") or {}
    if isinstance(selector, dict):
        validate_labels(errs, selector, "spec.selector")
    affinity = spec.get("sessionAffinity", "None")
    if affinity not in ("ClientIP", "None"):
        errs.not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None"))
    timeout = (((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds"))
    if affinity == "ClientIP" and isinstance(timeout, int) and not 0 < timeout <= MAX_CLIENT_IP_TIMEOUT:
        errs.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                     f"must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT}")
    if affinity == "None" and spec.get("sessionAffinityConfig"):
        errs.forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None")
    for policy_field in ("externalTrafficPolicy", "internalTrafficPolicy"):
        policy = spec.get(policy_field)
        if policy is not None and policy not in ("Cluster", "Local"):
            errs.not_supported(f"spec.{policy_field}", policy, ("Cluster", "Local"))
    for i, ip in enumerate(spec.get("externalIPs") or []):
        if not _valid_ip(ip):
            errs.invalid(f"spec.externalIPs[{i}]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")


def _validate_cluster_ips(errs: FieldErrors, spec: Mapping[str, Any], type_: str) -> None:
    cluster_ips = spec.get("clusterIPs") or []
    if spec.get("clusterIP") and cluster_ips and spec["clusterIP"] != cluster_ips[0]:
        errs.invalid("spec.clusterIPs", cluster_ips, "first value must match `clusterIP`")
    if len(cluster_ips) > 1:
        errs.invalid("spec.clusterIPs", cluster_ips,
                     "may specify no more than one IP for each IP family (this cluster is IPv4 single-stack)")
    for i, ip in enumerate(cluster_ips):
        if ip == HEADLESS:
            if i == 0 and uses_node_ports(spec):
                errs.invalid("spec.clusterIPs[0]", ip, f"may not be set to 'None' for {type_} services")
        elif not _valid_ip(ip):
            errs.invalid(f"spec.clusterIPs[{i}]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
        elif ipaddress.ip_address(ip).version != 4:
            errs.invalid(f"spec.clusterIPs[{i}]", ip, "expected an IPv4 value as indicated by `ipFamilies[0]`")
    families = spec.get("ipFamilies") or []
    for i, family in enumerate(families):
        if family not in ("IPv4", "IPv6"):
            errs.not_supported(f"spec.ipFamilies[{i}]", family, ("IPv4", "IPv6"))
        elif family == "IPv6":
            errs.invalid(f"spec.ipFamilies[{i}]", family, "not configured on this cluster")
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in ("PreferDualStack", "RequireDualStack", "SingleStack"):
        errs.not_supported("spec.ipFamilyPolicy", policy, ("PreferDualStack", "RequireDualStack", "SingleStack"))
    elif policy == "RequireDualStack":
        errs.invalid("spec.ipFamilyPolicy", policy, "this cluster is not configured for dual-stack services")


def carry_allocated_values(new: Obj, old: Mapping[str, Any]) -> None:
    """An update that leaves the ClusterIP or a node port out keeps what was allocated
    (upstream's patchAllocatedValues): ``kubectl apply`` of a manifest without them works."""
    spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
    if uses_cluster_ip(spec) and uses_cluster_ip(old_spec) and not spec.get("clusterIP") and not spec.get("clusterIPs"):
        for key in ("clusterIP", "clusterIPs"):
            if old_spec.get(key):
                spec[key] = old_spec[key]
    if uses_node_ports(spec) and uses_node_ports(old_spec):
        # By port name, as upstream: a port renumbered from 80 to 81 keeps its node port.
        ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
        by_name = {p.get("name") or "": p.get("nodePort") for p in old_spec.get("ports") or [] if isinstance(p, dict)}
        used = {p.get("nodePort") for p in ports if p.get("nodePort")}
        for port in ports:
            kept = by_name.get(port.get("name") or "")
            if not port.get("nodePort") and kept and kept not in used:
                port["nodePort"] = kept
                used.add(kept)


def validate_service_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    """ValidateServiceUpdate: the ClusterIP is immutable while the service has one."""
    errs = FieldErrors()
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    if uses_cluster_ip(spec) and uses_cluster_ip(old_spec) and old_spec.get("clusterIP"):
        if spec.get("clusterIP") != old_spec["clusterIP"]:
            errs.invalid("spec.clusterIP", spec.get("clusterIP") or "", "field is immutable")
        old_ips, ips = old_spec.get("clusterIPs") or [], spec.get("clusterIPs") or []
        if old_ips and ips and ips[0] != old_ips[0]:
            errs.invalid("spec.clusterIPs[0]", ips[0], "may not change once set")
    return errs.causes


# --- printing --------------------------------------------------------------------------------------

_SERVICE_COLUMNS = [
    tables._NAME,
    tables._column("Type", "The type of the service."),
    tables._column("Cluster-IP", "The cluster IP of the service."),
    tables._column("External-IP", "The external IP of the service."),
    tables._column("Port(s)", "The ports of the service."),
    tables._AGE,
    tables._column("Selector", "Route service traffic to pods with label keys and values matching this "
                               "selector.", priority=1),
]


def _external_ip(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    """getServiceExternalIP: ExternalName's name, a load balancer's ingress or <pending>."""
    type_ = spec.get("type", CLUSTER_IP)
    external = list(spec.get("externalIPs") or [])
    if type_ == EXTERNAL_NAME:
        return str(spec.get("externalName") or "<none>")
    if type_ == LOAD_BALANCER:
        ingress = [i.get("ip") or i.get("hostname") or "" for i in (status.get("loadBalancer") or {}).get("ingress") or []]
        addresses = [a for a in ingress + external if a]
        return ",".join(addresses) if addresses else "<pending>"
    return ",".join(external) if external else "<none>"


def ports_cell(ports: list[Mapping[str, Any]]) -> str:
    """makePortString: ``80/TCP`` or ``80:30080/TCP``, joined by commas."""
    cells = []
    for p in ports:
        node_port = p.get("nodePort")
        number = f"{p.get('port')}:{node_port}" if node_port else f"{p.get('port')}"
        cells.append(f"{number}/{p.get('protocol', 'TCP')}")
    return ",".join(cells) if cells else "<none>"


def service_row(obj: Mapping[str, Any], now: datetime) -> tuple[list[Any], None]:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    cluster_ips = spec.get("clusterIPs") or []
    selector = spec.get("selector") or {}
    return [meta.get("name", ""), spec.get("type", CLUSTER_IP), cluster_ips[0] if cluster_ips else "<none>",
            _external_ip(spec, status), ports_cell([p for p in spec.get("ports") or [] if isinstance(p, dict)]),
            tables._since(meta.get("creationTimestamp"), now),
            ",".join(f"{k}={v}" for k, v in sorted(selector.items())) if selector else "<none>"], None


SERVICE_PRINTER = tables.TablePrinter(_SERVICE_COLUMNS, service_row)


class ServiceStrategy(BaseStrategy):
    printer = SERVICE_PRINTER
    name_rule = staticmethod(names.dns1035_label)  # a Service's name is a DNS label: it becomes one
    returns_deleted_object = True  # a DELETE answers the Service, as upstream's service storage does

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        default_service(obj)
        obj["status"] = {"loadBalancer": {}}

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_service(errs, obj)

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        carry_allocated_values(new, old)
        default_service(new)
        spec = new["spec"]
        if not uses_node_ports(spec):  # NodePort → ClusterIP: the node ports go (and are released)
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.pop("nodePort", None)
        # Fields of the old type the client did not touch go too (upstream's dropTypeDependentFields).
        old_spec = old.get("spec") or {}
        type_fields = {"externalTrafficPolicy": uses_node_ports(spec), "healthCheckNodePort": uses_node_ports(spec),
                       "allocateLoadBalancerNodePorts": spec.get("type") == LOAD_BALANCER,
                       "loadBalancerClass": spec.get("type") == LOAD_BALANCER}
        for key, needed in type_fields.items():
            if not needed and key in spec and spec.get(key) == old_spec.get(key):
                spec.pop(key)
        if not uses_cluster_ip(spec):  # → ExternalName: the ClusterIP goes
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        super().prepare_for_update(new, old, now=now)

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        return validate_service_update(new, old)


STRATEGIES = (ServiceStrategy(by_group_resource("services")),)
