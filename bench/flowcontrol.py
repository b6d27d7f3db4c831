"""Benchmark: node Lease renewals while the API server is flooded with pod creates, with API
Priority and Fairness on and off, in one run.

Issue 19's density run lost nodes because their Lease PATCHes waited behind thousands of pod
writes. This isolates that: on one `labctl up` lab (embedded PostgreSQL + Redis, its relay), two
extra API-server processes serve the same store, identical but for ``--enable-priority-and-fairness``
/ ``--no-enable-priority-and-fairness``; each in turn (A B A B ..., ``--repeat`` times) gets

- a flood: ``--flood`` keep-alive connections as the controller manager (``workload-high``)
  creating ~700-byte pods back to back, as a ReplicaSet controller scaling up does;
- ``--nodes`` node identities each renewing its own Lease (a merge PATCH of renewTime, as the
  node agents do) every ``--interval`` seconds, each renewal timed.

Reported per variant (medians over the repeats): the renewals' p50/p99/max latency, the flood's
creates/s, and the API server's CPU. The figure that matters is the ratio of the renewals' p99
off/on in the same run: a node misses its grace period when renewals wait (orchestrator/apiserver/flowcontrol.py).

Usage (from the repository root):

    .venv/bin/python bench/flowcontrol.py [--flood 64] [--nodes 20] [--seconds 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import multiprocessing
import os
import ssl
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.apiserver import _labctl, latency_summary, pod_template  # noqa: E402
from orchestrator.lab.components import ApiServer  # noqa: E402
from orchestrator.lab.embedded.ports import free_port  # noqa: E402
from orchestrator.lab.home import LabHome  # noqa: E402


@contextlib.contextmanager
def lab(nodes: int) -> Iterator[LabHome]:
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="labkit-bench-apf-"))
    try:
        up = _labctl(home, "up", "--nodes", str(nodes), "--skip", "scheduler", "--skip", "controller-manager",
                     "--skip", "nodes")
        if up.returncode != 0:
            raise SystemExit(f"labctl up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        yield LabHome(home)
    finally:
        down = _labctl(home, "down")
        if down.returncode == 0:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"labctl down failed; the lab home is kept at {home}:\n{down.stdout}{down.stderr}", file=sys.stderr)


@contextlib.contextmanager
def apiserver(home: LabHome, *, apf: bool) -> Iterator[str]:
    """One more API server on the lab's store (no relay: the lab's runs), APF on or off."""
    ports = json.loads(home.state_file.read_text())["lab"]["ports"]
    from orchestrator.lab.embedded.postgres import database_url
    from orchestrator.lab.embedded.redis import redis_url

    port = free_port()
    argv = ApiServer.for_lab(home, database_url=database_url(ports["postgres"]), redis_url=redis_url(ports["redis"]),
                             port=port).argv()
    argv.append("--enable-priority-and-fairness" if apf else "--no-enable-priority-and-fairness")
    log = open(home.logs_dir / f"bench-apiserver-{'apf' if apf else 'noapf'}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    server = f"https://127.0.0.1:{port}"
    try:
        verify = ssl.create_default_context(cafile=str(home.ca_cert))
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server}/readyz", verify=verify, timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the API server did not start; see {log.name}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        proc.kill()
        log.close()


def _client(home: LabHome, server: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server, verify=ssl.create_default_context(cafile=str(home.ca_cert)),
                             headers={"Authorization": f"Bearer {token}"}, timeout=60,
                             limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))


async def ensure_leases(admin: httpx.AsyncClient, nodes: int) -> None:
    for i in range(1, nodes + 1):
        r = await admin.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", json={
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": f"node-{i}"},
            "spec": {"holderIdentity": f"node-{i}", "leaseDurationSeconds": 40}})
        if r.status_code not in (201, 409):
            raise SystemExit(f"creating the Lease of node-{i}: {r.status_code} {r.text}")


async def _renew_all(ca: str, server: str, tokens: list[str], *, seconds: float, interval: float,
                     delay: float) -> tuple[list[float], dict[int, int]]:
    clients = [httpx.AsyncClient(base_url=server, verify=ssl.create_default_context(cafile=ca),
                                 headers={"Authorization": f"Bearer {t}"}, timeout=60) for t in tokens]
    for c in clients:
        await c.get("/readyz")
    await asyncio.sleep(delay)
    renewals: list[float] = []
    errors: dict[int, int] = {}
    end = time.perf_counter() + seconds

    async def renew(client: httpx.AsyncClient, node: int) -> None:
        await asyncio.sleep(interval * node / len(clients))  # spread, as real renewals are
        while time.perf_counter() < end:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            started = time.perf_counter()
            r = await client.patch(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-{node}",
                                   content=json.dumps({"spec": {"renewTime": now}}),
                                   headers={"Content-Type": "application/merge-patch+json"})
            renewals.append(time.perf_counter() - started)
            if r.status_code != 200:
                errors[r.status_code] = errors.get(r.status_code, 0) + 1
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))

    await asyncio.gather(*(renew(c, i) for i, c in enumerate(clients, start=1)))
    for c in clients:
        await c.aclose()
    return renewals, errors


def renewer_process(ca: str, server: str, tokens: list[str], seconds: float, interval: float,
                    delay: float) -> tuple[list[float], dict[int, int]]:
    """The renewals run in a process of their own: timed in the flood's event loop, they would
    measure the load generator's queue as much as the API server's."""
    return asyncio.run(_renew_all(ca, server, tokens, seconds=seconds, interval=interval, delay=delay))


async def measure(home: LabHome, server: str, tokens: dict[str, str], *, flood: int, nodes: int, seconds: float,
                  interval: float, namespace: str, pid: int, pool: Any) -> dict[str, Any]:
    flooders = [_client(home, server, tokens["system:kube-controller-manager"]) for _ in range(flood)]
    template = pod_template(namespace)
    stop = asyncio.Event()
    created = 0
    errors: dict[int, int] = {}

    async def create(client: httpx.AsyncClient) -> None:
        nonlocal created
        while not stop.is_set():
            body = dict(template, metadata=dict(template["metadata"], name=f"f-{uuid.uuid4().hex[:12]}"))
            try:
                r = await client.post(f"/api/v1/namespaces/{namespace}/pods", json=body)
            except httpx.TransportError:  # uvicorn closes a connection idle for 5 s: httpx reconnects next time
                errors[0] = errors.get(0, 0) + 1
                continue
            if r.status_code == 201:
                created += 1
            else:
                errors[r.status_code] = errors.get(r.status_code, 0) + 1

    proc = psutil.Process(pid)
    for c in flooders:  # connect first: TLS handshakes are not what is measured
        await c.get("/readyz")
    warmup = 1.0
    renewing = pool.apply_async(renewer_process, (str(home.ca_cert), server,
                                                  [tokens[f"system:node:node-{i}"] for i in range(1, nodes + 1)],
                                                  seconds, interval, warmup))
    cpu0, t0 = sum(proc.cpu_times()[:2]), time.perf_counter()
    tasks = [asyncio.create_task(create(c)) for c in flooders]
    renewals, renew_errors = await asyncio.to_thread(renewing.get, seconds + 120)
    stop.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    for c in flooders:
        await c.aclose()
    for code, n in renew_errors.items():
        errors[code] = errors.get(code, 0) + n
    return {"creates_per_s": round(created / elapsed, 1), "renewals": len(renewals), "errors": errors,
            "apiserver_cores": round(cpu / elapsed, 2), **{f"renew_{k}": v for k, v in latency_summary(renewals).items()}}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {"apf": [], "noapf": []}
    with lab(args.nodes) as home:
        tokens = {row[1]: row[0] for row in csv.reader(home.token_file.read_text().splitlines()) if row}
        with apiserver(home, apf=True) as on, apiserver(home, apf=False) as off:
            async with _client(home, on, tokens["admin"]) as admin:
                r = await admin.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                                 "metadata": {"name": "bench-apf"}})
                assert r.status_code in (201, 409), r.text
                await ensure_leases(admin, args.nodes)
            pids = {}
            for name, server in (("apf", on), ("noapf", off)):
                port = int(server.rsplit(":", 1)[1])
                pids[name] = next(c.pid for c in psutil.net_connections("tcp")
                                  if c.status == psutil.CONN_LISTEN and c.laddr.port == port)
            pool = multiprocessing.get_context("spawn").Pool(1)
            for i in range(args.repeat):
                for name, server in (("apf", on), ("noapf", off)) if i % 2 == 0 else (("noapf", off), ("apf", on)):
                    result = await measure(home, server, tokens, flood=args.flood, nodes=args.nodes,
                                           seconds=args.seconds, interval=args.interval, namespace="bench-apf",
                                           pid=pids[name], pool=pool)
                    print(f"  {name:6} run {i + 1}: {result}", flush=True)
                    results[name].append(result)
            pool.close()
    summary = {name: {key: round(statistics.median(r[key] for r in runs), 2) for key in
                      ("creates_per_s", "renew_p50_ms", "renew_p99_ms", "renew_max_ms", "apiserver_cores")}
               for name, runs in results.items()}
    return {"args": vars(args), "summary": summary, "runs": results,
            "load_average": os.getloadavg(), "when": datetime.now(UTC).isoformat()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flood", type=int, default=64, help="connections creating pods (default 64)")
    p.add_argument("--nodes", type=int, default=20, help="nodes renewing their Lease (default 20)")
    p.add_argument("--interval", type=float, default=0.25, help="seconds between one node's renewals (default 0.25)")
    p.add_argument("--seconds", type=float, default=8, help="length of one measurement (default 8)")
    p.add_argument("--repeat", type=int, default=3, help="measurements per variant, interleaved (default 3)")
    args = p.parse_args(argv)
    for flag in ("flood", "nodes", "repeat"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be at least 1")
    out = asyncio.run(run(args))
    s = out["summary"]
    print(f"\nmedians of {args.repeat} runs each, load average {out['load_average'][0]:.1f}:")
    print(f"{'':8}{'creates/s':>10}{'renew p50':>11}{'renew p99':>11}{'renew max':>11}{'API cores':>11}")
    for name in ("apf", "noapf"):
        r = s[name]
        print(f"{name:8}{r['creates_per_s']:>10}{r['renew_p50_ms']:>9} ms{r['renew_p99_ms']:>8} ms"
              f"{r['renew_max_ms']:>8} ms{r['apiserver_cores']:>11}")
    print(f"renewal p99 off/on: {s['noapf']['renew_p99_ms'] / s['apf']['renew_p99_ms']:.2f}x; "
          f"creates/s on/off: {s['apf']['creates_per_s'] / s['noapf']['creates_per_s']:.2f}x")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    path = results / f"flowcontrol-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
