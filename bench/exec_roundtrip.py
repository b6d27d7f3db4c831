"""Streaming: `kubectl exec POD -- true` beside `docker exec CONTAINER true`, and port-forward throughput.

    .venv/bin/python bench/exec_roundtrip.py [--runs 30] [--transfer-mib 100] [--skip-transfer]

A lab is started with `labctl up --nodes 1 --runtime docker` in a temporary home (the node agent
on Docker) and stopped at the end. One busybox pod runs ``httpd`` with a file of
--transfer-mib MiB.

1. Exec round trip: each run times `kubectl exec POD -- true` and `docker exec CONTAINER true`
   (the pod's own container), interleaved, so a noisy neighbour hurts both alike; medians and
   the ratio are printed. kubectl's own start-up (config, discovery cache warm) is part of both
   sides' process start-up; the difference is the path API server → node agent → Docker.
   Target: ratio <= 1.5.
2. Port-forward throughput (unless --skip-transfer): the file fetched through
   `kubectl port-forward` beside fetched directly from the container's bridge address, MiB/s,
   best of three each. Target: >= 30 % of direct.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.lab.embedded.ports import free_port  # noqa: E402


def _labctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LABKIT_HOME=str(home))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _kubectl(home: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(home / "admin.kubeconfig"), HOME=str(home))
    return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, check=True, **kwargs)


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _fetch(url: str) -> float:
    """MiB/s of one GET of `url`."""
    started, size = time.perf_counter(), 0
    with httpx.stream("GET", url, timeout=120) as r:
        r.raise_for_status()
        for chunk in r.iter_raw(1 << 20):
            size += len(chunk)
    return size / (1 << 20) / (time.perf_counter() - started)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--transfer-mib", type=int, default=100)
    p.add_argument("--skip-transfer", action="store_true")
    a = p.parse_args()
    if shutil.which("kubectl") is None:
        raise SystemExit("kubectl is required")
    home = Path(tempfile.mkdtemp(prefix="bench-exec-"))
    up = _labctl(home, "up", "--nodes", "1", "--runtime", "docker", "--port", str(free_port()))
    if up.returncode != 0:
        _labctl(home, "down")
        raise SystemExit(f"labctl up failed:\n{up.stdout}\n{up.stderr}")
    engine = docker.from_env()
    try:
        script = (f"mkdir -p /www && dd if=/dev/zero of=/www/big bs=1048576 count={a.transfer_mib} 2>/dev/null && "
                  "exec httpd -f -p 8080 -h /www")
        _kubectl(home, "run", "bench", "--image=labkit/busybox:1.0", "--image-pull-policy=IfNotPresent",
                 "--restart=Never", "--command", "--", "sh", "-c", script)
        _kubectl(home, "wait", "--for=condition=Ready", "pod/bench", "--timeout=120s")
        container = engine.containers.list(filters={"label": "io.kubernetes.pod.name=bench"})[0]
        env = dict(os.environ, KUBECONFIG=str(home / "admin.kubeconfig"), HOME=str(home))
        kube, dock = [], []
        _timed(["kubectl", "exec", "bench", "--", "true"], env)  # warm kubectl's discovery cache
        for _ in range(a.runs):
            kube.append(_timed(["kubectl", "exec", "bench", "--", "true"], env))
            dock.append(_timed(["docker", "exec", container.id, "true"]))
        k, d = statistics.median(kube), statistics.median(dock)
        print(f"exec round trip, median of {a.runs}: kubectl exec {k * 1000:.0f} ms, docker exec {d * 1000:.0f} ms, "
              f"ratio {k / d:.2f} (target <= 1.5)", flush=True)
        if a.skip_transfer:
            return
        time.sleep(1)  # the file is written before httpd starts; give dd a moment on a slow disk
        container.reload()
        ip = container.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        direct = max(_fetch(f"http://{ip}:8080/big") for _ in range(3))
        forward = subprocess.Popen(["kubectl", "port-forward", "pod/bench", ":8080"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            assert forward.stdout is not None
            match = re.search(r"127\.0\.0\.1:(\d+)", forward.stdout.readline())
            if match is None:
                raise SystemExit("kubectl port-forward did not start")
            tunnelled = max(_fetch(f"http://127.0.0.1:{match.group(1)}/big") for _ in range(3))
        finally:
            forward.terminate()
            forward.wait(10)
        print(f"port-forward, {a.transfer_mib} MiB, best of 3: direct {direct:.0f} MiB/s, kubectl port-forward "
              f"{tunnelled:.0f} MiB/s ({100 * tunnelled / direct:.0f} % of direct, target >= 30 %)", flush=True)
    finally:
        engine.close()
        # The node agent removes the pod's container once the pod is deleted; `down` only stops it.
        subprocess.run(["kubectl", "delete", "pod", "bench", "--now", "--timeout=60s"],
                       env=dict(os.environ, KUBECONFIG=str(home / "admin.kubeconfig"), HOME=str(home)),
                       check=False, capture_output=True)
        _labctl(home, "down")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
