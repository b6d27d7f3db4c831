"""ConfigMaps and Secrets: key and size rules, Secret types, ``stringData``, ``immutable``.

What differs from the generic steps:

- keys of ``data`` / ``binaryData`` are config keys (``[-._a-zA-Z0-9]+``, at most 253
  characters, not ``.``, ``..`` or starting with ``..``) and a key may not be in both maps;
- values that are bytes on the wire (``binaryData``, a Secret's ``data``) are base64, stored in
  the canonical padded form; all values together are at most 1 MiB;
- a Secret's ``stringData`` is merged into ``data`` (base64-encoded, overwriting) when written
  and never stored, as the v1 → internal conversion does upstream; ``type`` defaults to
  ``Opaque``, may not change, and some types require keys (``kubernetes.io/tls``: ``tls.crt``
  and ``tls.key``; ``kubernetes.io/dockerconfigjson``: ``.dockerconfigjson`` holding JSON; …);
- ``immutable: true`` freezes ``data`` and ``binaryData`` (and ``immutable`` itself); metadata
  can still change and the object can be deleted.

Kubernetes equivalent: pkg/registry/core/configmap/strategy.go, pkg/registry/core/secret/strategy.go,
pkg/apis/core/validation/validation.go (ValidateConfigMap, ValidateSecret, ValidateSecretUpdate),
pkg/apis/core/v1/conversion.go (stringData)
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.api import printing as tables
from orchestrator.api.errors import Cause
from orchestrator.api.printing import _AGE, _NAME, _column, _since
from orchestrator.api.resources import by_group_resource
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import FieldErrors

MAX_SIZE = 1024 * 1024  # core.MaxSecretSize: the limit of a ConfigMap's and of a Secret's values
MAX_KEY_LENGTH = 253
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
IMMUTABLE = "field is immutable when `immutable` is set"

SECRET_TYPE_OPAQUE = "Opaque"
SECRET_TYPE_SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
SECRET_TYPE_DOCKERCFG = "kubernetes.io/dockercfg"
SECRET_TYPE_DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
SECRET_TYPE_BASIC_AUTH = "kubernetes.io/basic-auth"
SECRET_TYPE_SSH_AUTH = "kubernetes.io/ssh-auth"
SECRET_TYPE_TLS = "kubernetes.io/tls"
SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name"


def config_key_errors(key: str) -> list[str]:
    """IsConfigMapKey: why ``key`` cannot name a ConfigMap or Secret entry ([] if it can)."""
    errors: list[str] = []
    if len(key) > MAX_KEY_LENGTH:
        errors.append(f"must be no more than {MAX_KEY_LENGTH} characters")
    if not _CONFIG_KEY.match(key):
        errors.append("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                      "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                      "'[-._a-zA-Z0-9]+')")
    if key == ".":
        errors.append("must not be '.'")
    elif key == "..":
        errors.append("must not be '..'")
    elif key.startswith(".."):
        errors.append("must not start with '..'")
    return errors


def _b64decode(value: str) -> bytes:
    """Go's base64.StdEncoding as encoding/json uses it for []byte: padded; CR/LF ignored."""
    return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)


def _b64_error(value: str) -> str:
    """Go's message for a bad value, e.g. "illegal base64 data at input byte 4"."""
    cleaned = value.replace("\r", "").replace("\n", "")
    for i, ch in enumerate(cleaned):
        if not (ch.isascii() and (ch.isalnum() or ch in "+/=")):
            return f"illegal base64 data at input byte {i}"
    return f"illegal base64 data at input byte {len(cleaned) - (len(cleaned) % 4 or 4)}"


def canonicalize_base64(values: Any) -> None:
    """Rewrite valid base64 values in the one padded spelling they are stored in (upstream
    stores the decoded bytes, so what it returns is always this spelling). Bad ones are left
    for validation to report."""
    if not isinstance(values, dict):
        return
    for key, value in values.items():
        if isinstance(value, str):
            try:
                values[key] = base64.b64encode(_b64decode(value)).decode()
            except (binascii.Error, ValueError):
                pass


def _check_keys(errs: FieldErrors, values: Mapping[str, Any], path: str) -> None:
    for key in values:
        for msg in config_key_errors(key):
            errs.invalid(f"{path}[{key}]", key, msg)


def _decoded_sizes(errs: FieldErrors, values: Mapping[str, Any], path: str) -> dict[str, bytes]:
    decoded: dict[str, bytes] = {}
    for key, value in values.items():
        try:
            decoded[key] = _b64decode(value)
        except (binascii.Error, ValueError):
            errs.invalid(f"{path}[{key}]", "<value omitted>", _b64_error(value) + " (values must be base64)",
                         bare=True)
    return decoded


# --- ConfigMap ------------------------------------------------------------------------------------


def validate_config_map(obj: Mapping[str, Any]) -> list[Cause]:
    """ValidateConfigMap without the metadata part (the base strategy checks metadata)."""
    errs = FieldErrors()
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    _check_keys(errs, data, "data")
    _check_keys(errs, binary, "binaryData")
    for key in binary:
        if key in data:
            errs.invalid(f"binaryData[{key}]", key, "duplicate of key present in data")
    total = sum(len(v.encode()) for v in data.values()) + sum(len(v) for v in _decoded_sizes(errs, binary, "binaryData").values())
    if total > MAX_SIZE:
        errs.too_long("data", f"may not be more than {MAX_SIZE} bytes (data and binaryData together: {total})")
    return errs.causes


