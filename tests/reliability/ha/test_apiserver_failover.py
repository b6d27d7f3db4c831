"""Two API servers behind HAProxy; one is killed (SIGKILL) under load.

The lab is what `labctl up --apiservers 2` starts (orchestrator/lab/haproxy.py): PostgreSQL,
Redis, the relay, ``apiserver-1`` and ``apiserver-2`` on their own ports, HAProxy on the lab's API
port in front of them, and the controller manager (a leader-elected component whose Lease
renewals go through HAProxy). The load goes through HAProxy as every client's does:

- four creators POST ConfigMaps as fast as they are answered; a create that fails in transport or
  with a 5xx is retried with the same body, and a retry answered 409 AlreadyExists is checked to be
  the creator's own object (the first attempt committed, its answer was lost);
- two watchers list, then watch from the list's resourceVersion, and after a dropped connection
  watch again from the last revision they saw (tests/reliability/faults/watchers.py).

Then the API server holding one of the watches is killed with SIGKILL. What must hold:

1. clients see at most retryable errors (transport errors, 5xx), never a 4xx other than the
   409 of a retried create that had committed;
2. every acknowledged create exists, with its body: nothing committed is lost;
3. each watcher, across its reconnects, sees every ConfigMap created after its list exactly once,
   in revision order, with no 410: the watch resumed on the other API server without a gap;
4. the supervisor's watchdog restarts the killed API server and HAProxy takes it back (its check
   marks it UP and new connections reach it);
5. the controller manager keeps its leadership: same Lease holder, never restarted;
6. the `kubernetes` Service and Endpoints name HAProxy's port and no API server rewrites them
   (each would, every 10 s, if each named its own port).

Needs Debian's haproxy; LABKIT_REQUIRE_HAPROXY=1 (set by .ci/run) turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import ssl
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil
import pytest

from orchestrator.lab import haproxy
from orchestrator.lab.embedded.ports import LOOPBACK, free_port, pid_alive
from orchestrator.lab.home import LabHome, LabSettings
from orchestrator.lab.supervisor import Supervisor
from orchestrator.lab.up import Outcome, up
from tests.labctl import run_labctl
from tests.reliability.faults.client import Api
from tests.reliability.faults.watchers import RecordingWatcher

pytestmark = pytest.mark.reliability

NAMESPACE = "ha-load"
CONFIGMAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
CREATORS = 4
APISERVERS = ("apiserver-1", "apiserver-2")


class _Quiet:
    """`up`'s progress, unshown."""

    def starting(self, name: str) -> None:
        pass

    def done(self, name: str, outcome: Outcome, detail: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass
class HaLab:
    home: LabHome
    port: int
    kubernetes_versions: tuple[str, str] | None = None  # the kubernetes Service's and Endpoints'

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.home)

    def api(self) -> Api:
        import yaml

        token = yaml.safe_load(self.home.kubeconfig.read_text())["users"][0]["user"]["token"]
        return Api(server=f"https://{LOOPBACK}:{self.port}", token=token, ca_file=str(self.home.ca_cert))

    def pid(self, name: str) -> int:
        record = self.supervisor.record(name)
        assert record is not None and record.pid is not None, f"{name} is not recorded"
        return record.pid


@pytest.fixture(scope="module")
def ha_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HaLab]:
    if shutil.which("haproxy") is None and not os.path.exists("/usr/sbin/haproxy"):
        if os.environ.get("LABKIT_REQUIRE_HAPROXY") == "1":
            pytest.fail("haproxy is not installed, and LABKIT_REQUIRE_HAPROXY=1 says this test must run")
        pytest.skip(reason="haproxy is not installed (apt-get install haproxy; LABKIT_REQUIRE_HAPROXY=1 makes "
                           "this a failure)")
    home = LabHome(tmp_path_factory.mktemp("halab"))
    lab = HaLab(home=home, port=free_port())
    try:
        up(LabSettings(home=home), nodes=0, runtime="simulated", port=lab.port, apiservers=2,
           skip=("scheduler",), progress=_Quiet())
        yield lab
    finally:
        lab.supervisor.stop_all(timeout=10.0)


