"""The core/v1 kinds this lab serves: Namespace, Pod, Binding, Node, Event (a faithful subset).

Fields this lab does not act on but that real manifests carry are declared as open dicts
(``valueFrom``, ``podAffinity``, ``lifecycle``) so they are stored as given and checked by
validation (orchestrator/apiserver/podspecvalidation.py); volume sources this lab does not serve
are declared too, so that validation can refuse them with a clear message instead of calling
them unknown fields.

Kubernetes equivalent: k8s.io/api/core/v1/types.go
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from orchestrator.api.models.meta import (
    IntOrString,
    K8sModel,
    MicroTime,
    ObjectMeta,
    Quantity,
    Time,
    TypedModel,
    doc,
    merge_list,
)


class _Core(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.core.v1"


# --- containers -----------------------------------------------------------------------------------


class EnvVar(_Core):
    """EnvVar represents an environment variable present in a Container."""

    required_fields = ("name",)

    name: str | None = doc("Name of the environment variable.")
    value: str | None = doc("Variable references $(VAR_NAME) are expanded using the previously defined environment variables.")
    value_from: dict[str, Any] | None = doc("Source for the environment variable's value; kept as given.")


class ContainerPort(_Core):
    """ContainerPort represents a network port in a single container."""

    required_fields = ("containerPort",)

    name: str | None = doc("If specified, this must be an IANA_SVC_NAME and unique within the pod.")
    container_port: int | None = doc("Number of port to expose on the pod's IP address (0 < x < 65536).")
    host_port: int | None = doc("Number of port to expose on the host.")
    host_ip: str | None = Field(default=None, alias="hostIP", description="What host IP to bind the external port to.")
    protocol: str | None = doc("Protocol for port. Must be UDP, TCP, or SCTP. Defaults to \"TCP\".")


class ResourceRequirements(_Core):
    """ResourceRequirements describes the compute resource requirements."""

    limits: dict[str, Quantity] | None = doc("Limits describes the maximum amount of compute resources allowed.")
    requests: dict[str, Quantity] | None = doc(
        "Requests describes the minimum amount of compute resources required; the scheduler fits pods by these."
    )
    claims: list[dict[str, Any]] | None = doc("Not used by this lab; kept as given.")


class ExecAction(_Core):
    """ExecAction describes a \"run in container\" action."""

    command: list[str] | None = doc("Command is the command line to execute inside the container.")


class HTTPHeader(_Core):
    """HTTPHeader describes a custom header to be used in HTTP probes"""

    required_fields = ("name", "value")

    name: str | None = None
    value: str | None = None


class HTTPGetAction(_Core):
    """HTTPGetAction describes an action based on HTTP Get requests."""

    required_fields = ("port",)

    path: str | None = doc("Path to access on the HTTP server.")
    port: IntOrString | None = doc("Name or number of the port to access on the container.")
    host: str | None = doc("Host name to connect to, defaults to the pod IP.")
    scheme: str | None = doc("Scheme to use for connecting to the host. Defaults to HTTP.")
    http_headers: list[HTTPHeader] | None = doc("Custom headers to set in the request.")


class TCPSocketAction(_Core):
    """TCPSocketAction describes an action based on opening a socket"""

    required_fields = ("port",)

    port: IntOrString | None = doc("Number or name of the port to access on the container.")
    host: str | None = doc("Optional: Host name to connect to, defaults to the pod IP.")


class Probe(_Core):
    """Probe describes a health check to be performed against a container."""

    exec: ExecAction | None = doc("Exec specifies a command to execute in the container.")
    http_get: HTTPGetAction | None = doc("HTTPGet specifies an HTTP GET request to perform.")
    tcp_socket: TCPSocketAction | None = doc("TCPSocket specifies a connection to a TCP port.")
    grpc: dict[str, Any] | None = doc("GRPC specifies a GRPC HealthCheckRequest; kept as given.")
    initial_delay_seconds: int | None = doc("Number of seconds after the container has started before probes are initiated.")
    timeout_seconds: int | None = doc("Number of seconds after which the probe times out. Defaults to 1 second.")
    period_seconds: int | None = doc("How often (in seconds) to perform the probe. Default to 10 seconds.")
    success_threshold: int | None = doc("Minimum consecutive successes for the probe to be considered successful. Defaults to 1.")
    failure_threshold: int | None = doc("Minimum consecutive failures for the probe to be considered failed. Defaults to 3.")
    termination_grace_period_seconds: int | None = doc("Optional duration in seconds the pod needs to terminate gracefully upon probe failure.")


