"""Benchmark: what "commit order = revision order" costs the store, and how fast a watch sees a write.

Three measurements in one run, on the same PostgreSQL and Redis, each repeated ``--repeat``
times (medians reported):

a) raw: plain asyncpg ``INSERT`` of ~700-byte JSON documents into a jsonb column, ``--writers``
   concurrent writers, each on its own connection, one transaction (one fsync) per insert. The
   ceiling: what PostgreSQL on this disk commits with nothing serialized.
b) store: ``Store.create`` of ~700-byte pods from ``--writers`` concurrent tasks. Every write
   bumps the global revision and writes an outbox row; the store's group commit puts the writes
   waiting at one moment into one transaction. Also reports the average batch size.
c) watch latency: a Relay and a WatchCache running, one writer creating pods at ``--rate`` per
   second; for each revision, the time from ``create`` returning to the watcher receiving the
   event (p50, p99).
d) with ``--etcd``: what the store simulates. A single-member etcd (the ``etcd`` binary on PATH,
   e.g. Debian's etcd-server; fsync on, as always in etcd) started fresh for each run, and
   ``--writers`` concurrent puts of the same documents through one gRPC client (the ``aetcd``
   package: ``.venv/bin/pip install aetcd``), as kube-apiserver's writers share one client. Also
   reports the CPU etcd and this process spent per write, so a client-bound figure shows as one.

Usage (from the repository root):

    .venv/bin/python bench/store_writes.py [--writers 16] [--seconds 10] [--repeat 3] [--etcd] [--json]

Without DATABASE_URL/REDIS_URL it starts the embedded PostgreSQL and Redis in a temporary lab
home and removes them afterwards. With them it uses those servers: it creates (and drops) its own
databases next to DATABASE_URL's, and FLUSHDBs the Redis database of REDIS_URL — point it at a
spare one (``redis://host:6379/15``). fsync stays on: durability is not a benchmark knob.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.lab.embedded.ports import free_port  # noqa: E402
from orchestrator.storage.relay import Relay, plain_dsn  # noqa: E402
from orchestrator.storage.store import JSON_SEPARATORS, Store  # noqa: E402
from orchestrator.storage.watchcache import WatchCache  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DOC_BYTES = 700


# -- documents ----------------------------------------------------------------------------------


def bench_pod(name: str) -> dict[str, Any]:
    """A pod that is ~700 bytes as stored (after the store adds uid, timestamp, resourceVersion)."""
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "bench",
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
            "schedulerName": "default-scheduler",
        },
        "status": {"phase": "Pending"},
    }
    stored = dict(pod, metadata=dict(pod["metadata"], uid=str(uuid.uuid4()),
                                     creationTimestamp="2024-01-01T00:00:00Z", resourceVersion="1000000"))
    pad = DOC_BYTES - len(json.dumps(stored, separators=JSON_SEPARATORS))
    pod["metadata"]["annotations"]["bench/padding"] = "x" * max(pad - len('"bench/padding":""'), 0)
    return pod


def raw_doc(name: str) -> str:
    """The same kind of document, as the JSON text the raw baseline inserts."""
    pod = bench_pod(name)
    pod["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp="2024-01-01T00:00:00Z",
                           resourceVersion="1000000")
    return json.dumps(pod, separators=JSON_SEPARATORS)


# -- servers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    database_url: str  # the maintenance database; each measurement creates its own beside it
    redis_url: str
    embedded: bool

    def database(self, name: str) -> str:
        base, _, query = plain_dsn(self.database_url).partition("?")
        return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    db_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if db_url and redis_url:
        yield Servers(db_url, redis_url, embedded=False)
        return
    from orchestrator.lab.embedded.postgres import start_postgres, stop_postgres
    from orchestrator.lab.embedded.redis import start_redis, stop_redis
    from orchestrator.lab.home import LabHome

    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        home = LabHome(Path(tmp))
        pg = start_postgres(home)
        try:
            rs = start_redis(home)
            try:
                yield Servers(pg.url, rs.url, embedded=True)
            finally:
                stop_redis(home)
        finally:
            stop_postgres(home)


@contextlib.asynccontextmanager
async def fresh_database(srv: Servers) -> AsyncIterator[str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(plain_dsn(srv.database_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield srv.database(name)
    finally:
        admin = await asyncpg.connect(plain_dsn(srv.database_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def server_facts(srv: Servers) -> dict[str, str]:
    conn = await asyncpg.connect(plain_dsn(srv.database_url))
    try:
        facts = {k: str(await conn.fetchval(f"SHOW {k}"))
                 for k in ("server_version", "fsync", "synchronous_commit", "wal_sync_method", "commit_delay")}
    finally:
        await conn.close()
    facts.update(nproc=str(os.cpu_count()), memory_gib=f"{memory_kib() / 2**20:.1f}",
                 python=platform.python_version(), platform=platform.platform())
    return facts


def memory_kib() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    return 0


# -- measurements -------------------------------------------------------------------------------


async def measure_raw(srv: Servers, *, writers: int, seconds: float) -> dict[str, float]:
    """(a) one INSERT = one transaction = one commit, per writer connection."""
    async with fresh_database(srv) as url:
        conns = [await asyncpg.connect(url) for _ in range(writers)]
        try:
            await conns[0].execute("CREATE TABLE raw_docs (name text PRIMARY KEY, data jsonb NOT NULL)")
            docs = [raw_doc(f"warm-{i}") for i in range(writers)]
            count = 0

            async def writer(i: int, conn: asyncpg.Connection, deadline: float) -> None:
                nonlocal count
                stmt = await conn.prepare("INSERT INTO raw_docs (name, data) VALUES ($1, $2::jsonb)")
                doc, n = docs[i], 0
                while time.perf_counter() < deadline:
                    await stmt.fetch(f"w{i}-{n}", doc)  # autocommit: its own transaction
                    n += 1
                count += n

            start = time.perf_counter()
            await asyncio.gather(*(writer(i, c, start + seconds) for i, c in enumerate(conns)))
            elapsed = time.perf_counter() - start
        finally:
            for c in conns:
                await c.close()
    return {"commits_per_s": count / elapsed, "writes": count}


async def measure_store(srv: Servers, *, writers: int, seconds: float) -> dict[str, float]:
    """(b) Store.create from concurrent tasks: group commit, one revision per write."""
    async with fresh_database(srv) as url:
        store = await Store.connect(url, pool_size=4)
        try:
            await store.create("pods", bench_pod("warm-up"))
            batches0, writes0 = store.batches_committed, store.writes_committed
            count = 0

            async def writer(i: int, deadline: float) -> None:
                nonlocal count
                n = 0
                template = bench_pod("x")
                while time.perf_counter() < deadline:
                    pod = dict(template, metadata=dict(template["metadata"], name=f"w{i}-{n}"))
                    await store.create("pods", pod)
                    n += 1
                count += n

            own_cpu0 = time.process_time()
            start = time.perf_counter()
            await asyncio.gather(*(writer(i, start + seconds) for i in range(writers)))
            elapsed = time.perf_counter() - start
            own_cpu = time.process_time() - own_cpu0
            batches = store.batches_committed - batches0
            writes = store.writes_committed - writes0
            size = len(json.dumps(await store.get("pods", "bench", "w0-0"), separators=JSON_SEPARATORS))
        finally:
            await store.close()
    assert writes == count, f"store committed {writes} writes but callers saw {count}"
    return {"writes_per_s": count / elapsed, "writes": count, "avg_batch": writes / max(batches, 1),
            "doc_bytes": size, "client_cpu_ms_per_write": own_cpu / max(count, 1) * 1000}


async def measure_watch_latency(srv: Servers, *, seconds: float, rate: float) -> dict[str, float]:
    """(c) time from create() returning to the event reaching a watcher, at a steady rate."""
    async with fresh_database(srv) as url:
        flush = aioredis.Redis.from_url(srv.redis_url)
        await flush.flushdb()
        await flush.aclose()
        store = await Store.connect(url, pool_size=4)
        relay = Relay(database_url=url, redis_url=srv.redis_url, poll_interval=0.5)
        relay_task = asyncio.create_task(relay.run(), name="bench-relay")
        cache = WatchCache(srv.redis_url)
        returned: dict[int, float] = {}
        arrived: dict[int, float] = {}
        try:
            await store.create("pods", bench_pod("warm-up"))
            while relay.published < await store.current_revision():
                await asyncio.sleep(0.01)
            since = await store.current_revision()
            total = int(seconds * rate)

            async def watcher() -> None:
                async for event in cache.watch("pods", since=since):
                    arrived[event.revision] = time.perf_counter()
                    if len(arrived) == total:
                        return

            watch_task = asyncio.create_task(watcher(), name="bench-watcher")
            await asyncio.sleep(0.2)  # the watch cache's reader is up
            start = time.perf_counter()
            for n in range(total):
                # a steady schedule, not "as fast as possible": latency under load is (b)
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                obj = await store.create("pods", bench_pod(f"lat-{n}"))
                returned[int(obj["metadata"]["resourceVersion"])] = time.perf_counter()
            await asyncio.wait_for(watch_task, timeout=30)
        finally:
            relay_task.cancel()
            await asyncio.gather(relay_task, return_exceptions=True)
            await cache.close()
            await store.close()
    missing = set(returned) - set(arrived)
    assert not missing, f"{len(missing)} events never reached the watcher"
    lat_ms = sorted(max(arrived[r] - t, 0.0) * 1000 for r, t in returned.items())
    return {"p50_ms": percentile(lat_ms, 50), "p99_ms": percentile(lat_ms, 99), "max_ms": lat_ms[-1],
            "events": len(lat_ms)}


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


# -- etcd, for comparison -----------------------------------------------------------------------


@contextlib.contextmanager
def local_etcd(binary: str) -> Iterator[tuple[int, int]]:
    """A fresh single-member etcd on loopback in a temporary data directory: (client port, pid)."""
    with tempfile.TemporaryDirectory(prefix="labkit-bench-etcd-") as tmp:
        client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        log = open(Path(tmp) / "etcd.log", "wb")  # noqa: SIM115 - closed below, after the process
        proc = subprocess.Popen(
            [binary, "--name", "bench", "--data-dir", str(Path(tmp) / "data"),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"bench={peer}", "--quota-backend-bytes", str(8 * 2**30)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            yield int(client.rsplit(":", 1)[1]), proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (0 where /proc is not there)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def etcd_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    return out.split("\n", 1)[0].removeprefix("etcd Version: ").strip() or "unknown"


async def measure_etcd(binary: str, *, writers: int, seconds: float) -> dict[str, float]:
    """(d) the same documents as etcd puts: ``writers`` tasks on one client, each waiting for its put."""
    import aetcd  # an optional benchmark dependency: only --etcd needs it

    with local_etcd(binary) as (port, pid):
        async with aetcd.Client(host="127.0.0.1", port=port, connect_wait_timeout=10) as client:
            for _ in range(100):  # the member elects itself leader shortly after it starts
                with contextlib.suppress(Exception):
                    await client.put(b"/registry/pods/bench/warm-up", raw_doc("warm-up").encode())
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("etcd did not accept a put within 10 s")
            doc = raw_doc("x").encode()
            count = 0

            async def writer(i: int, deadline: float) -> None:
                nonlocal count
                n = 0
                while time.perf_counter() < deadline:
                    await client.put(f"/registry/pods/bench/w{i}-{n}".encode(), doc)
                    n += 1
                count += n

            etcd_cpu0, own_cpu0 = process_cpu_seconds(pid), time.process_time()
            start = time.perf_counter()
            await asyncio.gather(*(writer(i, start + seconds) for i in range(writers)))
            elapsed = time.perf_counter() - start
            etcd_cpu, own_cpu = process_cpu_seconds(pid) - etcd_cpu0, time.process_time() - own_cpu0
    return {"puts_per_s": count / elapsed, "writes": count,
            "etcd_cpu_ms_per_put": etcd_cpu / max(count, 1) * 1000,
            "client_cpu_ms_per_put": own_cpu / max(count, 1) * 1000}


# -- report -------------------------------------------------------------------------------------


@dataclass
class Summary:
    raw_commits_per_s: float
    store_writes_per_s: float
    ratio: float  # of the medians
    ratio_median: float  # the median of each run's ratio: steadier when the machine is noisy
    avg_batch: float
    watch_p50_ms: float
    watch_p99_ms: float
    etcd_puts_per_s: float | None = None
    store_vs_etcd: float | None = None  # the median of each run's ratio


async def run(args: argparse.Namespace, srv: Servers) -> dict[str, Any]:
    facts = await server_facts(srv)
    if args.etcd:
        facts["etcd"] = etcd_version(args.etcd)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)
    raws, stores, lats, etcds = [], [], [], []
    for i in range(1, args.repeat + 1):
        # interleaved, so a noisy neighbour hurts both sides of the ratio alike
        raws.append(await measure_raw(srv, writers=args.writers, seconds=args.seconds))
        stores.append(await measure_store(srv, writers=args.writers, seconds=args.seconds))
        if args.etcd:
            etcds.append(await measure_etcd(args.etcd, writers=args.writers, seconds=args.seconds))
        lats.append(await measure_watch_latency(srv, seconds=args.seconds, rate=args.rate))
        ratio = stores[-1]["writes_per_s"] / raws[-1]["commits_per_s"]
        etcd = (f" | etcd {etcds[-1]['puts_per_s']:8.0f} puts/s (store {stores[-1]['writes_per_s'] / etcds[-1]['puts_per_s']:.2f}x)"
                if etcds else "")
        print(f"run {i}: raw {raws[-1]['commits_per_s']:8.0f} commits/s | store {stores[-1]['writes_per_s']:8.0f} "
              f"writes/s ({ratio:.0%}, avg batch {stores[-1]['avg_batch']:.1f}){etcd} | watch p50 {lats[-1]['p50_ms']:.1f} ms "
              f"p99 {lats[-1]['p99_ms']:.1f} ms", flush=True)
    med = statistics.median
    raw_rate, store_rate = med(r["commits_per_s"] for r in raws), med(s["writes_per_s"] for s in stores)
    summary = Summary(
        raw_commits_per_s=raw_rate,
        store_writes_per_s=store_rate,
        ratio=store_rate / raw_rate,
        ratio_median=med(s["writes_per_s"] / r["commits_per_s"] for s, r in zip(stores, raws, strict=True)),
        avg_batch=med(s["avg_batch"] for s in stores),
        watch_p50_ms=med(lat["p50_ms"] for lat in lats),
        watch_p99_ms=med(lat["p99_ms"] for lat in lats),
    )
    if etcds:
        summary.etcd_puts_per_s = med(e["puts_per_s"] for e in etcds)
        summary.store_vs_etcd = med(s["writes_per_s"] / e["puts_per_s"] for s, e in zip(stores, etcds, strict=True))
    print(f"\nmedians of {args.repeat} runs, {args.writers} writers, {args.seconds:g} s each, "
          f"~{DOC_BYTES}-byte documents, fsync={facts['fsync']}")
    print(f"  raw INSERT+COMMIT        {summary.raw_commits_per_s:10.0f} commits/s")
    print(f"  Store.create             {summary.store_writes_per_s:10.0f} writes/s   "
          f"ratio {summary.ratio:.0%} (per-run median {summary.ratio_median:.0%})   avg batch {summary.avg_batch:.1f}")
    print(f"  this process's CPU       {med(s['client_cpu_ms_per_write'] for s in stores):.3f} ms per store write")
    if etcds:
        print(f"  etcd {facts['etcd']:<8} put       {summary.etcd_puts_per_s:10.0f} puts/s     "
              f"store / etcd {summary.store_vs_etcd:.2f}x (per-run median)   CPU per put: etcd "
              f"{med(e['etcd_cpu_ms_per_put'] for e in etcds):.3f} ms, this process "
              f"{med(e['client_cpu_ms_per_put'] for e in etcds):.3f} ms")
    print(f"  commit -> watcher        p50 {summary.watch_p50_ms:.1f} ms   p99 {summary.watch_p99_ms:.1f} ms "
          f"(one writer at {args.rate:g}/s)")
    ok = summary.ratio >= 0.5 and summary.watch_p99_ms < 20
    print(f"  targets (ratio >= 50%, p99 < 20 ms): {'met' if ok else 'NOT met'}")
    return {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": facts,
            "args": vars(args), "summary": asdict(summary),
            "runs": {"raw": raws, "store": stores, "watch": lats, "etcd": etcds}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=16, help="concurrent writers for (a) and (b)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each measurement")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; medians are reported")
    parser.add_argument("--rate", type=float, default=200.0, help="creates per second for the latency run")
    parser.add_argument("--etcd", nargs="?", const="etcd", default=None, metavar="BINARY",
                        help="also measure a local etcd's puts with the same writers (default binary: etcd on PATH)")
    parser.add_argument("--json", action="store_true", help=f"also write the results to {RESULTS_DIR}/")
    args = parser.parse_args(argv)
    if args.etcd:
        found = shutil.which(args.etcd)
        if found is None:
            parser.error(f"--etcd: no etcd binary {args.etcd!r} on PATH (Debian: apt-get install etcd-server)")
        try:
            import aetcd  # noqa: F401
        except ImportError:
            parser.error("--etcd needs the aetcd client: .venv/bin/pip install aetcd")
        args.etcd = found
    # each latency run starts on an empty Redis, which the relay rightly warns about
    logging.getLogger("orchestrator.storage.relay").setLevel(logging.ERROR)
    with servers() as srv:
        result = asyncio.run(run(args, srv))
    if args.json:
        RESULTS_DIR.mkdir(exist_ok=True)
        out = RESULTS_DIR / f"store_writes-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"  written to {out}")


if __name__ == "__main__":
    main()