@dataclass
class Creators:
    """ConfigMap creators that retry what may be retried and remember what was acknowledged."""

    api: Api
    acknowledged: dict[str, str] = field(default_factory=dict)  # name -> the token in its data
    retryable: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    async def run(self, worker: int, stop: asyncio.Event) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            name, token = f"cm-{worker}-{i}", uuid.uuid4().hex
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"token": token}}
            retried = False
            while True:
                answer = await self.api.call("POST", CONFIGMAPS, body=body)
                if answer.ok:
                    self.acknowledged[name] = token
                    break
                if answer.outcome in ("refused", "ambiguous"):
                    self.retryable[answer.error.split(":")[0]] += 1
                    retried = True
                    await asyncio.sleep(0.05)
                    continue
                if answer.status == 409 and retried:
                    # The lost answer's create had committed; it must be ours, not someone else's.
                    got = await self.api.call("GET", f"{CONFIGMAPS}/{name}")
                    if got.ok and got.body["data"] == {"token": token}:
                        self.acknowledged[name] = token
                    else:
                        self.problems.append(f"{name}: 409 on retry, but the stored object is {got.body}")
                    break
                self.problems.append(f"{name}: non-retryable {answer.status}: {answer.body}")
                break


def _watch_servers(lab: HaLab) -> Counter[str]:
    """Which API servers this process's open connections through HAProxy reach (``show sess``)."""
    mine = {c.laddr.port for c in psutil.Process().net_connections(kind="tcp")
            if c.raddr and c.raddr.port == lab.port and c.status == psutil.CONN_ESTABLISHED}
    found: Counter[str] = Counter()
    for line in haproxy.stats_command(lab.home, "show sess").splitlines():
        match = re.search(r"src=[^ ]*:(\d+) .*srv=(\S+)", line)
        if match and int(match.group(1)) in mine:
            found[match.group(2)] += 1
    return found


