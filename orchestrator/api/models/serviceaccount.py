"""core/v1 ServiceAccount and authentication.k8s.io/v1 TokenRequest (the serviceaccounts/token body).

Kubernetes equivalent: k8s.io/api/core/v1/types.go (ServiceAccount),
k8s.io/api/authentication/v1/types.go (TokenRequest)
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.api.models.core import LocalObjectReference, ObjectReference, _Core
from orchestrator.api.models.meta import K8sModel, ObjectMeta, Time, TypedModel, doc, merge_list


class ServiceAccount(_Core, TypedModel):
    """ServiceAccount binds together a name, understood by users and perhaps by peripheral systems,
    for an identity; a pod runs as one and receives a token for it."""

    gvk = ("", "v1", "ServiceAccount")

    metadata: ObjectMeta | None = None
    secrets: list[ObjectReference] | None = merge_list(
        "name", description="Secrets is a list of the secrets in the same namespace that pods running using "
        "this ServiceAccount are allowed to use. Kept as given; this lab issues bound tokens instead.")
    image_pull_secrets: list[LocalObjectReference] | None = doc("Kept as given.")
    automount_service_account_token: bool | None = doc(
        "AutomountServiceAccountToken indicates whether pods running as this service account should have an "
        "API token automatically mounted. Can be overridden at the pod level.")


class _Authentication(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.authentication.v1"


class BoundObjectReference(_Authentication):
    """BoundObjectReference is a reference to an object that a token is bound to (a Pod or a Secret)."""

    kind: str | None = doc("Kind of the referent. Valid kinds are 'Pod' and 'Secret'.")
    api_version: str | None = doc("API version of the referent.")
    name: str | None = doc("Name of the referent.")
    uid: str | None = doc("UID of the referent.")


class TokenRequestSpec(_Authentication):
    """TokenRequestSpec contains client provided parameters of a token request."""

    audiences: list[str] | None = doc(
        "Audiences are the intendend audiences of the token. Empty: the API server's own audience.")
    expiration_seconds: int | None = doc(
        "ExpirationSeconds is the requested duration of validity of the request (at least 600; default 3600).")
    bound_object_ref: BoundObjectReference | None = doc(
        "BoundObjectRef is a reference to an object that the token will be bound to.")


class TokenRequestStatus(_Authentication):
    """TokenRequestStatus is the result of a token request."""

    token: str | None = doc("Token is the opaque bearer token.")
    expiration_timestamp: Time | None = doc("ExpirationTimestamp is the time of expiration of the returned token.")


class TokenRequest(_Authentication, TypedModel):
    """TokenRequest requests a token for a given service account."""

    gvk = ("authentication.k8s.io", "v1", "TokenRequest")

    metadata: ObjectMeta | None = None
    spec: TokenRequestSpec | None = None
    status: TokenRequestStatus | None = None
