"""Benchmark: the API server under load, beside the store's own write rate, on a `labctl up` lab.

Issue 3's measurements, all in one run against one lab (embedded PostgreSQL 16 + Redis, the API
server over HTTPS as `labctl up` starts it: uvicorn with uvloop and httptools, one process; the relay runs as its own process):

a) store baseline: ``Store.create`` of the same pods (as the API would store them) straight on
   the lab's PostgreSQL, ``--clients`` concurrent writers, into a namespace of its own. The
   ceiling the API server's creates are compared with.
b) API creates/s: ``--clients`` connections (HTTP/1.1 keep-alive, TLS verified with the lab CA,
   the admin bearer token) POSTing ~700-byte pods for ``--seconds``; creates/s, the ratio to (a),
   p50/p99 latency. ``--loadgen raw`` (the default) drives them with bench/loadgen.py (asyncio
   protocols + httptools, ~10x less client CPU per request than httpx); ``--loadgen httpx`` with
   httpx.AsyncClient, as every figure before session 12 was taken.
c) GET p50/p99 of single pods (those (b) created) from ``--clients`` connections.
d) LIST of ``--list-size`` pods in one namespace (written through the store first, to save
   time), as plain JSON and as the Table kubectl asks for; median wall time of ``--lists`` LISTs.
e) watch delivery: ``--watchers`` watch connections (``?watch=true&resourceVersion=<list RV>``)
   on one namespace, one writer POSTing pods at ``--rate``/s; for every watcher and event, the
   time from the writer's POST returning to the event line arriving; p50/p99 over all.

Each of (a)–(e) runs ``--repeat`` times, interleaved, and medians are reported. The CPU each
process used during each measurement (API server, PostgreSQL, Redis, this load generator) is
recorded too: on a 2-core machine they all share the same two cores, so "who was busy" says as
much as the rates. The load generator is one Python process (uvloop), like a real client would be.

With ``--profile``, one more create load runs under py-spy (``py-spy record --format raw``;
open the file in https://speedscope.app) and the hottest functions of the API server are
printed (self and inclusive share of its non-idle samples).

Usage (from the repository root):

    .venv/bin/python bench/apiserver.py [--clients 32] [--seconds 10] [--repeat 3] [--watchers 100] [--profile]

Results are printed as a table and written to bench/results/apiserver-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import csv
import json
import os
import platform
import random
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
import psutil
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import RawClient  # noqa: E402
from orchestrator.api.resources import by_group_resource  # noqa: E402
from orchestrator.apiserver.registry import strategy_for  # noqa: E402
from orchestrator.apiserver.registry.rest import prepare_create  # noqa: E402
from orchestrator.lab.embedded.postgres import database_url  # noqa: E402
from orchestrator.storage.store import JSON_SEPARATORS, Store  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REQUEST_BYTES = 700
# What `kubectl get pods` sends (k8s.io/kubectl/pkg/cmd/get: the Table kinds, then plain JSON).
KUBECTL_TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                        "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
# Issue 18's targets on a 2-core machine (issue 3's were 1,000 creates/s, LIST < 1 s, watch p99 < 50 ms).
TARGETS = {"creates_per_s": 1500.0, "create_server_cpu_ms": 0.5, "get_p99_ms": 20.0, "list_s": 0.3,
           "watch_p99_ms": 10.0}


# -- pods -------------------------------------------------------------------------------------------


def pod_template(namespace: str) -> dict[str, Any]:
    """A small pod whose POST body is ~700 bytes (the padding annotation makes up the rest)."""
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "NAME",
            "namespace": namespace,
            "labels": {"app": "bench", "tier": "backend", "pod-template-hash": "7d4b9c8f6"},
            "annotations": {},
        },
        "spec": {
            "containers": [{
                "name": "main",
                "image": "registry.example.com/bench/app:1.2.3",
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            }],
            "restartPolicy": "Always",
        },
    }
    # names are up to ~16 characters; pad for a typical one
    pad = REQUEST_BYTES - len(json.dumps(pod, separators=JSON_SEPARATORS).replace("NAME", "c12-w31-00123"))
    pod["metadata"]["annotations"]["bench/padding"] = "x" * max(pad - len('"bench/padding":""'), 0)
    return pod


class PodBodies:
    """POST bodies made by string substitution: the load generator should spend its CPU on HTTP."""

    def __init__(self, namespace: str) -> None:
        self._head, self._tail = json.dumps(pod_template(namespace), separators=JSON_SEPARATORS).split('"NAME"')

    def body(self, name: str) -> bytes:
        return f'{self._head}"{name}"{self._tail}'.encode()


def stored_template(namespace: str) -> dict[str, Any]:
    """The pod as the API server would store it (defaults applied), without its uid and timestamp,
    so that the store baseline and the LIST namespace hold the same documents as API creates do."""
    info = by_group_resource("pods")
    pod = pod_template(namespace)
    pod["metadata"]["name"] = "template"
    obj = prepare_create(strategy_for(info), pod, namespace=namespace, field_validation=None).obj
    for key in ("uid", "creationTimestamp", "name"):
        obj["metadata"].pop(key, None)
    return obj


def named(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(template, metadata=dict(template["metadata"], name=name))


# -- the lab ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lab:
    home: Path
    server: str
    ca_file: Path
    token: str
    database_url: str
    pids: dict[str, int]

    def client(self, *, timeout: float | None = 60.0) -> httpx.AsyncClient:
        # one connection per client: "32 clients" means 32 keep-alive connections
        return httpx.AsyncClient(
            base_url=self.server,
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    def load_client(self, kind: str) -> LoadClient:
        """One connection of the create/GET load, driven by `kind` ("raw" or "httpx")."""
        if kind == "raw":
            return RawClient(self.server, headers={"Authorization": f"Bearer {self.token}"},
                             ssl_context=ssl.create_default_context(cafile=str(self.ca_file)))
        return HttpxLoadClient(self.client())


class LoadClient(Protocol):
    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]: ...
    async def aclose(self) -> None: ...


class HttpxLoadClient:
    """httpx.AsyncClient behind RawClient's interface: the load generator every figure before
    session 12 used, kept to compare (``--loadgen httpx``)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body else None
        r = await self._client.request(method, path, content=body or None, headers=headers)
        return r.status_code, r.content

    async def aclose(self) -> None:
        await self._client.aclose()


