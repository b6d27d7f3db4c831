"""Encryption at rest: the configuration file, the providers, the stored envelope."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from orchestrator.api.errors import InternalError
from orchestrator.apiserver.encryption import (
    ENVELOPE_FIELD,
    EncryptionConfigError,
    load_config,
    new_key_secret,
    parse_config,
    render_config,
)


def secret(name: str = "db", **extra: object) -> dict:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                         "labels": {"app": "db"},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":...}"}},
            "type": "Opaque", "data": {"password": base64.b64encode(b"hunter2").decode()}, **extra}


def config(*keys: tuple[str, str], provider: str = "aesgcm") -> dict:
    import yaml
    return yaml.safe_load(render_config(list(keys), provider=provider))


def test_a_secret_is_stored_as_readable_metadata_beside_one_ciphertext_with_the_key_named() -> None:
    t = parse_config(config(("key1", new_key_secret())))
    stored = t.to_storage("secrets", "default", "db", secret())
    assert stored[ENVELOPE_FIELD].startswith("k8s:enc:aesgcm:v1:key1:")
    assert set(stored) == {"apiVersion", "kind", "metadata", ENVELOPE_FIELD}
    assert stored["metadata"]["labels"] == {"app": "db"}
    text = json.dumps(stored)
    assert "hunter2" not in text and base64.b64encode(b"hunter2").decode() not in text
    assert "annotations" not in stored["metadata"]  # last-applied would show the data in clear


def test_reading_decrypts_the_whole_object_and_takes_the_current_resource_version() -> None:
    t = parse_config(config(("key1", new_key_secret())))
    stored = t.to_storage("secrets", "default", "db", secret())
    stored["metadata"]["resourceVersion"] = "42"  # what PostgreSQL stamps into the row
    back = t.from_storage("secrets", "default", "db", stored)
    assert back == {**secret(), "metadata": {**secret()["metadata"], "resourceVersion": "42"}}


@pytest.mark.parametrize("provider", ["aesgcm", "aescbc"])
def test_both_aes_providers_round_trip(provider: str) -> None:
    t = parse_config(config(("k", new_key_secret()), provider=provider))
    stored = t.to_storage("secrets", "ns", "n", secret("n"))
    assert stored[ENVELOPE_FIELD].startswith(f"k8s:enc:{provider}:v1:k:")
    assert t.from_storage("secrets", "ns", "n", stored)["data"] == secret()["data"]


def test_aesgcm_ciphertext_moved_to_another_secret_does_not_decrypt() -> None:
    t = parse_config(config(("key1", new_key_secret())))
    stored = t.to_storage("secrets", "default", "db", secret())
    with pytest.raises(InternalError, match="does not decrypt"):
        t.from_storage("secrets", "default", "other", stored)


def test_identity_first_stores_plaintext_and_other_resources_pass_through() -> None:
    t = parse_config(config(provider="identity"))
    assert t.to_storage("secrets", "default", "db", secret()) == secret()
    t2 = parse_config(config(("key1", new_key_secret())))
    cm = {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}
    assert t2.to_storage("configmaps", "default", "x", cm) is cm


def test_rotation_reads_with_the_old_key_writes_with_the_new_and_marks_old_rows_stale() -> None:
    old, new = ("key1", new_key_secret()), ("key2", new_key_secret())
    before = parse_config(config(old))
    stored = before.to_storage("secrets", "default", "db", secret())
    after = parse_config(config(new, old))
    assert after.stale("secrets", stored)
    plain = after.from_storage("secrets", "default", "db", stored)
    rewritten = after.to_storage("secrets", "default", "db", plain)
    assert rewritten[ENVELOPE_FIELD].startswith("k8s:enc:aesgcm:v1:key2:")
    assert not after.stale("secrets", rewritten)


def test_a_removed_key_and_a_wrong_secret_are_errors_that_name_the_key() -> None:
    stored = parse_config(config(("key1", new_key_secret()))).to_storage("secrets", "default", "db", secret())
    with pytest.raises(InternalError, match='aesgcm key "key1", which the encryption configuration'):
        parse_config(config(("key2", new_key_secret()))).from_storage("secrets", "default", "db", stored)
    with pytest.raises(InternalError, match="not the one it was written with"):
        parse_config(config(("key1", new_key_secret()))).from_storage("secrets", "default", "db", stored)


def test_plaintext_rows_need_the_identity_provider_listed() -> None:
    strict = parse_config({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                           "resources": [{"resources": ["secrets"],
                                          "providers": [{"aesgcm": {"keys": [{"name": "k", "secret": new_key_secret()}]}}]}]})
    with pytest.raises(InternalError, match="identity"):
        strict.from_storage("secrets", "default", "db", secret())
    lenient = parse_config(config(("k", new_key_secret())))
    assert lenient.from_storage("secrets", "default", "db", secret()) == secret()


@pytest.mark.parametrize(("doc", "message"), [
    ({"kind": "EncryptionConfiguration"}, "apiVersion/kind must be"),
    ({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration", "resources": []},
     "at least one entry"),
    ({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
      "resources": [{"resources": ["secrets"], "providers": [{"kms": {}}]}]}, "provider 'kms' is not supported"),
    ({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
      "resources": [{"resources": ["secrets"], "providers": [{"aesgcm": {"keys": [{"name": "k", "secret": "c2hvcnQ="}]}}]}]},
     r"providers\[0\].aesgcm.keys\[0\].secret: aesgcm needs a key of 16 or 24 or 32 bytes, got 5"),
    ({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
      "resources": [{"resources": ["secrets"], "providers": [{"aescbc": {"keys": [{"name": "a:b", "secret": "x"}]}}]}]},
     "without ':'"),
])
def test_a_bad_configuration_is_refused_naming_the_field(doc: dict, message: str) -> None:
    with pytest.raises(EncryptionConfigError, match=message):
        parse_config(doc)


def test_load_config_reads_the_file_render_config_writes(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(render_config([("key1", new_key_secret())]))
    assert load_config(path).resources == ("secrets",)
    with pytest.raises(EncryptionConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
