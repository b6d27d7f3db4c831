"""The lab's credentials: a CA, the API server's serving certificate, bearer tokens, kubeconfigs.

Why HTTPS on a laptop: kubectl never sends a bearer token to an `http://` server, so the API
server serves TLS with a certificate from a private lab CA, and every kubeconfig carries that
CA (`certificate-authority-data`) and a credential: the lab's own identities a bearer token
(`users[].user.token`); the users `labctl kubeconfig --user NAME --group G` mints a client
certificate signed by the lab CA (`client-certificate-data`, `client-key-data`: CN=NAME, O=G),
as `kubeadm kubeconfig user` does. docs/authentication.md tells how the API server checks each.

Every function here is idempotent: run it on every `labctl up` and it reuses what exists,
re-issuing the serving certificate only when its SANs changed, the CA changed, or it is about
to expire. Keys and the token file are mode 0600.

Kubernetes equivalent: cmd/kubeadm/app/phases/certs and phases/kubeconfig, cmd/kubeadm/app/cmd/kubeconfig.go
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import ipaddress
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orchestrator.lab.home import LabHome, lab_identities

VALIDITY = dt.timedelta(days=3650)
# A user's client certificate: kubeadm's default for the certificates it issues (one year).
CLIENT_VALIDITY = dt.timedelta(days=365)
# Re-issue a serving certificate this long before it expires.
RENEW_BEFORE = dt.timedelta(days=30)
DEFAULT_SANS = ("127.0.0.1", "::1", "localhost")
# The names in-cluster clients dial (kubeadm's apiserver.crt has them too): the `kubernetes`
# Service's DNS names and its ClusterIP, the first address of the service range.
IN_CLUSTER_SANS = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   "kubernetes.default.svc.cluster.local")
DEFAULT_KUBERNETES_SERVICE_IP = "10.96.0.1"

SanEntry = x509.IPAddress | x509.DNSName


class PkiError(Exception):
    """The lab's PKI files cannot be used; the message says what to do."""


def ensure_pki(home: LabHome, *, extra_sans: Sequence[str] = (),
               kubernetes_service_ip: str = DEFAULT_KUBERNETES_SERVICE_IP) -> None:
    """Create the lab CA and the API server certificate (SANs: loopback, localhost, the Docker
    bridge gateway, the `kubernetes` Service's names and ClusterIP, `extra_sans`)."""
    home.ensure()
    ca_key, ca_cert = _ensure_ca(home)
    sans = [*DEFAULT_SANS, *_container_gateways(), *IN_CLUSTER_SANS, kubernetes_service_ip, *extra_sans]
    _ensure_serving_cert(home.apiserver_cert, home.apiserver_key, common_name="kube-apiserver",
                         sans=sans, ca_key=ca_key, ca_cert=ca_cert)


