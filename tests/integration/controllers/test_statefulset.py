"""StatefulSets against a real API server with the statefulset and persistent-volume controllers:
ordered scale-up (web-1 only once web-0 is Ready) and scale-down (highest ordinal first), one claim
per pod from the volumeClaimTemplates, provisioned and bound, kept when pods go; a deleted pod comes
back with its name and its claim; a partitioned rolling update replaces only the ordinals above the
partition, and each template is a ControllerRevision; the patch `kubectl rollout undo` sends brings
the old revision back; a claim in use outlives its deletion until its pod is gone; a static volume
binds a claim of its class."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from orchestrator.client.informer import Informer
from orchestrator.client.rest import ApiClient
from tests.integration.controllers.conftest import SCHEDULER_NAME, ControllerManagerProcess, SimKubelet
from tests.support.polling import eventually

MERGE = {"Content-Type": "application/merge-patch+json"}


def sts_body(replicas: int, *, image: str = "labkit/busybox:1.0") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"}, "spec": {
        "serviceName": "nginx", "replicas": replicas, "selector": {"matchLabels": {"app": "nginx"}},
        "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {
            "schedulerName": SCHEDULER_NAME, "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "nginx", "image": image,
                            "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}


class PodLog:
    """Every ADDED and DELETED pod of the namespace in order, and which pods were Ready at each ADDED."""

    def __init__(self, client: ApiClient, namespace: str) -> None:
        self.informer = Informer(client, "pods", namespace=namespace)
        self.added: list[tuple[str, set[str]]] = []
        self.deleted: list[str] = []
        self.informer.add_handler(on_add=self._added, on_update=lambda old, cur: None,
                                  on_delete=lambda obj: self.deleted.append(obj["metadata"]["name"]))

    def _ready(self) -> set[str]:
        return {p["metadata"]["name"] for p in self.informer.list()
                if any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in (p.get("status") or {}).get("conditions") or [])}

    def _added(self, pod: dict[str, Any]) -> None:
        self.added.append((pod["metadata"]["name"], self._ready()))


async def test_a_statefulset_scales_in_order_keeps_its_claims_and_rolls_above_the_partition(
        admin: ApiClient, api: httpx.AsyncClient, namespace: str,
        manager_factory: Callable[..., ControllerManagerProcess], kubelet: SimKubelet) -> None:
    manager_factory("--controllers", "statefulset,persistentvolume-binder,garbagecollector")
    kubelet.ready_delay = 0.3  # long enough that a controller that did not wait would be caught
    log = PodLog(admin, namespace)
    watching = asyncio.create_task(log.informer.run())
    try:
        r = await api.post(f"/apis/apps/v1/namespaces/{namespace}/statefulsets", json=sts_body(0))
        assert r.status_code == 201, r.text

        async def status(**want: int) -> dict[str, Any] | None:
            sts = await admin.get("statefulsets.apps", "web", namespace=namespace)
            s = sts.get("status") or {}
            good = s.get("observedGeneration") == sts["metadata"]["generation"] and all(
                s.get(k, 0) == v for k, v in want.items())
            return s if good else None

        await eventually(lambda: status(replicas=0), message="observed with 0 replicas")

        # 0 -> 3 through the scale subresource (kubectl scale sts web --replicas=3)
        r = await api.patch(f"/apis/apps/v1/namespaces/{namespace}/statefulsets/web/scale",
                            json={"spec": {"replicas": 3}}, headers=MERGE)
        assert r.status_code == 200, r.text
        assert r.json()["status"]["selector"] == "app=nginx"
        s = await eventually(lambda: status(replicas=3, readyReplicas=3, updatedReplicas=3), timeout=30,
                             message="3 ready replicas")
        assert s["currentRevision"] == s["updateRevision"] and s["updateRevision"].startswith("web-")
        assert [name for name, _ in log.added] == ["web-0", "web-1", "web-2"]
        assert "web-0" in log.added[1][1] and {"web-0", "web-1"} <= log.added[2][1], log.added  # OrderedReady
        pod = await admin.get("pods", "web-1", namespace=namespace)
        assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-1", "nginx")
        assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "web-1"
        assert pod["metadata"]["labels"]["controller-revision-hash"] == s["updateRevision"]
        assert {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-1"}} in pod["spec"]["volumes"]

        async def bound_claims() -> dict[str, dict[str, Any]] | None:
            claims = {c["metadata"]["name"]: c for c in (await admin.list("persistentvolumeclaims",
                                                                          namespace=namespace))["items"]}
            return claims if claims and all(c["status"].get("phase") == "Bound" for c in claims.values()) else None

        claims = await eventually(bound_claims, message="claims bound")
        assert sorted(claims) == ["www-web-0", "www-web-1", "www-web-2"]
        volume = await admin.get("persistentvolumes", claims["www-web-0"]["spec"]["volumeName"])
        assert volume["spec"]["claimRef"]["name"] == "www-web-0" and volume["status"]["phase"] == "Bound"
        assert volume["spec"]["storageClassName"] == claims["www-web-0"]["spec"]["storageClassName"] == "local-path"
        assert claims["www-web-0"]["status"]["capacity"] == {"storage": "1Gi"}

        # 3 -> 1: web-2 goes first, then web-1; the claims stay
        r = await api.patch(f"/apis/apps/v1/namespaces/{namespace}/statefulsets/web",
                            json={"spec": {"replicas": 1}}, headers=MERGE)
        assert r.status_code == 200, r.text
        await eventually(lambda: status(replicas=1, readyReplicas=1), message="scaled down to 1")
        assert log.deleted[:2] == ["web-2", "web-1"], log.deleted
        assert sorted(c["metadata"]["name"] for c in (await admin.list("persistentvolumeclaims",
                                                                       namespace=namespace))["items"]) == sorted(claims)

        # a deleted pod comes back with its name and its claim
        old_uid = (await admin.get("pods", "web-0", namespace=namespace))["metadata"]["uid"]
        await admin.delete("pods", "web-0", namespace=namespace)

        async def recreated() -> dict[str, Any] | None:
            try:
                pod = await admin.get("pods", "web-0", namespace=namespace)
            except Exception:  # noqa: BLE001 - not there yet
                return None
            return pod if pod["metadata"]["uid"] != old_uid and pod.get("status", {}).get("phase") == "Running" else None

        pod = await eventually(recreated, message="web-0 recreated")
        assert {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-0"}} in pod["spec"]["volumes"]
        again = await admin.get("persistentvolumeclaims", "www-web-0", namespace=namespace)
        assert again["metadata"]["uid"] == claims["www-web-0"]["metadata"]["uid"]

        # two replicas, partition 1, a new image: only web-1 moves to the new revision
        first_revision = s["updateRevision"]
        r = await api.patch(f"/apis/apps/v1/namespaces/{namespace}/statefulsets/web", headers=MERGE, json={
            "spec": {"replicas": 2, "updateStrategy": {"rollingUpdate": {"partition": 1}},
                     "template": {"spec": {"containers": [{"name": "nginx", "image": "labkit/busybox:2.0"}]}}}})
        assert r.status_code == 200, r.text
        s = await eventually(lambda: status(replicas=2, readyReplicas=2, updatedReplicas=1, currentReplicas=1),
                             message="web-1 updated, web-0 kept")
        assert s["currentRevision"] == first_revision != s["updateRevision"]
        revisions = {p["metadata"]["name"]: p["metadata"]["labels"]["controller-revision-hash"]
                     for p in (await admin.list("pods", namespace=namespace))["items"]}
        assert revisions == {"web-0": first_revision, "web-1": s["updateRevision"]}
        history = (await admin.list("controllerrevisions.apps", namespace=namespace))["items"]
        assert sorted((h["metadata"]["name"], h["revision"]) for h in history) == sorted(
            [(first_revision, 1), (s["updateRevision"], 2)])
        table = await admin.table("controllerrevisions.apps", namespace=namespace)
        assert {tuple(row["cells"][1:3]) for row in table["rows"]} == {("statefulset.apps/web", 1),
                                                                       ("statefulset.apps/web", 2)}

        # `kubectl rollout undo sts/web`: the old revision's data as a strategic merge patch; that
        # revision becomes the update revision again, with the next number
        first = next(h for h in history if h["metadata"]["name"] == first_revision)
        r = await api.patch(f"/apis/apps/v1/namespaces/{namespace}/statefulsets/web", json=first["data"],
                            headers={"Content-Type": "application/strategic-merge-patch+json"})
        assert r.status_code == 200, r.text
        assert r.json()["spec"]["template"]["spec"]["containers"][0]["image"] == "labkit/busybox:1.0"
        s = await eventually(lambda: status(replicas=2, readyReplicas=2, updatedReplicas=2), message="rolled back")
        assert s["updateRevision"] == s["currentRevision"] == first_revision
        rolled_back = await admin.get("controllerrevisions.apps", first_revision, namespace=namespace)
        assert rolled_back["revision"] == 3

        # a claim in use is deleted only after its pod (kubernetes.io/pvc-protection)
        await admin.delete("persistentvolumeclaims", "www-web-1", namespace=namespace)
        await asyncio.sleep(1)
        kept = await admin.get("persistentvolumeclaims", "www-web-1", namespace=namespace)
        assert kept["metadata"]["deletionTimestamp"] and kept["metadata"]["finalizers"] == [
            "kubernetes.io/pvc-protection"]
        r = await api.patch(f"/apis/apps/v1/namespaces/{namespace}/statefulsets/web",
                            json={"spec": {"replicas": 1}}, headers=MERGE)
        assert r.status_code == 200, r.text

        async def claim_gone() -> bool:
            names = {c["metadata"]["name"] for c in (await admin.list("persistentvolumeclaims",
                                                                      namespace=namespace))["items"]}
            return "www-web-1" not in names

        await eventually(claim_gone, message="www-web-1 deleted once web-1 is gone")
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)


async def test_a_static_volume_binds_a_claim_of_its_class_and_is_retained_when_released(
        admin: ApiClient, namespace: str, manager_factory: Callable[..., ControllerManagerProcess]) -> None:
    manager_factory("--controllers", "persistentvolume-binder")
    volume, klass = f"static-{namespace}", f"manual-{namespace}"
    await admin.create("persistentvolumes", {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": volume},
        "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": klass,
                 "csi": {"driver": "local-path.labkit.io", "volumeHandle": volume}}})
    try:
        async def phase(name: str, want: str) -> bool:
            return ((await admin.get("persistentvolumes", name)).get("status") or {}).get("phase") == want

        await eventually(lambda: phase(volume, "Available"), message="the static volume Available")
        claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
                 "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": klass,
                          "resources": {"requests": {"storage": "1Gi"}}}}
        await admin.create("persistentvolumeclaims", claim, namespace=namespace)
        too_big = {**claim, "metadata": {"name": "too-big"},
                   "spec": {**claim["spec"], "resources": {"requests": {"storage": "5Gi"}}}}
        await admin.create("persistentvolumeclaims", too_big, namespace=namespace)

        async def claim_phase(name: str) -> str:
            c = await admin.get("persistentvolumeclaims", name, namespace=namespace)
            return str((c.get("status") or {}).get("phase"))

        await eventually(lambda: phase(volume, "Bound"), message="the volume bound")
        assert await claim_phase("data") == "Bound"
        bound = await admin.get("persistentvolumeclaims", "data", namespace=namespace)
        assert bound["spec"]["volumeName"] == volume and bound["status"]["capacity"] == {"storage": "2Gi"}
        assert (await admin.get("persistentvolumes", volume))["spec"]["claimRef"]["name"] == "data"

        async def refused() -> bool:
            events = (await admin.list("events", namespace=namespace))["items"]
            return any(e["involvedObject"]["name"] == "too-big" and e["reason"] == "ProvisioningFailed"
                       for e in events)

        await eventually(refused, message="an event says why too-big stays Pending")
        assert await claim_phase("too-big") == "Pending"

        await admin.delete("persistentvolumeclaims", "data", namespace=namespace)
        await eventually(lambda: phase(volume, "Released"), message="the volume Released")
        await asyncio.sleep(1)
        assert await phase(volume, "Released")  # reclaim policy Retain: the volume stays
    finally:
        await admin.delete("persistentvolumes", volume)
