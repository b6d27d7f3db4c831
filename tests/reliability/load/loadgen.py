"""An open-loop load generator: a fixed request rate of mixed verbs, latencies per verb.

Open loop means request *i* is sent at ``start + i / rate`` whether or not earlier requests have
been answered — as independent users would — so a slow server is not hidden by a client that
politely waits (the "coordinated omission" of closed-loop benchmarks). Each latency is measured
from the moment the request was *due*, not from when the client got round to sending it.

The mix (weights of `MIX`), on pods of one namespace:

    get     GET one pod                     list    GET the namespace's pods
    create  POST a new pod                  update  merge PATCH of a pod's annotation
    delete  DELETE a pod                    watch   a watch from the latest revision: the latency
                                                    is the time to the response headers; the
                                                    stream is then read for 2 s

The pool of pods stays between `POOL` bounds (below the low bound a delete becomes a create,
above the high bound a create becomes a delete), and one request at a time touches a pod.
Every non-2xx answer and every transport error is an error.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.reliability.faults.client import MERGE_PATCH, Api, pods_path

MIX = {"get": 30, "list": 15, "create": 15, "update": 20, "delete": 15, "watch": 5}
POOL = (20, 60)
MAX_OUTSTANDING = 1000


@dataclass
class VerbStats:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            if not lat:
                return None
            return round(lat[min(len(lat) - 1, max(0, int(round(p / 100 * len(lat))) - 1))] * 1000, 1)

        return {"requests": len(lat) + sum(self.errors.values()), "ok": len(lat),
                "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": round(lat[-1] * 1000, 1) if lat else None,
                "errors": dict(self.errors)}


@dataclass
class LoadReport:
    rate: float
    seconds: float
    verbs: dict[str, VerbStats] = field(default_factory=lambda: defaultdict(VerbStats))
    late_starts: int = 0  # requests the client itself sent more than 100 ms after they were due
    load_before: float = field(default_factory=lambda: os.getloadavg()[0])  # the machine is shared
    dropped: int = 0  # not sent: MAX_OUTSTANDING requests were already waiting

    @property
    def errors(self) -> int:
        return sum(sum(v.errors.values()) for v in self.verbs.values()) + self.dropped

    @property
    def server_errors(self) -> int:
        return sum(n for v in self.verbs.values() for k, n in v.errors.items() if k.startswith("HTTP 5"))

    def as_dict(self) -> dict[str, Any]:
        sent = sum(len(v.latencies) + sum(v.errors.values()) for v in self.verbs.values())
        return {"rate_per_second": self.rate, "seconds": self.seconds, "requests": sent,
                "load_average_1m_before_after": [round(self.load_before, 1), round(os.getloadavg()[0], 1)],
                "cpus": os.cpu_count(),
                "achieved_rate_per_second": round(sent / self.seconds, 1) if self.seconds else 0,
                "errors": self.errors, "server_errors_5xx": self.server_errors, "late_starts": self.late_starts,
                "dropped": self.dropped, "verbs": {k: v.summary() for k, v in sorted(self.verbs.items())}}


class LoadGenerator:
    def __init__(self, api: Api, *, namespace: str, rate: float, seed: int = 11) -> None:
        self.api = api
        self.namespace = namespace
        self.rate = rate
        self.rng = random.Random(seed)
        self.idle: list[str] = []  # pods no request is touching now
        self.serial = 0
        self.latest_revision = "0"

    def _choose(self) -> tuple[str, str | None]:
        verb = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        low, high = POOL
        size = len(self.idle)
        if verb == "delete" and size <= low:
            verb = "create"
        elif verb == "create" and size >= high:
            verb = "delete"
        if verb in ("get", "update", "delete"):
            if not self.idle:
                return "list", None
            return verb, self.idle.pop(self.rng.randrange(len(self.idle)))
        if verb == "create":
            self.serial += 1
            return verb, f"l-{self.serial:06d}"
        return verb, None

    async def run(self, *, seconds: float) -> LoadReport:
        report = LoadReport(rate=self.rate, seconds=seconds)
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks: set[asyncio.Task[None]] = set()
        i = 0
        while True:
            due = start + i / self.rate
            if due - start >= seconds:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            i += 1
            if len(tasks) >= MAX_OUTSTANDING:
                report.dropped += 1
                continue
            verb, pod = self._choose()
            task = asyncio.create_task(self._one(verb, pod, due=due, report=report), name=f"load-{verb}-{i}")
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        return report

    async def _one(self, verb: str, pod: str | None, *, due: float, report: LoadReport) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - due > 0.1:
            report.late_starts += 1
        stats = report.verbs[verb]
        try:
            error, answered = await self._send(verb, pod)
        except httpx.TransportError as err:
            error, answered = type(err).__name__, loop.time()
        if error is None:
            stats.latencies.append(answered - due)
        else:
            stats.errors[error] += 1
        # The pod is free again, unless it is gone (deleted) or was never made (a failed create).
        if pod is not None and not (verb == "delete" and error is None) and not (verb == "create" and error):
            self.idle.append(pod)

    async def _send(self, verb: str, pod: str | None) -> tuple[str | None, float]:
        """One request; (error or None, when the answer came: for a watch, its headers)."""
        ns, loop = self.namespace, asyncio.get_running_loop()
        if verb == "watch":
            return await self._watch()
        if verb == "get":
            answer = await self.api.call("GET", pods_path(ns, pod))
        elif verb == "list":
            answer = await self.api.call("GET", pods_path(ns))
        elif verb == "create":
            answer = await self.api.call("POST", pods_path(ns), body=_pod(str(pod)))
        elif verb == "update":
            answer = await self.api.call("PATCH", pods_path(ns, pod), content_type=MERGE_PATCH,
                                         body={"metadata": {"annotations": {"load.labkit.io/touched": str(time.time())}}})
        else:
            answer = await self.api.call("DELETE", pods_path(ns, pod),
                                         body={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
        answered = loop.time()
        if answer.ok:
            rv = (answer.body.get("metadata") or {}).get("resourceVersion") if isinstance(answer.body, dict) else None
            if rv:
                self.latest_revision = max(self.latest_revision, rv, key=int)
            return None, answered
        return (f"HTTP {answer.status}" if answer.status else answer.error.split(":")[0]), answered

    async def _watch(self) -> tuple[str | None, float]:
        loop = asyncio.get_running_loop()
        params = {"watch": "true", "resourceVersion": self.latest_revision, "timeoutSeconds": "2"}
        async with self.api.http.stream("GET", pods_path(self.namespace), params=params,
                                        timeout=httpx.Timeout(10.0, read=30.0)) as r:
            headers_at = loop.time()
            if r.status_code != 200:
                await r.aread()
                return f"HTTP {r.status_code}", headers_at
            async for line in r.aiter_lines():
                if '"type":"ERROR"' in line.replace(" ", ""):
                    return "watch ERROR event", headers_at
        return None, headers_at


def _pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"load": "pod"}},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "main", "image": "labkit/busybox:1.0", "command": ["sleep", "3600"]}]}}
