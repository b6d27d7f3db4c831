"""StatefulSet, ControllerRevision, PersistentVolumeClaim, PersistentVolume and StorageClass rules:
defaults, 422s naming the field, immutable fields, kubectl's Table rows."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.api.errors import Invalid
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry import strategy_for
from orchestrator.apiserver.registry.rest import prepare_create, prepare_update

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CLAIM = {"metadata": {"name": "www"},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}


def _create(resource: str, body: dict[str, Any]) -> dict[str, Any]:
    info = by_group_resource(resource)
    return prepare_create(strategy_for(info), body, namespace="ns" if info.namespaced else None,
                          field_validation="Strict", now=NOW).obj


def _causes(resource: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(Invalid) as err:
        _create(resource, body)
    return [(c.field, c.message) for c in err.value.causes]


def _update_causes(resource: str, old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    info = by_group_resource(resource)
    with pytest.raises(Invalid) as err:
        prepare_update(strategy_for(info), old, new, field_validation="Strict", now=NOW)
    return [(c.field, c.message) for c in err.value.causes]


def _sts(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "nginx"}}, "serviceName": "nginx", "replicas": 3,
        "template": {"metadata": {"labels": {"app": "nginx"}},
                     "spec": {"containers": [{"name": "nginx", "image": "labkit/busybox:1.0",
                                              "volumeMounts": [{"name": "www", "mountPath": "/data"}]}]}},
        "volumeClaimTemplates": [copy.deepcopy(CLAIM)]}
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
            "spec": {k: v for k, v in body.items() if v is not None}}


def test_a_statefulset_gets_kubernetes_defaults_and_its_mounts_may_name_claim_templates() -> None:
    spec = _create("statefulsets.apps", _sts())["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["volumeClaimTemplates"][0]["status"] == {"phase": "Pending"}
    assert spec["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    assert "volumes" not in spec["template"]["spec"]  # the controller adds the claims' volumes to pods


def test_a_statefulset_without_service_name_is_a_422_naming_spec_service_name() -> None:
    causes = _causes("statefulsets.apps", _sts(serviceName=None))
    assert [c for c in causes if c[0] == "spec.serviceName"] == [
        ("spec.serviceName", "Required value: the name of the (headless) Service that gives the pods their network "
                             "identity, e.g. serviceName: nginx")]


def test_a_selector_that_misses_the_template_and_bad_claims_are_named() -> None:
    bad_claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteSometimes"]}}
    causes = _causes("statefulsets.apps", _sts(selector={"matchLabels": {"app": "other"}},
                                               volumeClaimTemplates=[bad_claim], podManagementPolicy="Random"))
    fields = {c[0] for c in causes}
    assert "spec.template.metadata.labels" in fields
    assert "spec.podManagementPolicy" in fields
    assert ("spec.volumeClaimTemplates[0].spec.resources[storage]", "Required value") in causes
    assert any(f == "spec.volumeClaimTemplates[0].spec.accessModes" for f, _ in causes)
    # The mount of "www" names no volume now that the claim template is "data".
    assert any(f == "spec.template.spec.containers[0].volumeMounts[0].name" for f, _ in causes)


def test_only_replicas_template_and_strategy_of_a_statefulset_may_change() -> None:
    old = _create("statefulsets.apps", _sts())
    new = copy.deepcopy(old)
    new["spec"]["serviceName"] = "other"
    assert _update_causes("statefulsets.apps", old, new) == [
        ("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                 "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                 "'minReadySeconds' are forbidden")]
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    info = by_group_resource("statefulsets.apps")
    updated = prepare_update(strategy_for(info), old, scaled, field_validation="Strict", now=NOW).obj
    assert updated["spec"]["replicas"] == 5


def test_the_statefulset_table_is_name_ready_age() -> None:
    strategy = strategy_for(by_group_resource("statefulsets.apps"))
    sts = _create("statefulsets.apps", _sts())
    sts["status"] = {"readyReplicas": 2}
    assert [c["name"] for c in strategy.columns() if c["priority"] == 0] == ["Name", "Ready", "Age"]
    assert strategy.row(sts, NOW)[0][:2] == ["web", "2/3"]


def test_a_claim_needs_access_modes_and_a_storage_request() -> None:
    causes = _causes("persistentvolumeclaims", {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                "metadata": {"name": "c"}, "spec": {}})
    assert causes == [("spec.accessModes", "Required value: at least 1 access mode is required"),
                      ("spec.resources[storage]", "Required value")]


def test_a_claim_is_pending_and_its_spec_immutable_except_the_binding_and_the_request() -> None:
    body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
            "spec": copy.deepcopy(CLAIM["spec"])}
    pvc = _create("persistentvolumeclaims", body)
    assert pvc["status"] == {"phase": "Pending"}
    assert pvc["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    strategy = strategy_for(by_group_resource("persistentvolumeclaims"))
    assert strategy.row(pvc, NOW)[0][:7] == ["c", "Pending", "", "", "", "", "<unset>"]
    bound = copy.deepcopy(pvc)
    bound["spec"]["volumeName"] = "pvc-1"
    bound["spec"]["storageClassName"] = "local-path"
    info = by_group_resource("persistentvolumeclaims")
    prepare_update(strategy, pvc, bound, field_validation="Strict", now=NOW)
    changed = copy.deepcopy(bound)
    changed["spec"]["accessModes"] = ["ReadWriteMany"]
    assert _update_causes(info.group_resource, bound, changed)[0][0] == "spec"


def test_a_volume_needs_capacity_modes_and_the_local_path_driver() -> None:
    causes = _causes("persistentvolumes", {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "v"},
                                           "spec": {"hostPath": {"path": "/etc"}}})
    assert ("spec.capacity", "Required value") in causes
    assert ("spec.accessModes", "Required value: at least 1 access mode is required") in causes
    assert any(f == "spec.hostPath" and m.startswith("Forbidden") for f, m in causes)
    pv = _create("persistentvolumes", {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "v"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                 "csi": {"driver": "local-path.labkit.io", "volumeHandle": "v"},
                 "claimRef": {"namespace": "ns", "name": "c"}}})
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain" and pv["status"] == {"phase": "Pending"}
    row = strategy_for(by_group_resource("persistentvolumes")).row(pv, NOW)[0]
    assert row[:6] == ["v", "1Gi", "RWO,RWX", "Retain", "Pending", "ns/c"]


def test_a_default_storage_class_is_marked_in_its_row() -> None:
    sc = _create("storageclasses.storage.k8s.io", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "local-path.labkit.io"})
    row = strategy_for(by_group_resource("storageclasses.storage.k8s.io")).row(sc, NOW)[0]
    assert row[:5] == ["local-path (default)", "local-path.labkit.io", "Delete", "Immediate", "false"]


def test_a_controller_revision_names_its_controller() -> None:
    cr = _create("controllerrevisions.apps", {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": "web-6d4b7c", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u", "controller": True}]},
        "data": {"spec": {}}, "revision": 1})
    assert strategy_for(by_group_resource("controllerrevisions.apps")).row(cr, NOW)[0][:3] == [
        "web-6d4b7c", "statefulset.apps/web", 1]
    assert _causes("controllerrevisions.apps", {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                                                "metadata": {"name": "x"}}) == [("revision", "Required value")]
