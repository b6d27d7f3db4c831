"""Property-based fuzzing of the API server from its own OpenAPI v3 documents: no request the
documents describe may get a 5xx.

Schemathesis generates requests for every operation of the served documents (``GET
/openapi/v3/api/v1``, ``/apis/apps/v1``, ``/apis/coordination.k8s.io/v1``, read with the admin
token) and sends them to the lab. The run is bounded: a fixed number of examples per operation,
a fixed seed (``derandomize``), no shrinking, and the whole module under 90 seconds. Only one
check runs — ``not_a_server_error`` — because the documents describe Kubernetes' API, and a 4xx
for a generated request is often the right answer.

Operations are parametrized from the same generator the server uses (orchestrator.apiserver.openapi)
so each is its own test; the documents the cases come from are the ones the server serves.

Kubernetes equivalent: none upstream (Kubernetes relies on conformance tests); the approach is
schemathesis' own "not_a_server_error" check.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from orchestrator.apiserver import openapi
from tests.support.lab import Lab

pytestmark = [
    # The shared conftest passes the CA path to httpx as a string, which httpx 0.28 deprecates.
    pytest.mark.filterwarnings("ignore:`verify=<str>` is deprecated:DeprecationWarning"),
    pytest.mark.timeout(120),
]

DOCUMENTS = {"api/v1": ("", "v1"), "apis/apps/v1": ("apps", "v1"),
             "apis/coordination.k8s.io/v1": ("coordination.k8s.io", "v1"),
             "apis/apiextensions.k8s.io/v1": ("apiextensions.k8s.io", "v1")}
METHODS = ("get", "put", "post", "delete", "patch")
MAX_EXAMPLES = 15
# Generating a whole Pod, Deployment or ReplicaSet from its schema takes hypothesis about a second
# an example; creates and replaces get fewer examples so the run stays inside its budget.
MAX_BODY_EXAMPLES = 4
# The operations fuzzed: collections and items of these resources. Subresources and cluster-wide
# lists share their handlers with these and are left out to keep the run short.
FUZZED = ("pods", "deployments", "replicasets", "events", "leases", "nodes", "namespaces", "customresourcedefinitions")
RUN_BUDGET_SECONDS = 90.0
REQUEST_TIMEOUT_SECONDS = 10.0
# Fixed rather than generated, so a generated request can neither stream for the default 30
# minutes nor keep a connection open; everything else about list and watch is generated.
FIXED_QUERY = {"watch": "false", "follow": "false", "timeoutSeconds": "1"}

# Operations known to answer 5xx (none today). An entry names the request and the bug; the xfail is
# strict, so once the bug is fixed the entry must go.
KNOWN_SERVER_ERRORS: dict[str, str] = {}


def _operations() -> list[tuple[str, str, str]]:
    """(document, METHOD, path) of every operation, from the generator the server serves."""
    found = []
    for document, (group, version) in DOCUMENTS.items():
        doc = json.loads(openapi.group_version_bytes(group, version))
        for path, item in doc["paths"].items():
            if not _fuzzed(path):
                continue
            for method in METHODS:
                if method in item:
                    found.append((document, method.upper(), path))
    return found


def _fuzzed(path: str) -> bool:
    """``.../namespaces/{namespace}/<plural>[/{name}]`` or ``.../<cluster plural>[/{name}]``."""
    parts = path.strip("/").split("/")
    parts = parts[2:] if parts[0] == "api" else parts[3:]
    if parts[:2] == ["namespaces", "{namespace}"]:
        parts = parts[2:]
        namespaced = True
    else:
        namespaced = False
    if not parts or parts[0] not in FUZZED or len(parts) > 2 or (len(parts) == 2 and parts[1] != "{name}"):
        return False
    return namespaced or parts[0] in ("nodes", "namespaces", "customresourcedefinitions")


def _param(document: str, method: str, path: str) -> Any:
    key = f"{method} {path}"
    marks = [pytest.mark.xfail(reason=KNOWN_SERVER_ERRORS[key], strict=True)] if key in KNOWN_SERVER_ERRORS else []
    return pytest.param(document, method, path, id=key, marks=marks)


@pytest.fixture(scope="module")
def run_started(lab: Lab) -> float:
    """When this module's first operation began (after the lab is up)."""
    return time.monotonic()


