"""Exercise of notebook 00b: do the scheduler's job — bind one pod to a node by hand.

With no scheduler running, the ReplicaSet's pods stay Pending with an empty ``spec.nodeName``.
Binding a pod is one request: POST a ``Binding`` to the pod's ``binding`` subresource,

    POST /api/v1/namespaces/<namespace>/pods/<pod>/binding
    {"apiVersion": "v1", "kind": "Binding",
     "metadata": {"name": "<pod>"},
     "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}

which is exactly what the scheduler sends once it has picked a node. Bind the pod named ``pod`` to
``node-1`` (the node does not exist yet: the API server does not mind — a node agent called
``node-1`` will find the pod when it starts). Then:

    labs.check("bind-by-hand", lab=lab, namespace=NS, pod=pod)
"""

from __future__ import annotations

from typing import Any

from labs.checks import Checker, register

NODE = "node-1"


@register("bind-by-hand", title="Bind a pod by hand")
def check(c: Checker, *, lab: Any, namespace: str, pod: str) -> None:
    with lab.http() as client:
        response = client.get(f"/api/v1/namespaces/{namespace}/pods/{pod}")
        if not c.expect(
            response.status_code == 200,
            passed=f"pod {pod} exists",
            failed=f"there is no pod {pod!r} in {namespace!r} (the API server answered {response.status_code})",
            hint="pass the name of one of the Pending pods the ReplicaSet made (the notebook printed it)",
        ):
            return
        obj = response.json()
        node = (obj.get("spec") or {}).get("nodeName")
        if not c.expect(
            node == NODE,
            passed=f"spec.nodeName is {NODE}: the pod is bound, and only the node agent of {NODE} will run it",
            failed=f"spec.nodeName is {node!r}, not {NODE!r}" if node else "spec.nodeName is still empty",
            hint=("POST a Binding to the pod's binding subresource: "
                  "api.post(f'/api/v1/namespaces/{NS}/pods/{pod}/binding', json={'apiVersion': 'v1', "
                  "'kind': 'Binding', 'metadata': {'name': pod}, 'target': {...}}), with a target of kind Node"
                  if not node else f"a pod is bound once; this one went to {node}. Pick another Pending pod"),
        ):
            return
        selector = ",".join(f"{k}={v}" for k, v in ((obj.get("metadata") or {}).get("labels") or {}).items()
                            if k != "pod-template-hash")
        siblings = client.get(f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": selector}).json()
    others = [p["metadata"]["name"] for p in siblings.get("items") or []
              if p["metadata"]["name"] != pod and (p.get("spec") or {}).get("nodeName")]
    c.expect(
        not others or lab.supervisor.is_running("scheduler"),
        passed="and it is the only one you bound: the others wait for the scheduler",
        failed=f"{', '.join(others)} are bound too, yet no scheduler runs: you bound more than one",
        hint="that is not wrong for Kubernetes, but the notebook's next step wants one Pending pod "
             "left for the scheduler; bind exactly one",
    )
