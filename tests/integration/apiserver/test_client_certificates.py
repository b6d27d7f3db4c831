"""Client certificates on a real lab: `labctl kubeconfig --user NAME --group G` mints a kubeconfig
with a certificate signed by the lab CA; real kubectl and the official Python client authenticate
with it as NAME in G (``auth whoami``), RBAC applies to that user and those groups, and a
certificate from another CA or an expired one is refused.

Kubernetes equivalent: k8s.io/apiserver/pkg/authentication/request/x509/x509_test.go,
test/cmd/authentication.sh
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_pki, issue_client_certificate, write_kubeconfig
from tests.integration.apiserver.test_rbac import can_i, namespace, until
from tests.labctl import run_labctl
from tests.support.lab import Lab
from tests.support.skips import require_kubectl

pytestmark = [pytest.mark.timeout(300)]


@pytest.fixture(autouse=True)
def _kubectl() -> None:
    require_kubectl()


def mint(lab: Lab, user: str, *groups: str) -> Path:
    """`labctl kubeconfig --user USER --group G...`, as a learner runs it; the path it prints."""
    result = run_labctl(lab.home, "kubeconfig", "--user", user, *(a for g in groups for a in ("--group", g)))
    assert result.returncode == 0, result.stdout + result.stderr
    path = Path(result.stdout.strip())
    user_entry = yaml.safe_load(path.read_text())["users"][0]["user"]
    assert set(user_entry) == {"client-certificate-data", "client-key-data"}, user_entry  # no token
    return path


def whoami(lab: Lab, kubeconfig: Path) -> dict[str, object]:
    out = lab.kubectl("auth", "whoami", "-o", "json", kubeconfig=kubeconfig).stdout
    return dict(json.loads(out)["status"]["userInfo"])


def test_kubectl_is_the_certificates_common_name_in_its_organizations(lab: Lab) -> None:
    user = f"alice-{uuid.uuid4().hex[:6]}"
    kubeconfig = mint(lab, user, "dev", "qa")
    assert whoami(lab, kubeconfig) == {"username": user, "groups": ["dev", "qa", "system:authenticated"]}
    rows = {" ".join(line.split()) for line in lab.kubectl("auth", "whoami", kubeconfig=kubeconfig).stdout.splitlines()}
    assert f"Username {user}" in rows and "Groups [dev qa system:authenticated]" in rows, rows


async def test_rbac_applies_to_the_certificates_user_and_groups(lab: Lab, api: httpx.AsyncClient) -> None:
    mine, other = await namespace(api), await namespace(api)
    user, group = f"bob-{uuid.uuid4().hex[:6]}", f"readers-{uuid.uuid4().hex[:6]}"
    kubeconfig = mint(lab, user, group)
    assert lab.kubectl("get", "pods", "-n", mine, kubeconfig=kubeconfig, check=False).returncode != 0
    # the group (a certificate Organization) may read in one namespace ...
    lab.kubectl("create", "rolebinding", "readers", "--clusterrole=view", f"--group={group}", "-n", mine)
    await until(lambda: lab.kubectl("get", "pods", "-n", mine, kubeconfig=kubeconfig, check=False).returncode == 0)
    denied = lab.kubectl("create", "configmap", "c", "-n", mine, kubeconfig=kubeconfig, check=False)
    assert denied.returncode != 0
    assert f'User "{user}" cannot create resource "configmaps"' in denied.stderr, denied.stderr
    denied = lab.kubectl("get", "pods", "-n", other, kubeconfig=kubeconfig, check=False)
    assert f'User "{user}" cannot list resource "pods"' in denied.stderr, denied.stderr
    # ... and the user (the CommonName) may also write there
    lab.kubectl("create", "rolebinding", "writer", "--clusterrole=edit", f"--user={user}", "-n", mine)
    await until(lambda: lab.kubectl("auth", "can-i", "create", "configmaps", "-n", mine, kubeconfig=kubeconfig,
                                    check=False).stdout.strip() == "yes")
    lab.kubectl("create", "configmap", "c", "--from-literal=k=v", "-n", mine, kubeconfig=kubeconfig)
    assert can_i(lab, "admin", "create", "configmaps", "-n", mine, f"--as={user}")
    # labctl's own client (orchestrator/client) shows the certificate too
    listed = run_labctl(lab.home, "get", "configmaps", "-n", mine, "--kubeconfig", str(kubeconfig))
    assert listed.returncode == 0 and "c " in listed.stdout, listed.stdout + listed.stderr
    refused = run_labctl(lab.home, "get", "pods", "-n", other, "--kubeconfig", str(kubeconfig))
    assert refused.returncode == 1 and f'User "{user}" cannot list resource "pods"' in refused.stderr, refused.stderr


def test_an_expired_certificate_is_refused_with_401(lab: Lab, tmp_path: Path) -> None:
    home = LabHome(lab.home)
    three_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    cert, key = issue_client_certificate(home, user="late", groups=["system:masters"],
                                         validity=dt.timedelta(days=1), not_before=three_days_ago)
    kubeconfig = tmp_path / "expired.kubeconfig"
    write_kubeconfig(kubeconfig, server=lab.server, ca_pem=lab.ca_file.read_bytes(), user="late", client_cert=(cert, key))
    result = lab.kubectl("get", "pods", kubeconfig=kubeconfig, check=False)
    assert result.returncode != 0
    assert "You must be logged in to the server" in result.stderr, result.stderr
    assert "certificate has expired or is not yet valid" in result.stderr, result.stderr
    # the same over plain HTTPS: a 401 Status
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    r = httpx.get(lab.server + "/api/v1/pods", verify=context)
    assert r.status_code == 401 and r.json()["reason"] == "Unauthorized", r.text


def test_a_certificate_from_another_ca_is_refused(lab: Lab, tmp_path: Path) -> None:
    other = LabHome(tmp_path / "other-lab")
    ensure_pki(other)
    cert, key = issue_client_certificate(other, user="mallory", groups=["system:masters"])
    kubeconfig = tmp_path / "foreign.kubeconfig"
    write_kubeconfig(kubeconfig, server=lab.server, ca_pem=lab.ca_file.read_bytes(), user="mallory",
                     client_cert=(cert, key))
    result = lab.kubectl("get", "--raw", "/api/v1/pods", kubeconfig=kubeconfig, check=False)
    assert result.returncode != 0 and "No resources" not in result.stderr and not result.stdout, result
    # Python's ssl verifies a client certificate in the handshake (orchestrator/apiserver/serving.py):
    # the connection ends before any HTTP answer.
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    url = urlsplit(lab.server)
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with context.wrap_socket(raw, server_hostname=url.hostname) as tls:
                tls.sendall(b"GET /api/v1/pods HTTP/1.1\r\nHost: lab\r\n\r\n")
                answer = tls.recv(4096)
                if not answer:
                    raise ConnectionError("closed without an answer")
                raise AssertionError(f"the server answered: {answer[:200]!r}")


def test_the_python_client_authenticates_with_the_certificate_kubeconfig(lab: Lab) -> None:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    user = f"carol-{uuid.uuid4().hex[:6]}"
    kubeconfig = mint(lab, user, "devs")
    api_client = config.new_client_from_config(str(kubeconfig))
    try:
        review = client.AuthenticationV1Api(api_client).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        assert review.status.user_info.username == user
        assert review.status.user_info.groups == ["devs", "system:authenticated"]
        with pytest.raises(ApiException) as denied:
            client.CoreV1Api(api_client).list_namespaced_pod("default")
        assert denied.value.status == 403 and f'User "{user}"' in json.loads(denied.value.body)["message"]
    finally:
        api_client.close()

