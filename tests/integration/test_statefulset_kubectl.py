"""The StatefulSet "web" of the Kubernetes documentation (StatefulSet Basics: a headless Service
``nginx`` and a StatefulSet with a ``www`` volumeClaimTemplate), on a whole lab with the Docker
runtime (`labctl up --runtime docker`, one node), driven with the real kubectl:

- `kubectl apply` then `kubectl rollout status sts/web` waits for both pods; `kubectl get
  sts,pvc,pv` prints kubectl's columns with the claims Bound to provisioned volumes;
  `kubectl rollout history sts/web` lists the ControllerRevision;
- a file written into web-0's claim survives the pod: deleted, web-0 comes back (a new container)
  and reads it;
- `kubectl scale sts web --replicas=1` removes web-1 and keeps its claim; deleting the claim
  releases its volume, which (reclaim policy Delete) is deleted with its directory;
- a StatefulSet without serviceName is a 422 naming spec.serviceName.

The image is the local labkit/busybox:1.0 serving /usr/share/nginx/html with busybox httpd.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.lab.embedded.ports import free_port
from tests.labctl import run_labctl
from tests.support.kubectl import kubectl, kubectl_get
from tests.support.polling import wait_until

pytestmark = [pytest.mark.kubectl, pytest.mark.docker]


WEB = """\
apiVersion: v1
kind: Service
metadata:
  name: nginx
  labels:
    app: nginx
spec:
  ports:
  - port: 80
    name: web
  clusterIP: None
  selector:
    app: nginx
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: "nginx"
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: nginx
        image: labkit/busybox:1.0
        command: ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]
        ports:
        - containerPort: 80
          name: web
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ "ReadWriteOnce" ]
      resources:
        requests:
          storage: 1Gi
"""


def _require() -> None:
    missing = []
    if shutil.which("kubectl") is None:
        missing.append("kubectl")
    try:
        import docker

        docker.from_env().images.get("labkit/busybox:1.0")
    except Exception as err:  # no engine, no image: the same skip
        missing.append(f"a Docker engine with labkit/busybox:1.0 ({err})")
    if missing:
        message = "needs " + ", ".join(missing)
        if os.environ.get("LABKIT_REQUIRE_DOCKER") == "1" or os.environ.get("LABKIT_REQUIRE_KUBECTL") == "1":
            pytest.fail(message + " (LABKIT_REQUIRE_DOCKER/KUBECTL=1 say these tests must run)")
        pytest.skip(reason=message + " (set LABKIT_REQUIRE_DOCKER=1 to make this a failure)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    _require()
    home = tmp_path_factory.mktemp("statefulsets")
    up = run_labctl(home, "up", "--nodes", "1", "--runtime", "docker", "--port", str(free_port()))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        kubectl(home, "apply", "-f", "-", input=WEB)
        yield home
    finally:
        _remove_pods(home)
        down = run_labctl(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr


def _remove_pods(home: Path) -> None:
    """Delete the StatefulSet and wait until its containers are gone (`labctl down` keeps containers)."""
    if kubectl(home, "delete", "sts", "--all", "--wait=false", check=False).returncode != 0:
        return  # the lab is down already
    kubectl(home, "delete", "pods", "--all", "--now", "--wait=false", check=False)
    import docker

    from orchestrator.nodeagent.cluster import cluster_id

    engine = docker.from_env()
    label = f"labkit.cluster={cluster_id(home / 'admin.kubeconfig')}"
    wait_until("the pods' containers to be removed",
               lambda: not engine.api.containers(all=True, filters={"label": label}), timeout=60)


def test_the_web_statefulset_rolls_out_with_bound_claims_and_a_revision(lab: Path) -> None:
    done = kubectl(lab, "rollout", "status", "sts/web", "--timeout=120s", timeout=150)
    assert "partitioned roll out complete: 2 new pods have been updated..." in done.stdout
    output = kubectl(lab, "get", "sts,pvc,pv").stdout
    blocks = [b.splitlines() for b in output.strip().split("\n\n")]
    sts, pvc, pv = blocks
    assert sts[0].split() == ["NAME", "READY", "AGE"] and sts[1].split()[:2] == ["statefulset.apps/web", "2/2"]
    assert pvc[0].split() == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES", "STORAGECLASS",
                              "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert sorted(row.split()[:2] for row in pvc[1:]) == [["persistentvolumeclaim/www-web-0", "Bound"],
                                                          ["persistentvolumeclaim/www-web-1", "Bound"]]
    assert all(row.split()[3:7] == ["1Gi", "RWO", "local-path", "<unset>"] for row in pvc[1:])
    assert pv[0].split() == ["NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY", "STATUS", "CLAIM",
                             "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"]
    assert sorted(row.split()[5] for row in pv[1:]) == ["default/www-web-0", "default/www-web-1"]
    assert all(row.split()[1:5] == ["1Gi", "RWO", "Delete", "Bound"] for row in pv[1:])
    history = kubectl(lab, "rollout", "history", "sts/web").stdout
    assert history.split()[-4:] == ["REVISION", "CHANGE-CAUSE", "1", "<none>"], history
    assert kubectl(lab, "exec", "web-1", "--", "hostname").stdout.strip() == "web-1"


def test_data_in_the_claim_outlives_the_pod(lab: Path) -> None:
    kubectl(lab, "rollout", "status", "sts/web", "--timeout=120s", timeout=150)
    kubectl(lab, "exec", "web-0", "--", "sh", "-c", "echo kept by www-web-0 > /usr/share/nginx/html/index.html")
    old_uid = kubectl_get(lab, "pod", "web-0")["metadata"]["uid"]
    kubectl(lab, "delete", "pod", "web-0", "--wait=false")

    def back() -> dict[str, Any] | None:
        pod = kubectl_get(lab, "pods", "-l", "statefulset.kubernetes.io/pod-name=web-0")["items"]
        ready = [p for p in pod if p["metadata"]["uid"] != old_uid and any(
            c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])]
        return ready[0] if ready else None

    wait_until("web-0 recreated and ready", back, timeout=90)
    assert kubectl(lab, "exec", "web-0", "--", "cat", "/usr/share/nginx/html/index.html").stdout == \
        "kept by www-web-0\n"


def test_scaling_down_keeps_the_claim_and_a_deleted_claim_takes_its_volume(lab: Path) -> None:
    kubectl(lab, "scale", "sts", "web", "--replicas=1")
    wait_until("web-1 gone", lambda: [p["metadata"]["name"] for p in kubectl_get(lab, "pods")["items"]] == ["web-0"], timeout=60)
    claim = kubectl_get(lab, "pvc", "www-web-1")
    assert claim["status"]["phase"] == "Bound"
    volume = claim["spec"]["volumeName"]
    directory = lab / "nodes" / "persistentvolumes" / volume
    assert directory.is_dir()  # the node agent made it when web-1 started
    kubectl(lab, "delete", "pvc", "www-web-1")
    wait_until("the released volume deleted",
               lambda: volume not in {v["metadata"]["name"] for v in kubectl_get(lab, "pv")["items"]}, timeout=60)
    assert not directory.exists()


def test_a_statefulset_without_service_name_is_refused_naming_the_field(lab: Path) -> None:
    manifest = WEB.split("---\n")[1].replace('  serviceName: "nginx"\n', "").replace("name: web\n", "name: bad\n", 1)
    result = kubectl(lab, "apply", "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert 'The StatefulSet "bad" is invalid: spec.serviceName: Required value' in result.stderr, result.stderr
