"""authorization.k8s.io/v1 and authentication.k8s.io/v1 reviews: questions put to the API server.

A review is created and answered in one request and never stored: ``kubectl auth can-i`` sends a
SelfSubjectAccessReview ("may I get pods?"), ``auth can-i --list`` a SelfSubjectRulesReview
("what may I do in this namespace?"), an admin asks about someone else with a SubjectAccessReview
(or a LocalSubjectAccessReview in one namespace), and ``kubectl auth whoami`` sends a
SelfSubjectReview ("who does the server think I am?").

Kubernetes equivalent: k8s.io/api/authorization/v1/types.go, k8s.io/api/authentication/v1/types.go
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator.api.models.meta import K8sModel, ObjectMeta, TypedModel, doc


class _Authorization(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.authorization.v1"


class _Authentication(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.authentication.v1"


class ResourceAttributes(_Authorization):
    """ResourceAttributes includes the authorization attributes available for resource requests."""

    namespace: str | None = doc("Namespace is the namespace of the action being requested.")
    verb: str | None = doc("Verb is a kubernetes resource API verb, like: get, list, watch, create, update, delete, proxy. \"*\" means all.")
    group: str | None = doc("Group is the API Group of the Resource. \"*\" means all.")
    version: str | None = doc("Version is the API Version of the Resource. \"*\" means all.")
    resource: str | None = doc("Resource is one of the existing resource types. \"*\" means all.")
    subresource: str | None = doc("Subresource is one of the existing resource types. \"\" means none.")
    name: str | None = doc("Name is the name of the resource being requested for a \"get\" or deleted for a \"delete\". \"\" (empty) means all.")
    field_selector: dict[str, Any] | None = doc("fieldSelector describes the limitation on access based on field; kept as given.")
    label_selector: dict[str, Any] | None = doc("labelSelector describes the limitation on access based on labels; kept as given.")


class NonResourceAttributes(_Authorization):
    """NonResourceAttributes includes the authorization attributes available for non-resource requests."""

    path: str | None = doc("Path is the URL path of the request")
    verb: str | None = doc("Verb is the standard HTTP verb")


class SubjectAccessReviewSpec(_Authorization):
    """SubjectAccessReviewSpec is a description of the access request. Exactly one of
    ResourceAuthorizationAttributes and NonResourceAuthorizationAttributes must be set."""

    resource_attributes: ResourceAttributes | None = doc("ResourceAuthorizationAttributes describes information for a resource access request")
    non_resource_attributes: NonResourceAttributes | None = doc("NonResourceAttributes describes information for a non-resource access request")
    user: str | None = doc("User is the user you're testing for.")
    groups: list[str] | None = doc("Groups is the groups you're testing for.")
    extra: dict[str, list[str]] | None = doc("Extra corresponds to the user.Info.GetExtra() method from the authenticator.")
    uid: str | None = doc("UID information about the requesting user.")


class SelfSubjectAccessReviewSpec(_Authorization):
    """SelfSubjectAccessReviewSpec is a description of the access request. Exactly one of
    ResourceAuthorizationAttributes and NonResourceAuthorizationAttributes must be set."""

    resource_attributes: ResourceAttributes | None = doc("ResourceAuthorizationAttributes describes information for a resource access request")
    non_resource_attributes: NonResourceAttributes | None = doc("NonResourceAttributes describes information for a non-resource access request")


class SubjectAccessReviewStatus(_Authorization):
    """SubjectAccessReviewStatus: the answer."""

    allowed: bool | None = doc("Allowed is required. True if the action would be allowed, false otherwise.")
    denied: bool | None = doc("Denied is optional. True if the action would be denied, otherwise false.")
    reason: str | None = doc("Reason is optional. It indicates why a request was allowed or denied.")
    evaluation_error: str | None = doc("EvaluationError is an indication that some error occurred during the authorization check.")


class SubjectAccessReview(_Authorization, TypedModel):
    """SubjectAccessReview checks whether or not a user or group can perform an action."""

    gvk = ("authorization.k8s.io", "v1", "SubjectAccessReview")
    required_fields = ("spec",)

    metadata: ObjectMeta | None = None
    spec: SubjectAccessReviewSpec | None = doc("Spec holds information about the request being evaluated")
    status: SubjectAccessReviewStatus | None = doc("Status is filled in by the server and indicates whether the request is allowed or not")


class SelfSubjectAccessReview(_Authorization, TypedModel):
    """SelfSubjectAccessReview checks whether or the current user can perform an action."""

    gvk = ("authorization.k8s.io", "v1", "SelfSubjectAccessReview")
    required_fields = ("spec",)

    metadata: ObjectMeta | None = None
    spec: SelfSubjectAccessReviewSpec | None = doc("Spec holds information about the request being evaluated.  user and groups must be empty")
    status: SubjectAccessReviewStatus | None = doc("Status is filled in by the server and indicates whether the request is allowed or not")


class LocalSubjectAccessReview(_Authorization, TypedModel):
    """LocalSubjectAccessReview checks whether or not a user or group can perform an action in a
    given namespace."""

    gvk = ("authorization.k8s.io", "v1", "LocalSubjectAccessReview")
    required_fields = ("spec",)

    metadata: ObjectMeta | None = None
    spec: SubjectAccessReviewSpec | None = doc("Spec holds information about the request being evaluated.  spec.namespace must be equal to the namespace you made the request against.")
    status: SubjectAccessReviewStatus | None = doc("Status is filled in by the server and indicates whether the request is allowed or not")


class SelfSubjectRulesReviewSpec(_Authorization):
    """SelfSubjectRulesReviewSpec defines the specification for SelfSubjectRulesReview."""

    namespace: str | None = doc("Namespace to evaluate rules for. Required.")


class ResourceRule(_Authorization):
    """ResourceRule is the list of actions the subject is allowed to perform on resources."""

    verbs: list[str] | None = doc("Verb is a list of kubernetes resource API verbs.")
    api_groups: list[str] | None = doc("APIGroups is the name of the APIGroup that contains the resources.")
    resources: list[str] | None = doc("Resources is a list of resources this rule applies to.")
    resource_names: list[str] | None = doc("ResourceNames is an optional white list of names that the rule applies to.")


class NonResourceRule(_Authorization):
    """NonResourceRule holds information that describes a rule for the non-resource."""

    verbs: list[str] | None = doc("Verb is a list of kubernetes non-resource API verbs.")
    non_resource_ur_ls: list[str] | None = doc("NonResourceURLs is a set of partial urls that a user should have access to.", alias="nonResourceURLs")


class SubjectRulesReviewStatus(_Authorization):
    """SubjectRulesReviewStatus contains the result of a rules check."""

    resource_rules: list[ResourceRule] | None = doc("ResourceRules is the list of actions the subject is allowed to perform on resources.")
    non_resource_rules: list[NonResourceRule] | None = doc("NonResourceRules is the list of actions the subject is allowed to perform on non-resources.")
    incomplete: bool | None = doc("Incomplete is true when the rules returned by this call are incomplete.")
    evaluation_error: str | None = doc("EvaluationError can appear in combination with Rules.")


class SelfSubjectRulesReview(_Authorization, TypedModel):
    """SelfSubjectRulesReview enumerates the set of actions the current user can perform within a namespace."""

    gvk = ("authorization.k8s.io", "v1", "SelfSubjectRulesReview")
    required_fields = ("spec",)

    metadata: ObjectMeta | None = None
    spec: SelfSubjectRulesReviewSpec | None = doc("Spec holds information about the request being evaluated.")
    status: SubjectRulesReviewStatus | None = doc("Status is filled in by the server and indicates the set of actions a user can perform.")


class UserInfo(_Authentication):
    """UserInfo holds the information about the user needed to implement the user.Info interface."""

    username: str | None = doc("The name that uniquely identifies this user among all active users.")
    uid: str | None = doc("A unique value that identifies this user across time.")
    groups: list[str] | None = doc("The names of groups this user is a part of.")
    extra: dict[str, list[str]] | None = doc("Any additional information provided by the authenticator.")


class SelfSubjectReviewStatus(_Authentication):
    """SelfSubjectReviewStatus is filled by the kube-apiserver and sent back to a user."""

    user_info: UserInfo | None = doc("User attributes of the user making this request.")


class SelfSubjectReview(_Authentication, TypedModel):
    """SelfSubjectReview contains the user information that the kube-apiserver has about the user
    making this request."""

    gvk = ("authentication.k8s.io", "v1", "SelfSubjectReview")

    metadata: ObjectMeta | None = None
    status: SelfSubjectReviewStatus | None = doc("Status is filled in by the server with the user attributes.")
