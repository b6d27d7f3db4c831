"""A lab home of its own for each labctl command test (LABKIT_HOME points at it; nothing in it yet)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.lab.home import LabHome


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabHome:
    home = LabHome(tmp_path / "lab")
    monkeypatch.setenv("LABKIT_HOME", str(home.root))
    return home
