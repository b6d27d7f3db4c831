"""Field-level decoding, defaulting and validation in Kubernetes' words: the library the
resource strategies (``apiserver/registry/``) are written with.

It knows fields, not verbs: ``decode`` (apiVersion/kind against the URL, types, unknown fields per
``fieldValidation``), the defaults Kubernetes fills in (``default_pod_spec``,
``default_deployment``, ...), the validators that collect every problem with its field path into
``FieldErrors`` (``validate_object_meta``, ``validate_pod_spec``, ``validate_deployment_spec``,
...), and canonical quantities. Which of them run for which kind, and in what order for create and
update, is the job of each resource's strategy and of ``registry/rest.py``.

Kubernetes equivalent: pkg/apis/core/validation, pkg/apis/apps/validation,
pkg/apis/core/v1/defaults.go, k8s.io/apimachinery/pkg/util/validation/field
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from orchestrator.api import names
from orchestrator.api.errors import BadRequest, Cause, Invalid
from orchestrator.api.models import model_for, prune, unknown_fields
from orchestrator.api.models.meta import K8sModel
from orchestrator.api.quantity import canonical, parse_quantity
from orchestrator.api.resources import ResourceInfo
from orchestrator.api.selectors import LabelSelector
from orchestrator.api.timestamps import rfc3339  # re-exported: the registry modules import it from here
from orchestrator.apiserver import podspecvalidation

FIELD_VALIDATION_VALUES = ("Ignore", "Strict", "Warn")
DEFAULT_FIELD_VALIDATION = "Warn"  # kube-apiserver's default since 1.27
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"

POD_UPDATABLE_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)



@dataclass(frozen=True)
class Prepared:
    """The object to store and the warnings for the response's `Warning` headers."""

    obj: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


# --- field errors in Kubernetes' words --------------------------------------------------------------


def go_value(value: Any) -> str:
    """How a bad value is printed in a field error: strings quoted, numbers bare, maps Go-style."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(value.items()))
        return f"map[string]string{{{inner}}}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class FieldErrors:
    """Collects field errors like k8s.io/apimachinery/pkg/util/validation/field.ErrorList."""

    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def __bool__(self) -> bool:
        return bool(self.causes)

    def _add(self, path: str, reason: str, body: str, detail: str = "") -> None:
        self.causes.append(Cause(field=path, message=f"{body}: {detail}" if detail else body, reason=reason))

    def required(self, path: str, detail: str = "") -> None:
        self._add(path, "FieldValueRequired", "Required value", detail)

    def invalid(self, path: str, value: Any, detail: str, *, bare: bool = False) -> None:
        shown = str(value) if bare else go_value(value)
        self._add(path, "FieldValueInvalid", f"Invalid value: {shown}", detail)

    def forbidden(self, path: str, detail: str) -> None:
        self._add(path, "FieldValueForbidden", "Forbidden", detail)

    def duplicate(self, path: str, value: Any) -> None:
        self._add(path, "FieldValueDuplicate", f"Duplicate value: {go_value(value)}")

    def not_found(self, path: str, value: Any) -> None:
        self._add(path, "FieldValueNotFound", f"Not found: {go_value(value)}")

    def not_supported(self, path: str, value: Any, supported: Iterable[str]) -> None:
        listed = ", ".join(json.dumps(s) for s in supported)
        self._add(path, "FieldValueNotSupported", f"Unsupported value: {go_value(value)}", f"supported values: {listed}")

    def too_long(self, path: str, detail: str) -> None:
        self._add(path, "FieldValueTooLong", "Too long", detail)

    def extend(self, causes: Iterable[Cause]) -> None:
        self.causes.extend(causes)

    def raise_if_any(self, info_kind: str, group: str, name: str) -> None:
        if not self.causes:
            return
        seen: list[str] = []
        for cause in self.causes:
            text = f"{cause.field}: {cause.message}"
            if text not in seen:  # upstream's aggregate drops repeated messages
                seen.append(text)
        aggregate = seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"
        qualified = f"{info_kind}.{group}" if group else info_kind
        raise Invalid(
            f"{qualified} {json.dumps(name)} is invalid: {aggregate}",
            kind=info_kind,
            name=name,
            group=group or None,
            causes=list(self.causes),
        )


def non_negative(errs: FieldErrors, path: str, value: Any) -> None:
    if isinstance(value, int) and value < 0:
        errs.invalid(path, value, "must be greater than or equal to 0")


INT32_MAX = 2**31 - 1


def int32(errs: FieldErrors, path: str, value: Any) -> None:
    """Kubernetes declares these fields int32: a Go client cannot read a bigger value back."""
    if isinstance(value, int) and not -INT32_MAX - 1 <= value <= INT32_MAX:
        errs.invalid(path, value, f"must be less than or equal to {INT32_MAX}" if value > 0 else
                     f"must be greater than or equal to {-INT32_MAX - 1}")


# --- 1. decode ----------------------------------------------------------------------------------------


def check_field_validation(value: str | None, *, options_kind: str) -> str:
    """The directive, ``Warn`` when absent; an unknown one is refused like kube-apiserver does."""
    if value is None or value == "":
        return DEFAULT_FIELD_VALIDATION
    if value not in FIELD_VALIDATION_VALUES:
        errs = FieldErrors()
        errs.not_supported("fieldValidation", value, FIELD_VALIDATION_VALUES)
        errs.raise_if_any(options_kind, "meta.k8s.io", "")
    return value


def decode(
    info: ResourceInfo, body: Any, *, field_validation: str, expect: tuple[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A pruned, type-checked copy of the body and the unknown-field warnings."""
    api_version, kind = expect or (info.api_version, info.kind)
    if not isinstance(body, dict):
        raise BadRequest(f"the object provided is unrecognized (must be of type {kind}): body must be a JSON object")
    # apiVersion and kind first, as Kubernetes writes them; defaulted from the URL when absent.
    rest = {k: _copy(v) for k, v in body.items() if k not in ("apiVersion", "kind")}
    body = {"apiVersion": body.get("apiVersion") or api_version, "kind": body.get("kind") or kind, **rest}
    if body["apiVersion"] != api_version:
        raise BadRequest(
            f"the API version in the data ({body['apiVersion']}) does not match the expected API version ({api_version})"
        )
    version = api_version.rsplit("/", 1)[-1]
    cannot = f"{body['kind']} in version {json.dumps(version)} cannot be handled as a {kind}"
    if body["kind"] != kind:
        raise BadRequest(f"{cannot}: the kind in the data ({body['kind']}) does not match the expected kind ({kind})")
    model = model_for(api_version, kind)
    if model is None:  # a served kind without a model is a programming error, not bad input
        raise KeyError(f"no model for {api_version} {kind}")
    unknown = unknown_fields(model, body)
    if unknown and field_validation == "Strict":
        listed = ", ".join(f"unknown field {json.dumps(p)}" for p in unknown)
        raise BadRequest(f"{cannot}: strict decoding error: {listed}")
    warnings = [f"unknown field {json.dumps(p)}" for p in unknown] if field_validation == "Warn" else []
    body = prune(model, body)
    _type_check(model, body, cannot)
    return body, warnings


