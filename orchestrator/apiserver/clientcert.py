"""Client certificates: the caller a TLS client certificate names, if the client CA signed it.

A certificate signed by a CA of ``--client-ca-file`` (the lab CA) authenticates:

    user    its Subject CommonName                      CN=alice
    groups  its Subject Organization values, in order   O=dev, O=system:masters

exactly as kube-apiserver's x509 authenticator maps them (``kubeadm kubeconfig user`` and
``labctl kubeconfig --user`` issue such certificates; `orchestrator/lab/pki.py`). It must be within
its validity period and, if it lists extended key usages, list ``clientAuth``. A certificate
without a CommonName is "not mine": the request may still authenticate with a bearer token.
A failed check is a 401 that says which check failed.

Each certificate is parsed and its signature verified once (a small LRU keyed by the PEM text;
a connection shows the same certificate on every request), the time is checked on every request.

Kubernetes equivalent: k8s.io/apiserver/pkg/authentication/request/x509/x509.go
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orchestrator.api.errors import Unauthorized
from orchestrator.api.timestamps import rfc3339
from orchestrator.apiserver.auth import User

log = logging.getLogger(__name__)

CACHE_SIZE = 1024


class ClientCAError(Exception):
    """The --client-ca-file cannot be used; the message says what to fix."""


def load_client_ca(path: Path) -> list[x509.Certificate]:
    """The CA certificates of a PEM file (one or more)."""
    try:
        roots = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as err:
        raise ClientCAError(f"--client-ca-file {path}: not a PEM file of CA certificates ({err})") from err
    return roots


@dataclass(frozen=True)
class _Verified:
    """What a certificate says once its signature and usages are checked: who, and from/until when."""

    user: User | None  # None: no CommonName, not for this authenticator
    not_before: dt.datetime
    not_after: dt.datetime
    identifier: str


@dataclass
class X509Authenticator:
    roots: list[x509.Certificate]
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    _cache: OrderedDict[str, _Verified] = field(default_factory=OrderedDict)

    @classmethod
    def from_file(cls, path: Path) -> X509Authenticator:
        return cls(load_client_ca(path))

    def authenticate(self, chain: Sequence[str]) -> User | None:
        """The user of the leaf of ``chain`` (PEM strings, leaf first: the ASGI TLS extension's
        ``client_cert_chain``); None without a certificate or CommonName; Unauthorized if the
        certificate does not verify."""
        if not chain:
            return None
        pem = chain[0]
        verified = self._cache.get(pem)
        if verified is None:
            verified = self._verify(pem)
            self._cache[pem] = verified
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        now = self.now()
        if not verified.not_before <= now <= verified.not_after:
            bound = (f"is after {rfc3339(verified.not_after)}" if now > verified.not_after
                     else f"is before {rfc3339(verified.not_before)}")
            raise self._refuse(verified.identifier,
                               f"x509: certificate has expired or is not yet valid: current time {rfc3339(now)} {bound}")
        return verified.user

    def _verify(self, pem: str) -> _Verified:
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
        except ValueError as err:
            raise Unauthorized(f"Unauthorized: the client certificate cannot be parsed ({err})") from err
        identifier = _identifier(cert)
        if not any(_issued_by(cert, root) for root in self.roots):
            raise self._refuse(identifier, "x509: certificate signed by unknown authority")
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            usages = None  # no extended key usage: any usage, as Go's verifier reads it
        if usages is not None and not ({ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
                                       & set(usages)):
            raise self._refuse(identifier, "x509: certificate specifies an incompatible key usage "
                                           "(it needs clientAuth to authenticate a client)")
        common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = str(common_names[0].value) if common_names else ""
        groups = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
        return _Verified(User(name, "", groups) if name else None,
                         cert.not_valid_before_utc, cert.not_valid_after_utc, identifier)

    @staticmethod
    def _refuse(identifier: str, reason: str) -> Unauthorized:
        message = f"verifying certificate {identifier} failed: {reason}"
        log.info("client certificate refused: %s", message)
        return Unauthorized(f"Unauthorized: {message}")


def _issued_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    if cert.issuer != root.subject:
        return False
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _identifier(cert: x509.Certificate) -> str:
    """How kube-apiserver names a certificate in its errors: serial, subject and authority key ids."""
    def key_id(extension: type[x509.SubjectKeyIdentifier] | type[x509.AuthorityKeyIdentifier]) -> str:
        try:
            value = cert.extensions.get_extension_for_class(extension).value
        except x509.ExtensionNotFound:
            return ""
        digest = value.digest if isinstance(value, x509.SubjectKeyIdentifier) else value.key_identifier
        return ":".join(f"{b:02x}" for b in digest or b"")

    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = f', CN={cn[0].value}' if cn else ""
    return (f"SN={cert.serial_number}{subject}, SKID={key_id(x509.SubjectKeyIdentifier)}, "
            f"AKID={key_id(x509.AuthorityKeyIdentifier)}")
