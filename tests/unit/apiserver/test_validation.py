"""Objects are decoded, defaulted and validated on their way to storage as kube-apiserver does it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator.api.errors import BadRequest, Invalid
from orchestrator.api.resources import lookup
from orchestrator.apiserver.registry import strategy_for
from orchestrator.apiserver.registry.rest import prepare_create, prepare_update
from orchestrator.apiserver.validation import LAST_APPLIED_ANNOTATION, qos_class

PODS = lookup("", "pods")
DEPLOYMENTS = lookup("apps", "deployments")
REPLICASETS = lookup("apps", "replicasets")
NAMESPACES = lookup("", "namespaces")
NODES = lookup("", "nodes")
EVENTS = lookup("", "events")
LEASES = lookup("coordination.k8s.io", "leases")
NOW = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}], **spec}}


def deployment(**spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
            },
        },
    }
    body["spec"].update(spec)
    return body


def create_pod(body: dict[str, Any], *, field_validation: str | None = "Strict") -> dict[str, Any]:
    return prepare_create(strategy_for(PODS), body, namespace="default", field_validation=field_validation, now=NOW).obj


def invalid_causes(call: Any) -> list[tuple[str, str]]:
    with pytest.raises(Invalid) as caught:
        call()
    return [(c.field, c.message) for c in caught.value.causes]


# --- defaulting ------------------------------------------------------------------------------------------


def test_minimal_pod_gets_kubernetes_defaults_and_pending_status() -> None:
    obj = create_pod({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}})
    meta = obj["metadata"]
    assert (obj["apiVersion"], obj["kind"]) == ("v1", "Pod")
    assert meta["namespace"] == "default"
    assert meta["creationTimestamp"] == "2024-05-01T12:30:45Z"
    assert len(meta["uid"]) == 36 and meta["generation"] == 1
    assert obj["spec"] == {
        "containers": [
            {
                "name": "app",
                "image": "nginx",
                "imagePullPolicy": "Always",
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "resources": {},
            }
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "priority": 0,
    }
    assert obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy_defaults_from_the_tag(image: str, policy: str) -> None:
    obj = create_pod({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": image}]}})
    assert obj["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_client_chosen_status_is_replaced_on_create() -> None:
    body = pod()
    body["status"] = {"phase": "Running", "podIP": "10.0.0.1"}
    assert create_pod(body)["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_ports_default_to_tcp_and_probes_get_their_timings() -> None:
    body = pod()
    container = body["spec"]["containers"][0]
    container["ports"] = [{"containerPort": 80}]
    container["livenessProbe"] = {"httpGet": {"port": 80, "path": "/"}}
    obj = create_pod(body)["spec"]["containers"][0]
    assert obj["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert obj["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3,
    }


def test_limits_without_requests_become_requests_and_quantities_are_canonical() -> None:
    body = pod()
    body["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 0.5, "memory": "1024Mi"}}
    obj = create_pod(body)
    assert obj["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "1Gi"},
        "requests": {"cpu": "500m", "memory": "1Gi"},
    }
    assert obj["status"]["qosClass"] == "Guaranteed"


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"requests": {"cpu": "100m"}}, "Burstable"),
        ({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        ({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}, "Burstable"),
        ({"requests": {"cpu": "0"}}, "BestEffort"),
    ],
)
def test_qos_class_follows_requests_and_limits(resources: dict[str, Any], qos: str) -> None:
    assert qos_class({"containers": [{"name": "c", "resources": resources}]}) == qos


def test_minimal_deployment_gets_kubernetes_defaults() -> None:
    obj = prepare_create(strategy_for(DEPLOYMENTS), deployment(), namespace="default", field_validation="Strict", now=NOW).obj
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    template = spec["template"]["spec"]
    assert template["restartPolicy"] == "Always"
    assert template["dnsPolicy"] == "ClusterFirst"
    assert template["schedulerName"] == "default-scheduler"
    assert template["terminationGracePeriodSeconds"] == 30
    assert template["containers"][0]["imagePullPolicy"] == "Always"
    assert "priority" not in template  # set on pods by admission, not on templates
    assert obj["metadata"]["generation"] == 1
    assert obj["status"] == {}


def test_recreate_strategy_gets_no_rolling_update_defaults() -> None:
    obj = prepare_create(strategy_for(DEPLOYMENTS), deployment(strategy={"type": "Recreate"}), namespace="default", field_validation="Strict"
    ).obj
    assert obj["spec"]["strategy"] == {"type": "Recreate"}


def test_replicaset_defaults_one_replica() -> None:
    body = deployment()
    body["kind"] = "ReplicaSet"
    obj = prepare_create(strategy_for(REPLICASETS), body, namespace="default", field_validation="Strict").obj
    assert obj["spec"]["replicas"] == 1 and obj["metadata"]["generation"] == 1


def test_namespace_starts_active_and_has_no_namespace_or_generation() -> None:
    obj = prepare_create(strategy_for(NAMESPACES), {"metadata": {"name": "team-a", "namespace": "x"}}, namespace=None, field_validation="Strict"
    ).obj
    assert obj["status"] == {"phase": "Active"}
    assert "namespace" not in obj["metadata"] and "generation" not in obj["metadata"]


def test_event_defaults_type_count_and_timestamps() -> None:
    body = {"metadata": {"name": "web.1"}, "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Scheduled", "message": "assigned"}
    obj = prepare_create(strategy_for(EVENTS), body, namespace="default", field_validation="Strict", now=NOW).obj
    assert (obj["type"], obj["count"]) == ("Normal", 1)
    assert obj["firstTimestamp"] == obj["lastTimestamp"] == "2024-05-01T12:30:45Z"


def test_node_allocatable_defaults_to_capacity_and_status_is_kept() -> None:
    body = {"metadata": {"name": "node-1"}, "status": {"capacity": {"cpu": "4", "memory": "8192Mi", "pods": "110"}}}
    obj = prepare_create(strategy_for(NODES), body, namespace=None, field_validation="Strict").obj
    assert obj["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi", "pods": "110"}


def test_lease_fields_are_kept_as_sent() -> None:
    spec = {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2024-05-01T12:30:45.123456Z"}
    obj = prepare_create(strategy_for(LEASES), {"metadata": {"name": "node-1"}, "spec": spec}, namespace="kube-node-lease", field_validation="Strict"
    ).obj
    assert obj["spec"] == spec and obj["apiVersion"] == "coordination.k8s.io/v1"


def test_generate_name_makes_a_name_with_a_random_suffix() -> None:
    obj = create_pod({"metadata": {"generateName": "web-"}, "spec": pod()["spec"]})
    assert obj["metadata"]["name"].startswith("web-") and len(obj["metadata"]["name"]) == 9


def test_last_applied_configuration_annotation_is_stored_as_is() -> None:
    text = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"}}\n'
    body = pod()
    body["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: text}
    assert create_pod(body)["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] == text


# --- decoding --------------------------------------------------------------------------------------------


def test_strict_field_validation_refuses_unknown_fields_with_their_paths() -> None:
    body = pod(foo=1)
    body["spec"]["containers"][0]["bar"] = True
    with pytest.raises(BadRequest) as caught:
        create_pod(body, field_validation="Strict")
    assert caught.value.message == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].bar", unknown field "spec.foo"'
    )


def test_warn_field_validation_drops_unknown_fields_and_reports_warnings() -> None:
    prepared = prepare_create(strategy_for(PODS), pod(foo=1), namespace="default", field_validation="Warn")
    assert prepared.warnings == ['unknown field "spec.foo"']
    assert "foo" not in prepared.obj["spec"]


def test_absent_field_validation_means_warn() -> None:
    prepared = prepare_create(strategy_for(PODS), pod(foo=1), namespace="default", field_validation=None)
    assert prepared.warnings == ['unknown field "spec.foo"']


def test_ignore_field_validation_drops_unknown_fields_silently() -> None:
    prepared = prepare_create(strategy_for(PODS), pod(foo=1), namespace="default", field_validation="Ignore")
    assert prepared.warnings == [] and "foo" not in prepared.obj["spec"]


def test_unsupported_field_validation_value_is_refused() -> None:
    causes = invalid_causes(lambda: create_pod(pod(), field_validation="Loose"))
    assert causes == [("fieldValidation", 'Unsupported value: "Loose": supported values: "Ignore", "Strict", "Warn"')]


def test_open_security_context_keeps_fields_this_lab_does_not_model() -> None:
    body = pod()
    body["spec"]["containers"][0]["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    prepared = prepare_create(strategy_for(PODS), body, namespace="default", field_validation="Strict")
    assert prepared.obj["spec"]["containers"][0]["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}


def test_wrong_api_version_is_a_bad_request() -> None:
    body = pod()
    body["apiVersion"] = "apps/v1"
    with pytest.raises(BadRequest) as caught:
        create_pod(body)
    assert caught.value.message == "the API version in the data (apps/v1) does not match the expected API version (v1)"


def test_wrong_field_type_is_a_bad_request_naming_the_field() -> None:
    body = pod()
    body["spec"]["containers"][0]["ports"] = [{"containerPort": "80"}]
    with pytest.raises(BadRequest) as caught:
        create_pod(body)
    assert "spec.containers[0].ports[0].containerPort" in caught.value.message


def test_namespace_in_body_must_match_the_url() -> None:
    body = pod()
    body["metadata"]["namespace"] = "other"
    with pytest.raises(BadRequest) as caught:
        create_pod(body)
    assert caught.value.message == "the namespace of the provided object does not match the namespace sent on the request"


def test_resource_version_may_not_be_set_on_create() -> None:
    body = pod()
    body["metadata"]["resourceVersion"] = "12"
    with pytest.raises(BadRequest):
        create_pod(body)


# --- validation errors -----------------------------------------------------------------------------------


def test_missing_name_is_required_with_upstream_message_and_status() -> None:
    with pytest.raises(Invalid) as caught:
        create_pod({"metadata": {}, "spec": pod()["spec"]})
    status = caught.value.status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == 'Pod "" is invalid: metadata.name: Required value: name or generateName is required'
    assert status["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}
    ]


def test_invalid_pod_name_uses_dns_subdomain_rule() -> None:
    body = pod()
    body["metadata"]["name"] = "Web_1"
    ((field, message),) = invalid_causes(lambda: create_pod(body))
    assert field == "metadata.name"
    assert message.startswith('Invalid value: "Web_1": a lowercase RFC 1123 subdomain')


def test_namespace_name_uses_dns_label_rule() -> None:
    causes = invalid_causes(
        lambda: prepare_create(strategy_for(NAMESPACES), {"metadata": {"name": "a.b"}}, namespace=None, field_validation="Strict")
    )
    assert causes == [("metadata.name", 'Invalid value: "a.b": must not contain dots')]


def test_bad_labels_and_annotations_are_invalid() -> None:
    body = pod()
    body["metadata"]["labels"] = {"app": "bad value"}
    body["metadata"]["annotations"] = {"a/b/c": "x"}
    fields = [f for f, _ in invalid_causes(lambda: create_pod(body))]
    assert fields == ["metadata.labels", "metadata.annotations"]


def test_malformed_quantity_is_invalid_with_its_field_path() -> None:
    body = pod()
    body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "abc"}}
    assert invalid_causes(lambda: create_pod(body)) == [(
        "spec.containers[0].resources.requests.cpu",
        "Invalid value: \"abc\": quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    )]


def test_request_above_limit_is_invalid() -> None:
    body = pod()
    body["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    assert invalid_causes(lambda: create_pod(body)) == [
        ("spec.containers[0].resources.requests", 'Invalid value: "2": must be less than or equal to cpu limit of 1')
    ]


def test_container_names_must_be_unique_and_name_and_image_present() -> None:
    body = pod()
    body["spec"]["containers"] = [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}, {}]
    assert invalid_causes(lambda: create_pod(body)) == [
        ("spec.containers[1].name", 'Duplicate value: "a"'),
        ("spec.containers[2].name", "Required value"),
        ("spec.containers[2].image", "Required value"),
    ]


def test_pod_without_containers_is_invalid() -> None:
    assert invalid_causes(lambda: create_pod({"metadata": {"name": "p"}, "spec": {}})) == [
        ("spec.containers", "Required value")
    ]


def test_lab_refuses_host_network_host_path_and_privileged_containers() -> None:
    body = pod(hostNetwork=True, volumes=[{"name": "root", "hostPath": {"path": "/"}}])
    body["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    assert invalid_causes(lambda: create_pod(body)) == [
        ("spec.volumes[0].hostPath", "Forbidden: hostPath volumes are not allowed"),
        ("spec.containers[0].securityContext.privileged", "Forbidden: privileged containers are not allowed in this lab"),
        ("spec.hostNetwork", "Forbidden: hostNetwork is not allowed in this lab"),
    ]


def test_volume_mount_must_name_a_volume() -> None:
    body = pod(volumes=[{"name": "cache", "emptyDir": {}}])
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    assert invalid_causes(lambda: create_pod(body)) == [("spec.containers[0].volumeMounts[0].name", 'Not found: "data"')]


def test_container_port_out_of_range_is_invalid() -> None:
    body = pod()
    body["spec"]["containers"][0]["ports"] = [{"containerPort": 70000}]
    assert invalid_causes(lambda: create_pod(body)) == [
        ("spec.containers[0].ports[0].containerPort", "Invalid value: 70000: must be between 1 and 65535, inclusive")
    ]


def test_unsupported_restart_policy_lists_supported_values() -> None:
    assert invalid_causes(lambda: create_pod(pod(restartPolicy="Sometimes"))) == [
        ("spec.restartPolicy", 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"')
    ]


def test_toleration_effect_and_operator_rules() -> None:
    tolerations = [
        {"key": "a", "operator": "Exists", "value": "x", "effect": "NoSchedule"},
        {"key": "b", "effect": "Sometimes"},
        {"key": "c", "effect": "NoSchedule", "tolerationSeconds": 5},
    ]
    assert invalid_causes(lambda: create_pod(pod(tolerations=tolerations))) == [
        ("spec.tolerations[0].operator", "Invalid value: \"x\": value must be empty when `operator` is 'Exists'"),
        ("spec.tolerations[1].effect",
         'Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'),
        ("spec.tolerations[2].effect", "Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"),
    ]


def test_node_taint_effect_must_be_known() -> None:
    body = {"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "Never"}]}}
    assert invalid_causes(lambda: prepare_create(strategy_for(NODES), body, namespace=None, field_validation="Strict")) == [
        ("spec.taints[0].effect", 'Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"')
    ]


def test_negative_replicas_and_mismatched_selector_are_invalid() -> None:
    body = deployment(replicas=-1)
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(Invalid) as caught:
        prepare_create(strategy_for(DEPLOYMENTS), body, namespace="default", field_validation="Strict")
    assert caught.value.message == (
        'Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, '
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: '
        "`selector` does not match template `labels`]"
    )
    assert caught.value.status()["details"]["group"] == "apps"


def test_deployment_without_selector_is_invalid() -> None:
    body = deployment()
    del body["spec"]["selector"]
    causes = invalid_causes(lambda: prepare_create(strategy_for(DEPLOYMENTS), body, namespace="default", field_validation="Strict"))
    assert causes == [("spec.selector", "Required value")]


def test_rolling_update_may_not_have_zero_surge_and_zero_unavailable() -> None:
    body = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}})
    causes = invalid_causes(lambda: prepare_create(strategy_for(DEPLOYMENTS), body, namespace="default", field_validation="Strict"))
    assert causes == [("spec.strategy.rollingUpdate.maxUnavailable", "Invalid value: 0%: may not be 0 when `maxSurge` is 0")]


def test_template_restart_policy_must_be_always() -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    causes = invalid_causes(lambda: prepare_create(strategy_for(DEPLOYMENTS), body, namespace="default", field_validation="Strict"))
    assert causes == [("spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"')]


def test_event_involved_object_namespace_must_match() -> None:
    body = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "web", "namespace": "other"}}
    causes = invalid_causes(lambda: prepare_create(strategy_for(EVENTS), body, namespace="default", field_validation="Strict"))
    assert causes == [("involvedObject.namespace", 'Invalid value: "other": does not match event.namespace')]


def test_lease_duration_must_be_positive() -> None:
    body = {"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0}}
    causes = invalid_causes(lambda: prepare_create(strategy_for(LEASES), body, namespace="default", field_validation="Strict"))
    assert causes == [("spec.leaseDurationSeconds", "Invalid value: 0: must be greater than 0")]


# --- updates ---------------------------------------------------------------------------------------------


def stored_pod() -> dict[str, Any]:
    obj = create_pod(pod())
    obj["metadata"]["resourceVersion"] = "5"
    obj["spec"]["nodeName"] = "node-1"
    return obj


def test_update_keeps_identity_and_status_from_the_stored_object() -> None:
    old = stored_pod()
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"tier": "web"}
    new["metadata"]["creationTimestamp"] = "2000-01-01T00:00:00Z"
    del new["metadata"]["uid"]
    new["status"] = {"phase": "Succeeded"}
    result = prepare_update(strategy_for(PODS), old, new, field_validation="Strict").obj
    assert result["metadata"]["uid"] == old["metadata"]["uid"]
    assert result["metadata"]["creationTimestamp"] == old["metadata"]["creationTimestamp"]
    assert result["metadata"]["labels"] == {"tier": "web"}
    assert result["metadata"]["resourceVersion"] == "5"
    assert result["status"] == old["status"]
    assert result["metadata"]["generation"] == 1


def test_pod_image_change_is_allowed_and_bumps_generation() -> None:
    old = stored_pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    result = prepare_update(strategy_for(PODS), old, new, field_validation="Strict").obj
    assert result["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert result["metadata"]["generation"] == 2


def test_pod_spec_change_beyond_allowed_fields_is_forbidden() -> None:
    old = stored_pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["command"] = ["sleep", "1"]
    ((field, message),) = invalid_causes(lambda: prepare_update(strategy_for(PODS), old, new, field_validation="Strict"))
    assert field == "spec"
    assert message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
        "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
    )
    assert "spec.containers[0].command" in message


def test_pod_tolerations_may_be_added_but_not_removed() -> None:
    old = stored_pod()
    old["spec"]["tolerations"] = [{"key": "a", "operator": "Exists"}]
    added = copy.deepcopy(old)
    added["spec"]["tolerations"].append({"key": "b", "operator": "Exists"})
    assert len(prepare_update(strategy_for(PODS), old, added, field_validation="Strict").obj["spec"]["tolerations"]) == 2
    removed = copy.deepcopy(old)
    removed["spec"]["tolerations"] = []
    causes = invalid_causes(lambda: prepare_update(strategy_for(PODS), old, removed, field_validation="Strict"))
    assert causes == [("spec.tolerations", "Forbidden: existing toleration can not be modified except its tolerationSeconds")]


def test_update_with_different_name_is_a_bad_request() -> None:
    old = stored_pod()
    new = copy.deepcopy(old)
    new["metadata"]["name"] = "other"
    with pytest.raises(BadRequest) as caught:
        prepare_update(strategy_for(PODS), old, new, field_validation="Strict")
    assert caught.value.message == "the name of the object (other) does not match the name on the URL (web)"


def test_update_with_different_uid_is_invalid() -> None:
    old = stored_pod()
    new = copy.deepcopy(old)
    new["metadata"]["uid"] = "not-the-same"
    assert invalid_causes(lambda: prepare_update(strategy_for(PODS), old, new, field_validation="Strict")) == [
        ("metadata.uid", 'Invalid value: "not-the-same": field is immutable')
    ]


def test_update_strict_refuses_unknown_fields_too() -> None:
    old = stored_pod()
    new = copy.deepcopy(old)
    new["spec"]["foo"] = 1
    with pytest.raises(BadRequest):
        prepare_update(strategy_for(PODS), old, new, field_validation="Strict")


def stored_deployment() -> dict[str, Any]:
    obj = prepare_create(strategy_for(DEPLOYMENTS), deployment(), namespace="default", field_validation="Strict").obj
    obj["metadata"]["resourceVersion"] = "7"
    obj["status"] = {"replicas": 1, "observedGeneration": 1}
    return obj


def test_deployment_selector_is_immutable() -> None:
    old = stored_deployment()
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "v": "2"}}
    new["spec"]["template"]["metadata"]["labels"] = {"app": "web", "v": "2"}
    assert invalid_causes(lambda: prepare_update(strategy_for(DEPLOYMENTS), old, new, field_validation="Strict")) == [
        ("spec.selector", 'Invalid value: {"matchLabels":{"app":"web","v":"2"}}: field is immutable')
    ]


def test_deployment_spec_change_bumps_generation_and_metadata_only_change_does_not() -> None:
    old = stored_deployment()
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 3
    assert prepare_update(strategy_for(DEPLOYMENTS), old, scaled, field_validation="Strict").obj["metadata"]["generation"] == 2
    labelled = copy.deepcopy(old)
    labelled["metadata"]["labels"] = {"team": "a"}
    assert prepare_update(strategy_for(DEPLOYMENTS), old, labelled, field_validation="Strict").obj["metadata"]["generation"] == 1


def test_deployment_annotation_change_bumps_generation_like_upstream() -> None:
    old = stored_deployment()
    new = copy.deepcopy(old)
    new["metadata"]["annotations"] = {"note": "x"}
    assert prepare_update(strategy_for(DEPLOYMENTS), old, new, field_validation="Strict").obj["metadata"]["generation"] == 2


def test_main_resource_update_ignores_status() -> None:
    old = stored_deployment()
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 99}
    assert prepare_update(strategy_for(DEPLOYMENTS), old, new, field_validation="Strict").obj["status"] == old["status"]


def test_status_update_takes_only_the_status() -> None:
    old = stored_deployment()
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    new["metadata"]["labels"] = {"sneaky": "yes"}
    new["status"] = {"replicas": 1, "readyReplicas": 1, "observedGeneration": 1}
    result = prepare_update(strategy_for(DEPLOYMENTS), old, new, field_validation="Strict", subresource="status").obj
    assert result["status"] == {"replicas": 1, "readyReplicas": 1, "observedGeneration": 1}
    assert result["spec"] == old["spec"]
    assert "labels" not in result["metadata"]
    assert result["metadata"]["generation"] == 1


def test_pod_status_update_keeps_the_qos_class() -> None:
    old = stored_pod()
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running", "podIP": "10.1.0.5"}
    result = prepare_update(strategy_for(PODS), old, new, field_validation="Strict", subresource="status").obj
    assert result["status"] == {"phase": "Running", "podIP": "10.1.0.5", "qosClass": "BestEffort"}


def test_scale_update_sets_replicas_from_a_scale_object() -> None:
    old = stored_deployment()
    scale = strategy_for(DEPLOYMENTS).to_scale(old)
    assert scale["status"] == {"replicas": 1, "selector": "app=web"}
    scale["spec"]["replicas"] = 5
    result = prepare_update(strategy_for(DEPLOYMENTS), old, scale, field_validation=None, subresource="scale").obj
    assert result["spec"]["replicas"] == 5 and result["metadata"]["generation"] == 2
    assert result["spec"]["template"] == old["spec"]["template"]


def test_negative_scale_is_invalid() -> None:
    old = stored_deployment()
    scale = strategy_for(DEPLOYMENTS).to_scale(old)
    scale["spec"]["replicas"] = -2
    with pytest.raises(Invalid) as caught:
        prepare_update(strategy_for(DEPLOYMENTS), old, scale, field_validation=None, subresource="scale")
    assert caught.value.message == 'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -2: must be greater than or equal to 0'


def test_finalizers_cannot_be_added_while_deleting() -> None:
    old = stored_pod()
    old["metadata"]["deletionTimestamp"] = "2024-05-01T12:31:00Z"
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = ["example.com/hold"]
    ((field, message),) = invalid_causes(lambda: prepare_update(strategy_for(PODS), old, new, field_validation="Strict"))
    assert field == "metadata.finalizers"
    assert message.startswith("Forbidden: no new finalizers can be added if the object is being deleted")


# --- env and volumes from other objects (orchestrator/apiserver/podspecvalidation.py) --------------------


def test_env_value_from_and_env_from_are_accepted_and_checked() -> None:
    good = pod(volumes=[
        {"name": "cfg", "configMap": {"name": "app", "items": [{"key": "a.conf", "path": "conf/a.conf", "mode": 0o600}]}},
        {"name": "sec", "secret": {"secretName": "db", "defaultMode": 0o400}},
        {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"name": "all", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                                                  {"configMap": {"name": "app"}}]}},
    ])
    c = good["spec"]["containers"][0]
    c["env"] = [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "a"}}},
                {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "C", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}]
    c["envFrom"] = [{"secretRef": {"name": "db"}, "prefix": "DB_"}]
    c["volumeMounts"] = [{"name": "cfg", "mountPath": "/etc/app", "subPath": "conf"}]
    assert create_pod(good)["spec"]["volumes"][1]["secret"]["secretName"] == "db"

    bad = pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "configMap": {"name": "x"}},
                       {"name": "s", "secret": {"defaultMode": 0o1777}},
                       {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "../t",
                                                                                        "expirationSeconds": 60}}]}}])
    c = bad["spec"]["containers"][0]
    c["env"] = [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}},
                {"name": "B", "valueFrom": {}},
                {"name": "C", "valueFrom": {"secretKeyRef": {"name": "db"}}}]
    c["envFrom"] = [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]
    c["volumeMounts"] = [{"name": "nothing", "mountPath": "/x"}, {"name": "v", "mountPath": "/y", "subPath": "/abs"}]
    causes = invalid_causes(lambda: create_pod(bad))
    assert ("spec.volumes[1].name", 'Duplicate value: "v"') in causes
    assert ("spec.volumes[2].secret.secretName", "Required value") in causes
    assert ("spec.volumes[2].secret.defaultMode",
            "Invalid value: 1023: must be a number between 0 and 0777 (octal), both inclusive") in causes
    assert ("spec.volumes[3].projected.sources[0].serviceAccountToken.path",
            "Invalid value: \"../t\": must not contain '..'") in causes
    assert ("spec.volumes[3].projected.sources[0].serviceAccountToken.expirationSeconds",
            "Invalid value: 60: may not specify a duration less than 10 minutes") in causes
    assert any(field == "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath"
               and message.startswith('Unsupported value: "status.phase": supported values: "metadata.name"')
               for field, message in causes)
    assert ("spec.containers[0].env[1].valueFrom", 'Invalid value: "": must specify one of: `fieldRef`, '
                                                   "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`") in causes
    assert ("spec.containers[0].env[2].valueFrom.secretKeyRef.key", "Required value") in causes
    assert ("spec.containers[0].envFrom[0]",
            'Invalid value: "": may not have more than one field specified at a time') in causes
    assert ("spec.containers[0].volumeMounts[0].name", 'Not found: "nothing"') in causes
    assert ("spec.containers[0].volumeMounts[1].subPath", 'Invalid value: "/abs": must be a relative path') in causes


def test_a_claim_without_a_name_nfs_and_unknown_media_are_refused_with_the_field() -> None:
    body = pod(volumes=[{"name": "data", "persistentVolumeClaim": {"readOnly": True}},
                        {"name": "share", "nfs": {"server": "nfs", "path": "/"}},
                        {"name": "huge", "emptyDir": {"medium": "HugePages"}}])
    assert invalid_causes(lambda: create_pod(body)) == [
        ("spec.volumes[0].persistentVolumeClaim.claimName", "Required value"),
        ("spec.volumes[1].nfs", "Forbidden: only emptyDir, configMap, secret, downwardAPI, projected and "
                                "persistentVolumeClaim volumes are supported in this lab"),
        ("spec.volumes[2].emptyDir.medium", 'Unsupported value: "HugePages": supported values: "", "Memory"'),
    ]
