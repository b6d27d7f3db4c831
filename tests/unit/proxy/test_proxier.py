"""The proxier's syncs against a recording iptables: full first, partial after, full again after a failure,
stale chains of its own prefix removed, other chains never named (orchestrator/proxy/proxier.py)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.client.informer import Informer
from orchestrator.proxy.iptables import IptablesError
from orchestrator.proxy.proxier import ENDPOINTSLICES, SERVICES, Proxier
from orchestrator.proxy.rules import chain_prefix
from tests.unit.proxy.fixtures import endpoint, endpoint_slice, service

P = chain_prefix("aabbcc00")

# What iptables-save shows after a proxy of this lab was killed: a stale service chain, the
# hooks, and a chain of another lab and of Docker, which must never be named.
KILLED = f"""*nat
:PREROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:{P}SERVICES - [0:0]
:{P}SVC-STALESTALE - [0:0]
:LABKIT-DDEEFF-SERVICES - [0:0]
-A PREROUTING -m comment --comment "labkit service portals" -j {P}SERVICES
-A PREROUTING -j LABKIT-DDEEFF-SERVICES
-A {P}SERVICES -d 10.96.0.99/32 -j {P}SVC-STALESTALE
COMMIT
*filter
:INPUT ACCEPT [0:0]
COMMIT
"""


class RecordingIptables:
    dry_run = False

    def __init__(self, saved: str) -> None:
        self.saved = saved
        self.restored: list[str] = []
        self.fail_next = False

    async def save(self) -> str:
        return self.saved

    async def restore(self, text: str) -> None:
        if self.fail_next:
            self.fail_next = False
            raise IptablesError("iptables-restore exited with 1: line 3 failed")
        self.restored.append(text)


def informer(resource: Any, objects: list[dict[str, Any]]) -> Informer:
    inf = Informer(None, resource)  # type: ignore[arg-type]  # never lists: filled below
    inf._replace(objects)  # what a LIST does
    return inf


def proxier_with(runner: RecordingIptables, services: list[dict], slices: list[dict]) -> Proxier:
    proxier = Proxier(runner=runner, prefix=P, cluster_cidr="172.17.0.0/16")
    proxier.services = informer(SERVICES, services)
    proxier.slices = informer(ENDPOINTSLICES, slices)
    proxier.slices.add_indexer("service", lambda s: f"{s['metadata']['namespace']}/"
                                                    f"{s['metadata']['labels']['kubernetes.io/service-name']}")
    return proxier


async def test_first_sync_is_full_and_removes_stale_chains_of_its_own_prefix_only() -> None:
    runner = RecordingIptables(KILLED)
    proxier = proxier_with(runner, [service("web")], [endpoint_slice("web", [endpoint("172.17.0.2")])])
    await proxier.sync()
    (text,) = runner.restored
    assert f"-X {P}SVC-STALESTALE" in text
    assert "LABKIT-DDEEFF" not in text and "DOCKER" not in text
    # The PREROUTING hook exists already; the others are added.
    assert "-I PREROUTING" not in text and f"-I OUTPUT 1 -m comment --comment \"labkit service portals\" -j {P}SERVICES" in text
    assert proxier.status.full_syncs == 1 and proxier.status.rules > 0


async def test_later_syncs_write_only_what_changed_and_a_failure_makes_the_next_full() -> None:
    runner = RecordingIptables("")
    slices = [endpoint_slice("web", [endpoint("172.17.0.2"), endpoint("172.17.0.3")])]
    proxier = proxier_with(runner, [service("web")], slices)
    await proxier.sync()
    await proxier.sync()
    assert runner.restored[1] == ""  # nothing changed: nothing written
    proxier.slices._replace([{**slices[0], "metadata": {**slices[0]["metadata"], "resourceVersion": "2"},
                              "endpoints": [endpoint("172.17.0.2")]}])
    runner.fail_next = True
    await proxier.sync()
    assert proxier.status.failures == 1 and "line 3 failed" in proxier.status.last_error
    await proxier.sync()
    assert proxier.status.full_syncs == 2 and proxier.status.last_error is None
    assert "--to-destination 172.17.0.3" not in runner.restored[-1]


async def test_dry_run_writes_the_rules_file_and_says_so(tmp_path) -> None:
    from orchestrator.proxy.iptables import DryRunIptables

    proxier = Proxier(runner=DryRunIptables(), prefix=P, cluster_cidr=None, rules_file=tmp_path / "rules.txt")
    proxier.services = informer(SERVICES, [service("web")])
    proxier.slices = informer(ENDPOINTSLICES, [])
    proxier.slices.add_indexer("service", lambda s: None)
    await proxier.sync()
    text = (tmp_path / "rules.txt").read_text()
    assert text.startswith("# labkit proxy") and "DRY RUN" in text
    assert '"default/web:http has no endpoints"' in text and proxier.status.mode == "dry-run"


@pytest.mark.parametrize("saved", [KILLED, ""])
async def test_cleanup_removes_hooks_and_chains_of_its_prefix(saved: str) -> None:
    runner = RecordingIptables(saved)
    proxier = proxier_with(runner, [], [])
    await proxier.cleanup()
    text = "".join(runner.restored)
    if saved:
        assert f"-D PREROUTING -m comment --comment \"labkit service portals\" -j {P}SERVICES" in text
        assert f"-X {P}SERVICES" in text and f"-X {P}SVC-STALESTALE" in text
        assert "DDEEFF" not in text
    else:
        assert text == ""