class Capabilities(_Core):
    """Adds and removes POSIX capabilities from running containers."""

    add: list[str] | None = None
    drop: list[str] | None = None


class SecurityContext(_Core):
    """SecurityContext holds security configuration that will be applied to a container."""

    open_schema = True

    privileged: bool | None = doc("Run container in privileged mode. Not allowed in this lab.")
    run_as_user: int | None = doc("The UID to run the entrypoint of the container process.")
    run_as_group: int | None = doc("The GID to run the entrypoint of the container process.")
    run_as_non_root: bool | None = doc("Indicates that the container must run as a non-root user.")
    read_only_root_filesystem: bool | None = doc("Whether this container has a read-only root filesystem.")
    allow_privilege_escalation: bool | None = doc("Whether a process can gain more privileges than its parent process.")
    capabilities: Capabilities | None = doc("The capabilities to add/drop when running containers.")


class VolumeMount(_Core):
    """VolumeMount describes a mounting of a Volume within a container."""

    required_fields = ("name", "mountPath")

    name: str | None = doc("This must match the Name of a Volume.")
    mount_path: str | None = doc("Path within the container at which the volume should be mounted.")
    read_only: bool | None = doc("Mounted read-only if true, read-write otherwise (false or unspecified).")
    sub_path: str | None = doc("Path within the volume from which the container's volume should be mounted.")
    sub_path_expr: str | None = doc("Expanded path within the volume from which the container's volume should be "
                                    "mounted; $(VAR_NAME) references the container's environment.")


class Container(_Core):
    """A single application container that you want to run within a pod."""

    required_fields = ("name",)

    name: str | None = doc("Name of the container specified as a DNS_LABEL. Each container in a pod must have a unique name.")
    image: str | None = doc("Container image name.")
    command: list[str] | None = doc("Entrypoint array. Not executed within a shell.")
    args: list[str] | None = doc("Arguments to the entrypoint.")
    working_dir: str | None = doc("Container's working directory.")
    ports: list[ContainerPort] | None = Field(
        default=None,
        description="List of ports to expose from the container.",
        json_schema_extra={
            "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-patch-merge-key": "containerPort",
            "x-kubernetes-patch-strategy": "merge",
        },
    )
    env_from: list[dict[str, Any]] | None = doc("List of sources to populate environment variables in the container; kept as given.")
    env: list[EnvVar] | None = merge_list("name", description="List of environment variables to set in the container.")
    resources: ResourceRequirements | None = doc("Compute Resources required by this container.")
    volume_mounts: list[VolumeMount] | None = merge_list(
        "mountPath", description="Pod volumes to mount into the container's filesystem."
    )
    liveness_probe: Probe | None = doc("Periodic probe of container liveness. Container will be restarted if the probe fails.")
    readiness_probe: Probe | None = doc("Periodic probe of container service readiness.")
    startup_probe: Probe | None = doc("StartupProbe indicates that the Pod has successfully initialized.")
    lifecycle: dict[str, Any] | None = doc("Actions that the management system should take in response to container lifecycle events; kept as given.")
    termination_message_path: str | None = doc("Path at which the file to which the container's termination message will be written is mounted.")
    termination_message_policy: str | None = doc("Indicate how the termination message should be populated: File or FallbackToLogsOnError.")
    image_pull_policy: str | None = doc("Image pull policy. One of Always, Never, IfNotPresent.")
    security_context: SecurityContext | None = doc("SecurityContext defines the security options the container should be run with.")
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None


# --- volumes --------------------------------------------------------------------------------------


class EmptyDirVolumeSource(_Core):
    """Represents an empty directory for a pod."""

    medium: str | None = doc("What type of storage medium should back this directory: \"\" or \"Memory\".")
    size_limit: Quantity | None = doc("Total amount of local storage required for this EmptyDir volume.")


