"""PodDisruptionBudgets against a real API server: the disruption controller's status and the eviction
subresource spending it (429 when nothing is allowed), with a ReplicaSet replacing evicted pods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from kubernetes import client, config

from orchestrator.client.rest import ApiClient
from tests.integration.controllers.conftest import ControllerManagerProcess, SimKubelet, rs_body
from tests.support.lab import Lab
from tests.support.polling import eventually


def _pdb(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


async def test_budget_status_follows_pods_and_evictions_spend_it(
        admin: ApiClient, api: httpx.AsyncClient, namespace: str,
        manager_factory: Callable[..., ControllerManagerProcess], kubelet: SimKubelet, lab: Lab) -> None:
    manager_factory("--controllers", "replicaset,disruption")
    await admin.create("replicasets.apps", rs_body("web", namespace, replicas=3, labels={"app": "web"}))
    r = await api.post(f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets", json=_pdb("web", maxUnavailable=1))
    assert r.status_code == 201, r.text

    async def status() -> dict[str, Any]:
        return (await admin.get("poddisruptionbudgets.policy", "web", namespace=namespace)).get("status") or {}

    async def settled(allowed: int, healthy: int = 3) -> dict[str, Any] | None:
        s = await status()
        ok = (s.get("currentHealthy"), s.get("desiredHealthy"), s.get("expectedPods"), s.get("disruptionsAllowed"),
              s.get("observedGeneration")) == (healthy, 2, 3, allowed, 1)
        return s if ok else None

    s = await eventually(lambda: settled(1), message="1 disruption allowed")
    with config.new_client_from_config(config_file=str(lab.kubeconfig), persist_config=False) as python_client:
        typed = client.PolicyV1Api(python_client).read_namespaced_pod_disruption_budget("web", namespace)
    assert (typed.spec.max_unavailable, typed.status.disruptions_allowed, typed.status.expected_pods) == (1, 1, 3)
    (cond,) = s["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "True", "SufficientPods")

    pods = [p["metadata"]["name"] for p in (await admin.list("pods", namespace=namespace))["items"]]
    evict = {"apiVersion": "policy/v1", "kind": "Eviction"}
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods/{pods[0]}/eviction",
                       json={**evict, "metadata": {"name": pods[0]}})
    assert r.status_code == 201, r.text
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods/{pods[1]}/eviction",
                       json={**evict, "metadata": {"name": pods[1]}})
    assert r.status_code == 429, r.text
    refused = r.json()
    assert (refused["reason"], refused["message"]) == (
        "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.")
    assert refused["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert "The disruption budget web needs 2 healthy pods" in refused["details"]["causes"][0]["message"]

    # The ReplicaSet replaces the evicted pod; once it is Ready the budget allows one again.
    await eventually(lambda: settled(1), message="budget restored by the replacement")
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods/{pods[1]}/eviction",
                       json={**evict, "metadata": {"name": pods[1]}})
    assert r.status_code == 201, r.text


async def test_pdb_table_and_bad_budgets(admin: ApiClient, api: httpx.AsyncClient, namespace: str) -> None:
    base = f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets"
    r = await api.post(base, json=_pdb("both", minAvailable=1, maxUnavailable="10%"))
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "spec"
    assert "minAvailable and maxUnavailable cannot be both set" in r.json()["message"]
    r = await api.post(base, json=_pdb("pct", maxUnavailable="101%"))
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.maxUnavailable"
    r = await api.post(base, json=_pdb("ok", minAvailable="50%"))
    assert r.status_code == 201
    table = await admin.table("poddisruptionbudgets.policy", namespace=namespace)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"]
    assert table["rows"][0]["cells"][:4] == ["ok", "50%", "N/A", 0]
