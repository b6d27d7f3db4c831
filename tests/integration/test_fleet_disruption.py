"""1,000 simulated nodes against a real API server and node lifecycle controller: outages at scale.

A lab of its own (the controller sees every Node of the cluster, so nodes left by other tests
would change its zone's state), two fleet processes -- 900 nodes and 100 -- and the controller
manager running only the node lifecycle controller with short timers:

- the whole fleet frozen (SIGSTOP) past the grace period: every node Unknown, the zone in
  FullDisruption, **no pod evicted**, and every node Ready again once resumed;
- 10% of the nodes frozen (the 100-node process): the zone stays Normal and nodes are given the
  NoExecute taint -- and their pods evicted -- at the configured rate, not faster.

Timers: lease 10 s (kubelet's), grace 25 s (upstream's default is 40-50 s), 16 workers, monitor period 1 s, --pod-eviction-timeout 30 (the
default toleration; a node tainted while the outage was still spreading loses nothing before
FullDisruption lifts its taint), --node-eviction-rate 1 node/s so the rate shows in seconds.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.api.timestamps import parse_rfc3339
from orchestrator.client.rest import ApiClient
from orchestrator.lab.components import NodeAgent
from orchestrator.lab.home import LabHome
from tests.integration.controllers.conftest import ControllerManagerProcess, start_controller_manager
from tests.support.lab import Lab, start_lab

BIG, SMALL = 900, 100
GRACE = 25
EVICTION_RATE = 1.0
UNREACHABLE = "node.kubernetes.io/unreachable"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with start_lab(tmp_path_factory, "fleetlab", nodes=0, skip=("scheduler", "controller-manager")) as started:
        yield started


class Fleet:
    """One ``python -m orchestrator.nodeagent --count N`` process."""

    def __init__(self, lab: Lab, *, first: int, count: int, log: Path) -> None:
        self.first, self.count, self.log = first, count, log
        argv = NodeAgent(kubeconfig=lab.kubeconfig_for("controller-manager"), runtime="simulated", count=count,
                         name_prefix="node-", first_index=first, log_port=0, log_bind="127.0.0.1",
                         straight_to_running=True, apiserver_token_file=lab.home / "pki" / "kubelet-client.token",
                         **NodeAgent.tls_for(LabHome(lab.home), f"fleet-{first}")).argv()
        with log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    @property
    def names(self) -> set[str]:
        return {f"node-{i}" for i in range(self.first, self.first + self.count)}

    def signal(self, sig: int) -> None:
        assert self.process.poll() is None, f"the fleet exited:\n{self.log.read_text()[-3000:]}"
        self.process.send_signal(sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture(scope="module")
def namespace(lab: Lab) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    lab.kubectl("create", "namespace", name)
    return name


@pytest.fixture(scope="module")
def fleets(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Fleet]]:
    logs = tmp_path_factory.mktemp("fleets")
    big = Fleet(lab, first=1, count=BIG, log=logs / "big.log")
    small = Fleet(lab, first=BIG + 1, count=SMALL, log=logs / "small.log")
    try:
        yield big, small
    finally:
        big.stop()
        small.stop()


@pytest.fixture(scope="module")
def manager(lab: Lab, namespace: str, fleets: Any, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[ControllerManagerProcess]:
    cm = start_controller_manager(
        lab, namespace, tmp_path_factory.mktemp("cm"), "--controllers", "nodelifecycle",
        "--node-monitor-grace-period", str(GRACE), "--node-monitor-period", "1", "--pod-eviction-timeout", "30",
        "--workers", "16",
        "--node-eviction-rate", str(EVICTION_RATE))
    try:
        yield cm
    finally:
        cm.kill(signal.SIGTERM)


@pytest.fixture
async def admin(lab: Lab) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(lab.kubeconfig) as client:
        yield client


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)  # shown with -s, and in a failure's report


def _ready(node: dict[str, Any]) -> str | None:
    return next((c["status"] for c in (node.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)


def _no_execute(node: dict[str, Any]) -> bool:
    return any(t["key"] == UNREACHABLE and t["effect"] == "NoExecute" for t in node["spec"].get("taints") or [])


def _taint_added(node: dict[str, Any]) -> float:
    """When the unreachable NoExecute taint was put on `node` (its timeAdded; whole seconds)."""
    added = next(t["timeAdded"] for t in node["spec"]["taints"] if t["key"] == UNREACHABLE and t["effect"] == "NoExecute")
    return parse_rfc3339(added).timestamp()


async def _nodes(admin: ApiClient) -> dict[str, dict[str, Any]]:
    return {n["metadata"]["name"]: n for n in (await admin.list("nodes"))["items"]}


async def _wait(check: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {str(last)[:500]}")


async def _all_ready(admin: ApiClient, names: set[str], *, timeout: float) -> None:
    summary = ""

    async def check() -> Any:
        nonlocal summary
        nodes = await _nodes(admin)
        missing = [n for n in names if n not in nodes or _ready(nodes[n]) != "True" or _no_execute(nodes[n])]
        leases = {item["metadata"]["name"]: item["spec"].get("renewTime")
                  for item in (await admin.list("leases.coordination.k8s.io", namespace="kube-node-lease"))["items"]}
        summary = (f"{len(missing)} missing; registered {len(names & set(nodes))}; e.g. " + "; ".join(
            f"{n}: Ready={_ready(nodes[n])} NoExecute={_no_execute(nodes[n])} lease={leases.get(n)} "
            f"heartbeat={next((c.get('lastHeartbeatTime') for c in nodes[n]['status'].get('conditions') or [] if c['type'] == 'Ready'), None)}"
            for n in sorted(missing)[:4] if n in nodes) + f" (now {time.strftime('%H:%M:%S', time.gmtime())})")
        return True if not missing else None

    try:
        await _wait(check, timeout=timeout, what=f"{len(names)} nodes Ready without the NoExecute taint")
    except AssertionError as err:
        raise AssertionError(f"{err}: {summary}") from None


def _zone_state(cm: ControllerManagerProcess) -> str | None:
    text = httpx.get(f"http://127.0.0.1:{cm.metrics_port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith('node_collector_zone_state{') and 'zone=""' in line and line.endswith(" 1.0"):
            return line.split('state="')[1].split('"')[0]
    return None


async def _create_pods(admin: ApiClient, namespace: str, nodes: list[str], *, prefix: str,
                       tolerate_seconds: int | None = None) -> None:
    semaphore = asyncio.Semaphore(16)

    async def create(i: int, node: str) -> None:
        spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "c", "image": "labkit/busybox:1.0"}]}
        if tolerate_seconds is not None:
            spec["tolerations"] = [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": tolerate_seconds}]
        async with semaphore:
            await admin.create("pods", {"apiVersion": "v1", "kind": "Pod",
                                        "metadata": {"name": f"{prefix}-{i}"}, "spec": spec}, namespace=namespace)

    await asyncio.gather(*(create(i, n) for i, n in enumerate(nodes)))


async def _pods(admin: ApiClient, namespace: str, prefix: str) -> list[dict[str, Any]]:
    return [p for p in (await admin.list("pods", namespace=namespace))["items"] if p["metadata"]["name"].startswith(prefix)]


async def test_a_frozen_fleet_of_1000_nodes_is_full_disruption_and_nothing_is_evicted(
        admin: ApiClient, namespace: str, fleets: tuple[Fleet, Fleet], manager: ControllerManagerProcess) -> None:
    big, small = fleets
    everyone = big.names | small.names
    t0 = time.monotonic()
    await _all_ready(admin, everyone, timeout=150)
    log(f"{len(everyone)} nodes Ready in {time.monotonic() - t0:.0f}s")
    # One pod on every fifth node, without tolerations: the default (30 s here) applies.
    await _create_pods(admin, namespace, [f"node-{i}" for i in range(5, BIG + SMALL + 1, 5)], prefix="web")

    async def running() -> Any:
        pods = await _pods(admin, namespace, "web")
        return len(pods) == 200 and all((p.get("status") or {}).get("phase") == "Running" for p in pods)

    await _wait(running, timeout=60, what="200 pods Running")
    placement = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in await _pods(admin, namespace, "web")}
    assert await asyncio.to_thread(_zone_state, manager) == "Normal"

    log("200 pods Running; freezing both fleets")
    big.signal(signal.SIGSTOP)
    small.signal(signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        async def all_unknown() -> Any:
            nodes = await _nodes(admin)
            return all(_ready(nodes[n]) == "Unknown" for n in everyone)

        await _wait(all_unknown, timeout=GRACE + 120, what="every node Ready=Unknown")
        log(f"all Unknown after {time.monotonic() - frozen:.0f}s")
        await _wait(lambda: asyncio.to_thread(lambda: _zone_state(manager) == "FullDisruption"), timeout=30,
                    what="the zone in FullDisruption")
        log(f"FullDisruption after {time.monotonic() - frozen:.0f}s")

        async def tainted_no_schedule_only() -> Any:
            nodes = await _nodes(admin)
            return all(not _no_execute(nodes[n]) and any(t["key"] == UNREACHABLE and t["effect"] == "NoSchedule"
                                                         for t in nodes[n]["spec"].get("taints") or [])
                       for n in everyone)

        # NoExecute taints added while the outage spread are lifted; the NoSchedule one keeps new pods off.
        await _wait(tainted_no_schedule_only, timeout=120, what="unreachable:NoSchedule only, on every node")
        log(f"taints settled after {time.monotonic() - frozen:.0f}s")
        await asyncio.sleep(3)  # more eviction ticks and monitor passes in FullDisruption
        pods = await _pods(admin, namespace, "web")
        assert len(pods) == 200 and not [p for p in pods if p["metadata"].get("deletionTimestamp")]
    finally:
        big.signal(signal.SIGCONT)
        small.signal(signal.SIGCONT)

    await _all_ready(admin, everyone, timeout=90)
    log(f"all Ready {time.monotonic() - frozen:.0f}s after the freeze")
    await _wait(lambda: asyncio.to_thread(lambda: _zone_state(manager) == "Normal"), timeout=15, what="zone Normal")
    pods = await _pods(admin, namespace, "web")
    assert {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods} == placement
    assert not [p for p in pods if p["metadata"].get("deletionTimestamp")], "no pod was evicted"
    events = (await admin.list("events", namespace="kube-system"))["items"]
    changes = [e["message"] for e in events if e.get("reason") == "ZoneStateChanged"]
    assert any("-> FullDisruption" in m for m in changes), changes


async def test_a_ten_percent_outage_evicts_at_the_configured_rate_not_faster(
        admin: ApiClient, namespace: str, fleets: tuple[Fleet, Fleet], manager: ControllerManagerProcess) -> None:
    big, small = fleets
    await _all_ready(admin, big.names | small.names, timeout=120)
    # One pod on each node of the small fleet, gone as soon as its node has the NoExecute taint.
    await _create_pods(admin, namespace, sorted(small.names), prefix="fragile", tolerate_seconds=0)

    async def running() -> Any:
        pods = await _pods(admin, namespace, "fragile")
        return len(pods) == SMALL and all((p.get("status") or {}).get("phase") == "Running" for p in pods)

    await _wait(running, timeout=60, what=f"{SMALL} pods Running")
    small.signal(signal.SIGSTOP)
    try:
        async def first_taint() -> Any:
            return any(_no_execute(n) for n in (await _nodes(admin)).values())

        await _wait(first_taint, timeout=GRACE + 40, what="the first NoExecute taint")
        # Time runs from the first taint's timeAdded, not from when this test saw it: listing 1,000
        # nodes on a loaded machine can take seconds, in which the limiter rightly tainted more.
        first = min(_taint_added(n) for n in (await _nodes(admin)).values() if _no_execute(n))
        samples: list[tuple[float, int, int]] = []
        while time.time() - first < 20:
            # Pods first: a pod evicted before this read was evicted from a node tainted before the next.
            evicted = sum(1 for p in await _pods(admin, namespace, "fragile") if p["metadata"].get("deletionTimestamp"))
            nodes = await _nodes(admin)
            tainted = sum(1 for n in nodes.values() if _no_execute(n))
            samples.append((time.time() - first, tainted, evicted))
            await asyncio.sleep(1.0)
        assert await asyncio.to_thread(_zone_state, manager) == "Normal"  # 10% < --unhealthy-zone-threshold
        for elapsed, tainted, evicted in samples:
            # Burst 1, then 1 node/s; 2 s of slack for the sampling's own latency.
            assert tainted <= 1 + EVICTION_RATE * (elapsed + 2), samples
            assert evicted <= tainted, samples
        last_elapsed, last_tainted, last_evicted = samples[-1]
        assert last_tainted >= EVICTION_RATE * last_elapsed / 2, f"the rate was not used: {samples}"
        assert last_evicted >= 1, samples
        nodes = await _nodes(admin)
        assert all(n in small.names for n, node in nodes.items() if _no_execute(node)), "only frozen nodes"
    finally:
        small.signal(signal.SIGCONT)
    await _all_ready(admin, big.names | small.names, timeout=90)