def _labctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LABKIT_HOME=str(home))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    """`labctl up` in a temporary lab home; `labctl down` and removal always, whatever happened."""
    home = Path(tempfile.mkdtemp(prefix="labkit-bench-api-"))
    try:
        # only what the API server needs: a scheduler or node agent would work on the benchmark's pods
        up = _labctl(home, "up", "--skip", "scheduler", "--skip", "controller-manager", "--skip", "nodes")
        if up.returncode != 0:
            raise SystemExit(f"labctl up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        state = json.loads((home / "run" / "state.json").read_text())
        ports = state["lab"]["ports"]
        pids = {c["name"]: c["pid"] for c in state["components"] if c.get("pid")}
        tokens = {row[1]: row[0] for row in csv.reader((home / "tokens.csv").read_text().splitlines()) if row}
        yield Lab(home=home, server=f"https://127.0.0.1:{ports['apiserver']}", ca_file=home / "pki" / "ca.crt",
                  token=tokens["admin"], database_url=database_url(ports["postgres"]),
                  pids=pids)
    finally:
        down = _labctl(home, "down")
        if down.returncode != 0:
            print(f"labctl down failed ({down.returncode}); the lab home is kept at {home}:\n{down.stdout}\n{down.stderr}",
                  file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


class CpuMeter:
    """CPU seconds used by the lab's processes (and this one) between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._procs: dict[str, psutil.Process] = {}
        for name in ("apiserver", "postgres", "redis"):
            with contextlib.suppress(KeyError, psutil.Error):
                self._procs[name] = psutil.Process(pids[name])
        self._procs["loadgen"] = psutil.Process()
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    def _cpu(self, name: str, proc: psutil.Process) -> float:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            if name != "postgres":
                return t.user + t.system
            # PostgreSQL works in one backend process per connection: the live ones, plus those
            # that exited (the postmaster's children_* times), so connection churn is counted
            total = t.user + t.system + t.children_user + t.children_system
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    c = child.cpu_times()
                    total += c.user + c.system
            return total
        return 0.0

    @staticmethod
    def _machine() -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._start = {n: self._cpu(n, p) for n, p in self._procs.items()}
        self._start["machine"] = self._machine()

    def stop(self) -> dict[str, float]:
        """Cores used on average by each process over the interval (1.0 = one core busy), and by
        everything else on the machine ("others": the noisy neighbours)."""
        elapsed = time.perf_counter() - self._t0
        used = {n: (self._cpu(n, p) - self._start.get(n, 0.0)) / elapsed for n, p in self._procs.items()}
        used["others"] = max((self._machine() - self._start["machine"]) / elapsed - sum(used.values()), 0.0)
        return {n: round(max(v, 0.0), 2) for n, v in used.items()}


# -- measurements -----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {"p50_ms": round(percentile(ms, 50), 2), "p99_ms": round(percentile(ms, 99), 2),
            "max_ms": round(ms[-1], 2) if ms else float("nan")}


async def ensure_namespace(client: httpx.AsyncClient, name: str) -> None:
    r = await client.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": name}})
    if r.status_code not in (201, 409):
        raise RuntimeError(f"creating namespace {name}: {r.status_code} {r.text}")


async def warm(clients: list[LoadClient]) -> None:
    """One cheap request per client before timing: uvicorn closes keep-alive connections idle for
    5 s, and a request on a connection the server just closed fails instead of being timed."""
    await asyncio.gather(*(c.request("GET", "/livez") for c in clients))


async def measure_store(store: Store, cpu: CpuMeter, *, namespace: str, prefix: str, writers: int,
                        seconds: float) -> dict[str, Any]:
    """(a) Store.create from concurrent tasks, on the lab's PostgreSQL."""
    template = stored_template(namespace)
    count = 0

    async def writer(i: int, deadline: float) -> None:
        nonlocal count
        n = 0
        while time.perf_counter() < deadline:
            await store.create("pods", named(template, f"{prefix}-w{i}-{n}"))
            n += 1
        count += n

    batches0, writes0 = store.batches_committed, store.writes_committed
    cpu.start()
    start = time.perf_counter()
    await asyncio.gather(*(writer(i, start + seconds) for i in range(writers)))
    elapsed = time.perf_counter() - start
    cores = cpu.stop()
    batches = store.batches_committed - batches0
    return {"writes_per_s": round(count / elapsed, 1), "writes": count,
            "avg_batch": round((store.writes_committed - writes0) / max(batches, 1), 1), "cpu_cores": cores}


async def measure_creates(clients: list[LoadClient], cpu: CpuMeter, *, namespace: str, prefix: str,
                          seconds: float) -> tuple[dict[str, Any], list[str]]:
    """(b) POST pods from every client for `seconds`; returns the figures and the created names."""
    bodies = PodBodies(namespace)
    path = f"/api/v1/namespaces/{namespace}/pods"
    latencies: list[float] = []
    names: list[str] = []
    errors: collections.Counter[int] = collections.Counter()
    stored_bytes = 0
    await warm(clients)

    async def creator(i: int, client: LoadClient, deadline: float) -> None:
        nonlocal stored_bytes
        n = 0
        while time.perf_counter() < deadline:
            name = f"{prefix}-w{i}-{n}"
            n += 1
            t0 = time.perf_counter()
            status, answer = await client.request("POST", path, bodies.body(name))
            t1 = time.perf_counter()
            if status == 201:
                latencies.append(t1 - t0)
                names.append(name)
                stored_bytes = len(answer)
            else:
                errors[status] += 1

    cpu.start()
    start = time.perf_counter()
    await asyncio.gather(*(creator(i, c, start + seconds) for i, c in enumerate(clients)))
    elapsed = time.perf_counter() - start
    cores = cpu.stop()
    rate = len(latencies) / elapsed
    result = {"creates_per_s": round(rate, 1), "creates": len(latencies),
              # CPU the API server spent per create: much less sensitive to noisy neighbours than the rate
              "server_cpu_ms_per_op": round(cores["apiserver"] * 1000 / max(rate, 1e-9), 2),
              **latency_summary(latencies), "errors": dict(errors), "request_bytes": len(bodies.body(names[0] if names else "x")),
              "response_bytes": stored_bytes, "cpu_cores": cores}
    return result, names


async def measure_gets(clients: list[LoadClient], cpu: CpuMeter, *, namespace: str, names: list[str],
                       seconds: float) -> dict[str, Any]:
    """(c) GET single pods (random ones of `names`) from every client for `seconds`."""
    latencies: list[float] = []
    errors: collections.Counter[int] = collections.Counter()
    await warm(clients)

    async def getter(i: int, client: LoadClient, deadline: float) -> None:
        rnd = random.Random(i)
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            status, _ = await client.request("GET", f"/api/v1/namespaces/{namespace}/pods/{rnd.choice(names)}")
            t1 = time.perf_counter()
            if status == 200:
                latencies.append(t1 - t0)
            else:
                errors[status] += 1

    cpu.start()
    start = time.perf_counter()
    await asyncio.gather(*(getter(i, c, start + seconds) for i, c in enumerate(clients)))
    elapsed = time.perf_counter() - start
    cores = cpu.stop()
    rate = len(latencies) / elapsed
    return {"gets_per_s": round(rate, 1), "gets": len(latencies), **latency_summary(latencies),
            "server_cpu_ms_per_op": round(cores["apiserver"] * 1000 / max(rate, 1e-9), 2),
            "errors": dict(errors), "cpu_cores": cores}


async def fill_namespace(store: Store, *, namespace: str, count: int, writers: int) -> float:
    """Write `count` API-shaped pods into `namespace` through the store (faster than the API)."""
    template = stored_template(namespace)
    queue = iter(range(count))
    start = time.perf_counter()

    async def writer() -> None:
        for n in queue:  # one shared iterator: each number is taken once
            await store.create("pods", named(template, f"list-{n:05d}"))

    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - start


async def measure_list(client: httpx.AsyncClient, cpu: CpuMeter, *, namespace: str, expected: int,
                       lists: int) -> dict[str, Any]:
    """(d) LIST the namespace `lists` times as plain JSON and as a Table; median wall times."""
    path = f"/api/v1/namespaces/{namespace}/pods"
    out: dict[str, Any] = {}
    for kind, accept in (("json", "application/json"), ("table", KUBECTL_TABLE_ACCEPT)):
        walls: list[float] = []
        size = 0
        cpu.start()
        for _ in range(lists):
            t0 = time.perf_counter()
            r = await client.get(path, headers={"Accept": accept})
            walls.append(time.perf_counter() - t0)
            r.raise_for_status()
            size = len(r.content)
        cores = cpu.stop()
        body = r.json()
        rows = len(body["rows"]) if kind == "table" else len(body["items"])
        if rows != expected:
            raise RuntimeError(f"LIST ({kind}) returned {rows} rows, expected {expected}")
        out[kind] = {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
                     "max_s": round(max(walls), 3), "bytes": size, "cpu_cores": cores,
                     "server_cpu_s_per_list": round(cores["apiserver"] * sum(walls) / lists, 3)}
    return out


async def measure_watch(lab_: Lab, cpu: CpuMeter, *, namespace: str, watchers: int, rate: float,
                        seconds: float, loadgen: str) -> dict[str, Any]:
    """(e) `watchers` watch connections on `namespace`; one writer POSTs pods at `rate`/s.

    Before timing, one warm-up pod must reach every watcher: that proves each watch is
    subscribed, so no latency includes connection set-up. A final "stop" pod ends the watchers.
    """
    path = f"/api/v1/namespaces/{namespace}/pods"
    bodies = PodBodies(namespace)
    async with lab_.client() as writer:
        listed = await writer.get(path)
        listed.raise_for_status()
        rv = listed.json()["metadata"]["resourceVersion"]
        arrivals: list[dict[str, float]] = [{} for _ in range(watchers)]
        opened = 0
        open_errors: collections.Counter[str] = collections.Counter()
        clients: list[Any] = [lab_.client(timeout=None) if loadgen == "httpx" else lab_.load_client("raw")
                              for _ in range(watchers)]

        def arrived(i: int, line: str | bytes, t: float) -> str | None:
            """Note one watch line's arrival; "stop" after the last pod, "again" after an ERROR event."""
            mine = arrivals[i]
            event = orjson.loads(line)
            if event["type"] == "ERROR":
                if "warm-up" in mine:
                    raise RuntimeError(f"watch {i} got an error event while timed: {line[:300]!r}")
                # set-up failed (e.g. 503): re-watch after a pause, as a reflector does
                status = event["object"]
                open_errors[f"{status.get('code')} {status.get('message', '')[:80]}"] += 1
                return "again"
            name = event["object"]["metadata"]["name"]
            mine[name] = t
            return "stop" if name == "stop" else None

        async def watch(i: int, client: httpx.AsyncClient) -> None:
            nonlocal opened
            counted = False
            while True:
                async with client.stream("GET", path, params={"watch": "true", "resourceVersion": rv}) as resp:
                    resp.raise_for_status()
                    if not counted:
                        opened += 1
                        counted = True
                    async for line in resp.aiter_lines():
                        t = time.perf_counter()
                        if not line:
                            continue
                        outcome = arrived(i, line, t)
                        if outcome == "stop":
                            return
                        if outcome == "again":
                            await asyncio.sleep(0.2 + random.random() * 0.3)
                            break
                    else:
                        raise RuntimeError(f"watch {i} ended early")

        async def watch_raw(i: int, client: RawClient) -> None:
            outcome: str | None = None
            counted = False

            def on_open() -> None:
                nonlocal opened, counted
                if not counted:
                    opened += 1
                    counted = True

            def on_line(line: bytes, t: float) -> bool:
                nonlocal outcome
                outcome = arrived(i, line, t)
                return outcome is not None

            while True:
                status = await client.stream_lines(f"{path}?watch=true&resourceVersion={rv}", on_line, on_open=on_open)
                if status != 200:
                    raise RuntimeError(f"watch {i}: HTTP {status}")
                if outcome == "stop":
                    return
                await asyncio.sleep(0.2 + random.random() * 0.3)

        setup_started = time.perf_counter()
        tasks = [asyncio.create_task(watch(i, c) if loadgen == "httpx" else watch_raw(i, c))
                 for i, c in enumerate(clients)]
        try:
            async def wait_for(cond: Any, what: str, timeout: float = 30.0) -> None:
                deadline = time.perf_counter() + timeout
                while not cond():
                    for t in tasks:
                        if t.done() and t.exception():
                            raise t.exception()  # type: ignore[misc]
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"timed out waiting for {what}")
                    await asyncio.sleep(0.01)

            await wait_for(lambda: opened == watchers, "all watches to open")
            (await writer.post(path, content=bodies.body("warm-up"),
                               headers={"Content-Type": "application/json"})).raise_for_status()
            await wait_for(lambda: all("warm-up" in a for a in arrivals), "the warm-up event at every watcher", 60.0)
            setup_s = time.perf_counter() - setup_started

            returned: dict[str, float] = {}
            total = int(seconds * rate)
            cpu.start()
            start = time.perf_counter()
            for n in range(total):
                # a steady schedule, not "as fast as possible": throughput is (b)
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                name = f"e-{n}"
                r = await writer.post(path, content=bodies.body(name), headers={"Content-Type": "application/json"})
                returned[name] = time.perf_counter()
                r.raise_for_status()
            (await writer.post(path, content=bodies.body("stop"),
                               headers={"Content-Type": "application/json"})).raise_for_status()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
            cores = cpu.stop()
            timed_s = time.perf_counter() - start
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)

    latencies: list[float] = []
    early = missing = 0
    for mine in arrivals:
        for name, t_returned in returned.items():
            t = mine.get(name)
            if t is None:
                missing += 1
                continue
            if t < t_returned:
                early += 1  # the event overtook the POST's response: latency 0
            latencies.append(max(t - t_returned, 0.0))
    if missing:
        raise RuntimeError(f"{missing} (watcher, event) deliveries never arrived")
    return {"deliveries": len(latencies), "events": len(returned), **latency_summary(latencies),
            "before_response": early, "setup_s": round(setup_s, 2), "open_errors": dict(open_errors),
            # API server CPU per (watcher, event) delivery, the writer's POSTs included
            "server_cpu_us_per_delivery": round(cores["apiserver"] * timed_s * 1e6 / max(len(latencies), 1), 1),
            "cpu_cores": cores}


