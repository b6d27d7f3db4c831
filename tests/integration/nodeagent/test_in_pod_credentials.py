"""In-pod credentials on Docker: the ServiceAccount token, CA and namespace are in the container,
KUBERNETES_SERVICE_HOST/PORT reach the API server from inside it, and the token authenticates as
the pod's ServiceAccount (with the official Python client, from the host)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import docker
import httpx
import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.integration.nodeagent.conftest import AgentProcess, pod_manifest
from tests.support.lab import Lab
from tests.support.polling import eventually

NODE = "node-1"
DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# busybox's TLS client offers no cipher the lab's ECDSA certificate allows, so from busybox the
# test checks the TCP path to the API server; the TLS and token check from inside a container is
# the python-client test below.
SCRIPT = f"""
D={DIR}
echo "namespace=$(cat $D/namespace)"
grep -q 'BEGIN CERTIFICATE' $D/ca.crt && echo ca-ok
echo | nc -w 3 "$KUBERNETES_SERVICE_HOST" "$KUBERNETES_SERVICE_PORT" >/dev/null && echo "reached=$KUBERNETES_SERVICE_HOST"
sleep 600
"""
PYTHON_IMAGE = "labkit/python-client:1.0"
IN_CLUSTER = """
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_incluster_config()
api = client.CoreApi()
print("versions=" + ",".join(api.get_api_versions().versions))
try:
    client.CoreV1Api().list_namespaced_pod(open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read())
    print("pods=allowed")
except ApiException as e:
    print(f"pods={e.status}")
"""


def _container(uid: str) -> Any:
    engine = docker.from_env()
    try:
        found = engine.containers.list(all=True, filters={"label": f"io.kubernetes.pod.uid={uid}"})
        return found[0] if found else None
    finally:
        engine.close()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def test_a_pod_gets_its_service_account_token_and_reaches_the_api_server_with_it(
    docker_agent: AgentProcess, api: httpx.AsyncClient, namespace: str, lab: Lab
) -> None:
    r = await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts",
                       json={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}})
    assert r.status_code == 201, r.text
    manifest = pod_manifest("creds", node=NODE, script=SCRIPT)
    manifest["spec"]["serviceAccountName"] = "builder"
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
    assert r.status_code == 201, r.text
    uid = r.json()["metadata"]["uid"]

    async def logged() -> str | None:
        c = _container(uid)
        text = c.logs().decode() if c is not None else ""
        return text if "reached=" in text else None

    logs = await eventually(logged, timeout=60, message=f"the container to reach the API server\n{docker_agent.log()}")
    assert f"namespace={namespace}" in logs and "ca-ok" in logs

    token = _container(uid).exec_run(["cat", f"{DIR}/token"]).output.decode()
    claims = _claims(token)
    assert claims["sub"] == f"system:serviceaccount:{namespace}:builder"
    assert claims["kubernetes.io"]["pod"] == {"name": "creds", "uid": uid}

    configuration = k8s.Configuration(host=lab.server)
    configuration.ssl_ca_cert = str(lab.ca_file)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    with k8s.ApiClient(configuration) as official:
        # Authenticated as the ServiceAccount: the API server knows who asks. Until RBAC binds the
        # account to a role, it may not list pods — a 403 naming it, never a 401.
        with pytest.raises(ApiException) as denied:
            k8s.CoreV1Api(official).list_namespaced_pod(namespace)
        assert denied.value.status == 403
        assert f"system:serviceaccount:{namespace}:builder" in denied.value.body
    configuration.api_key = {"authorization": f"Bearer {token[:-4]}AAAA"}
    with k8s.ApiClient(configuration) as official, pytest.raises(ApiException) as forged:
        k8s.CoreV1Api(official).list_namespaced_pod(namespace)
    assert forged.value.status == 401


async def test_a_pod_that_opts_out_gets_no_token_but_the_service_address(
    docker_agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    manifest = pod_manifest("plain", node=NODE, script=f"test -e {DIR}/token || echo no-token; "
                                                        "echo service=$KUBERNETES_SERVICE_HOST; sleep 600")
    manifest["spec"]["automountServiceAccountToken"] = False
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
    assert r.status_code == 201, r.text
    uid = r.json()["metadata"]["uid"]

    async def logged() -> str | None:
        c = _container(uid)
        text = c.logs().decode() if c is not None else ""
        return text if "service=" in text else None

    logs = await eventually(logged, timeout=60, message="the container's output")
    assert "no-token" in logs and "service=" in logs and "service=\n" not in logs


async def test_the_official_client_in_a_container_works_with_load_incluster_config(
    docker_agent: AgentProcess, api: httpx.AsyncClient, namespace: str
) -> None:
    engine = docker.from_env()
    try:
        engine.images.get(PYTHON_IMAGE)
    except docker.errors.ImageNotFound:
        why = f"no {PYTHON_IMAGE} image (tests/images/build_python_client.sh builds it)"
        if os.environ.get("LABKIT_REQUIRE_PYTHON_IMAGE") == "1":
            pytest.fail(f"{why}, and LABKIT_REQUIRE_PYTHON_IMAGE=1 says this test must run")
        pytest.skip(reason=f"{why}; set LABKIT_REQUIRE_PYTHON_IMAGE=1 to make this a failure")
    finally:
        engine.close()
    # What the service-account controller does in a lab that runs the controller manager.
    r = await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts",
                       json={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
    assert r.status_code == 201, r.text
    manifest = pod_manifest("incluster", node=NODE, restart="Never", image=PYTHON_IMAGE,
                            command=["python3", "-c", IN_CLUSTER])
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json=manifest)
    assert r.status_code == 201, r.text
    uid = r.json()["metadata"]["uid"]

    async def finished() -> str | None:
        c = _container(uid)
        if c is None:
            return None
        c.reload()
        return c.logs().decode() if c.status == "exited" else None

    logs = await eventually(finished, timeout=90, message="the in-cluster client to finish")
    assert "versions=v1" in logs, logs
    # Authenticated as system:serviceaccount:<ns>:default; RBAC (when it lands) decides pods.
    assert "pods=403" in logs or "pods=allowed" in logs, logs
