"""kubectl against a lab home made by `labctl up` (tests/labctl.py `simulated_lab`), as a user runs it:
the home's admin kubeconfig, and the home as HOME so kubectl keeps its discovery cache there, never
in the user's ~/.kube. For the session lab of tests/support/fixtures.py use `Lab.kubectl`.

Kubernetes equivalent: test/e2e/framework/kubectl/kubectl_utils.go
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any


def kubectl(home: Path, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`kubectl ARGS` as the lab's admin; with `check`, a non-zero exit fails the test with its output."""
    env = dict(os.environ, KUBECONFIG=str(home / "admin.kubeconfig"), HOME=str(home))
    result = subprocess.run(["kubectl", *args], env=env, input=input, capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def kubectl_get(home: Path, *args: str) -> dict[str, Any]:
    """`kubectl get ARGS -o json`, parsed."""
    return json.loads(kubectl(home, "get", *args, "-o", "json").stdout)  # type: ignore[no-any-return]
