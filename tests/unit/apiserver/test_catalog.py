"""The resource catalog: built-ins plus the served versions of Established CRDs, from watch events."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.api.errors import NotFound
from orchestrator.api.resources import CONVERTED_VERSIONS, RESOURCES
from orchestrator.apiserver.catalog import (
    CRD_RESOURCE,
    ResourceCatalog,
    cleanup_crd,
    follow_crds,
    version_priority,
)
from orchestrator.apiserver.registry import strategy_for
from orchestrator.apiserver.registry.apiextensions import CLEANUP_FINALIZER, CustomResourceDefinitionStrategy
from orchestrator.apiserver.routes.resources import parse_target
from tests.factories import crontab_crd

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _stored(crd: dict[str, Any] | None = None, *, created: str = "2026-01-01T00:00:00Z", rv: str = "10") -> dict[str, Any]:
    strategy = CustomResourceDefinitionStrategy()
    obj, _ = strategy.decode(crd or crontab_crd(), field_validation="Strict")
    strategy.prepare_for_create(obj, now=NOW)
    obj["metadata"].update(creationTimestamp=created, resourceVersion=rv, uid="u-" + obj["metadata"]["name"])
    return obj


def _two_versions() -> dict[str, Any]:
    base = crontab_crd()["spec"]["versions"][0]
    v1beta1 = dict(copy.deepcopy(base), name="v1beta1", storage=False)
    v2alpha1 = dict(copy.deepcopy(base), name="v2alpha1", storage=False, served=False)
    return crontab_crd(versions=[v1beta1, copy.deepcopy(base), v2alpha1])


def test_only_builtins_at_first() -> None:
    catalog = ResourceCatalog()
    assert catalog.resources() == RESOURCES + CONVERTED_VERSIONS
    assert catalog.lookup("", "pods", "v1") is not None
    assert catalog.lookup("stable.example.com", "crontabs") is None
    assert catalog.generation == 0


def test_an_established_crd_adds_its_served_versions() -> None:
    catalog = ResourceCatalog()
    changes: list[int] = []
    catalog.on_change(lambda: changes.append(catalog.generation))
    assert catalog.apply("ADDED", _stored(_two_versions())) is True
    assert changes == [1]
    served = [(r.group, r.version, r.plural) for r in catalog.resources() if r.group == "stable.example.com"]
    assert served == [("stable.example.com", "v1", "crontabs"), ("stable.example.com", "v1beta1", "crontabs")]
    assert ("stable.example.com", "v1") in catalog.groups()
    assert catalog.groups().index(("stable.example.com", "v1")) < catalog.groups().index(("stable.example.com", "v1beta1"))
    assert catalog.lookup("stable.example.com", "crontabs", "v2alpha1") is None  # not served
    assert catalog.by_group_resource("crontabs.stable.example.com").version == "v1"  # the storage version
    assert catalog.by_kind("stable.example.com/v1beta1", "CronTab") is not None
    version = catalog.custom(catalog.lookup("stable.example.com", "crontabs", "v1"))  # type: ignore[arg-type]
    assert version is not None and version.crd_name == "crontabs.stable.example.com"
    assert catalog.custom(catalog.lookup("", "pods")) is None  # type: ignore[arg-type]


def test_an_unchanged_crd_is_not_a_change() -> None:
    catalog = ResourceCatalog()
    crd = _stored()
    catalog.apply("ADDED", crd)
    assert catalog.apply("MODIFIED", copy.deepcopy(crd)) is False
    assert catalog.generation == 1
    changed = copy.deepcopy(crd)
    changed["metadata"]["resourceVersion"] = "11"
    changed["spec"]["versions"][0]["additionalPrinterColumns"] = []
    assert catalog.apply("MODIFIED", changed) is True and catalog.generation == 2


def test_a_crd_that_is_not_established_is_not_served() -> None:
    crd = _stored()
    crd["status"]["conditions"] = [c for c in crd["status"]["conditions"] if c["type"] != "Established"]
    catalog = ResourceCatalog()
    assert catalog.apply("ADDED", crd) is False
    assert catalog.lookup("stable.example.com", "crontabs") is None


def test_deletion_removes_the_resource() -> None:
    catalog = ResourceCatalog()
    crd = _stored()
    catalog.apply("ADDED", crd)
    assert catalog.apply("DELETED", crd) is True
    assert catalog.lookup("stable.example.com", "crontabs") is None
    assert catalog.resources() == RESOURCES + CONVERTED_VERSIONS
    assert catalog.apply("DELETED", crd) is False


def test_replace_is_a_relist() -> None:
    catalog = ResourceCatalog()
    catalog.apply("ADDED", _stored())
    other = _stored(crontab_crd(group="other.example.com", plural="widgets", kind="Widget"))
    catalog.replace([other])
    assert catalog.lookup("stable.example.com", "crontabs") is None
    assert catalog.lookup("other.example.com", "widgets", "v1") is not None


def test_the_older_crd_wins_a_name_and_the_other_is_a_conflict() -> None:
    catalog = ResourceCatalog()
    first = _stored(created="2026-01-01T00:00:00Z")
    second = crontab_crd(plural="crontabz", kind="CronTab")
    second = _stored(second, created="2026-01-02T00:00:00Z")
    catalog.apply("ADDED", second)
    catalog.apply("ADDED", first)
    assert catalog.lookup("stable.example.com", "crontabs") is not None
    assert catalog.lookup("stable.example.com", "crontabz") is None
    assert catalog.conflicts == {"crontabz.stable.example.com": 'kind "CronTab" is already in use by crontabs.stable.example.com'}


def test_builtin_groups_cannot_be_taken() -> None:
    crd = crontab_crd(group="apps", plural="deployments", kind="Deployment")
    catalog = ResourceCatalog()
    catalog.apply("ADDED", _stored(crd))
    assert catalog.lookup("apps", "deployments") == next(r for r in RESOURCES if r.plural == "deployments")
    assert "deployments.apps" in catalog.conflicts


def test_terminating_crds_are_still_served_and_listed_for_cleanup() -> None:
    crd = _stored()
    crd["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"
    catalog = ResourceCatalog()
    catalog.apply("MODIFIED", crd)
    info = catalog.lookup("stable.example.com", "crontabs")
    assert info is not None and catalog.custom(info).terminating  # type: ignore[union-attr]
    assert [c["metadata"]["name"] for c in catalog.terminating_crds()] == ["crontabs.stable.example.com"]


def test_version_priority_orders_like_kubernetes() -> None:
    versions = ["v1alpha1", "foo", "v1", "v1beta2", "v2", "v1beta1", "bar", "v11alpha2"]
    assert sorted(versions, key=version_priority) == ["v2", "v1", "v1beta2", "v1beta1", "v11alpha2", "v1alpha1", "bar", "foo"]


# --- follow_crds and cleanup_crd against a fake store and watch -----------------------------------------


@dataclass
class _Event:
    type: str
    object: dict[str, Any]
    revision: int


@dataclass
class _List:
    items: list[dict[str, Any]]
    revision: int


class _FakeStore:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.deleted: list[str] = []

    async def list(self, resource: str, **_: Any) -> _List:
        return _List([copy.deepcopy(o) for (r, _, _), o in sorted(self.objects.items(), key=lambda kv: str(kv[0]))
                      if r == resource], 5)

    async def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.objects[(resource, namespace, name)])
        except KeyError:
            raise NotFound(f"{name} not found") from None

    async def update(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        self.objects[(resource, meta.get("namespace"), meta["name"])] = copy.deepcopy(obj)
        return obj

    async def guaranteed_update(self, resource: str, namespace: str | None, name: str, mutate: Any) -> dict[str, Any]:
        current = await self.get(resource, namespace, name)
        changed = mutate(copy.deepcopy(current))
        if changed is None:
            return current
        return await self.update(resource, changed)

    async def delete(self, resource: str, namespace: str | None, name: str, **_: Any) -> dict[str, Any]:
        self.deleted.append(f"{resource}/{name}")
        return self.objects.pop((resource, namespace, name))


class _FakeWatch:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[_Event] = asyncio.Queue()

    async def watch(self, resource: str, *, since: int) -> Any:
        assert resource == CRD_RESOURCE and since == 5
        while True:
            yield await self.queue.get()


async def test_follow_crds_lists_then_applies_watch_events_and_reports_terminating_crds() -> None:
    store, watch = _FakeStore(), _FakeWatch()
    crd = _stored()
    store.objects[(CRD_RESOURCE, None, crd["metadata"]["name"])] = crd
    catalog = ResourceCatalog()
    terminating: list[str] = []
    task = asyncio.create_task(follow_crds(catalog, store, watch, on_terminating=lambda c: terminating.append(
        c["metadata"]["name"])), name="test-follow-crds")
    try:
        for _ in range(100):
            if catalog.lookup("stable.example.com", "crontabs"):
                break
            await asyncio.sleep(0.01)
        assert catalog.lookup("stable.example.com", "crontabs") is not None
        other = _stored(crontab_crd(group="other.example.com", plural="widgets", kind="Widget"))
        await watch.queue.put(_Event("ADDED", other, 6))
        dying = copy.deepcopy(crd)
        dying["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"
        await watch.queue.put(_Event("MODIFIED", dying, 7))
        for _ in range(100):
            if terminating:
                break
            await asyncio.sleep(0.01)
        assert catalog.lookup("other.example.com", "widgets") is not None
        assert terminating == ["crontabs.stable.example.com"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_cleanup_deletes_instances_then_the_crd() -> None:
    store = _FakeStore()
    crd = _stored()
    crd["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"
    store.objects[(CRD_RESOURCE, None, crd["metadata"]["name"])] = crd
    gr = "crontabs.stable.example.com"
    for name in ("a", "b"):
        store.objects[(gr, "default", name)] = {"metadata": {"name": name, "namespace": "default", "resourceVersion": "3"}}
    catalog = ResourceCatalog()
    catalog.apply("MODIFIED", crd)
    assert await cleanup_crd(catalog, store, crd, poll_seconds=0.01) is True
    assert store.deleted == [f"{gr}/a", f"{gr}/b", f"{CRD_RESOURCE}/crontabs.stable.example.com"]


async def test_cleanup_waits_for_instances_with_finalizers_and_keeps_other_crd_finalizers() -> None:
    store = _FakeStore()
    crd = _stored()
    crd["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"
    crd["metadata"]["finalizers"] = [CLEANUP_FINALIZER, "example.com/other"]
    store.objects[(CRD_RESOURCE, None, crd["metadata"]["name"])] = crd
    gr = "crontabs.stable.example.com"
    store.objects[(gr, "default", "held")] = {"metadata": {"name": "held", "namespace": "default", "resourceVersion": "3",
                                                            "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"]}}
    catalog = ResourceCatalog()
    catalog.apply("MODIFIED", crd)
    cleanup = asyncio.create_task(cleanup_crd(catalog, store, crd, poll_seconds=0.01), name="test-cleanup")
    await asyncio.sleep(0.05)
    held = store.objects[(gr, "default", "held")]
    assert held["metadata"]["deletionTimestamp"]  # marked, waiting for its operator
    assert not cleanup.done()
    del store.objects[(gr, "default", "held")]  # the operator removed its finalizer
    assert await asyncio.wait_for(cleanup, 2) is True
    assert store.objects[(CRD_RESOURCE, None, crd["metadata"]["name"])]["metadata"]["finalizers"] == ["example.com/other"]


# --- routing through the catalog ---------------------------------------------------------------------------


def test_routing_finds_custom_resources_and_their_strategy() -> None:
    catalog = ResourceCatalog()
    catalog.apply("ADDED", _stored(_two_versions()))
    target = parse_target("stable.example.com", "v1beta1", ["namespaces", "ns", "crontabs", "c", "scale"], catalog)
    assert (target.info.version, target.namespace, target.name, target.subresource) == ("v1beta1", "ns", "c", "scale")
    strategy = strategy_for(target.info)
    assert strategy.info is target.info and strategy.to_scale({"spec": {"replicas": 2}})["spec"] == {"replicas": 2}
    assert parse_target("", "v1", ["namespaces", "ns", "pods"], catalog).info.plural == "pods"
    with pytest.raises(NotFound):
        parse_target("stable.example.com", "v2alpha1", ["namespaces", "ns", "crontabs"], catalog)
    with pytest.raises(NotFound):
        parse_target("stable.example.com", "v1", ["crontabs", "c"], catalog)  # namespaced: needs a namespace


def test_a_conflicting_crd_needs_its_names_refused_and_an_older_ones_deletion_accepts_them() -> None:
    catalog = ResourceCatalog()
    first = _stored(created="2026-01-01T00:00:00Z")
    second = _stored(crontab_crd(plural="crontabz"), created="2026-01-02T00:00:00Z")
    catalog.replace([first, second])
    assert catalog.naming_updates() == [
        ("crontabz.stable.example.com", False, 'kind "CronTab" is already in use by crontabs.stable.example.com')]
    refused = copy.deepcopy(second)
    for c in refused["status"]["conditions"]:
        c["status"] = "False"
    catalog.apply("MODIFIED", refused)
    assert catalog.naming_updates() == []
    catalog.apply("DELETED", first)
    assert catalog.naming_updates() == [("crontabz.stable.example.com", True, "no conflicts found")]
    assert catalog.lookup("stable.example.com", "crontabz") is None  # served once Established again


async def test_write_names_accepted_sets_both_conditions_once() -> None:
    from orchestrator.apiserver.catalog import write_names_accepted

    store = _FakeStore()
    crd = _stored()
    crd["status"]["conditions"].append({"type": "Terminating", "status": "False"})
    store.objects[(CRD_RESOURCE, None, crd["metadata"]["name"])] = crd
    await write_names_accepted(store, crd["metadata"]["name"], accepted=False, message='kind "CronTab" is taken')
    stored = store.objects[(CRD_RESOURCE, None, crd["metadata"]["name"])]
    assert [(c["type"], c["status"], c.get("reason")) for c in stored["status"]["conditions"]] == [
        ("NamesAccepted", "False", "NameConflicts"), ("Established", "False", "NotAccepted"), ("Terminating", "False", None)]
    before = copy.deepcopy(stored)
    await write_names_accepted(store, crd["metadata"]["name"], accepted=False, message='kind "CronTab" is taken')
    assert store.objects[(CRD_RESOURCE, None, crd["metadata"]["name"])] == before
    await write_names_accepted(store, "nothing.example.com", accepted=True, message="")  # gone meanwhile: no error
