"""Each `labctl doctor` check on inputs made to pass, warn or fail (the whole command on this machine:
tests/integration/test_labctl_doctor.py)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

from orchestrator.cli import doctor
from orchestrator.lab.home import LabHome, LabSettings


def test_python_older_than_the_required_one_fails_with_the_fix() -> None:
    assert doctor.python_version((3, 11, 0)).verdict == "OK"
    old = doctor.python_version((3, 10, 12))
    assert old.verdict == "FAIL" and "3.10.12" in old.detail and "3.11" in old.fix


def test_no_docker_engine_is_a_warning_and_the_image_is_then_not_checked() -> None:
    engine = doctor.docker_engine("connection refused")
    assert engine.verdict == "WARN" and "simulated" in engine.fix
    image = doctor.busybox_image("connection refused")
    assert image.verdict == "WARN" and "not checked" in image.detail


def _fake_kubectl(tmp_path: Path, minor: str) -> str:
    binary = tmp_path / "kubectl"
    binary.write_text(f'#!/bin/sh\necho \'{{"clientVersion": {{"major": "1", "minor": "{minor}", '
                      f'"gitVersion": "v1.{minor.rstrip("+")}.0"}}}}\'\n')
    binary.chmod(0o755)
    return str(tmp_path)


def test_kubectl_missing_fails_and_a_skewed_one_warns(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = doctor.kubectl(path=str(empty))
    assert missing.verdict == "FAIL" and missing.detail == "not found on PATH" and "install kubectl" in missing.fix
    assert doctor.kubectl(path=_fake_kubectl(tmp_path, "33+")).verdict == "OK"
    old = doctor.kubectl(path=_fake_kubectl(tmp_path, "27"))
    assert old.verdict == "WARN" and "v1.27.0" in old.detail


def test_a_port_taken_by_another_program_warns_and_free_ones_pass(tmp_path: Path) -> None:
    home = LabHome(tmp_path)
    [ok] = doctor.ports(home, is_free=lambda port: True)
    assert ok.verdict == "OK"
    [busy] = doctor.ports(home, is_free=lambda port: port != 6443)
    assert busy.verdict == "WARN" and "6443 (apiserver (default))" in busy.detail


def test_disk_space_fails_below_one_gib_and_warns_below_two(tmp_path: Path) -> None:
    home = LabHome(tmp_path / "not-yet" / "home")  # measured at the nearest existing parent

    def free(n: float) -> doctor.Finding:
        return doctor.disk(home, usage=lambda where: SimpleNamespace(free=int(n * (1 << 30))))

    assert free(0.5).verdict == "FAIL" and str(tmp_path) in free(0.5).detail
    assert free(1.5).verdict == "WARN"
    assert free(10).verdict == "OK"


def test_external_servers_need_no_embedded_binaries(tmp_path: Path) -> None:
    settings = LabSettings(home=LabHome(tmp_path), database_url="postgresql://x/y", redis_url="redis://x")
    assert [f.verdict for f in doctor.embedded_servers(settings)] == ["OK", "OK"]
    assert all("external" in f.detail for f in doctor.embedded_servers(settings))
    assert os.access(tmp_path, os.W_OK)