def validate_immutable_update(new: Mapping[str, Any], old: Mapping[str, Any], fields: tuple[str, ...]) -> list[Cause]:
    """Once ``immutable`` is true it stays true and ``fields`` keep their values."""
    errs = FieldErrors()
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.forbidden("immutable", IMMUTABLE)
        for name in fields:
            if (new.get(name) or {}) != (old.get(name) or {}):
                errs.forbidden(name, IMMUTABLE)
    return errs.causes


def config_map_columns() -> list[dict[str, Any]]:
    return [_NAME, _column("Data", "Data contains the configuration data.", type_="integer"), _AGE]


def config_map_row(obj: Mapping[str, Any], now: datetime) -> tuple[list[Any], None]:
    meta = obj.get("metadata") or {}
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [meta.get("name", ""), count, _since(meta.get("creationTimestamp"), now)], None


# --- Secret ---------------------------------------------------------------------------------------


def merge_string_data(obj: dict[str, Any]) -> None:
    """``stringData`` → ``data`` (base64, overwriting), then dropped: it is write-only."""
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            if isinstance(value, str):
                data[key] = base64.b64encode(value.encode()).decode()


def prepare_secret(obj: dict[str, Any]) -> None:
    """What create and update do to a Secret before validation: the stringData merge, the
    default type, base64 in its canonical form."""
    merge_string_data(obj)
    if not obj.get("type"):
        obj["type"] = SECRET_TYPE_OPAQUE
    canonicalize_base64(obj.get("data"))


def validate_secret(obj: Mapping[str, Any]) -> list[Cause]:
    """ValidateSecret without the metadata part: keys, base64, size and the type's rules."""
    errs = FieldErrors()
    data = obj.get("data") or {}
    _check_keys(errs, data, "data")
    decoded = _decoded_sizes(errs, data, "data")
    total = sum(len(v) for v in decoded.values())
    if total > MAX_SIZE:
        errs.too_long("data", f"may not be more than {MAX_SIZE} bytes")
    type_ = obj.get("type") or SECRET_TYPE_OPAQUE
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if type_ == SECRET_TYPE_SERVICE_ACCOUNT_TOKEN:
        if not annotations.get(SERVICE_ACCOUNT_NAME_ANNOTATION):
            errs.required(f"metadata.annotations[{SERVICE_ACCOUNT_NAME_ANNOTATION}]")
    elif type_ == SECRET_TYPE_DOCKERCFG:
        _require_json(errs, data, decoded, ".dockercfg")
    elif type_ == SECRET_TYPE_DOCKER_CONFIG_JSON:
        _require_json(errs, data, decoded, ".dockerconfigjson")
    elif type_ == SECRET_TYPE_BASIC_AUTH:
        if "username" not in data and "password" not in data:
            errs.required("data[username]")
            errs.required("data[password]")
    elif type_ == SECRET_TYPE_SSH_AUTH:
        if "ssh-privatekey" not in data:
            errs.required("data[ssh-privatekey]")
    elif type_ == SECRET_TYPE_TLS:
        for key in ("tls.key", "tls.crt"):
            if key not in data:
                errs.required(f"data[{key}]")
    return errs.causes


def _require_json(errs: FieldErrors, data: Mapping[str, Any], decoded: Mapping[str, bytes], key: str) -> None:
    if key not in data:
        errs.required(f"data[{key}]")
        return
    if key not in decoded:
        return  # not base64: already reported
    try:
        json.loads(decoded[key])
    except (ValueError, UnicodeDecodeError) as exc:
        errs.invalid(f"data[{key}]", "<secret contents redacted>", str(exc).split(":")[0], bare=True)


def validate_secret_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    """ValidateSecretUpdate: ``type`` never changes; ``immutable`` freezes ``data``."""
    errs = FieldErrors()
    old_type = old.get("type") or SECRET_TYPE_OPAQUE
    new_type = new.get("type") or SECRET_TYPE_OPAQUE
    if new_type != old_type:
        errs.invalid("type", new_type, "field is immutable")
    errs.extend(validate_immutable_update(new, old, ("data",)))
    return errs.causes


def secret_columns() -> list[dict[str, Any]]:
    return [_NAME, _column("Type", "Used to facilitate programmatic handling of secret data."),
            _column("Data", "Data contains the secret data.", type_="integer"), _AGE]


def secret_row(obj: Mapping[str, Any], now: datetime) -> tuple[list[Any], None]:
    meta = obj.get("metadata") or {}
    return [meta.get("name", ""), obj.get("type") or SECRET_TYPE_OPAQUE, len(obj.get("data") or {}),
            _since(meta.get("creationTimestamp"), now)], None


# --- the strategies -------------------------------------------------------------------------------

CONFIG_MAP_PRINTER = tables.TablePrinter(config_map_columns(), config_map_row)
SECRET_PRINTER = tables.TablePrinter(secret_columns(), secret_row)


class ConfigMapStrategy(BaseStrategy):
    printer = CONFIG_MAP_PRINTER

    def canonicalize(self, obj: Obj) -> None:
        canonicalize_base64(obj.get("binaryData"))

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        errs.extend(validate_config_map(obj))

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        return validate_immutable_update(new, old, ("data", "binaryData"))


class SecretStrategy(BaseStrategy):
    printer = SECRET_PRINTER

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        prepare_secret(obj)

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        prepare_secret(new)
        super().prepare_for_update(new, old, now=now)

    def canonicalize(self, obj: Obj) -> None:
        canonicalize_base64(obj.get("data"))

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        errs.extend(validate_secret(obj))

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        return validate_secret_update(new, old)


STRATEGIES = (ConfigMapStrategy(by_group_resource("configmaps")), SecretStrategy(by_group_resource("secrets")))
