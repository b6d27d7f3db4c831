"""Reference solution of the `parallel-job` exercise (notebook 11)."""

from __future__ import annotations

from typing import Any


def manifest(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "crunch", "namespace": namespace},
        "spec": {
            "completions": 5, "parallelism": 2, "backoffLimit": 2,
            "template": {
                "metadata": {"annotations": {"sim.labkit.io/run-seconds": "1"}},
                "spec": {"restartPolicy": "Never",
                         "containers": [{"name": "crunch", "image": "busybox:1.36", "command": ["true"]}]},
            },
        },
    }
