"""The cluster id a node agent labels its containers with: equal within a lab, different between labs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from orchestrator.client.rest import KubeconfigError
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_pki, write_kubeconfig
from orchestrator.nodeagent.cluster import cluster_id, cluster_id_from
from orchestrator.nodeagent.runtimes.base import LABEL_CLUSTER, ContainerSpec
from orchestrator.nodeagent.runtimes.simulated import SimulatedRuntime

SERVER = "https://127.0.0.1:6443"


def _ca(tmp_path: Path, name: str) -> bytes:
    home = LabHome(tmp_path / name)
    ensure_pki(home)
    return home.ca_cert.read_bytes()


def _kubeconfig(path: Path, *, ca_pem: bytes, server: str = SERVER, user: str = "system:node:node-1") -> Path:
    write_kubeconfig(path, server=server, ca_pem=ca_pem, token="t0ken", user=user)
    return path


def test_every_kubeconfig_of_one_lab_gives_the_same_id(tmp_path: Path) -> None:
    ca = _ca(tmp_path, "lab-a")
    node1 = _kubeconfig(tmp_path / "node-1.kubeconfig", ca_pem=ca)
    node2 = _kubeconfig(tmp_path / "node-2.kubeconfig", ca_pem=ca, user="system:node:node-2")
    # the same CA re-encoded with other line breaks, as a hand-edited kubeconfig may hold it
    reflowed = _kubeconfig(tmp_path / "admin.kubeconfig", ca_pem=ca.replace(b"\n", b"\r\n"), user="admin")

    ids = {cluster_id(node1), cluster_id(node2), cluster_id(reflowed)}

    assert len(ids) == 1
    [only] = ids
    assert len(only) == 16 and int(only, 16) >= 0


def test_two_labs_get_different_ids_even_on_the_same_server_url(tmp_path: Path) -> None:
    lab_a = _kubeconfig(tmp_path / "a.kubeconfig", ca_pem=_ca(tmp_path, "lab-a"))
    lab_b = _kubeconfig(tmp_path / "b.kubeconfig", ca_pem=_ca(tmp_path, "lab-b"))

    assert cluster_id(lab_a) != cluster_id(lab_b)


def test_a_ca_file_reference_gives_the_same_id_as_inline_ca_data(tmp_path: Path) -> None:
    ca = _ca(tmp_path, "lab-a")
    inline = _kubeconfig(tmp_path / "inline.kubeconfig", ca_pem=ca)
    (tmp_path / "ca.crt").write_bytes(ca)
    config = yaml.safe_load(inline.read_text())
    cluster = config["clusters"][0]["cluster"]
    del cluster["certificate-authority-data"]
    cluster["certificate-authority"] = "ca.crt"  # relative to the kubeconfig, as kubectl reads it
    by_file = tmp_path / "by-file.kubeconfig"
    by_file.write_text(yaml.safe_dump(config))

    assert cluster_id(by_file) == cluster_id(inline)


def test_without_ca_data_the_server_url_decides(tmp_path: Path) -> None:
    def no_ca(name: str, server: str) -> Path:
        config = yaml.safe_load(_kubeconfig(tmp_path / name, ca_pem=b"x").read_text())
        cluster = config["clusters"][0]["cluster"]
        del cluster["certificate-authority-data"]
        cluster["server"] = server
        cluster["insecure-skip-tls-verify"] = True
        (tmp_path / name).write_text(yaml.safe_dump(config))
        return tmp_path / name

    same_a = no_ca("a1", "https://10.0.0.5:6443")
    same_b = no_ca("a2", "https://10.0.0.5:6443/")
    other = no_ca("b", "https://10.0.0.6:6443")

    assert cluster_id(same_a) == cluster_id(same_b) == cluster_id_from(ca_pem=None, server="https://10.0.0.5:6443")
    assert cluster_id(other) != cluster_id(same_a)
    # a CA always wins over the URL: two labs behind one forwarded port still differ
    assert cluster_id_from(ca_pem=b"not a certificate", server=SERVER) != cluster_id_from(ca_pem=None, server=SERVER)


def test_a_kubeconfig_that_names_no_server_is_refused_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text(yaml.safe_dump({"current-context": "labkit", "contexts": [], "clusters": []}))
    missing = tmp_path / "missing.kubeconfig"
    bad_ca = tmp_path / "bad-ca.kubeconfig"
    config = yaml.safe_load(_kubeconfig(bad_ca, ca_pem=b"x").read_text())
    config["clusters"][0]["cluster"]["certificate-authority-data"] = "%%%" + base64.b64encode(b"x").decode()[:1]
    bad_ca.write_text(yaml.safe_dump(config))

    for path in (broken, missing, bad_ca):
        with pytest.raises(KubeconfigError, match=path.name):
            cluster_id(path)


async def test_the_simulated_runtime_labels_its_containers_with_its_cluster() -> None:
    runtime = SimulatedRuntime(cluster="0123456789abcdef")
    spec = ContainerSpec(pod_uid="uid-1", namespace="default", pod_name="web", container_name="main",
                         node_name="node-1", image="labkit/busybox:1.0")

    state = await runtime.create_and_start(spec)
    [listed] = await runtime.list_containers(node="node-1")

    assert state.labels[LABEL_CLUSTER] == "0123456789abcdef" == state.cluster == listed.cluster
    assert runtime.cluster == "0123456789abcdef"
    with pytest.raises(ValueError, match="cluster"):
        SimulatedRuntime(cluster="")
