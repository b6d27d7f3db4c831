"""The generic custom-resource strategy, driven by a CRD version: decode, validate, subresources, Tables."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.api.errors import BadRequest
from orchestrator.apiserver.catalog import ResourceCatalog
from orchestrator.apiserver.registry.apiextensions import CustomResourceDefinitionStrategy
from orchestrator.apiserver.registry.customresource import CustomResourceStrategy
from orchestrator.apiserver.registry.strategy import Strategy
from tests.factories import crontab_crd

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _strategy(crd: dict[str, Any] | None = None) -> CustomResourceStrategy:
    crd_strategy = CustomResourceDefinitionStrategy()
    obj, _ = crd_strategy.decode(crd or crontab_crd(), field_validation="Strict")
    crd_strategy.prepare_for_create(obj, now=NOW)
    catalog = ResourceCatalog()
    catalog.apply("ADDED", obj)
    info = catalog.lookup("stable.example.com", "crontabs", "v1")
    assert info is not None
    strategy = catalog.strategy(info)
    assert strategy is not None
    return strategy


def _crontab(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "my-cron", "namespace": "default", "creationTimestamp": "2026-01-02T03:00:00Z"},
            "spec": {"cronSpec": "* * * * */5", "image": "my-cron-image", **spec}}


def test_it_is_a_strategy_with_the_crds_names() -> None:
    strategy = _strategy()
    assert isinstance(strategy, Strategy)
    info = strategy.info
    assert (info.api_version, info.kind, info.plural, info.singular, info.short_names, info.list_kind_name) == (
        "stable.example.com/v1", "CronTab", "crontabs", "crontab", ("ct",), "CronTabList")
    assert info.namespaced and info.subresources == ("scale", "status")


def test_decode_prunes_defaults_and_reports_unknown_fields() -> None:
    strategy = _strategy()
    body = _crontab(colour="blue")
    obj, warnings = strategy.decode(body, field_validation="Warn")
    assert warnings == ['unknown field "spec.colour"']
    assert obj["spec"] == {"cronSpec": "* * * * */5", "image": "my-cron-image", "replicas": 1, "size": "M"}
    assert "colour" in body["spec"]  # the body is not changed
    with pytest.raises(BadRequest, match=r'strict decoding error: unknown field "spec.colour"'):
        strategy.decode(body, field_validation="Strict")
    assert strategy.decode(body, field_validation="Ignore")[1] == []


def test_decode_checks_api_version_and_kind_and_defaults_them() -> None:
    strategy = _strategy()
    body = _crontab()
    del body["apiVersion"], body["kind"]
    obj, _ = strategy.decode(body, field_validation="Strict")
    assert (obj["apiVersion"], obj["kind"]) == ("stable.example.com/v1", "CronTab")
    with pytest.raises(BadRequest, match="does not match the expected API version"):
        strategy.decode(dict(_crontab(), apiVersion="stable.example.com/v2"), field_validation="Strict")
    with pytest.raises(BadRequest, match="does not match the expected kind"):
        strategy.decode(dict(_crontab(), kind="Other"), field_validation="Strict")


def test_validate_reports_schema_and_metadata_causes() -> None:
    strategy = _strategy()
    obj, _ = strategy.decode(_crontab(replicas=20, size="XL"), field_validation="Strict")
    obj["metadata"]["name"] = "Bad_Name"
    messages = [f"{c.field}: {c.message}" for c in strategy.validate(obj)]
    assert messages[0].startswith('metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain')
    assert messages[1:] == [
        "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10",
        'spec.size: Unsupported value: "XL": supported values: "S", "M", "L"',
    ]
    missing = _crontab()
    del missing["spec"]["image"]
    obj, _ = strategy.decode(missing, field_validation="Strict")
    assert [f"{c.field}: {c.message}" for c in strategy.validate(obj)] == ["spec.image: Required value"]


def test_status_subresource_keeps_status_out_of_create_and_update() -> None:
    strategy = _strategy()
    obj = _crontab()
    obj["status"] = {"replicas": 3}
    strategy.prepare_for_create(obj, now=NOW)
    assert "status" not in obj and obj["metadata"]["generation"] == 1
    old = dict(copy.deepcopy(obj), status={"replicas": 2})
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 9}
    strategy.prepare_for_update(new, old, now=NOW)
    assert new["status"] == {"replicas": 2}
    assert strategy.spec_changed(new, old) is False
    new["spec"]["image"] = "other"
    assert strategy.spec_changed(new, old) is True
    status_write = strategy.prepare_for_status_update(dict(copy.deepcopy(new), status={"replicas": 5}), old)
    assert status_write["status"] == {"replicas": 5} and status_write["spec"] == old["spec"]


def test_without_a_status_subresource_status_is_ordinary_data() -> None:
    crd = crontab_crd()
    del crd["spec"]["versions"][0]["subresources"]
    strategy = _strategy(crd)
    assert strategy.info.subresources == ()
    obj = dict(_crontab(), status={"replicas": 3})
    strategy.prepare_for_create(obj, now=NOW)
    assert obj["status"] == {"replicas": 3}
    new = dict(copy.deepcopy(obj), status={"replicas": 4})
    assert strategy.spec_changed(new, obj) is True


def test_scale_reads_and_writes_the_crds_paths() -> None:
    strategy = _strategy()
    obj = dict(_crontab(replicas=2), status={"replicas": 1, "labelSelector": "app=cron"})
    obj["metadata"].update(uid="u1", resourceVersion="7")
    assert strategy.to_scale(obj) == {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": "my-cron", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                     "creationTimestamp": "2026-01-02T03:00:00Z"},
        "spec": {"replicas": 2}, "status": {"replicas": 1, "selector": "app=cron"},
    }
    strategy.with_replicas(obj, 5)
    assert obj["spec"]["replicas"] == 5
    obj["spec"]["replicas"] = -1
    assert "spec.replicas: Invalid value: -1: should be a non-negative integer" in [
        f"{c.field}: {c.message}" for c in strategy.validate(obj)]


def test_table_has_the_printer_columns() -> None:
    strategy = _strategy()
    assert [(c["name"], c["type"]) for c in strategy.columns()] == [
        ("Name", "string"), ("Spec", "string"), ("Replicas", "integer"), ("Age", "date")]
    obj = _crontab(replicas=3)
    cells, _ = strategy.row(obj, NOW)
    assert cells == ["my-cron", "* * * * */5", 3, "4m5s"]
    del obj["spec"]["replicas"]
    assert strategy.row(obj, NOW + timedelta(hours=1))[0] == ["my-cron", "* * * * */5", None, "64m"]


def test_without_printer_columns_the_table_is_name_and_age() -> None:
    crd = crontab_crd()
    del crd["spec"]["versions"][0]["additionalPrinterColumns"]
    strategy = _strategy(crd)
    assert [c["name"] for c in strategy.columns()] == ["Name", "Age"]
    assert strategy.row(_crontab(), NOW)[0] == ["my-cron", "4m5s"]


def test_a_deprecated_version_warns() -> None:
    crd = crontab_crd()
    crd["spec"]["versions"][0]["deprecated"] = True
    strategy = _strategy(crd)
    assert strategy.warnings_on_create(_crontab()) == ["stable.example.com/v1 CronTab is deprecated"]
