"""The CronJob controller's schedule arithmetic: missed times, the most recent one, time zones, names."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from orchestrator.controllers.cronjob import job_name, missed_schedules, next_schedule

UTC = dt.UTC


def at(hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 2, hour, minute, second, tzinfo=UTC)


def test_the_docstring_example_six_missed_and_the_last_one_started() -> None:
    latest, missed = missed_schedules("*/5 * * * *", earliest=at(10, 2), now=at(10, 31), zone=UTC)
    assert (latest, missed) == (at(10, 30), 6)


def test_nothing_due_before_the_first_time_and_exactly_on_it() -> None:
    assert missed_schedules("*/5 * * * *", earliest=at(10, 2), now=at(10, 4, 59), zone=UTC) == (None, 0)
    assert missed_schedules("*/5 * * * *", earliest=at(10, 2), now=at(10, 5), zone=UTC) == (at(10, 5), 1)
    assert missed_schedules("@hourly", earliest=at(10, 0), now=at(10, 0), zone=UTC) == (None, 0)


def test_counting_stops_past_the_warning_threshold_but_the_latest_is_exact() -> None:
    latest, missed = missed_schedules("* * * * *", earliest=at(0, 0), now=at(10, 0, 30), zone=UTC)
    assert latest == at(10, 0) and missed == 101


def test_the_schedule_is_read_on_the_clock_of_the_time_zone() -> None:
    new_york = zoneinfo.ZoneInfo("America/New_York")  # UTC-5 in March before the switch
    latest, missed = missed_schedules("0 9 * * *", earliest=at(0, 0), now=at(15, 0), zone=new_york)
    assert latest == at(14, 0) and missed == 1
    assert next_schedule("0 9 * * *", at(15, 0), new_york) == dt.datetime(2026, 3, 3, 14, 0, tzinfo=UTC)


def test_job_names_count_minutes_since_the_epoch() -> None:
    cronjob = {"metadata": {"name": "hello"}}
    assert job_name(cronjob, at(10, 30)) == f"hello-{int(at(10, 30).timestamp()) // 60}"