class HostPathVolumeSource(_Core):
    """Represents a host path mapped into a pod. Not allowed in this lab."""

    path: str | None = None
    type: str | None = None


class Volume(_Core):
    """Volume represents a named volume in a pod. emptyDir, configMap, secret, downwardAPI, projected and
    persistentVolumeClaim are supported in this lab."""

    required_fields = ("name",)

    name: str | None = doc("name of the volume. Must be a DNS_LABEL and unique within the pod.")
    empty_dir: EmptyDirVolumeSource | None = doc("emptyDir represents a temporary directory that shares a pod's lifetime.")
    host_path: HostPathVolumeSource | None = doc("Not allowed in this lab.")
    # Checked field by field in orchestrator/apiserver/podspecvalidation.py; the rest are refused.
    config_map: dict[str, Any] | None = doc("configMap represents a configMap that should populate this volume.")
    secret: dict[str, Any] | None = doc("secret represents a secret that should populate this volume.")
    persistent_volume_claim: dict[str, Any] | None = doc("persistentVolumeClaimVolumeSource represents a reference to a "
                                                        "PersistentVolumeClaim in the same namespace (claimName, readOnly).")
    projected: dict[str, Any] | None = doc("projected items for all in one resources secrets, configmaps, downward API and "
                                           "service account tokens.")
    downward_api: dict[str, Any] | None = Field(default=None, alias="downwardAPI", description=(
        "downwardAPI represents downward API about the pod that should populate this volume."))
    nfs: dict[str, Any] | None = doc("Not supported in this lab.")


# --- scheduling constraints -------------------------------------------------------------------------


class Toleration(_Core):
    """The pod this Toleration is attached to tolerates any taint that matches the triple <key,value,effect>."""

    key: str | None = doc("Key is the taint key that the toleration applies to. Empty means match all taint keys.")
    operator: str | None = doc("Operator represents a key's relationship to the value: Exists or Equal. Defaults to Equal.")
    value: str | None = doc("Value is the taint value the toleration matches to.")
    effect: str | None = doc("Effect indicates the taint effect to match: NoSchedule, PreferNoSchedule and NoExecute.")
    toleration_seconds: int | None = doc("The period of time the toleration (effect NoExecute) tolerates the taint.")


class NodeSelectorRequirement(_Core):
    """A node selector requirement is a selector that contains values, a key, and an operator."""

    required_fields = ("key", "operator")

    key: str | None = doc("The label key that the selector applies to.")
    operator: str | None = doc("Represents a key's relationship to a set of values: In, NotIn, Exists, DoesNotExist, Gt, and Lt.")
    values: list[str] | None = doc("An array of string values.")


class NodeSelectorTerm(_Core):
    """A null or empty node selector term matches no objects. The requirements of them are ANDed."""

    match_expressions: list[NodeSelectorRequirement] | None = doc("A list of node selector requirements by node's labels.")
    match_fields: list[NodeSelectorRequirement] | None = doc("A list of node selector requirements by node's fields.")


class NodeSelector(_Core):
    """A node selector represents the union of the results of one or more label queries over a set of nodes."""

    required_fields = ("nodeSelectorTerms",)

    node_selector_terms: list[NodeSelectorTerm] | None = doc("Required. A list of node selector terms. The terms are ORed.")


class PreferredSchedulingTerm(_Core):
    """An empty preferred scheduling term matches all objects with implicit weight 0."""

    required_fields = ("weight", "preference")

    weight: int | None = doc("Weight associated with matching the corresponding nodeSelectorTerm, in the range 1-100.")
    preference: NodeSelectorTerm | None = doc("A node selector term, associated with the corresponding weight.")


