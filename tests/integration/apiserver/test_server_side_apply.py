"""Server-side apply and managedFields against the real lab: kubectl 1.32, the official client, raw HTTP.

Each test works in its own namespace. What is asserted is what the server stored and answered:
`kubectl get -o json --show-managed-fields` and the Status of a refused apply.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client, config, utils

from tests.support.lab import Lab
from tests.support.skips import require_kubectl

# No node has this label: the deployment's pods (none: no controller runs here) would stay Pending.
UNSCHEDULABLE = {"labkit.test/no-such-node": "true"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


def deployment(name: str, *, replicas: int = 2, image: str = "nginx:1.25") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"nodeSelector": UNSCHEDULABLE,
                                  "containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]}},
        },
    }


def managers(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"].get("managedFields") or []}


def get(lab: Lab, namespace: str, name: str) -> dict[str, Any]:
    out = lab.kubectl("get", "deployment", name, "-n", namespace, "-o", "json", "--show-managed-fields")
    return json.loads(out.stdout)


# --------------------------------------------------------------------------- kubectl


@pytest.mark.kubectl
def test_kubectl_server_side_apply_creates_then_reapplies_without_a_write(lab: Lab, namespace: str) -> None:
    require_kubectl()
    manifest = yaml.safe_dump(deployment("web"))
    out = lab.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=manifest)
    assert "deployment.apps/web serverside-applied" in out.stdout
    first = get(lab, namespace, "web")
    owned = managers(first)[("kubectl", "Apply")]
    assert owned["f:spec"]["f:replicas"] == {}
    container = owned["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert container["f:ports"] == {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}
    # Defaults (imagePullPolicy, strategy...) are nobody's: the configuration did not set them.
    assert "f:imagePullPolicy" not in container and "f:strategy" not in owned["f:spec"]

    lab.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=manifest)
    again = get(lab, namespace, "web")
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    shown = lab.kubectl("get", "deployment", "web", "-n", namespace, "-o", "yaml", "--show-managed-fields").stdout
    assert "managedFields:" in shown and "operation: Apply" in shown
    hidden = lab.kubectl("get", "deployment", "web", "-n", namespace, "-o", "yaml").stdout
    assert "managedFields" not in hidden


@pytest.mark.kubectl
def test_two_field_managers_conflict_until_one_forces(lab: Lab, namespace: str) -> None:
    require_kubectl()
    lab.kubectl("apply", "--server-side", "--field-manager=a", "-n", namespace, "-f", "-",
                input=yaml.safe_dump(deployment("web", replicas=2)))
    changed = yaml.safe_dump(deployment("web", replicas=3))
    refused = lab.kubectl("apply", "--server-side", "--field-manager=b", "-n", namespace, "-f", "-",
                          input=changed, check=False)
    assert refused.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "a": .spec.replicas' in refused.stderr
    assert get(lab, namespace, "web")["spec"]["replicas"] == 2

    lab.kubectl("apply", "--server-side", "--field-manager=b", "--force-conflicts", "-n", namespace, "-f", "-",
                input=changed)
    obj = get(lab, namespace, "web")
    assert obj["spec"]["replicas"] == 3
    owners = managers(obj)
    assert "f:replicas" in owners[("b", "Apply")]["f:spec"]
    assert "f:replicas" not in owners[("a", "Apply")]["f:spec"]


@pytest.mark.kubectl
def test_server_side_apply_after_client_side_apply_migrates_without_conflicts(lab: Lab, namespace: str) -> None:
    require_kubectl()
    lab.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(deployment("web", replicas=2)))
    assert ("kubectl-client-side-apply", "Update") in managers(get(lab, namespace, "web"))

    # Changed replicas and image, no --force-conflicts: kubectl's own earlier fields are its to take.
    out = lab.kubectl("apply", "--server-side", "-n", namespace, "-f", "-",
                      input=yaml.safe_dump(deployment("web", replicas=4, image="nginx:1.26")))
    assert "serverside-applied" in out.stdout
    obj = get(lab, namespace, "web")
    assert obj["spec"]["replicas"] == 4
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    owners = managers(obj)
    # kubectl moved the client-side entry into its Apply entry (csaupgrade) with a JSON patch.
    assert ("kubectl-client-side-apply", "Update") not in owners
    assert "f:replicas" in owners[("kubectl", "Apply")]["f:spec"]

    # And client-side apply keeps working on the migrated object.
    lab.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(deployment("web", replicas=5)))
    assert get(lab, namespace, "web")["spec"]["replicas"] == 5


# --------------------------------------------------------------------------- the official Python client


def test_python_client_create_from_yaml_with_apply(lab: Lab, namespace: str, tmp_path: Any) -> None:
    api_client = config.new_client_from_config(config_file=str(lab.kubeconfig), persist_config=False)
    try:
        path = tmp_path / "deploy.yaml"
        path.write_text(yaml.safe_dump(deployment("py", replicas=1)))
        utils.create_from_yaml(api_client, str(path), namespace=namespace, apply=True)
        apps = client.AppsV1Api(api_client)
        first = apps.read_namespaced_deployment("py", namespace)
        assert first.spec.replicas == 1
        [entry] = first.metadata.managed_fields
        assert (entry.manager, entry.operation, entry.fields_type) == ("python-client", "Apply", "FieldsV1")

        path.write_text(yaml.safe_dump(deployment("py", replicas=3)))
        utils.create_from_yaml(api_client, str(path), namespace=namespace, apply=True)
        assert apps.read_namespaced_deployment("py", namespace).spec.replicas == 3

        # A replace by the generated client is recorded under its User-Agent's product.
        current = apps.read_namespaced_deployment("py", namespace)
        current.spec.min_ready_seconds = 5
        replaced = apps.replace_namespaced_deployment("py", namespace, current)
        by = {(e.manager, e.operation) for e in replaced.metadata.managed_fields}
        assert ("OpenAPI-Generator", "Update") in by
    finally:
        api_client.close()


# --------------------------------------------------------------------------- raw HTTP


def deployments(namespace: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments"


async def test_apply_over_http_yaml_body_201_then_200_and_a_conflict_status(
        api: httpx.AsyncClient, namespace: str) -> None:
    url = f"{deployments(namespace)}/web"
    body = yaml.safe_dump(deployment("web", replicas=2)).encode()
    created = await api.patch(url, params={"fieldManager": "ops"}, content=body, headers=APPLY)
    assert created.status_code == 201, created.text
    again = await api.patch(url, params={"fieldManager": "ops"}, content=body, headers=APPLY)
    assert again.status_code == 200, again.text

    scaled = await api.patch(url, content=b'{"spec":{"replicas":5}}',
                             headers={"Content-Type": "application/merge-patch+json", "User-Agent": "scaler/1.0"})
    assert scaled.status_code == 200, scaled.text
    owners = managers(scaled.json())
    assert owners[("scaler", "Update")] == {"f:spec": {"f:replicas": {}}}

    conflict = await api.patch(url, params={"fieldManager": "ops"}, content=body, headers=APPLY)
    assert conflict.status_code == 409
    status = conflict.json()
    assert status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "scaler" using apps/v1: .spec.replicas'
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "field": ".spec.replicas",
                                            "message": 'conflict with "scaler" using apps/v1'}]

    forced = await api.patch(url, params={"fieldManager": "ops", "force": "true"}, content=body, headers=APPLY)
    assert forced.status_code == 200 and forced.json()["spec"]["replicas"] == 2
    assert ("scaler", "Update") not in managers(forced.json())


async def test_apply_refuses_a_missing_field_manager_and_force_without_apply(
        api: httpx.AsyncClient, namespace: str) -> None:
    url = f"{deployments(namespace)}/web"
    missing = await api.patch(url, content=json.dumps(deployment("web")).encode(), headers=APPLY)
    assert missing.status_code == 422
    assert "fieldManager: Required value: is required for apply patch" in missing.json()["message"]
    wrong_kind = await api.patch(url, params={"fieldManager": "x"}, headers=APPLY,
                                 content=json.dumps({**deployment("web"), "apiVersion": "apps/v2"}).encode())
    assert wrong_kind.status_code == 400 and "Incorrect version" in wrong_kind.json()["message"]
    created = await api.patch(url, params={"fieldManager": "x"}, content=json.dumps(deployment("web")).encode(),
                              headers=APPLY)
    assert created.status_code == 201
    forced_merge = await api.patch(url, params={"force": "true"}, content=b"{}",
                                   headers={"Content-Type": "application/merge-patch+json"})
    assert forced_merge.status_code == 422 and "force" in forced_merge.json()["message"]


async def test_scale_status_and_dry_run_are_recorded_as_upstream(api: httpx.AsyncClient, namespace: str) -> None:
    url = f"{deployments(namespace)}/web"
    created = await api.patch(url, params={"fieldManager": "ops"}, content=json.dumps(deployment("web")).encode(),
                              headers=APPLY)
    assert created.status_code == 201, created.text

    # Through /scale: the manager owns spec.replicas, recorded with the subresource.
    scaled = await api.patch(f"{url}/scale", content=b'{"spec":{"replicas":4}}',
                             headers={"Content-Type": "application/merge-patch+json", "User-Agent": "kubectl/v1.32.0"})
    assert scaled.status_code == 200, scaled.text
    obj = (await api.get(url)).json()
    [entry] = [e for e in obj["metadata"]["managedFields"] if e["manager"] == "kubectl"]
    assert entry["subresource"] == "scale" and entry["fieldsV1"] == {"f:spec": {"f:replicas": {}}}

    # Through /status with apply: only status fields, owned with the subresource.
    status = await api.patch(f"{url}/status", params={"fieldManager": "ctl"}, headers=APPLY,
                             content=json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "metadata": {"name": "web"},
                                                 "status": {"observedGeneration": 1}}).encode())
    assert status.status_code == 200, status.text
    assert status.json()["status"]["observedGeneration"] == 1
    [entry] = [e for e in status.json()["metadata"]["managedFields"] if e["manager"] == "ctl"]
    assert entry["subresource"] == "status" and entry["fieldsV1"] == {"f:status": {"f:observedGeneration": {}}}

    # A dry run answers what would be stored and stores nothing.
    before = (await api.get(url)).json()
    dry = await api.patch(url, params={"fieldManager": "ops", "dryRun": "All", "force": "true"}, headers=APPLY,
                          content=json.dumps(deployment("web", replicas=9)).encode())
    assert dry.status_code == 200 and dry.json()["spec"]["replicas"] == 9
    assert (await api.get(url)).json()["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    # A GET-modify-PUT that echoes managedFields keeps them and adds the writer.
    before["metadata"]["labels"]["extra"] = "1"
    put = await api.put(url, json=before, headers={"User-Agent": "Go-http-client/1.1"})
    assert put.status_code == 200, put.text
    owners = managers(put.json())
    assert owners[("Go-http-client", "Update")] == {"f:metadata": {"f:labels": {"f:extra": {}}}}
    assert ("ops", "Apply") in owners and ("ctl", "Apply") in owners


@pytest.mark.kubectl
def test_kubectl_server_side_apply_of_a_pod_and_a_namespace_in_one_file(lab: Lab, namespace: str) -> None:
    require_kubectl()
    extra_ns = f"{namespace}-x"

    def manifest(image: str, labels: dict[str, str]) -> str:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace, "labels": labels},
               "spec": {"nodeSelector": UNSCHEDULABLE,
                        "containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]}}
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra_ns}}
        return yaml.safe_dump_all([ns, pod])

    try:
        out = lab.kubectl("apply", "--server-side", "-f", "-", input=manifest("nginx:1.25", {"a": "1", "b": "2"}))
        assert f"namespace/{extra_ns} serverside-applied" in out.stdout and "pod/p serverside-applied" in out.stdout
        # The image may change on a pod; label b is no longer applied, so it goes.
        lab.kubectl("apply", "--server-side", "-f", "-", input=manifest("nginx:1.26", {"a": "1"}))
        pod = json.loads(lab.kubectl("get", "pod", "p", "-n", namespace, "-o", "json", "--show-managed-fields").stdout)
        assert pod["metadata"]["labels"] == {"a": "1"}
        assert pod["spec"]["containers"][0]["image"] == "nginx:1.26"
        assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
        assert [(e["manager"], e["operation"]) for e in pod["metadata"]["managedFields"]] == [("kubectl", "Apply")]
    finally:
        lab.kubectl("delete", "namespace", extra_ns, "--wait=false", check=False)
