"""`labctl doctor` on this machine, as a subprocess: ready here (Docker, kubectl, the image and the
wheels are installed for the test suite), and not ready — exit 1, the kubectl row FAIL with its fix —
when PATH has no kubectl."""

from __future__ import annotations

import os
from pathlib import Path

from tests.labctl import run_labctl


def _rows(stdout: str) -> dict[str, str]:
    return {line[:26].strip(): line[26:] for line in stdout.splitlines()[1:] if line[:26].strip()}


def test_doctor_says_ready_on_a_prepared_machine(tmp_path: Path) -> None:
    result = run_labctl(tmp_path, "doctor", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout)
    for check in ("Python", "kubectl", "disk", "PostgreSQL (embedded)", "Redis (embedded)"):
        assert rows[check].split()[0] == "OK", result.stdout
    # Another lab on this (shared) machine may hold 6443: a warning, never a failure.
    assert rows["ports"].split()[0] in ("OK", "WARN"), result.stdout
    if os.environ.get("LABKIT_REQUIRE_DOCKER") == "1":
        assert rows["Docker engine"].split()[0] == "OK" and rows["image labkit/busybox:1.0"].split()[0] == "OK"
    assert result.stdout.rstrip().splitlines()[-1].startswith("ready")


def test_doctor_fails_with_the_fix_when_kubectl_is_not_on_path(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_labctl(tmp_path, "doctor", env={"PATH": str(empty)}, timeout=60)
    assert result.returncode == 1, result.stdout
    rows = _rows(result.stdout)
    assert rows["kubectl"].split()[:4] == ["FAIL", "not", "found", "on"]
    assert "install kubectl" in rows["kubectl"]
    assert "not ready: fix the FAIL rows above" in result.stdout
