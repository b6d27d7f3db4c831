"""labs.widgets: what the pod board and the event timeline show, fed list and watch events directly.

The views' follower threads run against a lab whose API server does not answer (they keep
retrying, harmlessly); the test hands the views the list and watch events a real watch would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from labs.widgets import EventTimeline, PodBoard, pod_phase


class UnreachableLab:
    """A lab whose API server is down: every request fails to connect."""

    def http(self, identity: str = "admin") -> Any:
        raise ConnectionError("connection refused")


def _pod(name: str, *, node: str | None = None, phase: str = "Pending", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": "1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}, "status": {"phase": phase}}


@pytest.fixture
def board() -> Iterator[PodBoard]:
    view = PodBoard(UnreachableLab())  # type: ignore[arg-type]
    yield view
    view.stop()


def test_the_board_groups_pods_by_node_and_follows_watch_events(board: PodBoard) -> None:
    board._list([_pod("web-1", node="node-1", phase="Running"), _pod("web-2")])
    assert board.wait_listed(timeout=1)
    assert board.by_node() == {"node-1": [("web-1", "Running")], "(not scheduled)": [("web-2", "Pending")]}

    board._event("MODIFIED", _pod("web-2", node="node-2", phase="Running"))
    board._event("DELETED", _pod("web-1", node="node-1"))
    assert board.phase_of("web-2") == "Running" and board.node_of("web-2") == "node-2"
    assert board.phase_of("web-1") is None
    assert board.by_node() == {"node-1": [], "node-2": [("web-2", "Running")]}


def test_the_board_renders_chips_a_browser_test_can_find(board: PodBoard) -> None:
    board._list([_pod("web-1", node="node-1", phase="Running"), _pod("old", node="node-1", deleting=True)])
    html = board._render()
    assert "data-pod='web-1' data-phase='Running'" in html
    assert "data-pod='old' data-phase='Terminating'" in html
    assert "data-node='node-1'" in html
    assert "labkit-podboard" in board.widget._dom_classes


def test_pod_phase_is_terminating_once_deletion_started() -> None:
    assert pod_phase(_pod("a", phase="Running", deleting=True)) == "Terminating"
    assert pod_phase({"metadata": {"name": "b"}}) == "Pending"


def test_the_timeline_lists_events_oldest_first() -> None:
    timeline = EventTimeline(UnreachableLab())  # type: ignore[arg-type]
    try:
        def event(uid: str, time: str, reason: str, kind: str = "Normal") -> dict[str, Any]:
            return {"metadata": {"uid": uid, "name": uid}, "lastTimestamp": time, "type": kind, "reason": reason,
                    "involvedObject": {"kind": "Pod", "name": "web-1"}, "source": {"component": "default-scheduler"},
                    "message": f"{reason} web-1"}  # fmt: skip

        timeline._list([event("b", "2026-01-01T00:00:02Z", "Started")])
        timeline._event("ADDED", event("a", "2026-01-01T00:00:01Z", "Scheduled"))
        timeline._event("ADDED", event("c", "2026-01-01T00:00:03Z", "BackOff", kind="Warning"))
        assert timeline.reasons() == ["Scheduled", "Started", "BackOff"]
        assert timeline.rows()[0]["object"] == "pod/web-1" and timeline.rows()[0]["source"] == "default-scheduler"
        assert "color:#d9534f" in timeline._render()  # warnings stand out
        assert "labkit-eventtimeline" in timeline.widget._dom_classes
    finally:
        timeline.stop()
