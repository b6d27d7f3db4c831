"""Reference fix of the mystery "selector" (labs/mysteries.py): the diagnosis and the fix."""

from __future__ import annotations

from typing import Any

DIAGNOSIS = "the Deployment's nodeSelector says disktype=sdd, a typo of the nodes' label disktype=ssd"


def fix(lab: Any) -> None:
    """Correct the Deployment's nodeSelector (not the nodes' labels)."""
    lab.kubectl("patch", "deployment", "web", "-n", "mystery-selector", "--type=merge",
                "-p", '{"spec":{"template":{"spec":{"nodeSelector":{"disktype":"ssd"}}}}}')