def _copy(value: Any) -> Any:
    """copy.deepcopy for decoded JSON (dicts, lists, immutable scalars), a few times faster;
    anything else (a YAML timestamp) is handed to deepcopy."""
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    return copy.deepcopy(value)


def _type_check(model: type[K8sModel], body: dict[str, Any], cannot: str) -> None:
    try:
        model.model_validate(body)
    except ValidationError as err:
        problems = []
        for e in err.errors(include_url=False):
            path = ""
            for part in e["loc"]:
                path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
            problems.append(f"{path}: {e['msg']}")
        raise BadRequest(f"{cannot}: json: {'; '.join(problems)}") from None


# --- 3. defaults ----------------------------------------------------------------------------------------


def _image_pull_policy(image: str) -> str:
    """Always for ``:latest`` or no tag, else IfNotPresent (a digest pins the image)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _default_container(container: dict[str, Any], *, for_pod: bool) -> None:
    if isinstance(container.get("image"), str) and "imagePullPolicy" not in container:
        container["imagePullPolicy"] = _image_pull_policy(container["image"])
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    resources = container.setdefault("resources", {})
    if for_pod and isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
        # SetDefaults_Pod: a limit without a request requests the limit.
        requests = resources.setdefault("requests", {})
        for resource, quantity in resources["limits"].items():
            requests.setdefault(resource, quantity)
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(container.get(key))


def default_pod_spec(spec: dict[str, Any], *, for_pod: bool) -> None:
    """SetDefaults_PodSpec (and SetDefaults_Pod when ``for_pod``), in place."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if for_pod:
        # The Priority admission plugin resolves priority 0 for pods without a priority class.
        spec.setdefault("priority", 0)
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _default_container(container, for_pod=for_pod)


def _default_template(spec: dict[str, Any]) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"], for_pod=False)


def default_deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_template(spec)


