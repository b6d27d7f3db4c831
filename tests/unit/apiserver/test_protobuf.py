"""Decoding Kubernetes protobuf bodies into the dicts their JSON encoding gives.

The KUBECTL_* vectors are the exact bytes kubectl 1.32 sent (captured with a plain HTTP stub in
front of `kubectl create ...`); the expected dicts are what the same kubectl prints with
`--dry-run=client -o json`, minus `creationTimestamp: null`. The other tests build bytes with the
small encoder below.
"""

from __future__ import annotations

import pytest

from orchestrator.api.errors import BadRequest, UnsupportedMediaType
from orchestrator.apiserver.protobuf import SCHEMA, decode, is_protobuf

# kubectl create namespace demo
KUBECTL_NAMESPACE = bytes.fromhex(
    "6b3873000a0f0a02763112094e616d657370616365121c0a140a0464656d6f12001a0022002a0032003800420012001a"
    "020a001a002200"
)
# kubectl create deployment web --image=nginx:1.25 --replicas=2 --port=80
KUBECTL_DEPLOYMENT = bytes.fromhex(
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412bd010a1f0a0377656212001a0022002a00320038"
    "0042005a0a0a036170701203776562128b010802120c0a0a0a0361707012037765621a710a1c0a0012001a0022002a00"
    "3200380042005a0a0a036170701203776562125112330a056e67696e78120a6e67696e783a312e32352a00320a0a0010"
    "00185022002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a"
    "0100c2010022020a00280038001a0c0800100018002000280038001a002200"
)
# kubectl create deployment sleeper --image=busybox:1.36 -- sleep 3600
KUBECTL_DEPLOYMENT_WITH_COMMAND = bytes.fromhex(
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412d2010a270a07736c656570657212001a0022002a"
    "003200380042005a0e0a036170701207736c6565706572129801080112100a0e0a036170701207736c65657065721a7a"
    "0a200a0012001a0022002a003200380042005a0e0a036170701207736c6565706572125612380a0762757379626f7812"
    "0c62757379626f783a312e33361a05736c6565701a04333630302a0042006a007200800100880100900100a201001a00"
    "320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c080010001800200028003800"
    "1a002200"
)
# kubectl create deployment zero --image=nginx --replicas=0 -n team-a
KUBECTL_DEPLOYMENT_ZERO_REPLICAS = bytes.fromhex(
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b5010a270a047a65726f12001a067465616d2d61"
    "22002a003200380042005a0b0a0361707012047a65726f127c0800120d0a0b0a0361707012047a65726f1a610a1d0a00"
    "12001a0022002a003200380042005a0b0a0361707012047a65726f124012220a056e67696e7812056e67696e782a0042"
    "006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a"
    "00280038001a0c0800100018002000280038001a002200"
)


# --- a minimal encoder, enough to build test bodies -----------------------------------------

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative ints travel as their 64-bit two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def num(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def ld(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(field << 3 | 2) + varint(len(data)) + data


def entry(field: int, key: str, value: bytes | str) -> bytes:
    return ld(field, ld(1, key) + ld(2, value))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, raw) + ld(3, "") + ld(4, "")


def pod(spec: bytes, metadata: bytes = ld(1, "p")) -> bytes:
    return envelope("v1", "Pod", ld(1, metadata) + ld(2, spec))


def container(*fields: bytes) -> bytes:
    return ld(2, ld(1, "c") + b"".join(fields))  # PodSpec.containers = 2, Container.name = 1


# --- the exact bytes kubectl sends ------------------------------------------------------------

def test_kubectl_create_namespace_decodes_to_its_json_form() -> None:
    assert decode(KUBECTL_NAMESPACE) == {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}, "spec": {}, "status": {},
    }


def test_kubectl_create_deployment_decodes_to_its_json_form() -> None:
    assert decode(KUBECTL_DEPLOYMENT) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}], "resources": {},
                }]},
            },
            "strategy": {},
        },
        "status": {},
    }


def test_kubectl_create_deployment_with_a_command_keeps_the_command_list() -> None:
    spec = decode(KUBECTL_DEPLOYMENT_WITH_COMMAND)["spec"]["template"]["spec"]
    assert spec["containers"] == [
        {"name": "busybox", "image": "busybox:1.36", "command": ["sleep", "3600"], "resources": {}},
    ]


