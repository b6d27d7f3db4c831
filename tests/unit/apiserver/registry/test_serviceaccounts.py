"""serviceaccounts/token: what a TokenRequest may ask, what comes back, who may ask."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest

from orchestrator.api.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.registry.serviceaccounts import (
    TokenRequestREST,
    parse_token_request,
    service_account_row,
)
from orchestrator.apiserver.serviceaccount_tokens import TokenIssuer, generate_signing_key_pem


class Registry:
    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.objects = objects

    async def get(self, info: Any, namespace: str, name: str) -> dict[str, Any]:
        try:
            return self.objects[(info.plural, name)]
        except KeyError:
            raise NotFound(f'{info.plural} "{name}" not found') from None


@dataclass
class Call:
    name: str = "builder"
    body: Any = None
    user: User = field(default_factory=lambda: User("admin", groups=("system:masters",)))
    method: str = "POST"
    namespace: str = "team"
    query: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False


@pytest.fixture(scope="module")
def handler() -> TokenRequestREST:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(generate_signing_key_pem(), password=None)
    return TokenRequestREST(TokenIssuer(key))  # type: ignore[arg-type]


def registry(pod_node: str = "node-1", pod_sa: str = "builder") -> Registry:
    return Registry({("serviceaccounts", "builder"): {"metadata": {"name": "builder", "uid": "sa-uid"}},
                     ("pods", "web"): {"metadata": {"name": "web", "uid": "pod-uid"},
                                       "spec": {"nodeName": pod_node, "serviceAccountName": pod_sa}}})


def bound(uid: str = "") -> dict[str, Any]:
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": uid}}}


async def test_kubectl_create_token_gets_a_signed_token_with_defaults(handler: TokenRequestREST) -> None:
    code, answer = await handler(registry(), Call(body={"apiVersion": "authentication.k8s.io/v1",
                                                         "kind": "TokenRequest", "spec": {}}))
    assert code == 201 and answer["kind"] == "TokenRequest"
    assert answer["spec"] == {"audiences": ["https://kubernetes.default.svc.cluster.local"], "expirationSeconds": 3600}
    claims = jwt.decode(answer["status"]["token"], options={"verify_signature": False})
    assert claims["kubernetes.io"]["serviceaccount"] == {"name": "builder", "uid": "sa-uid"}
    assert answer["status"]["expirationTimestamp"].endswith("Z")


async def test_a_pod_bound_token_names_the_pod_and_a_stale_uid_conflicts(handler: TokenRequestREST) -> None:
    _, answer = await handler(registry(), Call(body=bound("pod-uid")))
    assert jwt.decode(answer["status"]["token"], options={"verify_signature": False})["kubernetes.io"]["pod"] == {
        "name": "web", "uid": "pod-uid"}
    with pytest.raises(Conflict, match="does not match the UID in record"):
        await handler(registry(), Call(body=bound("old-uid")))
    with pytest.raises(BadRequest, match="different serviceaccount name"):
        await handler(registry(pod_sa="other"), Call(body=bound()))


async def test_a_node_gets_tokens_only_for_pods_it_runs(handler: TokenRequestREST) -> None:
    node = User("system:node:node-1", groups=("system:nodes",))
    code, _ = await handler(registry(), Call(body=bound(), user=node))
    assert code == 201
    with pytest.raises(Forbidden, match="not bound to node node-1"):
        await handler(registry(pod_node="node-2"), Call(body=bound(), user=node))
    with pytest.raises(Forbidden, match="bound to a pod"):
        await handler(registry(), Call(body={}, user=node))


async def test_unknown_accounts_and_a_server_without_a_key_are_not_found(handler: TokenRequestREST) -> None:
    with pytest.raises(NotFound, match='serviceaccounts "nope" not found'):
        await handler(registry(), Call(name="nope"))
    with pytest.raises(NotFound, match="--service-account-signing-key-file"):
        await TokenRequestREST()(registry(), Call())


@pytest.mark.parametrize(("spec", "message"), [
    ({"expirationSeconds": 60}, "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"),
    ({"expirationSeconds": 2**33}, "larger than 2^32 seconds"),
    ({"boundObjectRef": {"kind": "Node", "name": "n"}}, 'spec.boundObjectRef.kind: Unsupported value: "Node"'),
    ({"audiences": "vault"}, "spec.audiences"),
])
def test_bad_requests_name_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid, match=message.replace("^", r"\^")):
        parse_token_request({"spec": spec}, namespace="team", name="builder")


def test_service_accounts_print_name_secrets_age() -> None:
    from datetime import UTC, datetime

    row = service_account_row({"metadata": {"name": "default", "creationTimestamp": "2026-01-01T00:00:00Z"}},
                              datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC))
    assert row == (["default", 0, "30s"], None)


async def test_admission_defaults_the_account_of_a_new_pod() -> None:
    from types import SimpleNamespace

    from orchestrator.api.resources import by_group_resource
    from orchestrator.apiserver.registry.serviceaccounts import ServiceAccountAdmission

    def attrs(spec: dict[str, Any], operation: str = "CREATE") -> Any:
        return SimpleNamespace(operation=operation, info=by_group_resource("pods"), subresource=None,
                               obj={"metadata": {"name": "p"}, "spec": spec})

    plain = attrs({})
    await ServiceAccountAdmission().admit(plain)
    assert plain.obj["spec"] == {"serviceAccountName": "default", "serviceAccount": "default"}
    old_style = attrs({"serviceAccount": "builder"})
    await ServiceAccountAdmission().admit(old_style)
    assert old_style.obj["spec"]["serviceAccountName"] == "builder"
    update = attrs({}, operation="UPDATE")
    await ServiceAccountAdmission().admit(update)
    assert update.obj["spec"] == {}
