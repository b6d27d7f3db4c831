"""Service rule sync: from an EndpointSlice change to the proxy's rules applied, with S Services x E endpoints.

    .venv/bin/python bench/proxy_sync.py [--services 100] [--endpoints 10] [--changes 200]
        [--max-gap 0.5] [--runtime docker|simulated]

A lab is started with `labctl up --nodes 1 --runtime docker` in a temporary home (the proxy in
iptables mode when run as root; ``--runtime simulated`` measures the dry run, which computes the
same rules and runs no iptables-restore) and stopped at the end. S selector-less Services are
created, each with one EndpointSlice of E ready endpoints (addresses in 172.31.0.0/16: nothing
answers there, only the rules matter). Once the proxy has synced them all, each of --changes
changes replaces one endpoint address of a random Service's slice (a PUT), then polls the proxy's
/status every 2 ms until the rules it last applied were computed from a cache at or past that
PUT's resourceVersion. The time from sending the PUT to seeing that is one sample: it covers the
API write, the relay and watch cache, the proxy's informer, the wait for --min-sync-period
(0.25 s) since the previous sync, computing the rules and iptables-restore. Between changes
the script sleeps a random 0..--max-gap seconds, so changes land at every phase of the
proxy's rate limit. At the end the kernel's rules (iptables-save) are checked to hold the last
address written.

Target (issue 15): p99 < 1 s with 100 Services x 10 endpoints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.client.rest import ApiClient  # noqa: E402
from orchestrator.lab.embedded.ports import free_port  # noqa: E402


def _labctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LABKIT_HOME=str(home))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _slice(name: str, ips: list[str]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-bench", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(home: Path, args: argparse.Namespace) -> dict[str, Any]:
    state = json.loads((home / "run" / "state.json").read_text())
    proxy = next(c["address"] for c in state["components"] if c["name"] == "proxy")
    http = httpx.AsyncClient(base_url=f"http://{proxy}", timeout=5)
    rng = random.Random(15)
    next_ip = iter(f"172.31.{i // 250}.{i % 250 + 1}" for i in range(60000))
    async with ApiClient.from_kubeconfig(home / "admin.kubeconfig") as client:
        slices: dict[str, dict[str, Any]] = {}
        t0 = time.monotonic()
        for i in range(args.services):
            name = f"bench-{i:03d}"
            await client.create("services", {"apiVersion": "v1", "kind": "Service",
                                             "metadata": {"name": name, "namespace": "default"},
                                             "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
            slices[name] = await client.create("endpointslices",
                                               _slice(name, [next(next_ip) for _ in range(args.endpoints)]))
        created = time.monotonic() - t0
        deadline = time.monotonic() + 120
        newest = max(int(obj["metadata"]["resourceVersion"]) for obj in slices.values())
        while (await http.get("/status")).json()["endpointslices_resource_version"] < newest:
            if time.monotonic() > deadline:
                raise SystemExit("the proxy did not sync the Services within 120 s")
            await asyncio.sleep(0.1)
        initial = (await http.get("/status")).json()
        samples: list[float] = []
        last_ip = ""
        for _ in range(args.changes):
            await asyncio.sleep(rng.uniform(0, args.max_gap))
            name = rng.choice(sorted(slices))
            obj = slices[name]
            last_ip = next(next_ip)
            obj["endpoints"][rng.randrange(args.endpoints)]["addresses"] = [last_ip]
            started = time.perf_counter()
            obj = slices[name] = await client.update("endpointslices", obj)
            rv = int(obj["metadata"]["resourceVersion"])
            while (await http.get("/status")).json()["endpointslices_resource_version"] < rv:
                await asyncio.sleep(0.002)
            samples.append(time.perf_counter() - started)
        final = (await http.get("/status")).json()
        metrics = (await http.get("/metrics")).text
    await http.aclose()
    saved = ""
    if final["mode"] == "iptables":
        saved = (await asyncio.to_thread(subprocess.run, ["iptables-save", "-t", "nat"], capture_output=True,
                                         text=True)).stdout
    sync_sum = sum(float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("kubeproxy_sync_proxy_rules_duration_seconds_sum"))
    sync_count = sum(float(line.split()[-1]) for line in metrics.splitlines()
                     if line.startswith("kubeproxy_sync_proxy_rules_duration_seconds_count"))
    # The periodic full syncs (every --sync-period, 30 s) log their time: iptables-save + every chain.
    full = [float(line.rsplit(", ", 1)[1].rstrip("s\n")) for line in (home / "logs" / "proxy.log").read_text().splitlines()
            if "full sync:" in line and f"{final['rules']} rules" in line]
    return {
        "full_sync_ms": [round(1000 * x, 1) for x in full],
        "mode": final["mode"], "services": args.services, "endpoints": args.endpoints, "changes": len(samples),
        "rules": final["rules"], "create_seconds": round(created, 1),
        "p50_ms": round(1000 * statistics.median(samples), 1),
        "p90_ms": round(1000 * _percentile(samples, 0.90), 1),
        "p99_ms": round(1000 * _percentile(samples, 0.99), 1),
        "max_ms": round(1000 * max(samples), 1),
        "syncs": final["syncs"] - initial["syncs"],
        "mean_sync_ms": round(1000 * sync_sum / sync_count, 1) if sync_count else None,
        "last_full_sync_ms": round(1000 * (initial["last_sync_seconds"] or 0), 1),
        "last_address_in_kernel": (f"--to-destination {last_ip}:8080" in saved) if saved else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--services", type=int, default=100)
    p.add_argument("--endpoints", type=int, default=10)
    p.add_argument("--changes", type=int, default=200)
    p.add_argument("--max-gap", type=float, default=0.5, help="random pause between changes, 0..this (s)")
    p.add_argument("--runtime", choices=("docker", "simulated"), default="docker")
    a = p.parse_args()
    if a.runtime == "docker" and (os.geteuid() != 0 or shutil.which("iptables-restore") is None):
        print("not root or no iptables: the proxy will run as a dry run", file=sys.stderr)
    home = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    up = _labctl(home, "up", "--nodes", "1", "--runtime", a.runtime, "--port", str(free_port()))
    try:
        if up.returncode != 0:
            raise SystemExit(up.stdout + up.stderr)
        result = asyncio.run(run(home, a))
    finally:
        _labctl(home, "down")
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
