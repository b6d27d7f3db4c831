"""ConfigMaps, Secrets and ServiceAccounts through the real kubectl and the official client, with
Secrets encrypted at rest: the PostgreSQL row holds ciphertext while the API returns plaintext."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support.lab import Lab
from tests.support.skips import require_kubectl


@pytest.fixture(autouse=True)
def _kubectl_installed() -> None:
    require_kubectl()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def stored_row(lab: Lab, resource: str, namespace: str, name: str) -> dict:
    conn = await asyncpg.connect(lab.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        raw = await conn.fetchval("SELECT data::text FROM objects WHERE resource = $1 AND namespace = $2 AND name = $3",
                                  resource, namespace, name)
        events = await conn.fetch("SELECT object::text FROM events WHERE resource = $1 AND namespace = $2 AND name = $3",
                                  resource, namespace, name)
    finally:
        await conn.close()
    return {"row": json.loads(raw), "events": [json.loads(e[0]) for e in events]}


async def test_kubectl_create_secret_generic_is_ciphertext_in_postgresql_and_plaintext_from_the_api(
    lab: Lab, namespace: str
) -> None:
    assert lab.kubectl("create", "secret", "generic", "db", "--from-literal=password=hunter2",
                       "-n", namespace).stdout.strip() == "secret/db created"
    got = json.loads(lab.kubectl("get", "secret", "db", "-n", namespace, "-o", "json").stdout)
    assert got["data"] == {"password": b64("hunter2")} and got["type"] == "Opaque"
    stored = await stored_row(lab, "secrets", namespace, "db")
    for doc in (stored["row"], *stored["events"]):
        assert doc["k8s:enc"].startswith("k8s:enc:aesgcm:v1:key1:")
        assert b64("hunter2") not in json.dumps(doc) and "data" not in doc
    table = lab.kubectl("get", "secrets", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert table[1].split()[:3] == ["db", "Opaque", "1"]
    described = lab.kubectl("describe", "secret", "db", "-n", namespace).stdout
    assert "Type:  Opaque" in described and "password:  7 bytes" in described and "hunter2" not in described
    lab.kubectl("patch", "secret", "db", "-n", namespace, "--type=merge", "-p", '{"stringData":{"user":"admin"}}')
    patched = json.loads(lab.kubectl("get", "secret", "db", "-n", namespace, "-o", "json").stdout)
    assert patched["data"] == {"password": b64("hunter2"), "user": b64("admin")}
    assert "secret \"db\" deleted" in lab.kubectl("delete", "secret", "db", "-n", namespace).stdout


def test_kubectl_creates_tls_and_docker_registry_secrets_and_configmaps(lab: Lab, namespace: str, tmp_path: Path) -> None:
    lab.kubectl("create", "secret", "tls", "web-tls", f"--cert={lab.home / 'pki' / 'apiserver.crt'}",
                f"--key={lab.home / 'pki' / 'apiserver.key'}", "-n", namespace)
    lab.kubectl("create", "secret", "docker-registry", "reg", "--docker-server=registry.example",
                "--docker-username=u", "--docker-password=p", "-n", namespace)
    tls = json.loads(lab.kubectl("get", "secret", "web-tls", "-n", namespace, "-o", "json").stdout)
    assert tls["type"] == "kubernetes.io/tls" and set(tls["data"]) == {"tls.crt", "tls.key"}
    reg = json.loads(lab.kubectl("get", "secret", "reg", "-n", namespace, "-o", "json").stdout)
    assert reg["type"] == "kubernetes.io/dockerconfigjson"
    assert "registry.example" in json.loads(base64.b64decode(reg["data"][".dockerconfigjson"]))["auths"]

    (tmp_path / "app.properties").write_text("color=blue\n")
    (tmp_path / "logo.bin").write_bytes(b"\x89PNG\x00\xff")
    lab.kubectl("create", "configmap", "app", "--from-literal=mode=fast", f"--from-file={tmp_path / 'app.properties'}",
                f"--from-file={tmp_path / 'logo.bin'}", "-n", namespace)
    cm = json.loads(lab.kubectl("get", "cm", "app", "-n", namespace, "-o", "json").stdout)
    assert cm["data"] == {"mode": "fast", "app.properties": "color=blue\n"}
    assert base64.b64decode(cm["binaryData"]["logo.bin"]) == b"\x89PNG\x00\xff"
    table = lab.kubectl("get", "configmaps", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"] and table[1].split()[:2] == ["app", "3"]
    described = lab.kubectl("describe", "configmap", "app", "-n", namespace).stdout
    assert "color=blue" in described and "logo.bin: 6 bytes" in described
    lab.kubectl("delete", "cm", "app", "-n", namespace)
    assert "NotFound" in lab.kubectl("get", "cm", "app", "-n", namespace, check=False).stderr


async def test_string_data_is_merged_and_immutable_refuses_changes(api: httpx.AsyncClient, namespace: str) -> None:
    r = await api.post(f"/api/v1/namespaces/{namespace}/secrets", json={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "frozen"}, "immutable": True,
        "data": {"a": b64("1")}, "stringData": {"b": "two"}})
    assert r.status_code == 201, r.text
    assert r.json()["data"] == {"a": b64("1"), "b": b64("two")} and "stringData" not in r.json()
    r = await api.patch(f"/api/v1/namespaces/{namespace}/secrets/frozen", json={"stringData": {"a": "changed"}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422, r.text
    assert "field is immutable when `immutable` is set" in r.json()["message"]
    r = await api.patch(f"/api/v1/namespaces/{namespace}/secrets/frozen", json={"metadata": {"labels": {"x": "y"}}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text


async def test_bad_keys_and_missing_type_keys_are_422_naming_the_field(api: httpx.AsyncClient, namespace: str) -> None:
    r = await api.post(f"/api/v1/namespaces/{namespace}/configmaps", json={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"a b": "x"}})
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "data[a b]", r.text
    r = await api.post(f"/api/v1/namespaces/{namespace}/secrets", json={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64("c")}})
    assert r.status_code == 422 and "data[tls.key]: Required value" in r.json()["message"], r.text


async def test_a_watch_of_secrets_returns_plaintext(lab: Lab, namespace: str) -> None:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes import watch

    api_client = k8s_config.new_client_from_config(str(lab.kubeconfig))
    core = k8s.CoreV1Api(api_client)
    rv = core.list_namespaced_secret(namespace).metadata.resource_version
    core.create_namespaced_secret(namespace, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="w"),
                                                          string_data={"token": "s3cret"}))

    def first_event() -> dict:
        for event in watch.Watch().stream(core.list_namespaced_secret, namespace, resource_version=rv,
                                          timeout_seconds=20):
            return event
        raise AssertionError("no watch event")

    event = await asyncio.to_thread(first_event)
    assert event["type"] == "ADDED" and event["object"].data == {"token": b64("s3cret")}
    api_client.close()


def test_kubectl_create_token_is_accepted_as_the_service_account(lab: Lab, namespace: str) -> None:
    lab.kubectl("create", "serviceaccount", "builder", "-n", namespace)
    table = lab.kubectl("get", "sa", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "SECRETS", "AGE"]
    assert "Name:                builder" in lab.kubectl("describe", "sa", "builder", "-n", namespace).stdout
    token = lab.kubectl("create", "token", "builder", "-n", namespace, "--duration=15m").stdout.strip()
    kubeconfig = lab.home / f"sa-{namespace}.kubeconfig"
    config = json.loads(lab.kubectl("config", "view", "--raw", "-o", "json").stdout)
    config["users"] = [{"name": "sa", "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = "sa"
    kubeconfig.write_text(json.dumps(config))
    denied = lab.kubectl("--kubeconfig", str(kubeconfig), "get", "pods", "-n", namespace, check=False)
    # Authenticated (not 401): the refusal names the ServiceAccount.
    assert f"system:serviceaccount:{namespace}:builder" in denied.stderr, denied.stderr
    short = lab.kubectl("create", "token", "builder", "-n", namespace, "--duration=1m", check=False)
    assert "may not specify a duration less than 10 minutes" in short.stderr


async def test_a_token_stops_working_once_its_service_account_is_deleted(
    lab: Lab, api: httpx.AsyncClient, namespace: str
) -> None:
    r = await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts",
                       json={"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "temp"}})
    assert r.status_code == 201, r.text
    r = await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts/temp/token",
                       json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert r.status_code == 201, r.text
    token = r.json()["status"]["token"]
    async with lab.client(user="", headers={"Authorization": f"Bearer {token}"}) as as_sa:
        assert (await as_sa.get("/api")).status_code == 200
        assert (await api.delete(f"/api/v1/namespaces/{namespace}/serviceaccounts/temp")).status_code == 200
        for _ in range(100):
            answer = await as_sa.get("/api")
            if answer.status_code == 401:
                break
            await asyncio.sleep(0.1)
        assert answer.status_code == 401 and "no longer exists" in answer.json()["message"]
