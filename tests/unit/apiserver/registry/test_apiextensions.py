"""The CustomResourceDefinition strategy: Kubernetes' validation rules, defaults and the status the server sets."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from orchestrator.apiserver.registry.apiextensions import (
    CLEANUP_FINALIZER,
    CustomResourceDefinitionStrategy,
    validate_crd,
)
from orchestrator.apiserver.registry.strategy import Strategy
from tests.factories import crontab_crd

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
STRATEGY = CustomResourceDefinitionStrategy()


def _prepared(crd: dict[str, Any] | None = None) -> dict[str, Any]:
    obj, warnings = STRATEGY.decode(crd or crontab_crd(), field_validation="Strict")
    assert warnings == []
    obj["metadata"]["creationTimestamp"] = "2026-01-02T03:04:05Z"
    STRATEGY.prepare_for_create(obj, now=NOW)
    return obj


def _messages(obj: dict[str, Any]) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validate_crd(obj)]


def test_it_is_a_strategy() -> None:
    assert isinstance(STRATEGY, Strategy)
    assert STRATEGY.info.group_resource == "customresourcedefinitions.apiextensions.k8s.io"
    assert STRATEGY.info.short_names == ("crd", "crds") and not STRATEGY.info.namespaced


def test_the_documentation_crontab_is_valid() -> None:
    assert _messages(_prepared()) == []


def test_create_accepts_the_names_and_establishes() -> None:
    obj = _prepared()
    status = obj["status"]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("NamesAccepted", "True", "NoConflicts"), ("Established", "True", "InitialNamesAccepted")]
    assert status["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert status["acceptedNames"] == {"plural": "crontabs", "singular": "crontab", "kind": "CronTab",
                                       "shortNames": ["ct"], "listKind": "CronTabList"}
    assert status["storedVersions"] == ["v1"]
    assert obj["metadata"]["finalizers"] == [CLEANUP_FINALIZER]
    assert obj["spec"]["conversion"] == {"strategy": "None"}


def test_a_client_cannot_choose_the_status() -> None:
    crd = crontab_crd()
    crd["status"] = {"storedVersions": ["v9"], "conditions": [{"type": "Established", "status": "False"}]}
    obj = _prepared(crd)
    assert obj["status"]["storedVersions"] == ["v1"]


def test_the_name_must_be_plural_dot_group() -> None:
    crd = crontab_crd()
    crd["metadata"]["name"] = "crontab.stable.example.com"
    assert _messages(_prepared(crd)) == [
        'metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group']


def test_group_scope_and_names_are_checked() -> None:
    crd = crontab_crd(group="example", plural="Crons", kind="Cron Tab", scope="Global")
    crd["metadata"]["name"] = "Crons.example"
    messages = _messages(_prepared(crd))
    fields = [m.split(":")[0] for m in messages]
    assert "spec.group" in fields and 'spec.group: Invalid value: "example": should be a domain with at least one dot' in messages
    assert "spec.names.plural" in fields and "spec.names.kind" in fields
    assert 'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"' in messages


def test_kind_and_list_kind_may_not_be_the_same() -> None:
    crd = crontab_crd()
    crd["spec"]["names"]["listKind"] = "CronTab"
    assert _messages(_prepared(crd)) == ['spec.names.listKind: Invalid value: "CronTab": kind and listKind may not be the same']


def test_exactly_one_storage_version_and_at_least_one_served() -> None:
    base = crontab_crd()["spec"]["versions"][0]
    two = [dict(copy.deepcopy(base), name="v1"), dict(copy.deepcopy(base), name="v2")]
    assert _messages(_prepared(crontab_crd(versions=two))) == [
        'spec.versions: Invalid value: ["v1","v2"]: must have exactly one version marked as storage version']
    none_served = [dict(copy.deepcopy(base), served=False)]
    assert _messages(_prepared(crontab_crd(versions=none_served))) == [
        'spec.versions: Invalid value: ["v1"]: must have at least one version marked as served']
    dup = [copy.deepcopy(base), dict(copy.deepcopy(base), storage=False)]
    assert _messages(_prepared(crontab_crd(versions=dup))) == ['spec.versions[1].name: Duplicate value: "v1"']
    assert _messages(_prepared(crontab_crd(versions=[]))) == [
        "spec.versions: Invalid value: []: must have exactly one version marked as storage version"]


def test_the_schema_must_be_structural_and_is_named_by_its_path() -> None:
    crd = crontab_crd()
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["free"] = {"description": "x"}
    assert _messages(_prepared(crd)) == [
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[free].type: Required value: "
        "must not be empty for specified object fields"]
    crd = crontab_crd()
    del crd["spec"]["versions"][0]["schema"]
    assert _messages(_prepared(crd)) == ["spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"]


def test_scale_paths_and_printer_columns() -> None:
    crd = crontab_crd()
    version = crd["spec"]["versions"][0]
    version["subresources"]["scale"]["specReplicasPath"] = ".status.replicas"
    version["additionalPrinterColumns"].append({"name": "Bad", "type": "color", "jsonPath": "spec.x"})
    assert _messages(_prepared(crd)) == [
        'spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.replicas": '
        "should be a json path under .spec.",
        'spec.versions[0].additionalPrinterColumns[3].type: Unsupported value: "color": supported values: '
        '"boolean", "date", "integer", "number", "string"',
        'spec.versions[0].additionalPrinterColumns[3].jsonPath: Invalid value: "spec.x": '
        "must be a simple json path starting with '.', e.g. .spec.replicas",
    ]


def test_conversion_webhooks_and_preserve_unknown_fields_are_refused() -> None:
    crd = crontab_crd()
    crd["spec"]["conversion"] = {"strategy": "Webhook"}
    crd["spec"]["preserveUnknownFields"] = True
    fields = [m.split(":")[0] for m in _messages(_prepared(crd))]
    assert fields == ["spec.conversion.strategy", "spec.preserveUnknownFields"]


def test_update_keeps_scope_and_group_and_grows_stored_versions() -> None:
    old = _prepared()
    new = copy.deepcopy(old)
    new["spec"]["scope"] = "Cluster"
    assert [c.field for c in STRATEGY.validate_update(new, old)] == ["spec.scope"]
    new = copy.deepcopy(old)
    v2 = copy.deepcopy(new["spec"]["versions"][0])
    v2["name"] = "v2"
    new["spec"]["versions"][0]["storage"] = False
    new["spec"]["versions"].append(v2)
    STRATEGY.prepare_for_update(new, old, now=NOW)
    assert new["status"]["storedVersions"] == ["v1", "v2"]
    assert STRATEGY.spec_changed(new, old) is True
    assert _messages(new) == []


def test_a_stored_version_cannot_be_removed() -> None:
    old = _prepared()
    new = copy.deepcopy(old)
    new["spec"]["versions"][0]["name"] = "v2"
    STRATEGY.prepare_for_update(new, old, now=NOW)
    assert 'status.storedVersions[0]: Invalid value: "v1": must appear in spec.versions' in _messages(new)


def test_unknown_fields_are_found_by_the_model() -> None:
    crd = crontab_crd()
    crd["spec"]["colour"] = "blue"
    obj, warnings = STRATEGY.decode(crd, field_validation="Warn")
    assert warnings == ['unknown field "spec.colour"'] and "colour" not in obj["spec"]
    # the schema itself is free-form: nothing under openAPIV3Schema is "unknown"
    assert "pattern" in obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["cronSpec"]


def test_table_is_name_and_created_at() -> None:
    obj = _prepared()
    assert [c["name"] for c in STRATEGY.columns()] == ["Name", "Created At"]
    assert STRATEGY.row(obj, NOW) == (["crontabs.stable.example.com", "2026-01-02T03:04:05Z"], None)
