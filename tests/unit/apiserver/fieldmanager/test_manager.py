"""managedFields on create/update and server-side apply: owners, conflicts, force, pruning, migration."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from orchestrator.api.errors import BadRequest, Conflict, Invalid
from orchestrator.apiserver.fieldmanager import (
    BEFORE_FIRST_APPLY,
    LAST_APPLIED,
    FieldManager,
    check_apply_options,
    manager_name,
)
from orchestrator.apiserver.fieldmanager import entries as managed
from orchestrator.apiserver.fieldmanager.fieldpath import from_fields_v1

FM = FieldManager(kind="Deployment", api_version="apps/v1", status_subresource=True)
T0, T1, T2 = "2026-12-06T10:00:00Z", "2026-12-06T10:00:01Z", "2026-12-06T10:00:02Z"
REPLICAS = ("f:spec", "f:replicas")
APP = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"app"}')


def deployment(replicas: int = 2, image: str = "nginx:1.25", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "5"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}, **spec},
    }


def config(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec}


def owners(obj: dict[str, Any]) -> dict[tuple[str, str], set[tuple[str, ...]]]:
    return {(e["manager"], e["operation"]): from_fields_v1(e["fieldsV1"]) for e in obj["metadata"]["managedFields"]}


def created(manager: str = "kubectl-create") -> dict[str, Any]:
    obj = deployment()
    FM.record_create(obj, manager=manager, now=T0)
    return obj


# --------------------------------------------------------------------------- create and update


def test_create_credits_every_field_to_the_creator_as_an_update_but_not_identity_or_status() -> None:
    obj = deployment()
    obj["status"] = {"replicas": 0}
    FM.record_create(obj, manager="kubectl-create", now=T0)
    [entry] = obj["metadata"]["managedFields"]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType")} == {
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1"}
    tree = entry["fieldsV1"]
    assert "f:status" not in tree and "f:name" not in tree.get("f:metadata", {})
    assert "." not in tree["f:spec"]  # the zero object already has spec: not owned itself
    assert tree["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
        'k:{"name":"app"}': {".": {}, "f:image": {}, "f:name": {}}}


def test_an_update_moves_the_changed_field_to_its_manager_and_leaves_the_rest() -> None:
    old = created()
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    FM.record_update(old, new, manager="kubectl-scale", now=T1)
    got = owners(new)
    assert got[("kubectl-scale", "Update")] == {REPLICAS}
    assert REPLICAS not in got[("kubectl-create", "Update")]
    assert (*APP, "f:image") in got[("kubectl-create", "Update")]
    assert new["metadata"]["managedFields"][1]["time"] == T1


def test_an_update_that_changes_nothing_tracked_keeps_the_stored_list_itself() -> None:
    old = created()
    new = copy.deepcopy(old)
    new["metadata"]["resourceVersion"] = "9"
    new["status"] = {"replicas": 2}  # the main resource does not own the status
    stored = old["metadata"]["managedFields"]
    new["metadata"]["managedFields"] = stored
    FM.record_update(old, new, manager="controller", now=T1)
    assert new["metadata"]["managedFields"] is stored


def test_a_status_update_is_recorded_with_its_subresource_and_only_status_fields() -> None:
    old = created()
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 2}
    new["spec"]["replicas"] = 7  # ignored through /status
    FM.record_update(old, new, manager="controller", subresource="status", now=T1)
    [entry] = [e for e in new["metadata"]["managedFields"] if e["manager"] == "controller"]
    assert entry["subresource"] == "status"
    assert from_fields_v1(entry["fieldsV1"]) == {("f:status", "f:replicas")}


def test_managed_fields_sent_by_the_client_replace_the_stored_ones_and_reset_with_one_empty_entry() -> None:
    old = created()
    new = copy.deepcopy(old)
    sent = [{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T1,
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    FM.record_update(old, new, manager="kubectl", incoming=sent, now=T2)
    assert new["metadata"]["managedFields"] == sent

    reset = copy.deepcopy(old)
    FM.record_update(old, reset, manager="kubectl", incoming=[{}], now=T2)
    assert "managedFields" not in reset["metadata"]

    garbage = copy.deepcopy(old)
    FM.record_update(old, garbage, manager="x", incoming=[{"operation": "Sideways"}], now=T2)
    assert garbage["metadata"]["managedFields"] == old["metadata"]["managedFields"]


def test_update_managers_beyond_ten_are_folded_into_ancient_changes() -> None:
    obj = created()
    for i in range(12):
        new = copy.deepcopy(obj)
        new["metadata"].setdefault("labels", {})[f"l{i}"] = "v"
        FM.record_update(obj, new, manager=f"m{i:02}", now=f"2026-12-06T10:01:{i:02}Z")
        obj = new
    names = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(names) == 10 and "ancient-changes" in names and "kubectl-create" not in names


# --------------------------------------------------------------------------- apply


def test_apply_creates_with_only_the_applied_fields_owned() -> None:
    obj = FM.apply(None, config(replicas=3), manager="a", now=T0)
    assert obj["spec"] == {"replicas": 3}
    assert owners(obj) == {("a", "Apply"): {REPLICAS}}
    assert "apiVersion" in obj["metadata"]["managedFields"][0]


def test_two_managers_applying_different_fields_both_own_theirs() -> None:
    obj = FM.apply(created(), config(replicas=3), manager="a", force=True, now=T1)
    obj = FM.apply(obj, config(minReadySeconds=5), manager="b", now=T2)
    got = owners(obj)
    assert got[("a", "Apply")] == {REPLICAS}
    assert got[("b", "Apply")] == {("f:spec", "f:minReadySeconds")}
    assert obj["spec"]["replicas"] == 3 and obj["spec"]["minReadySeconds"] == 5


def test_a_different_value_for_a_field_another_manager_owns_is_a_409_naming_field_and_manager() -> None:
    live = created("kubectl-client-side-apply")
    with pytest.raises(Conflict) as caught:
        FM.apply(live, config(replicas=3), manager="a")
    status = caught.value.status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas')
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "field": ".spec.replicas",
                                            "message": 'conflict with "kubectl-client-side-apply" using apps/v1'}]


def test_several_conflicts_are_listed_by_manager() -> None:
    live = FM.apply(created(), config(replicas=3, minReadySeconds=1), manager="a", force=True, now=T1)
    with pytest.raises(Conflict) as caught:
        FM.apply(live, config(replicas=4, minReadySeconds=2), manager="b")
    assert caught.value.message == (
        'Apply failed with 2 conflicts: conflicts with "a":\n- .spec.minReadySeconds\n- .spec.replicas')


def test_the_same_value_is_no_conflict_and_both_managers_own_the_field() -> None:
    obj = FM.apply(created(), config(replicas=2), manager="a", now=T1)
    got = owners(obj)
    assert REPLICAS in got[("a", "Apply")] and REPLICAS in got[("kubectl-create", "Update")]


def test_force_takes_the_field_from_its_owner() -> None:
    obj = FM.apply(created(), config(replicas=3), manager="a", force=True, now=T1)
    got = owners(obj)
    assert obj["spec"]["replicas"] == 3
    assert REPLICAS in got[("a", "Apply")] and REPLICAS not in got[("kubectl-create", "Update")]


def test_a_field_no_longer_applied_is_removed_unless_someone_else_owns_it() -> None:
    obj = FM.apply(None, config(replicas=3, minReadySeconds=5, paused=True), manager="a", now=T0)
    obj = FM.apply(obj, config(paused=True), manager="b", now=T1)  # b co-owns paused
    obj = FM.apply(obj, config(replicas=3), manager="a", now=T2)
    assert obj["spec"] == {"replicas": 3, "paused": True}
    assert owners(obj)[("a", "Apply")] == {REPLICAS}


def test_list_items_are_owned_by_merge_key_and_pruned_one_by_one() -> None:
    def containers(*names: str) -> dict[str, Any]:
        return config(template={"spec": {"containers": [{"name": n, "image": f"{n}:1"} for n in names]}})

    obj = FM.apply(None, containers("app"), manager="a", now=T0)
    obj = FM.apply(obj, containers("side"), manager="b", now=T1)
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["app", "side"]
    assert (*APP, "f:image") in owners(obj)[("a", "Apply")]
    obj = FM.apply(obj, config(replicas=1), manager="a", now=T2)  # a no longer applies its container
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["side"]


def test_reapplying_the_same_configuration_changes_nothing_but_keeps_the_time() -> None:
    obj = FM.apply(None, config(replicas=3), manager="a", now=T0)
    again = FM.apply(obj, config(replicas=3), manager="a", now=T2)
    assert again["spec"] == obj["spec"]
    assert again["metadata"]["managedFields"] == obj["metadata"]["managedFields"]


def test_apply_on_an_object_without_managed_fields_credits_the_rest_to_before_first_apply() -> None:
    with pytest.raises(Conflict, match=f'"{BEFORE_FIRST_APPLY}" using apps/v1: .spec.replicas'):
        FM.apply(deployment(), config(replicas=9), manager="a")


def test_apply_checks_the_configuration_kind_version_and_keys() -> None:
    with pytest.raises(BadRequest, match="Incorrect version"):
        FM.apply(None, {**config(), "apiVersion": "v1"}, manager="a")
    with pytest.raises(BadRequest, match="managedFields must be nil"):
        FM.apply(None, {**config(), "metadata": {"name": "web", "managedFields": []}}, manager="a")
    with pytest.raises(Invalid, match='omits key field "name"'):
        FM.apply(None, config(template={"spec": {"containers": [{"image": "x"}]}}), manager="a")


def test_a_status_apply_owns_status_fields_with_its_subresource() -> None:
    live = created()
    plan = FM.begin_apply(live, {**config(), "status": {"replicas": 2}}, manager="ctl", subresource="status")
    FM.finish_apply(plan, plan.obj, force=False, subresource="status", now=T1)
    [entry] = [e for e in plan.obj["metadata"]["managedFields"] if e["manager"] == "ctl"]
    assert entry["subresource"] == "status" and from_fields_v1(entry["fieldsV1"]) == {("f:status", "f:replicas")}


# --------------------------------------------------------------------------- client-side apply migration


def client_side_applied(replicas: int = 2) -> dict[str, Any]:
    obj = deployment(replicas)
    last = {k: v for k, v in copy.deepcopy(obj).items()}
    last["metadata"] = {"name": "web", "namespace": "default", "annotations": {}}
    obj["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(last)}
    FM.record_create(obj, manager="kubectl-client-side-apply", now=T0)
    return obj


def test_kubectl_server_side_apply_takes_over_fields_it_set_by_client_side_apply() -> None:
    live = client_side_applied(replicas=2)
    obj = FM.apply(live, config(replicas=3), manager="kubectl", now=T1)
    assert obj["spec"]["replicas"] == 3
    got = owners(obj)
    assert REPLICAS in got[("kubectl", "Apply")] and REPLICAS not in got[("kubectl-client-side-apply", "Update")]
    assert json.loads(obj["metadata"]["annotations"][LAST_APPLIED]) == config(replicas=3)


def test_other_managers_still_conflict_with_client_side_applied_fields() -> None:
    with pytest.raises(Conflict, match="kubectl-client-side-apply"):
        FM.apply(client_side_applied(), config(replicas=3), manager="argo")


def test_fields_changed_since_the_client_side_apply_still_conflict_for_kubectl() -> None:
    live = client_side_applied(replicas=2)
    edited = copy.deepcopy(live)
    edited["spec"]["replicas"] = 4  # changed after the client-side apply: the annotation no longer vouches
    edited["metadata"]["managedFields"] = live["metadata"]["managedFields"]
    with pytest.raises(Conflict, match=r"\.spec\.replicas"):
        FM.apply(edited, config(replicas=3), manager="kubectl")


# --------------------------------------------------------------------------- options


def test_the_manager_comes_from_the_query_or_the_user_agent_product() -> None:
    assert manager_name("mine", "kubectl/v1.32.0 (linux/amd64)") == "mine"
    assert manager_name(None, "kubectl/v1.32.0 (linux/amd64) kubernetes/abc") == "kubectl"
    assert manager_name("", "OpenAPI-Generator/37.0.3/python") == "OpenAPI-Generator"
    assert manager_name(None, "Go-http-client/1.1") == "Go-http-client"
    with pytest.raises(Invalid, match='CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long'):
        manager_name("x" * 129, None, options_kind="CreateOptions")


def test_apply_needs_a_field_manager_and_force_only_goes_with_apply() -> None:
    with pytest.raises(Invalid, match="fieldManager: Required value: is required for apply patch"):
        check_apply_options(field_manager=None, force=None, apply=True)
    with pytest.raises(Invalid, match="force: Forbidden"):
        check_apply_options(field_manager=None, force="true", apply=False)
    assert check_apply_options(field_manager="a", force="True", apply=True) is True
    assert check_apply_options(field_manager="a", force="0", apply=True) is False
    with pytest.raises(BadRequest, match="force"):
        check_apply_options(field_manager="a", force="maybe", apply=True)
    assert check_apply_options(field_manager="a", force=None, apply=True) is False


def test_entries_decode_refuses_duplicates_and_unknown_operations() -> None:
    entry = {"manager": "a", "operation": "Apply", "apiVersion": "apps/v1", "fieldsV1": {}}
    with pytest.raises(ValueError, match="duplicate"):
        managed.decode([entry, dict(entry)])
    with pytest.raises(ValueError, match="operation"):
        managed.decode([{**entry, "operation": "Patch"}])


def test_only_built_in_kinds_use_the_strategic_merge_table() -> None:
    from orchestrator.apiserver.fieldmanager import field_manager_for

    assert field_manager_for("Deployment", "apps/v1", True).schema.list_type("spec.template.spec.containers").keys == (
        "name",)
    custom = field_manager_for("Deployment", "example.com/v1", True)
    assert custom.schema.list_type("spec.template.spec.containers").kind == "atomic"
