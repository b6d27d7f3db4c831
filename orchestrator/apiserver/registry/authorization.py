"""The reviews (authorization.k8s.io SubjectAccessReviews, SelfSubjectRulesReview,
authentication.k8s.io SelfSubjectReview): create-only questions, never stored.

Their strategies are the generic ones, kept so that every served resource has one (discovery,
OpenAPI and decoding read them); the answer is computed by the handlers in
``orchestrator/apiserver/authz/reviews.py``, which the create route calls for a resource that
is not ``stored`` (``ResourceInfo.stored``), instead of the generic registry's create.

Kubernetes equivalent: pkg/registry/authorization/*/rest.go, pkg/registry/authentication/selfsubjectreview
"""

from __future__ import annotations

from orchestrator.api.resources import AUTHENTICATION_GROUP, AUTHORIZATION_GROUP, RESOURCES
from orchestrator.apiserver.registry.base import BaseStrategy

STRATEGIES = tuple(BaseStrategy(info) for info in RESOURCES
                   if info.group in (AUTHORIZATION_GROUP, AUTHENTICATION_GROUP) and not info.stored)
