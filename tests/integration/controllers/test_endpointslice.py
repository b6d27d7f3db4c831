"""The endpoint and endpointslice controllers against a real API server and controller manager:
EndpointSlices and Endpoints follow pods becoming ready, unready and deleted (within 2 s), named
target ports resolve per pod, and kubectl expose / get / describe show them.

The test plays the node agent: it binds pods and writes their status (podIP, Ready) itself, so
readiness flips exactly when the test says."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from orchestrator.api.errors import NotFound
from orchestrator.client.rest import ApiClient
from tests.integration.controllers.conftest import SCHEDULER_NAME, stamp
from tests.support.lab import Lab
from tests.support.polling import eventually
from tests.support.skips import require_kubectl

SLICES = "endpointslices.discovery.k8s.io"
CONTROLLERS = ("--controllers", "endpoint,endpointslice,replicaset,deployment")


def web_pod(name: str, *, port: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": {"schedulerName": SCHEDULER_NAME, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "main", "image": "busybox",
                                     "ports": [{"name": "http", "containerPort": port}]}]}}


async def run_pod(admin: ApiClient, namespace: str, name: str, ip: str, *, ready: bool = True) -> None:
    """What a node agent does: bind the pod (once) and report it Running with its IP and readiness."""
    pod = await admin.get("pods", name, namespace=namespace)
    if not pod["spec"].get("nodeName"):
        await admin.bind(namespace, name, "node-a")
        pod = await admin.get("pods", name, namespace=namespace)
    now = stamp()
    pod["status"] = {**pod.get("status", {}), "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                     "conditions": [{"type": t, "status": "True" if ready or t == "PodScheduled" else "False",
                                     "lastTransitionTime": now}
                                    for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]}
    await admin.update_status("pods", pod)


async def slices_of(admin: ApiClient, namespace: str, service: str) -> list[dict[str, Any]]:
    listed = await admin.list(SLICES, namespace=namespace, label_selector=f"kubernetes.io/service-name={service}")
    return sorted(listed["items"], key=lambda s: s["metadata"]["name"])


def endpoints_by_pod(slices: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, bool], list[int]]]:
    return {e["targetRef"]["name"]: (e["addresses"][0], e["conditions"], [p["port"] for p in s["ports"]])
            for s in slices for e in s["endpoints"]}


async def timed(check: Any) -> float:
    started = time.monotonic()
    await eventually(check, timeout=10, interval=0.05)
    return time.monotonic() - started


async def test_slices_and_endpoints_follow_pods_ready_unready_and_deleted_within_two_seconds(
        admin: ApiClient, namespace: str, manager_factory: Any) -> None:
    manager_factory(*CONTROLLERS)
    service = await admin.create("services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
        namespace=namespace)
    # No pod yet: one empty placeholder slice, as upstream's controller makes.
    placeholder = await eventually(lambda: slices_of(admin, namespace, "web"))
    assert [(s["endpoints"], s["ports"]) for s in placeholder] == [([], [])]
    for name, port in (("a", 8080), ("b", 9090), ("pending", 8080)):
        await admin.create("pods", web_pod(name, port=port), namespace=namespace)
    await admin.create("pods", web_pod("other", port=8080, labels={"app": "other"}), namespace=namespace)
    await run_pod(admin, namespace, "a", "10.244.1.2")
    await run_pod(admin, namespace, "b", "10.244.1.3")
    await run_pod(admin, namespace, "other", "10.244.1.9")

    async def both_ready() -> Any:
        got = endpoints_by_pod(await slices_of(admin, namespace, "web"))
        return got if set(got) == {"a", "b"} else None

    got = await eventually(both_ready, timeout=10)
    # The named targetPort resolves per pod: two port lists, two slices; "pending" has no IP yet.
    assert got == {"a": ("10.244.1.2", {"ready": True, "serving": True, "terminating": False}, [8080]),
                   "b": ("10.244.1.3", {"ready": True, "serving": True, "terminating": False}, [9090])}
    slices = await slices_of(admin, namespace, "web")
    assert len(slices) == 2
    for s in slices:
        assert s["addressType"] == "IPv4" and s["ports"][0]["name"] == "http"
        assert s["metadata"]["labels"] == {"kubernetes.io/service-name": "web", "tier": "front",
                                           "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
        assert s["metadata"]["ownerReferences"][0]["uid"] == service["metadata"]["uid"]
        assert s["endpoints"][0]["nodeName"] == "node-a" and s["endpoints"][0]["targetRef"]["kind"] == "Pod"
    eps = await eventually(lambda: _endpoints(admin, namespace))
    assert sorted(a["ip"] for sub in eps["subsets"] for a in sub.get("addresses", [])) == ["10.244.1.2", "10.244.1.3"]

    # Unready: still listed, not ready — in the slice's conditions and in notReadyAddresses.
    await run_pod(admin, namespace, "a", "10.244.1.2", ready=False)

    async def a_unready() -> bool:
        slice_ok = endpoints_by_pod(await slices_of(admin, namespace, "web"))["a"][1]["ready"] is False
        eps = await _endpoints(admin, namespace)
        return slice_ok and any(a["ip"] == "10.244.1.2" for sub in eps["subsets"] for a in sub.get("notReadyAddresses", []))

    assert await timed(a_unready) < 2.0
    await run_pod(admin, namespace, "a", "10.244.1.2", ready=True)
    assert await timed(lambda: _ready(admin, namespace, "a")) < 2.0

    await admin.delete("pods", "b", namespace=namespace, grace_period_seconds=0)

    async def b_gone() -> bool:
        return set(endpoints_by_pod(await slices_of(admin, namespace, "web"))) == {"a"} and \
            len((await _endpoints(admin, namespace))["subsets"]) == 1

    assert await timed(b_gone) < 2.0
    assert len(await slices_of(admin, namespace, "web")) == 1  # the 9090 slice went with its last pod

    await admin.delete("services", "web", namespace=namespace)

    async def all_gone() -> bool:
        return not await slices_of(admin, namespace, "web") and await _endpoints(admin, namespace) is None

    await eventually(all_gone, timeout=10)


async def _endpoints(admin: ApiClient, namespace: str) -> dict[str, Any] | None:
    try:
        return await admin.get("endpoints", "web", namespace=namespace)
    except NotFound:
        return None


async def _ready(admin: ApiClient, namespace: str, pod: str) -> bool:
    return endpoints_by_pod(await slices_of(admin, namespace, "web"))[pod][1]["ready"] is True


async def test_kubectl_expose_get_describe_and_delete(lab: Lab, admin: ApiClient, namespace: str,
                                                      manager_factory: Any) -> None:
    require_kubectl()
    manager_factory(*CONTROLLERS)
    lab.kubectl("-n", namespace, "create", "deployment", "web", "--image=busybox", "--replicas=2", "--port=8080")
    lab.kubectl("-n", namespace, "expose", "deployment", "web", "--port", "80", "--target-port", "8080")

    async def two_pods() -> list[str] | None:
        names = [p["metadata"]["name"] for p in (await admin.list("pods", namespace=namespace))["items"]]
        return names if len(names) == 2 else None

    for i, name in enumerate(await eventually(two_pods)):
        await run_pod(admin, namespace, name, f"10.244.2.{i + 10}")

    async def described() -> str | None:
        out = (await asyncio.to_thread(lab.kubectl, "-n", namespace, "describe", "svc", "web")).stdout
        return out if "10.244.2.10:8080,10.244.2.11:8080" in out else None

    out = await eventually(described, timeout=15)
    described_fields = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out.splitlines() if ":" in line}
    assert described_fields["Selector"] == "app=web" and described_fields["TargetPort"] == "8080/TCP", out
    assert described_fields["Endpoints"] == "10.244.2.10:8080,10.244.2.11:8080", out
    assert described_fields["Type"] == "ClusterIP" and described_fields["IP Families"] == "IPv4", out
    got = lab.kubectl("-n", namespace, "get", "svc,endpointslices,endpoints").stdout
    assert "service/web" in got and "ClusterIP" in got and "80/TCP" in got
    slice_row = next(line.split() for line in got.splitlines() if line.startswith("endpointslice.discovery.k8s.io/web-"))
    assert slice_row[1:4] == ["IPv4", "8080", "10.244.2.10,10.244.2.11"], got
    assert "endpoints/web" in got and "10.244.2.10:8080,10.244.2.11:8080" in got
    lab.kubectl("-n", namespace, "delete", "svc", "web")
    assert "NotFound" in lab.kubectl("-n", namespace, "get", "svc", "web", check=False).stderr
