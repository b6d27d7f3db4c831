"""`kubectl create <generator>`: kubectl builds the object in Go and POSTs it as Kubernetes protobuf
(`application/vnd.kubernetes.protobuf`), which the body reader decodes with
`orchestrator.apiserver.protobuf.decode`.
"""

from __future__ import annotations

import json

import pytest

from tests.support.lab import Lab
from tests.support.skips import require_kubectl


@pytest.fixture(autouse=True)
def _kubectl_installed() -> None:
    require_kubectl()


def test_kubectl_create_deployment_stores_what_kubectl_built(lab: Lab, namespace: str) -> None:
    out = lab.kubectl("create", "deployment", "web", "--image=nginx:1.25", "--replicas=2", "--port=80",
                      "-n", namespace)
    assert out.stdout.strip() == "deployment.apps/web created"

    stored = json.loads(lab.kubectl("get", "deployment", "web", "-n", namespace, "-o", "json").stdout)
    assert stored["metadata"]["labels"] == {"app": "web"}
    assert stored["spec"]["replicas"] == 2
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    [container] = stored["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("nginx", "nginx:1.25")
    assert container["ports"][0]["containerPort"] == 80


def test_kubectl_create_deployment_with_zero_replicas_keeps_zero(lab: Lab, namespace: str) -> None:
    lab.kubectl("create", "deployment", "idle", "--image=nginx:1.25", "--replicas=0", "-n", namespace)

    stored = json.loads(lab.kubectl("get", "deployment", "idle", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"]["replicas"] == 0


def test_kubectl_create_namespace_with_dry_run_server_stores_nothing(lab: Lab, namespace: str) -> None:
    name = f"{namespace}-dry"
    out = lab.kubectl("create", "namespace", name, "--dry-run=server")
    assert out.stdout.strip() == f"namespace/{name} created (server dry run)"

    missing = lab.kubectl("get", "namespace", name, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
