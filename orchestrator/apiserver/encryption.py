"""Encryption at rest: kube-apiserver's EncryptionConfiguration, its providers, and the stored form.

The configuration file is kube-apiserver's (``--encryption-provider-config``)::

    apiVersion: apiserver.config.k8s.io/v1
    kind: EncryptionConfiguration
    resources:
    - resources: [secrets]
      providers:
      - aesgcm:
          keys:
          - {name: key2, secret: <base64 of 16, 24 or 32 random bytes>}
          - {name: key1, secret: <...>}
      - identity: {}

The first provider (and its first key) encrypts every write; every listed provider and key is
tried on reads, chosen by the prefix of the stored value — that is what makes a key rotation
work: put the new key first, restart, rewrite every object (docs/storage.md, "Secrets at rest").

The stored document. The ``objects`` table holds jsonb, and the same document travels through
the outbox and the Redis stream, so the ciphertext must be a JSON value and the whole path must
carry it. A Secret is stored as::

    {"apiVersion": "v1", "kind": "Secret",
     "metadata": {"name": ..., "namespace": ..., "uid": ..., "resourceVersion": ..., "labels": ...},
     "k8s:enc": "k8s:enc:aesgcm:v1:key2:<base64 of nonce + ciphertext + tag>"}

The ciphertext holds the *whole* object; the readable metadata beside it is a copy for the
store's SQL (``resourceVersion`` is stamped by PostgreSQL into the stored document) and for a
person reading the row, and leaves out ``annotations`` and ``managedFields`` — kubectl's
``last-applied-configuration`` annotation would otherwise show the Secret's data in clear. On a
read the object is decrypted and only ``resourceVersion`` is taken from the readable copy.

aesgcm authenticates the object's key (``/secrets/<namespace>/<name>``) as additional data, as
kube-apiserver authenticates the etcd key: a ciphertext copied onto another Secret's row does not
decrypt. aescbc (kept for compatibility, as upstream does) authenticates nothing.

Kubernetes equivalent: k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go,
k8s.io/apiserver/pkg/storage/value/encrypt/aes/aes.go, k8s.io/apiserver/pkg/storage/value/transformer.go
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets as _secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text

from orchestrator.api.errors import InternalError, NotFound
from orchestrator.storage.store import Store

ENVELOPE_FIELD = "k8s:enc"
PREFIX = "k8s:enc:"
CONFIG_API_VERSION = "apiserver.config.k8s.io/v1"
CONFIG_KIND = "EncryptionConfiguration"
SUPPORTED_PROVIDERS = ("aesgcm", "aescbc", "identity")
# The metadata fields that stay readable beside the ciphertext (everything else is inside it).
READABLE_METADATA = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                     "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "finalizers", "ownerReferences")


class EncryptionConfigError(ValueError):
    """The configuration file cannot be used; the message says what to fix."""


class DecryptionError(InternalError):
    """A stored value cannot be decrypted with the configured keys (500: the server's setup is wrong)."""


class Provider(Protocol):
    """One key of one provider: the prefix it writes and how it turns bytes into bytes."""

    prefix: str  # "k8s:enc:aesgcm:v1:key1:"; "" for identity

    def encrypt(self, plaintext: bytes, authenticated_data: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes, authenticated_data: bytes) -> bytes: ...


@dataclass(frozen=True)
class AESGCMKey:
    """AES-GCM with a random 96-bit nonce per write; stores nonce || ciphertext || tag.

    A random nonce is safe for about 2^32 writes per key; rotate long before (upstream warns
    the same)."""

    name: str
    key: bytes

    @property
    def prefix(self) -> str:
        return f"{PREFIX}aesgcm:v1:{self.name}:"

    def encrypt(self, plaintext: bytes, authenticated_data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, authenticated_data)

    def decrypt(self, ciphertext: bytes, authenticated_data: bytes) -> bytes:
        if len(ciphertext) < 12 + 16:
            raise ValueError("the stored value is too short for AES-GCM")
        return AESGCM(self.key).decrypt(ciphertext[:12], ciphertext[12:], authenticated_data)


@dataclass(frozen=True)
class AESCBCKey:
    """AES-CBC with PKCS#7 padding and a random IV; stores iv || ciphertext. Unauthenticated."""

    name: str
    key: bytes

    @property
    def prefix(self) -> str:
        return f"{PREFIX}aescbc:v1:{self.name}:"

    def encrypt(self, plaintext: bytes, authenticated_data: bytes) -> bytes:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        return iv + enc.update(padded) + enc.finalize()

    def decrypt(self, ciphertext: bytes, authenticated_data: bytes) -> bytes:
        if len(ciphertext) < 32 or len(ciphertext) % 16:
            raise ValueError("the stored value is not a whole number of AES blocks")
        dec = Cipher(algorithms.AES(self.key), modes.CBC(ciphertext[:16])).decryptor()
        padded = dec.update(ciphertext[16:]) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()


@dataclass(frozen=True)
class Identity:
    """No encryption: the object is stored as JSON, as without any configuration."""

    prefix: str = ""
    name: str = "identity"

    def encrypt(self, plaintext: bytes, authenticated_data: bytes) -> bytes:
        raise AssertionError("identity stores objects as they are; nothing to encrypt")

    def decrypt(self, ciphertext: bytes, authenticated_data: bytes) -> bytes:
        raise AssertionError("identity stores objects as they are; nothing to decrypt")


@dataclass(frozen=True)
class ResourceEncryption:
    """The providers of one resource, in the configured order (the first one writes)."""

    resource: str
    providers: tuple[Provider, ...]

    @property
    def writer(self) -> Provider:
        return self.providers[0]

    def by_prefix(self, value: str) -> Provider | None:
        for p in self.providers:
            if p.prefix and value.startswith(p.prefix):
                return p
        return None

    @property
    def reads_plaintext(self) -> bool:
        return any(isinstance(p, Identity) for p in self.providers)


class Transformer:
    """What the store calls on every write and read of an object (``ValueTransformer`` in
    orchestrator/storage/store.py). Resources without a configuration pass through untouched."""

    def __init__(self, resources: Iterable[ResourceEncryption] = (), *, source: str = "") -> None:
        self._by_resource = {r.resource: r for r in resources}
        self.source = source

    @property
    def resources(self) -> tuple[str, ...]:
        return tuple(self._by_resource)

    def config_for(self, resource: str) -> ResourceEncryption | None:
        return self._by_resource.get(resource)

    def to_storage(self, resource: str, namespace: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        cfg = self._by_resource.get(resource)
        if cfg is None or isinstance(cfg.writer, Identity):
            return obj
        plaintext = json.dumps(obj, separators=(",", ":")).encode()
        sealed = cfg.writer.encrypt(plaintext, _authenticated_data(resource, namespace, name))
        meta = obj.get("metadata") or {}
        readable = {k: meta[k] for k in READABLE_METADATA if k in meta}
        out: dict[str, Any] = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": readable}
        out[ENVELOPE_FIELD] = cfg.writer.prefix + base64.b64encode(sealed).decode()
        return out

    def from_storage(self, resource: str, namespace: str, name: str, stored: dict[str, Any]) -> dict[str, Any]:
        value = stored.get(ENVELOPE_FIELD)
        cfg = self._by_resource.get(resource)
        if value is None:
            if cfg is not None and not cfg.reads_plaintext:
                raise DecryptionError(
                    f'{resource} "{namespace}/{name}" is stored unencrypted and the encryption configuration '
                    f"{self.source} lists no identity provider for {resource}: add `- identity: {{}}` last")
            return stored
        if not isinstance(value, str) or not value.startswith(PREFIX):
            raise DecryptionError(f'{resource} "{namespace}/{name}": the stored {ENVELOPE_FIELD} value is not '
                                  f"a {PREFIX}<provider>:v1:<key>: value")
        provider = cfg.by_prefix(value) if cfg is not None else None
        if provider is None:
            raise DecryptionError(
                f'{resource} "{namespace}/{name}" was encrypted with {key_label(value)}, which the encryption '
                f"configuration {self.source} does not list (keep old keys until every object was rewritten)")
        try:
            sealed = base64.b64decode(value[len(provider.prefix):], validate=True)
            obj = json.loads(provider.decrypt(sealed, _authenticated_data(resource, namespace, name)))
        except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise DecryptionError(
                f'{resource} "{namespace}/{name}" does not decrypt with {key_label(value)} of the encryption '
                f"configuration {self.source}: the key's secret is not the one it was written with "
                f"({type(exc).__name__})") from exc
        rv = (stored.get("metadata") or {}).get("resourceVersion")
        if rv is not None:
            obj.setdefault("metadata", {})["resourceVersion"] = rv
        return obj

    def stale(self, resource: str, stored: Mapping[str, Any]) -> bool:
        """Whether a stored document is not in the form a write would give it now (another
        key or provider first): what a rewrite after a rotation must touch."""
        cfg = self._by_resource.get(resource)
        value = stored.get(ENVELOPE_FIELD)
        if cfg is None or isinstance(cfg.writer, Identity):
            return value is not None
        return not (isinstance(value, str) and value.startswith(cfg.writer.prefix))


def key_label(value: str) -> str:
    """``k8s:enc:aesgcm:v1:key1:…`` → ``aesgcm key "key1"`` (for messages; never the secret)."""
    parts = value.split(":", 5)
    if len(parts) >= 5:
        return f'{parts[2]} key "{parts[4]}"'
    return "an unknown provider"


def _authenticated_data(resource: str, namespace: str, name: str) -> bytes:
    return f"/{resource}/{namespace}/{name}".encode()


# --- the configuration file --------------------------------------------------------------------


def load_config(path: Path) -> Transformer:
    """Read an EncryptionConfiguration; EncryptionConfigError names the field that is wrong."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise EncryptionConfigError(f"--encryption-provider-config: cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise EncryptionConfigError(f"--encryption-provider-config: {path} is not YAML: {exc}") from exc
    return parse_config(doc, source=str(path))


def parse_config(doc: Any, *, source: str = "") -> Transformer:
    where = f"{source}: " if source else ""
    if not isinstance(doc, dict):
        raise EncryptionConfigError(f"{where}expected an EncryptionConfiguration document")
    if doc.get("kind") != CONFIG_KIND or doc.get("apiVersion") != CONFIG_API_VERSION:
        raise EncryptionConfigError(
            f"{where}apiVersion/kind must be {CONFIG_API_VERSION}/{CONFIG_KIND}, "
            f"got {doc.get('apiVersion')}/{doc.get('kind')}")
    entries = doc.get("resources")
    if not isinstance(entries, list) or not entries:
        raise EncryptionConfigError(f"{where}resources: at least one entry is required")
    out: list[ResourceEncryption] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        path = f"resources[{i}]"
        if not isinstance(entry, dict):
            raise EncryptionConfigError(f"{where}{path}: expected a mapping with resources and providers")
        names = entry.get("resources")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise EncryptionConfigError(f"{where}{path}.resources: a list of resource names is required")
        providers = _providers(entry.get("providers"), f"{where}{path}.providers")
        for n in names:
            # "secrets" names the core group; "widgets.example.com" a group resource, as upstream.
            if n in seen:
                raise EncryptionConfigError(f"{where}{path}.resources: {n} is listed twice")
            seen.add(n)
            out.append(ResourceEncryption(n, providers))
    return Transformer(out, source=source)


def _providers(raw: Any, path: str) -> tuple[Provider, ...]:
    if not isinstance(raw, list) or not raw:
        raise EncryptionConfigError(f"{path}: at least one provider is required")
    providers: list[Provider] = []
    key_names: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or len(item) != 1:
            raise EncryptionConfigError(f"{path}[{i}]: exactly one of {', '.join(SUPPORTED_PROVIDERS)} per entry")
        (kind, body), = item.items()
        if kind not in SUPPORTED_PROVIDERS:
            raise EncryptionConfigError(
                f"{path}[{i}]: provider {kind!r} is not supported here; use one of {', '.join(SUPPORTED_PROVIDERS)}")
        if kind == "identity":
            providers.append(Identity())
            continue
        keys = (body or {}).get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not keys:
            raise EncryptionConfigError(f"{path}[{i}].{kind}.keys: at least one key is required")
        for j, key in enumerate(keys):
            kpath = f"{path}[{i}].{kind}.keys[{j}]"
            name = key.get("name") if isinstance(key, dict) else None
            if not isinstance(name, str) or not name or ":" in name:
                raise EncryptionConfigError(f"{kpath}.name: a non-empty name without ':' is required")
            if (kind, name) in key_names:
                raise EncryptionConfigError(f"{kpath}.name: {name!r} is used twice in {kind}")
            key_names.add((kind, name))  # type: ignore[arg-type]
            try:
                secret = base64.b64decode(str(key.get("secret") or ""), validate=True)
            except binascii.Error as exc:
                raise EncryptionConfigError(f"{kpath}.secret: not valid base64") from exc
            sizes = (16, 24, 32) if kind == "aesgcm" else (32,)
            if len(secret) not in sizes:
                raise EncryptionConfigError(
                    f"{kpath}.secret: {kind} needs a key of {' or '.join(map(str, sizes))} bytes, "
                    f"got {len(secret)}")
            providers.append(AESGCMKey(name, secret) if kind == "aesgcm" else AESCBCKey(name, secret))
    return tuple(providers)


def new_key_secret(size: int = 32) -> str:
    """A fresh key for the configuration file (``head -c 32 /dev/urandom | base64``)."""
    return base64.b64encode(_secrets.token_bytes(size)).decode()


def render_config(keys: Sequence[tuple[str, str]], *, provider: str = "aesgcm",
                  resources: Sequence[str] = ("secrets",)) -> str:
    """An EncryptionConfiguration with ``keys`` (name, base64 secret) for ``provider`` first and
    identity last (so objects written before encryption was turned on stay readable)."""
    first: dict[str, Any] = ({"identity": {}} if provider == "identity" else
                             {provider: {"keys": [{"name": n, "secret": s} for n, s in keys]}})
    providers = [first] if provider == "identity" else [first, {"identity": {}}]
    doc = {"apiVersion": CONFIG_API_VERSION, "kind": CONFIG_KIND,
           "resources": [{"resources": list(resources), "providers": providers}]}
    return yaml.safe_dump(doc, sort_keys=False)


# --- checks and the rewrite, on the store ------------------------------------------------------


async def check_readable(store: Store) -> None:
    """Decrypt one stored object per key in use: a key the configuration lost, or one whose
    secret changed, fails the API server's start with a message naming it (rather than a 500
    on the first read of each Secret)."""
    transformer = store.transformer
    if not isinstance(transformer, Transformer):
        return
    for resource in transformer.resources:
        sql = text(
            "SELECT DISTINCT ON (prefix) namespace, name, data::text FROM ("
            "  SELECT namespace, name, data,"
            "         coalesce(substring(data->>:field from '^k8s:enc:[^:]+:v1:[^:]+:'), '') AS prefix"
            "  FROM objects WHERE resource = :r) keyed ORDER BY prefix, namespace, name")
        async with store.engine.connect() as conn:
            samples = (await conn.execute(sql, {"r": resource, "field": ENVELOPE_FIELD})).all()
        for namespace, name, data in samples:
            try:
                transformer.from_storage(resource, namespace, name, json.loads(data))
            except DecryptionError as exc:
                raise EncryptionConfigError(f"--encryption-provider-config: {exc.message}") from exc


async def rewrite(store: Store, resource: str) -> int:
    """Write again every object of ``resource`` that is not stored the way a write would store
    it now (after a rotation: encrypted with an older key; after switching providers: the old
    provider's form). Each rewrite is an ordinary update, so watchers see MODIFIED. Returns how
    many objects were rewritten."""
    transformer = store.transformer
    if not isinstance(transformer, Transformer):
        return 0
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT namespace, name, data::text FROM objects WHERE resource = :r "
                                        "ORDER BY namespace, name"), {"r": resource})).all()
    count = 0
    for namespace, name, data in rows:
        if not transformer.stale(resource, json.loads(data)):
            continue
        try:
            await store.guaranteed_update(resource, namespace or None, name, lambda obj: obj)
        except NotFound:
            continue  # deleted meanwhile: nothing left to rewrite
        count += 1
    return count
