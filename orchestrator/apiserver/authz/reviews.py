"""Reviews: the API server answers "may this user do that?" and "who am I?" as objects.

Each review is a create-only resource: the client POSTs a spec, the server fills ``status`` and
returns the whole object with 201, and nothing is stored (there is nothing to get, list or
watch). What each answers, from the same authorizer chain that guards every request, so
``kubectl auth can-i`` and the server never disagree:

    SelfSubjectAccessReview       may *I* do this (resourceAttributes or nonResourceAttributes)?
    SubjectAccessReview           may spec.user / spec.groups do this?      (needs create on it)
    LocalSubjectAccessReview      the same, in the namespace of the URL     (admin may, in its namespace)
    SelfSubjectRulesReview        everything I may do in spec.namespace     (``auth can-i --list``)
    SelfSubjectReview             who the server thinks I am                (``auth whoami``)

The handlers have the ``SubresourceHandler`` shape (``async (registry, request) -> (status,
body)``, orchestrator/apiserver/registry/strategy.py): the route authenticates and authorizes
``create`` on the review resource as for any create, then calls the handler from
``review_handlers(chain)`` by group-resource. ``registry`` is not used.

Kubernetes equivalent: pkg/registry/authorization/{selfsubjectaccessreview,subjectaccessreview,
localsubjectaccessreview,selfsubjectrulesreview}/rest.go, pkg/registry/authentication/selfsubjectreview,
pkg/apis/authorization/validation/validation.go
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from orchestrator.api.errors import BadRequest
from orchestrator.api.models import model_for, prune
from orchestrator.api.resources import AUTHENTICATION_GROUP, AUTHORIZATION_GROUP, ResourceInfo, lookup
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes, Chain, Decision, Verdict, groups_of
from orchestrator.apiserver.validation import FieldErrors

Obj = dict[str, Any]
ReviewHandler = Callable[[Any, Any], Awaitable[tuple[int, Obj]]]


def _decode(info: ResourceInfo, body: Any) -> Obj:
    """The body as the review's model knows it (unknown fields dropped), kind checked."""
    if not isinstance(body, Mapping):
        raise BadRequest(f"the body of a {info.kind} must be a JSON object")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind not in (None, info.kind) or api_version not in (None, info.api_version):
        raise BadRequest(f"the body must be a {info.kind} ({info.api_version}); got {kind} ({api_version})")
    model = model_for(info.api_version, info.kind)
    assert model is not None
    obj: Obj = prune(model, dict(body))
    obj["apiVersion"], obj["kind"] = info.api_version, info.kind
    obj["metadata"] = obj.get("metadata") or {}
    obj.setdefault("spec", {})
    return obj


def _spec_attributes(user: User, spec: Mapping[str, Any], errs: FieldErrors) -> Attributes | None:
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if resource is None and non_resource is None:
        errs.invalid("spec.resourceAttributes", None, "exactly one of nonResourceAttributes or resourceAttributes must be specified")
        return None
    if resource is not None and non_resource is not None:
        errs.invalid("spec.nonResourceAttributes", non_resource, "cannot be specified in combination with resourceAttributes")
        return None
    if non_resource is not None:
        return Attributes.non_resource(user, non_resource.get("verb") or "", non_resource.get("path") or "")
    selector = resource.get("fieldSelector") or {}
    return Attributes(user=user, verb=resource.get("verb") or "", resource=resource.get("resource") or "",
                      api_group=resource.get("group") or "", subresource=resource.get("subresource") or "",
                      namespace=resource.get("namespace") or "", name=resource.get("name") or "",
                      api_version=resource.get("version") or "*",
                      field_selector=selector.get("rawSelector") if isinstance(selector, Mapping) else None)


def _status(decision: Decision) -> Obj:
    status: Obj = {"allowed": decision.allowed}
    if decision.verdict is Verdict.DENY:
        status["denied"] = True
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _info(group: str, plural: str) -> ResourceInfo:
    info = lookup(group, plural)
    assert info is not None, plural
    return info


async def self_subject_access_review(chain: Chain, user: User, body: Any) -> Obj:
    info = _info(AUTHORIZATION_GROUP, "selfsubjectaccessreviews")
    obj = _decode(info, body)
    errs = FieldErrors()
    attrs = _spec_attributes(user, obj["spec"], errs)
    errs.raise_if_any(info.kind, info.group, obj["metadata"].get("name", ""))
    assert attrs is not None
    obj["status"] = _status(await chain.authorize(attrs))
    return obj


