"""ServiceAccount tokens: JWTs the API server signs for TokenRequest and accepts as bearer tokens.

A token is an RS256 JWT signed with the lab's service-account key (``labctl up`` writes
``pki/sa.key``; kube-apiserver's ``--service-account-signing-key-file``). Its claims are
Kubernetes' bound-token claims, so anything that reads upstream tokens reads these::

    {"iss": "https://kubernetes.default.svc.cluster.local",
     "sub": "system:serviceaccount:default:builder",
     "aud": ["https://kubernetes.default.svc.cluster.local"],
     "iat": 1733480000, "nbf": 1733480000, "exp": 1733483600, "jti": "<uuid>",
     "kubernetes.io": {"namespace": "default",
                       "serviceaccount": {"name": "builder", "uid": "<uid>"},
                       "pod": {"name": "web-1", "uid": "<uid>"}}}      # "pod" only when bound

Authentication needs no database round trip: the signature (public key held in memory), the
issuer, the audience and the time window decide. Optionally a ``BoundObjects`` check (a cache
the API server keeps from its watch cache) refuses tokens whose ServiceAccount or bound Pod was
deleted, as upstream's "legacy/bound object" validation does; with no such check a token stays
valid until it expires — which is why TokenRequest caps lifetimes.

A valid token authenticates as the user ``system:serviceaccount:<ns>:<name>`` with the groups
``system:serviceaccounts``, ``system:serviceaccounts:<ns>`` and ``system:authenticated``.

Kubernetes equivalent: pkg/serviceaccount/jwt.go, pkg/serviceaccount/claims.go,
pkg/registry/core/serviceaccount/storage/token.go
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from orchestrator.api.errors import Unauthorized
from orchestrator.apiserver.auth import User

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
USER_PREFIX = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
AUTHENTICATED_GROUP = "system:authenticated"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600  # upstream refuses shorter requests ("less than 10 minutes")
MAX_EXPIRATION_SECONDS = 2**32
LEEWAY_SECONDS = 60
CACHE_SECONDS = 10.0  # a verified token is trusted this long without verifying its signature again
CACHE_SIZE = 10_000  # clock skew between the machines of a lab, as upstream allows for nbf/exp


class TokenKeyError(ValueError):
    """The signing key file cannot be used; the message names the file and what to fix."""


def user_name(namespace: str, name: str) -> str:
    return f"{USER_PREFIX}{namespace}:{name}"


def groups_for(namespace: str) -> tuple[str, ...]:
    return (ALL_SERVICE_ACCOUNTS_GROUP, f"{ALL_SERVICE_ACCOUNTS_GROUP}:{namespace}", AUTHENTICATED_GROUP)


def generate_signing_key_pem() -> bytes:
    """A new RSA-2048 private key in PKCS#8 PEM, what ``labctl up`` writes to ``pki/sa.key``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise TokenKeyError(f"--service-account-signing-key-file: cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise TokenKeyError(f"--service-account-signing-key-file: {path} is not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TokenKeyError(f"--service-account-signing-key-file: {path} must hold an RSA key (tokens are RS256)")
    return key


def load_public_keys(path: Path) -> list[rsa.RSAPublicKey]:
    """kube-apiserver's ``--service-account-key-file``: PEM public keys or private keys (their
    public halves), several per file allowed; every one of them verifies tokens."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise TokenKeyError(f"--service-account-key-file: cannot read {path}: {exc.strerror}") from exc
    keys: list[rsa.RSAPublicKey] = []
    for block in _pem_blocks(text):
        key: Any
        if b"PRIVATE KEY" in block.split(b"\n", 1)[0]:
            key = serialization.load_pem_private_key(block, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(block)
        if isinstance(key, rsa.RSAPublicKey):
            keys.append(key)
    if not keys:
        raise TokenKeyError(f"--service-account-key-file: {path} holds no RSA key")
    return keys


def _pem_blocks(text: bytes) -> list[bytes]:
    blocks, current = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith(b"-----BEGIN"):
            current = [line]
        elif current:
            current.append(line)
            if line.startswith(b"-----END"):
                blocks.append(b"".join(current))
                current = []
    return blocks


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """The ``kid`` header, computed as upstream: unpadded base64url of SHA-256 over the DER key."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class BoundPod:
    name: str
    uid: str


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires: datetime
    audiences: tuple[str, ...]


class TokenIssuer:
    """Signs TokenRequest tokens (``kubectl create token``, the node agent's pod tokens)."""

    def __init__(self, private_key: rsa.RSAPrivateKey, *, issuer: str = DEFAULT_ISSUER,
                 api_audiences: Sequence[str] = ()) -> None:
        self._key = private_key
        self._kid = key_id(private_key.public_key())
        self.issuer = issuer
        self.api_audiences = tuple(api_audiences) or (issuer,)

    def issue(self, *, namespace: str, name: str, uid: str, audiences: Sequence[str] = (),
              expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS, pod: BoundPod | None = None,
              now: datetime | None = None) -> IssuedToken:
        moment = (now or datetime.now(UTC)).replace(microsecond=0)
        expires = moment + timedelta(seconds=expiration_seconds)
        auds = tuple(audiences) or self.api_audiences
        private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
        if pod is not None:
            private["pod"] = {"name": pod.name, "uid": pod.uid}
        claims = {
            "iss": self.issuer, "sub": user_name(namespace, name), "aud": list(auds),
            "iat": int(moment.timestamp()), "nbf": int(moment.timestamp()), "exp": int(expires.timestamp()),
            "jti": str(uuid.uuid4()), "kubernetes.io": private,
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})
        return IssuedToken(token, expires, auds)


