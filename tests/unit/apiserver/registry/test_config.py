"""ConfigMap and Secret rules: keys, base64, size, types, stringData, immutable, Table rows."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from orchestrator.apiserver.registry.config import (
    config_map_row,
    prepare_secret,
    secret_row,
    validate_config_map,
    validate_immutable_update,
    validate_secret,
    validate_secret_update,
)


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def fields(causes: list) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in causes]


def test_config_keys_follow_kubernetes_rules() -> None:
    causes = validate_config_map({"data": {"ok.key-1_A": "v", "a b": "v", "..x": "v", ".": "v"}})
    got = fields(causes)
    assert got[0][0] == "data[a b]" and "regex used for validation is '[-._a-zA-Z0-9]+'" in got[0][1]
    assert ("data[..x]", 'Invalid value: "..x": must not start with \'..\'') in got
    assert ("data[.]", 'Invalid value: ".": must not be \'.\'') in got
    assert len(got) == 3


def test_data_and_binary_data_may_not_share_a_key_and_binary_data_is_base64() -> None:
    got = fields(validate_config_map({"data": {"k": "v"}, "binaryData": {"k": b64("x"), "bad": "!!"}}))
    assert ("binaryData[k]", 'Invalid value: "k": duplicate of key present in data') in got
    assert any(f == "binaryData[bad]" and "illegal base64 data at input byte 0" in m for f, m in got)


def test_values_over_one_mebibyte_are_too_long() -> None:
    assert fields(validate_config_map({"data": {"a": "x" * (1024 * 1024)}})) == []
    got = fields(validate_config_map({"data": {"a": "x" * (1024 * 1024), "b": "y"}}))
    assert got[0][0] == "data" and got[0][1].startswith("Too long: may not be more than 1048576 bytes")
    big = base64.b64encode(b"\0" * (1024 * 1024 + 1)).decode()
    assert fields(validate_secret({"data": {"a": big}}))[0] == ("data", "Too long: may not be more than 1048576 bytes")


def test_string_data_is_merged_into_data_base64_and_never_kept() -> None:
    obj = {"data": {"a": b64("old"), "keep": "aGk=\n"}, "stringData": {"a": "new", "b": "plain"}}
    prepare_secret(obj)
    assert obj == {"data": {"a": b64("new"), "keep": "aGk=", "b": b64("plain")}, "type": "Opaque"}


def test_secret_types_require_their_keys() -> None:
    assert fields(validate_secret({"type": "kubernetes.io/tls", "data": {"tls.crt": b64("c")}})) == [
        ("data[tls.key]", "Required value")]
    assert fields(validate_secret({"type": "kubernetes.io/dockerconfigjson", "data": {}})) == [
        ("data[.dockerconfigjson]", "Required value")]
    bad_json = fields(validate_secret({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("{")}}))
    assert bad_json[0][0] == "data[.dockerconfigjson]"
    assert fields(validate_secret({"type": "kubernetes.io/basic-auth", "data": {}})) == [
        ("data[username]", "Required value"), ("data[password]", "Required value")]
    assert fields(validate_secret({"type": "kubernetes.io/basic-auth", "data": {"password": b64("p")}})) == []
    assert fields(validate_secret({"type": "kubernetes.io/ssh-auth", "data": {}})) == [
        ("data[ssh-privatekey]", "Required value")]
    assert fields(validate_secret({"type": "kubernetes.io/service-account-token", "metadata": {}})) == [
        ("metadata.annotations[kubernetes.io/service-account.name]", "Required value")]
    assert fields(validate_secret({"type": "example.com/custom", "data": {"x": b64("y")}})) == []


def test_a_secret_value_that_is_not_base64_names_the_key() -> None:
    got = fields(validate_secret({"data": {"pw": "not base64!"}}))
    assert got[0][0] == "data[pw]" and "illegal base64 data at input byte 3" in got[0][1]


def test_immutable_freezes_data_and_itself_but_not_metadata() -> None:
    old = {"metadata": {"labels": {}}, "immutable": True, "data": {"a": "1"}, "binaryData": {}}
    assert validate_immutable_update({**old, "metadata": {"labels": {"x": "y"}}}, old, ("data", "binaryData")) == []
    got = fields(validate_immutable_update({**old, "data": {"a": "2"}, "immutable": False}, old, ("data", "binaryData")))
    assert ("immutable", "Forbidden: field is immutable when `immutable` is set") in got
    assert ("data", "Forbidden: field is immutable when `immutable` is set") in got


def test_a_secret_type_never_changes() -> None:
    got = fields(validate_secret_update({"type": "kubernetes.io/tls"}, {"type": "Opaque"}))
    assert got == [("type", 'Invalid value: "kubernetes.io/tls": field is immutable')]


def test_table_rows_count_entries_as_kubectl_prints_them() -> None:
    now = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
    meta = {"name": "x", "creationTimestamp": "2026-01-01T00:00:00Z"}
    assert config_map_row({"metadata": meta, "data": {"a": "1"}, "binaryData": {"b": "AA=="}}, now) == (["x", 2, "10m"], None)
    assert secret_row({"metadata": meta, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}, now) == (
        ["x", "kubernetes.io/tls", 2, "10m"], None)
