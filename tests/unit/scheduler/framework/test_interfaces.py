from orchestrator.scheduler.framework.interfaces import (
    Code,
    FilterPlugin,
    ScorePlugin,
    Status,
    default_normalize_score,
)
from orchestrator.scheduler.plugins.nodename import NodeName


def test_default_normalize_scales_the_highest_to_100():
    assert default_normalize_score([0, 2, 4], reverse=False) == [0, 50, 100]


def test_default_normalize_reversed_makes_lowest_best():
    assert default_normalize_score([0, 2, 4], reverse=True) == [100, 50, 0]


def test_default_normalize_of_all_zeros():
    assert default_normalize_score([0, 0], reverse=False) == [0, 0]
    assert default_normalize_score([0, 0], reverse=True) == [100, 100]


def test_status_codes_classify_rejections():
    assert Status().is_success()
    assert Status.unschedulable("Insufficient cpu").is_rejected()
    assert Status.unresolvable("x").code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert not Status.error("boom").is_rejected()
    assert Status.unschedulable("a", "b").message == "a, b"


def test_plugins_are_recognised_by_shape_not_base_class():
    assert isinstance(NodeName(), FilterPlugin)
    assert not isinstance(NodeName(), ScorePlugin)
