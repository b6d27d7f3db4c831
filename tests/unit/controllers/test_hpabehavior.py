"""Stabilization windows and scale policies (controllers/hpabehavior.py) on a fake clock."""

from __future__ import annotations

from typing import Any

from orchestrator.apiserver.registry.autoscaling import default_behavior_rules
from orchestrator.client.clock import FakeClock
from orchestrator.controllers.hpabehavior import Normalizer

DEFAULT_BEHAVIOR: dict[str, Any] = {"scaleUp": default_behavior_rules(None, up=True),
                                    "scaleDown": default_behavior_rules(None, up=False)}


def normalizer(window: float = 300.0) -> tuple[Normalizer, FakeClock]:
    clock = FakeClock(1000.0)
    return Normalizer(now=clock.now, downscale_stabilization=window), clock


def test_a_dip_must_last_the_whole_scale_down_window() -> None:
    n, clock = normalizer(window=60)
    n.record_initial("ns/web", 5)
    d = n.normalize("ns/web", current=5, desired=2, minimum=1, maximum=10)
    assert d.replicas == 5
    assert d.able_to_scale[1] == "ScaleDownStabilized"
    clock.advance(59)
    assert n.normalize("ns/web", current=5, desired=2, minimum=1, maximum=10).replicas == 5
    clock.advance(2)  # the initial 5 is now older than the window; only 2s remain
    d = n.normalize("ns/web", current=5, desired=2, minimum=1, maximum=10)
    assert (d.replicas, d.able_to_scale[1], d.scaling_limited) == (
        2, "ReadyForNewScale", ("False", "DesiredWithinRange", "the desired count is within the acceptable range"))


def test_without_behavior_scale_up_is_capped_at_twice_or_four() -> None:
    n, _ = normalizer()
    n.record_initial("k", 1)
    d = n.normalize("k", current=1, desired=10, minimum=1, maximum=20)
    assert (d.replicas, d.scaling_limited[0], d.scaling_limited[1]) == (4, "True", "ScaleUpLimit")
    d = n.normalize("k", current=8, desired=30, minimum=1, maximum=12)
    assert (d.replicas, d.scaling_limited[1]) == (12, "TooManyReplicas")


def test_min_replicas_bound_a_scale_down() -> None:
    n, _ = normalizer(window=0)
    d = n.normalize("k", current=3, desired=0, minimum=2, maximum=5)
    assert (d.replicas, d.scaling_limited[:2]) == (2, ("True", "TooFewReplicas"))


def test_default_behavior_adds_the_greater_of_four_pods_or_double_per_period() -> None:
    n, clock = normalizer()
    n.record_initial("k", 1)
    d = n.normalize_with_behavior("k", current=1, desired=10, minimum=1, maximum=20, behavior=DEFAULT_BEHAVIOR)
    assert (d.replicas, d.scaling_limited[1]) == (5, "ScaleUpLimit")  # max(1 + 4, 1 * 200%)
    n.record_scale("k", DEFAULT_BEHAVIOR, 1, 5)
    clock.advance(5)  # still inside the 15 s period: the period started at 1 replica
    assert n.normalize_with_behavior("k", current=5, desired=10, minimum=1, maximum=20,
                                     behavior=DEFAULT_BEHAVIOR).replicas == 5
    clock.advance(11)  # the period moved on: from 5, up to max(9, 10)
    assert n.normalize_with_behavior("k", current=5, desired=10, minimum=1, maximum=20,
                                     behavior=DEFAULT_BEHAVIOR).replicas == 10


def test_behavior_scale_down_window_and_pods_policy() -> None:
    behavior = {"scaleUp": default_behavior_rules(None, up=True),
                "scaleDown": default_behavior_rules({"stabilizationWindowSeconds": 10,
                                                     "policies": [{"type": "Pods", "value": 1,
                                                                   "periodSeconds": 60}]}, up=False)}
    n, clock = normalizer()
    n.record_initial("k", 6)
    d = n.normalize_with_behavior("k", current=6, desired=2, minimum=1, maximum=10, behavior=behavior)
    assert (d.replicas, d.able_to_scale[1]) == (6, "ScaleDownStabilized")
    clock.advance(11)
    d = n.normalize_with_behavior("k", current=6, desired=2, minimum=1, maximum=10, behavior=behavior)
    assert (d.replicas, d.scaling_limited[:2]) == (5, ("True", "ScaleDownLimit"))  # one pod per minute
    n.record_scale("k", behavior, 6, 5)
    clock.advance(30)
    assert n.normalize_with_behavior("k", current=5, desired=2, minimum=1, maximum=10,
                                     behavior=behavior).replicas == 5  # the minute is not over
    clock.advance(31)
    assert n.normalize_with_behavior("k", current=5, desired=2, minimum=1, maximum=10,
                                     behavior=behavior).replicas == 4


def test_the_controller_flag_decides_an_unset_scale_down_window() -> None:
    n, clock = normalizer(window=20)
    n.record_initial("k", 4)
    assert n.normalize_with_behavior("k", current=4, desired=1, minimum=1, maximum=10,
                                     behavior=DEFAULT_BEHAVIOR).replicas == 4
    clock.advance(21)
    assert n.normalize_with_behavior("k", current=4, desired=1, minimum=1, maximum=10,
                                     behavior=DEFAULT_BEHAVIOR).replicas == 1


def test_select_policy_disabled_forbids_that_direction() -> None:
    behavior = {"scaleUp": default_behavior_rules({"selectPolicy": "Disabled"}, up=True),
                "scaleDown": default_behavior_rules(None, up=False)}
    n, _ = normalizer()
    d = n.normalize_with_behavior("k", current=2, desired=8, minimum=1, maximum=10, behavior=behavior)
    assert (d.replicas, d.scaling_limited[:2]) == (2, ("True", "ScaleUpLimit"))


def test_select_policy_min_takes_the_least_change() -> None:
    rules = {"selectPolicy": "Min", "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                                 {"type": "Percent", "value": 50, "periodSeconds": 15}]}
    n, _ = normalizer()
    assert n.scale_up_limit("k", 10, rules) == 14  # min(10 + 4, 10 * 150%)
    assert n.scale_up_limit("k", 2, rules) == 3  # min(2 + 4, ceil(2 * 1.5))