def test_explicit_zero_replicas_survive_because_replicas_is_a_pointer() -> None:
    obj = decode(KUBECTL_DEPLOYMENT_ZERO_REPLICAS)
    assert obj["spec"]["replicas"] == 0
    assert obj["metadata"] == {"name": "zero", "namespace": "team-a", "labels": {"app": "zero"}}


# --- JSON shape rules ------------------------------------------------------------------------

def test_zero_values_of_omitempty_fields_are_dropped_but_required_fields_stay() -> None:
    port = ld(6, ld(1, "") + num(2, 0) + num(3, 0) + ld(4, ""))  # name "", hostPort 0, containerPort 0
    obj = decode(pod(container(port, num(16, 0))))  # stdin false
    assert obj["spec"]["containers"] == [{"name": "c", "ports": [{"containerPort": 0}]}]


def test_pointer_scalars_keep_their_zero_value() -> None:
    obj = decode(pod(container() + num(4, 0) + num(25, 0)))  # terminationGracePeriodSeconds, priority
    assert obj["spec"]["terminationGracePeriodSeconds"] == 0
    assert obj["spec"]["priority"] == 0


def test_negative_int32_arrives_as_ten_byte_varint() -> None:
    assert len(varint(-5)) == 10
    obj = decode(pod(container() + num(25, -5)))
    assert obj["spec"]["priority"] == -5


def test_empty_time_is_null_and_omitted_and_a_set_time_is_rfc3339() -> None:
    meta = ld(1, "p") + ld(8, b"") + ld(9, num(1, 1700000000) + num(2, 5))
    obj = decode(pod(container(), metadata=meta))
    assert obj["metadata"] == {"name": "p", "deletionTimestamp": "2023-11-14T22:13:20Z"}


def test_micro_time_keeps_microseconds() -> None:
    event = ld(1, ld(1, "e")) + ld(10, num(1, 1700000000) + num(2, 123456000))
    assert decode(envelope("v1", "Event", event))["eventTime"] == "2023-11-14T22:13:20.123456Z"


def test_int_or_string_decodes_both_forms() -> None:
    rolling = ld(1, num(1, 1) + ld(3, "25%")) + ld(2, num(1, 0) + num(2, 3))
    spec = ld(4, ld(1, "RollingUpdate") + ld(2, rolling))
    obj = decode(envelope("apps/v1", "Deployment", ld(1, ld(1, "d")) + ld(2, spec)))
    assert obj["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 3}}


def test_resource_maps_hold_quantities_as_strings() -> None:
    resources = ld(8, entry(1, "cpu", ld(1, "500m")) + entry(2, "memory", ld(1, "64Mi")))
    obj = decode(pod(container(resources)))
    assert obj["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}}


def test_embedded_structs_are_inlined_like_go_json() -> None:
    key_ref = ld(3, ld(1, ld(1, "settings")) + ld(2, "mode"))  # configMapKeyRef {LocalObjectReference{name}, key}
    env = ld(7, ld(1, "MODE") + ld(3, key_ref))
    volume = ld(1, ld(1, "scratch") + ld(2, ld(2, b"")))  # Volume {name, VolumeSource{emptyDir {}}}
    obj = decode(pod(container(env) + volume))
    assert obj["spec"]["containers"][0]["env"] == [
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}]
    assert obj["spec"]["volumes"] == [{"name": "scratch", "emptyDir": {}}]


def test_probe_handler_fields_sit_in_the_probe() -> None:
    probe = ld(10, ld(1, ld(2, ld(1, "/healthz") + ld(2, num(1, 0) + num(2, 8080)))) + num(4, 5))
    obj = decode(pod(container(probe)))
    assert obj["spec"]["containers"][0]["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5}


def test_tolerations_node_selector_and_owner_references_decode() -> None:
    toleration = ld(22, ld(1, "node.kubernetes.io/not-ready") + ld(2, "Exists") + ld(4, "NoExecute")
                    + num(5, 300))
    owner = ld(13, ld(5, "apps/v1") + ld(1, "ReplicaSet") + ld(3, "web-1") + ld(4, "u1") + num(6, 1))
    obj = decode(pod(container() + entry(7, "disk", "ssd") + toleration, metadata=ld(1, "p") + owner))
    assert obj["spec"]["tolerations"] == [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                           "effect": "NoExecute", "tolerationSeconds": 300}]
    assert obj["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert obj["metadata"]["ownerReferences"] == [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u1", "controller": True}]


