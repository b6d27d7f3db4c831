"""Fixtures of the fault suite: the run's length, where its report goes, and the lab it breaks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.lab.home import LabHome
from tests.reliability.faults.lab import FaultLab

# Seconds of fault injection: ~90 in CI, 600 for the long form (docs/reliability.md).
SECONDS = float(os.environ.get("LABKIT_RELIABILITY_SECONDS", "90"))


@pytest.fixture(scope="session")
def reliability_seconds() -> float:
    if SECONDS < 10:
        pytest.fail(f"LABKIT_RELIABILITY_SECONDS={SECONDS:g}: give at least 10 seconds")
    return SECONDS


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LABKIT_RELIABILITY_ARTIFACTS, else a directory under pytest's basetemp."""
    configured = os.environ.get("LABKIT_RELIABILITY_ARTIFACTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("reliability-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def fault_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultLab]:
    lab = FaultLab(LabHome(tmp_path_factory.mktemp("faultlab")), nodes=3)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()
