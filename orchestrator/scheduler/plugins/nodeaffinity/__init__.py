"""NodeAffinity: a pod's nodeSelector and node affinity choose among nodes by their labels.

Filter: every nodeSelector label must match, and at least one of the
requiredDuringSchedulingIgnoredDuringExecution nodeSelectorTerms must match (terms are ORed,
the requirements inside a term ANDed; a term with no requirements matches nothing). Operators:
In, NotIn, Exists, DoesNotExist, Gt, Lt on labels; In, NotIn on the field metadata.name.
Rejection: "node(s) didn't match Pod's node affinity/selector" (unresolvable).

Score: the sum of the weights of the preferredDuringScheduling terms a node matches, scaled
so the best node gets 100. Worked example: terms {zone=a: 80, disk=ssd: 20}; a node in zone a
without ssd scores 80, one with both 100, one with neither 0 -> normalized 80, 100, 0.

Kubernetes equivalent: pkg/scheduler/framework/plugins/nodeaffinity,
k8s.io/component-helpers/scheduling/corev1/nodeaffinity
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.scheduler.framework.interfaces import (
    SKIP,
    SUCCESS,
    CycleState,
    Handle,
    PluginArgs,
    Pod,
    PreFilterResult,
    Status,
    default_normalize_score,
)
from orchestrator.scheduler.framework.nodeinfo import NodeInfo

NAME = "NodeAffinity"
ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
_REJECTED = Status.unresolvable(ERR_REASON_POD)
_PRE_SCORE_KEY = "PreScore" + NAME


def _to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def match_requirement(requirement: Mapping[str, Any], value: str | None) -> bool:
    """One matchExpressions entry against a label value (None: the label is absent)."""
    operator = requirement.get("operator")
    values = requirement.get("values") or ()
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt"):
        have = _to_int(value)
        want = _to_int(values[0]) if len(values) == 1 else None
        if have is None or want is None:
            return False
        return have > want if operator == "Gt" else have < want
    return False


def match_term(term: Mapping[str, Any], node_info: NodeInfo) -> bool:
    """A nodeSelectorTerm: all its expressions and fields match; an empty term matches nothing."""
    expressions = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    if not expressions and not fields:
        return False
    labels = node_info.labels
    for requirement in expressions:
        if not match_requirement(requirement, labels.get(requirement.get("key", ""))):
            return False
    for requirement in fields:
        if requirement.get("key") != "metadata.name" or requirement.get("operator") not in ("In", "NotIn"):
            return False
        if not match_requirement(requirement, node_info.name):
            return False
    return True


def _required_terms(pod: Pod) -> Sequence[Mapping[str, Any]] | None:
    node_affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return None
    return required.get("nodeSelectorTerms") or ()


def pod_matches_node(pod: Pod, node_info: NodeInfo) -> bool:
    """nodeSelector and required node affinity, as the Filter applies them."""
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    labels = node_info.labels
    for key, value in selector.items():
        if labels.get(key) != value:
            return False
    terms = _required_terms(pod)
    if terms is None:
        return True
    return any(match_term(term, node_info) for term in terms)


class NodeAffinity:
    name = NAME

    def __init__(self, args: PluginArgs | None = None, handle: Handle | None = None) -> None:
        pass

    def pre_filter(self, state: CycleState, pod: Pod) -> tuple[PreFilterResult | None, Status]:
        if not (pod.get("spec") or {}).get("nodeSelector") and _required_terms(pod) is None:
            return None, SKIP
        return None, SUCCESS

    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        if pod_matches_node(pod, node_info):
            return SUCCESS
        return _REJECTED

    def filter_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[Status]:
        return [SUCCESS if pod_matches_node(pod, ni) else _REJECTED for ni in nodes]

    def pre_score(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> Status:
        node_affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
        preferred = node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
        terms = [(int(p.get("weight") or 0), p.get("preference") or {}) for p in preferred]
        terms = [(weight, term) for weight, term in terms if weight]
        if not terms:
            return SKIP
        state.write(_PRE_SCORE_KEY, terms)
        return SUCCESS

    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        terms = state.get(_PRE_SCORE_KEY) or ()
        return sum(weight for weight, term in terms if match_term(term, node_info))

    def normalize_score(self, state: CycleState, pod: Pod, scores: list[int]) -> list[int]:
        return default_normalize_score(scores, reverse=False)