def test_packed_repeated_integers_are_accepted() -> None:
    groups = ld(4, varint(1000) + varint(2000))  # PodSecurityContext.supplementalGroups, packed
    obj = decode(pod(container() + ld(14, groups)))
    assert obj["spec"]["securityContext"] == {"supplementalGroups": [1000, 2000]}


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    unknown = num(900, 7) + ld(901, "future") + varint(902 << 3 | 1) + b"\0" * 8 + varint(903 << 3 | 5) + b"\0" * 4
    obj = decode(pod(container(unknown) + unknown, metadata=ld(1, "p") + unknown))
    assert obj["spec"] == {"containers": [{"name": "c"}]}
    assert obj["metadata"] == {"name": "p"}


def test_every_message_named_in_the_schema_exists() -> None:
    scalars = {"string", "int32", "int64", "bool", "bytes", "Time", "MicroTime", "Quantity", "IntOrString",
               "FieldsV1", "map<string,string>", "map<string,bytes>", "map<string,Quantity>"}
    missing = {f"{message}.{field.name}: {field.kind}" for message, fields in SCHEMA.items()
               for field in fields.values() if field.kind not in scalars and field.kind not in SCHEMA}
    assert missing == set()


def test_is_protobuf_ignores_parameters_and_case() -> None:
    assert is_protobuf("application/vnd.kubernetes.protobuf; charset=binary")
    assert is_protobuf("Application/Vnd.Kubernetes.Protobuf")
    assert not is_protobuf("application/json")
    assert not is_protobuf(None)


# --- malformed input ----------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "message"), [
    (b'{"kind": "Namespace"}', "magic"),
    (KUBECTL_NAMESPACE[:-3], "truncated"),
    (b"k8s\x00\x0a\x80", "truncated inside a varint"),
    (b"k8s\x00" + b"\xff" * 11, "longer than"),
    (b"k8s\x00\x0b", "wire type 3"),
    (b"k8s\x00\x02\x00", "field number 0"),
    (envelope("v1", "Namespace", ld(1, ld(1, b"\xff\xfe"))), "UTF-8"),
    (envelope("v1", "Namespace", num(1, 5)), "wire type 0"),
    (envelope("v1", "Pod", ld(2, container() + num(25, 1 << 40))), "out of range for int32"),
    (envelope("", "", b""), "no kind"),
    (b"k8s\x00" + ld(1, ld(1, "v1") + ld(2, "Namespace")) + ld(3, "gzip"), "contentEncoding"),
])
def test_malformed_bodies_raise_bad_request(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        decode(body)


def test_a_kind_without_a_schema_is_unsupported_media_type() -> None:
    with pytest.raises(UnsupportedMediaType, match="apps/v1 StatefulSet"):
        decode(envelope("apps/v1", "StatefulSet", b""))


# --- RBAC and reviews (kubectl create role|rolebinding, kubectl auth can-i|whoami) --------------


def test_a_role_decodes_with_its_rules() -> None:
    rule = ld(1, "get") + ld(1, "list") + ld(2, "") + ld(3, "pods")
    body = envelope("rbac.authorization.k8s.io/v1", "Role", ld(1, ld(1, "r") + ld(3, "ns")) + ld(2, rule))
    assert decode(body) == {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "ns"},
        "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]}


def test_a_role_binding_decodes_with_subjects_and_role_ref() -> None:
    subject = ld(1, "User") + ld(2, "rbac.authorization.k8s.io") + ld(3, "jane") + ld(4, "")
    ref = ld(1, "rbac.authorization.k8s.io") + ld(2, "ClusterRole") + ld(3, "view")
    body = envelope("rbac.authorization.k8s.io/v1", "RoleBinding", ld(1, ld(1, "b")) + ld(2, subject) + ld(3, ref))
    decoded = decode(body)
    assert decoded["subjects"] == [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "jane"}]
    assert decoded["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}


def test_a_self_subject_access_review_decodes_with_its_attributes() -> None:
    attributes = ld(1, "default") + ld(2, "list") + ld(3, "") + ld(4, "") + ld(5, "pods") + ld(6, "") + ld(7, "")
    body = envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview",
                    ld(1, b"") + ld(2, ld(1, attributes)) + ld(3, num(1, 0) + ld(2, "") + ld(3, "")))
    assert decode(body) == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}},
        "status": {"allowed": False}}
    whoami = envelope("authentication.k8s.io/v1", "SelfSubjectReview", ld(1, b""))
    assert decode(whoami) == {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                                       "metadata": {}}
