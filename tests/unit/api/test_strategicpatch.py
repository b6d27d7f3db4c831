"""The three PATCH types: RFC 7386 and RFC 6902 examples, and strategic merge as kubectl sends it."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from orchestrator.api.errors import BadRequest, Invalid, UnsupportedMediaType
from orchestrator.api.strategicpatch import (
    apply_patch,
    create_two_way_merge_patch,
    decode_apply,
    is_apply,
    json_patch,
    merge_lists,
    merge_patch,
    strategic_merge_patch,
)


def deployment(*containers: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels if labels is not None else {"app": "web", "tier": "frontend"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": dict(labels), "resourceVersion": "7"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [copy.deepcopy(c) for c in containers]},
            },
        },
    }


def nginx(image: str = "nginx:1.25", **extra: Any) -> dict[str, Any]:
    return {"name": "nginx", "image": image, **extra}


def containers_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


def no_directives(value: Any) -> bool:
    if isinstance(value, dict):
        return all(not k.startswith("$") and no_directives(v) for k, v in value.items())
    if isinstance(value, list):
        return all(no_directives(v) for v in value)
    return True


# --------------------------------------------------------------------------- RFC 7386 appendix A


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc7386_examples(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def test_merge_patch_replaces_lists_wholesale() -> None:
    obj = deployment(nginx(), {"name": "sidecar", "image": "busybox"})
    patched = merge_patch(
        obj, {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "x"}]}}}}
    )
    assert containers_of(patched) == [{"name": "nginx", "image": "x"}]


# --------------------------------------------------------------------------- RFC 6902 appendix A


@pytest.mark.parametrize(
    ("target", "ops", "expected"),
    [
        ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
        (
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
        ),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
        (
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
        ),
        (
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        ),
        (
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
        ),
        (
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
            {"baz": "qux", "foo": ["a", 2, "c"]},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
        ),
        ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
        (
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
        ),
    ],
)
def test_json_patch_follows_rfc6902_examples(target: dict[str, Any], ops: list[Any], expected: Any) -> None:
    assert json_patch(target, ops) == expected


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/baz", "value": "bar"}],  # A.9: test fails
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],  # A.12: parent does not exist
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
    ],
)
def test_json_patch_that_cannot_apply_is_422_invalid(ops: list[Any]) -> None:
    with pytest.raises(Invalid) as caught:
        json_patch({"baz": "qux", "foo": "bar"}, ops)
    status = caught.value.status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == "the server rejected our request due to an error in our request"
    assert status["details"]["causes"][0]["field"] == ops[0]["path"]


def test_json_patch_is_all_or_nothing() -> None:
    obj = {"a": 1}
    with pytest.raises(Invalid):
        json_patch(
            obj, [{"op": "replace", "path": "/a", "value": 2}, {"op": "test", "path": "/a", "value": 1}]
        )
    assert obj == {"a": 1}


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "add", "path": "/a", "value": 1},  # not a list
        ["add"],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "value": 1}],  # no path
        [{"op": "add", "path": "/a"}],  # no value
    ],
)
def test_json_patch_body_that_is_not_a_list_of_operations_is_400(ops: Any) -> None:
    with pytest.raises(BadRequest):
        json_patch({"a": 1}, ops)


# --------------------------------------------------------------------------- dispatch


def test_apply_patch_dispatches_on_media_type_and_ignores_parameters() -> None:
    obj = deployment(nginx())
    by_merge = apply_patch(
        obj,
        b'{"spec":{"replicas":5}}',
        content_type="application/merge-patch+json; charset=utf-8",
        kind="Deployment",
    )
    by_json = apply_patch(
        obj,
        b'[{"op":"replace","path":"/spec/replicas","value":5}]',
        content_type="application/json-patch+json",
        kind="Deployment",
    )
    by_smp = apply_patch(
        obj,
        b'{"spec":{"replicas":5}}',
        content_type="Application/Strategic-Merge-Patch+JSON",
        kind="Deployment",
    )
    assert by_merge["spec"]["replicas"] == by_json["spec"]["replicas"] == by_smp["spec"]["replicas"] == 5


def test_apply_patch_merge_type_replaces_merge_lists_but_strategic_merges_them() -> None:
    obj = deployment(nginx(), {"name": "sidecar", "image": "busybox"})
    body = json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "x"}]}}}}
    ).encode()
    merged = apply_patch(obj, body, content_type="application/merge-patch+json", kind="Deployment")
    strategic = apply_patch(
        obj, body, content_type="application/strategic-merge-patch+json", kind="Deployment"
    )
    assert [c["name"] for c in containers_of(merged)] == ["nginx"]
    assert containers_of(strategic) == [
        {"name": "nginx", "image": "x"},
        {"name": "sidecar", "image": "busybox"},
    ]


def test_unknown_patch_media_type_is_415_listing_the_supported_ones() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        apply_patch({}, b"{}", content_type="application/json", kind="Pod")
    assert caught.value.status()["code"] == 415
    for media_type in (
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ):
        assert media_type in caught.value.message


def test_an_apply_body_is_json_or_yaml_and_dates_stay_strings() -> None:
    assert is_apply("application/apply-patch+yaml; charset=utf-8")
    assert decode_apply(b'{"kind": "Pod"}') == {"kind": "Pod"}
    assert decode_apply(b"kind: Pod\nmetadata:\n  annotations:\n    when: 2024-01-02\n") == {
        "kind": "Pod", "metadata": {"annotations": {"when": "2024-01-02"}}}
    with pytest.raises(BadRequest, match="error decoding YAML"):
        decode_apply(b"kind: [unclosed")
    with pytest.raises(BadRequest, match="empty"):
        decode_apply(b"  ")


@pytest.mark.parametrize(
    "content_type",
    ["application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json"],
)
def test_body_that_is_not_json_is_400_with_the_parse_error(content_type: str) -> None:
    with pytest.raises(BadRequest) as caught:
        apply_patch({"a": 1}, b'{"spec": ', content_type=content_type, kind="Pod")
    assert caught.value.message.startswith("error decoding patch: ")


def test_merge_and_strategic_bodies_must_be_objects() -> None:
    for content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        with pytest.raises(BadRequest):
            apply_patch({"a": 1}, b"[1]", content_type=content_type, kind="Pod")


def test_apply_patch_never_mutates_the_input_object() -> None:
    obj = deployment(nginx(env=[{"name": "A", "value": "1"}]))
    snapshot = copy.deepcopy(obj)
    bodies = {
        "application/merge-patch+json": b'{"metadata":{"labels":{"tier":null}},"spec":{"replicas":1}}',
        "application/json-patch+json": b'[{"op":"remove","path":"/metadata/labels/tier"}]',
        "application/strategic-merge-patch+json": json.dumps(
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "nginx", "env": [{"name": "B", "value": "2"}]}]}
                    }
                }
            }
        ).encode(),
    }
    for content_type, body in bodies.items():
        apply_patch(obj, body, content_type=content_type, kind="Deployment")
    assert obj == snapshot


def test_result_shares_no_structure_with_the_input() -> None:
    obj = deployment(nginx())
    patched = strategic_merge_patch(obj, {"spec": {"replicas": 3}}, kind="Deployment")
    containers_of(patched)[0]["image"] = "changed"
    assert containers_of(obj)[0]["image"] == "nginx:1.25"


# ----------------------------------------------------------- strategic merge, as kubectl sends it


def test_kubectl_apply_changing_the_image_of_a_one_container_deployment() -> None:
    obj = deployment(nginx(ports=[{"containerPort": 80}]))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [{"image": "nginx:1.26", "name": "nginx"}],
                }
            }
        }
    }
    patched = strategic_merge_patch(obj, patch, kind="Deployment")
    assert containers_of(patched) == [
        {"name": "nginx", "image": "nginx:1.26", "ports": [{"containerPort": 80}]}
    ]
    assert no_directives(patched)


def test_null_removes_a_label_and_keeps_the_others() -> None:
    patched = strategic_merge_patch(
        deployment(nginx()), {"metadata": {"labels": {"tier": None}}}, kind="Deployment"
    )
    assert patched["metadata"]["labels"] == {"app": "web"}


def test_null_for_an_absent_key_is_ignored_and_not_stored() -> None:
    patched = strategic_merge_patch(
        deployment(nginx()), {"metadata": {"annotations": {"x": None}}}, kind="Deployment"
    )
    assert patched["metadata"]["annotations"] == {}


def test_patch_delete_removes_one_container() -> None:
    obj = deployment(nginx(), {"name": "b", "image": "busybox"}, {"name": "c", "image": "redis"})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}, {"name": "c"}],
                    "containers": [{"$patch": "delete", "name": "b"}],
                }
            }
        }
    }
    patched = strategic_merge_patch(obj, patch, kind="Deployment")
    assert [c["name"] for c in containers_of(patched)] == ["nginx", "c"]
    assert no_directives(patched)


def test_adding_an_env_var_keeps_the_others() -> None:
    obj = deployment(nginx(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [
                        {
                            "name": "nginx",
                            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
                            "env": [{"name": "C", "value": "3"}],
                        }
                    ],
                }
            }
        }
    }
    patched = strategic_merge_patch(obj, patch, kind="Deployment")
    assert containers_of(patched)[0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
        {"name": "C", "value": "3"},
    ]
    assert no_directives(patched)


def test_changing_one_env_var_merges_by_name() -> None:
    obj = deployment(nginx(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "nginx", "env": [{"name": "B", "value": "9"}]}]}}
        }
    }
    patched = strategic_merge_patch(obj, patch, kind="Deployment")
    assert containers_of(patched)[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "9"}]


def test_ports_merge_by_container_port() -> None:
    obj = deployment(nginx(ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 443}]))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 8080}],
                        }
                    ]
                }
            }
        }
    }
    ports = containers_of(strategic_merge_patch(obj, patch, kind="Deployment"))[0]["ports"]
    assert sorted(ports, key=lambda p: p["containerPort"]) == [
        {"containerPort": 80, "name": "web"},
        {"containerPort": 443},
        {"containerPort": 8080},
    ]


def test_volume_mounts_merge_by_mount_path() -> None:
    obj = deployment(nginx(volumeMounts=[{"name": "data", "mountPath": "/data"}]))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "nginx", "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}
                    ]
                }
            }
        }
    }
    mounts = containers_of(strategic_merge_patch(obj, patch, kind="Deployment"))[0]["volumeMounts"]
    assert {m["mountPath"] for m in mounts} == {"/data", "/cache"}


def test_tolerations_are_replaced_wholesale() -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [nginx()],
            "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
        },
    }
    patched = strategic_merge_patch(
        pod, {"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}}, kind="Pod"
    )
    assert patched["spec"]["tolerations"] == [{"key": "c", "operator": "Exists"}]


def test_pod_conditions_merge_by_type() -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "status": {
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}]
        },
    }
    patch = {
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}]
        }
    }
    conditions = strategic_merge_patch(pod, patch, kind="Pod")["status"]["conditions"]
    assert {c["type"]: c["status"] for c in conditions} == {
        "PodScheduled": "True",
        "Ready": "True",
        "Initialized": "True",
    }


def test_node_conditions_and_addresses_merge_by_type_and_taints_are_replaced() -> None:
    node = {
        "kind": "Node",
        "metadata": {"name": "n1"},
        "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "MemoryPressure", "status": "False"},
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        },
    }
    patch = {
        "spec": {"taints": [{"key": "b", "effect": "NoExecute"}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "n1"}],
        },
    }
    patched = strategic_merge_patch(node, patch, kind="Node")
    assert patched["spec"]["taints"] == [{"key": "b", "effect": "NoExecute"}]
    assert {c["type"]: c["status"] for c in patched["status"]["conditions"]} == {
        "Ready": "True",
        "MemoryPressure": "False",
    }
    assert {a["type"] for a in patched["status"]["addresses"]} == {"InternalIP", "Hostname"}


def test_container_statuses_are_replaced_as_upstream_declares_them_atomic() -> None:
    pod = {
        "kind": "Pod",
        "status": {"containerStatuses": [{"name": "a", "ready": False}, {"name": "b", "ready": False}]},
    }
    patched = strategic_merge_patch(
        pod, {"status": {"containerStatuses": [{"name": "a", "ready": True}]}}, kind="Pod"
    )
    assert patched["status"]["containerStatuses"] == [{"name": "a", "ready": True}]


def test_owner_references_merge_by_uid_for_every_kind() -> None:
    obj = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}
    for kind in ("ReplicaSet", "Pod", "ConfigMap"):
        refs = strategic_merge_patch(obj, patch, kind=kind)["metadata"]["ownerReferences"]
        assert {r["uid"] for r in refs} == {"1", "2"}


def test_finalizers_are_a_merge_list_of_scalars() -> None:
    obj = {"metadata": {"finalizers": ["a", "b"]}}
    added = strategic_merge_patch(obj, {"metadata": {"finalizers": ["b", "c"]}}, kind="Pod")
    assert sorted(added["metadata"]["finalizers"]) == ["a", "b", "c"]
    removed = strategic_merge_patch(
        obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, kind="Pod"
    )
    assert removed["metadata"]["finalizers"] == ["b"]


def test_set_element_order_reorders_and_keeps_server_only_elements_in_live_position() -> None:
    obj = deployment({"name": "a", "image": "1"}, {"name": "b", "image": "2"}, {"name": "c", "image": "3"})
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]}}}}
    patched = strategic_merge_patch(obj, patch, kind="Deployment")
    # b was never in the applied config (someone else added it): kept, before c as it was live.
    assert [c["name"] for c in containers_of(patched)] == ["b", "c", "a"]


def test_patch_replace_in_a_merge_list_replaces_the_list() -> None:
    obj = deployment(nginx(), {"name": "b", "image": "busybox"})
    patch = {
        "spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "z", "image": "zz"}]}}}
    }
    patched = strategic_merge_patch(obj, patch, kind="Deployment")
    assert containers_of(patched) == [{"name": "z", "image": "zz"}]


def test_patch_replace_in_a_map_replaces_the_map() -> None:
    patch = {"metadata": {"labels": {"$patch": "replace", "new": "x"}}}
    patched = strategic_merge_patch(deployment(nginx()), patch, kind="Deployment")
    assert patched["metadata"]["labels"] == {"new": "x"}


def test_retain_keys_drops_unlisted_keys_and_does_not_leak() -> None:
    obj = deployment(nginx())
    obj["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    patched = strategic_merge_patch(obj, patch, kind="Deployment")
    assert patched["spec"]["strategy"] == {"type": "Recreate"}


def test_directives_in_a_new_subtree_do_not_leak() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}],
            "containers": [
                {
                    "name": "a",
                    "image": "x",
                    "env": [{"$patch": "delete", "name": "gone"}],
                    "resources": {"$patch": "replace", "limits": {"cpu": "1"}},
                }
            ],
        }
    }
    patched = strategic_merge_patch(pod, patch, kind="Pod")
    assert patched["spec"]["containers"] == [
        {"name": "a", "image": "x", "env": [], "resources": {"limits": {"cpu": "1"}}}
    ]
    assert no_directives(patched)


def test_unknown_kind_is_plain_merge_with_lists_replaced() -> None:
    obj = {"data": {"a": "1"}, "items": [{"name": "a"}, {"name": "b"}]}
    patched = strategic_merge_patch(obj, {"data": {"b": "2"}, "items": [{"name": "c"}]}, kind="ConfigMap")
    assert patched == {"data": {"a": "1", "b": "2"}, "items": [{"name": "c"}]}


@pytest.mark.parametrize(
    "patch",
    [
        {"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}},  # merge key missing
        {"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}},
        {"spec": {"template": {"spec": {"containers": [{"$patch": "explode", "name": "nginx"}]}}}},
        {"metadata": {"$patch": "explode"}},
        {"metadata": {"$retainKeys": "name"}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
        {"metadata": {"$frobnicate": 1}},
    ],
)
def test_malformed_strategic_patch_is_400(patch: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        strategic_merge_patch(deployment(nginx()), patch, kind="Deployment")


def test_merge_list_table_names_the_pod_template_paths_for_workloads() -> None:
    table = merge_lists("Deployment")
    assert table["spec.template.spec.containers"].key == "name"
    assert table["spec.template.spec.containers[].ports"].key == "containerPort"
    assert table["metadata.finalizers"].key is None
    assert "spec.template.spec.tolerations" not in table


# --------------------------------------------------------------------------- diff, apply and idempotence


def applied_config() -> dict[str, Any]:
    return deployment(
        nginx(
            ports=[{"containerPort": 80}],
            env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            volumeMounts=[{"name": "data", "mountPath": "/data"}],
        ),
        {"name": "sidecar", "image": "busybox", "args": ["sleep", "1d"]},
    )


def test_second_apply_of_the_same_patch_is_idempotent() -> None:
    patch = {
        "metadata": {"labels": {"tier": None}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.26",
                            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                            "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
                        },
                        {"$patch": "delete", "name": "sidecar"},
                    ],
                }
            }
        },
    }
    once = strategic_merge_patch(applied_config(), patch, kind="Deployment")
    twice = strategic_merge_patch(once, patch, kind="Deployment")
    assert once == twice
    assert containers_of(once) == [
        {
            "name": "nginx",
            "image": "nginx:1.26",
            "ports": [{"containerPort": 80}],
            "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        }
    ]


def test_identical_objects_diff_to_an_empty_patch() -> None:
    assert create_two_way_merge_patch(applied_config(), applied_config(), kind="Deployment") == {}


def test_diff_of_an_image_change_is_the_patch_kubectl_sends() -> None:
    before = deployment(nginx())
    after = deployment(nginx("nginx:1.26"))
    assert create_two_way_merge_patch(before, after, kind="Deployment") == {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "nginx"}],
                    "containers": [{"image": "nginx:1.26", "name": "nginx"}],
                }
            }
        }
    }


def _mutate(obj: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One random edit of the kind a user makes to an applied manifest."""
    obj = copy.deepcopy(obj)
    meta, pod = obj["metadata"], obj["spec"]["template"]["spec"]
    containers = pod["containers"]
    choice = rng.randrange(14)
    if choice == 0 and containers:
        rng.choice(containers)["image"] = f"img:{rng.randrange(100)}"
    elif choice == 1:
        containers.append({"name": f"c{rng.randrange(1000)}", "image": "x"})
        # Names must stay unique, as validation guarantees for real objects.
        seen: set[str] = set()
        pod["containers"] = [c for c in containers if not (c["name"] in seen or seen.add(c["name"]))]
    elif choice == 2 and len(containers) > 1:
        containers.pop(rng.randrange(len(containers)))
    elif choice == 3:
        rng.shuffle(containers)
    elif choice == 4 and containers:
        env = rng.choice(containers).setdefault("env", [])
        name = f"E{rng.randrange(5)}"
        env[:] = [e for e in env if e["name"] != name]
        env.insert(rng.randrange(len(env) + 1), {"name": name, "value": str(rng.randrange(9))})
    elif choice == 5 and containers:
        container = rng.choice(containers)
        if container.get("env"):
            container["env"].pop(rng.randrange(len(container["env"])))
    elif choice == 6 and containers:
        ports = rng.choice(containers).setdefault("ports", [])
        port = rng.choice([80, 443, 8080, 9090])
        if all(p["containerPort"] != port for p in ports):
            ports.append({"containerPort": port, "protocol": "TCP"})
    elif choice == 7:
        meta["labels"].pop(rng.choice(sorted(meta["labels"]) or ["none"]), None)
    elif choice == 8:
        meta["labels"][f"l{rng.randrange(5)}"] = str(rng.randrange(5))
    elif choice == 9:
        finalizers = meta.setdefault("finalizers", [])
        f = f"example.com/f{rng.randrange(4)}"
        if f in finalizers:
            finalizers.remove(f)
        else:
            finalizers.insert(rng.randrange(len(finalizers) + 1), f)
    elif choice == 10:
        pod["tolerations"] = [{"key": f"k{i}", "operator": "Exists"} for i in range(rng.randrange(3))]
    elif choice == 11:
        obj["spec"]["replicas"] = rng.randrange(6)
    elif choice == 12 and containers:
        container = rng.choice(containers)
        container["resources"] = {"limits": {"cpu": f"{rng.randrange(1, 4)}"}} if rng.random() < 0.7 else {}
    elif choice == 13:
        pod["volumes"] = [{"name": f"v{i}", "emptyDir": {}} for i in rng.sample(range(4), rng.randrange(4))]
    return obj


@pytest.mark.parametrize("seed", range(200))
def test_applying_the_computed_patch_for_a_change_gives_the_changed_object(seed: int) -> None:
    rng = random.Random(seed)
    before = applied_config()
    for _ in range(rng.randrange(3)):
        before = _mutate(before, rng)
    after = before
    for _ in range(rng.randrange(1, 5)):
        after = _mutate(after, rng)
    patch = create_two_way_merge_patch(before, after, kind="Deployment")
    body = json.dumps(patch).encode()
    result = apply_patch(
        before, body, content_type="application/strategic-merge-patch+json", kind="Deployment"
    )
    assert result == after, json.dumps(patch)
    assert strategic_merge_patch(result, patch, kind="Deployment") == after  # re-apply changes nothing
