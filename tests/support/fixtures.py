"""The lab fixtures, registered once for the whole test tree by tests/conftest.py
(``pytest_plugins``): one session `lab` for every directory that does not define its own, an admin
httpx client `api`, and a fresh `namespace` per test.

A fixture imported into a conftest or test module is registered again there, and pytest then keeps
a separate session-scoped instance for it: importing `lab` is how the integration directories used
to end up with one idle lab each. Here it is defined once; a directory that needs a lab of its own
overrides `lab` in its conftest (see tests/integration/controllers/conftest.py), and `api` and
`namespace` then follow that lab.

Kubernetes equivalent: test/integration/framework/ (StartTestServer, CreateNamespaceOrDie)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.lab import Lab, start_lab


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with start_lab(tmp_path_factory) as started:
        yield started


@pytest.fixture
async def api(lab: Lab) -> AsyncIterator[httpx.AsyncClient]:
    async with lab.client() as client:
        yield client


@pytest.fixture
async def namespace(lab: Lab, api: httpx.AsyncClient) -> AsyncIterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    r = await api.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert r.status_code == 201, r.text
    yield name