async def _until(predicate: object, *, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - t0 < timeout, f"timed out after {timeout:.0f}s waiting until {what}"
        await asyncio.sleep(0.2)
    return time.monotonic() - t0


async def _lease_holder(api: Api, *, timeout: float = 30.0) -> str:
    """The controller manager's leader (waiting for its first election, just after `up`)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await api.call("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager")
        holder = (answer.body.get("spec") or {}).get("holderIdentity") if answer.ok else None
        if holder:
            return str(holder)
        assert time.monotonic() < deadline, f"the controller manager holds no Lease: {answer}"
        await asyncio.sleep(0.2)


def test_status_shows_both_apiservers_and_haproxy_and_the_kubeconfig_names_haproxy(ha_lab: HaLab) -> None:
    import yaml

    rows = {row.name: row for row in ha_lab.supervisor.status()}
    for name in (*APISERVERS, "haproxy"):
        assert rows[name].state == "healthy", rows[name]
    assert rows["haproxy"].address == f"{LOOPBACK}:{ha_lab.port}"
    server = yaml.safe_load(ha_lab.home.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    assert server == f"https://{LOOPBACK}:{ha_lab.port}"
    shown = run_labctl(ha_lab.home.root, "status")
    assert shown.returncode == 0, shown.stderr
    for name in (*APISERVERS, "haproxy"):
        assert re.search(rf"^{name}\s+healthy", shown.stdout, re.M), shown.stdout
    assert "haproxy balances over: apiserver-1 UP, apiserver-2 UP" in shown.stdout
    # The lab remembers the count: a second `up` without --apiservers starts nothing new.
    result = up(LabSettings(home=ha_lab.home), nodes=0, runtime="simulated", skip=("scheduler",), progress=_Quiet())
    assert result.started == [] and {*APISERVERS, "haproxy"} <= set(result.already_running)


def test_both_apiservers_name_haproxys_port_in_the_kubernetes_service(ha_lab: HaLab) -> None:
    """Each API server reconciles the `kubernetes` Service every 10 s; with --advertise-port both
    write the port clients use (HAProxy's), so they agree instead of overwriting each other."""
    import httpx
    import yaml

    token = yaml.safe_load(ha_lab.home.kubeconfig.read_text())["users"][0]["user"]["token"]
    with httpx.Client(base_url=f"https://{LOOPBACK}:{ha_lab.port}", verify=ssl.create_default_context(cafile=str(ha_lab.home.ca_cert)),
                      headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        service = client.get("/api/v1/namespaces/default/services/kubernetes").json()
        assert service["spec"]["ports"][0]["targetPort"] == ha_lab.port
        endpoints = client.get("/api/v1/namespaces/default/endpoints/kubernetes").json()
        for subset in endpoints.get("subsets") or []:  # none on a host with no route beyond loopback
            assert [p["port"] for p in subset["ports"]] == [ha_lab.port]
    # Checked again after the failover: a rewrite by any API server (the restarted one reconciles
    # at its start) would show as a newer resourceVersion.
    ha_lab.kubernetes_versions = (service["metadata"]["resourceVersion"], endpoints["metadata"]["resourceVersion"])


async def test_killing_one_apiserver_under_load_loses_nothing_and_watches_resume(ha_lab: HaLab) -> None:
    lab = ha_lab
    api = lab.api()
    watcher_apis = [lab.api() for _ in range(2)]
    try:
        assert (await api.call("POST", "/api/v1/namespaces", body={
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})).ok
        await _until(lambda: all(s.up for s in haproxy.backend_servers(lab.home).values()),
                     timeout=30, what="HAProxy finds both API servers UP")
        holder = await _lease_holder(api)
        # Closed before the watchers start, so that our only open connections are the watches.
        await api.close()

        stop_watch, stop_load = asyncio.Event(), asyncio.Event()
        watchers = [RecordingWatcher(w, name=f"watcher-{i}", path=CONFIGMAPS) for i, w in enumerate(watcher_apis)]
        watch_tasks = [asyncio.create_task(w.run(stop_watch), name=w.name) for w in watchers]
        await _until(lambda: all(w.counts["watches"] >= 1 for w in watchers), timeout=30, what="both watchers watch")
        # The victim is an API server that holds one of our watches (nothing else of ours is open yet).
        serving = _watch_servers(lab)
        assert serving, "found no watch connection of this test in HAProxy's sessions"
        victim = serving.most_common(1)[0][0]
        assert victim in APISERVERS, serving

        api = lab.api()
        creators = Creators(api)
        load = [asyncio.create_task(creators.run(i, stop_load), name=f"creator-{i}") for i in range(CREATORS)]
        await _until(lambda: len(creators.acknowledged) >= 40, timeout=30, what="the load is under way")

        old_pid = lab.pid(victim)
        before = len(creators.acknowledged)
        os.killpg(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        await _until(lambda: not pid_alive(old_pid), timeout=10, what=f"{victim} is dead")

        def restarted() -> bool:
            record = lab.supervisor.record(victim)
            return record is not None and record.pid != old_pid and record.pid is not None and pid_alive(record.pid)

        await _until(restarted, timeout=60, what=f"the watchdog restarts {victim}")
        await _until(lambda: haproxy.backend_servers(lab.home)[victim].up, timeout=60,
                     what=f"HAProxy takes {victim} back")
        back_in = time.monotonic() - killed_at
        # The load's kept-alive connections stay where they are; new connections are balanced again.
        sessions = haproxy.backend_servers(lab.home)[victim].sessions_total
        for _ in range(4):
            fresh = lab.api()
            assert (await fresh.call("GET", f"{CONFIGMAPS}?limit=1")).ok
            await fresh.close()
        assert haproxy.backend_servers(lab.home)[victim].sessions_total >= sessions + 2, \
            f"HAProxy sent none of 4 new connections to {victim}"
        stop_load.set()
        await asyncio.gather(*load)

        final = await api.call("GET", CONFIGMAPS)
        assert final.ok, final
        final_rv = int(final.body["metadata"]["resourceVersion"])
        stored = {item["metadata"]["name"]: item for item in final.body["items"]}
        await _until(lambda: all(w.last_revision >= final_rv for w in watchers), timeout=30,
                     what=f"the watchers reach revision {final_rv}")
        stop_watch.set()
        await asyncio.gather(*watch_tasks)

        # 1. At most retryable errors, each retried.
        assert not creators.problems, creators.problems[:5]
        # 2. Nothing acknowledged is lost.
        lost = [n for n, token in creators.acknowledged.items()
                if n not in stored or stored[n]["data"] != {"token": token}]
        assert not lost, f"{len(lost)} acknowledged creates are missing or changed: {lost[:5]}"
        assert len(creators.acknowledged) > before, "no create was acknowledged after the kill"
        # 3. Every watcher: one segment (no 410), every create after its list exactly once, in order.
        for w in watchers:
            assert not w.problems, w.problems
            assert len(w.segments) == 1, f"{w.name} had to relist: {w.counts}"
            seg = w.segments[0]
            revisions = [e.revision for e in seg.events]
            assert revisions == sorted(set(revisions)), f"{w.name}: a revision repeated or went back"
            assert all(e.type == "ADDED" for e in seg.events), Counter(e.type for e in seg.events)
            expected = {(n, int(o["metadata"]["resourceVersion"])) for n, o in stored.items()
                        if int(o["metadata"]["resourceVersion"]) > seg.list_revision}
            seen = {(e.name, e.revision) for e in seg.events}
            assert seen == expected, (f"{w.name}: missed {sorted(expected - seen)[:5]}, "
                                      f"unexpected {sorted(seen - expected)[:5]}")
        resumed = sum(w.counts["watches"] - 1 + sum(v for k, v in w.counts.items() if k.startswith("reconnect"))
                      for w in watchers)
        assert resumed >= 1, [w.counts for w in watchers]
        # 4. Restarted by the watchdog, taken back by HAProxy (both checked above).
        record = lab.supervisor.record(victim)
        assert record is not None and record.restarts >= 1
        # 5. The controller manager kept its Lease through the failover.
        assert await _lease_holder(api) == holder
        # 6. Nobody rewrote the kubernetes Service or its Endpoints: the API servers agree on them.
        if lab.kubernetes_versions is not None:
            service = await api.call("GET", "/api/v1/namespaces/default/services/kubernetes")
            endpoints = await api.call("GET", "/api/v1/namespaces/default/endpoints/kubernetes")
            assert (service.body["metadata"]["resourceVersion"], endpoints.body["metadata"]["resourceVersion"]) \
                == lab.kubernetes_versions
        cm = lab.supervisor.record("controller-manager")
        assert cm is not None and cm.restarts == 0 and lab.supervisor.alive(cm)
        print(f"\nkilled {victim} under load: {len(creators.acknowledged)} creates acknowledged, "
              f"retryable errors {dict(creators.retryable)}, back in HAProxy after {back_in:.1f}s, "
              f"watchers {[dict(w.counts) for w in watchers]}")
    finally:
        await api.close()
        for w in watcher_apis:
            await w.close()


def test_down_stops_both_apiservers_and_haproxy(ha_lab: HaLab) -> None:
    from orchestrator.lab.down import down
    from orchestrator.lab.embedded.ports import port_is_free

    pids = {name: ha_lab.pid(name) for name in (*APISERVERS, "haproxy")}
    result = down(LabSettings(home=ha_lab.home))
    assert {*APISERVERS, "haproxy"} <= set(result.stopped)
    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    assert port_is_free(ha_lab.port)
    assert not ha_lab.supervisor.strays()
