"""The deleted-object cache: only deletions refuse tokens, and it forgets the oldest first."""

from __future__ import annotations

from orchestrator.apiserver.serviceaccount_cache import DeletedObjects


def test_only_deleted_uids_are_refused_and_the_oldest_are_forgotten() -> None:
    cache = DeletedObjects(limit=2)
    assert cache.service_account_current("ns", "sa", "u1") is None  # unknown: the token decides
    cache.forget_deleted("serviceaccounts", "u1")
    cache.forget_deleted("pods", "p1")
    assert cache.service_account_current("ns", "sa", "u1") is False
    assert cache.pod_current("ns", "web", "p1") is False and cache.pod_current("ns", "web", "p2") is None
    cache.forget_deleted("serviceaccounts", "u2")
    cache.forget_deleted("serviceaccounts", "u3")
    assert cache.service_account_current("ns", "sa", "u1") is None
