"""CustomResourceDefinitions end to end: the real kubectl and the official client against the lab.

Each test defines its own CRD in a group of its own (CRDs are cluster-scoped and the lab is shared),
waits for it to be served — the API server learns it from the CRD watch, not from the write — and
works with its instances the way a learner following the Kubernetes CRD tutorial would.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from orchestrator.lab.components import ApiServer
from orchestrator.lab.embedded.ports import free_port
from tests.factories import crontab_crd
from tests.support.lab import Lab
from tests.support.skips import require_kubectl

pytestmark = pytest.mark.kubectl


@pytest.fixture(autouse=True)
def _kubectl_installed() -> None:
    require_kubectl()


def _wait(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


def _group() -> str:
    return f"t{uuid.uuid4().hex[:8]}.example.com"


def _define(lab: Lab, crd: dict[str, Any]) -> None:
    lab.kubectl("apply", "-f", "-", input=json.dumps(crd))
    plural = crd["spec"]["names"]["plural"]
    group = crd["spec"]["group"]
    _wait(f"{plural}.{group} in kubectl api-resources",
          lambda: plural in lab.kubectl("api-resources", "--api-group", group, "-o", "name").stdout)


def _crontab(name: str, group: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": "CronTab", "metadata": {"name": name},
            "spec": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image", **spec}}


def test_a_crd_is_served_validated_defaulted_printed_scaled_and_deleted(lab: Lab, namespace: str) -> None:
    group = _group()
    crd = crontab_crd(group=group)
    _define(lab, crd)
    name = f"crontabs.{group}"

    # the CRD itself: Established, its names accepted, kubectl's NAME / CREATED AT
    stored = json.loads(lab.kubectl("get", "crd", name, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in stored["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert stored["status"]["acceptedNames"]["kind"] == "CronTab"
    header = lab.kubectl("get", "crd", name).stdout.splitlines()[0].split()
    assert header == ["NAME", "CREATED", "AT"]

    # an instance: applied, defaulted
    lab.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_crontab("my-new-cron-object", group)))
    obj = json.loads(lab.kubectl("get", "-n", namespace, f"crontabs.{group}", "my-new-cron-object", "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 1 and obj["spec"]["size"] == "M"
    assert obj["metadata"]["generation"] == 1

    # a bad instance: kubectl prints the 422's causes
    bad = lab.kubectl("apply", "-n", namespace, "-f", "-", check=False,
                      input=json.dumps(_crontab("bad", group, replicas=20, size="XL")))
    assert bad.returncode != 0
    assert "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10" in bad.stderr
    assert 'spec.size: Unsupported value: "XL": supported values: "S", "M", "L"' in bad.stderr
    # an unknown field: kubectl asks for Strict validation and shows the 400
    unknown = lab.kubectl("apply", "-n", namespace, "-f", "-", check=False,
                          input=json.dumps(_crontab("unknown", group, colour="blue")))
    assert unknown.returncode != 0 and 'unknown field "spec.colour"' in unknown.stderr

    # the printer columns
    lines = lab.kubectl("get", "-n", namespace, f"crontabs.{group}").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert lines[1].split()[:7] == ["my-new-cron-object", "*", "*", "*", "*", "*/5", "1"]
    assert "ct" in lab.kubectl("api-resources", "--api-group", group).stdout
    # kubectl explain reads the schema from the group-version's OpenAPI document
    explained = lab.kubectl("explain", f"crontabs.{group}.spec").stdout
    assert "cronSpec" in explained and "replicas" in explained

    # scale: kubectl scale writes spec.replicas through the scale subresource; generation moves
    lab.kubectl("scale", "-n", namespace, f"crontabs.{group}/my-new-cron-object", "--replicas=3")
    obj = json.loads(lab.kubectl("get", "-n", namespace, f"crontabs.{group}", "my-new-cron-object", "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 3 and obj["metadata"]["generation"] == 2

    # delete the CRD: its instances go with it, and so does the resource
    lab.kubectl("delete", "crd", name, "--timeout=60s")
    _wait("crontabs gone from discovery",
          lambda: f"crontabs.{group}" not in lab.kubectl("api-resources", "-o", "name").stdout)
    # defined again, it starts empty: the old instances were deleted, not hidden
    _define(lab, crd)
    listed = lab.kubectl("get", "-n", namespace, f"crontabs.{group}", "-o", "json").stdout
    assert json.loads(listed)["items"] == []
    lab.kubectl("delete", "crd", name, "--timeout=60s")


async def test_status_subresource_and_the_main_resource_each_write_their_part(lab: Lab, namespace: str,
                                                                              api: httpx.AsyncClient) -> None:
    group = _group()
    _define(lab, crontab_crd(group=group))
    base = f"/apis/{group}/v1/namespaces/{namespace}/crontabs"
    r = await api.post(base, json=dict(_crontab("c1", group), status={"replicas": 9}))
    assert r.status_code == 201, r.text
    assert "status" not in r.json()  # create ignores the status: it is the controller's
    r = await api.patch(f"{base}/c1/status", json={"status": {"replicas": 2, "message": "ok"}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == {"replicas": 2, "message": "ok"} and r.json()["metadata"]["generation"] == 1
    r = await api.patch(f"{base}/c1", json={"spec": {"image": "other"}, "status": {"replicas": 7}},
                        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["status"]["replicas"] == 2 and r.json()["metadata"]["generation"] == 2
    r = await api.get(f"{base}/c1/scale")
    assert r.json()["spec"] == {"replicas": 1} and r.json()["status"]["replicas"] == 2
    r = await api.post(base, json=_crontab("c2", group, cronSpec="every minute"))
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "spec.cronSpec"
    lab.kubectl("delete", "crd", f"crontabs.{group}", "--timeout=60s")


def test_the_official_client_creates_and_watches_custom_objects(lab: Lab, namespace: str) -> None:
    from kubernetes import client, config, watch

    group = _group()
    _define(lab, crontab_crd(group=group))
    api = client.CustomObjectsApi(config.new_client_from_config(str(lab.kubeconfig)))
    listed = api.list_namespaced_custom_object(group, "v1", namespace, "crontabs")
    api.create_namespaced_custom_object(group, "v1", namespace, "crontabs", _crontab("watched", group))
    seen = []
    for event in watch.Watch().stream(api.list_namespaced_custom_object, group, "v1", namespace, "crontabs",
                                      resource_version=listed["metadata"]["resourceVersion"], timeout_seconds=5):
        seen.append((event["type"], event["object"]["metadata"]["name"], event["object"]["spec"]["replicas"]))
        break
    assert seen == [("ADDED", "watched", 1)]
    lab.kubectl("delete", "crd", f"crontabs.{group}", "--timeout=60s")


async def test_a_second_api_server_learns_crds_from_the_watch(lab: Lab, namespace: str, api: httpx.AsyncClient,
                                                              tmp_path: Any) -> None:
    """Two API servers over one store: a CRD created through one is served by the other within
    seconds, and its deletion through the other removes it from the first."""
    port = free_port()
    log = (tmp_path / "apiserver2.log").open("w")
    second = await asyncio.create_subprocess_exec(
        *ApiServer(database_url=lab.database_url, redis_url=lab.redis_url, secure_port=port,
                   token_auth_file=lab.home / "tokens.csv", relay=False).argv(),
        stdout=log, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10,
                                     headers={"Authorization": f"Bearer {lab.tokens['admin']}"}) as other:
            for _ in range(150):
                try:
                    if (await other.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            group = _group()
            r = await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crontab_crd(group=group))
            assert r.status_code == 201, r.text
            started = time.monotonic()
            while (await other.get(f"/apis/{group}/v1")).status_code != 200:
                assert time.monotonic() - started < 10, "the second API server did not learn the CRD"
                await asyncio.sleep(0.1)
            r = await other.post(f"/apis/{group}/v1/namespaces/{namespace}/crontabs", json=_crontab("via-second", group))
            assert r.status_code == 201, r.text
            r = await api.get(f"/apis/{group}/v1/namespaces/{namespace}/crontabs/via-second")
            assert r.status_code == 200 and r.json()["spec"]["replicas"] == 1
            r = await other.delete(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.{group}")
            assert r.status_code == 200, r.text
            started = time.monotonic()
            while (await api.get(f"/apis/{group}/v1")).status_code != 404:
                assert time.monotonic() - started < 20, "the first API server still serves the deleted CRD"
                await asyncio.sleep(0.1)
            r = await api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.{group}")
            assert r.status_code == 404
    finally:
        second.terminate()
        await asyncio.wait_for(second.wait(), 20)
        log.close()


async def test_editing_a_crd_changes_validation_and_the_openapi_hash(lab: Lab, namespace: str,
                                                                     api: httpx.AsyncClient) -> None:
    group = _group()
    crd = crontab_crd(group=group)
    _define(lab, crd)
    key = f"apis/{group}/v1"
    before = (await api.get("/openapi/v3")).json()["paths"][key]["serverRelativeURL"]
    r = await api.post(f"/apis/{group}/v1/namespaces/{namespace}/crontabs", json=_crontab("seven", group, replicas=7))
    assert r.status_code == 201, r.text
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["replicas"]["maximum"] = 5
    lab.kubectl("apply", "-f", "-", input=json.dumps(crd))

    async def new_hash() -> str | None:
        url = (await api.get("/openapi/v3")).json()["paths"][key]["serverRelativeURL"]
        return url if url != before else None

    started = time.monotonic()
    after = await new_hash()
    while after is None:
        assert time.monotonic() - started < 10, "the OpenAPI hash did not change with the CRD"
        await asyncio.sleep(0.1)
        after = await new_hash()
    doc = (await api.get(after)).json()
    replicas = doc["components"]["schemas"][f"{'.'.join(reversed(group.split('.')))}.v1.CronTab"]["properties"]["spec"][
        "properties"]["replicas"]
    assert replicas["maximum"] == 5
    r = await api.post(f"/apis/{group}/v1/namespaces/{namespace}/crontabs", json=_crontab("eight", group, replicas=7))
    assert r.status_code == 422 and "should be less than or equal to 5" in r.text
    # a stored object is not re-validated until it is written again, as upstream
    assert (await api.get(f"/apis/{group}/v1/namespaces/{namespace}/crontabs/seven")).json()["spec"]["replicas"] == 7
    lab.kubectl("delete", "crd", f"crontabs.{group}", "--timeout=60s")


def test_kubectl_get_watch_prints_custom_rows_with_their_columns(lab: Lab, namespace: str) -> None:
    group = _group()
    _define(lab, crontab_crd(group=group))
    lab.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_crontab("before", group)))
    watcher = subprocess.Popen(
        [shutil.which("kubectl") or "kubectl", "get", f"crontabs.{group}", "-n", namespace, "-w",
         "--output-watch-events", "--request-timeout=6s"],
        env=dict(os.environ, KUBECONFIG=str(lab.kubeconfig), HOME=str(lab.home)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # let the list and the watch request reach the server
        lab.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_crontab("during", group, replicas=4)))
        lab.kubectl("delete", "-n", namespace, f"crontabs.{group}", "during")
        out, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    lines = [line.split() for line in out.splitlines() if line.strip()]
    assert lines[0] == ["EVENT", "NAME", "SPEC", "REPLICAS", "AGE"], out + err
    assert [(row[0], row[1], row[7]) for row in lines[1:]] == [("ADDED", "before", "1"), ("ADDED", "during", "4"),
                                                               ("DELETED", "during", "4")], out
    lab.kubectl("delete", "crd", f"crontabs.{group}", "--timeout=60s")


async def test_every_served_version_reads_and_writes_the_same_objects(lab: Lab, namespace: str,
                                                                      api: httpx.AsyncClient) -> None:
    """Conversion "None": one stored object, shown at whichever served version is asked for."""
    group = _group()
    crd = crontab_crd(group=group)
    v1 = crd["spec"]["versions"][0]
    crd["spec"]["versions"] = [dict(json.loads(json.dumps(v1)), name="v1beta1", storage=False), v1]
    _define(lab, crd)
    beta = f"/apis/{group}/v1beta1/namespaces/{namespace}/crontabs"
    ga = f"/apis/{group}/v1/namespaces/{namespace}/crontabs"
    body = dict(_crontab("both", group), apiVersion=f"{group}/v1beta1")
    r = await api.post(beta, json=body)
    assert r.status_code == 201 and r.json()["apiVersion"] == f"{group}/v1beta1", r.text
    assert (await api.get(f"{ga}/both")).json()["apiVersion"] == f"{group}/v1"
    assert (await api.get(beta)).json()["items"][0]["apiVersion"] == f"{group}/v1beta1"
    r = await api.patch(f"{beta}/both", json={"spec": {"replicas": 2}}, headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["apiVersion"] == f"{group}/v1beta1", r.text
    assert (await api.get(f"{ga}/both")).json()["spec"]["replicas"] == 2
    groups = (await api.get(f"/apis/{group}")).json()
    assert groups["preferredVersion"]["version"] == "v1"
    lab.kubectl("delete", "crd", f"crontabs.{group}", "--timeout=60s")


def test_a_crd_whose_kind_is_taken_is_refused_until_the_other_goes(lab: Lab) -> None:
    group = _group()
    first = crontab_crd(group=group)
    _define(lab, first)
    second = crontab_crd(group=group, plural="crontabz")
    second["spec"]["names"]["shortNames"] = ["cz"]
    lab.kubectl("apply", "-f", "-", input=json.dumps(second))

    def condition(name: str, kind: str) -> tuple[str, str] | None:
        crd = json.loads(lab.kubectl("get", "crd", name, "-o", "json").stdout)
        found = [(c["status"], c["reason"]) for c in crd["status"]["conditions"] if c["type"] == kind]
        return found[0] if found else None

    _wait("NamesAccepted=False", lambda: condition(f"crontabz.{group}", "NamesAccepted") == ("False", "NameConflicts"))
    assert condition(f"crontabz.{group}", "Established") == ("False", "NotAccepted")
    assert "crontabz" not in lab.kubectl("api-resources", "--api-group", group, "-o", "name").stdout
    lab.kubectl("delete", "crd", f"crontabs.{group}", "--timeout=60s")
    _wait("the second CRD served", lambda: "crontabz" in lab.kubectl("api-resources", "--api-group", group, "-o", "name").stdout)
    assert condition(f"crontabz.{group}", "NamesAccepted") == ("True", "NoConflicts")
    lab.kubectl("delete", "crd", f"crontabz.{group}", "--timeout=60s")


def test_server_side_apply_of_a_custom_object_records_its_manager_and_conflicts(lab: Lab, namespace: str) -> None:
    group = _group()
    _define(lab, crontab_crd(group=group))
    cron = _crontab("ssa", group, replicas=2)
    lab.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=json.dumps(cron))
    obj = json.loads(lab.kubectl("get", "-n", namespace, f"crontabs.{group}", "ssa", "-o", "json",
                                 "--show-managed-fields").stdout)
    assert [m["manager"] for m in obj["metadata"]["managedFields"]] == ["kubectl"]
    other = lab.kubectl("apply", "--server-side", "--field-manager", "other", "-n", namespace, "-f", "-", check=False,
                        input=json.dumps(_crontab("ssa", group, replicas=3)))
    assert other.returncode != 0 and "conflict" in other.stderr.lower() and ".spec.replicas" in other.stderr
    lab.kubectl("delete", "crd", f"crontabs.{group}", "--timeout=60s")
