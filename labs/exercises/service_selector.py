"""Exercise of notebook 10: a Service that reaches no pod — find out why, and fix it.

The notebook creates the Service ``shop`` (port 80 → 8080) meant for the pods of the Deployment
``web``, but its selector matches no pod: its EndpointSlice lists no endpoint, the proxy writes a
REJECT rule for it, and every connection to its ClusterIP is refused. Diagnose it (the empty
EndpointSlice; the selector against the pods' labels) and fix the Service. Then:

    labs.check("service-selector", lab=lab, namespace=NS)

The hint of the selector step gets more precise with each failed attempt: a nudge first, then where
to look, then the answer.
"""

from __future__ import annotations

import time
from typing import Any

from labs.checks import Checker, register

SERVICE = "shop"
DEPLOYMENT = "web"
TARGET_PORT = 8080
SLICE_WAIT = 10.0  # seconds the check gives the EndpointSlice controller to catch up with a fix

_failed_attempts: dict[str, int] = {}


def _selector_hint(namespace: str) -> str:
    attempt = _failed_attempts.get(namespace, 0)
    _failed_attempts[namespace] = attempt + 1
    hints = (
        "a Service sends traffic to the pods its selector matches — and only to those. Which pods does "
        "this one match? Ask its EndpointSlice",
        f"compare the Service's selector (kubectl get service {SERVICE} -n NS -o jsonpath='{{.spec.selector}}') "
        f"with the labels of the pods of the Deployment {DEPLOYMENT} (kubectl get pods -n NS --show-labels): "
        "one value differs",
        f"the pods are labelled app=web: lab.kubectl(\"patch\", \"service\", \"{SERVICE}\", \"-n\", NS, \"-p\", "
        "'{\"spec\": {\"selector\": {\"app\": \"web\"}}}') — then run the check again",
    )
    return hints[min(attempt, len(hints) - 1)]


def _ready_endpoints(client: Any, namespace: str) -> list[dict[str, Any]]:
    slices = client.get(f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                        params={"labelSelector": f"kubernetes.io/service-name={SERVICE}"}).json()
    return [e for s in slices.get("items") or [] for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready")]


@register("service-selector", title="A Service that reaches no pod")
def check(c: Checker, *, lab: Any, namespace: str) -> None:
    with lab.http() as client:
        response = client.get(f"/api/v1/namespaces/{namespace}/services/{SERVICE}")
        if not c.expect(
            response.status_code == 200,
            passed=f"the Service {SERVICE} exists",
            failed=f"there is no Service {SERVICE!r} in {namespace!r} (the API server answered {response.status_code})",
            hint="run the cell above the exercise again: it creates the broken Service for you to fix",
        ):
            return
        service = response.json()
        selector = (service.get("spec") or {}).get("selector") or {}
        label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
        pods = client.get(f"/api/v1/namespaces/{namespace}/pods",
                          params={"labelSelector": label_selector}).json().get("items") or [] if selector else []
        if not c.expect(
            selector and pods,
            passed=f"its selector {label_selector} matches {len(pods)} pod(s)",
            failed=(f"its selector {label_selector} matches no pod in {namespace}, so its EndpointSlice lists no "
                    "endpoint and the proxy rejects every connection to it" if selector else
                    "it has no selector: the EndpointSlice controller leaves such a Service alone (its slices "
                    "are yours to write) — give it its selector back"),
            hint=_selector_hint(namespace) if selector else "selector: {\"app\": \"web\"}",
        ):
            return
        strangers = [p["metadata"]["name"] for p in pods
                     if not any(ref.get("kind") == "ReplicaSet" and ref.get("name", "").startswith(f"{DEPLOYMENT}-")
                                for ref in p["metadata"].get("ownerReferences") or [])]
        if not c.expect(
            not strangers,
            passed=f"they are all pods of the Deployment {DEPLOYMENT}",
            failed=f"it also matches {', '.join(strangers)}, which the Deployment {DEPLOYMENT} does not own",
            hint=("relabelling a pod to fit the selector changes which pods are backends — and a pod that "
                  f"serves nothing on {TARGET_PORT} would get traffic. Fix the Service's selector instead "
                  "(and put the pod's label back)"),
        ):
            return
        wanted = {p["status"].get("podIP") for p in pods if p["status"].get("podIP")}
        deadline = time.monotonic() + SLICE_WAIT
        endpoints = _ready_endpoints(client, namespace)
        while {a for e in endpoints for a in e.get("addresses") or []} != wanted and time.monotonic() < deadline:
            time.sleep(0.5)
            endpoints = _ready_endpoints(client, namespace)
        addresses = sorted({a for e in endpoints for a in e.get("addresses") or []})
        ports = {p.get("port") for p in (service.get("spec") or {}).get("ports") or []
                 if p.get("targetPort") in (TARGET_PORT, "http")}
    if not c.expect(
        addresses and set(addresses) == wanted,
        passed=f"its EndpointSlice lists them, ready: {', '.join(addresses)}",
        failed=(f"its EndpointSlice lists {', '.join(addresses) or 'no ready endpoint'}, not the pods' "
                f"addresses {', '.join(sorted(wanted)) or '(none yet: the pods have no IP)'}"),
        hint="the EndpointSlice controller follows the Service and the pods within a second or two; are the "
             "pods Running and Ready (kubectl get pods -n NS)? Run the check again",
    ):
        return
    c.expect(
        ports,
        passed=f"and it still sends port 80 to the pods' port {TARGET_PORT}",
        failed=f"no port of the Service targets {TARGET_PORT}, where the pods' httpd listens",
        hint=f"keep targetPort: {TARGET_PORT}; only the selector was wrong",
    )
    _failed_attempts.pop(namespace, None)
