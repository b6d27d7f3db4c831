"""Time on the wire, as Kubernetes writes it: one definition for every component.

Two forms, both UTC with a ``Z``:

    rfc3339(t)        metav1.Time       "2026-12-06T15:04:05Z"         creationTimestamp, conditions,
                                                                      startTime, lastScheduleTime, ...
    rfc3339_micro(t)  metav1.MicroTime  "2026-12-06T15:04:05.123456Z"  Lease renewTime/acquireTime,
                                                                      events.k8s.io eventTime

`parse_rfc3339` reads either (and any offset), as the Go client's time parsing does.

Kubernetes equivalent: k8s.io/apimachinery/pkg/apis/meta/v1/time.go and micro_time.go.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """metav1.Time: whole seconds. A naive datetime is taken as local time, as ``astimezone`` does."""
    return moment.astimezone(UTC).strftime(_SECONDS)


def rfc3339_micro(moment: datetime) -> str:
    """metav1.MicroTime: microseconds."""
    return moment.astimezone(UTC).strftime(_MICRO)


_second: list[Any] = [0, ""]  # the last second formatted, and its text


def now_rfc3339() -> str:
    """Now, to the second; formatted once a second (every write stamps times: it is on the hot path)."""
    second = int(time.time())
    if _second[0] != second:
        _second[:] = [second, datetime.fromtimestamp(second, UTC).strftime(_SECONDS)]
    return str(_second[1])


def now_rfc3339_micro() -> str:
    return datetime.now(UTC).strftime(_MICRO)


def parse_rfc3339(text: str) -> datetime:
    """A timestamp as either form writes it (``Z`` or an offset); ValueError if it is not one."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_rfc3339_or_none(text: str | None) -> datetime | None:
    """`parse_rfc3339`, with an absent or malformed timestamp read as no time at all (controllers
    reading what anyone may have written)."""
    if not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None
