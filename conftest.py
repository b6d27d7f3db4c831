"""How `make test` shares the suite between two pytest-xdist workers, and what it keeps apart.

`make test` runs two pytests: ``-n 2 --dist loadgroup -m "not serial"`` first, then ``-m serial``
alone. A plain ``pytest`` still runs everything in one process, in collection order.

- Every test module is one unit of work for xdist (its ``xdist_group`` is its path), so a
  module-scoped lab starts once, on one worker, as it does in a plain run.
- Everything that starts a lab with `labs.start` -- the notebooks, their re-run and browser tests,
  the labs' own tests, `labctl doctor`'s port check -- is one unit, run first: `labs.start` takes
  port 6443 when it is free, and two labs starting at the same moment would both see it free.
- ``serial`` tests run after the others, alone: 1,000-node fleets, kill -9 under load, the network
  partitions and the API-server failover load the 2 cores themselves or judge grace periods and
  rates by the clock, which a neighbour on the other worker would skew.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parent

_LABS_GROUP = "labs-start"
_LABS = ("notebooks/", "tests/integration/test_notebook_", "tests/integration/test_jupyterlab_smoke.py",
         "tests/integration/test_labs_", "tests/integration/test_labctl_doctor.py")
_SERIAL = ("tests/integration/test_fleet_disruption.py", "tests/integration/test_labctl_fleets.py",
           "tests/integration/nodeagent/test_fleet.py", "tests/reliability/faults/", "tests/reliability/load/",
           "tests/reliability/multihost/", "tests/reliability/ha/")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "serial: run alone after the parallel part of `make test` (conftest.py)")


@pytest.hookimpl(tryfirst=True)  # before the mark plugin deselects and before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath)).resolve()
        relative = path.relative_to(_ROOT).as_posix() if _ROOT in path.parents else path.as_posix()
        if relative.startswith(_SERIAL):
            item.add_marker(pytest.mark.serial)
        group = _LABS_GROUP if relative.startswith(_LABS) else relative
        item.add_marker(pytest.mark.xdist_group(group))
    # The biggest unit first, so the other worker is not left idle at the end waiting for it.
    items.sort(key=lambda item: 0 if any(m.args == (_LABS_GROUP,) for m in item.iter_markers("xdist_group")) else 1)
