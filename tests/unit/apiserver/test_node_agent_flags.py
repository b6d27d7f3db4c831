"""The API server's flags for the node agent hop and the extra listening address: bad values stop
the start with what to fix; good ones land in Settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.apiserver.settings import Settings
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import apiserver_kubelet_tls_args, ensure_pki, ensure_tokens


def _base(home: LabHome) -> list[str]:
    ensure_pki(home)
    ensure_tokens(home, nodes=1)
    return ["--database-url", "postgresql://x@127.0.0.1/x", "--redis-url", "redis://127.0.0.1/0",
            "--token-auth-file", str(home.token_file)]


def test_the_kubelet_certificates_and_an_extra_bind_address_are_read(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    settings = Settings.from_args([*_base(home), *apiserver_kubelet_tls_args(home),
                                   "--extra-bind-address", "172.17.0.1"])
    assert settings.kubelet_client_certificate == home.kubelet_client_cert
    assert settings.kubelet_certificate_authority == home.ca_cert
    assert settings.extra_bind_addresses == ("172.17.0.1",)


@pytest.mark.parametrize(("flags", "message"), [
    (["--extra-bind-address", "docker0"], "--extra-bind-address 'docker0': not an IP address"),
    (["--kubelet-client-certificate", "CERT"], "--kubelet-client-certificate and --kubelet-client-key go together"),
    (["--kubelet-certificate-authority", "/nonexistent/ca.crt"], "does not exist"),
])
def test_bad_values_say_what_to_fix(tmp_path: Path, flags: list[str], message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    home = LabHome(tmp_path)
    base = _base(home)
    apiserver_kubelet_tls_args(home)  # the certificate files exist: only the flag combination is wrong
    flags = [str(home.kubelet_client_cert) if f == "CERT" else f for f in flags]
    with pytest.raises(SystemExit):
        Settings.from_args([*base, *flags])
    assert message in capsys.readouterr().err