class NodeAffinity(_Core):
    """Node affinity is a group of node affinity scheduling rules."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = doc(
        "If the affinity requirements specified by this field are not met at scheduling time, the pod will not be scheduled onto the node."
    )
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = doc(
        "The scheduler will prefer to schedule pods to nodes that satisfy the affinity expressions specified by this field."
    )


class Affinity(_Core):
    """Affinity is a group of affinity scheduling rules."""

    node_affinity: NodeAffinity | None = doc("Describes node affinity scheduling rules for the pod.")
    pod_affinity: dict[str, Any] | None = doc("Describes pod affinity scheduling rules; kept as given.")
    pod_anti_affinity: dict[str, Any] | None = doc("Describes pod anti-affinity scheduling rules; kept as given.")


class PodSecurityContext(_Core):
    """PodSecurityContext holds pod-level security attributes and common container settings."""

    open_schema = True

    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    fs_group: int | None = None
    supplemental_groups: list[int] | None = None


class LocalObjectReference(_Core):
    """LocalObjectReference contains enough information to let you locate the referenced object inside the same namespace."""

    name: str | None = None


# --- pods -------------------------------------------------------------------------------------------


class PodSpec(_Core):
    """PodSpec is a description of a pod."""

    required_fields = ("containers",)

    volumes: list[Volume] | None = merge_list(
        "name", strategy="merge,retainKeys", description="List of volumes that can be mounted by containers belonging to the pod."
    )
    init_containers: list[Container] | None = merge_list(
        "name", description="List of initialization containers belonging to the pod."
    )
    containers: list[Container] | None = merge_list(
        "name", description="List of containers belonging to the pod. There must be at least one container in a Pod."
    )
    restart_policy: str | None = doc("Restart policy for all containers within the pod. One of Always, OnFailure, Never. Default to Always.")
    termination_grace_period_seconds: int | None = doc("Optional duration in seconds the pod needs to terminate gracefully. Defaults to 30 seconds.")
    active_deadline_seconds: int | None = doc("Optional duration in seconds the pod may be active on the node before the system actively tries to mark it failed.")
    dns_policy: str | None = doc("Set DNS policy for the pod. Defaults to \"ClusterFirst\".")
    node_selector: dict[str, str] | None = doc("NodeSelector is a selector which must be true for the pod to fit on a node.")
    service_account_name: str | None = doc("ServiceAccountName is the name of the ServiceAccount to use to run this pod.")
    service_account: str | None = doc("Deprecated: use serviceAccountName instead.")
    automount_service_account_token: bool | None = None
    node_name: str | None = doc("NodeName is the name of the node the pod is bound to; set by the scheduler through the binding subresource.")
    host_network: bool | None = doc("Host networking requested for this pod. Not allowed in this lab.")
    host_pid: bool | None = Field(default=None, alias="hostPID", description="Use the host's pid namespace. Not allowed in this lab.")
    host_ipc: bool | None = Field(default=None, alias="hostIPC", description="Use the host's ipc namespace. Not allowed in this lab.")
    security_context: PodSecurityContext | None = doc("SecurityContext holds pod-level security attributes and common container settings.")
    image_pull_secrets: list[LocalObjectReference] | None = merge_list("name", description="Kept as given.")
    hostname: str | None = doc("Specifies the hostname of the Pod.")
    subdomain: str | None = doc("If specified, the fully qualified Pod hostname will be \"<hostname>.<subdomain>.<pod namespace>.svc.<cluster domain>\".")
    affinity: Affinity | None = doc("If specified, the pod's scheduling constraints")
    scheduler_name: str | None = doc("If specified, the pod will be dispatched by specified scheduler.")
    tolerations: list[Toleration] | None = doc("If specified, the pod's tolerations.")
    priority_class_name: str | None = doc("If specified, indicates the pod's priority.")
    priority: int | None = doc("The priority value. The higher the value, the higher the priority.")
    preemption_policy: str | None = doc("PreemptionPolicy is the Policy for preempting pods with lower priority.")
    enable_service_links: bool | None = None
    topology_spread_constraints: list[dict[str, Any]] | None = doc("Kept as given; not used by this lab's scheduler.")
    readiness_gates: list[dict[str, Any]] | None = doc("Kept as given.")


class PodCondition(_Core):
    """PodCondition contains details for the current condition of this pod."""

    required_fields = ("type", "status")

    type: str | None = doc("Type is the type of the condition: PodScheduled, Initialized, ContainersReady, Ready.")
    status: str | None = doc("Status is the status of the condition. Can be True, False, Unknown.")
    last_probe_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class PodIP(_Core):
    """PodIP represents a single IP address allocated to the pod."""

    ip: str | None = None


class HostIP(_Core):
    """HostIP represents a single IP address allocated to the host."""

    ip: str | None = None


class ContainerStateWaiting(_Core):
    """ContainerStateWaiting is a waiting state of a container."""

    reason: str | None = doc("(brief) reason the container is not yet running, e.g. ContainerCreating, CrashLoopBackOff.")
    message: str | None = None


class ContainerStateRunning(_Core):
    """ContainerStateRunning is a running state of a container."""

    started_at: Time | None = None


class ContainerStateTerminated(_Core):
    """ContainerStateTerminated is a terminated state of a container."""

    required_fields = ("exitCode",)

    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    container_id: str | None = Field(default=None, alias="containerID")


class ContainerState(_Core):
    """ContainerState holds a possible state of container. Only one of its members may be specified."""

    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(_Core):
    """ContainerStatus contains details for the current status of this container."""

    required_fields = ("name", "ready", "restartCount", "image", "imageID")

    name: str | None = None
    state: ContainerState | None = None
    last_state: ContainerState | None = None
    ready: bool | None = None
    restart_count: int | None = None
    image: str | None = None
    image_id: str | None = Field(default=None, alias="imageID")
    container_id: str | None = Field(default=None, alias="containerID")
    started: bool | None = None


class PodStatus(_Core):
    """PodStatus represents information about the status of a pod."""

    phase: str | None = doc("The phase of a Pod: Pending, Running, Succeeded, Failed, Unknown.")
    conditions: list[PodCondition] | None = merge_list("type", description="Current service state of pod.")
    message: str | None = None
    reason: str | None = None
    nominated_node_name: str | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")
    host_ips: list[HostIP] | None = Field(default=None, alias="hostIPs")
    pod_ip: str | None = Field(default=None, alias="podIP")
    pod_ips: list[PodIP] | None = Field(
        default=None,
        alias="podIPs",
        json_schema_extra={"x-kubernetes-patch-merge-key": "ip", "x-kubernetes-patch-strategy": "merge"},
    )
    start_time: Time | None = None
    init_container_statuses: list[ContainerStatus] | None = None
    container_statuses: list[ContainerStatus] | None = None
    qos_class: str | None = Field(default=None, alias="qosClass", description="Guaranteed, Burstable or BestEffort.")


class PodTemplateSpec(_Core):
    """PodTemplateSpec describes the data a pod should have when created from a template"""

    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None


class Pod(_Core, TypedModel):
    """Pod is a collection of containers that can run on a host."""

    gvk = ("", "v1", "Pod")

    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None
    status: PodStatus | None = None


class ObjectReference(_Core):
    """ObjectReference contains enough information to let you inspect or modify the referred object."""

    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    api_version: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class Binding(_Core, TypedModel):
    """Binding ties one object to another; for example, a pod is bound to a node by a scheduler."""

    gvk = ("", "v1", "Binding")
    required_fields = ("target",)

    metadata: ObjectMeta | None = None
    target: ObjectReference | None = doc("The target object that you want to bind to the standard object.")


# --- namespaces -------------------------------------------------------------------------------------


class NamespaceSpec(_Core):
    """NamespaceSpec describes the attributes on a Namespace."""

    finalizers: list[str] | None = None


class NamespaceCondition(_Core):
    """NamespaceCondition contains details about state of namespace."""

    type: str | None = None
    status: str | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class NamespaceStatus(_Core):
    """NamespaceStatus is information about the current status of a Namespace."""

    phase: str | None = doc("Phase is the current lifecycle phase of the namespace: Active or Terminating.")
    conditions: list[NamespaceCondition] | None = merge_list("type")


class Namespace(_Core, TypedModel):
    """Namespace provides a scope for Names."""

    gvk = ("", "v1", "Namespace")

    metadata: ObjectMeta | None = None
    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


# --- nodes ------------------------------------------------------------------------------------------


class Taint(_Core):
    """The node this Taint is attached to has the \"effect\" on any pod that does not tolerate the Taint."""

    required_fields = ("key", "effect")

    key: str | None = doc("Required. The taint key to be applied to a node.")
    value: str | None = doc("The taint value corresponding to the taint key.")
    effect: str | None = doc("Required. The effect of the taint on pods that do not tolerate the taint: NoSchedule, PreferNoSchedule and NoExecute.")
    time_added: Time | None = doc("TimeAdded represents the time at which the taint was added (NoExecute only).")


