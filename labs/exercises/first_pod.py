"""Exercise of notebook 00: run your own first pod.

Create a pod called ``my-first-pod`` with the label ``app: mine`` (any image and command that keep
running will do; copy the ``hello`` pod of the notebook). Then:

    labs.check("first-pod", lab=lab)

The check reads the pod through the API server and tells you which step of its life it reached:
created → labelled → bound to a node by the scheduler → Running on that node.
"""

from __future__ import annotations

from typing import Any

from labs.checks import Checker, register

POD_NAME = "my-first-pod"
LABEL = ("app", "mine")


@register("first-pod", title="Your first pod", notebook="00-welcome")
def check(c: Checker, *, lab: Any, namespace: str | None = None) -> None:
    # A lab connected by a classroom kubeconfig works in the student's namespace (labs/connect.py).
    namespace = namespace or getattr(lab, "namespace", None) or "default"
    with lab.http() as client:
        response = client.get(f"/api/v1/namespaces/{namespace}/pods/{POD_NAME}")
    if not c.expect(
        response.status_code == 200,
        passed=f"pod {POD_NAME} exists (the API server stored it in PostgreSQL)",
        failed=f"there is no pod called {POD_NAME!r} in namespace {namespace!r} yet "
        f"(the API server answered {response.status_code})",
        hint=f"copy the hello pod's manifest, set metadata.name to {POD_NAME!r} and "
        "labels to {app: mine}, and pass it to lab.apply(...)",
    ):
        return
    pod = response.json()
    labels = pod["metadata"].get("labels") or {}
    key, value = LABEL
    c.expect(
        labels.get(key) == value,
        passed=f"it has the label {key}={value}, so selectors like -l {key}={value} find it",
        failed=f"its labels are {labels or 'empty'}, not {key}={value}",
        hint=f"add metadata.labels: {{{key}: {value}}} and apply again "
        f"(or: lab.kubectl('label', 'pod', '{POD_NAME}', '{key}={value}', '--overwrite'))",
    )
    node = (pod.get("spec") or {}).get("nodeName")
    if not c.expect(
        bool(node),
        passed=f"the scheduler bound it to {node}",
        failed="it is not bound to a node yet (spec.nodeName is empty)",
        hint="give the scheduler a moment and check again; if it stays unbound, "
        f"lab.kubectl('describe', 'pod', '{POD_NAME}') shows the scheduler's reasons",
    ):
        return
    phase = (pod.get("status") or {}).get("phase")
    c.expect(
        phase == "Running",
        passed=f"{node}'s node agent started it: phase Running",
        failed=f"its phase is {phase}, not Running yet",
        hint="wait a few seconds and check again; a container that exits at once never stays "
        "Running, so give it a command that keeps running, e.g. ['sleep', '3600']",
    )