@pytest.fixture(scope="module")
def served_documents(lab: Lab) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {lab.tokens['admin']}"}
    docs = {}
    for document in DOCUMENTS:
        r = requests.get(f"{lab.server}/openapi/v3/{document}", headers=headers, verify=str(lab.ca_file), timeout=30)
        assert r.status_code == 200, r.text
        docs[document] = r.json()
    return docs


@pytest.fixture(scope="module")
def session(lab: Lab) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace the lab's CA
        s.verify = str(lab.ca_file)
        s.headers["Authorization"] = f"Bearer {lab.tokens['admin']}"
        yield s


@pytest.fixture(scope="module")
def fuzz_namespace(lab: Lab, session: requests.Session) -> str:
    """A namespace that exists, so namespaced creates get past the namespace check to validation."""
    name = "fuzz"
    r = session.post(f"{lab.server}/api/v1/namespaces",
                     json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, timeout=30)
    assert r.status_code in (201, 409), r.text
    return name


@pytest.fixture(scope="module")
def schemas(served_documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The served documents loaded by schemathesis once (loading resolves every $ref: seconds)."""
    return {document: schemathesis.openapi.from_dict(raw) for document, raw in served_documents.items()}


def test_served_documents_load_in_schemathesis(schemas: dict[str, Any],
                                               served_documents: dict[str, dict[str, Any]]) -> None:
    """Every operation of every document loads, with its $refs resolved."""
    for document, schema in schemas.items():
        operations = [result.ok() for result in schema.get_all_operations()]
        described = sum(1 for item in served_documents[document]["paths"].values() for m in METHODS if m in item)
        assert len(operations) == described, document


def test_served_documents_are_the_generated_ones(served_documents: dict[str, dict[str, Any]]) -> None:
    """The parametrization below comes from the generator; the cases come from what is served."""
    for document, (group, version) in DOCUMENTS.items():
        assert served_documents[document] == json.loads(openapi.group_version_bytes(group, version)), document


@pytest.mark.parametrize(("document", "method", "path"), [_param(*op) for op in _operations()])
def test_operation_never_answers_5xx(document: str, method: str, path: str, lab: Lab, run_started: float,
                                     schemas: dict[str, Any], session: requests.Session, fuzz_namespace: str) -> None:
    operation = schemas[document][path][method]
    parameters = {p.name for p in operation.query}
    query = {k: v for k, v in FIXED_QUERY.items() if k in parameters}
    path_parameters = {"namespace": fuzz_namespace} if "{namespace}" in path else {}
    strategy = operation.as_strategy(query=query or None, path_parameters=path_parameters or None)
    server_errors: list[str] = []

    @given(case=strategy)
    @settings(max_examples=MAX_BODY_EXAMPLES if method in ("POST", "PUT") else MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call(base_url=lab.server, session=session, verify=str(lab.ca_file),
                             timeout=REQUEST_TIMEOUT_SECONDS)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except Exception:
            server_errors.append(f"{response.status_code} {case.as_curl_command()}\n  -> {response.text[:300]}")
            raise

    try:
        run()
    except Exception as exc:  # hypothesis re-raises the first failing example: report it in full
        raise AssertionError(f"{method} {path} answered 5xx:\n" + "\n".join(server_errors[:3])) from exc
    elapsed = time.monotonic() - run_started
    assert elapsed < RUN_BUDGET_SECONDS, f"the fuzzing run has taken {elapsed:.0f}s, over its {RUN_BUDGET_SECONDS}s"
