"""Reference solution of the `first-pod` exercise (notebook 00)."""

from __future__ import annotations

from typing import Any

from labs.waiting import wait_for_pods

MANIFEST = """
apiVersion: v1
kind: Pod
metadata:
  name: my-first-pod
  labels:
    app: mine
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
"""


def solve(lab: Any) -> None:
    lab.apply(MANIFEST)
    wait_for_pods(lab, selector="app=mine", count=1, timeout=90)
