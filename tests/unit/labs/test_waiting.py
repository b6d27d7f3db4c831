"""labs.wait_for: returns the first truthy value; on timeout, a message that says what and the last value."""

from __future__ import annotations

import pytest

from labs.errors import LabError, LabTimeout
from labs.waiting import wait_for


class FakeClock:
    """Time that moves only when the code under test sleeps, so timeouts take no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_for_returns_the_first_truthy_value() -> None:
    clock = FakeClock()
    values = iter([None, [], {"phase": "Running"}])
    assert wait_for(lambda: next(values), what="x", clock=clock, sleep=clock.sleep) == {"phase": "Running"}
    assert clock.now == pytest.approx(0.4)  # two polls said "not yet", 0.2 s apart


def test_wait_for_timeout_names_what_was_awaited_and_the_last_value() -> None:
    clock = FakeClock()
    with pytest.raises(LabTimeout) as caught:
        wait_for(lambda: None, timeout=3, what="pod web-1 to be Running", clock=clock, sleep=clock.sleep)
    err = caught.value
    assert str(err) == "waited 3s for pod web-1 to be Running; last value: None"
    assert (err.what, err.timeout, err.last) == ("pod web-1 to be Running", 3, None)
    assert isinstance(err, LabError)  # one except clause catches every lab failure


def test_wait_for_treats_an_exception_as_not_yet_and_reports_it_on_timeout() -> None:
    clock = FakeClock()
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("API server restarting")
        return "ok"

    assert wait_for(flaky, what="x", clock=clock, sleep=clock.sleep) == "ok"
    with pytest.raises(LabTimeout, match=r"last value: ConnectionError\('refused'\)"):
        wait_for(lambda: (_ for _ in ()).throw(ConnectionError("refused")), timeout=1, what="the API",
                 clock=clock, sleep=clock.sleep)  # fmt: skip


def test_wait_for_shortens_a_huge_last_value() -> None:
    clock = FakeClock()
    with pytest.raises(LabTimeout) as caught:
        wait_for(lambda: _Falsy("x" * 10_000), timeout=1, what="y", clock=clock, sleep=clock.sleep)
    assert str(caught.value).endswith("...") and len(str(caught.value)) < 400


class _Falsy(str):
    def __bool__(self) -> bool:
        return False
