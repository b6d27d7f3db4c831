"""orchestrator/api/timestamps.py: the two wire forms of time, and one place that defines them."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from orchestrator.api.timestamps import now_rfc3339, now_rfc3339_micro, parse_rfc3339, rfc3339, rfc3339_micro

MOMENT = datetime(2026, 12, 6, 15, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2)))


def test_metav1_time_and_microtime_are_utc_with_a_z() -> None:
    assert rfc3339(MOMENT) == "2026-12-06T13:04:05Z"
    assert rfc3339_micro(MOMENT) == "2026-12-06T13:04:05.123456Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now_rfc3339())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", now_rfc3339_micro())


def test_both_forms_and_offsets_parse_back() -> None:
    assert parse_rfc3339("2026-12-06T13:04:05Z") == MOMENT.replace(microsecond=0)
    assert parse_rfc3339("2026-12-06T13:04:05.123456Z") == MOMENT
    assert parse_rfc3339("2026-12-06T15:04:05+02:00").astimezone(UTC) == MOMENT.replace(microsecond=0)


def test_no_component_formats_metav1_time_by_hand_any_more() -> None:
    # The components' own copies went into api/timestamps.py; what is left formats something else
    # on purpose (the protobuf codec, the field manager's per-second cache, labs' progress file).
    root = Path(__file__).resolve().parents[3]
    found = subprocess.run(["grep", "-rln", '"%Y-%m-%dT%H:%M:%SZ"', "orchestrator/controllers", "orchestrator/scheduler",
                            "orchestrator/nodeagent/podworker.py", "orchestrator/nodeagent/agent.py"],
                           cwd=root, capture_output=True, text=True).stdout.split()
    assert found == [], found
