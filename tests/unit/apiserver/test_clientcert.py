"""The x509 authenticator and the union of authenticators, with certificates from a real lab CA."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orchestrator.api.errors import Unauthorized
from orchestrator.apiserver.auth import RequestAuthenticator, TokenAuthenticator, User
from orchestrator.apiserver.clientcert import ClientCAError, X509Authenticator, load_client_ca
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_pki, issue_client_certificate


@pytest.fixture
def home(tmp_path: Path) -> LabHome:
    home = LabHome(tmp_path / "lab")
    ensure_pki(home)
    return home


def _pem(home: LabHome, user: str, *groups: str, **kwargs) -> str:  # type: ignore[no-untyped-def]
    return issue_client_certificate(home, user=user, groups=groups, **kwargs)[0].decode()


def test_the_user_is_the_common_name_and_the_groups_the_organizations_in_order(home: LabHome) -> None:
    auth = X509Authenticator.from_file(home.ca_cert)
    assert auth.authenticate([_pem(home, "alice", "qa", "dev")]) == User("alice", "", ("qa", "dev"))
    assert auth.authenticate([_pem(home, "bob")]) == User("bob", "", ())


def test_no_certificate_or_no_common_name_is_not_for_this_authenticator(home: LabHome) -> None:
    auth = X509Authenticator.from_file(home.ca_cert)
    assert auth.authenticate([]) is None
    ca_key = serialization.load_pem_private_key(home.ca_key.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(home.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    no_cn = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dev")]))
             .issuer_name(ca.subject).public_key(key.public_key()).serial_number(7)
             .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
             .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    assert auth.authenticate([no_cn.public_bytes(serialization.Encoding.PEM).decode()]) is None


def test_a_certificate_of_another_ca_is_refused_naming_the_certificate(home: LabHome, tmp_path: Path) -> None:
    other = LabHome(tmp_path / "other")
    ensure_pki(other)
    auth = X509Authenticator.from_file(home.ca_cert)
    with pytest.raises(Unauthorized) as err:
        auth.authenticate([_pem(other, "mallory", "system:masters")])
    assert err.value.code == 401
    assert "CN=mallory" in err.value.message and "x509: certificate signed by unknown authority" in err.value.message


def test_the_validity_period_is_checked_on_every_request(home: LabHome) -> None:
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    pem = _pem(home, "alice", validity=dt.timedelta(days=1), not_before=start)
    clock = [start + dt.timedelta(hours=1)]
    auth = X509Authenticator.from_file(home.ca_cert)
    auth.now = lambda: clock[0]
    assert auth.authenticate([pem]) == User("alice")
    clock[0] = start + dt.timedelta(days=2)  # the same certificate, now cached, has expired
    with pytest.raises(Unauthorized, match="certificate has expired or is not yet valid: current time "
                                           "2030-01-03T00:00:00Z is after 2030-01-02T00:00:00Z"):
        auth.authenticate([pem])
    clock[0] = start - dt.timedelta(days=1)
    with pytest.raises(Unauthorized, match="is before 2030-01-01T00:00:00Z"):
        auth.authenticate([pem])


def test_a_certificate_for_servers_only_is_refused(home: LabHome) -> None:
    # the API server's own serving certificate: signed by the lab CA, extended key usage serverAuth
    cert = x509.load_pem_x509_certificate(home.apiserver_cert.read_bytes())
    assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    with pytest.raises(Unauthorized, match="incompatible key usage"):
        X509Authenticator.from_file(home.ca_cert).authenticate([home.apiserver_cert.read_text()])


def test_a_bad_client_ca_file_says_what_to_fix(tmp_path: Path) -> None:
    bad = tmp_path / "ca.crt"
    bad.write_text("not a certificate")
    with pytest.raises(ClientCAError, match="--client-ca-file .*ca.crt: not a PEM file of CA certificates"):
        load_client_ca(bad)


def test_the_union_tries_the_certificate_then_the_token(home: LabHome, tmp_path: Path) -> None:
    tokens = TokenAuthenticator()
    tokens.add("t0ken", User("tom", "tom", ("ops",)))
    auth = RequestAuthenticator(tokens, X509Authenticator.from_file(home.ca_cert).authenticate)
    good = _pem(home, "alice", "dev")
    other = LabHome(tmp_path / "other")
    ensure_pki(other)
    foreign = _pem(other, "mallory")
    assert auth.authenticate(None, [good]).name == "alice"
    assert auth.authenticate("Bearer t0ken", [good]).name == "alice"  # the certificate first, as kube-apiserver
    assert auth.authenticate("Bearer t0ken", []).name == "tom"
    assert auth.authenticate("Bearer t0ken", [foreign]).name == "tom"  # a refused certificate, a good token
    with pytest.raises(Unauthorized, match="unknown authority"):
        auth.authenticate(None, [foreign])
    with pytest.raises(Unauthorized, match="a bearer token or a client certificate is required"):
        auth.authenticate(None, [])
    # without --client-ca-file, certificates are not looked at
    assert RequestAuthenticator(tokens).authenticate("Bearer t0ken", [good]).name == "tom"