# -- profile ----------------------------------------------------------------------------------------


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _function(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m["file"]
    for marker in ("site-packages/", "/orchestrator/", "lib/python3"):
        if marker in file:
            file = ("orchestrator/" if marker == "/orchestrator/" else "") + file.split(marker, 1)[1]
            break
    return f"{m['func']} ({file})"


def summarize_profile(raw: Path, *, top: int = 25) -> dict[str, Any]:
    """Self and inclusive shares per function from py-spy's collapsed stacks."""
    self_t: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_function(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        self_t[frames[-1]] += n
        for f in set(frames):
            incl[f] += n

    def share(c: collections.Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "pct": round(100 * n / max(total, 1), 1)} for f, n in c.most_common(top)]

    return {"samples": total, "self": share(self_t), "inclusive": share(incl)}


async def profile_creates(lab_: Lab, clients: list[LoadClient], cpu: CpuMeter, *, namespace: str,
                          seconds: float, out: Path) -> dict[str, Any]:
    spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if spy is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    rate = 100
    proc = await asyncio.create_subprocess_exec(
        spy, "record", "-p", str(lab_.pids["apiserver"]), "-d", str(int(seconds) + 1), "-r", str(rate),
        "--format", "raw", "-o", str(out), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await asyncio.sleep(1.0)  # py-spy attaches
        creates, _ = await measure_creates(clients, cpu, namespace=namespace, prefix="prof", seconds=seconds)
        _, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"py-spy failed ({proc.returncode}): {err.decode()[-2000:]}")
    summary = summarize_profile(out)
    # samples of a non-idle thread / the samples a busy thread would give: how busy the server was
    summary["busy_fraction"] = round(summary["samples"] / (rate * (int(seconds) + 1)), 2)
    summary["creates_per_s_under_profiler"] = creates["creates_per_s"]
    summary["file"] = str(out)
    return summary


# -- the run ----------------------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "platform": platform.platform(), "server": "uvicorn (uvloop, httptools), 1 process; relay separate",
            "note": "a shared machine: other jobs run beside the benchmark, so figures are noisy"}


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


