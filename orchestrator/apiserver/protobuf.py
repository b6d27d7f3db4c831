"""Decode a Kubernetes protobuf request body into the JSON dict the JSON encoding would give.

Why this exists: `kubectl create namespace X` and `kubectl create deployment ...` build the object
in Go and send it with `Content-Type: application/vnd.kubernetes.protobuf`; client-go does not
retry as JSON on 415. Everything else in this server speaks JSON, so the body reader turns the
protobuf into the same dict a JSON body would have produced, and nothing downstream knows.

The envelope (k8s.io/apimachinery/pkg/runtime/serializer/protobuf):

    b"k8s\\x00"  +  runtime.Unknown {
        1 typeMeta        TypeMeta {1 apiVersion, 2 kind}
        2 raw             bytes: the typed message, e.g. k8s.io.api.core.v1.Namespace
        3 contentEncoding string (always "" from client-go)
        4 contentType     string
    }

The typed messages are proto2 written by gogo-protobuf, with the field numbers of the upstream
`generated.proto` files; `SCHEMA` below is that table for the kinds this server serves. Worked
example, the 55 bytes `kubectl create namespace demo` sends (from `tests/unit/apiserver/
test_protobuf.py`):

    6b387300                    magic "k8s\\0"
    0a0f 0a02 "v1" 1209 "Namespace"            typeMeta
    121c                        raw, 28 bytes = Namespace:
        0a14 0a04 "demo" 1200 1a00 2200 2a00 3200 3800 4200    metadata {name "demo", "", "", ...}
        1200                    spec {}
        1a02 0a00               status {phase ""}
    1a00 2200                   contentEncoding "", contentType ""

    -> {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"},
        "spec": {}, "status": {}}

The one rule that is not in the .proto files: gogo writes every non-pointer Go field, even at its
zero value (`generateName ""`, `generation 0` above), while the JSON encoding drops zero values of
fields tagged `omitempty`. So a scalar at its zero value is dropped unless the schema marks it
`keep` — a Go pointer (`replicas: 0` means something) or a field without `omitempty`
(`containerPort`, a container's `name`). Messages are always kept, since encoding/json never omits
a struct: `resources: {}`, `strategy: {}`, `status: {}` appear as in the JSON body. A `Time` sent
as an empty message is the zero time, JSON `null`, and is dropped (`creationTimestamp`).

Unknown field numbers are skipped, as proto2 requires, so a newer kubectl adding fields does not
break decoding (the field is lost, as an older kube-apiserver would lose it). Malformed input raises
`BadRequest`; a well-formed body of a kind missing from `KINDS` raises `UnsupportedMediaType`.

Kubernetes equivalent: k8s.io/apimachinery/pkg/runtime/serializer/protobuf (Serializer.Decode)
plus the gogo `Unmarshal` methods in k8s.io/api/*/generated.pb.go.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.api.errors import BadRequest, UnsupportedMediaType
from orchestrator.api.timestamps import rfc3339, rfc3339_micro

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Field:
    """One field of a message: its JSON name, its type, and how it appears in JSON.

    `kind` is a scalar ("string", "int32", "int64", "bool", "bytes"), a special type ("Time",
    "MicroTime", "Quantity", "IntOrString", "FieldsV1"), a map ("map<string,string>",
    "map<string,bytes>", "map<string,Quantity>") or the name of another message in `SCHEMA`.
    `keep`: the zero value still appears in JSON (Go pointer, or no `omitempty`).
    `inline`: an embedded Go struct whose JSON fields sit in the parent (`LocalObjectReference`
    inside `ConfigMapKeySelector`, `VolumeSource` inside `Volume`).
    """

    name: str
    kind: str
    repeated: bool = False
    keep: bool = False
    inline: bool = False


def _f(name: str, kind: str = "string", *, repeated: bool = False, keep: bool = False,
       inline: bool = False) -> Field:
    return Field(name, kind, repeated, keep, inline)


def _list(name: str, kind: str = "string") -> Field:
    return Field(name, kind, repeated=True)


_SSMAP = "map<string,string>"
_QMAP = "map<string,Quantity>"

# message name -> {field number: Field}. Field numbers from the upstream generated.proto files:
# k8s.io/apimachinery/pkg/apis/meta/v1, k8s.io/api/core/v1, k8s.io/api/apps/v1, batch/v1, policy/v1.
# `keep` marks Go pointers and fields without `omitempty` (from the upstream types.go).
SCHEMA: dict[str, dict[int, Field]] = {
    # --- meta/v1 ---------------------------------------------------------------------------
    "ObjectMeta": {
        1: _f("name"), 2: _f("generateName"), 3: _f("namespace"), 4: _f("selfLink"),
        5: _f("uid"), 6: _f("resourceVersion"), 7: _f("generation", "int64"),
        8: _f("creationTimestamp", "Time"), 9: _f("deletionTimestamp", "Time"),
        10: _f("deletionGracePeriodSeconds", "int64", keep=True),
        11: _f("labels", _SSMAP), 12: _f("annotations", _SSMAP),
        13: _list("ownerReferences", "OwnerReference"), 14: _list("finalizers"),
        17: _list("managedFields", "ManagedFieldsEntry"),
    },
    "OwnerReference": {
        5: _f("apiVersion", keep=True), 1: _f("kind", keep=True), 3: _f("name", keep=True),
        4: _f("uid", keep=True), 6: _f("controller", "bool", keep=True),
        7: _f("blockOwnerDeletion", "bool", keep=True),
    },
    "ManagedFieldsEntry": {
        1: _f("manager"), 2: _f("operation"), 3: _f("apiVersion"), 4: _f("time", "Time"),
        6: _f("fieldsType"), 7: _f("fieldsV1", "FieldsV1"), 8: _f("subresource"),
    },
    "LabelSelector": {
        1: _f("matchLabels", _SSMAP), 2: _list("matchExpressions", "LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {
        1: _f("key", keep=True), 2: _f("operator", keep=True), 3: _list("values"),
    },
    # --- core/v1: Namespace ----------------------------------------------------------------
    "Namespace": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "NamespaceSpec"),
                  3: _f("status", "NamespaceStatus")},
    "NamespaceSpec": {1: _list("finalizers")},
    "NamespaceStatus": {1: _f("phase"), 2: _list("conditions", "NamespaceCondition")},
    "NamespaceCondition": {
        1: _f("type", keep=True), 2: _f("status", keep=True), 4: _f("lastTransitionTime", "Time"),
        5: _f("reason"), 6: _f("message"),
    },
    # --- core/v1: Pod ----------------------------------------------------------------------
    "Pod": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "PodSpec"), 3: _f("status", "PodStatus")},
    "PodTemplateSpec": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "PodSpec")},
    "PodSpec": {
        1: _list("volumes", "Volume"), 20: _list("initContainers", "Container"),
        2: _list("containers", "Container"), 34: _list("ephemeralContainers", "EphemeralContainer"),
        3: _f("restartPolicy"), 4: _f("terminationGracePeriodSeconds", "int64", keep=True),
        5: _f("activeDeadlineSeconds", "int64", keep=True), 6: _f("dnsPolicy"),
        7: _f("nodeSelector", _SSMAP), 8: _f("serviceAccountName"), 9: _f("serviceAccount"),
        21: _f("automountServiceAccountToken", "bool", keep=True), 10: _f("nodeName"),
        11: _f("hostNetwork", "bool"), 12: _f("hostPID", "bool"), 13: _f("hostIPC", "bool"),
        27: _f("shareProcessNamespace", "bool", keep=True),
        14: _f("securityContext", "PodSecurityContext"),
        15: _list("imagePullSecrets", "LocalObjectReference"), 16: _f("hostname"),
        17: _f("subdomain"), 18: _f("affinity", "Affinity"), 19: _f("schedulerName"),
        22: _list("tolerations", "Toleration"), 23: _list("hostAliases", "HostAlias"),
        24: _f("priorityClassName"), 25: _f("priority", "int32", keep=True),
        26: _f("dnsConfig", "PodDNSConfig"), 28: _list("readinessGates", "PodReadinessGate"),
        29: _f("runtimeClassName", keep=True), 30: _f("enableServiceLinks", "bool", keep=True),
        31: _f("preemptionPolicy", keep=True), 32: _f("overhead", _QMAP),
        33: _list("topologySpreadConstraints", "TopologySpreadConstraint"),
        35: _f("setHostnameAsFQDN", "bool", keep=True),
    },
    "PodStatus": {
        1: _f("phase"), 2: _list("conditions", "PodCondition"), 3: _f("message"), 4: _f("reason"),
        11: _f("nominatedNodeName"), 5: _f("hostIP"), 6: _f("podIP"), 12: _list("podIPs", "PodIP"),
        7: _f("startTime", "Time"), 10: _list("initContainerStatuses", "ContainerStatus"),
        8: _list("containerStatuses", "ContainerStatus"), 9: _f("qosClass"),
        13: _list("ephemeralContainerStatuses", "ContainerStatus"),
    },
    "PodCondition": {
        1: _f("type", keep=True), 2: _f("status", keep=True), 3: _f("lastProbeTime", "Time"),
        4: _f("lastTransitionTime", "Time"), 5: _f("reason"), 6: _f("message"),
    },
    "PodIP": {1: _f("ip")},
    "PodReadinessGate": {1: _f("conditionType", keep=True)},
    "PodDNSConfig": {1: _list("nameservers"), 2: _list("searches"),
                     3: _list("options", "PodDNSConfigOption")},
    "PodDNSConfigOption": {1: _f("name"), 2: _f("value", keep=True)},
    "HostAlias": {1: _f("ip"), 2: _list("hostnames")},
    "PodSecurityContext": {
        1: _f("seLinuxOptions", "SELinuxOptions"), 2: _f("runAsUser", "int64", keep=True),
        6: _f("runAsGroup", "int64", keep=True), 3: _f("runAsNonRoot", "bool", keep=True),
        4: _list("supplementalGroups", "int64"), 5: _f("fsGroup", "int64", keep=True),
        7: _list("sysctls", "Sysctl"), 9: _f("fsGroupChangePolicy", keep=True),
        10: _f("seccompProfile", "SeccompProfile"),
    },
    "SELinuxOptions": {1: _f("user"), 2: _f("role"), 3: _f("type"), 4: _f("level")},
    "SeccompProfile": {1: _f("type", keep=True), 2: _f("localhostProfile", keep=True)},
    "Sysctl": {1: _f("name", keep=True), 2: _f("value", keep=True)},
    "Toleration": {
        1: _f("key"), 2: _f("operator"), 3: _f("value"), 4: _f("effect"),
        5: _f("tolerationSeconds", "int64", keep=True),
    },
    "TopologySpreadConstraint": {
        1: _f("maxSkew", "int32", keep=True), 2: _f("topologyKey", keep=True),
        3: _f("whenUnsatisfiable", keep=True), 4: _f("labelSelector", "LabelSelector"),
    },
    "Affinity": {1: _f("nodeAffinity", "NodeAffinity"), 2: _f("podAffinity", "PodAffinity"),
                 3: _f("podAntiAffinity", "PodAntiAffinity")},
    "NodeAffinity": {
        1: _f("requiredDuringSchedulingIgnoredDuringExecution", "NodeSelector"),
        2: _list("preferredDuringSchedulingIgnoredDuringExecution", "PreferredSchedulingTerm"),
    },
    "NodeSelector": {1: _list("nodeSelectorTerms", "NodeSelectorTerm")},
    "NodeSelectorTerm": {1: _list("matchExpressions", "NodeSelectorRequirement"),
                         2: _list("matchFields", "NodeSelectorRequirement")},
    "NodeSelectorRequirement": {1: _f("key", keep=True), 2: _f("operator", keep=True),
                                3: _list("values")},
    "PreferredSchedulingTerm": {1: _f("weight", "int32", keep=True),
                                2: _f("preference", "NodeSelectorTerm")},
    "PodAffinity": {
        1: _list("requiredDuringSchedulingIgnoredDuringExecution", "PodAffinityTerm"),
        2: _list("preferredDuringSchedulingIgnoredDuringExecution", "WeightedPodAffinityTerm"),
    },
    "PodAntiAffinity": {
        1: _list("requiredDuringSchedulingIgnoredDuringExecution", "PodAffinityTerm"),
        2: _list("preferredDuringSchedulingIgnoredDuringExecution", "WeightedPodAffinityTerm"),
    },
    "PodAffinityTerm": {
        1: _f("labelSelector", "LabelSelector"), 2: _list("namespaces"),
        3: _f("topologyKey", keep=True), 4: _f("namespaceSelector", "LabelSelector"),
    },
    "WeightedPodAffinityTerm": {1: _f("weight", "int32", keep=True),
                                2: _f("podAffinityTerm", "PodAffinityTerm")},
    # --- core/v1: Container ----------------------------------------------------------------
    "Container": {
        1: _f("name", keep=True), 2: _f("image"), 3: _list("command"), 4: _list("args"),
        5: _f("workingDir"), 6: _list("ports", "ContainerPort"),
        19: _list("envFrom", "EnvFromSource"), 7: _list("env", "EnvVar"),
        8: _f("resources", "ResourceRequirements"), 9: _list("volumeMounts", "VolumeMount"),
        21: _list("volumeDevices", "VolumeDevice"), 10: _f("livenessProbe", "Probe"),
        11: _f("readinessProbe", "Probe"), 22: _f("startupProbe", "Probe"),
        12: _f("lifecycle", "Lifecycle"), 13: _f("terminationMessagePath"),
        20: _f("terminationMessagePolicy"), 14: _f("imagePullPolicy"),
        15: _f("securityContext", "SecurityContext"), 16: _f("stdin", "bool"),
        17: _f("stdinOnce", "bool"), 18: _f("tty", "bool"),
    },
    "EphemeralContainer": {
        1: _f("ephemeralContainerCommon", "Container", inline=True),
        2: _f("targetContainerName"),
    },
    "ContainerPort": {
        1: _f("name"), 2: _f("hostPort", "int32"), 3: _f("containerPort", "int32", keep=True),
        4: _f("protocol"), 5: _f("hostIP"),
    },
    "EnvVar": {1: _f("name", keep=True), 2: _f("value"), 3: _f("valueFrom", "EnvVarSource")},
    "EnvVarSource": {
        1: _f("fieldRef", "ObjectFieldSelector"), 2: _f("resourceFieldRef", "ResourceFieldSelector"),
        3: _f("configMapKeyRef", "ConfigMapKeySelector"), 4: _f("secretKeyRef", "SecretKeySelector"),
    },
    "EnvFromSource": {1: _f("prefix"), 2: _f("configMapRef", "ConfigMapEnvSource"),
                      3: _f("secretRef", "SecretEnvSource")},
    "ObjectFieldSelector": {1: _f("apiVersion"), 2: _f("fieldPath", keep=True)},
    "ResourceFieldSelector": {1: _f("containerName"), 2: _f("resource", keep=True),
                              3: _f("divisor", "Quantity")},
    "LocalObjectReference": {1: _f("name")},
    "ConfigMapKeySelector": {1: _f("localObjectReference", "LocalObjectReference", inline=True),
                             2: _f("key", keep=True), 3: _f("optional", "bool", keep=True)},
    "SecretKeySelector": {1: _f("localObjectReference", "LocalObjectReference", inline=True),
                          2: _f("key", keep=True), 3: _f("optional", "bool", keep=True)},
    "ConfigMapEnvSource": {1: _f("localObjectReference", "LocalObjectReference", inline=True),
                           2: _f("optional", "bool", keep=True)},
    "SecretEnvSource": {1: _f("localObjectReference", "LocalObjectReference", inline=True),
                        2: _f("optional", "bool", keep=True)},
    "ResourceRequirements": {1: _f("limits", _QMAP), 2: _f("requests", _QMAP)},
    "VolumeMount": {
        1: _f("name", keep=True), 2: _f("readOnly", "bool"), 3: _f("mountPath", keep=True),
        4: _f("subPath"), 5: _f("mountPropagation", keep=True), 6: _f("subPathExpr"),
    },
    "VolumeDevice": {1: _f("name", keep=True), 2: _f("devicePath", keep=True)},
    "Probe": {
        # Probe embeds its handler (ProbeHandler, formerly Handler): exec/httpGet/tcpSocket
        # sit directly in the probe's JSON.
        1: _f("handler", "ProbeHandler", inline=True), 2: _f("initialDelaySeconds", "int32"),
        3: _f("timeoutSeconds", "int32"), 4: _f("periodSeconds", "int32"),
        5: _f("successThreshold", "int32"), 6: _f("failureThreshold", "int32"),
        7: _f("terminationGracePeriodSeconds", "int64", keep=True),
    },
    "ProbeHandler": {1: _f("exec", "ExecAction"), 2: _f("httpGet", "HTTPGetAction"),
                     3: _f("tcpSocket", "TCPSocketAction")},
    "Lifecycle": {1: _f("postStart", "ProbeHandler"), 2: _f("preStop", "ProbeHandler")},
    "ExecAction": {1: _list("command")},
    "HTTPGetAction": {
        1: _f("path"), 2: _f("port", "IntOrString"), 3: _f("host"), 4: _f("scheme"),
        5: _list("httpHeaders", "HTTPHeader"),
    },
    "HTTPHeader": {1: _f("name", keep=True), 2: _f("value", keep=True)},
    "TCPSocketAction": {1: _f("port", "IntOrString"), 2: _f("host")},
    "SecurityContext": {
        1: _f("capabilities", "Capabilities"), 2: _f("privileged", "bool", keep=True),
        3: _f("seLinuxOptions", "SELinuxOptions"), 4: _f("runAsUser", "int64", keep=True),
        8: _f("runAsGroup", "int64", keep=True), 5: _f("runAsNonRoot", "bool", keep=True),
        6: _f("readOnlyRootFilesystem", "bool", keep=True),
        7: _f("allowPrivilegeEscalation", "bool", keep=True), 9: _f("procMount", keep=True),
        11: _f("seccompProfile", "SeccompProfile"),
    },
    "Capabilities": {1: _list("add"), 2: _list("drop")},
    # --- core/v1: Volume (the commonly used sources) ----------------------------------------
    "Volume": {1: _f("name", keep=True), 2: _f("volumeSource", "VolumeSource", inline=True)},
    "VolumeSource": {
        1: _f("hostPath", "HostPathVolumeSource"), 2: _f("emptyDir", "EmptyDirVolumeSource"),
        6: _f("secret", "SecretVolumeSource"),
        10: _f("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource"),
        19: _f("configMap", "ConfigMapVolumeSource"),
    },
    "HostPathVolumeSource": {1: _f("path", keep=True), 2: _f("type", keep=True)},
    "EmptyDirVolumeSource": {1: _f("medium"), 2: _f("sizeLimit", "Quantity")},
    "SecretVolumeSource": {1: _f("secretName"), 2: _list("items", "KeyToPath"),
                           3: _f("defaultMode", "int32", keep=True),
                           4: _f("optional", "bool", keep=True)},
    "ConfigMapVolumeSource": {1: _f("localObjectReference", "LocalObjectReference", inline=True),
                              2: _list("items", "KeyToPath"),
                              3: _f("defaultMode", "int32", keep=True),
                              4: _f("optional", "bool", keep=True)},
    "PersistentVolumeClaimVolumeSource": {1: _f("claimName", keep=True), 2: _f("readOnly", "bool")},
    "KeyToPath": {1: _f("key", keep=True), 2: _f("path", keep=True),
                  3: _f("mode", "int32", keep=True)},
    "ContainerStatus": {
        1: _f("name", keep=True), 2: _f("state", "ContainerState"),
        3: _f("lastState", "ContainerState"), 4: _f("ready", "bool", keep=True),
        5: _f("restartCount", "int32", keep=True), 6: _f("image", keep=True),
        7: _f("imageID", keep=True), 8: _f("containerID"), 9: _f("started", "bool", keep=True),
    },
    "ContainerState": {1: _f("waiting", "ContainerStateWaiting"),
                       2: _f("running", "ContainerStateRunning"),
                       3: _f("terminated", "ContainerStateTerminated")},
    "ContainerStateWaiting": {1: _f("reason"), 2: _f("message")},
    "ContainerStateRunning": {1: _f("startedAt", "Time")},
    "ContainerStateTerminated": {
        1: _f("exitCode", "int32", keep=True), 2: _f("signal", "int32"), 3: _f("reason"),
        4: _f("message"), 5: _f("startedAt", "Time"), 6: _f("finishedAt", "Time"),
        7: _f("containerID"),
    },
    # --- core/v1: Node, Event ------------------------------------------------------------
    "Node": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "NodeSpec"), 3: _f("status", "NodeStatus")},
    "NodeSpec": {1: _f("podCIDR"), 7: _list("podCIDRs"), 3: _f("providerID"),
                 4: _f("unschedulable", "bool"), 5: _list("taints", "Taint"), 2: _f("externalID")},
    "Taint": {1: _f("key", keep=True), 2: _f("value"), 3: _f("effect", keep=True),
              4: _f("timeAdded", "Time")},
    "NodeStatus": {
        1: _f("capacity", _QMAP), 2: _f("allocatable", _QMAP), 3: _f("phase"),
        4: _list("conditions", "NodeCondition"), 5: _list("addresses", "NodeAddress"),
        6: _f("daemonEndpoints", "NodeDaemonEndpoints"), 7: _f("nodeInfo", "NodeSystemInfo"),
        8: _list("images", "ContainerImage"), 9: _list("volumesInUse"),
    },
    "NodeCondition": {
        1: _f("type", keep=True), 2: _f("status", keep=True), 3: _f("lastHeartbeatTime", "Time"),
        4: _f("lastTransitionTime", "Time"), 5: _f("reason"), 6: _f("message"),
    },
    "NodeAddress": {1: _f("type", keep=True), 2: _f("address", keep=True)},
    "NodeDaemonEndpoints": {1: _f("kubeletEndpoint", "DaemonEndpoint")},
    "DaemonEndpoint": {1: _f("Port", "int32", keep=True)},
    "NodeSystemInfo": {
        1: _f("machineID", keep=True), 2: _f("systemUUID", keep=True), 3: _f("bootID", keep=True),
        4: _f("kernelVersion", keep=True), 5: _f("osImage", keep=True),
        6: _f("containerRuntimeVersion", keep=True), 7: _f("kubeletVersion", keep=True),
        8: _f("kubeProxyVersion", keep=True), 9: _f("operatingSystem", keep=True),
        10: _f("architecture", keep=True),
    },
    "ContainerImage": {1: _list("names"), 2: _f("sizeBytes", "int64")},
    "Event": {
        1: _f("metadata", "ObjectMeta"), 2: _f("involvedObject", "ObjectReference"),
        3: _f("reason"), 4: _f("message"), 5: _f("source", "EventSource"),
        6: _f("firstTimestamp", "Time"), 7: _f("lastTimestamp", "Time"), 8: _f("count", "int32"),
        9: _f("type"), 10: _f("eventTime", "MicroTime"), 11: _f("series", "EventSeries"),
        12: _f("action"), 13: _f("related", "ObjectReference"), 14: _f("reportingComponent", keep=True),
        15: _f("reportingInstance", keep=True),
    },
    "EventSource": {1: _f("component"), 2: _f("host")},
    "EventSeries": {1: _f("count", "int32"), 2: _f("lastObservedTime", "MicroTime")},
    "ObjectReference": {
        1: _f("kind"), 2: _f("namespace"), 3: _f("name"), 4: _f("uid"), 5: _f("apiVersion"),
        6: _f("resourceVersion"), 7: _f("fieldPath"),
    },
    # --- core/v1: ConfigMap, Secret, ServiceAccount ---------------------------------------
    "ConfigMap": {1: _f("metadata", "ObjectMeta"), 4: _f("immutable", "bool", keep=True),
                  2: _f("data", _SSMAP), 3: _f("binaryData", "map<string,bytes>")},
    "Secret": {1: _f("metadata", "ObjectMeta"), 5: _f("immutable", "bool", keep=True),
               2: _f("data", "map<string,bytes>"), 4: _f("stringData", _SSMAP), 3: _f("type")},
    "ServiceAccount": {1: _f("metadata", "ObjectMeta"), 2: _list("secrets", "ObjectReference"),
                       3: _list("imagePullSecrets", "LocalObjectReference"),
                       4: _f("automountServiceAccountToken", "bool", keep=True)},
    # --- core/v1: ResourceQuota (`kubectl create quota`), LimitRange ------------------------
    "ResourceQuota": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "ResourceQuotaSpec"),
                      3: _f("status", "ResourceQuotaStatus")},
    "ResourceQuotaSpec": {1: _f("hard", _QMAP), 2: _list("scopes"), 3: _f("scopeSelector", "ScopeSelector")},
    "ScopeSelector": {1: _list("matchExpressions", "ScopedResourceSelectorRequirement")},
    "ScopedResourceSelectorRequirement": {1: _f("scopeName"), 2: _f("operator"), 3: _list("values")},
    "ResourceQuotaStatus": {1: _f("hard", _QMAP), 2: _f("used", _QMAP)},
    "LimitRange": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "LimitRangeSpec")},
    "LimitRangeSpec": {1: _list("limits", "LimitRangeItem")},
    "LimitRangeItem": {1: _f("type"), 2: _f("max", _QMAP), 3: _f("min", _QMAP), 4: _f("default", _QMAP),
                       5: _f("defaultRequest", _QMAP), 6: _f("maxLimitRequestRatio", _QMAP)},
    # --- core/v1: Service (`kubectl create service`, `kubectl expose`) ---------------------
    "Service": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "ServiceSpec"), 3: _f("status", "ServiceStatus")},
    "ServiceSpec": {
        1: _list("ports", "ServicePort"), 2: _f("selector", _SSMAP), 3: _f("clusterIP"), 18: _list("clusterIPs"),
        4: _f("type"), 5: _list("externalIPs"), 7: _f("sessionAffinity"), 8: _f("loadBalancerIP"),
        9: _list("loadBalancerSourceRanges"), 10: _f("externalName"), 11: _f("externalTrafficPolicy"),
        12: _f("healthCheckNodePort", "int32"), 13: _f("publishNotReadyAddresses", "bool"),
        14: _f("sessionAffinityConfig", "SessionAffinityConfig"), 19: _list("ipFamilies"),
        17: _f("ipFamilyPolicy", keep=True), 20: _f("allocateLoadBalancerNodePorts", "bool", keep=True),
        21: _f("loadBalancerClass", keep=True), 22: _f("internalTrafficPolicy", keep=True),
        23: _f("trafficDistribution", keep=True),
    },
    "ServicePort": {1: _f("name"), 2: _f("protocol"), 6: _f("appProtocol", keep=True), 3: _f("port", "int32", keep=True),
                    4: _f("targetPort", "IntOrString"), 5: _f("nodePort", "int32")},
    "SessionAffinityConfig": {1: _f("clientIP", "ClientIPConfig")},
    "ClientIPConfig": {1: _f("timeoutSeconds", "int32", keep=True)},
    "ServiceStatus": {1: _f("loadBalancer", "LoadBalancerStatus")},  # 2 conditions: never sent by clients
    "LoadBalancerStatus": {},  # 1 ingress: written by load-balancer controllers, none in the lab
    # --- authentication.k8s.io/v1 -----------------------------------------------------------
    "TokenRequest": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "TokenRequestSpec"),
                     3: _f("status", "TokenRequestStatus")},
    "TokenRequestSpec": {1: _list("audiences"), 4: _f("expirationSeconds", "int64", keep=True),
                         3: _f("boundObjectRef", "BoundObjectReference")},
    "BoundObjectReference": {1: _f("kind"), 2: _f("apiVersion"), 3: _f("name"), 4: _f("uid")},
    "TokenRequestStatus": {1: _f("token", keep=True), 2: _f("expirationTimestamp", "Time")},
    # --- apps/v1 -------------------------------------------------------------------------
    "Deployment": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "DeploymentSpec"),
                   3: _f("status", "DeploymentStatus")},
    "DeploymentSpec": {
        1: _f("replicas", "int32", keep=True), 2: _f("selector", "LabelSelector"),
        3: _f("template", "PodTemplateSpec"), 4: _f("strategy", "DeploymentStrategy"),
        5: _f("minReadySeconds", "int32"), 6: _f("revisionHistoryLimit", "int32", keep=True),
        7: _f("paused", "bool"), 9: _f("progressDeadlineSeconds", "int32", keep=True),
        10: _f("podReplacementPolicy", keep=True),
    },
    "DeploymentStrategy": {1: _f("type"), 2: _f("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: _f("maxUnavailable", "IntOrString"),
                                2: _f("maxSurge", "IntOrString")},
    "DeploymentStatus": {
        1: _f("observedGeneration", "int64"), 2: _f("replicas", "int32"),
        3: _f("updatedReplicas", "int32"), 7: _f("readyReplicas", "int32"),
        4: _f("availableReplicas", "int32"), 5: _f("unavailableReplicas", "int32"),
        9: _f("terminatingReplicas", "int32", keep=True),
        6: _list("conditions", "DeploymentCondition"), 8: _f("collisionCount", "int32", keep=True),
    },
    "DeploymentCondition": {
        1: _f("type", keep=True), 2: _f("status", keep=True), 6: _f("lastUpdateTime", "Time"),
        7: _f("lastTransitionTime", "Time"), 4: _f("reason"), 5: _f("message"),
    },
    "ReplicaSet": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "ReplicaSetSpec"),
                   3: _f("status", "ReplicaSetStatus")},
    "ReplicaSetSpec": {
        1: _f("replicas", "int32", keep=True), 4: _f("minReadySeconds", "int32"),
        2: _f("selector", "LabelSelector"), 3: _f("template", "PodTemplateSpec"),
    },
    "ReplicaSetStatus": {
        1: _f("replicas", "int32", keep=True), 2: _f("fullyLabeledReplicas", "int32"),
        4: _f("readyReplicas", "int32"), 5: _f("availableReplicas", "int32"),
        7: _f("terminatingReplicas", "int32", keep=True), 3: _f("observedGeneration", "int64"),
        6: _list("conditions", "ReplicaSetCondition"),
    },
    "ReplicaSetCondition": {
        1: _f("type", keep=True), 2: _f("status", keep=True), 3: _f("lastTransitionTime", "Time"),
        4: _f("reason"), 5: _f("message"),
    },
    # --- batch/v1 (`kubectl create job|cronjob`) and policy/v1 (`kubectl create pdb`) ----------
    "Job": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "JobSpec"), 3: _f("status", "JobStatus")},
    "JobSpec": {
        1: _f("parallelism", "int32", keep=True), 2: _f("completions", "int32", keep=True),
        3: _f("activeDeadlineSeconds", "int64", keep=True), 11: _f("podFailurePolicy", "PodFailurePolicy"),
        7: _f("backoffLimit", "int32", keep=True), 12: _f("backoffLimitPerIndex", "int32", keep=True),
        13: _f("maxFailedIndexes", "int32", keep=True), 4: _f("selector", "LabelSelector"),
        5: _f("manualSelector", "bool", keep=True), 6: _f("template", "PodTemplateSpec"),
        8: _f("ttlSecondsAfterFinished", "int32", keep=True), 9: _f("completionMode", keep=True),
        10: _f("suspend", "bool", keep=True), 14: _f("podReplacementPolicy", keep=True),
        15: _f("managedBy", keep=True),
    },
    "PodFailurePolicy": {1: _list("rules", "PodFailurePolicyRule")},
    "PodFailurePolicyRule": {1: _f("action", keep=True), 2: _f("onExitCodes", "PodFailurePolicyOnExitCodesRequirement"),
                             3: _list("onPodConditions", "PodFailurePolicyOnPodConditionsPattern")},
    "PodFailurePolicyOnExitCodesRequirement": {1: _f("containerName", keep=True), 2: _f("operator", keep=True),
                                               3: _list("values", "int32")},
    "PodFailurePolicyOnPodConditionsPattern": {1: _f("type", keep=True), 2: _f("status", keep=True)},
    "JobStatus": {4: _f("active", "int32"), 5: _f("succeeded", "int32"), 6: _f("failed", "int32")},
    "CronJob": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "CronJobSpec"), 3: _f("status", "CronJobStatus")},
    "CronJobSpec": {
        1: _f("schedule", keep=True), 8: _f("timeZone", keep=True),
        2: _f("startingDeadlineSeconds", "int64", keep=True), 3: _f("concurrencyPolicy"),
        4: _f("suspend", "bool", keep=True), 5: _f("jobTemplate", "JobTemplateSpec"),
        6: _f("successfulJobsHistoryLimit", "int32", keep=True), 7: _f("failedJobsHistoryLimit", "int32", keep=True),
    },
    "JobTemplateSpec": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "JobSpec")},
    "CronJobStatus": {1: _list("active", "ObjectReference"), 4: _f("lastScheduleTime", "Time"),
                      5: _f("lastSuccessfulTime", "Time")},
    "PodDisruptionBudget": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "PodDisruptionBudgetSpec"),
                            3: _f("status", "PodDisruptionBudgetStatus")},
    "PodDisruptionBudgetSpec": {1: _f("minAvailable", "IntOrString"), 2: _f("selector", "LabelSelector"),
                                3: _f("maxUnavailable", "IntOrString"), 4: _f("unhealthyPodEvictionPolicy", keep=True)},
    "PodDisruptionBudgetStatus": {1: _f("observedGeneration", "int64"), 3: _f("disruptionsAllowed", "int32", keep=True),
                                  4: _f("currentHealthy", "int32", keep=True),
                                  5: _f("desiredHealthy", "int32", keep=True), 6: _f("expectedPods", "int32", keep=True)},
    # --- meta/v1 DeleteOptions and policy/v1 Eviction (`kubectl drain`) ----------------------
    "DeleteOptions": {
        1: _f("gracePeriodSeconds", "int64", keep=True), 2: _f("preconditions", "Preconditions"),
        3: _f("orphanDependents", "bool", keep=True), 4: _f("propagationPolicy", keep=True), 5: _list("dryRun"),
    },
    "Preconditions": {1: _f("uid", keep=True), 2: _f("resourceVersion", keep=True)},
    "Eviction": {1: _f("metadata", "ObjectMeta"), 2: _f("deleteOptions", "DeleteOptions")},
    # --- rbac.authorization.k8s.io/v1 (`kubectl create role|rolebinding|clusterrole|clusterrolebinding`)
    "Role": {1: _f("metadata", "ObjectMeta"), 2: _list("rules", "PolicyRule")},
    "ClusterRole": {1: _f("metadata", "ObjectMeta"), 2: _list("rules", "PolicyRule"),
                    3: _f("aggregationRule", "AggregationRule")},
    "PolicyRule": {1: _list("verbs"), 2: _list("apiGroups"), 3: _list("resources"), 4: _list("resourceNames"),
                   5: _list("nonResourceURLs")},
    "AggregationRule": {1: _list("clusterRoleSelectors", "LabelSelector")},
    "RoleBinding": {1: _f("metadata", "ObjectMeta"), 2: _list("subjects", "Subject"), 3: _f("roleRef", "RoleRef")},
    "ClusterRoleBinding": {1: _f("metadata", "ObjectMeta"), 2: _list("subjects", "Subject"),
                           3: _f("roleRef", "RoleRef")},
    "Subject": {1: _f("kind", keep=True), 2: _f("apiGroup"), 3: _f("name", keep=True), 4: _f("namespace")},
    "RoleRef": {1: _f("apiGroup", keep=True), 2: _f("kind", keep=True), 3: _f("name", keep=True)},
    # --- authorization.k8s.io/v1 and authentication.k8s.io/v1 reviews (`kubectl auth can-i|whoami`)
    "SelfSubjectAccessReview": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "SelfSubjectAccessReviewSpec"),
                                3: _f("status", "SubjectAccessReviewStatus")},
    "SubjectAccessReview": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "SubjectAccessReviewSpec"),
                            3: _f("status", "SubjectAccessReviewStatus")},
    "SelfSubjectAccessReviewSpec": {1: _f("resourceAttributes", "ResourceAttributes"),
                                    2: _f("nonResourceAttributes", "NonResourceAttributes")},
    "SubjectAccessReviewSpec": {1: _f("resourceAttributes", "ResourceAttributes"),
                                2: _f("nonResourceAttributes", "NonResourceAttributes"), 3: _f("user"),
                                4: _list("groups"), 6: _f("uid")},  # 5 extra: not decoded (unused here)
    "ResourceAttributes": {1: _f("namespace"), 2: _f("verb"), 3: _f("group"), 4: _f("version"), 5: _f("resource"),
                           6: _f("subresource"), 7: _f("name"), 8: _f("fieldSelector", "SelectorAttributes"),
                           9: _f("labelSelector", "SelectorAttributes")},
    "SelectorAttributes": {1: _f("rawSelector")},  # 2 requirements: not decoded (rawSelector is what is judged)
    "NonResourceAttributes": {1: _f("path"), 2: _f("verb")},
    "SubjectAccessReviewStatus": {1: _f("allowed", "bool", keep=True), 4: _f("denied", "bool"), 2: _f("reason"),
                                  3: _f("evaluationError")},
    "SelfSubjectRulesReview": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: _f("namespace")},
    "SelfSubjectReview": {1: _f("metadata", "ObjectMeta")},
    # --- autoscaling/v1 (what `kubectl autoscale` sends) ------------------------------------
    "HorizontalPodAutoscalerV1": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "HorizontalPodAutoscalerSpecV1"),
                                  3: _f("status", "HorizontalPodAutoscalerStatusV1")},
    "HorizontalPodAutoscalerSpecV1": {
        1: _f("scaleTargetRef", "CrossVersionObjectReferenceV1"), 2: _f("minReplicas", "int32", keep=True),
        3: _f("maxReplicas", "int32", keep=True), 4: _f("targetCPUUtilizationPercentage", "int32", keep=True)},
    "CrossVersionObjectReferenceV1": {1: _f("kind", keep=True), 2: _f("name", keep=True), 3: _f("apiVersion")},
    "HorizontalPodAutoscalerStatusV1": {
        1: _f("observedGeneration", "int64", keep=True), 2: _f("lastScaleTime", "Time"),
        3: _f("currentReplicas", "int32", keep=True), 4: _f("desiredReplicas", "int32", keep=True),
        5: _f("currentCPUUtilizationPercentage", "int32", keep=True)},
}

# (apiVersion, kind) of the envelope -> top-level message.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "Pod"): "Pod",
    ("v1", "Node"): "Node",
    ("v1", "Event"): "Event",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("v1", "ResourceQuota"): "ResourceQuota",
    ("v1", "LimitRange"): "LimitRange",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("apps/v1", "Deployment"): "Deployment",
    ("apps/v1", "ReplicaSet"): "ReplicaSet",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("autoscaling/v1", "HorizontalPodAutoscaler"): "HorizontalPodAutoscalerV1",
    ("v1", "DeleteOptions"): "DeleteOptions",
    ("meta.k8s.io/v1", "DeleteOptions"): "DeleteOptions",
    ("policy/v1", "Eviction"): "Eviction",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "ClusterRoleBinding",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
}

_ZERO: dict[str, Any] = {"string": "", "int32": 0, "int64": 0, "bool": False, "bytes": ""}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_protobuf(content_type: str | None) -> bool:
    """Whether a Content-Type header names the Kubernetes protobuf encoding (parameters ignored)."""
    return (content_type or "").split(";", 1)[0].strip().lower() == MEDIA_TYPE


def decode(raw: bytes) -> dict[str, Any]:
    """The JSON dict for a protobuf-encoded object: `apiVersion`, `kind` and the typed fields.

    Raises BadRequest for a body that is not a well-formed Kubernetes protobuf object, and
    UnsupportedMediaType for a well-formed object of a kind this decoder has no schema for.
    """
    if not raw.startswith(MAGIC):
        raise BadRequest('the protobuf request body does not start with the Kubernetes magic "k8s\\x00"')
    envelope = _fields(raw[len(MAGIC):], "runtime.Unknown")
    type_meta: dict[int, list[tuple[int, Any]]] = {}
    payload = b""
    for number, wire, value in envelope:
        if number == 1:
            type_meta = _grouped(_fields(_need_len(value, wire, "typeMeta"), "TypeMeta"))
        elif number == 2:
            payload = _need_len(value, wire, "raw")
        elif number == 3:
            encoding = _text(_need_len(value, wire, "contentEncoding"), "contentEncoding")
            if encoding:
                raise BadRequest(f"the protobuf request body has contentEncoding {encoding!r}; "
                                 "only unencoded objects are accepted")
    api_version = _last_text(type_meta, 1, "apiVersion")
    kind = _last_text(type_meta, 2, "kind")
    if not kind:
        raise BadRequest("the protobuf request body has no kind in its typeMeta")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise UnsupportedMediaType(
            f"{MEDIA_TYPE} bodies of {api_version or '<no apiVersion>'} {kind} are not supported by "
            "this server; send the object as application/json")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(_message(payload, message))
    return obj


# --- the wire format -------------------------------------------------------------------------

def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read a base-128 varint at `pos`; return (unsigned value, next position)."""
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise BadRequest("the protobuf request body is truncated inside a varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >= 1 << 64:
                raise BadRequest("the protobuf request body has a varint longer than 64 bits")
            return result, pos
    raise BadRequest("the protobuf request body has a varint longer than 10 bytes")


def _fields(data: bytes, what: str) -> list[tuple[int, int, Any]]:
    """Split one message into (field number, wire type, value) in wire order.

    Values are ints for varint/fixed32/fixed64 and bytes for length-delimited fields.
    """
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise BadRequest(f"the protobuf request body has field number 0 in {what}")
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _LEN:
            size, pos = _varint(data, pos)
            if size > len(data) - pos:
                raise BadRequest(f"the protobuf request body is truncated: field {number} of {what} "
                                 f"declares {size} bytes, {len(data) - pos} remain")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if width > len(data) - pos:
                raise BadRequest(f"the protobuf request body is truncated inside field {number} of {what}")
            value, pos = int.from_bytes(data[pos:pos + width], "little"), pos + width
        else:
            # 3/4 are proto2 groups, never produced by gogo for Kubernetes types; 6/7 do not exist.
            raise BadRequest(f"the protobuf request body has unsupported wire type {wire} "
                             f"in field {number} of {what}")
        out.append((number, wire, value))
    return out


def _grouped(fields: list[tuple[int, int, Any]]) -> dict[int, list[tuple[int, Any]]]:
    grouped: dict[int, list[tuple[int, Any]]] = {}
    for number, wire, value in fields:
        grouped.setdefault(number, []).append((wire, value))
    return grouped


def _need_len(value: Any, wire: int, name: str) -> bytes:
    if wire != _LEN:
        raise BadRequest(f"the protobuf request body has {name} with wire type {wire}; "
                         "expected a length-delimited field")
    return value  # type: ignore[no-any-return]


def _text(value: bytes, name: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"the protobuf request body has a string field {name} that is not valid UTF-8") from None


def _last_text(grouped: dict[int, list[tuple[int, Any]]], number: int, name: str) -> str:
    entries = grouped.get(number)
    if not entries:
        return ""
    wire, value = entries[-1]
    return _text(_need_len(value, wire, name), name)


def _signed(value: int, bits: int, name: str) -> int:
    """Two's complement: negative int32/int64 travel as 10-byte varints of the 64-bit value."""
    if value >= 1 << 63:
        value -= 1 << 64
    if bits == 32 and not -(1 << 31) <= value < 1 << 31:
        raise BadRequest(f"the protobuf request body has {name} = {value}, out of range for int32")
    return value


# --- typed decoding -------------------------------------------------------------------------

def _message(data: bytes, message: str) -> dict[str, Any]:
    # Recursion follows SCHEMA, which has no cycles (about 8 levels for a Deployment), and the
    # bytes of unknown fields are never parsed, so a hostile body cannot nest deeper than that.
    schema = SCHEMA[message]
    out: dict[str, Any] = {}
    for number, wire, value in _fields(data, message):
        field = schema.get(number)
        if field is None:
            continue  # unknown field: skipped, as proto2 readers must
        if field.repeated:
            items = out.setdefault(field.name, [])
            if wire == _LEN and field.kind in ("int32", "int64", "bool"):
                items.extend(_packed(value, field, message))  # packed encoding of a scalar list
            else:
                items.append(_value(wire, value, field, message))
            continue
        if field.kind.startswith("map<"):
            key, item = _map_entry(_need_len(value, wire, field.name), field, message)
            out.setdefault(field.name, {})[key] = item
            continue
        decoded = _value(wire, value, field, message)
        if field.inline:
            out.update(decoded)
        elif decoded is None or (not field.keep and field.kind in _ZERO and decoded == _ZERO[field.kind]):
            # proto2 repeats-as-last-wins: a later zero clears an earlier value, as in Go.
            out.pop(field.name, None)
        else:
            out[field.name] = decoded
    return out


def _value(wire: int, value: Any, field: Field, message: str) -> Any:
    """One value of a field (one element, for a repeated field)."""
    kind, where = field.kind, f"{message}.{field.name}"
    if kind in ("int32", "int64", "bool"):
        if wire != _VARINT:
            raise BadRequest(f"the protobuf request body has {where} with wire type {wire}; expected a varint")
        if kind == "bool":
            return value != 0
        return _signed(value, 32 if kind == "int32" else 64, where)
    data = _need_len(value, wire, where)
    if kind == "string":
        return _text(data, where)
    if kind == "bytes":
        return base64.b64encode(data).decode("ascii")  # []byte is base64 in JSON
    if kind in ("Time", "MicroTime"):
        return _time(data, micro=kind == "MicroTime", where=where)
    if kind == "Quantity":
        return _last_text(_grouped(_fields(data, where)), 1, where)
    if kind == "IntOrString":
        return _int_or_string(data, where)
    if kind == "FieldsV1":
        raw = _grouped(_fields(data, where)).get(1)
        if not raw:
            return {}
        try:
            return json.loads(_need_len(raw[-1][1], raw[-1][0], where))
        except ValueError:
            raise BadRequest(f"the protobuf request body has {where} that is not JSON") from None
    if kind in SCHEMA:
        return _message(data, kind)
    raise AssertionError(f"schema names unknown type {kind!r} for {where}")  # a bug in SCHEMA


def _packed(data: bytes, field: Field, message: str) -> list[Any]:
    items, pos = [], 0
    while pos < len(data):
        value, pos = _varint(data, pos)
        items.append(_value(_VARINT, value, field, message))
    return items


def _map_entry(data: bytes, field: Field, message: str) -> tuple[str, Any]:
    """A map is a repeated entry message {1 key, 2 value}; an absent part is its zero value."""
    where = f"{message}.{field.name}"
    entry = _grouped(_fields(data, where))
    key = _last_text(entry, 1, where)
    value_kind = field.kind[len("map<string,"):-1]
    parts = entry.get(2)
    if not parts:
        return key, "" if value_kind != "Quantity" else "0"
    wire, value = parts[-1]
    return key, _value(wire, value, Field(field.name, value_kind), message)


def _time(data: bytes, *, micro: bool, where: str) -> str | None:
    """metav1.Time/MicroTime {1 seconds, 2 nanos} -> RFC 3339 in UTC; an empty message is null."""
    parts = _grouped(_fields(data, where))
    if not parts:
        return None  # the zero time: Go marshals it as an empty message, JSON as null
    seconds = nanos = 0
    if 1 in parts:
        wire, value = parts[1][-1]
        seconds = _value(wire, value, Field("seconds", "int64"), where)
    if 2 in parts:
        wire, value = parts[2][-1]
        nanos = _value(wire, value, Field("nanos", "int32"), where)
    try:
        moment = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise BadRequest(f"the protobuf request body has {where} out of range") from None
    # Time has second precision on the wire in JSON; MicroTime keeps microseconds.
    return rfc3339_micro(moment) if micro else rfc3339(moment)


def _int_or_string(data: bytes, where: str) -> int | str:
    """intstr.IntOrString {1 type (0 Int, 1 String), 2 intVal, 3 strVal} -> 5 or "25%"."""
    parts = _grouped(_fields(data, where))
    type_ = 0
    if 1 in parts:
        wire, value = parts[1][-1]
        type_ = _value(wire, value, Field("type", "int64"), where)
    if type_ == 1:
        return _last_text(parts, 3, where)
    if type_ != 0:
        raise BadRequest(f"the protobuf request body has {where} with IntOrString type {type_}")
    if 2 not in parts:
        return 0
    wire, value = parts[2][-1]
    return _value(wire, value, Field("intVal", "int32"), where)  # type: ignore[no-any-return]
