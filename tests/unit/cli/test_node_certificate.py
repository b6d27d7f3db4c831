"""`labctl node-certificate NAME --address IP`: a node agent on another machine gets a serving
certificate the lab CA signed for the address the API server dials, and the flags to run with it;
without a lab or an address it says what to do instead."""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from orchestrator.cli.main import app
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_pki
from orchestrator.lab.supervisor import ComponentRecord, Supervisor


def test_it_issues_a_serving_certificate_for_the_address_and_prints_the_agent_flags(home: LabHome) -> None:
    ensure_pki(home)
    result = CliRunner().invoke(app, ["node-certificate", "node-3", "--address", "192.0.2.20"])
    assert result.exit_code == 0, result.output
    flags = dict(line.split(" ", 1) for line in result.output.strip().splitlines())
    assert flags == {"--tls-cert-file": str(home.node_serving_cert("node-3")),
                     "--tls-private-key-file": str(home.node_serving_key("node-3")),
                     "--client-ca-file": str(home.ca_cert)}
    cert = x509.load_pem_x509_certificate(home.node_serving_cert("node-3").read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(home.ca_cert.read_bytes()))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("192.0.2.20") in names.get_values_for_type(x509.IPAddress)
    assert "node-3" in names.get_values_for_type(x509.DNSName)
    assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert home.node_serving_key("node-3").stat().st_mode & 0o777 == 0o600


def test_without_an_address_or_a_lab_it_says_what_to_do(home: LabHome) -> None:
    missing = CliRunner().invoke(app, ["node-certificate", "node-3"])
    assert missing.exit_code == 2 and "--address is required" in missing.output
    no_lab = CliRunner().invoke(app, ["node-certificate", "node-3", "--address", "192.0.2.20"])
    assert no_lab.exit_code == 1 and "labctl up" in no_lab.output
    assert not home.ca_key.exists()  # no CA made up on the side


def test_a_node_this_lab_runs_or_a_blank_name_is_refused(home: LabHome) -> None:
    ensure_pki(home)
    Supervisor(home).put(ComponentRecord(name="node-1", pid=None, address="127.0.0.1:1", log_file=None,
                                         started_at=0.0))
    local = CliRunner().invoke(app, ["node-certificate", "node-1", "--address", "192.0.2.20"])
    assert local.exit_code == 2 and "runs on this machine" in local.output and "--skip node-N" in local.output
    assert not home.node_serving_cert("node-1").exists()  # the local agent's certificate is left alone
    blank = CliRunner().invoke(app, ["node-certificate", " node-3", "--address", "192.0.2.20"])
    assert blank.exit_code == 2 and "NAME" in blank.output
