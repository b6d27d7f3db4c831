"""Which container a stream goes to, and when a pod can be reached at all (before any dial)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.errors import BadRequest
from orchestrator.apiserver.streaming.agent import check_running, pick_container


def pod(*names: str, phase: str = "Running", node: str | None = "node-1", default: str | None = None) -> dict[str, Any]:
    annotations = {"kubectl.kubernetes.io/default-container": default} if default else {}
    return {"metadata": {"name": "web", "annotations": annotations},
            "spec": {"nodeName": node, "containers": [{"name": n} for n in names]}, "status": {"phase": phase}}


def test_the_only_container_or_the_default_one_is_taken() -> None:
    assert pick_container(pod("main"), None) == "main"
    assert pick_container(pod("a", "b", default="b"), None) == "b"
    assert pick_container(pod("a", "b"), "a") == "a"


def test_an_ambiguous_or_unknown_container_is_a_bad_request_naming_the_choices() -> None:
    with pytest.raises(BadRequest, match=r"choose one of: \['a', 'b'\]"):
        pick_container(pod("a", "b"), None)
    with pytest.raises(BadRequest, match="container nope is not valid for pod web"):
        pick_container(pod("a"), "nope")


def test_finished_or_unscheduled_pods_cannot_be_reached() -> None:
    assert check_running(pod("a"), "exec") == "node-1"
    with pytest.raises(BadRequest, match="completed pod; current phase is Succeeded"):
        check_running(pod("a", phase="Succeeded"), "exec")
    with pytest.raises(BadRequest, match="not scheduled"):
        check_running(pod("a", phase="Pending", node=None), "attach to")
