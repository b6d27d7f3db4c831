"""`labctl up --apiservers N`: the components it plans (API servers on ports of their own, HAProxy
on the lab's port, everything else behind HAProxy) and the HAProxy configuration it writes, which
the real haproxy accepts (``haproxy -c``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.lab import haproxy, up
from orchestrator.lab.home import LabHome
from orchestrator.lab.supervisor import SupervisorError
from orchestrator.lab.up import DockerBridge, LabContext, control_plane


def _ctx(tmp_path: Path, *, apiservers: int, bind_address: str = "127.0.0.1") -> LabContext:
    return LabContext(home=LabHome(tmp_path), database_url="postgresql://x/y", redis_url="redis://x",
                      apiserver_port=6443, nodes=1, runtime="simulated", apiservers=apiservers,
                      bind_address=bind_address)


def _require_haproxy() -> str:
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if binary is None:
        if os.environ.get("LABKIT_REQUIRE_HAPROXY") == "1":
            pytest.fail("haproxy is not installed, and LABKIT_REQUIRE_HAPROXY=1 says this test must run")
        pytest.skip(reason="haproxy is not installed (apt-get install haproxy; LABKIT_REQUIRE_HAPROXY=1 makes "
                           "this a failure)")
    return binary


def _flag(argv: list[str] | tuple[str, ...], flag: str) -> str:
    argv = list(argv)
    return argv[argv.index(flag) + 1]


def test_one_apiserver_is_the_lab_as_before_without_haproxy(tmp_path: Path) -> None:
    specs = {spec.name: spec for spec in control_plane(_ctx(tmp_path, apiservers=1))}
    assert "haproxy" not in specs and "apiserver-1" not in specs
    assert _flag(specs["apiserver"].argv, "--secure-port") == "6443"
    assert specs["scheduler"].depends_on == ("apiserver",)


def test_two_apiservers_listen_on_loopback_ports_of_their_own_behind_haproxy_on_the_lab_port(tmp_path: Path) -> None:
    _require_haproxy()  # the spec names its binary
    home = LabHome(tmp_path)
    specs = {spec.name: spec for spec in control_plane(_ctx(tmp_path, apiservers=2, bind_address="0.0.0.0"))}
    assert "apiserver" not in specs
    ports = {int(_flag(specs[name].argv, "--secure-port")) for name in ("apiserver-1", "apiserver-2")}
    assert len(ports) == 2 and 6443 not in ports
    for name in ("apiserver-1", "apiserver-2"):
        assert _flag(specs[name].argv, "--bind-address") == "127.0.0.1"  # only HAProxy faces the room
        assert _flag(specs[name].argv, "--advertise-port") == "6443"  # both name the port clients use
    proxy = specs["haproxy"]
    assert proxy.address == "127.0.0.1:6443" and set(proxy.depends_on) == {"apiserver-1", "apiserver-2"}
    for name in ("relay", "scheduler", "controller-manager", "node-1", "proxy", "dns"):
        assert "apiserver" not in specs[name].depends_on
    assert all(specs[name].depends_on == ("haproxy",) for name in ("scheduler", "controller-manager", "node-1"))
    config = haproxy.config_file(home).read_text()
    assert "bind 0.0.0.0:6443" in config and "mode tcp" in config
    assert "option httpchk GET /readyz" in config and f"ca-file {home.ca_cert}" in config
    for port in ports:
        assert f"127.0.0.1:{port}" in config


@pytest.mark.parametrize("bind_address", ["127.0.0.1", "0.0.0.0"])
def test_on_docker_haproxy_also_listens_on_the_bridge_gateway_that_every_apiserver_advertises(
        tmp_path: Path, bind_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _require_haproxy()  # the spec names its binary
    # The plan, whatever this machine's interfaces: the bind itself is proven by
    # tests/reliability/ha/test_pods_through_haproxy.py.
    monkeypatch.setattr(up, "is_local_address", lambda address: address == "172.17.0.1")
    ctx = LabContext(home=LabHome(tmp_path), database_url="postgresql://x/y", redis_url="redis://x",
                     apiserver_port=6443, nodes=1, runtime="docker", apiservers=2, bind_address=bind_address,
                     bridge=DockerBridge("172.17.0.0/16", "172.17.0.1"), cluster_dns="")
    specs = {spec.name: spec for spec in control_plane(ctx)}
    for name in ("apiserver-1", "apiserver-2"):
        # The `kubernetes` endpoint is HAProxy on the gateway; the API servers themselves stay on loopback.
        assert _flag(specs[name].argv, "--advertise-address") == "172.17.0.1"
        assert _flag(specs[name].argv, "--advertise-port") == "6443"
        assert "--extra-bind-address" not in specs[name].argv
    binds = [line.split()[1] for line in haproxy.config_file(LabHome(tmp_path)).read_text().splitlines()
             if line.strip().startswith("bind ")]
    # 0.0.0.0 covers the gateway already.
    assert binds == ([f"{bind_address}:6443", "172.17.0.1:6443"] if bind_address == "127.0.0.1" else ["0.0.0.0:6443"])
    assert specs["haproxy"].address == "127.0.0.1:6443"


def test_haproxy_does_not_bind_a_gateway_that_is_not_this_hosts(tmp_path: Path) -> None:
    _require_haproxy()
    # 192.0.2.1 (TEST-NET-1) is no interface's: a remote DOCKER_HOST's gateway. HAProxy would not
    # start on it; the API servers still advertise it (pods of that engine route to it).
    ctx = LabContext(home=LabHome(tmp_path), database_url="postgresql://x/y", redis_url="redis://x",
                     apiserver_port=6443, nodes=1, runtime="docker", apiservers=2,
                     bridge=DockerBridge("192.0.2.0/24", "192.0.2.1"), cluster_dns="")
    specs = {spec.name: spec for spec in control_plane(ctx)}
    assert _flag(specs["apiserver-1"].argv, "--advertise-address") == "192.0.2.1"
    assert "bind 192.0.2.1" not in haproxy.config_file(LabHome(tmp_path)).read_text()


def test_on_docker_one_apiserver_listens_on_the_bridge_gateway_itself(tmp_path: Path) -> None:
    ctx = LabContext(home=LabHome(tmp_path), database_url="postgresql://x/y", redis_url="redis://x",
                     apiserver_port=6443, nodes=1, runtime="docker",
                     bridge=DockerBridge("172.17.0.0/16", "172.17.0.1"), cluster_dns="")
    argv = {spec.name: spec for spec in control_plane(ctx)}["apiserver"].argv
    assert _flag(argv, "--extra-bind-address") == "172.17.0.1" and _flag(argv, "--advertise-address") == "172.17.0.1"


def test_render_config_is_accepted_by_haproxy(tmp_path: Path) -> None:
    binary = _require_haproxy()
    ca = tmp_path / "ca.crt"
    # haproxy -c loads the CA file: any valid certificate will do.
    from orchestrator.lab.pki import ensure_pki

    home = LabHome(tmp_path / "home")
    home.ensure()
    ensure_pki(home)
    ca.write_bytes(home.ca_cert.read_bytes())
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy.render_config(
        bind="127.0.0.1", port=6443, ca_file=ca, stats=tmp_path / "haproxy.sock", extra_binds=["172.17.0.1"],
        backends=[haproxy.Backend("apiserver-1", "127.0.0.1", 7001), haproxy.Backend("apiserver-2", "127.0.0.1", 7002)]))
    checked = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("count", [0, 6])
def test_an_apiserver_count_out_of_range_is_refused_with_the_range(count: int) -> None:
    with pytest.raises(SupervisorError, match=f"--apiservers {count}: give 1 to 5"):
        haproxy.apiserver_names(count)


def test_the_count_is_the_one_asked_else_the_one_remembered_else_one(tmp_path: Path) -> None:
    from orchestrator.lab.supervisor import Supervisor

    supervisor = Supervisor(LabHome(tmp_path))
    assert haproxy.check_count(supervisor, wanted=None, remembered=None) == 1
    if shutil.which("haproxy"):
        assert haproxy.check_count(supervisor, wanted=None, remembered=2) == 2
    assert haproxy.check_count(supervisor, wanted=1, remembered=2) == 1


def test_without_haproxy_two_apiservers_fail_before_anything_starts_saying_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.lab.supervisor import Supervisor

    monkeypatch.setattr(haproxy.shutil, "which", lambda _: None)
    monkeypatch.setattr(haproxy, "_INSTALLED_PATHS", ())
    with pytest.raises(SupervisorError, match="apt-get install haproxy"):
        haproxy.check_count(Supervisor(LabHome(tmp_path)), wanted=2, remembered=None)
