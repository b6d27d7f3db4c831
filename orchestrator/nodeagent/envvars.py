"""A container's environment, as kubelet builds it: ``envFrom``, then ``env`` with ``valueFrom``.

Order and precedence (kubelet's makeEnvironmentVariables):

1. the service variables the node gives every container (``KUBERNETES_SERVICE_HOST`` ...);
2. ``envFrom`` sources in order — every key of a ConfigMap or Secret, with the source's
   ``prefix``; keys that are not valid variable names are skipped (kubelet records an event);
3. ``env`` in order — ``value`` with ``$(VAR)`` references expanded against what is defined so
   far (``$$(VAR)`` is a literal ``$(VAR)``; an unknown ``$(X)`` stays as written), or
   ``valueFrom`` one of ``configMapKeyRef``, ``secretKeyRef``, ``fieldRef``, ``resourceFieldRef``
   (orchestrator/nodeagent/downward.py).

A later definition of a name wins. A referenced ConfigMap, Secret or key that does not exist is
an error unless the reference says ``optional: true`` (then the variable is left out): the start
fails with kubelet's ``CreateContainerConfigError`` and its words, e.g. ``configmap "app" not
found`` or ``couldn't find key mode in ConfigMap default/app``. The pod worker retries, so the
container starts once the object appears.

Kubernetes equivalent: pkg/kubelet/kubelet_pods.go (makeEnvironmentVariables),
third_party/forked/golang/expansion/expand.go
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchestrator.api.errors import ApiError
from orchestrator.nodeagent.apiobjects import ObjectSource
from orchestrator.nodeagent.downward import DownwardError, PodRuntimeFields, field_value, resource_value
from orchestrator.nodeagent.runtimes.base import ContainerStartFailed

CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_KINDS = {"configMap": ("configmap", "ConfigMap"), "secret": ("secret", "Secret")}


def config_error(message: str) -> ContainerStartFailed:
    """The start failure kubelet shows as ``CreateContainerConfigError``."""
    return ContainerStartFailed(message, waiting_reason=CREATE_CONTAINER_CONFIG_ERROR)


async def fetch(source: ObjectSource | None, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
    """The payload of a ``configMap`` or ``secret`` reference; None when it does not exist."""
    if source is None:
        raise config_error(f"this node agent cannot read {_KINDS[kind][1]}s (it has no API access for them)")
    try:
        if kind == "configMap":
            return await source.config_map(namespace, name)
        return await source.secret(namespace, name)
    except ApiError as err:  # Forbidden, the API server away: shown on the container, retried
        raise config_error(err.message) from None


def not_found(kind: str, name: str) -> str:
    return f'{_KINDS[kind][0]} "{name}" not found'


def missing_key(kind: str, key: str, namespace: str, name: str) -> str:
    return f"couldn't find key {key} in {_KINDS[kind][1]} {namespace}/{name}"


def expand(value: str, defined: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names are replaced, ``$$`` is a literal ``$``."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "$" and i + 1 < len(value):
            nxt = value[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = value.find(")", i + 2)
                if end != -1:
                    name = value[i + 2:end]
                    out.append(defined[name] if name in defined else value[i:end + 1])
                    i = end + 1
                    continue
        out.append(value[i])
        i += 1
    return "".join(out)


async def make_environment(
    pod: Mapping[str, Any], container: Mapping[str, Any], *, source: ObjectSource | None, runtime: PodRuntimeFields,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of `container` of `pod` (see the module docstring); raises the
    ``CreateContainerConfigError`` start failure when a required reference cannot be resolved."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    env: dict[str, str] = dict(base or {})
    for ref in container.get("envFrom") or []:
        kind = "configMap" if ref.get("configMapRef") is not None else "secret"
        target = ref.get(f"{kind}Ref") or {}
        name = str(target.get("name") or "")
        payload = await fetch(source, kind, namespace, name)
        if payload is None:
            if target.get("optional"):
                continue
            raise config_error(not_found(kind, name))
        prefix = str(ref.get("prefix") or "")
        for key, data in payload.items():
            if _ENV_NAME.match(prefix + key):
                env[prefix + key] = data.decode(errors="replace")
    for var in container.get("env") or []:
        name = var.get("name")
        if not name:
            continue
        value_from = var.get("valueFrom")
        if value_from is None:
            env[name] = expand(str(var.get("value") or ""), env)
            continue
        resolved = await _value_from(pod, container, value_from, namespace=namespace, source=source, runtime=runtime)
        if resolved is not None:
            env[name] = resolved
    return env


async def _value_from(pod: Mapping[str, Any], container: Mapping[str, Any], value_from: Mapping[str, Any], *,
                      namespace: str, source: ObjectSource | None, runtime: PodRuntimeFields) -> str | None:
    for kind in ("configMap", "secret"):
        ref = value_from.get(f"{kind}KeyRef")
        if ref is None:
            continue
        name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
        payload = await fetch(source, kind, namespace, name)
        if payload is None:
            if ref.get("optional"):
                return None
            raise config_error(not_found(kind, name))
        if key not in payload:
            if ref.get("optional"):
                return None
            raise config_error(missing_key(kind, key, namespace, name))
        return payload[key].decode(errors="replace")
    try:
        if value_from.get("fieldRef") is not None:
            return field_value(pod, str(value_from["fieldRef"].get("fieldPath") or ""), runtime)
        if value_from.get("resourceFieldRef") is not None:
            ref = value_from["resourceFieldRef"]
            target = container
            if ref.get("containerName") and ref["containerName"] != container.get("name"):
                spec = pod.get("spec") or {}
                target = next((c for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
                               if c.get("name") == ref["containerName"]), container)
            return resource_value(target, str(ref.get("resource") or ""), ref.get("divisor"), runtime)
    except DownwardError as err:
        raise config_error(str(err)) from None
    return None
