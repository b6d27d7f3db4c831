"""The watchdog's restart policy: exponential back-off, its cap and reset, and the step it takes
for one component in a round. Pure functions of the last delay, the uptime and the clock."""

from __future__ import annotations

import signal

import pytest

from orchestrator.lab.watchdog import Backoff, describe_exit, next_step


def test_back_off_doubles_from_one_second_and_is_capped_at_thirty() -> None:
    policy = Backoff()
    delays: list[float] = []
    previous: float | None = None
    for _ in range(8):
        previous = policy.next_delay(previous, ran_for=5.0)  # dies 5 s after every start
        delays.append(previous)
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_back_off_starts_again_from_one_second_after_a_long_run() -> None:
    policy = Backoff()
    assert policy.next_delay(16.0, ran_for=59.0) == 30.0
    assert policy.next_delay(16.0, ran_for=60.0) == 1.0
    assert policy.next_delay(30.0, ran_for=600.0) == 1.0


def test_back_off_settings_are_honoured() -> None:
    policy = Backoff(initial=0.5, cap=3.0, reset_after=10.0)
    assert [policy.next_delay(p, ran_for=1.0) for p in (None, 0.5, 1.0, 2.0, 3.0)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.next_delay(3.0, ran_for=10.0) == 0.5


@pytest.mark.parametrize(
    ("alive", "stopped_by_user", "backoff_until", "now", "step"),
    [
        (True, False, None, 100.0, "nothing"),  # running
        (True, False, 90.0, 100.0, "nothing"),  # running again (started by `labctl start`)
        (False, True, None, 100.0, "nothing"),  # `labctl stop`: stays stopped
        (False, True, 99.0, 100.0, "nothing"),  # stopped during its back-off: stays stopped
        (False, False, None, 100.0, "crashed"),  # dead, not noticed yet
        (False, False, 104.0, 100.0, "wait"),  # in back-off
        (False, False, 100.0, 100.0, "restart"),  # back-off over
    ],
)
def test_next_step_for_one_component(
    alive: bool, stopped_by_user: bool, backoff_until: float | None, now: float, step: str
) -> None:
    assert next_step(alive=alive, stopped_by_user=stopped_by_user, backoff_until=backoff_until, now=now) == step


def test_exit_descriptions_name_the_signal_or_the_code() -> None:
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(None) == "process ended"
