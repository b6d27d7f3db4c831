import pytest

from orchestrator.api.errors import Conflict, NotFound
from orchestrator.client.clock import FakeClock
from orchestrator.scheduler.cache import Cache
from tests.unit.scheduler.builders import make_node, make_pod


def cache_with_nodes(*names, clock=None) -> Cache:
    cache = Cache(clock=clock or FakeClock(), ttl_seconds=30)
    for name in names:
        cache.add_node(make_node(name))
    return cache


def test_assumed_pod_counts_on_its_node_in_the_next_snapshot():
    cache = cache_with_nodes("n1")
    cache.assume_pod(make_pod("p", cpu="1"), "n1")
    assert cache.snapshot().get("n1").requested_milli_cpu == 1000
    assert cache.is_assumed(make_pod("p"))


def test_assume_then_confirm_by_the_informer():
    cache = cache_with_nodes("n1")
    cache.assume_pod(make_pod("p", cpu="1"), "n1")
    cache.finish_binding(make_pod("p"))
    cache.add_pod(make_pod("p", cpu="1", node_name="n1"))
    assert not cache.is_assumed(make_pod("p"))
    assert cache.snapshot().get("n1").requested_milli_cpu == 1000
    assert cache.cleanup_expired_assumed_pods() == []


def test_confirmation_on_another_node_moves_the_pod():
    cache = cache_with_nodes("n1", "n2")
    cache.assume_pod(make_pod("p", cpu="1"), "n1")
    cache.add_pod(make_pod("p", cpu="1", node_name="n2"))
    snapshot = cache.snapshot()
    assert (snapshot.get("n1").pod_count, snapshot.get("n2").pod_count) == (0, 1)


def test_assume_then_forget_after_a_failed_binding():
    cache = cache_with_nodes("n1")
    cache.assume_pod(make_pod("p", cpu="1"), "n1")
    cache.forget_pod(make_pod("p"))
    assert cache.snapshot().get("n1").requested_milli_cpu == 0
    with pytest.raises(NotFound):
        cache.forget_pod(make_pod("p"))


def test_assuming_a_pod_twice_is_a_conflict():
    cache = cache_with_nodes("n1")
    cache.assume_pod(make_pod("p"), "n1")
    with pytest.raises(Conflict):
        cache.assume_pod(make_pod("p"), "n1")


def test_assumed_pod_expires_ttl_after_binding_finished_without_confirmation():
    clock = FakeClock()
    cache = cache_with_nodes("n1", clock=clock)
    cache.assume_pod(make_pod("p", cpu="1"), "n1")
    clock.advance(100)
    assert cache.cleanup_expired_assumed_pods() == []  # binding not finished: never expires
    cache.finish_binding(make_pod("p"))
    clock.advance(29)
    assert cache.cleanup_expired_assumed_pods() == []
    clock.advance(1)
    assert cache.cleanup_expired_assumed_pods() == ["default/p"]
    assert cache.snapshot().get("n1").pod_count == 0


def test_deleted_and_finished_pods_free_their_node():
    cache = cache_with_nodes("n1")
    cache.add_pod(make_pod("a", cpu="1", node_name="n1"))
    cache.add_pod(make_pod("b", cpu="1", node_name="n1"))
    finished = make_pod("b", cpu="1", node_name="n1")
    finished["status"]["phase"] = "Succeeded"
    cache.update_pod(None, finished)
    cache.remove_pod(make_pod("a", node_name="n1"))
    assert cache.snapshot().get("n1").requested_milli_cpu == 0
    assert cache.pod_count == 0


def test_pods_seen_before_their_node_are_counted_once_it_arrives():
    cache = Cache(clock=FakeClock())
    cache.add_pod(make_pod("a", cpu="1", node_name="late"))
    assert len(cache.snapshot()) == 0
    cache.add_node(make_node("late"))
    assert cache.snapshot().get("late").requested_milli_cpu == 1000


def test_removed_node_leaves_the_snapshot_and_updated_node_is_reparsed():
    cache = cache_with_nodes("n1", "n2")
    cache.update_node(None, make_node("n2", unschedulable=True))
    cache.remove_node(make_node("n1"))
    snapshot = cache.snapshot()
    assert [ni.name for ni in snapshot] == ["n2"]
    assert snapshot.get("n2").unschedulable


def test_old_snapshots_do_not_change_and_unchanged_nodes_are_shared():
    cache = cache_with_nodes("n1", "n2")
    first = cache.snapshot()
    cache.assume_pod(make_pod("p", cpu="1"), "n1")
    second = cache.snapshot()
    assert first.get("n1").requested_milli_cpu == 0
    assert second.get("n1").requested_milli_cpu == 1000
    assert first.get("n2") is second.get("n2")
