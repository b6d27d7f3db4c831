"""Schemathesis over the operations tests/integration/apiserver/test_schemathesis.py leaves out:
every subresource (status, scale, binding, log) and every cluster-wide list. No generated
request may get a 5xx.

The other module fuzzes collections and items under random names, which mostly meet a 404; here
the path names objects that exist (a pod, a Node, a Deployment, a ReplicaSet, the namespace), so
generated bodies get past the lookup into decoding, patching and validation. The documents are
the ones the suite's own API server serves; the run is bounded like the other one (few examples
per operation, fixed seed, no shrinking; under 60 s together).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from tests import factories
from tests.reliability.security.conftest import SecureServer

pytestmark = pytest.mark.timeout(120)

DOCUMENTS = ("api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1", "apis/autoscaling/v2")
MAX_EXAMPLES = 5
MAX_BODY_EXAMPLES = 2  # generating a whole object from its schema takes hypothesis about a second
RUN_BUDGET_SECONDS = 60.0
FIXED_QUERY = {"watch": "false", "follow": "false", "timeoutSeconds": "1"}
NAMESPACE = "fuzz-sub"
NAMES = {"pods": "p", "nodes": "fuzz-node", "deployments": "d", "replicasets": "r", "namespaces": NAMESPACE,
         "services": "s", "replicationcontrollers": "rc", "resourcequotas": "q", "daemonsets": "ds",
         "statefulsets": "sts", "persistentvolumeclaims": "pvc", "persistentvolumes": "fuzz-pv",
         "horizontalpodautoscalers": "hpa"}


def _operations() -> list[tuple[str, str, str]]:
    """(document, METHOD, path): subresources and cluster-wide lists, as the server describes them."""
    import json

    from orchestrator.apiserver import openapi

    found = []
    for document in DOCUMENTS:
        group, version = ("", "v1") if document == "api/v1" else tuple(document.split("/")[1:3])
        doc = json.loads(openapi.group_version_bytes(group, version))
        for path, item in doc["paths"].items():
            parts = path.strip("/").split("/")
            subresource = path.endswith(("/status", "/scale", "/binding", "/log"))
            cluster_wide_list = "{" not in path and parts[-1] not in ("namespaces", "nodes")
            if subresource or cluster_wide_list:
                found += [(document, m.upper(), path) for m in ("get", "put", "post", "patch", "delete") if m in item]
    return found


@pytest.fixture(scope="module")
def session(secure_server: SecureServer) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.trust_env = False
        s.verify = str(secure_server.ca_file)
        s.headers["Authorization"] = f"Bearer {secure_server.tokens['admin']}"
        yield s


@pytest.fixture(scope="module")
def objects(secure_server: SecureServer, session: requests.Session) -> dict[str, str]:
    """The objects the subresource paths name."""
    base = secure_server.url
    made = [
        ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
        (f"/api/v1/namespaces/{NAMESPACE}/pods", factories.pod(NAMES["pods"], namespace=NAMESPACE)),
        ("/api/v1/nodes", {**factories.node(NAMES["nodes"]), "spec": {"unschedulable": True}}),
    ]
    labels = {"app": "fuzz"}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    for plural, kind in (("deployments", "Deployment"), ("replicasets", "ReplicaSet")):
        made.append((f"/apis/apps/v1/namespaces/{NAMESPACE}/{plural}",
                     {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": NAMES[plural]},
                      "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": template}}))
    made += [
        (f"/api/v1/namespaces/{NAMESPACE}/services",
         {"apiVersion": "v1", "kind": "Service", "metadata": {"name": NAMES["services"]},
          "spec": {"selector": labels, "ports": [{"port": 80}]}}),
        (f"/api/v1/namespaces/{NAMESPACE}/replicationcontrollers",
         {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": NAMES["replicationcontrollers"]},
          "spec": {"replicas": 0, "selector": labels, "template": template}}),
        (f"/api/v1/namespaces/{NAMESPACE}/resourcequotas",
         {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": NAMES["resourcequotas"]},
          "spec": {"hard": {"secrets": "1000"}}}),
        (f"/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets",
         {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": NAMES["daemonsets"]},
          "spec": {"selector": {"matchLabels": labels}, "template": template}}),
        (f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets",
         {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": NAMES["statefulsets"]},
          "spec": {"replicas": 0, "serviceName": "s", "selector": {"matchLabels": labels}, "template": template}}),
        (f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims",
         {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": NAMES["persistentvolumeclaims"]},
          "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        ("/api/v1/persistentvolumes",
         {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": NAMES["persistentvolumes"]},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                   "csi": {"driver": "local-path.labkit.io", "volumeHandle": NAMES["persistentvolumes"]}}}),
    ]
    for path, obj in made:
        r = session.post(base + path, json=obj, timeout=30)
        assert r.status_code in (201, 409), r.text
    return NAMES


@pytest.fixture(scope="module")
def schemas(secure_server: SecureServer, session: requests.Session) -> dict[str, Any]:
    loaded = {}
    for document in DOCUMENTS:
        r = session.get(f"{secure_server.url}/openapi/v3/{document}", timeout=30)
        assert r.status_code == 200, r.text
        loaded[document] = schemathesis.openapi.from_dict(r.json())
    return loaded


@pytest.fixture(scope="module")
def run_started(secure_server: SecureServer) -> float:
    return time.monotonic()


def test_the_fuzzed_operations_are_the_ones_the_other_module_leaves_out() -> None:
    from tests.integration.apiserver import test_schemathesis as other

    mine = {(m, p) for _, m, p in _operations()}
    theirs = {(m, p) for _, m, p in other._operations()}
    assert mine and not mine & theirs
    assert {p.rsplit("/", 1)[1] for _, p in mine if "{name}/" in p} == {"status", "scale", "binding", "log"}


@pytest.mark.parametrize(("document", "method", "path"), [pytest.param(*op, id=f"{op[1]} {op[2]}")
                                                          for op in _operations()])
def test_operation_never_answers_5xx(document: str, method: str, path: str, secure_server: SecureServer,
                                     schemas: dict[str, Any], session: requests.Session, objects: dict[str, str],
                                     run_started: float) -> None:
    operation = schemas[document][path][method]
    query = {k: v for k, v in FIXED_QUERY.items() if k in {p.name for p in operation.query}}
    path_parameters: dict[str, str] = {}
    if "{namespace}" in path:
        path_parameters["namespace"] = NAMESPACE
    if "{name}" in path:
        plural = path.split("/{name}")[0].rsplit("/", 1)[1]
        path_parameters["name"] = objects[plural]
    strategy = operation.as_strategy(query=query or None, path_parameters=path_parameters or None)
    server_errors: list[str] = []

    @given(case=strategy)
    @settings(max_examples=MAX_BODY_EXAMPLES if method in ("POST", "PUT") else MAX_EXAMPLES, derandomize=True,
              database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call(base_url=secure_server.url, session=session, verify=str(secure_server.ca_file),
                             timeout=10.0)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except Exception:
            server_errors.append(f"{response.status_code} {case.as_curl_command()}\n  -> {response.text[:300]}")
            raise

    try:
        run()
    except Exception as exc:
        raise AssertionError(f"{method} {path} answered 5xx:\n" + "\n".join(server_errors[:3])) from exc
    elapsed = time.monotonic() - run_started
    assert elapsed < RUN_BUDGET_SECONDS, f"the fuzzing run has taken {elapsed:.0f}s, over its {RUN_BUDGET_SECONDS}s"
