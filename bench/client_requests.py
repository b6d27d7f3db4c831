"""Benchmark: what one request costs the REST client every component uses (orchestrator/client).

On a `labctl up` lab (API server only), GETs of one pod from 16 concurrent tasks through:

a) ``ApiClient`` as the components build it: httpx's API, requests on aiohttp's pool
   (client/aiohttp_transport.py);
b) ``ApiClient`` on httpcore, the transport every request used before session 12
   (client/transport.py, which still carries the watches);
c) bench/loadgen.py's raw connections: a floor, no client library at all.

Each round runs (a), (b), (c) back to back, ``--rounds`` times; the client's CPU per request
(this process's user + system time over the requests) and the requests/s are printed with their
medians. The API server's CPU is the same work in all three; the client's is what differs.

Usage (from the repository root):

    .venv/bin/python bench/client_requests.py [--requests 4000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.apiserver import PodBodies, lab  # noqa: E402
from bench.loadgen import RawPool  # noqa: E402
from orchestrator.client.rest import REQUEST_CONNECTIONS, ApiClient, read_kubeconfig  # noqa: E402
from orchestrator.client.transport import transport as httpcore_transport  # noqa: E402

CONCURRENCY = 16


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(get: Callable[[], Awaitable[object]], requests: int) -> tuple[float, float]:
    """(requests/s, client CPU µs per request) of `requests` calls of `get`, CONCURRENCY at a time."""
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with sem:
            await get()

    await asyncio.gather(*(one() for _ in range(200)))  # connections open, pools warm
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    return requests / elapsed, cpu / requests * 1e6


async def run(args: argparse.Namespace, home: Path) -> None:
    import httpx

    kubeconfig = home / "admin.kubeconfig"
    creds = read_kubeconfig(kubeconfig)
    aio = ApiClient.from_kubeconfig(kubeconfig)
    limits = httpx.Limits(max_connections=REQUEST_CONNECTIONS, max_keepalive_connections=REQUEST_CONNECTIONS)
    core = ApiClient.from_kubeconfig(kubeconfig, transport=httpcore_transport(verify=creds.tls_context(), limits=limits))
    raw = RawPool.from_kubeconfig(kubeconfig, CONCURRENCY)
    namespace, name = "bench-client", "p1"
    try:
        await ensure_namespace_via(aio, namespace)
        await raw.expect(201, "POST", f"/api/v1/namespaces/{namespace}/pods", PodBodies(namespace).body(name))
        path = f"/api/v1/namespaces/{namespace}/pods/{name}"
        sides: dict[str, Callable[[], Awaitable[object]]] = {
            "ApiClient (aiohttp)": lambda: aio.get("pods", name, namespace=namespace),
            "ApiClient (httpcore)": lambda: core.get("pods", name, namespace=namespace),
            "raw (bench/loadgen.py)": lambda: raw.expect(200, "GET", path),
        }
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
        for r in range(1, args.rounds + 1):
            for label, get in sides.items():
                results[label].append(await _measure(get, args.requests))
            print(f"round {r}: " + " | ".join(f"{k} {v[-1][0]:.0f}/s {v[-1][1]:.0f} µs" for k, v in results.items()),
                  flush=True)
    finally:
        await aio.close()
        await core.close()
        await raw.aclose()
    base = statistics.median(cpu for _, cpu in results["ApiClient (httpcore)"])
    print(f"\nmedians of {args.rounds} rounds; {args.requests} GETs of one pod, {CONCURRENCY} at a time, over TLS")
    print(f"  {'client':<26}{'requests/s':>12}{'client CPU per request':>26}{'vs httpcore':>14}")
    for label, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"  {label:<26}{rate:>12.0f}{cpu:>22.0f} µs{cpu / base:>14.2f}")


async def ensure_namespace_via(client: ApiClient, namespace: str) -> None:
    from orchestrator.api.errors import AlreadyExists

    try:
        await client.create("namespaces", {"metadata": {"name": namespace}})
    except AlreadyExists:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="GETs per side per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a), (b), (c); medians are reported")
    args = parser.parse_args(argv)
    with lab() as lab_:
        asyncio.run(run(args, lab_.home))  # the default loop, as the components run (client/process.py)


if __name__ == "__main__":
    main()
