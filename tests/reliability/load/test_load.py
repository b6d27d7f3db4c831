"""Mixed load at a fixed rate against the whole lab: zero errors and zero 5xx; latencies recorded.

CI form: 60 s at 10 requests/s (``LABKIT_LOAD_RATE``). Long form (docs/reliability.md):
``LABKIT_LOAD_SECONDS=600 .venv/bin/python -m pytest tests/reliability/load -q -s``.
Latency is reported (p50/p99 per verb, in ``load.json`` in the artifact directory), never
asserted: the machine is shared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.faults.client import Api
from tests.reliability.faults.lab import FaultLab
from tests.reliability.load.conftest import RATE, SECONDS
from tests.reliability.load.loadgen import LoadGenerator

NAMESPACE = "load"

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(int(SECONDS) + 360)]


async def test_mixed_load_at_a_fixed_rate_gets_no_errors(load_lab: FaultLab, load_artifact_dir: Path) -> None:
    # Generous timeouts: on a loaded machine a slow answer is a latency to report, not an error.
    api = Api(server=load_lab.server, token=load_lab.token, ca_file=load_lab.ca_file, timeout=120.0,
              connect_timeout=60.0, max_connections=200)
    try:
        created = await api.call("POST", "/api/v1/namespaces",
                                 body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        assert created.ok, created
        report = await LoadGenerator(api, namespace=NAMESPACE, rate=RATE).run(seconds=SECONDS)
    finally:
        await api.close()
    result = report.as_dict()
    text = json.dumps(result, indent=2)
    (load_artifact_dir / "load.json").write_text(text + "\n")
    print(f"\nload report ({load_artifact_dir / 'load.json'}):\n{text}")

    assert result["requests"] >= RATE * SECONDS * 0.95, "the generator sent (nearly) every request it planned"
    assert set(result["verbs"]) == {"get", "list", "create", "update", "delete", "watch"}
    assert report.server_errors == 0, json.dumps(result["verbs"], indent=2)
    assert report.errors == 0, json.dumps(result["verbs"], indent=2)
