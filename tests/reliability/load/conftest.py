"""The load suite's lab: the whole control plane and two simulated nodes, no standbys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.lab.home import LabHome
from tests.reliability.faults.lab import FaultLab

SECONDS = float(os.environ.get("LABKIT_LOAD_SECONDS", "60"))  # 600 for the long form
# Requests per second. 10, not more, by default: CI runs on two shared cores, and an open-loop
# rate above what the machine serves only measures the queue (docs/reliability.md).
RATE = float(os.environ.get("LABKIT_LOAD_RATE", "10"))


@pytest.fixture(scope="module")
def load_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultLab]:
    lab = FaultLab(LabHome(tmp_path_factory.mktemp("loadlab")), nodes=2, standbys=False)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def load_artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("LABKIT_RELIABILITY_ARTIFACTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("load-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path
