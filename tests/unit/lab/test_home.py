"""The lab home layout and the identities a lab issues credentials for."""

from pathlib import Path

import pytest

from orchestrator.lab.home import LabHome, LabSettings, lab_identities


def test_home_comes_from_labkit_home_and_is_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABKIT_HOME", "mylab")
    assert LabHome.from_env().root == tmp_path / "mylab"


def test_home_defaults_to_dot_labkit_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABKIT_HOME", raising=False)
    assert LabHome.from_env().root == tmp_path / ".labkit"


def test_every_path_of_the_layout_lives_under_the_home(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    paths = [
        home.pki_dir,
        home.ca_cert,
        home.ca_key,
        home.apiserver_cert,
        home.apiserver_key,
        home.token_file,
        home.kubeconfig,
        home.kubeconfig_for("node-1"),
        home.postgres_dir,
        home.redis_dir,
        home.log_file("apiserver"),
        home.state_file,
    ]
    assert all(p.is_relative_to(tmp_path) for p in paths)
    assert home.kubeconfig_for("scheduler") == tmp_path / "kubeconfigs" / "scheduler.kubeconfig"
    assert home.state_file == tmp_path / "run" / "state.json"
    assert home.log_file("postgres") == tmp_path / "logs" / "postgres.log"


def test_ensure_creates_directories_with_a_private_pki_dir(tmp_path: Path) -> None:
    home = LabHome(tmp_path / "lab")
    home.ensure()
    assert home.logs_dir.is_dir() and home.run_dir.is_dir() and home.kubeconfigs_dir.is_dir()
    assert home.pki_dir.stat().st_mode & 0o077 == 0


def test_identities_use_the_kubernetes_user_and_group_names() -> None:
    by_name = {i.name: i for i in lab_identities(nodes=2)}
    assert list(by_name) == ["admin", "scheduler", "controller-manager", "viewer", "kube-proxy", "dns",
                             "metrics-server", "node-1", "node-2"]
    assert by_name["metrics-server"].user == "system:metrics-server"
    assert by_name["kube-proxy"].user == "system:kube-proxy"
    assert by_name["dns"].user == "system:kube-dns"
    assert by_name["admin"].groups == ("system:masters",)
    assert by_name["scheduler"].user == "system:kube-scheduler"
    assert by_name["controller-manager"].user == "system:kube-controller-manager"
    assert by_name["viewer"].groups == ("labkit:viewers",)
    assert by_name["node-2"].user == "system:node:node-2"
    assert by_name["node-2"].groups == ("system:nodes",)


def test_settings_read_external_server_urls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db:5432/x")
    monkeypatch.setenv("REDIS_URL", "")
    settings = LabSettings.from_env()
    assert settings.database_url == "postgresql://u@db:5432/x"
    assert settings.redis_url is None
