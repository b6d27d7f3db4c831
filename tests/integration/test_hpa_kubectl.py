"""The HorizontalPodAutoscaler on a whole lab (`labctl up`: API server, scheduler, controller
manager, metrics server, two simulated nodes), driven with the real kubectl: `kubectl autoscale`,
`kubectl get hpa`, and a Deployment scaled up when its pods' steered CPU rises and down again,
after the (shortened) scale-down stabilization window, when it falls.

Load is steered through the simulated runtime's annotation ``sim.labkit.io/cpu-usage`` (read by the
node agent's stats summary, scraped by the metrics server, served as metrics.k8s.io PodMetrics).
The lab runs with a 1 s metric resolution, a 1 s HPA sync period and a 6 s scale-down window.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.labctl import simulated_lab
from tests.support.kubectl import kubectl, kubectl_get
from tests.support.polling import wait_until

pytestmark = pytest.mark.kubectl

LAB_ENV = {"LABKIT_METRIC_RESOLUTION": "1s", "LABKIT_HPA_SYNC_PERIOD": "1s",
           "LABKIT_HPA_DOWNSCALE_STABILIZATION": "6s"}

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {sim.labkit.io/cpu-usage: "100m"}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: php-apache
        image: "busybox:1.36"
        resources: {requests: {cpu: 200m}, limits: {cpu: 500m}}
"""

HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with simulated_lab(tmp_path_factory, "hpa", nodes=2, env=LAB_ENV) as home:
        yield home


def steer(home: Path, cpu: str) -> None:
    """Every pod of the Deployment now uses `cpu` (the next stats sample shows it)."""
    kubectl(home, "annotate", "pods", "-l", "app=web", f"sim.labkit.io/cpu-usage={cpu}", "--overwrite")


def test_load_scales_the_deployment_up_and_after_the_window_down(cluster: Path) -> None:
    kubectl(cluster, "apply", "-f", "-", input=DEPLOYMENT)
    kubectl(cluster, "rollout", "status", "deployment/web", "--timeout=60s")
    kubectl(cluster, "apply", "-f", "-", input=HPA)

    # 100m of 200m requested = 50%: at the target, one replica, and kubectl shows the measurement
    def steady() -> str | None:
        rows = kubectl(cluster, "get", "hpa").stdout.splitlines()
        return rows[1] if len(rows) > 1 and "cpu: 50%/50%" in rows[1] else None
    row = wait_until("the HPA to report 50% CPU", steady)
    assert rows_header(cluster) == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert row.split()[:3] == ["web", "Deployment/web", "cpu:"] and row.split()[4:7] == ["1", "5", "1"]

    steer(cluster, "400m")  # 200%: ratio 4 -> 4 replicas (max(1 + 4, 2x) allows it)
    wait_until("a scale up", lambda: (kubectl_get(cluster, "deployment", "web")["spec"]["replicas"] or 0) >= 4)
    hpa = kubectl_get(cluster, "hpa", "web")
    assert hpa["status"]["lastScaleTime"]
    conditions = {c["type"]: c for c in hpa["status"]["conditions"]}
    assert conditions["AbleToScale"]["status"] == "True" and conditions["ScalingActive"]["reason"] == "ValidMetricFound"
    events = kubectl_get(cluster, "events", "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler")["items"]
    rescales = [e["message"] for e in events if e["reason"] == "SuccessfulRescale"]
    assert any(m.startswith("New size: 4; reason: cpu resource utilization (percentage of request) above target")
               for m in rescales), rescales

    described = kubectl(cluster, "describe", "hpa", "web").stdout
    assert "Reference:" in described and "Deployment/web" in described
    assert "ScalingActive" in described and "ValidMetricFound" in described and "SuccessfulRescale" in described

    wait_until("the new pods to be ready",
               lambda: kubectl_get(cluster, "deployment", "web").get("status", {}).get("readyReplicas", 0) >= 4)
    lowered = time.monotonic()
    steer(cluster, "20m")  # 10%: wants 1 replica, but only after the 6 s window of higher recommendations
    wait_until("a scale down", lambda: kubectl_get(cluster, "deployment", "web")["spec"]["replicas"] == 1, timeout=45)
    assert time.monotonic() - lowered >= 6  # not before the stabilization window has passed
    assert "All metrics below target" in json.dumps(
        kubectl_get(cluster, "events", "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler")["items"])


def rows_header(home: Path) -> list[str]:
    return kubectl(home, "get", "hpa").stdout.splitlines()[0].split()


def test_bad_hpas_are_rejected_naming_the_field(cluster: Path) -> None:
    bad = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: bad}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 3
  maxReplicas: 2
"""
    result = kubectl(cluster, "apply", "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    assert "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`" in result.stderr


def test_kubectl_autoscale_writes_autoscaling_v1_which_is_served_converted(cluster: Path) -> None:
    kubectl(cluster, "create", "deployment", "api", "--image=busybox:1.36")
    created = kubectl(cluster, "autoscale", "deployment", "api", "--cpu-percent=60", "--min=2", "--max=4")
    assert "horizontalpodautoscaler.autoscaling/api autoscaled" in created.stdout
    v2 = kubectl_get(cluster, "hpa", "api")
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
    v1 = kubectl_get(cluster, "horizontalpodautoscalers.v1.autoscaling", "api")
    assert v1["apiVersion"] == "autoscaling/v1" and v1["spec"]["targetCPUUtilizationPercentage"] == 60
    kubectl(cluster, "patch", "horizontalpodautoscalers.v1.autoscaling", "api", "--type=merge",
            "-p", '{"spec": {"targetCPUUtilizationPercentage": 70}}')
    assert kubectl_get(cluster, "hpa", "api")["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    # one replica is below minReplicas: the controller brings it up without needing metrics
    wait_until("api scaled to minReplicas", lambda: kubectl_get(cluster, "deployment", "api")["spec"]["replicas"] == 2)
