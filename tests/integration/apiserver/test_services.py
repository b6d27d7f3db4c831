"""Services against the real API server: defaults, ClusterIP and NodePort allocation (concurrent,
released on delete), Kubernetes' validation messages, the ``kubernetes`` Service, kubectl and the
official Python client."""

from __future__ import annotations

import asyncio
import ipaddress
import subprocess
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from orchestrator.lab.components import ApiServer
from orchestrator.lab.embedded.ports import free_port
from tests.support.lab import Lab
from tests.support.skips import require_kubectl


def lab_range(lab: Lab) -> ipaddress.IPv4Network:
    """The lab's own ClusterIP range: `labctl up` derives one per lab (orchestrator/lab/up.py)."""
    import json

    cidr = json.loads((lab.home / "run" / "state.json").read_text())["lab"]["service_cidr"]
    return ipaddress.IPv4Network(cidr)


def svc(name: str, *, type_: str = "ClusterIP", ports: list[dict] | None = None, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": type_, "selector": {"app": name},
                     "ports": ports if ports is not None else [{"port": 80, "targetPort": 8080}], **spec}}


async def _create(api: httpx.AsyncClient, namespace: str, body: dict) -> httpx.Response:
    return await api.post(f"/api/v1/namespaces/{namespace}/services", json=body)


async def test_a_service_gets_kubernetes_defaults_and_a_cluster_ip_from_the_range(
        lab: Lab, api: httpx.AsyncClient, namespace: str) -> None:
    r = await _create(api, namespace, svc("web", ports=[{"port": 80}]))
    assert r.status_code == 201, r.text
    spec = r.json()["spec"]
    assert ipaddress.ip_address(spec["clusterIP"]) in lab_range(lab) and spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"], spec["sessionAffinity"], spec["internalTrafficPolicy"]) == \
        (["IPv4"], "SingleStack", "None", "Cluster")
    assert r.json()["status"] == {"loadBalancer": {}}
    headless = await _create(api, namespace, svc("db", clusterIP="None"))
    assert headless.json()["spec"]["clusterIPs"] == ["None"]
    external = await _create(api, namespace, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                                              "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert external.status_code == 201, external.text
    assert "clusterIP" not in external.json()["spec"] and "ipFamilies" not in external.json()["spec"]


async def test_fifty_concurrent_creates_get_distinct_cluster_ips_and_node_ports_and_delete_releases_them(
        lab: Lab, api: httpx.AsyncClient, namespace: str) -> None:
    bodies = [svc(f"s{i}", type_="NodePort", ports=[{"name": "http", "port": 80}, {"name": "https", "port": 443}])
              for i in range(50)]
    responses = await asyncio.gather(*(_create(api, namespace, b) for b in bodies))
    assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses if r.status_code != 201]
    ips = [r.json()["spec"]["clusterIP"] for r in responses]
    ports = [p["nodePort"] for r in responses for p in r.json()["spec"]["ports"]]
    assert len(set(ips)) == 50 and len(set(ports)) == 100
    assert all(30000 <= p <= 32767 for p in ports)
    conn = await asyncpg.connect(lab.database_url)
    try:
        rows = await conn.fetch("SELECT pool, value FROM allocations WHERE namespace = $1", namespace)
    finally:
        await conn.close()
    assert sorted(v for p, v in rows if p == "service-cluster-ip") == sorted(ips)
    assert sorted(int(v) for p, v in rows if p == "service-node-port") == sorted(ports)
    # Deleting one releases its address and ports: another Service may ask for exactly those.
    first = responses[0].json()["spec"]
    taken = await _create(api, namespace, svc("again", type_="NodePort", clusterIP=first["clusterIP"],
                                              ports=[{"port": 80, "nodePort": first["ports"][0]["nodePort"]}]))
    assert taken.status_code == 422
    assert (await api.delete(f"/api/v1/namespaces/{namespace}/services/s0")).status_code == 200
    again = await _create(api, namespace, svc("again", type_="NodePort", clusterIP=first["clusterIP"],
                                              ports=[{"port": 80, "nodePort": first["ports"][0]["nodePort"]}]))
    assert again.status_code == 201, again.text


