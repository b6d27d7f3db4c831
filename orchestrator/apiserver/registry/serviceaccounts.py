"""ServiceAccounts and their ``token`` subresource (TokenRequest, ``kubectl create token``).

A ServiceAccount object is plain: a name in a namespace, with a uid that the tokens issued for
it carry. ``POST .../serviceaccounts/<name>/token`` with an ``authentication.k8s.io/v1``
TokenRequest answers with a signed JWT (orchestrator/apiserver/serviceaccount_tokens.py):

- ``spec.audiences`` empty → the API server's own audiences;
- ``spec.expirationSeconds`` default 3600, at least 600 and at most 2^32, as upstream;
- ``spec.boundObjectRef`` (a Pod or a Secret of the same namespace) binds the token to that
  object: it must exist, its uid must match when one is given, and a Pod must run as this
  ServiceAccount. A token bound to a Pod carries the Pod's name and uid (the node agent asks
  for such tokens for the containers it starts).

Nothing is stored: the response is the request with ``status.token`` and
``status.expirationTimestamp`` filled in, as upstream's TokenREST does.

Kubernetes equivalent: pkg/registry/core/serviceaccount/strategy.go,
pkg/registry/core/serviceaccount/storage/token.go
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.errors import BadRequest, Conflict, Forbidden, MethodNotAllowed, NotFound
from orchestrator.api.printing import _AGE, _NAME, _column, _since
from orchestrator.api.resources import by_group_resource
from orchestrator.api.timestamps import rfc3339
from orchestrator.apiserver.authz.chain import Attributes, forbidden
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.serviceaccount_tokens import (
    DEFAULT_EXPIRATION_SECONDS,
    MAX_EXPIRATION_SECONDS,
    MIN_EXPIRATION_SECONDS,
    BoundPod,
    TokenIssuer,
)
from orchestrator.apiserver.validation import FieldErrors

TOKEN_REQUEST_API_VERSION = "authentication.k8s.io/v1"


def service_account_columns() -> list[dict[str, Any]]:
    return [_NAME, _column("Secrets", "Secrets is a list of the secrets in the same namespace that pods running "
                                      "using this ServiceAccount are allowed to use.", type_="integer"), _AGE]


def service_account_row(obj: Mapping[str, Any], now: datetime) -> tuple[list[Any], None]:
    meta = obj.get("metadata") or {}
    return [meta.get("name", ""), len(obj.get("secrets") or []), _since(meta.get("creationTimestamp"), now)], None


def parse_token_request(body: Any, *, namespace: str, name: str) -> tuple[list[str], int, dict[str, Any] | None]:
    """The audiences, lifetime and bound object a TokenRequest asks for; Invalid names the field."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("the request body must be an authentication.k8s.io/v1 TokenRequest object")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if (api_version or kind) and (api_version, kind) != (TOKEN_REQUEST_API_VERSION, "TokenRequest"):
        raise BadRequest(f"the request body must be a TokenRequest of {TOKEN_REQUEST_API_VERSION}, "
                         f"got {kind} of {api_version}")
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise BadRequest("spec must be an object")
    errs = FieldErrors()
    audiences = spec.get("audiences") or []
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        errs.invalid("spec.audiences", audiences, "must be a list of strings")
        audiences = []
    expiration = spec.get("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)
    if expiration is None:
        expiration = DEFAULT_EXPIRATION_SECONDS
    if isinstance(expiration, bool) or not isinstance(expiration, int):
        errs.invalid("spec.expirationSeconds", expiration, "must be an integer number of seconds")
        expiration = DEFAULT_EXPIRATION_SECONDS
    elif expiration < MIN_EXPIRATION_SECONDS:
        errs.invalid("spec.expirationSeconds", expiration, "may not specify a duration less than 10 minutes")
    elif expiration > MAX_EXPIRATION_SECONDS:
        errs.invalid("spec.expirationSeconds", expiration, "may not specify a duration larger than 2^32 seconds")
    bound = spec.get("boundObjectRef")
    if bound is not None:
        if not isinstance(bound, dict):
            errs.invalid("spec.boundObjectRef", bound, "must be an object")
            bound = None
        else:
            if bound.get("kind") not in ("Pod", "Secret"):
                errs.not_supported("spec.boundObjectRef.kind", bound.get("kind"), ("Pod", "Secret"))
            if bound.get("apiVersion", "v1") != "v1":
                errs.not_supported("spec.boundObjectRef.apiVersion", bound.get("apiVersion"), ("v1",))
            if not bound.get("name"):
                errs.required("spec.boundObjectRef.name")
    errs.raise_if_any("TokenRequest", "authentication.k8s.io", name)
    return list(audiences), int(expiration), bound


class TokenRequestREST:
    """``serviceaccounts/token``: a SubresourceHandler. The API server sets ``issuer`` at start
    from ``--service-account-signing-key-file``; without one the subresource answers 404, as
    kube-apiserver serves no TokenRequest without a signing key."""

    def __init__(self, issuer: TokenIssuer | None = None) -> None:
        self.issuer = issuer

    async def __call__(self, registry: Any, request: Any) -> tuple[int, dict[str, Any]]:
        if request.method != "POST":
            raise MethodNotAllowed("serviceaccounts/token supports POST only")
        if self.issuer is None:
            raise NotFound("the server could not find the requested resource (serviceaccounts/token): "
                           "the API server was started without --service-account-signing-key-file")
        namespace, name = request.namespace or "default", request.name
        audiences, expiration, bound = parse_token_request(request.body, namespace=namespace, name=name)
        pod: BoundPod | None = None
        bound_out: dict[str, Any] | None = None
        user = request.user
        # Checked before anything is read: a node learns nothing of accounts it has no pod for.
        if getattr(user, "node_name", None) is not None and (bound is None or bound.get("kind") != "Pod"):
            raise _node_forbidden(user, namespace, name, f"a node may only request tokens bound to a pod "
                                                         f"running on it (node {user.node_name})")
        if bound is not None:
            pod, bound_out = await _resolve_bound(registry, bound, namespace=namespace, sa_name=name, user=user)
        sa = await registry.get(by_group_resource("serviceaccounts"), namespace, name)
        sa_uid = (sa.get("metadata") or {}).get("uid", "")
        now = datetime.now(UTC)
        spec: dict[str, Any] = {"audiences": audiences, "expirationSeconds": expiration}
        if bound_out is not None:
            spec["boundObjectRef"] = bound_out
        if request.dry_run:
            return 201, _token_request(namespace, name, now, {**spec, "audiences": audiences or
                                                              list(self.issuer.api_audiences)}, None)
        issued = self.issuer.issue(namespace=namespace, name=name, uid=sa_uid, audiences=audiences,
                                   expiration_seconds=expiration, pod=pod, now=now)
        spec["audiences"] = list(issued.audiences)
        return 201, _token_request(namespace, name, now, spec, {
            "token": issued.token, "expirationTimestamp": rfc3339(issued.expires)})


def _node_forbidden(user: Any, namespace: str, name: str, why: str) -> Forbidden:
    return forbidden(Attributes(user=user, verb="create", resource="serviceaccounts", namespace=namespace, name=name,
                                subresource="token"), why)


async def _resolve_bound(registry: Any, ref: dict[str, Any], *, namespace: str, sa_name: str,
                         user: Any = None) -> tuple[BoundPod | None, dict[str, Any]]:
    kind, name, uid = ref["kind"], ref["name"], ref.get("uid") or ""
    node = getattr(user, "node_name", None)
    info = by_group_resource("pods" if kind == "Pod" else "secrets")
    try:
        obj = await registry.get(info, namespace, name)
    except NotFound:
        if node is not None:  # a node is not told which pods exist elsewhere
            raise _node_forbidden(user, namespace, sa_name, f'pod "{name}" is not bound to node {node}') from None
        raise
    actual = (obj.get("metadata") or {}).get("uid", "")
    if uid and uid != actual:
        raise Conflict(f"the UID in the bound object reference ({uid}) does not match the UID in record "
                       f"({actual}). The object might have been deleted and then recreated")
    if kind == "Pod":
        spec = obj.get("spec") or {}
        if node is not None and spec.get("nodeName") != node:
            # NodeRestriction: a node gets tokens only for the pods it runs.
            raise _node_forbidden(user, namespace, sa_name, f'pod "{name}" is not bound to node {node}')
        runs_as = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        if runs_as != sa_name:
            raise BadRequest(f'cannot bind token for serviceaccount "{sa_name}" to pod running with different '
                             f'serviceaccount name.')
    out = {"kind": kind, "apiVersion": "v1", "name": name, "uid": actual}
    return (BoundPod(name, actual) if kind == "Pod" else None), out


def _token_request(namespace: str, name: str, now: datetime, spec: dict[str, Any],
                   status: dict[str, Any] | None) -> dict[str, Any]:
    return {"kind": "TokenRequest", "apiVersion": TOKEN_REQUEST_API_VERSION,
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": rfc3339(now)},
            "spec": spec, "status": status or {"token": "", "expirationTimestamp": None}}


class ServiceAccountStrategy(BaseStrategy):
    printer = tables.TablePrinter(service_account_columns(), service_account_row)


class ServiceAccountAdmission:
    """The ServiceAccount admission plugin, on pod create: ``serviceAccountName`` defaults to
    ``default`` and the deprecated ``serviceAccount`` follows it.

    Unlike upstream, a pod naming a ServiceAccount that does not exist is admitted (a lab may run
    without the controller manager that creates ``default``; its node agent then starts the pod
    without a token, orchestrator/nodeagent/credentials.py), and a ServiceAccount's own
    ``automountServiceAccountToken: false`` is not carried onto its pods yet (that needs a read of
    the ServiceAccount here); the pod's own field is honoured."""

    async def admit(self, attrs: Any) -> None:
        if attrs.operation != "CREATE" or attrs.info.group_resource != "pods" or attrs.subresource:
            return
        if not isinstance(attrs.obj.get("spec", {}), dict):
            return  # not an object: the strategy's validation says what is wrong
        spec = attrs.obj.setdefault("spec", {})
        name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = name
        spec["serviceAccount"] = name


TOKEN = TokenRequestREST()
STRATEGIES = (ServiceAccountStrategy(by_group_resource("serviceaccounts")),)
SUBRESOURCES = {("serviceaccounts", "token"): TOKEN}
