"""The writer: creates, updates and deletes pods and Deployments at a steady rate, and remembers
exactly what the server acknowledged.

Every object has client-chosen name and a `Tracked` record. Each write sets the annotation
``reliability.labkit.io/gen`` to the next number, so the object's final form says which write
won. Per object, writes are serialized (one in flight at a time).

What a write's answer means for the record (see client.py for the outcomes):

- ``ok``: acknowledged. The record moves to the new state (gen, replicas, present/deleted).
- ``refused``: never reached the server; retried after a short, growing pause until it gets
  another answer or the workload stops (then it was simply never sent).
- ``ambiguous``: may or may not have happened. The record remembers both candidate states and
  is frozen: no further writes, so the final check can demand "exactly one of the two", and a
  request still in flight inside a dying server cannot overwrite a later acknowledged write.
- ``rejected``: a 4xx. For writes this workload makes, none is expected (a 404 on updating an
  acknowledged object would be a lost write); each one is recorded as a violation.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.reliability.faults.client import MERGE_PATCH, Answer, Api, path_for

GEN = "reliability.labkit.io/gen"
Kind = Literal["pods", "deployments"]
State = Literal["new", "present", "deleted"]


@dataclass
class Tracked:
    kind: Kind
    name: str
    state: State = "new"
    gen: int = 0
    replicas: int = 0
    busy: bool = False
    # Set when a write's outcome is unknown: the two states the object may be in (before, after).
    ambiguous: tuple[dict[str, Any], dict[str, Any]] | None = None

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state, "gen": self.gen, "replicas": self.replicas}


@dataclass
class WorkloadStats:
    ops: Counter[str] = field(default_factory=Counter)  # "<kind> <verb> <outcome>"
    retries_refused: int = 0
    ambiguous_reasons: Counter[str] = field(default_factory=Counter)  # "HTTP 500", "ReadError", ...
    violations: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return sum(n for k, n in self.ops.items() if k.endswith(" ok"))

    @property
    def ambiguous(self) -> int:
        return sum(n for k, n in self.ops.items() if k.endswith(" ambiguous"))


def pod_body(name: str, gen: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"reliability": "pod"}, "annotations": {GEN: str(gen)}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "labkit/busybox:1.0", "command": ["sleep", "3600"]}],
        },
    }


def deployment_body(name: str, gen: int, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"reliability": "deployment"}, "annotations": {GEN: str(gen)}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "reliability": "replica"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "main", "image": "labkit/busybox:1.0", "command": ["sleep", "3600"]}],
                },
            },
        },
    }


class Workload:
    def __init__(self, api: Api, *, namespace: str, rate: float, seed: int = 7,
                 pods: tuple[int, int] = (10, 20), deployments: tuple[int, int] = (3, 6),
                 max_in_flight: int = 12) -> None:
        self.api = api
        self.namespace = namespace
        self.rate = rate
        self.rng = random.Random(seed)
        self.bounds = {"pods": pods, "deployments": deployments}
        self.max_in_flight = max_in_flight
        self.objects: dict[tuple[str, str], Tracked] = {}
        self.stats = WorkloadStats()
        self._serial = Counter[str]()
        self._stopping = asyncio.Event()

    # --- choosing the next write ------------------------------------------------------------

    def _live(self, kind: Kind) -> list[Tracked]:
        return [t for t in self.objects.values() if t.kind == kind and t.state == "present" and t.ambiguous is None]

    def _pick(self) -> tuple[Tracked, str] | None:
        kind: Kind = "pods" if self.rng.random() < 0.7 else "deployments"
        lo, hi = self.bounds[kind]
        live = self._live(kind)
        idle = [t for t in live if not t.busy]
        roll = self.rng.random()
        if len(live) < lo or (len(live) < hi and roll < 0.35):
            self._serial[kind] += 1
            prefix = "p" if kind == "pods" else "d"
            t = Tracked(kind=kind, name=f"{prefix}-{self._serial[kind]:05d}")
            self.objects[(kind, t.name)] = t
            return t, "create"
        if not idle:
            return None
        t = self.rng.choice(idle)
        if len(live) > lo and roll < 0.6:
            return t, "delete"
        return t, "update"

    # --- running ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.rate
        tick = loop.time()
        tasks: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            if len(tasks) < self.max_in_flight:
                choice = self._pick()
                if choice is not None:
                    t, verb = choice
                    t.busy = True
                    task = asyncio.create_task(self._write(t, verb), name=f"write-{t.name}-{verb}")
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            else:
                self.stats.ops["skipped (in flight limit)"] += 1
            tick += interval
            await asyncio.sleep(max(0.0, tick - loop.time()))
        self._stopping.set()
        if tasks:
            await asyncio.gather(*tasks)

    async def _write(self, t: Tracked, verb: str) -> None:
        try:
            before = t.snapshot()
            after, send = self._plan(t, verb)
            delay = 0.1
            while True:
                answer = await send()
                self.stats.ops[f"{t.kind} {verb} {answer.outcome}"] += 1
                if answer.outcome != "refused":
                    break
                if self._stopping.is_set():
                    return  # never sent: the record stays as it was
                self.stats.retries_refused += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            self._settle(t, verb, answer, before=before, after=after)
        finally:
            t.busy = False

    def _plan(self, t: Tracked, verb: str) -> tuple[dict[str, Any], Any]:
        ns, gen = self.namespace, t.gen + 1
        if verb == "create":
            replicas = self.rng.randint(1, 3) if t.kind == "deployments" else 0
            body = pod_body(t.name, gen) if t.kind == "pods" else deployment_body(t.name, gen, replicas)
            return ({"state": "present", "gen": gen, "replicas": replicas},
                    lambda: self.api.call("POST", path_for(t.kind, ns), body=body))
        if verb == "update":
            patch: dict[str, Any] = {"metadata": {"annotations": {GEN: str(gen)}}}
            replicas = t.replicas
            if t.kind == "deployments":
                replicas = self.rng.randint(0, 3)
                patch["spec"] = {"replicas": replicas}
                if self.rng.random() < 0.3:  # a new template: a rollout
                    patch["spec"]["template"] = {"metadata": {"annotations": {GEN: str(gen)}}}
            return ({"state": "present", "gen": gen, "replicas": replicas},
                    lambda: self.api.call("PATCH", path_for(t.kind, ns, t.name), body=patch,
                                          content_type=MERGE_PATCH))
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        return ({"state": "deleted", "gen": t.gen, "replicas": t.replicas},
                lambda: self.api.call("DELETE", path_for(t.kind, ns, t.name), body=options))

    def _settle(self, t: Tracked, verb: str, answer: Answer, *, before: dict[str, Any],
                after: dict[str, Any]) -> None:
        if answer.outcome == "ok":
            t.state, t.gen, t.replicas = after["state"], after["gen"], after["replicas"]
        elif answer.outcome == "ambiguous":
            t.ambiguous = (before, after)
            self.stats.ambiguous_reasons[answer.error.split(":")[0]] += 1
        else:
            self.stats.violations.append(
                f"{t.kind}/{t.name}: {verb} rejected with {answer.status} {str(answer.body)[:200]}")
            # The server said no: its state is the one before. Frozen, so the check stays exact.
            t.ambiguous = (before, before)