def _ensure_serving_cert(cert_path: Path, key_path: Path, *, common_name: str, sans: Sequence[str],
                         ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate) -> None:
    """A serving certificate for `sans` signed by the lab CA at `cert_path`, unless a current one is there."""
    wanted = _san_entries(sans)
    if cert_path.exists() and key_path.exists():
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if _serving_cert_is_current(current, ca_cert=ca_cert, wanted=wanted):
            return
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(sorted(wanted, key=str)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# --- the API server -> node agent hop (kubelet serving and client certificates) ---------------

# kubeadm's names: the API server's client certificate for kubelets (apiserver-kubelet-client.crt)
# has CN=kube-apiserver-kubelet-client; its group gives it every right on a node's endpoint.
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
KUBELET_CLIENT_GROUPS = ("system:masters",)


def ensure_node_serving_certificate(home: LabHome, name: str, *, addresses: Sequence[str] = ()) -> tuple[Path, Path]:
    """The serving certificate of the node agent process `name` (a node, or a fleet of simulated
    nodes), signed by the lab CA for loopback, `name` and `addresses` (the nodes' InternalIPs, so
    the API server's hostname check passes). Returns (certificate path, key path); kept across
    `labctl up` while current, as the API server's is."""
    home.ensure()
    ca_key, ca_cert = _ensure_ca(home)
    cert, key = home.node_serving_cert(name), home.node_serving_key(name)
    _ensure_serving_cert(cert, key, common_name=name, sans=[*DEFAULT_SANS, name, *addresses],
                         ca_key=ca_key, ca_cert=ca_cert)
    return cert, key


def ensure_kubelet_client_certificate(home: LabHome) -> tuple[Path, Path]:
    """The API server's client certificate for node agents (kube-apiserver's
    --kubelet-client-certificate), re-issued when the CA changed or it nears its end."""
    home.ensure()
    ca_key, ca_cert = _ensure_ca(home)
    cert_path, key_path = home.kubelet_client_cert, home.kubelet_client_key
    if cert_path.exists() and key_path.exists():
        try:
            current = x509.load_pem_x509_certificate(cert_path.read_bytes())
            current.verify_directly_issued_by(ca_cert)
            if current.not_valid_after_utc - RENEW_BEFORE > _now():
                return cert_path, key_path
        except (ValueError, TypeError, InvalidSignature):
            pass
    cert, key = issue_client_certificate(home, user=KUBELET_CLIENT_USER, groups=KUBELET_CLIENT_GROUPS,
                                         validity=VALIDITY)
    _write_private(key_path, key)
    cert_path.write_bytes(cert)
    return cert_path, key_path


def node_agent_tls_args(home: LabHome, name: str, *, addresses: Sequence[str] = ()) -> list[str]:
    """The node agent flags that make it serve HTTPS with its lab-CA certificate and accept only
    clients with a lab-CA certificate (kubelet's --tls-cert-file, --tls-private-key-file,
    --client-ca-file), the certificate issued first: every place that starts a node agent of a
    lab passes these."""
    ensure_node_serving_certificate(home, name, addresses=addresses)
    return node_agent_tls_flags(home, name)


def node_agent_tls_flags(home: LabHome, name: str) -> list[str]:
    """The flags of `node_agent_tls_args` without issuing anything (for a command line built ahead)."""
    return ["--tls-cert-file", str(home.node_serving_cert(name)), "--tls-private-key-file",
            str(home.node_serving_key(name)), "--client-ca-file", str(home.ca_cert)]


def apiserver_kubelet_tls_args(home: LabHome) -> list[str]:
    """The API server flags for the node agent hop: its client certificate, and the CA that signed
    the node agents' serving certificates (kube-apiserver's --kubelet-client-certificate,
    --kubelet-client-key, --kubelet-certificate-authority)."""
    cert, key = ensure_kubelet_client_certificate(home)
    return ["--kubelet-client-certificate", str(cert), "--kubelet-client-key", str(key),
            "--kubelet-certificate-authority", str(home.ca_cert)]


def _container_gateways() -> list[str]:
    """Docker's bridge address on this host, if there is one: containers reach the API server
    there, through the node agent's forwarder (orchestrator/nodeagent/credentials.py), and
    verify it with the lab CA, so the serving certificate must name it."""
    import psutil

    return [a.address for a in psutil.net_if_addrs().get("docker0", []) if a.family.name == "AF_INET"]


def issue_client_certificate(home: LabHome, *, user: str, groups: Sequence[str] = (),
                             validity: dt.timedelta = CLIENT_VALIDITY,
                             not_before: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """A client certificate signed by the lab CA for `user` (Subject CN) in `groups` (one Subject O
    each, in order): what the API server's x509 authenticator reads back (docs/authentication.md).
    Returns (certificate PEM, private key PEM). `not_before` (default: now, less five minutes of
    clock skew) lets a test issue one that has already expired."""
    if not user:
        raise PkiError("a client certificate needs a user name (its Subject CommonName)")
    ca_key, ca_cert = _ensure_ca(home)
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or _now() - dt.timedelta(minutes=5)
    subject = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups),
                         x509.NameAttribute(NameOID.COMMON_NAME, user)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _ensure_ca(home: LabHome) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    if home.ca_cert.exists() and home.ca_key.exists():
        try:
            key = serialization.load_pem_private_key(home.ca_key.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(home.ca_cert.read_bytes())
        except ValueError as err:
            raise PkiError(
                f"cannot read the lab CA in {home.pki_dir} (corrupt PEM): delete that directory to recreate it"
            ) from err
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{home.ca_key} is not an ECDSA key: delete {home.pki_dir} to recreate the lab CA")
        return key, cert
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labkit-ca")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(home.ca_key, _key_pem(key))
    home.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _serving_cert_is_current(
    cert: x509.Certificate, *, ca_cert: x509.Certificate, wanted: set[SanEntry]
) -> bool:
    try:
        have = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        cert.verify_directly_issued_by(ca_cert)  # a recreated CA invalidates the old cert
    except (x509.ExtensionNotFound, ValueError, TypeError, InvalidSignature):
        return False
    return have == wanted and cert.not_valid_after_utc - RENEW_BEFORE > _now()


def _san_entries(names: Sequence[str]) -> set[SanEntry]:
    entries: set[SanEntry] = set()
    for name in names:
        name = name.strip()
        if not name:
            continue
        try:
            entries.add(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.add(x509.DNSName(name))
    return entries


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret so that it is never readable by others, not even for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(0o600)  # os.open's mode does not apply to a file that already existed


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- bearer tokens ----------------------------------------------------------------------------


def ensure_tokens(home: LabHome, *, nodes: int) -> dict[str, str]:
    """Give every lab identity a token in tokens.csv; return {identity name: token}.

    The file uses kube-apiserver's --token-auth-file format, one line per user:
    `token,user,uid,"group1,group2"`. Existing tokens are kept (so running kubeconfigs
    stay valid); identities added by a larger --nodes are appended.
    """
    home.ensure()
    rows = read_token_file(home.token_file)
    by_uid = {row[2]: row for row in rows if len(row) >= 3}
    tokens: dict[str, str] = {}
    changed = False
    for identity in lab_identities(nodes=nodes):
        row = by_uid.get(identity.uid)
        if row is None:
            row = [secrets.token_urlsafe(32), identity.user, identity.uid]
            if identity.groups:
                row.append(",".join(identity.groups))
            rows.append(row)
            changed = True
        tokens[identity.name] = row[0]
    if changed or not home.token_file.exists():
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        _write_private(home.token_file, out.getvalue().encode())
    return tokens


def read_token_file(path: Path) -> list[list[str]]:
    """The rows of a static token file (token, user, uid[, groups]); [] if it does not exist."""
    if not path.exists():
        return []
    return [row for row in csv.reader(io.StringIO(path.read_text())) if row and row[0].strip()]


# --- kubeconfig -------------------------------------------------------------------------------


def write_kubeconfig(path: Path, *, server: str, ca_pem: bytes, user: str, token: str | None = None,
                     client_cert: tuple[bytes, bytes] | None = None, namespace: str | None = None) -> None:
    """Write a kubeconfig with one cluster, one user and the current context `labkit`. The user
    authenticates with a bearer `token` or a `client_cert` (certificate PEM, key PEM); the context's
    default namespace is `namespace`, when given (kubectl and the clients then work there)."""
    if (token is None) == (client_cert is None):
        raise ValueError("write_kubeconfig needs a token or a client certificate, not both")
    credential = ({"token": token} if token is not None else {
        "client-certificate-data": base64.b64encode(client_cert[0]).decode(),  # type: ignore[index]
        "client-key-data": base64.b64encode(client_cert[1]).decode(),  # type: ignore[index]
    })
    context: dict[str, str] = {"cluster": "labkit", "user": user}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "labkit",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": credential}],
        "contexts": [{"name": "labkit", "context": context}],
        "current-context": "labkit",
        "preferences": {},
    }
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())


def write_user_kubeconfig(home: LabHome, path: Path, *, user: str, groups: Sequence[str] = (),
                          validity: dt.timedelta = CLIENT_VALIDITY) -> None:
    """A kubeconfig for `user` in `groups` with a fresh client certificate, for the lab's API
    server (the one the admin kubeconfig names): what `labctl kubeconfig --user` writes."""
    try:
        admin = yaml.safe_load(home.kubeconfig.read_text())
        server = admin["clusters"][0]["cluster"]["server"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError) as err:
        raise PkiError(f"cannot read the API server address from {home.kubeconfig}: run `labctl up` first") from err
    cert = issue_client_certificate(home, user=user, groups=groups, validity=validity)
    write_kubeconfig(path, server=server, ca_pem=home.ca_cert.read_bytes(), user=user, client_cert=cert)


def write_lab_kubeconfigs(home: LabHome, *, server: str, tokens: dict[str, str], nodes: int) -> None:
    """The admin kubeconfig at home.kubeconfig, plus one per identity under kubeconfigs/."""
    ca_pem = home.ca_cert.read_bytes()
    for identity in lab_identities(nodes=nodes):
        token = tokens[identity.name]
        write_kubeconfig(
            home.kubeconfig_for(identity.name), server=server, ca_pem=ca_pem, token=token, user=identity.user
        )
        if identity.name == "admin":
            write_kubeconfig(home.kubeconfig, server=server, ca_pem=ca_pem, token=token, user=identity.user)


def ensure_service_account_key(home: LabHome) -> None:
    """The key that signs ServiceAccount tokens; kept across `labctl up` (a new key would end
    every token already handed out)."""
    from orchestrator.apiserver.serviceaccount_tokens import generate_signing_key_pem

    if not home.service_account_key.exists():
        _write_private(home.service_account_key, generate_signing_key_pem())


def ensure_encryption_config(home: LabHome) -> None:
    """An EncryptionConfiguration with one fresh aesgcm key for Secrets (identity listed last,
    so Secrets written before encryption was on stay readable). Kept across `labctl up`: a
    rotation edits it (docs/storage.md)."""
    from orchestrator.apiserver.encryption import new_key_secret, render_config

    if not home.encryption_config.exists():
        _write_private(home.encryption_config, render_config([("key1", new_key_secret())]).encode())