async def run(args: argparse.Namespace, lab_: Lab) -> dict[str, Any]:
    facts = machine_facts()
    facts["loadgen"] = ("bench/loadgen.py (asyncio protocols + httptools)" if args.loadgen == "raw"
                        else "httpx.AsyncClient") + ", one process, uvloop"
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)
    cpu = CpuMeter(lab_.pids)
    store = await Store.connect(lab_.database_url, pool_size=4)
    clients = [lab_.load_client(args.loadgen) for _ in range(args.clients)]
    admin = lab_.client()
    try:
        for ns in ("bench-store", "bench-api", "bench-list"):
            await ensure_namespace(admin, ns)

        fill_s = await fill_namespace(store, namespace="bench-list", count=args.list_size, writers=args.clients)
        print(f"wrote {args.list_size} pods into bench-list through the store in {fill_s:.1f} s", flush=True)

        runs: dict[str, list[dict[str, Any]]] = {"store": [], "create": [], "get": [], "list": [], "watch": []}
        for i in range(1, args.repeat + 1):
            # interleaved, so a noisy neighbour hurts every measurement alike
            runs["store"].append(await measure_store(store, cpu, namespace="bench-store", prefix=f"r{i}",
                                                     writers=args.clients, seconds=args.seconds))
            created, names = await measure_creates(clients, cpu, namespace="bench-api", prefix=f"r{i}",
                                                   seconds=args.seconds)
            runs["create"].append(created)
            runs["get"].append(await measure_gets(clients, cpu, namespace="bench-api", names=names,
                                                  seconds=args.seconds))
            runs["list"].append(await measure_list(admin, cpu, namespace="bench-list", expected=args.list_size,
                                                   lists=args.lists))
            watch_ns = f"bench-watch-{i}"
            await ensure_namespace(admin, watch_ns)
            runs["watch"].append(await measure_watch(lab_, cpu, namespace=watch_ns, watchers=args.watchers,
                                                     rate=args.rate, seconds=args.seconds,
                                                     loadgen=args.loadgen))
            s, c, g, li, w = (runs[k][-1] for k in ("store", "create", "get", "list", "watch"))
            print(f"run {i}: store {s['writes_per_s']:.0f} w/s | API {c['creates_per_s']:.0f} creates/s "
                  f"(p50 {c['p50_ms']:.1f} p99 {c['p99_ms']:.1f} ms) | GET p50 {g['p50_ms']:.1f} p99 {g['p99_ms']:.1f} ms "
                  f"| LIST json {li['json']['median_s']:.2f} s table {li['table']['median_s']:.2f} s "
                  f"| watch p50 {w['p50_ms']:.1f} p99 {w['p99_ms']:.1f} ms (set-up {w['setup_s']:.1f} s, "
                  f"errors while opening: {w['open_errors'] or 'none'})", flush=True)

        profile = None
        if args.profile:
            out = RESULTS_DIR / f"apiserver-profile-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.txt"
            RESULTS_DIR.mkdir(exist_ok=True)
            profile = await profile_creates(lab_, clients, cpu, namespace="bench-api", seconds=args.seconds, out=out)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients), admin.aclose(), return_exceptions=True)
        await store.close()

    med = statistics.median
    store_rate = median_of(runs["store"], "writes_per_s")
    create_rate = median_of(runs["create"], "creates_per_s")
    summary = {
        "store_writes_per_s": store_rate,
        "api_creates_per_s": create_rate,
        "api_to_store_ratio": round(create_rate / store_rate, 3),
        "create_p50_ms": median_of(runs["create"], "p50_ms"),
        "create_p99_ms": median_of(runs["create"], "p99_ms"),
        "gets_per_s": median_of(runs["get"], "gets_per_s"),
        "get_p50_ms": median_of(runs["get"], "p50_ms"),
        "get_p99_ms": median_of(runs["get"], "p99_ms"),
        "list_json_s": round(med(r["json"]["median_s"] for r in runs["list"]), 3),
        "list_table_s": round(med(r["table"]["median_s"] for r in runs["list"]), 3),
        "watch_p50_ms": median_of(runs["watch"], "p50_ms"),
        "watch_p99_ms": median_of(runs["watch"], "p99_ms"),
        "create_server_cpu_ms": median_of(runs["create"], "server_cpu_ms_per_op"),
        "get_server_cpu_ms": median_of(runs["get"], "server_cpu_ms_per_op"),
        "list_json_server_cpu_s": round(med(r["json"]["server_cpu_s_per_list"] for r in runs["list"]), 3),
        "list_table_server_cpu_s": round(med(r["table"]["server_cpu_s_per_list"] for r in runs["list"]), 3),
        "watch_server_cpu_us_per_delivery": median_of(runs["watch"], "server_cpu_us_per_delivery"),
    }
    cores = {k: {p: round(med(r["cpu_cores"][p] for r in v), 2) for p in v[0]["cpu_cores"]}
             for k, v in runs.items() if k != "list"}
    print_table(args, summary, cores)
    if profile:
        print(f"\nprofile of the API server under the create load ({profile['samples']} non-idle samples, busy "
              f"{profile['busy_fraction']:.0%} of the time, {profile['creates_per_s_under_profiler']:.0f} creates/s "
              f"while profiled); raw stacks: {profile['file']}")
        print("  self time:")
        for row in profile["self"][:15]:
            print(f"    {row['pct']:5.1f}%  {row['function']}")
        print("  inclusive:")
        for row in profile["inclusive"][:25]:
            print(f"    {row['pct']:5.1f}%  {row['function']}")
    return {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": facts, "args": vars(args),
            "summary": summary, "cpu_cores_median": cores, "runs": runs, "profile": profile}


