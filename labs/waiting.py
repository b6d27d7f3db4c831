"""Wait for a condition by polling, with a timeout message a learner can act on.

Notebook cells never sleep for a fixed time and hope: they poll a condition (a pod is Running, a
row exists) and fail with "waited 60s for <what>; last value: ..." when it never comes true.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from labs.errors import LabTimeout

if TYPE_CHECKING:
    from labs.lab import Lab

T = TypeVar("T")
_MAX_SHOWN = 300  # characters of the last value shown in a timeout message


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float = 60,
    what: str,
    interval: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``condition()`` every ``interval`` seconds until it returns something truthy; return that.

    Raises `LabTimeout` after ``timeout`` seconds. An exception raised by the condition counts as
    "not yet" (the API server may be restarting), and is shown as the last value if time runs out.
    """
    deadline = clock() + timeout
    last: Any = None
    while True:
        try:
            last = condition()
        except Exception as err:  # "not yet": e.g. a component restarting under us
            last = err
        else:
            if last:
                return last
        if clock() >= deadline:
            raise LabTimeout(
                f"waited {timeout:g}s for {what}; last value: {_short(last)}",
                what=what,
                timeout=timeout,
                last=last,
            )
        sleep(interval)


def wait_for_pods(
    lab: Lab,
    *,
    namespace: str = "default",
    selector: str | None = None,
    count: int,
    phase: str = "Running",
    timeout: float = 90,
) -> list[dict[str, Any]]:
    """Wait until at least ``count`` pods (matching ``selector``) are in ``phase``; return those pods."""
    params = {"labelSelector": selector} if selector else {}
    client = lab.http()

    def ready() -> list[dict[str, Any]]:
        response = client.get(f"/api/v1/namespaces/{namespace}/pods", params=params)
        response.raise_for_status()
        items = response.json().get("items", [])
        pods = [p for p in items if (p.get("status") or {}).get("phase") == phase]
        return pods if len(pods) >= count else _Progress(items, count, phase)

    what = f"{count} pod(s){f' with {selector}' if selector else ''} in namespace {namespace} to be {phase}"
    try:
        return wait_for(ready, timeout=timeout, what=what, interval=0.3)
    finally:
        client.close()


class _Progress(list):  # type: ignore[type-arg]
    """A falsy "not yet" that still says how far we got, for the timeout message."""

    def __init__(self, pods: list[dict[str, Any]], count: int, phase: str) -> None:
        super().__init__()
        seen = ", ".join(
            f"{p['metadata']['name']} {(p.get('status') or {}).get('phase', '?')}"
            f" on {(p.get('spec') or {}).get('nodeName') or 'no node yet'}"
            for p in pods
        )
        done = sum((p.get("status") or {}).get("phase") == phase for p in pods)
        self.summary = f"{done} of {count} {phase}; pods: {seen or 'none'}"

    def __repr__(self) -> str:
        return self.summary


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."