def default_replicaset(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _default_template(spec)


def default_node(obj: dict[str, Any]) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and "capacity" in status and "allocatable" not in status:
        status["allocatable"] = copy.deepcopy(status["capacity"])


def default_event(obj: dict[str, Any], now: datetime) -> None:
    obj.setdefault("type", "Normal")
    obj.setdefault("count", 1)
    stamp = rfc3339(now)
    obj.setdefault("firstTimestamp", obj.get("lastTimestamp") or stamp)
    obj.setdefault("lastTimestamp", obj["firstTimestamp"])


# --- 4. system fields and status ------------------------------------------------------------------------


def _resource_amounts(container: Mapping[str, Any], key: str) -> dict[str, Any]:
    resources = container.get("resources") or {}
    amounts = resources.get(key) or {}
    out = {}
    for name in ("cpu", "memory"):
        if name in amounts:
            try:
                value = parse_quantity(amounts[name])
            except ValueError:
                continue
            if value != 0:
                out[name] = value
    return out


def qos_class(spec: Mapping[str, Any]) -> str:
    """Guaranteed (limits = requests for cpu and memory everywhere), BestEffort (none), else Burstable.

    Kubernetes equivalent: pkg/apis/core/helper/qos/qos.go
    """
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if not isinstance(container, Mapping):
            continue
        for name, value in _resource_amounts(container, "requests").items():
            requests[name] = requests.get(name, 0) + value
        container_limits = _resource_amounts(container, "limits")
        for name, value in container_limits.items():
            limits[name] = limits.get(name, 0) + value
        if set(container_limits) != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and set(limits) == {"cpu", "memory"} and all(requests.get(k) == v for k, v in limits.items()):
        return "Guaranteed"
    return "Burstable"


# --- 5. validation --------------------------------------------------------------------------------------


_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_ONE_LETTER = re.compile(r"[a-z]")
_ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_PERCENT = re.compile(r"^[0-9]+%$")
_STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# Pod Security Standards "baseline": the capabilities a container may add, which are Docker's
# defaults anyway. Anything else (SYS_ADMIN, NET_ADMIN, ALL, ...) is as good as privileged.
_BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
_NODE_AGENT_VOLUMES = ("configMap", "secret", "downwardAPI", "projected")
_VOLUME_SOURCES = ("hostPath", "configMap", "secret", "persistentVolumeClaim", "projected", "downwardAPI", "nfs")


def _port_name(name: str) -> list[str]:
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS.match(name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _ONE_LETTER.search(name):
        problems.append("must contain at least one letter (a-z)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


def _valid_port(errs: FieldErrors, path: str, port: Any) -> None:
    if isinstance(port, int):
        if not 1 <= port <= 65535:
            errs.invalid(path, port, "must be between 1 and 65535, inclusive")
    elif isinstance(port, str):
        for msg in _port_name(port):
            errs.invalid(path, port, msg)


def validate_object_meta(
    errs: FieldErrors, meta: Mapping[str, Any], *, namespaced: bool, name_fn: Callable[[str], list[str]], path: str = "metadata"
) -> None:
    """ValidateObjectMeta: name or generateName, namespace, labels, annotations, owners, finalizers."""
    name = meta.get("name")
    generate = meta.get("generateName")
    if generate and not name:
        # A prefix may end in '-': check it as if it ended with a letter.
        masked = generate[:-1] + "a" if generate.endswith("-") else generate
        for msg in name_fn(masked):
            errs.invalid(f"{path}.generateName", generate, msg)
    if not name:
        errs.required(f"{path}.name", "name or generateName is required")
    else:
        for msg in name_fn(name):
            errs.invalid(f"{path}.name", name, msg)
    if namespaced:
        ns = meta.get("namespace")
        if not ns:
            errs.required(f"{path}.namespace")
        else:
            for msg in names.dns1123_label(ns):
                errs.invalid(f"{path}.namespace", ns, msg)
    elif meta.get("namespace"):
        errs.forbidden(f"{path}.namespace", "not allowed on this type")
    validate_labels(errs, meta.get("labels") or {}, f"{path}.labels")
    annotations = meta.get("annotations") or {}
    for key in annotations:
        for msg in names.annotation_key(key):
            errs.invalid(f"{path}.annotations", key, msg)
    for msg in names.annotations_size(annotations):
        errs.too_long(f"{path}.annotations", msg)
    controllers = []
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        ref_path = f"{path}.ownerReferences[{i}]"
        for key, what in (("apiVersion", "version"), ("kind", "kind"), ("name", "name"), ("uid", "uid")):
            if not ref.get(key):
                errs.invalid(f"{ref_path}.{key}", ref.get(key, ""), f"{what} must not be empty")
        if ref.get("controller"):
            controllers.append(f"{ref.get('kind')}/{ref.get('name')}")
    if len(controllers) > 1:
        errs.invalid(
            f"{path}.ownerReferences",
            meta.get("ownerReferences"),
            "Only one reference can have Controller set to true. Found \"true\" in references for "
            + " and ".join(controllers),
        )
    for finalizer in meta.get("finalizers") or []:
        for msg in names.qualified_name(finalizer):
            errs.invalid(f"{path}.finalizers", finalizer, msg)


def validate_labels(errs: FieldErrors, labels: Mapping[str, str], path: str) -> None:
    for key, value in labels.items():
        for msg in names.label_key(key):
            errs.invalid(path, key, msg)
        for msg in names.label_value(value):
            errs.invalid(path, value, msg)


def _validate_resources(errs: FieldErrors, resources: Mapping[str, Any], path: str) -> None:
    parsed: dict[str, dict[str, Any]] = {"limits": {}, "requests": {}}
    for key in ("limits", "requests"):
        for resource, quantity in (resources.get(key) or {}).items():
            entry = f"{path}.{key}[{resource}]"
            if resource not in _STANDARD_CONTAINER_RESOURCES and not resource.startswith("hugepages-") and "/" not in resource:
                errs.invalid(entry, resource, "must be a standard resource for containers")
            try:
                value = parse_quantity(quantity)
            except ValueError as err:
                errs.invalid(f"{path}.{key}.{resource}", quantity, str(err))
                continue
            if value < 0:
                errs.invalid(entry, canonical(quantity), "must be greater than or equal to 0")
            parsed[key][resource] = (value, quantity)
    for resource, (request, text) in parsed["requests"].items():
        limit = parsed["limits"].get(resource)
        if limit is not None and request > limit[0]:
            errs.invalid(
                f"{path}.requests", canonical(text),
                f"must be less than or equal to {resource} limit of {canonical(limit[1])}",
            )


def _validate_probe(errs: FieldErrors, probe: Mapping[str, Any], path: str, *, single_success: bool) -> None:
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(h) is not None]
    if not handlers:
        errs.required(path, "must specify a handler type")
    for extra in handlers[1:]:
        errs.forbidden(f"{path}.{extra}", "may not specify more than 1 handler type")
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        non_negative(errs, f"{path}.{key}", probe.get(key))
    if single_success and probe.get("successThreshold") not in (None, 1):
        errs.invalid(f"{path}.successThreshold", probe["successThreshold"], "must be 1")
    http = probe.get("httpGet")
    if isinstance(http, Mapping):
        if http.get("port") is None:
            errs.required(f"{path}.httpGet.port")
        else:
            _valid_port(errs, f"{path}.httpGet.port", http["port"])
        if http.get("scheme") not in (None, "HTTP", "HTTPS"):
            errs.not_supported(f"{path}.httpGet.scheme", http["scheme"], ("HTTP", "HTTPS"))
    tcp = probe.get("tcpSocket")
    if isinstance(tcp, Mapping):
        if tcp.get("port") is None:
            errs.required(f"{path}.tcpSocket.port")
        else:
            _valid_port(errs, f"{path}.tcpSocket.port", tcp["port"])


def _validate_container(
    errs: FieldErrors, container: Mapping[str, Any], path: str, *, volumes: set[str], image_required: bool,
    containers: set[str] | None = None,
) -> None:
    name = container.get("name")
    if not name:
        errs.required(f"{path}.name")
    else:
        for msg in names.dns1123_label(name):
            errs.invalid(f"{path}.name", name, msg)
    if not container.get("image"):
        if image_required:
            errs.required(f"{path}.image")
    elif container["image"] != container["image"].strip():
        errs.invalid(f"{path}.image", container["image"], "must not have leading or trailing whitespace")
    policy = container.get("imagePullPolicy")
    if policy is not None and policy not in ("Always", "IfNotPresent", "Never"):
        errs.not_supported(f"{path}.imagePullPolicy", policy, ("Always", "IfNotPresent", "Never"))
    port_names: set[str] = set()
    for i, port in enumerate(container.get("ports") or []):
        port_path = f"{path}.ports[{i}]"
        if port.get("name"):
            for msg in _port_name(port["name"]):
                errs.invalid(f"{port_path}.name", port["name"], msg)
            if port["name"] in port_names:
                errs.duplicate(f"{port_path}.name", port["name"])
            port_names.add(port["name"])
        if port.get("containerPort") is None:
            errs.required(f"{port_path}.containerPort")
        else:
            _valid_port(errs, f"{port_path}.containerPort", port["containerPort"])
        if port.get("hostPort") not in (None, 0):
            _valid_port(errs, f"{port_path}.hostPort", port["hostPort"])
        if port.get("protocol") is not None and port["protocol"] not in ("SCTP", "TCP", "UDP"):
            errs.not_supported(f"{port_path}.protocol", port["protocol"], ("SCTP", "TCP", "UDP"))
    for i, env in enumerate(container.get("env") or []):
        env_path = f"{path}.env[{i}]"
        if not env.get("name"):
            errs.required(f"{env_path}.name")
        elif not _ENV_VAR_NAME.match(env["name"]):
            errs.invalid(
                f"{env_path}.name", env["name"],
                names.regex_error(
                    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
                    "or '.', and must not start with a digit",
                    "[-._a-zA-Z][-._a-zA-Z0-9]*", "my.env-name", "MY_ENV.NAME", "MyEnvName1",
                ),
            )
        if env.get("value") and env.get("valueFrom") is not None:
            errs.invalid(f"{env_path}.valueFrom", "", "may not be specified when `value` is not empty")
        elif env.get("valueFrom") is not None:
            podspecvalidation.validate_env_value_from(errs, env["valueFrom"], f"{env_path}.valueFrom",
                                                      containers=containers or set())
    podspecvalidation.validate_env_from(errs, container.get("envFrom") or [], f"{path}.envFrom")
    _validate_resources(errs, container.get("resources") or {}, f"{path}.resources")
    for key, single in (("livenessProbe", True), ("readinessProbe", False), ("startupProbe", True)):
        if isinstance(container.get(key), Mapping):
            _validate_probe(errs, container[key], f"{path}.{key}", single_success=single)
    security = container.get("securityContext") or {}
    if security.get("privileged"):
        errs.forbidden(f"{path}.securityContext.privileged", "privileged containers are not allowed in this lab")
    for i, capability in enumerate((security.get("capabilities") or {}).get("add") or []):
        if str(capability).upper().removeprefix("CAP_") not in _BASELINE_CAPABILITIES:
            errs.forbidden(f"{path}.securityContext.capabilities.add[{i}]",
                           f"adding {capability} is not allowed in this lab (only the baseline set: "
                           f"{', '.join(sorted(_BASELINE_CAPABILITIES))})")
    mount_paths: set[str] = set()
    for i, mount in enumerate(container.get("volumeMounts") or []):
        mount_path = f"{path}.volumeMounts[{i}]"
        if not mount.get("name"):
            errs.required(f"{mount_path}.name")
        elif mount["name"] not in volumes:
            errs.not_found(f"{mount_path}.name", mount["name"])
        if not mount.get("mountPath"):
            errs.required(f"{mount_path}.mountPath")
        elif mount["mountPath"] in mount_paths:
            errs.invalid(f"{mount_path}.mountPath", mount["mountPath"], "must be unique")
        else:
            mount_paths.add(mount["mountPath"])
        podspecvalidation.validate_sub_path(errs, mount.get("subPath"), f"{mount_path}.subPath")
        if mount.get("subPath") and mount.get("subPathExpr"):
            errs.invalid(f"{mount_path}.subPathExpr", mount["subPathExpr"], "subPathExpr and subPath are mutually exclusive")
        podspecvalidation.validate_sub_path(errs, mount.get("subPathExpr"), f"{mount_path}.subPathExpr")


def _validate_volumes(errs: FieldErrors, volumes: list[Mapping[str, Any]], path: str,
                      containers: set[str] | None = None) -> set[str]:
    seen: set[str] = set()
    for i, volume in enumerate(volumes):
        volume_path = f"{path}[{i}]"
        name = volume.get("name")
        if not name:
            errs.required(f"{volume_path}.name")
        else:
            for msg in names.dns1123_label(name):
                errs.invalid(f"{volume_path}.name", name, msg)
            if name in seen:
                errs.duplicate(f"{volume_path}.name", name)
            seen.add(name)
        sources = [s for s in ("emptyDir", *_VOLUME_SOURCES) if volume.get(s) is not None]
        if not sources:
            errs.required(volume_path, "must specify a volume type")
        for source in sources:
            if source == "hostPath":
                errs.forbidden(f"{volume_path}.hostPath", "hostPath volumes are not allowed")
            elif source in _NODE_AGENT_VOLUMES:
                podspecvalidation.validate_volume_source(errs, source, volume[source], f"{volume_path}.{source}",
                                                         containers=containers or set())
            elif source == "persistentVolumeClaim":
                claim = volume[source]
                if not isinstance(claim, Mapping) or not claim.get("claimName"):
                    errs.required(f"{volume_path}.persistentVolumeClaim.claimName")
            elif source != "emptyDir":
                errs.forbidden(f"{volume_path}.{source}", "only emptyDir, configMap, secret, downwardAPI, "
                                                          "projected and persistentVolumeClaim volumes are "
                                                          "supported in this lab")
        if len(sources) > 1 and "hostPath" not in sources:
            errs.forbidden(f"{volume_path}.{sources[1]}", "may not specify more than 1 volume type")
        medium = (volume.get("emptyDir") or {}).get("medium")
        if medium not in (None, "", "Memory"):
            errs.not_supported(f"{volume_path}.emptyDir.medium", medium, ("", "Memory"))
        size = (volume.get("emptyDir") or {}).get("sizeLimit")
        if size is not None:
            try:
                if parse_quantity(size) < 0:
                    errs.invalid(f"{volume_path}.emptyDir.sizeLimit", size, "must be greater than or equal to 0")
            except ValueError as err:
                errs.invalid(f"{volume_path}.emptyDir.sizeLimit", size, str(err))
    return seen


def _validate_tolerations(errs: FieldErrors, tolerations: list[Mapping[str, Any]], path: str) -> None:
    for i, tol in enumerate(tolerations):
        tol_path = f"{path}[{i}]"
        key = tol.get("key") or ""
        operator = tol.get("operator") or "Equal"
        if key:
            for msg in names.label_key(key):
                errs.invalid(f"{tol_path}.key", key, msg)
        elif operator != "Exists":
            errs.invalid(
                f"{tol_path}.operator", operator,
                'operator must be Exists when `key` is empty, which means "match all values and all keys"',
            )
        if operator == "Exists" and tol.get("value"):
            errs.invalid(f"{tol_path}.operator", tol.get("value"), "value must be empty when `operator` is 'Exists'")
        elif operator == "Equal":
            for msg in names.label_value(tol.get("value") or ""):
                errs.invalid(f"{tol_path}.value", tol.get("value"), msg)
        elif operator not in ("Exists", "Equal"):
            errs.not_supported(f"{tol_path}.operator", operator, ("Equal", "Exists"))
        effect = tol.get("effect")
        if effect and effect not in _TAINT_EFFECTS:
            errs.not_supported(f"{tol_path}.effect", effect, _TAINT_EFFECTS)
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.invalid(
                f"{tol_path}.effect", effect or "", "effect must be 'NoExecute' when `tolerationSeconds` is set"
            )


def _validate_node_selector_term(errs: FieldErrors, term: Mapping[str, Any], path: str) -> None:
    for key in ("matchExpressions", "matchFields"):
        for i, req in enumerate(term.get(key) or []):
            req_path = f"{path}.{key}[{i}]"
            operator = req.get("operator")
            values = req.get("values") or []
            if key == "matchExpressions":
                for msg in names.label_key(req.get("key") or ""):
                    errs.invalid(f"{req_path}.key", req.get("key") or "", msg)
            elif req.get("key") != "metadata.name":
                errs.invalid(f"{req_path}.key", req.get("key") or "", "not a valid field selector key")
            if operator in ("In", "NotIn"):
                if not values:
                    errs.required(f"{req_path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
            elif operator in ("Exists", "DoesNotExist"):
                if values:
                    errs.forbidden(f"{req_path}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
            elif operator in ("Gt", "Lt"):
                if len(values) != 1:
                    errs.required(f"{req_path}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'")
            else:
                errs.invalid(f"{req_path}.operator", operator, "not a valid selector operator")


def _validate_affinity(errs: FieldErrors, affinity: Mapping[str, Any], path: str) -> None:
    node = affinity.get("nodeAffinity") or {}
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None:
        req_path = f"{path}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        terms = required.get("nodeSelectorTerms") or []
        if not terms:
            errs.required(f"{req_path}.nodeSelectorTerms", "must have at least one node selector term")
        for i, term in enumerate(terms):
            _validate_node_selector_term(errs, term, f"{req_path}.nodeSelectorTerms[{i}]")
    pref_path = f"{path}.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
    for i, pref in enumerate(node.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
        weight = pref.get("weight")
        if not isinstance(weight, int) or not 1 <= weight <= 100:
            errs.invalid(f"{pref_path}[{i}].weight", weight, "must be in the range 1-100")
        _validate_node_selector_term(errs, pref.get("preference") or {}, f"{pref_path}[{i}].preference")


def validate_pod_spec(errs: FieldErrors, spec: Mapping[str, Any], path: str, *, for_pod: bool) -> None:
    """ValidatePodSpec, plus this lab's refusals (host namespaces, hostPath, privileged)."""
    names_of = {str(c.get("name")) for key in ("initContainers", "containers") for c in spec.get(key) or []
                if isinstance(c, Mapping)}
    volumes = _validate_volumes(errs, spec.get("volumes") or [], f"{path}.volumes", names_of)
    containers = spec.get("containers") or []
    if not containers:
        errs.required(f"{path}.containers")
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(key) or []):
            container_path = f"{path}.{key}[{i}]"
            _validate_container(errs, container, container_path, volumes=volumes, image_required=for_pod,
                                containers=names_of)
            name = container.get("name")
            if name:
                if name in seen:
                    errs.duplicate(f"{container_path}.name", name)
                seen.add(name)
    restart = spec.get("restartPolicy")
    if restart is not None and restart not in ("Always", "OnFailure", "Never"):
        errs.not_supported(f"{path}.restartPolicy", restart, ("Always", "OnFailure", "Never"))
    dns = spec.get("dnsPolicy")
    dns_policies = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
    if dns is not None and dns not in dns_policies:
        errs.not_supported(f"{path}.dnsPolicy", dns, dns_policies)
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= 2147483647:
        errs.invalid(f"{path}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive")
    non_negative(errs, f"{path}.terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"))
    int32(errs, f"{path}.priority", spec.get("priority"))
    if spec.get("hostNetwork"):
        errs.forbidden(f"{path}.hostNetwork", "hostNetwork is not allowed in this lab")
    if spec.get("hostPID"):
        errs.forbidden(f"{path}.hostPID", "hostPID is not allowed in this lab")
    if spec.get("hostIPC"):
        errs.forbidden(f"{path}.hostIPC", "hostIPC is not allowed in this lab")
    validate_labels(errs, spec.get("nodeSelector") or {}, f"{path}.nodeSelector")
    if spec.get("nodeName"):
        for msg in names.dns1123_subdomain(spec["nodeName"]):
            errs.invalid(f"{path}.nodeName", spec["nodeName"], msg)
    _validate_tolerations(errs, spec.get("tolerations") or [], f"{path}.tolerations")
    if isinstance(spec.get("affinity"), Mapping):
        _validate_affinity(errs, spec["affinity"], f"{path}.affinity")


def _validate_selector(errs: FieldErrors, spec: Mapping[str, Any], path: str) -> LabelSelector | None:
    selector = spec.get("selector")
    if selector is None:
        errs.required(f"{path}.selector")
        return None
    try:
        parsed = LabelSelector.from_structured(selector, field_path=f"{path}.selector")
    except Invalid as err:
        errs.extend(err.causes)
        return None
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errs.invalid(f"{path}.selector", selector, "empty selector is invalid for deployment")
    return parsed


def _validate_template_for_replicas(
    errs: FieldErrors, spec: Mapping[str, Any], selector: LabelSelector | None, path: str
) -> None:
    template = spec.get("template")
    template_path = f"{path}.template"
    if not isinstance(template, Mapping):
        errs.required(template_path)
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector is not None and not selector.empty and not selector.matches(labels):
        errs.invalid(f"{template_path}.metadata.labels", labels, "`selector` does not match template `labels`")
    validate_labels(errs, labels, f"{template_path}.metadata.labels")
    pod_spec = template.get("spec") or {}
    validate_pod_spec(errs, pod_spec, f"{template_path}.spec", for_pod=False)
    if pod_spec.get("restartPolicy", "Always") != "Always":
        errs.not_supported(f"{template_path}.spec.restartPolicy", pod_spec["restartPolicy"], ("Always",))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.forbidden(
            f"{template_path}.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"
        )


def _int_or_percent(errs: FieldErrors, value: Any, path: str) -> int | None:
    """The number, or percent, of a maxSurge/maxUnavailable; None when invalid."""
    if isinstance(value, int):
        if value < 0:
            errs.invalid(path, value, "must be greater than or equal to 0", bare=True)
            return None
        return value
    if isinstance(value, str):
        if not _PERCENT.match(value):
            errs.invalid(
                path, value,
                names.regex_error(
                    "a valid percent string must be a numeric string followed by an ending '%'", "[0-9]+%", "1%", "93%"
                ),
                bare=True,
            )
            return None
        return int(value[:-1])
    return None


def _validate_replica_counts(errs: FieldErrors, spec: Mapping[str, Any], path: str) -> None:
    non_negative(errs, f"{path}.replicas", spec.get("replicas"))
    non_negative(errs, f"{path}.minReadySeconds", spec.get("minReadySeconds"))
    for key in ("replicas", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        int32(errs, f"{path}.{key}", spec.get(key))


def validate_deployment_spec(errs: FieldErrors, spec: Mapping[str, Any], path: str) -> None:
    _validate_replica_counts(errs, spec, path)
    selector = _validate_selector(errs, spec, path)
    _validate_template_for_replicas(errs, spec, selector, path)
    strategy = spec.get("strategy") or {}
    strategy_type = strategy.get("type")
    if strategy_type not in ("Recreate", "RollingUpdate"):
        errs.not_supported(f"{path}.strategy.type", strategy_type, ("Recreate", "RollingUpdate"))
    elif strategy_type == "Recreate" and strategy.get("rollingUpdate") is not None:
        errs.forbidden(f"{path}.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
    elif strategy_type == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        rolling_path = f"{path}.strategy.rollingUpdate"
        unavailable = _int_or_percent(errs, rolling.get("maxUnavailable"), f"{rolling_path}.maxUnavailable")
        surge = _int_or_percent(errs, rolling.get("maxSurge"), f"{rolling_path}.maxSurge")
        if unavailable == 0 and surge == 0:
            errs.invalid(
                f"{rolling_path}.maxUnavailable", rolling.get("maxUnavailable"), "may not be 0 when `maxSurge` is 0",
                bare=True,
            )
        if isinstance(rolling.get("maxUnavailable"), str) and unavailable is not None and unavailable > 100:
            errs.invalid(f"{rolling_path}.maxUnavailable", rolling["maxUnavailable"], "must not be greater than 100%", bare=True)
    non_negative(errs, f"{path}.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        non_negative(errs, f"{path}.progressDeadlineSeconds", deadline)
        if deadline <= (spec.get("minReadySeconds") or 0):
            errs.invalid(f"{path}.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds")


def validate_replicaset_spec(errs: FieldErrors, spec: Mapping[str, Any], path: str) -> None:
    _validate_replica_counts(errs, spec, path)
    selector = _validate_selector(errs, spec, path)
    _validate_template_for_replicas(errs, spec, selector, path)


def validate_node(errs: FieldErrors, obj: Mapping[str, Any]) -> None:
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate((obj.get("spec") or {}).get("taints") or []):
        taint_path = f"spec.taints[{i}]"
        key = taint.get("key") or ""
        for msg in names.label_key(key):
            errs.invalid(f"{taint_path}.key", key, msg)
        for msg in names.label_value(taint.get("value") or ""):
            errs.invalid(f"{taint_path}.value", taint.get("value"), msg)
        effect = taint.get("effect")
        if not effect:
            errs.required(f"{taint_path}.effect")
        elif effect not in _TAINT_EFFECTS:
            errs.not_supported(f"{taint_path}.effect", effect, _TAINT_EFFECTS)
        if (key, effect or "") in seen:
            errs.duplicate(taint_path, taint)
        seen.add((key, effect or ""))
    status = obj.get("status") or {}
    for key in ("capacity", "allocatable"):
        for resource, quantity in (status.get(key) or {}).items():
            try:
                if parse_quantity(quantity) < 0:
                    errs.invalid(f"status.{key}[{resource}]", quantity, "must be greater than or equal to 0")
            except ValueError as err:
                errs.invalid(f"status.{key}.{resource}", quantity, str(err))


def validate_event(errs: FieldErrors, obj: Mapping[str, Any]) -> None:
    involved = obj.get("involvedObject") or {}
    namespace = (obj.get("metadata") or {}).get("namespace")
    if involved.get("namespace") and involved["namespace"] != namespace:
        errs.invalid("involvedObject.namespace", involved["namespace"], "does not match event.namespace")
    if obj.get("type") not in ("Normal", "Warning"):
        errs.not_supported("type", obj.get("type"), ("Normal", "Warning"))
    non_negative(errs, "count", obj.get("count"))


def validate_lease(errs: FieldErrors, obj: Mapping[str, Any]) -> None:
    spec = obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        errs.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")
    non_negative(errs, "spec.leaseTransitions", spec.get("leaseTransitions"))


def validate_pod_status(errs: FieldErrors, status: Mapping[str, Any]) -> None:
    phase = status.get("phase")
    phases = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
    if phase is not None and phase not in phases:
        errs.not_supported("status.phase", phase, phases)
    for key in ("initContainerStatuses", "containerStatuses"):
        for i, cs in enumerate(status.get(key) or []):
            non_negative(errs, f"status.{key}[{i}].restartCount", cs.get("restartCount"))


# --- 6. canonical quantities ------------------------------------------------------------------------------


def canonical_amounts(amounts: Any) -> None:
    if isinstance(amounts, dict):
        for key, value in amounts.items():
            try:
                amounts[key] = canonical(value)
            except ValueError:
                pass  # already reported by validation


def canonicalize_pod_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            resources = container.get("resources") if isinstance(container, dict) else None
            if isinstance(resources, dict):
                canonical_amounts(resources.get("requests"))
                canonical_amounts(resources.get("limits"))
    for volume in spec.get("volumes") or []:
        empty_dir = volume.get("emptyDir") if isinstance(volume, dict) else None
        if isinstance(empty_dir, dict) and "sizeLimit" in empty_dir:
            canonical_amounts(empty_dir)


# --- update ---------------------------------------------------------------------------------------------


def check_identity(info: ResourceInfo, old: Mapping[str, Any], meta: dict[str, Any]) -> None:
    old_meta = old.get("metadata") or {}
    if meta.get("name") and meta["name"] != old_meta.get("name"):
        raise BadRequest(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({old_meta.get('name')})"
        )
    meta["name"] = old_meta.get("name")
    if info.namespaced:
        if meta.get("namespace") and meta["namespace"] != old_meta.get("namespace"):
            raise BadRequest("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = old_meta.get("namespace")
    else:
        meta.pop("namespace", None)


def carry_system_fields(errs: FieldErrors, old_meta: Mapping[str, Any], meta: dict[str, Any]) -> None:
    """BeforeUpdate: what the client may not change about metadata."""
    if meta.get("uid") and meta["uid"] != old_meta.get("uid"):
        errs.invalid("metadata.uid", meta["uid"], "field is immutable")
    meta["uid"] = old_meta.get("uid")
    for key in ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    meta.pop("managedFields", None)
    meta.pop("selfLink", None)
    if old_meta.get("deletionTimestamp"):
        added = [f for f in meta.get("finalizers") or [] if f not in (old_meta.get("finalizers") or [])]
        if added:
            errs.forbidden(
                "metadata.finalizers",
                f"no new finalizers can be added if the object is being deleted, found new finalizers {go_value(added)}",
            )


def _changed_paths(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out.extend(_changed_paths(old.get(key), new.get(key), f"{path}.{key}"))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out.extend(_changed_paths(a, b, f"{path}[{i}]"))
        return out
    return [] if old == new else [path]


def _same_toleration(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("key", "operator", "value", "effect")
    return all((a.get(k) or "") == (b.get(k) or "") for k in keys)


def validate_pod_update(errs: FieldErrors, old_spec: Mapping[str, Any], new_spec: Mapping[str, Any]) -> None:
    """ValidatePodUpdate: a running pod's spec is fixed except for a few fields."""
    munged = copy.deepcopy(dict(new_spec))
    for key in ("containers", "initContainers"):
        old_list, new_list = old_spec.get(key) or [], munged.get(key) or []
        if len(old_list) == len(new_list):
            for old_c, new_c in zip(old_list, new_list, strict=True):
                if isinstance(new_c, dict) and "image" in old_c:
                    new_c["image"] = old_c["image"]
    old_deadline, new_deadline = old_spec.get("activeDeadlineSeconds"), new_spec.get("activeDeadlineSeconds")
    if new_deadline is not None and old_deadline is not None and new_deadline > old_deadline:
        errs.invalid("spec.activeDeadlineSeconds", new_deadline, "must be less than or equal to previous value")
    elif new_deadline is None and old_deadline is not None:
        errs.invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value")
    set_or_pop(munged, "activeDeadlineSeconds", old_deadline)
    old_tolerations = old_spec.get("tolerations") or []
    new_tolerations = new_spec.get("tolerations") or []
    for tol in old_tolerations:
        if not any(_same_toleration(tol, other) for other in new_tolerations):
            errs.forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds")
            break
    set_or_pop(munged, "tolerations", old_spec.get("tolerations"))
    changed = _changed_paths(dict(old_spec), munged, "spec")
    if changed:
        errs.forbidden(
            "spec",
            "pod updates may not change fields other than " + ",".join(POD_UPDATABLE_FIELDS)
            + "\n  changed: " + ", ".join(changed),
        )


def set_or_pop(obj: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = value
