"""flowcontrol.apiserver.k8s.io/v1 FlowSchema and PriorityLevelConfiguration: API Priority and
Fairness' configuration as objects, so `kubectl get flowschemas` shows how requests are classified.
The lab serves them read-only (docs/flowcontrol.md).

Kubernetes equivalent: k8s.io/api/flowcontrol/v1/types.go
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.api.models.meta import K8sModel, ObjectMeta, Time, TypedModel, doc


class _Flowcontrol(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.flowcontrol.v1"


class PriorityLevelConfigurationReference(_Flowcontrol):
    """PriorityLevelConfigurationReference contains information that points to the "request-priority" being used."""

    name: str | None = doc("name is the name of the priority level configuration being referenced.")


class FlowDistinguisherMethod(_Flowcontrol):
    """FlowDistinguisherMethod specifies the method of a flow distinguisher."""

    type: str | None = doc('type is the type of flow distinguisher method: "ByUser" or "ByNamespace".')


class UserSubject(_Flowcontrol):
    """UserSubject holds detailed information for user-kind subject."""

    name: str | None = doc('name is the username that matches, or "*" to match all usernames.')


class GroupSubject(_Flowcontrol):
    """GroupSubject holds detailed information for group-kind subject."""

    name: str | None = doc('name is the user group that matches, or "*" to match all user groups.')


class ServiceAccountSubject(_Flowcontrol):
    """ServiceAccountSubject holds detailed information for service-account-kind subject."""

    namespace: str | None = doc("namespace is the namespace of matching ServiceAccount objects.")
    name: str | None = doc('name is the name of matching ServiceAccount objects, or "*" to match regardless of name.')


class Subject(_Flowcontrol):
    """Subject matches the originator of a request, as identified by the request authentication system."""

    kind: str | None = doc('kind indicates which one of the other fields is non-empty: "User", "Group" or '
                           '"ServiceAccount".')
    user: UserSubject | None = None
    group: GroupSubject | None = None
    service_account: ServiceAccountSubject | None = None


class ResourcePolicyRule(_Flowcontrol):
    """ResourcePolicyRule is a predicate that matches some resource requests."""

    verbs: list[str] | None = doc('verbs is a list of matching verbs; "*" matches all.')
    api_groups: list[str] | None = doc('apiGroups is a list of matching API groups; "*" matches all.')
    resources: list[str] | None = doc('resources is a list of matching resources ("pods", "nodes/status"); '
                                      '"*" matches all.')
    cluster_scope: bool | None = doc("clusterScope indicates whether to match requests that do not specify a "
                                     "namespace.")
    namespaces: list[str] | None = doc('namespaces is a list of target namespaces; "*" matches every namespace.')


class NonResourcePolicyRule(_Flowcontrol):
    """NonResourcePolicyRule is a predicate that matches non-resource requests according to their verb
    and the target non-resource URL."""

    verbs: list[str] | None = doc('verbs is a list of matching verbs; "*" matches all.')
    non_resource_ur_ls: list[str] | None = doc('nonResourceURLs is a set of url prefixes that a user should '
                                                'have access to; "*" matches all.', alias="nonResourceURLs")


class PolicyRulesWithSubjects(_Flowcontrol):
    """PolicyRulesWithSubjects prescribes a test that applies to a request to an apiserver: it matches
    when a subject matches and a resource or non-resource rule matches."""

    subjects: list[Subject] | None = doc("subjects is the list of normal user, serviceaccount, or group that "
                                         "this rule cares about.")
    resource_rules: list[ResourcePolicyRule] | None = None
    non_resource_rules: list[NonResourcePolicyRule] | None = None


class FlowSchemaSpec(_Flowcontrol):
    """FlowSchemaSpec describes how the FlowSchema's specification looks like."""

    priority_level_configuration: PriorityLevelConfigurationReference | None = doc(
        "priorityLevelConfiguration should reference a PriorityLevelConfiguration in the cluster.")
    matching_precedence: int | None = doc("matchingPrecedence is used to choose among the FlowSchemas that match "
                                          "a given request: the lowest number wins.")
    distinguisher_method: FlowDistinguisherMethod | None = doc("distinguisherMethod defines how to compute the "
                                                               "flow distinguisher for requests that match this schema.")
    rules: list[PolicyRulesWithSubjects] | None = doc("rules describes which requests will match this flow schema.")


class FlowSchemaCondition(_Flowcontrol):
    """FlowSchemaCondition describes conditions for a FlowSchema."""

    type: str | None = None
    status: str | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class FlowSchemaStatus(_Flowcontrol):
    """FlowSchemaStatus represents the current state of a FlowSchema."""

    conditions: list[FlowSchemaCondition] | None = None


class FlowSchema(_Flowcontrol, TypedModel):
    """FlowSchema defines the schema of a group of flows."""

    gvk = ("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema")

    metadata: ObjectMeta | None = None
    spec: FlowSchemaSpec | None = None
    status: FlowSchemaStatus | None = None


class QueuingConfiguration(_Flowcontrol):
    """QueuingConfiguration holds the configuration parameters for queuing."""

    queues: int | None = doc("queues is the number of queues for this priority level.")
    hand_size: int | None = doc("handSize is a small positive number that configures the shuffle sharding of "
                                "requests into queues.")
    queue_length_limit: int | None = doc("queueLengthLimit is the maximum number of requests allowed to be "
                                         "waiting in a given queue of this priority level at a time.")


class LimitResponse(_Flowcontrol):
    """LimitResponse defines how to handle requests that can not be executed right now."""

    type: str | None = doc('type is "Queue" or "Reject".')
    queuing: QueuingConfiguration | None = None


class LimitedPriorityLevelConfiguration(_Flowcontrol):
    """LimitedPriorityLevelConfiguration specifies how to handle requests that are subject to limits."""

    nominal_concurrency_shares: int | None = doc("nominalConcurrencyShares (NCS) contributes to the computation of "
                                                 "the NominalConcurrencyLimit: ceil(ServerCL * NCS / sum_ncs).")
    limit_response: LimitResponse | None = None
    lendable_percent: int | None = None
    borrowing_limit_percent: int | None = None


class ExemptPriorityLevelConfiguration(_Flowcontrol):
    """ExemptPriorityLevelConfiguration describes the configurable aspects of the handling of exempt requests."""

    nominal_concurrency_shares: int | None = None
    lendable_percent: int | None = None


class PriorityLevelConfigurationSpec(_Flowcontrol):
    """PriorityLevelConfigurationSpec specifies the configuration of a priority level."""

    type: str | None = doc('type indicates whether this priority level is subject to limitation on request '
                           'execution: "Exempt" or "Limited".')
    limited: LimitedPriorityLevelConfiguration | None = None
    exempt: ExemptPriorityLevelConfiguration | None = None


class PriorityLevelConfigurationStatus(_Flowcontrol):
    """PriorityLevelConfigurationStatus represents the current state of a "request-priority"."""

    conditions: list[FlowSchemaCondition] | None = None


class PriorityLevelConfiguration(_Flowcontrol, TypedModel):
    """PriorityLevelConfiguration represents the configuration of a priority level."""

    gvk = ("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration")

    metadata: ObjectMeta | None = None
    spec: PriorityLevelConfigurationSpec | None = None
    status: PriorityLevelConfigurationStatus | None = None
