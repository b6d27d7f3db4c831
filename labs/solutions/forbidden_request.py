"""Reference solution of the `forbidden-request` exercise (notebook 02)."""

from __future__ import annotations

from typing import Any

import httpx


def forbidden_response(lab: Any) -> httpx.Response:
    # viewer is authenticated (a valid token) but only allowed to read: a create is refused.
    with lab.http("viewer") as client:
        return client.post(
            "/api/v1/namespaces/default/pods",
            json={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "not-allowed"},
                  "spec": {"containers": [{"name": "main", "image": "busybox"}]}},
        )  # fmt: skip
