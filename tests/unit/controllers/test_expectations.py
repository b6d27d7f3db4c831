"""Expectations: no double create while our own creates are still on their way."""

from __future__ import annotations

from orchestrator.client.clock import FakeClock
from orchestrator.controllers.expectations import EXPECTATIONS_TTL, Expectations


def test_no_record_is_satisfied() -> None:
    assert Expectations(clock=FakeClock()).satisfied("ns/web")


def test_creations_are_satisfied_only_when_all_observed() -> None:
    exp = Expectations(clock=FakeClock())
    exp.expect_creations("ns/web", 3)
    exp.creation_observed("ns/web")
    exp.creation_observed("ns/web")
    assert not exp.satisfied("ns/web")
    assert exp.pending("ns/web") == (1, 0)
    exp.creation_observed("ns/web")
    assert exp.satisfied("ns/web")


def test_a_pod_seen_terminating_and_then_gone_counts_once() -> None:
    exp = Expectations(clock=FakeClock())
    exp.expect_deletions("ns/web", ["ns/a", "ns/b"])
    exp.deletion_observed("ns/web", "ns/a")  # deletionTimestamp set
    exp.deletion_observed("ns/web", "ns/a")  # and then DELETED
    assert not exp.satisfied("ns/web")
    exp.deletion_observed("ns/web", "ns/c")  # not one of ours
    assert not exp.satisfied("ns/web")
    exp.deletion_observed("ns/web", "ns/b")
    assert exp.satisfied("ns/web")


def test_expectations_expire_after_the_ttl() -> None:
    clock = FakeClock()
    exp = Expectations(clock=clock)
    exp.expect_creations("ns/web", 2)
    clock.advance(EXPECTATIONS_TTL - 1)
    assert not exp.satisfied("ns/web")
    clock.advance(2)
    assert exp.satisfied("ns/web")


def test_lowering_for_creations_never_sent_and_forgetting_on_owner_deletion() -> None:
    exp = Expectations(clock=FakeClock())
    exp.expect_creations("ns/web", 4)
    exp.lower_expectations("ns/web", add=3)
    exp.creation_observed("ns/web")
    assert exp.satisfied("ns/web")
    exp.expect_creations("ns/web", 1)
    exp.delete("ns/web")
    assert exp.satisfied("ns/web") and exp.pending("ns/web") == (0, 0)
