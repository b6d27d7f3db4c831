"""The OpenAPI v3 documents have what kubectl apply, create and explain look for."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest

from orchestrator.api.errors import NotFound
from orchestrator.api.resources import RESOURCES, groups
from orchestrator.apiserver.openapi import (
    group_version_bytes,
    group_version_key,
    openapi_v3_group_version,
    openapi_v3_root,
)

GROUP_VERSIONS = groups()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_root_lists_every_served_group_version_with_a_hash() -> None:
    root = openapi_v3_root()
    assert set(root["paths"]) == {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/policy/v1",
                                  "apis/coordination.k8s.io/v1", "apis/apiextensions.k8s.io/v1",
                                  "apis/rbac.authorization.k8s.io/v1", "apis/authorization.k8s.io/v1",
                                  "apis/authentication.k8s.io/v1", "apis/discovery.k8s.io/v1", "apis/autoscaling/v2",
                                  "apis/apiregistration.k8s.io/v1", "apis/storage.k8s.io/v1",
                                  "apis/flowcontrol.apiserver.k8s.io/v1"}
    url = root["paths"]["api/v1"]["serverRelativeURL"]
    assert re.fullmatch(r"/openapi/v3/api/v1\?hash=[0-9A-F]{128}", url)


def test_root_hash_is_the_upper_hex_sha512_of_the_served_bytes() -> None:
    expected = hashlib.sha512(group_version_bytes("apps", "v1")).hexdigest().upper()
    assert openapi_v3_root()["paths"]["apis/apps/v1"]["serverRelativeURL"].endswith(f"hash={expected}")


def test_root_uses_the_given_hash_function() -> None:
    root = openapi_v3_root(lambda group, version: f"{group or 'core'}-{version}")
    assert root["paths"]["apis/apps/v1"] == {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=apps-v1"}


def test_documents_are_deterministic() -> None:
    first = json.dumps(openapi_v3_group_version("", "v1"), sort_keys=True)
    second = json.dumps(openapi_v3_group_version("", "v1"), sort_keys=True)
    assert first == second


@pytest.mark.parametrize("info", RESOURCES, ids=lambda r: r.group_resource)
def test_every_kind_has_a_patch_operation_with_gvk_field_validation_and_strategic_merge(info: Any) -> None:
    doc = openapi_v3_group_version(info.group, info.version)
    wanted = {"group": info.group, "version": info.version, "kind": info.kind}
    patches = [
        item["patch"] for item in doc["paths"].values()
        if "patch" in item and item["patch"]["x-kubernetes-group-version-kind"] == wanted
    ]
    assert patches, f"no patch operation for {info.kind}"
    for op in patches:
        assert op["x-kubernetes-action"] == "patch"
        query = {p["name"] for p in op["parameters"] if p["in"] == "query"}
        assert {"fieldValidation", "dryRun", "fieldManager"} <= query
        assert "application/strategic-merge-patch+json" in op["requestBody"]["content"]


@pytest.mark.parametrize("info", RESOURCES, ids=lambda r: r.group_resource)
def test_collection_and_item_paths_carry_their_actions(info: Any) -> None:
    doc = openapi_v3_group_version(info.group, info.version)
    collection = info.collection_path("{namespace}" if info.namespaced else None)
    actions = {verb: op["x-kubernetes-action"] for verb, op in doc["paths"][collection].items() if verb != "parameters"}
    expected = {"get": "list", "post": "post"}
    if "deletecollection" in info.verbs:  # every served kind but namespaces, as in Kubernetes
        expected["delete"] = "deletecollection"
    assert actions == expected
    item = doc["paths"][collection + "/{name}"]
    assert {verb for verb in item if verb != "parameters"} == {"get", "put", "patch", "delete"}
    assert {p["name"] for p in item["post" if "post" in item else "put"]["parameters"]} >= {"fieldValidation"}


@pytest.mark.parametrize("group,version", GROUP_VERSIONS)
def test_every_schema_reference_resolves(group: str, version: str) -> None:
    doc = openapi_v3_group_version(group, version)
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


@pytest.mark.parametrize("info", RESOURCES, ids=lambda r: r.group_resource)
def test_each_kind_has_an_upstream_named_schema_with_its_gvk(info: Any) -> None:
    doc = openapi_v3_group_version(info.group, info.version)
    package = {"": "io.k8s.api.core.v1", "apps": "io.k8s.api.apps.v1", "batch": "io.k8s.api.batch.v1",
               "policy": "io.k8s.api.policy.v1", "autoscaling": "io.k8s.api.autoscaling.v2",
               "coordination.k8s.io": "io.k8s.api.coordination.v1",
               "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1",
               "rbac.authorization.k8s.io": "io.k8s.api.rbac.v1", "authorization.k8s.io": "io.k8s.api.authorization.v1",
               "authentication.k8s.io": "io.k8s.api.authentication.v1",
               "discovery.k8s.io": "io.k8s.api.discovery.v1",
               "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1",
               "storage.k8s.io": "io.k8s.api.storage.v1",
               "flowcontrol.apiserver.k8s.io": "io.k8s.api.flowcontrol.v1"}[info.group]
    schema = doc["components"]["schemas"][f"{package}.{info.kind}"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": info.group, "kind": info.kind, "version": info.version}
    ]
    assert {"apiVersion", "kind", "metadata"} <= set(schema["properties"])


def test_merge_lists_carry_patch_merge_keys_for_strategic_merge() -> None:
    schemas = openapi_v3_group_version("", "v1")["components"]["schemas"]
    spec = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]
    container = schemas["io.k8s.api.core.v1.Container"]["properties"]
    assert spec["containers"]["x-kubernetes-patch-merge-key"] == "name"
    assert spec["containers"]["x-kubernetes-patch-strategy"] == "merge"
    assert spec["volumes"]["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    assert container["ports"]["x-kubernetes-patch-merge-key"] == "containerPort"
    assert container["env"]["x-kubernetes-patch-merge-key"] == "name"
    assert spec["containers"]["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}


def test_explain_can_follow_a_kind_to_its_fields_with_descriptions() -> None:
    schemas = openapi_v3_group_version("apps", "v1")["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    spec_ref = deployment["properties"]["spec"]["allOf"][0]["$ref"].removeprefix("#/components/schemas/")
    replicas = schemas[spec_ref]["properties"]["replicas"]
    assert replicas["type"] == "integer" and "Defaults to 1" in replicas["description"]
    strategy = schemas["io.k8s.api.apps.v1.RollingUpdateDeployment"]["properties"]["maxSurge"]
    assert strategy["allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]


def test_scale_subresource_patch_is_typed_as_autoscaling_scale() -> None:
    doc = openapi_v3_group_version("apps", "v1")
    op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    assert "io.k8s.api.autoscaling.v1.Scale" in doc["components"]["schemas"]


def test_unknown_group_version_is_not_found() -> None:
    with pytest.raises(NotFound):
        openapi_v3_group_version("networking.k8s.io", "v1")


def test_group_version_key_names_core_and_named_groups() -> None:
    assert (group_version_key("", "v1"), group_version_key("apps", "v1")) == ("api/v1", "apis/apps/v1")


# --- custom resources -------------------------------------------------------------------------------------


def _crd_catalog(**changes: Any) -> Any:
    from orchestrator.apiserver.catalog import ResourceCatalog
    from orchestrator.apiserver.registry.apiextensions import CustomResourceDefinitionStrategy
    from tests.factories import crontab_crd

    strategy = CustomResourceDefinitionStrategy()
    crd, _ = strategy.decode(crontab_crd(), field_validation="Strict")
    crd["spec"]["versions"][0].update(changes)
    from datetime import UTC, datetime

    strategy.prepare_for_create(crd, now=datetime(2026, 1, 1, tzinfo=UTC))
    catalog = ResourceCatalog()
    catalog.apply("ADDED", crd)
    return catalog, crd


def test_a_crd_group_version_has_its_schema_and_the_patch_operation_kubectl_needs() -> None:
    catalog, _ = _crd_catalog()
    root = openapi_v3_root(catalog=catalog)
    assert "apis/stable.example.com/v1" in root["paths"]
    doc = openapi_v3_group_version("stable.example.com", "v1", catalog)
    schema = doc["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert schema["x-kubernetes-group-version-kind"] == [{"group": "stable.example.com", "kind": "CronTab", "version": "v1"}]
    assert schema["properties"]["spec"]["properties"]["replicas"] == {"type": "integer", "minimum": 1, "maximum": 10, "default": 1}
    assert {"apiVersion", "kind", "metadata", "spec", "status"} <= set(schema["properties"])
    item = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]
    assert item["patch"]["x-kubernetes-group-version-kind"]["kind"] == "CronTab"
    assert "fieldValidation" in [p["name"] for p in item["patch"]["parameters"]]
    assert "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale" in doc["paths"]
    assert "com.example.stable.v1.CronTabList" in doc["components"]["schemas"]


def test_the_hash_changes_when_the_crd_changes() -> None:
    catalog, crd = _crd_catalog()
    before = openapi_v3_root(catalog=catalog)["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"]
    changed = json.loads(json.dumps(crd))
    changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["image"]["maxLength"] = 9
    catalog.apply("MODIFIED", changed)
    after = openapi_v3_root(catalog=catalog)["paths"]["apis/stable.example.com/v1"]["serverRelativeURL"]
    assert before != after
    # built-in documents are untouched by CRDs
    assert openapi_v3_root(catalog=catalog)["paths"]["apis/apps/v1"] == openapi_v3_root()["paths"]["apis/apps/v1"]
