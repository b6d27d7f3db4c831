"""Service and EndpointSlice objects in the Kubernetes JSON shape, for the proxy and DNS unit tests."""

from __future__ import annotations

from typing import Any


def service(name: str, *, namespace: str = "default", cluster_ip: str = "10.96.0.10", type_: str = "ClusterIP",
            ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
        "spec": {"type": type_, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "ports": ports if ports is not None else [{"name": "http", "port": 80, "protocol": "TCP",
                                                            "targetPort": 8080}],
                 **spec},
    }


def endpoint(ip: str, *, ready: bool | None = True, pod: str | None = None, node: str = "node-1") -> dict[str, Any]:
    ep: dict[str, Any] = {"addresses": [ip], "nodeName": node,
                          "targetRef": {"kind": "Pod", "name": pod or f"pod-{ip.replace('.', '-')}"}}
    if ready is not None:
        ep["conditions"] = {"ready": ready, "serving": ready, "terminating": False}
    return ep


def endpoint_slice(service_name: str, endpoints: list[dict[str, Any]], *, namespace: str = "default",
                   name: str | None = None, ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name or f"{service_name}-abcde", "namespace": namespace, "resourceVersion": "1",
                     "labels": {"kubernetes.io/service-name": service_name,
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints,
    }