def _subject(spec: Mapping[str, Any]) -> User:
    return User(spec.get("user") or "", spec.get("uid") or "", tuple(spec.get("groups") or ()))


async def subject_access_review(chain: Chain, user: User, body: Any, *, namespace: str | None = None) -> Obj:
    """SubjectAccessReview, or LocalSubjectAccessReview when ``namespace`` (the URL's) is given."""
    local = namespace is not None
    info = _info(AUTHORIZATION_GROUP, "localsubjectaccessreviews" if local else "subjectaccessreviews")
    obj = _decode(info, body)
    spec = obj["spec"]
    errs = FieldErrors()
    if not spec.get("user") and not spec.get("groups"):
        errs.invalid("spec.user", spec.get("user") or "", "at least one of user or group must be specified")
    if local:
        meta_ns = obj["metadata"].get("namespace")
        if meta_ns not in (None, "", namespace):
            errs.invalid("metadata.namespace", meta_ns, "must match the namespace of the request")
        obj["metadata"]["namespace"] = namespace
        if spec.get("nonResourceAttributes") is not None:
            errs.invalid("spec.nonResourceAttributes", spec["nonResourceAttributes"], "disallowed on this kind of request")
        resource = spec.get("resourceAttributes")
        if isinstance(resource, dict):
            if resource.get("namespace") not in (None, "", namespace):
                errs.invalid("spec.resourceAttributes.namespace", resource.get("namespace"),
                             "must match metadata.namespace")
            resource["namespace"] = namespace
    attrs = _spec_attributes(_subject(spec), spec, errs)
    errs.raise_if_any(info.kind, info.group, obj["metadata"].get("name", ""))
    assert attrs is not None
    obj["status"] = _status(await chain.authorize(attrs))
    return obj


async def self_subject_rules_review(chain: Chain, user: User, body: Any) -> Obj:
    info = _info(AUTHORIZATION_GROUP, "selfsubjectrulesreviews")
    obj = _decode(info, body)
    namespace = obj["spec"].get("namespace") or ""
    if not namespace:
        raise BadRequest("no namespace on request: spec.namespace is required")
    rules = chain.rules_for(user, namespace)
    status: Obj = {"resourceRules": rules.resource_rules, "nonResourceRules": rules.non_resource_rules,
                   "incomplete": rules.incomplete}
    if rules.errors:
        status["evaluationError"] = "; ".join(rules.errors)
    obj["status"] = status
    return obj


def self_subject_review(user: User, body: Any) -> Obj:
    info = _info(AUTHENTICATION_GROUP, "selfsubjectreviews")
    obj = _decode(info, body)
    obj.pop("spec", None)
    user_info: Obj = {"username": user.name, "groups": list(groups_of(user))}
    if user.uid:
        user_info["uid"] = user.uid
    obj["status"] = {"userInfo": user_info}
    return obj


def review_handlers(chain: Chain) -> dict[str, ReviewHandler]:
    """Handler per group-resource (``selfsubjectaccessreviews.authorization.k8s.io``...), each
    ``async (registry, request) -> (201, body)``; ``request`` has ``user``, ``body``, ``namespace``."""

    async def ssar(_registry: Any, request: Any) -> tuple[int, Obj]:
        return 201, await self_subject_access_review(chain, request.user, request.body)

    async def sar(_registry: Any, request: Any) -> tuple[int, Obj]:
        return 201, await subject_access_review(chain, request.user, request.body)

    async def lsar(_registry: Any, request: Any) -> tuple[int, Obj]:
        return 201, await subject_access_review(chain, request.user, request.body, namespace=request.namespace or "")

    async def ssrr(_registry: Any, request: Any) -> tuple[int, Obj]:
        return 201, await self_subject_rules_review(chain, request.user, request.body)

    async def ssr(_registry: Any, request: Any) -> tuple[int, Obj]:
        return 201, self_subject_review(request.user, request.body)

    return {
        f"selfsubjectaccessreviews.{AUTHORIZATION_GROUP}": ssar,
        f"subjectaccessreviews.{AUTHORIZATION_GROUP}": sar,
        f"localsubjectaccessreviews.{AUTHORIZATION_GROUP}": lsar,
        f"selfsubjectrulesreviews.{AUTHORIZATION_GROUP}": ssrr,
        f"selfsubjectreviews.{AUTHENTICATION_GROUP}": ssr,
    }