def print_table(args: argparse.Namespace, s: dict[str, float], cores: dict[str, dict[str, float]]) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    def pair(p50: float, p99: float) -> str:
        return f"p50 {p50:.1f} ms  p99 {p99:.1f} ms"

    def goal(op: str, key: str, unit: str, value: float) -> str:
        target = TARGETS[key]
        met = value >= target if op == ">=" else value <= target if op == "<=" else value < target
        return f"{op} {target:g}{unit} {verdict(met)}"

    def used(k: str) -> str:
        return "  ".join(f"{p} {v:.2f}" for p, v in cores[k].items())

    print(f"\nmedians of {args.repeat} runs; {args.clients} clients, {args.seconds:g} s per measurement, "
          f"~{REQUEST_BYTES}-byte pods; nproc={os.cpu_count()} (shared, noisy)")
    print(f"  {'measurement':<34}{'result':<34}{'target':<18}cores used (median)")
    print(f"  {'(a) Store.create, direct':<34}{s['store_writes_per_s']:>8.0f} writes/s{'':<16}{'':<18}{used('store')}")
    print(f"  {'(b) POST pods':<34}{s['api_creates_per_s']:>8.0f} creates/s ({s['api_to_store_ratio']:.0%} of a)"
          f"{'':<2}{goal('>=', 'creates_per_s', '/s', s['api_creates_per_s']):<18}{used('create')}")
    print(f"  {'    create latency':<34}p50 {s['create_p50_ms']:.1f} ms  p99 {s['create_p99_ms']:.1f} ms")
    print(f"  {'    API server CPU per create':<34}{s['create_server_cpu_ms']:>8.2f} ms"
          f"   (one full core: ~{1000 / s['create_server_cpu_ms']:.0f} creates/s)"
          f"   {goal('<=', 'create_server_cpu_ms', ' ms', s['create_server_cpu_ms'])}")
    print(f"  {'(c) GET pod':<34}{pair(s['get_p50_ms'], s['get_p99_ms']):<34}"
          f"{goal('<', 'get_p99_ms', ' ms', s['get_p99_ms']):<18}{used('get')}")
    print(f"  {'    GET throughput':<34}{s['gets_per_s']:>8.0f} gets/s   API server CPU per GET "
          f"{s['get_server_cpu_ms']:.2f} ms")
    print(f"  {f'(d) LIST {args.list_size} pods, JSON':<34}{s['list_json_s']:>8.2f} s{'':<24}"
          f"{goal('<', 'list_s', ' s', s['list_json_s']):<18}")
    print(f"  {f'    LIST {args.list_size} pods, Table':<34}{s['list_table_s']:>8.2f} s{'':<24}"
          f"{goal('<', 'list_s', ' s', s['list_table_s']):<18}")
    print(f"  {'    API server CPU per LIST':<34}JSON {s['list_json_server_cpu_s']:.2f} s  "
          f"Table {s['list_table_server_cpu_s']:.2f} s")
    print(f"  {f'(e) watch, {args.watchers} watchers @ {args.rate:g}/s':<34}"
          f"{pair(s['watch_p50_ms'], s['watch_p99_ms']):<34}"
          f"{goal('<', 'watch_p99_ms', ' ms', s['watch_p99_ms']):<18}{used('watch')}")
    print(f"  {'    API server CPU per delivery':<34}{s['watch_server_cpu_us_per_delivery']:>8.0f} us")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections for (a), (b), (c)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of (a), (b), (c) and (e)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; medians are reported")
    parser.add_argument("--watchers", type=int, default=100, help="concurrent watch connections for (e)")
    parser.add_argument("--rate", type=float, default=50.0, help="creates per second during (e)")
    parser.add_argument("--list-size", type=int, default=10_000, help="pods in the LIST namespace for (d)")
    parser.add_argument("--lists", type=int, default=5, help="LISTs per run of (d), of each kind")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, profile the API server with py-spy under one more create load")
    parser.add_argument("--loadgen", choices=("raw", "httpx"), default="raw",
                        help="the create/GET load's client: bench/loadgen.py (raw) or httpx.AsyncClient")
    args = parser.parse_args(argv)
    with lab() as lab_:
        result = uvloop.run(run(args, lab_))
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"apiserver-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
