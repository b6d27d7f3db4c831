"""Reference solution of the `bind-by-hand` exercise (notebook 00b)."""

from __future__ import annotations

from typing import Any


def solve(lab: Any, namespace: str, pod: str) -> None:
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    with lab.http() as client:
        response = client.post(f"/api/v1/namespaces/{namespace}/pods/{pod}/binding", json=binding)
    assert response.status_code == 201, response.text
