"""The lab CA, the API server certificate, the token file and kubeconfigs."""

import csv
import io
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import (
    PkiError,
    _container_gateways,
    ensure_kubelet_client_certificate,
    ensure_node_serving_certificate,
    ensure_pki,
    ensure_tokens,
    read_token_file,
    write_kubeconfig,
)


def _sans(cert: x509.Certificate) -> set[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in ext.get_values_for_type(x509.IPAddress)} | set(
        ext.get_values_for_type(x509.DNSName)
    )


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_server_certificate_is_signed_by_the_lab_ca_with_loopback_sans(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    ensure_pki(home, extra_sans=["10.0.0.7", "lab.example"])
    ca, cert = _load(home.ca_cert), _load(home.apiserver_cert)
    cert.verify_directly_issued_by(ca)
    # plus Docker's bridge address where this host has one (containers dial the API server there)
    # and the names in-cluster clients dial: the `kubernetes` Service's DNS names and ClusterIP
    assert _sans(cert) - set(_container_gateways()) == {"127.0.0.1", "::1", "localhost", "10.0.0.7", "lab.example",
                                                         "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                                         "kubernetes.default.svc.cluster.local", "10.96.0.1"}
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3650


def _handshake(home: LabHome, *, server_hostname: str) -> None:
    """A real TLS handshake: server with the lab cert, client trusting only the lab CA."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(home.apiserver_cert, home.apiserver_key)
    client_ctx = ssl.create_default_context(cafile=str(home.ca_cert))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

        thread = threading.Thread(target=serve)
        thread.start()
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
                tls.sendall(b"x")
        thread.join(5)


def test_clients_trusting_the_lab_ca_accept_the_server_by_ip_and_name(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    ensure_pki(home)
    _handshake(home, server_hostname="127.0.0.1")
    _handshake(home, server_hostname="localhost")


def test_ensure_pki_is_idempotent_and_reissues_only_when_sans_change(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    ensure_pki(home)
    ca_before, cert_before = home.ca_cert.read_bytes(), home.apiserver_cert.read_bytes()
    ensure_pki(home)
    assert home.apiserver_cert.read_bytes() == cert_before
    ensure_pki(home, extra_sans=["192.168.1.5"])
    assert home.ca_cert.read_bytes() == ca_before
    assert home.apiserver_cert.read_bytes() != cert_before
    assert "192.168.1.5" in _sans(_load(home.apiserver_cert))
    assert ipaddress.ip_address("192.168.1.5")  # the SAN is an IP entry, not a DNS name
    _load(home.apiserver_cert).verify_directly_issued_by(_load(home.ca_cert))


def test_a_recreated_ca_reissues_the_server_certificate(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    ensure_pki(home)
    home.ca_cert.unlink()
    home.ca_key.unlink()
    ensure_pki(home)
    _load(home.apiserver_cert).verify_directly_issued_by(_load(home.ca_cert))


def test_private_keys_and_tokens_are_readable_only_by_the_owner(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    ensure_pki(home)
    ensure_tokens(home, nodes=1)
    for path in (home.ca_key, home.apiserver_key, home.token_file):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_tokens_file_has_one_line_per_identity_in_static_token_format(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    tokens = ensure_tokens(home, nodes=2)
    assert set(tokens) == {"admin", "scheduler", "controller-manager", "viewer", "kube-proxy", "dns",
                           "metrics-server", "node-1", "node-2"}
    assert len(set(tokens.values())) == 9 and all(len(t) >= 43 for t in tokens.values())
    rows = {row[1]: row for row in csv.reader(io.StringIO(home.token_file.read_text()))}
    assert rows["admin"] == [tokens["admin"], "admin", "admin", "system:masters"]
    assert rows["system:node:node-2"][3] == "system:nodes"
    assert len(rows["system:kube-scheduler"]) == 3  # no groups column


def test_tokens_are_kept_across_runs_and_extended_for_new_nodes(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    first = ensure_tokens(home, nodes=1)
    second = ensure_tokens(home, nodes=3)
    assert {k: second[k] for k in first} == first
    assert {"node-2", "node-3"} <= set(second)
    assert len(read_token_file(home.token_file)) == 10


def test_kubeconfig_carries_the_ca_the_token_and_a_current_context(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    ensure_pki(home)
    path = tmp_path / "admin.kubeconfig"
    write_kubeconfig(
        path, server="https://127.0.0.1:6443", ca_pem=home.ca_cert.read_bytes(), token="tok", user="admin"
    )
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "labkit"
    assert config["users"] == [{"name": "admin", "user": {"token": "tok"}}]
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"

    # The official client reads it: server, token and CA all land in its configuration.
    from kubernetes import client
    from kubernetes import config as kconfig

    configuration = client.Configuration()
    kconfig.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == "https://127.0.0.1:6443"
    assert configuration.api_key["BearerToken"] == "Bearer tok"
    assert Path(configuration.ssl_ca_cert).read_bytes() == home.ca_cert.read_bytes()


def test_a_corrupt_ca_key_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    ensure_pki(home)
    home.ca_key.write_text("not a key")
    with pytest.raises(PkiError, match="delete that directory to recreate it"):
        ensure_pki(home)


def test_node_agent_and_kubelet_client_certificates_are_the_lab_cas_and_kept(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    ensure_pki(home)
    ca = _load(home.ca_cert)
    cert_path, key_path = ensure_node_serving_certificate(home, "node-1", addresses=["10.1.2.3"])
    node = _load(cert_path)
    node.verify_directly_issued_by(ca)
    assert _sans(node) == {"127.0.0.1", "::1", "localhost", "node-1", "10.1.2.3"}
    assert oct(key_path.stat().st_mode & 0o777) == "0o600"
    client_path, client_key = ensure_kubelet_client_certificate(home)
    client = _load(client_path)
    client.verify_directly_issued_by(ca)
    assert client.subject.rfc4514_string() == "CN=kube-apiserver-kubelet-client,O=system:masters"
    assert oct(client_key.stat().st_mode & 0o777) == "0o600"
    # Idempotent: the same certificates while the CA and the names are the same.
    assert ensure_node_serving_certificate(home, "node-1", addresses=["10.1.2.3"]) == (cert_path, key_path)
    assert _load(cert_path).serial_number == node.serial_number
    ensure_kubelet_client_certificate(home)
    assert _load(client_path).serial_number == client.serial_number
