"""Exercise of notebook 07: predict the priority level API Priority and Fairness gives five
requests, then let the check send them and read where the API server put each one.

Read the flow schemas first (``kubectl get flowschemas``, lowest MATCHINGPRECEDENCE first: the
first schema whose rules match a request decides its level), then fill in a level name for each
request and run

    labs.check("priority-levels", lab=lab, predictions=my_levels)

The check sends each request as the identity named, reads the ``X-Kubernetes-PF-PriorityLevel-UID``
header of the answer and looks the uid up among the PriorityLevelConfiguration objects: the
answer comes from the API server, never from a copy of its rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labs.checks import Checker, register


@dataclass(frozen=True)
class Request:
    """One request the check makes: who sends it, and what it asks."""

    identity: str  # a lab identity: admin, viewer, scheduler, controller-manager
    method: str
    path: str
    body: dict[str, Any] | None = None


def requests(node_lease: str) -> dict[str, Request]:
    """The five requests, by the name the notebook's answer dict uses. `node_lease` is the name of
    a Lease in kube-node-lease (a fleet's node)."""
    return {
        "fleet renews a node Lease": Request(
            "controller-manager", "PATCH",
            f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node_lease}", {}),
        "controller manager reads its leader Lease": Request(
            "controller-manager", "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"
                                         "kube-controller-manager"),
        "scheduler lists pods": Request("scheduler", "GET", "/api/v1/pods?limit=1"),
        "viewer lists pods": Request("viewer", "GET", "/api/v1/pods?limit=1"),
        "admin lists pods": Request("admin", "GET", "/api/v1/pods?limit=1"),
    }


QUESTIONS = tuple(requests("node").keys())


@dataclass(frozen=True)
class Names:
    """The flow schemas' and priority levels' names by uid, as the API server lists them."""

    schemas: dict[str, str]
    levels: dict[str, str]

    @classmethod
    def read(cls, lab: Any) -> Names:
        with lab.http("admin") as admin:
            return cls(_names_by_uid(admin.get("/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas").json()),
                       _names_by_uid(admin.get("/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations")
                                     .json()))


def classify(lab: Any, request: Request, names: Names) -> tuple[str, str]:
    """Send `request` as its identity; (flow schema, priority level) named by the answer's headers."""
    with lab.http(request.identity) as client:
        headers = {"Content-Type": "application/merge-patch+json"} if request.method == "PATCH" else {}
        response = client.request(request.method, request.path, json=request.body, headers=headers)
    return (names.schemas.get(response.headers.get("X-Kubernetes-PF-FlowSchema-UID", ""), "?"),
            names.levels.get(response.headers.get("X-Kubernetes-PF-PriorityLevel-UID", ""), "?"))


def any_node_lease(lab: Any) -> str | None:
    with lab.http("admin") as admin:
        items = admin.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases?limit=1").json().get("items")
    return items[0]["metadata"]["name"] if items else None


def _names_by_uid(listed: dict[str, Any]) -> dict[str, str]:
    return {o["metadata"]["uid"]: o["metadata"]["name"] for o in listed.get("items") or []}


_HINTS = {
    "fleet renews a node Lease": "a fleet acts for its nodes with the controller manager's identity; look for a "
                                 "schema with a lower precedence than kube-controller-manager that names Leases in "
                                 "kube-node-lease (kubectl get flowschema node-fleets -o yaml)",
    "controller manager reads its leader Lease": "system-leader-election (precedence 100) matches the controller "
                                                 "manager's get, create and update of Leases",
    "scheduler lists pods": "the schemas are tried by precedence; kube-scheduler (800) names the scheduler's user "
                            "and comes before the catch-alls",
    "viewer lists pods": "viewer is in no special group: which schema matches every authenticated user?",
    "admin lists pods": "admin is in the group system:masters: look at the schema with precedence 1",
}


@register("priority-levels", title="Predict the priority level of five requests", notebook="07-scale")
def check(c: Checker, *, lab: Any, predictions: Any = None) -> None:
    if not c.expect(
        isinstance(predictions, dict) and set(predictions) == set(QUESTIONS),
        passed="you answered each of the five requests",
        failed=f"predictions should be a dict with the five requests as keys, got {predictions!r}"[:300],
        hint="keep the keys of my_levels as they are and put a priority level name as each value",
    ):
        return
    unanswered = [q for q, level in predictions.items() if not isinstance(level, str) or not level]
    if not c.expect(
        not unanswered,
        passed="every answer is a priority level name",
        failed=f"no level named for: {', '.join(unanswered)}",
        hint="kubectl get prioritylevelconfigurations lists the names: exempt, system, node-high, leader-election, "
             "workload-high, workload-low, global-default, catch-all",
    ):
        return
    lease = any_node_lease(lab)
    if not c.expect(lease is not None, passed=f"the fleets' nodes have Leases ({lease}, ...)",
                    failed="there is no Lease in kube-node-lease", hint="start the fleets first (the cells above)"):
        return
    assert lease is not None
    names = Names.read(lab)
    for question, request in requests(lease).items():
        schema, level = classify(lab, request, names)
        c.expect(
            predictions[question] == level,
            passed=f"{question}: {level} (flow schema {schema})",
            failed=f"{question}: you said {predictions[question]!r}, the API server said {level!r}",
            hint=_HINTS[question],
        )