class NodeSpec(_Core):
    """NodeSpec describes the attributes that a node is created with."""

    pod_cidr: str | None = Field(default=None, alias="podCIDR")
    pod_cidrs: list[str] | None = Field(default=None, alias="podCIDRs")
    provider_id: str | None = Field(default=None, alias="providerID")
    unschedulable: bool | None = doc("Unschedulable controls node schedulability of new pods.")
    taints: list[Taint] | None = doc("If specified, the node's taints.")


class NodeCondition(_Core):
    """NodeCondition contains condition information for a node."""

    required_fields = ("type", "status")

    type: str | None = doc("Type of node condition: Ready, MemoryPressure, DiskPressure, PIDPressure.")
    status: str | None = doc("Status of the condition, one of True, False, Unknown.")
    last_heartbeat_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class NodeAddress(_Core):
    """NodeAddress contains information for the node's address."""

    required_fields = ("type", "address")

    type: str | None = doc("Node address type, one of Hostname, ExternalIP or InternalIP.")
    address: str | None = None


class NodeSystemInfo(_Core):
    """NodeSystemInfo is a set of ids/uuids to uniquely identify the node."""

    machine_id: str | None = Field(default=None, alias="machineID")
    system_uuid: str | None = Field(default=None, alias="systemUUID")
    boot_id: str | None = Field(default=None, alias="bootID")
    kernel_version: str | None = None
    os_image: str | None = Field(default=None, alias="osImage")
    container_runtime_version: str | None = None
    kubelet_version: str | None = None
    kube_proxy_version: str | None = None
    operating_system: str | None = None
    architecture: str | None = None


