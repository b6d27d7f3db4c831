"""`labctl kubeconfig --user NAME --group G`: the kubeconfig it writes holds a certificate the lab CA
signed for CN=NAME, O=G (kubeadm kubeconfig user), and it says what is wrong without a lab."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from orchestrator.cli.main import app
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_pki, write_kubeconfig


def test_it_writes_a_client_certificate_kubeconfig_and_prints_its_path(home: LabHome) -> None:
    ensure_pki(home)
    write_kubeconfig(home.kubeconfig, server="https://127.0.0.1:6443", ca_pem=home.ca_cert.read_bytes(),
                     token="t", user="admin")
    result = CliRunner().invoke(app, ["kubeconfig", "--user", "system:serviceaccount:x", "--group", "dev",
                                      "--group", "qa", "--days", "2"])
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path == home.kubeconfigs_dir / "user-system_serviceaccount_x.kubeconfig"
    assert path.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(path.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    user = config["users"][0]
    assert user["name"] == "system:serviceaccount:x" and "token" not in user["user"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:serviceaccount:x"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["dev", "qa"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=2)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(home.ca_cert.read_bytes()))
    assert b"PRIVATE KEY" in base64.b64decode(user["user"]["client-key-data"])


def test_without_a_lab_it_says_to_run_labctl_up(home: LabHome) -> None:
    result = CliRunner().invoke(app, ["kubeconfig", "--user", "alice"])
    assert result.exit_code == 1
    assert "cannot read the API server address" in result.output and "labctl up" in result.output
    assert not home.ca_key.exists()  # no CA made up on the side


def test_bad_flags_say_what_to_fix(home: LabHome) -> None:
    result = CliRunner().invoke(app, ["kubeconfig", "--group", "dev"])
    assert result.exit_code == 2 and "--group needs --user" in result.output, result.output
    result = CliRunner().invoke(app, ["kubeconfig", "--user", " "])
    assert result.exit_code == 2 and "--user must not be empty" in result.output, result.output
