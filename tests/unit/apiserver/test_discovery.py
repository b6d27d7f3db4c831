"""Discovery documents carry what kubectl needs to map ``po``, ``deploy``, ``get all`` and scale."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.api.errors import NotFound
from orchestrator.apiserver import discovery


def _by_name(resource_list: dict) -> dict[str, dict]:
    return {r["name"]: r for r in resource_list["resources"]}


def test_version_reports_minor_32_with_every_field_a_string() -> None:
    info = discovery.version_info()
    assert info["major"] == "1" and info["minor"] == "32"
    assert info["gitVersion"] == "v1.32.0-labkit"
    assert info["compiler"] == "python"
    for key in ("platform", "goVersion", "buildDate", "gitCommit", "gitTreeState"):
        assert isinstance(info[key], str) and info[key]
    assert "/" in info["platform"]


def test_api_lists_core_v1_and_the_server_address() -> None:
    doc = discovery.api_versions("127.0.0.1:6443")
    assert doc["kind"] == "APIVersions"
    assert doc["versions"] == ["v1"]
    assert doc["serverAddressByClientCIDRs"] == [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]


def test_apis_lists_named_groups_with_preferred_version_and_not_the_core_group() -> None:
    doc = discovery.api_group_list()
    assert doc["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in doc["groups"]}
    assert set(groups) == {"apps", "batch", "policy", "autoscaling", "coordination.k8s.io", "apiextensions.k8s.io",
                           "rbac.authorization.k8s.io", "authorization.k8s.io", "authentication.k8s.io",
                           "discovery.k8s.io", "apiregistration.k8s.io", "storage.k8s.io",
                           "flowcontrol.apiserver.k8s.io"}
    assert groups["apps"]["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}


def test_api_group_describes_one_group_and_unknown_groups_are_not_found() -> None:
    doc = discovery.api_group("coordination.k8s.io")
    assert doc["kind"] == "APIGroup"
    assert doc["preferredVersion"]["groupVersion"] == "coordination.k8s.io/v1"
    with pytest.raises(NotFound):
        discovery.api_group("networking.k8s.io")


def test_core_resource_list_has_short_names_categories_and_scope() -> None:
    doc = discovery.api_resource_list("", "v1")
    assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == "v1"
    res = _by_name(doc)
    assert res["pods"]["shortNames"] == ["po"]
    assert res["pods"]["categories"] == ["all"]
    assert res["pods"]["namespaced"] is True and res["pods"]["kind"] == "Pod"
    assert res["pods"]["singularName"] == "pod"
    assert {"get", "list", "watch", "create", "delete", "patch", "update"} <= set(res["pods"]["verbs"])
    assert res["nodes"]["shortNames"] == ["no"] and res["nodes"]["namespaced"] is False
    assert res["namespaces"]["shortNames"] == ["ns"] and res["namespaces"]["namespaced"] is False
    assert res["events"]["shortNames"] == ["ev"]
    assert all(r["storageVersionHash"] for r in res.values() if "/" not in r["name"])


def test_core_resource_list_includes_pod_and_node_subresources() -> None:
    res = _by_name(discovery.api_resource_list("", "v1"))
    assert res["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert res["pods/binding"] == {
        "name": "pods/binding", "singularName": "", "namespaced": True, "kind": "Binding", "verbs": ["create"],
    }
    assert res["pods/log"]["verbs"] == ["get"] and res["pods/log"]["kind"] == "Pod"
    assert res["nodes/status"]["namespaced"] is False


def test_deployments_scale_is_an_autoscaling_v1_scale() -> None:
    doc = discovery.api_resource_list("apps", "v1")
    assert doc["groupVersion"] == "apps/v1"
    res = _by_name(doc)
    scale = res["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert scale["verbs"] == ["get", "patch", "update"]
    assert res["deployments"]["shortNames"] == ["deploy"]
    assert res["replicasets"]["shortNames"] == ["rs"]
    assert res["deployments"]["categories"] == ["all"] and res["replicasets"]["categories"] == ["all"]


def test_resource_list_is_sorted_by_name_and_hash_is_stable() -> None:
    names = [r["name"] for r in discovery.api_resource_list("", "v1")["resources"]]
    assert names == sorted(names)
    assert discovery.api_resource_list("", "v1") == discovery.api_resource_list("", "v1")


def test_unknown_group_version_is_not_found() -> None:
    with pytest.raises(NotFound):
        discovery.api_resource_list("apps", "v1beta1")
    with pytest.raises(NotFound):
        discovery.api_resource_list("networking.k8s.io", "v1")


@pytest.mark.parametrize("version", ["v2", "v2beta1"])
def test_aggregated_api_holds_only_the_core_group(version: str) -> None:
    doc = discovery.aggregated_discovery("api", version)  # type: ignore[arg-type]
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert doc["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    [core] = doc["items"]
    assert "name" not in core["metadata"]
    [v1] = core["versions"]
    assert v1["version"] == "v1" and v1["freshness"] == "Current"
    pods = next(r for r in v1["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert pods["scope"] == "Namespaced" and pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert subs["binding"]["responseKind"]["kind"] == "Binding"
    nodes = next(r for r in v1["resources"] if r["resource"] == "nodes")
    assert nodes["scope"] == "Cluster"


def test_aggregated_apis_holds_named_groups_with_scale_subresource() -> None:
    doc = discovery.aggregated_discovery("apis", "v2")
    assert [i["metadata"]["name"] for i in doc["items"]] == [
        "apps", "batch", "autoscaling", "policy", "coordination.k8s.io", "apiextensions.k8s.io",
        "rbac.authorization.k8s.io", "authorization.k8s.io", "authentication.k8s.io", "discovery.k8s.io",
        "apiregistration.k8s.io", "storage.k8s.io", "flowcontrol.apiserver.k8s.io"]
    apps = doc["items"][0]["versions"][0]["resources"]
    deploy = next(r for r in apps if r["resource"] == "deployments")
    scale = next(s for s in deploy["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def test_aggregated_content_type_carries_the_negotiated_parameters() -> None:
    assert discovery.aggregated_discovery_content_type("v2") == (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )


# --- custom resources -------------------------------------------------------------------------------------


def _catalog_with_crontabs() -> Any:
    from datetime import UTC, datetime

    from orchestrator.apiserver.catalog import ResourceCatalog
    from orchestrator.apiserver.registry.apiextensions import CustomResourceDefinitionStrategy
    from tests.factories import crontab_crd

    strategy = CustomResourceDefinitionStrategy()
    crd, _ = strategy.decode(crontab_crd(), field_validation="Strict")
    strategy.prepare_for_create(crd, now=datetime(2026, 1, 1, tzinfo=UTC))
    crd["spec"]["names"]["categories"] = ["all"]
    catalog = ResourceCatalog()
    catalog.apply("ADDED", crd)
    return catalog, crd


def test_a_crd_appears_in_legacy_discovery() -> None:
    catalog, _ = _catalog_with_crontabs()
    groups = {g["name"]: g for g in discovery.api_group_list(catalog)["groups"]}
    assert groups["stable.example.com"]["preferredVersion"] == {"groupVersion": "stable.example.com/v1", "version": "v1"}
    resources = {r["name"]: r for r in discovery.api_resource_list("stable.example.com", "v1", catalog)["resources"]}
    assert resources["crontabs"]["kind"] == "CronTab" and resources["crontabs"]["namespaced"] is True
    assert resources["crontabs"]["shortNames"] == ["ct"] and resources["crontabs"]["categories"] == ["all"]
    assert resources["crontabs/scale"]["group"] == "autoscaling" and "crontabs/status" in resources
    assert discovery.api_group("stable.example.com", catalog)["name"] == "stable.example.com"


def test_a_crd_appears_in_aggregated_discovery_and_goes_with_it() -> None:
    catalog, crd = _catalog_with_crontabs()
    doc = discovery.aggregated_discovery("apis", "v2", catalog)
    group = next(i for i in doc["items"] if i["metadata"].get("name") == "stable.example.com")
    resource = group["versions"][0]["resources"][0]
    assert (resource["resource"], resource["scope"], resource["responseKind"]["kind"]) == ("crontabs", "Namespaced", "CronTab")
    assert [s["subresource"] for s in resource["subresources"]] == ["scale", "status"]
    catalog.apply("DELETED", crd)
    assert "stable.example.com" not in [i["metadata"].get("name") for i in discovery.aggregated_discovery("apis", "v2", catalog)["items"]]
    with pytest.raises(NotFound):
        discovery.api_resource_list("stable.example.com", "v1", catalog)