class BoundObjects(Protocol):
    """What the authenticator may ask of a cache: is this ServiceAccount (or Pod) with this uid
    still there? True/False when the cache knows; None when it cannot tell (then the token's
    signature and expiry alone decide)."""

    def service_account_current(self, namespace: str, name: str, uid: str) -> bool | None: ...

    def pod_current(self, namespace: str, name: str, uid: str) -> bool | None: ...


@dataclass(frozen=True)
class _Verified:
    """A token whose signature, issuer and audience were checked, until ``valid_until``."""

    user: User
    namespace: str
    name: str
    pod: BoundPod | None
    valid_until: float


class ServiceAccountTokenAuthenticator:
    """Bearer JWTs issued by this lab → a ServiceAccount user. ``authenticate_token`` returns
    None for a token that is not ours (not a JWT, or another issuer) so the next authenticator
    may try; a token that is ours but invalid (expired, wrong audience, bad signature) is
    Unauthorized, with the reason in the message and never the token."""

    def __init__(self, public_keys: Sequence[rsa.RSAPublicKey], *, issuer: str = DEFAULT_ISSUER,
                 api_audiences: Sequence[str] = (), bound_objects: BoundObjects | None = None) -> None:
        self._keys = list(public_keys)
        self.issuer = issuer
        self.api_audiences = tuple(api_audiences) or (issuer,)
        self.bound_objects = bound_objects
        self._verified: dict[bytes, _Verified] = {}

    def authenticate_token(self, token: str) -> User | None:
        if token.count(".") != 2:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        hit = self._verified.get(digest)
        if hit is not None and time.time() < hit.valid_until:
            # A client in a pod sends the same token with every request: the RSA verification
            # is done once per CACHE_SECONDS; expiry and deletions are still checked every time.
            self._check_bound(hit.namespace, hit.name, hit.user.uid, hit.pod)
            return hit.user
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        if unverified.get("iss") != self.issuer:
            return None
        claims = self._verify(token)
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise Unauthorized("Unauthorized: the service account token has no kubernetes.io claims")
        namespace = private.get("namespace")
        sa = private.get("serviceaccount") or {}
        name, uid = sa.get("name"), sa.get("uid")
        if not (isinstance(namespace, str) and isinstance(name, str) and isinstance(uid, str)):
            raise Unauthorized("Unauthorized: the service account token names no namespace and service account")
        if claims.get("sub") != user_name(namespace, name):
            raise Unauthorized("Unauthorized: the service account token's sub does not match its kubernetes.io claims")
        raw_pod = private.get("pod")
        pod = BoundPod(str(raw_pod.get("name")), str(raw_pod.get("uid"))) if isinstance(raw_pod, dict) else None
        self._check_bound(namespace, name, uid, pod)
        user = User(user_name(namespace, name), uid, groups_for(namespace))
        if len(self._verified) >= CACHE_SIZE:
            self._verified.clear()  # a flood of distinct tokens: start over rather than grow
        self._verified[digest] = _Verified(user, namespace, name, pod,
                                           min(float(claims["exp"]), time.time() + CACHE_SECONDS))
        return user

    def _check_bound(self, namespace: str, name: str, uid: str, pod: BoundPod | None) -> None:
        if self.bound_objects is None:
            return
        if self.bound_objects.service_account_current(namespace, name, uid) is False:
            raise Unauthorized(f"Unauthorized: service account {namespace}/{name} (uid {uid}) no longer exists")
        if pod is not None and self.bound_objects.pod_current(namespace, pod.name, pod.uid) is False:
            raise Unauthorized(f"Unauthorized: the pod {namespace}/{pod.name} this token is bound to no longer exists")

    def _verify(self, token: str) -> dict[str, Any]:
        last: Exception | None = None
        for key in self._keys:
            try:
                return jwt.decode(token, key, algorithms=["RS256"], audience=list(self.api_audiences),
                                  issuer=self.issuer, leeway=LEEWAY_SECONDS,
                                  options={"require": ["exp", "iat", "sub", "aud"]})
            except jwt.InvalidSignatureError as exc:
                last = exc
                continue  # another key of the file may have signed it
            except jwt.ExpiredSignatureError as exc:
                raise Unauthorized("Unauthorized: the service account token has expired") from exc
            except jwt.InvalidAudienceError as exc:
                raise Unauthorized("Unauthorized: the service account token is not for this API server's "
                                   f"audiences ({', '.join(self.api_audiences)})") from exc
            except jwt.PyJWTError as exc:
                raise Unauthorized(f"Unauthorized: the service account token is not valid ({exc})") from exc
        raise Unauthorized("Unauthorized: the service account token's signature does not verify "
                           "with --service-account-key-file") from last