async def test_two_api_server_processes_never_hand_out_one_cluster_ip_or_node_port_twice(
        lab: Lab, api: httpx.AsyncClient, namespace: str, tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "apiserver2.log").open("w")
    second = await asyncio.create_subprocess_exec(
        *ApiServer(database_url=lab.database_url, redis_url=lab.redis_url, secure_port=port,
                   token_auth_file=lab.home / "tokens.csv", relay=False,
                   extra=("--service-node-port-range", "30000-30059")).argv(),
        stdout=log, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                     headers={"Authorization": f"Bearer {lab.tokens['admin']}"}) as other:
            for _ in range(200):
                try:
                    if (await other.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            # The second server picks node ports from a 60-port range: collisions are likely, and
            # must be resolved, never committed.
            writes = [_create(other if i % 2 else api, namespace, svc(f"m{i}", type_="NodePort")) for i in range(40)]
            responses = await asyncio.gather(*writes)
    finally:
        second.terminate()
        await asyncio.wait_for(second.wait(), 20)
        log.close()
    assert [r.status_code for r in responses] == [201] * 40, [r.text for r in responses if r.status_code != 201]
    assert len({r.json()["spec"]["clusterIP"] for r in responses}) == 40
    assert len({r.json()["spec"]["ports"][0]["nodePort"] for r in responses}) == 40


async def test_node_port_to_cluster_ip_releases_the_node_port_and_the_cluster_ip_is_immutable(
        api: httpx.AsyncClient, namespace: str) -> None:
    created = (await _create(api, namespace, svc("np", type_="NodePort"))).json()
    node_port = created["spec"]["ports"][0]["nodePort"]
    created["spec"]["type"] = "ClusterIP"
    updated = await api.put(f"/api/v1/namespaces/{namespace}/services/np", json=created)
    assert updated.status_code == 200, updated.text
    assert "nodePort" not in updated.json()["spec"]["ports"][0]
    assert "externalTrafficPolicy" not in updated.json()["spec"]  # a NodePort-only field, untouched: dropped
    assert updated.json()["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    reuse = await _create(api, namespace, svc("np2", type_="NodePort", ports=[{"port": 80, "nodePort": node_port}]))
    assert reuse.status_code == 201, reuse.text
    body = updated.json()
    body["spec"]["clusterIP"] = body["spec"]["clusterIPs"][0] = "10.96.200.200"
    moved = await api.put(f"/api/v1/namespaces/{namespace}/services/np", json=body)
    assert moved.status_code == 422
    assert {"field": "spec.clusterIP", "reason": "FieldValueInvalid",
            "message": 'Invalid value: "10.96.200.200": field is immutable'} in moved.json()["details"]["causes"]
    # A patch that leaves the ClusterIP out keeps it (kubectl apply of a manifest without one).
    patched = await api.patch(f"/api/v1/namespaces/{namespace}/services/np",
                              content=b'{"metadata": {"labels": {"tier": "web"}}}',
                              headers={"Content-Type": "application/merge-patch+json"})
    assert patched.json()["spec"]["clusterIP"] == created["spec"]["clusterIP"]


@pytest.mark.parametrize(("spec", "field", "message"), [
    ({"ports": [{"port": 70000}]}, "spec.ports[0].port", "Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ({"ports": [{"port": 80, "targetPort": 0}, {"name": "b", "port": 81}]}, "spec.ports[0].name", "Required value"),
    ({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}, "spec.ports[1].name", 'Duplicate value: "a"'),
    ({"type": "NodePort", "ports": [{"port": 80, "nodePort": 40000}]}, "spec.ports[0].nodePort",
     "Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767"),
    ({"ports": [{"port": 80, "nodePort": 30001}]}, "spec.ports[0].nodePort",
     "Forbidden: may not be used when `type` is 'ClusterIP'"),
    ({"clusterIP": "10.0.0.5"}, "spec.clusterIPs", 'Invalid value: ["10.0.0.5"]: failed to allocate IP 10.0.0.5: '
     "the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is {range}"),
    ({"clusterIP": "{first}"}, "spec.clusterIPs",
     'Invalid value: ["{first}"]: failed to allocate IP {first}: provided IP is already allocated'),
    ({"type": "Balanced"}, "spec.type",
     'Unsupported value: "Balanced": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'),
    ({"ports": []}, "spec.ports", "Required value"),
])
async def test_bad_services_are_422_naming_the_field(lab: Lab, api: httpx.AsyncClient, namespace: str, spec: dict,
                                                    field: str, message: str) -> None:
    cidr = lab_range(lab)
    first = str(cidr.network_address + 1)  # the `kubernetes` Service's
    message = message.replace("{range}", str(cidr)).replace("{first}", first)
    body = svc(f"bad-{uuid.uuid4().hex[:6]}")
    body["spec"].update({k: (first if v == "{first}" else v) for k, v in spec.items()})
    r = await _create(api, namespace, body)
    assert r.status_code == 422, r.text
    assert r.json()["reason"] == "Invalid"
    assert {"field": field, "message": message} in [
        {"field": c["field"], "message": c["message"]} for c in r.json()["details"]["causes"]], r.json()


async def test_the_kubernetes_service_points_at_the_api_server(lab: Lab, api: httpx.AsyncClient) -> None:
    port = int(lab.server.rsplit(":", 1)[1])
    # Another test's second API server (another port) may have reconciled last: the lab's own
    # server puts its port back within its 10 s reconcile period.
    for _ in range(150):
        service = (await api.get("/api/v1/namespaces/default/services/kubernetes")).json()
        eps = (await api.get("/api/v1/namespaces/default/endpoints/kubernetes")).json()
        if service["spec"]["ports"][0]["targetPort"] == port and eps["subsets"][0]["ports"][0]["port"] == port:
            break
        await asyncio.sleep(0.1)
    assert service["spec"]["clusterIP"] == str(lab_range(lab).network_address + 1)
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]
    assert eps["subsets"][0]["ports"] == [{"name": "https", "port": port, "protocol": "TCP"}]
    slice_ = (await api.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes")).json()
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes"
    assert slice_["endpoints"][0]["addresses"] == [eps["subsets"][0]["addresses"][0]["ip"]]


def test_kubectl_cluster_info_get_svc_wide_and_load_balancer_pending(lab: Lab, namespace: str) -> None:
    require_kubectl()
    info = lab.kubectl("cluster-info")
    assert f"Kubernetes control plane is running at {lab.server}" in info.stdout
    lab.kubectl("-n", namespace, "create", "service", "loadbalancer", "lb", "--tcp=80:8080")
    out = lab.kubectl("-n", namespace, "get", "svc", "-o", "wide").stdout.splitlines()
    assert out[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    row = out[1].split()
    assert row[0:2] == ["lb", "LoadBalancer"] and row[3] == "<pending>" and row[4].startswith("80:")
    assert row[4].endswith("/TCP") and row[6] == "app=lb"
    default = lab.kubectl("get", "svc", "kubernetes").stdout.splitlines()[1].split()
    assert default[:5] == ["kubernetes", "ClusterIP", str(lab_range(lab).network_address + 1), "<none>", "443/TCP"]


async def test_python_client_creates_lists_and_watches_services(lab: Lab, namespace: str) -> None:
    from kubernetes import client, config, watch

    api_client = config.new_client_from_config(str(lab.kubeconfig))
    try:
        core = client.CoreV1Api(api_client)
        body = client.V1Service(metadata=client.V1ObjectMeta(name="py"), spec=client.V1ServiceSpec(
            selector={"app": "py"}, ports=[client.V1ServicePort(port=80, target_port="http", name="web")]))
        created = await asyncio.to_thread(core.create_namespaced_service, namespace, body)
        assert created.spec.cluster_ip and created.spec.ports[0].target_port == "http"
        listed = await asyncio.to_thread(core.list_namespaced_service, namespace)
        assert "py" in [s.metadata.name for s in listed.items]
        stream = watch.Watch().stream(core.list_namespaced_service, namespace,
                                      resource_version=listed.metadata.resource_version, timeout_seconds=5)
        await asyncio.to_thread(core.delete_namespaced_service, "py", namespace)

        def first_deletion() -> tuple[str, str] | None:
            for event in stream:
                if event["type"] == "DELETED":
                    return event["type"], event["object"].metadata.name
            return None

        assert await asyncio.to_thread(first_deletion) == ("DELETED", "py")
        slices = await asyncio.to_thread(client.DiscoveryV1Api(api_client).list_namespaced_endpoint_slice, "default",
                                         label_selector="kubernetes.io/service-name=kubernetes")
        assert [s.metadata.name for s in slices.items] == ["kubernetes"]
    finally:
        api_client.close()
