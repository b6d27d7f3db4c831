"""Validation of the pod-spec fields the node agent reads from other objects: ``env[].valueFrom``,
``envFrom``, the ``configMap``/``secret``/``downwardAPI``/``projected`` volume sources and a
mount's ``subPath``. Messages and field paths are Kubernetes' (``spec.containers[0].env[1].valueFrom``,
``Unsupported value: "status.phase"``), so a manifest that fails here fails the same way on a cluster.

Kubernetes equivalent: pkg/apis/core/validation/validation.go (validateEnvVarValueFrom,
validateEnvFrom, validateConfigMapVolumeSource, validateSecretVolumeSource,
validateDownwardAPIVolumeSource, validateProjectedVolumeSource, validateLocalDescendingPath)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchestrator.api import names
from orchestrator.api.quantity import parse_quantity

# Labels and annotations reach env one key at a time (metadata.labels['k']), volumes whole or by key.
ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
                   "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")
VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid")
RESOURCES = ("limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage",
             "requests.memory")
_SUBSCRIPTED = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_MAX_MODE = 0o777
_MIN_TOKEN_SECONDS = 600


def local_path_problems(path: str) -> list[str]:
    """validateLocalDescendingPath: a path inside a volume."""
    problems = []
    if path.startswith("/"):
        problems.append("must be a relative path")
    if ".." in path.split("/"):
        problems.append("must not contain '..'")
    return problems


def _config_key(errs: Any, path: str, key: Any) -> None:
    if not key:
        errs.required(path)
    elif not _CONFIG_KEY.match(str(key)) or str(key) in (".", ".."):
        errs.invalid(path, key, names.regex_error("a valid config key must consist of alphanumeric characters, "
                                                   "'-', '_' or '.'", "[-._a-zA-Z0-9]+", "key.name", "KEY_NAME",
                                                   "key-name"))


def _field_ref(errs: Any, ref: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    field_path = ref.get("fieldPath")
    if not field_path:
        errs.required(f"{path}.fieldPath")
        return
    if ref.get("apiVersion") not in (None, "", "v1"):
        errs.not_supported(f"{path}.apiVersion", ref["apiVersion"], ("v1",))
    match = _SUBSCRIPTED.match(str(field_path))
    if match:
        for msg in (names.label_key(match.group(2)) if match.group(1) == "labels" else
                    names.annotation_key(match.group(2))):
            errs.invalid(f"{path}.fieldPath", field_path, msg)
        return
    if field_path not in allowed:
        errs.not_supported(f"{path}.fieldPath", field_path, allowed)


def _resource_ref(errs: Any, ref: Mapping[str, Any], path: str, *, containers: set[str] | None,
                  volume: bool) -> None:
    container = ref.get("containerName")
    if volume and not container:
        errs.required(f"{path}.containerName")
    elif container and containers is not None and container not in containers:
        errs.invalid(f"{path}.containerName", container, "must be one of the pod's containers")
    resource = ref.get("resource")
    if not resource:
        errs.required(f"{path}.resource")
    elif resource not in RESOURCES:
        errs.not_supported(f"{path}.resource", resource, RESOURCES)
    divisor = ref.get("divisor")
    if divisor not in (None, ""):
        try:
            if parse_quantity(str(divisor)) <= 0:
                errs.invalid(f"{path}.divisor", divisor, "must be greater than zero")
        except ValueError as err:
            errs.invalid(f"{path}.divisor", divisor, str(err))


def validate_env_value_from(errs: Any, value_from: Any, path: str, *, containers: set[str]) -> None:
    if not isinstance(value_from, Mapping):
        errs.invalid(path, value_from, "must be an object")
        return
    given = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef") if value_from.get(k)]
    if not given:
        errs.invalid(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                               "`secretKeyRef`")
        return
    if len(given) > 1:
        errs.invalid(path, "", "may not have more than one field specified at a time")
        return
    kind = given[0]
    ref = value_from[kind]
    if kind == "fieldRef":
        _field_ref(errs, ref, f"{path}.fieldRef", ENV_FIELD_PATHS)
    elif kind == "resourceFieldRef":
        _resource_ref(errs, ref, f"{path}.resourceFieldRef", containers=containers, volume=False)
    else:
        if not ref.get("name"):
            errs.required(f"{path}.{kind}.name")
        _config_key(errs, f"{path}.{kind}.key", ref.get("key"))


def validate_env_from(errs: Any, sources: list[Any], path: str) -> None:
    for i, source in enumerate(sources):
        entry = f"{path}[{i}]"
        given = [k for k in ("configMapRef", "secretRef") if isinstance(source, Mapping) and source.get(k) is not None]
        if not given:
            errs.invalid(entry, "", "must specify one of: `configMapRef` or `secretRef`")
            continue
        if len(given) > 1:
            errs.invalid(entry, "", "may not have more than one field specified at a time")
            continue
        if not (source[given[0]] or {}).get("name"):
            errs.required(f"{entry}.{given[0]}.name")
        prefix = source.get("prefix")
        if prefix and not _ENV_NAME.match(str(prefix)):
            errs.invalid(f"{entry}.prefix", prefix, "a valid environment variable name must consist of alphabetic "
                                                    "characters, digits, '_', '-', or '.', and must not start with "
                                                    "a digit")


def _mode(errs: Any, path: str, mode: Any) -> None:
    if mode is not None and (not isinstance(mode, int) or not 0 <= mode <= _MAX_MODE):
        errs.invalid(path, mode, "must be a number between 0 and 0777 (octal), both inclusive")


def _items(errs: Any, items: list[Any], path: str, paths: set[str]) -> None:
    for i, item in enumerate(items):
        entry = f"{path}[{i}]"
        _config_key(errs, f"{entry}.key", item.get("key"))
        _item_path(errs, f"{entry}.path", item.get("path"), paths)
        _mode(errs, f"{entry}.mode", item.get("mode"))


def _item_path(errs: Any, path: str, value: Any, paths: set[str]) -> None:
    if not value:
        errs.required(path)
        return
    for msg in local_path_problems(str(value)):
        errs.invalid(path, value, msg)
    if str(value).startswith(".."):
        errs.invalid(path, value, "must not start with '..'")
    if value in paths:
        errs.invalid(path, value, "conflicting duplicate paths")
    paths.add(str(value))


def _downward_items(errs: Any, items: list[Any], path: str, paths: set[str], containers: set[str]) -> None:
    for i, item in enumerate(items):
        entry = f"{path}[{i}]"
        _item_path(errs, f"{entry}.path", item.get("path"), paths)
        _mode(errs, f"{entry}.mode", item.get("mode"))
        if item.get("fieldRef") and item.get("resourceFieldRef"):
            errs.invalid(entry, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously")
        elif item.get("fieldRef"):
            _field_ref(errs, item["fieldRef"], f"{entry}.fieldRef", VOLUME_FIELD_PATHS)
        elif item.get("resourceFieldRef"):
            _resource_ref(errs, item["resourceFieldRef"], f"{entry}.resourceFieldRef", containers=containers,
                          volume=True)
        else:
            errs.required(entry, "one of fieldRef and resourceFieldRef is required")


def validate_volume_source(errs: Any, kind: str, source: Any, path: str, *, containers: set[str]) -> None:
    """The fields of one ``configMap``, ``secret``, ``downwardAPI`` or ``projected`` volume source."""
    if not isinstance(source, Mapping):
        errs.invalid(path, source, "must be an object")
        return
    _mode(errs, f"{path}.defaultMode", source.get("defaultMode"))
    paths: set[str] = set()
    if kind == "configMap":
        if not source.get("name"):
            errs.required(f"{path}.name")
        _items(errs, source.get("items") or [], f"{path}.items", paths)
    elif kind == "secret":
        if not source.get("secretName"):
            errs.required(f"{path}.secretName")
        _items(errs, source.get("items") or [], f"{path}.items", paths)
    elif kind == "downwardAPI":
        _downward_items(errs, source.get("items") or [], f"{path}.items", paths, containers)
    elif kind == "projected":
        for i, projection in enumerate(source.get("sources") or []):
            entry = f"{path}.sources[{i}]"
            given = [k for k in ("configMap", "secret", "downwardAPI", "serviceAccountToken", "clusterTrustBundle")
                     if projection.get(k) is not None]
            if len(given) != 1:
                errs.forbidden(entry, "may not specify more than 1 volume type per source" if given else
                               "must specify exactly 1 volume type per source")
                continue
            kind_i, body = given[0], projection[given[0]] or {}
            if kind_i in ("configMap", "secret"):
                if not body.get("name"):
                    errs.required(f"{entry}.{kind_i}.name")
                _items(errs, body.get("items") or [], f"{entry}.{kind_i}.items", paths)
            elif kind_i == "downwardAPI":
                _downward_items(errs, body.get("items") or [], f"{entry}.downwardAPI.items", paths, containers)
            elif kind_i == "serviceAccountToken":
                _item_path(errs, f"{entry}.serviceAccountToken.path", body.get("path"), paths)
                seconds = body.get("expirationSeconds")
                if seconds is not None and (not isinstance(seconds, int) or seconds < _MIN_TOKEN_SECONDS):
                    errs.invalid(f"{entry}.serviceAccountToken.expirationSeconds", seconds,
                                 "may not specify a duration less than 10 minutes")
            else:
                errs.forbidden(f"{entry}.clusterTrustBundle", "clusterTrustBundle projections are not supported "
                                                              "in this lab")


def validate_sub_path(errs: Any, sub_path: Any, path: str) -> None:
    if sub_path:
        for msg in local_path_problems(str(sub_path)):
            errs.invalid(path, sub_path, msg)
