"""Reference solution of the `service-selector` exercise (notebook 10)."""

from __future__ import annotations

from typing import Any


def solve(lab: Any, namespace: str) -> None:
    # A JSON merge patch replaces the one wrong value and leaves the rest of the Service as it is.
    with lab.http() as client:
        response = client.patch(f"/api/v1/namespaces/{namespace}/services/shop",
                                json={"spec": {"selector": {"app": "web"}}},
                                headers={"Content-Type": "application/merge-patch+json"})
    assert response.status_code == 200, response.text