class DaemonEndpoint(_Core):
    """DaemonEndpoint contains information about a single Daemon endpoint."""

    port: int | None = Field(default=None, alias="Port")


class NodeDaemonEndpoints(_Core):
    """NodeDaemonEndpoints lists ports opened by daemons running on the Node."""

    kubelet_endpoint: DaemonEndpoint | None = None


class NodeStatus(_Core):
    """NodeStatus is information about the current status of a node."""

    capacity: dict[str, Quantity] | None = doc("Capacity represents the total resources of a node.")
    allocatable: dict[str, Quantity] | None = doc("Allocatable represents the resources of a node that are available for scheduling. Defaults to Capacity.")
    phase: str | None = None
    conditions: list[NodeCondition] | None = merge_list("type")
    addresses: list[NodeAddress] | None = merge_list("type")
    daemon_endpoints: NodeDaemonEndpoints | None = None
    node_info: NodeSystemInfo | None = None
    images: list[dict[str, Any]] | None = None


class Node(_Core, TypedModel):
    """Node is a worker node in Kubernetes."""

    gvk = ("", "v1", "Node")

    metadata: ObjectMeta | None = None
    spec: NodeSpec | None = None
    status: NodeStatus | None = None


# --- events -----------------------------------------------------------------------------------------


class EventSource(_Core):
    """EventSource contains information for an event."""

    component: str | None = None
    host: str | None = None


class EventSeries(_Core):
    """EventSeries contain information on series of events."""

    count: int | None = None
    last_observed_time: MicroTime | None = None


class Event(_Core, TypedModel):
    """Event is a report of an event somewhere in the cluster."""

    gvk = ("", "v1", "Event")
    required_fields = ("metadata", "involvedObject")

    metadata: ObjectMeta | None = None
    involved_object: ObjectReference | None = doc("The object that this event is about.")
    reason: str | None = doc("This should be a short, machine understandable string that gives the reason for the transition.")
    message: str | None = doc("A human-readable description of the status of this operation.")
    source: EventSource | None = None
    first_timestamp: Time | None = None
    last_timestamp: Time | None = None
    count: int | None = None
    type: str | None = doc("Type of this event (Normal, Warning).")
    event_time: MicroTime | None = None
    series: EventSeries | None = None
    action: str | None = None
    related: ObjectReference | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None
