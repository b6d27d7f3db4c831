"""The grader of exercise "pod-scheduler": does your scheduler bind every pod, and never overcommit, under failures?

    labs.check("pod-scheduler", lab=lab)               # your copy (my_pod_scheduler.py, made by
                                                       # labs.exercise("pod_scheduler")), else the stub
    labs.check("pod-scheduler", lab=lab, scheduler="pkg.module:Class")   # any scheduler class

It runs your class on the lab (labs/grading.py) against two nodes of its own, ``grade-node-a`` and
``grade-node-b`` (2 CPUs each, Node objects without a node agent: the pods are bound, never run),
with pods of 1 CPU in namespace ``grade-scheduler``. One invariant per step, stopping at the first
that breaks:

1. **take-over with a lagging watch** (assume): 3 pods wait while another scheduler holds the
   Lease; your pod watch is held back, then the Lease is handed to yours. It binds all 3 from a
   cache that does not show its own bindings yet; no node may get more than its 2 CPUs.
2. **410 Gone** (relist and tombstones): the nodes are full and a 5th pod waits. The pod watch is
   held, one bound pod deleted, the history compacted and the watch ended: the re-watch gets 410,
   the informer lists again and reports the deletion as a tombstone. The waiting pod must be bound.
3. **API server killed**: a pod is deleted, the API server SIGKILLed and restarted; a new pod
   must be bound.

In every step: no node over its allocatable CPU, no pod left Pending where one fits. A failed step's
hint grows with each failed attempt; the answer only on request, ``labs.hint("pod-scheduler", answer=True)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import Counter
from pathlib import Path
from typing import Any

from labs import aio
from labs.checks import Checker, register
from labs.grading import Hints, compact, delete_all, kill_api_server, load_class, own_lab, poll, running
from orchestrator.api.errors import AlreadyExists, NotFound
from orchestrator.client.leaderelection import format_micro_time
from orchestrator.client.rest import ApiClient

EXERCISE = "labs.exercises.pod_scheduler:PodScheduler"
NAMESPACE = "grade-scheduler"
LEASE = "pod-scheduler"
SCHEDULER_NAME = "my-scheduler"
NODE_LABEL = "labkit.dev/grading"
NODES = ("grade-node-a", "grade-node-b")
NODE_CPU = 2000  # millicores of each node
POD_CPU = 1000

hints = Hints("pod-scheduler")


def _learner_scheduler() -> tuple[str, Path | None]:
    from labs.exercises import copy_name, learner_copy

    path = learner_copy("pod_scheduler")
    if path is None:
        return EXERCISE, None
    return f"{copy_name('pod_scheduler')}:PodScheduler", path.parent


@register("pod-scheduler", title="Write a scheduler that never overcommits, under failures",
          notebook="12-write-your-own")
def check(c: Checker, *, lab: Any, scheduler: Any = None) -> None:
    where: Path | None = None
    if scheduler is None:
        scheduler, where = _learner_scheduler()
    try:
        cls, name = load_class(scheduler, default=EXERCISE, where=where)
        error = ""
    except Exception as err:  # a SyntaxError or ImportError in the learner's file
        cls, name, error = None, str(scheduler), f"{type(err).__name__}: {err}"
    if not c.expect(cls is not None, passed=f"{name} loads", failed=f"{name} does not load: {error}",
                    hint="fix the line the error names, then run the check again"):
        return
    if not c.expect(own_lab(lab), passed="the lab is your own: the grader may break it",
                    failed="the grader kills the API server and compacts the history: it needs a lab of your own",
                    hint="lab = labs.start(nodes=0, skip=(\"scheduler\", \"controller-manager\")), not labs.connect(...)"):
        return
    aio.run(_grade(c, lab, cls))


def _node(name: str) -> dict[str, Any]:
    capacity = {"cpu": f"{NODE_CPU}m", "memory": "8Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, NODE_LABEL: "scheduler"}},
            "spec": {},
            "status": {"capacity": dict(capacity), "allocatable": dict(capacity),
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"schedulerName": SCHEDULER_NAME,
                     "containers": [{"name": "main", "image": "busybox",
                                     "resources": {"requests": {"cpu": f"{POD_CPU}m", "memory": "64Mi"}}}]}}


def _lease(holder: str) -> dict[str, Any]:
    now = format_micro_time(dt.datetime.now(dt.UTC))
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": LEASE, "namespace": NAMESPACE},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 60, "acquireTime": now, "renewTime": now,
                     "leaseTransitions": 0}}


async def _prepare(admin: ApiClient) -> None:
    with contextlib.suppress(AlreadyExists):
        await admin.create("namespaces", {"metadata": {"name": NAMESPACE}})
    await _clean(admin)
    for name in NODES:
        await admin.create("nodes", _node(name))
    # Another scheduler leads: yours starts as a standby and gets the Lease when the grader says.
    await admin.create("leases.coordination.k8s.io", _lease("previous-scheduler"), namespace=NAMESPACE)


async def _clean(admin: ApiClient) -> None:
    await delete_all(admin, "pods", NAMESPACE)
    await delete_all(admin, "leases.coordination.k8s.io", NAMESPACE)
    await delete_all(admin, "nodes", None, selector=f"{NODE_LABEL}=scheduler")


class _Cluster:
    """The pods as the API server has them."""

    def __init__(self, admin: ApiClient) -> None:
        self.admin = admin
        self.worst: dict[str, int] = {}  # the most CPU ever seen bound on each node

    async def pods(self) -> list[dict[str, Any]]:
        listed = await self.admin.list("pods", namespace=NAMESPACE)
        pods = [p for p in listed.get("items") or [] if not p["metadata"].get("deletionTimestamp")]
        load = Counter(p["spec"]["nodeName"] for p in pods if p["spec"].get("nodeName"))
        for node, n in load.items():
            self.worst[node] = max(self.worst.get(node, 0), n * POD_CPU)
        return pods

    async def pending(self) -> list[str]:
        return sorted(p["metadata"]["name"] for p in await self.pods() if not p["spec"].get("nodeName"))

    async def bound(self) -> dict[str, list[str]]:
        by_node: dict[str, list[str]] = {}
        for p in await self.pods():
            if p["spec"].get("nodeName"):
                by_node.setdefault(p["spec"]["nodeName"], []).append(p["metadata"]["name"])
        return by_node

    def overcommitted(self) -> dict[str, int]:
        return {node: cpu for node, cpu in self.worst.items() if cpu > NODE_CPU}


def _stuck(run: Any) -> str:
    stats = run.component.stats
    if run.crashed:
        return f"; your scheduler crashed: {run.crashed[-1]}"
    if stats.last_error:
        return f"; its last sync failed with {stats.last_error}"
    if not run.leading.is_set():
        return "; it never became leader (its workers did not run)"
    return f"; it ran {stats.reconciles} syncs without error"


def _capacity_hint() -> str:
    return hints("capacity",
                 "each decision must count the pods you bound a moment ago — does your cache show them yet?",
                 "set self.assumed[key] = node before the bind (sync does), and in requested() count a pod on "
                 "pod['spec'].get('nodeName') or self.assumed.get(meta_namespace_key(pod))",
                 "requested(): sum(pod_cpu(p) for p in self.pods.list() if (p['spec'].get('nodeName') or "
                 "self.assumed.get(meta_namespace_key(p))) == node_name)  (labs/solutions/pod_scheduler.py)")


async def _grade(c: Checker, lab: Any, cls: type) -> None:
    async with ApiClient.from_kubeconfig(lab.kubeconfig) as admin:
        await _prepare(admin)
        try:
            async with running(lab, lambda ctx: cls(ctx, node_selector=f"{NODE_LABEL}=scheduler"),
                               namespace=NAMESPACE, lease=LEASE) as run:
                await _steps(c, lab, admin, run)
        except Exception as err:
            if not c.steps or c.steps[-1].passed:
                c.expect(False, passed="", failed=f"your scheduler could not be run: {type(err).__name__}: {err}",
                         hint="PodScheduler(ctx, node_selector=...) must build without error: keep the stub's __init__")
        finally:
            with contextlib.suppress(Exception):
                await _clean(admin)


async def _steps(c: Checker, lab: Any, admin: ApiClient, run: Any) -> None:
    cluster = _Cluster(admin)
    for i in range(1, 4):
        await admin.create("pods", _pod(f"pod-{i}"), namespace=NAMESPACE)
    pods = run.informer("pods")
    await poll(lambda: pods is not None and len(pods.list()) >= 3, timeout=10)
    run.faults.hold("pods")
    lease = await admin.get("leases.coordination.k8s.io", LEASE, namespace=NAMESPACE)
    await admin.update("leases.coordination.k8s.io", {**lease, "spec": {**lease["spec"], "holderIdentity": ""}},
                       namespace=NAMESPACE)  # released: yours may take it
    await poll(lambda: run.leading.is_set(), timeout=10)
    await poll(lambda: run.failing() or _all_bound(cluster, 3), timeout=10)
    await asyncio.sleep(0.5)
    run.faults.release("pods")
    await poll(lambda: run.failing() or _all_bound(cluster, 3), timeout=5)
    pending = await cluster.pending()
    bound = await cluster.bound()
    over = cluster.overcommitted()
    if over:
        c.expect(False, passed="",
                 failed="pod bound to a node without capacity: " + ", ".join(
                     f"{node} got {cpu // POD_CPU} pods asking {cpu}m CPU but has {NODE_CPU}m allocatable"
                     for node, cpu in over.items())
                 + " — your scheduler decided from its informer cache, which had not yet seen its own "
                   "bindings (the pod watch lagged): count what you bound yourself (assume)",
                 hint=_capacity_hint())
        return
    if not c.expect(
        not pending,
        passed=f"take-over with a lagging watch: it got the Lease and bound 3 pods within capacity ({_show(bound)})",
        failed=f"after your scheduler got the Lease, pods stayed Pending: {', '.join(pending)}{_stuck(run)}",
        hint=hints("bind",
                   "does pick_node return a node name? The pods fit: 2 nodes of 2 CPUs, pods of 1 CPU",
                   "pick_node: for each node in self.nodes.list(), used = self.requested(name); keep it if "
                   "used + pod_cpu(pod) <= node_cpu(node); return the name with the least used",
                   "fits = [(self.requested(n['metadata']['name']), n['metadata']['name']) for n in "
                   "self.nodes.list() if self.requested(n['metadata']['name']) + pod_cpu(pod) <= node_cpu(n)]; "
                   "return min(fits)[1] if fits else None"),
    ):
        return

    # 2. Full nodes, a waiting pod, and a deletion seen only as a tombstone after a 410.
    await admin.create("pods", _pod("pod-4"), namespace=NAMESPACE)
    await poll(lambda: _all_bound(cluster, 4), timeout=10)
    await admin.create("pods", _pod("pod-5"), namespace=NAMESPACE)
    await asyncio.sleep(1.0)  # time to (wrongly) bind it
    waiting = await cluster.pending()
    if cluster.overcommitted() or not waiting:
        over = cluster.overcommitted()
        c.expect(False, passed="",
                 failed="pod bound to a node without capacity: with both nodes full (2 × 2 CPUs), pod-5 was "
                        f"bound anyway ({_show(await cluster.bound())}; worst {over or cluster.worst})",
                 hint=_capacity_hint())
        return
    relists = run.relists("pods")
    run.faults.hold("pods")
    victim = (await cluster.bound())[NODES[0]][0] if NODES[0] in await cluster.bound() else "pod-1"
    with contextlib.suppress(NotFound):
        await admin.delete("pods", victim, namespace=NAMESPACE, grace_period_seconds=0)
    await asyncio.sleep(0.5)  # the relay publishes the deletion before the compaction
    await compact(lab)
    run.faults.end("pods")
    await poll(lambda: _no_pending(cluster), timeout=10)
    pending = await cluster.pending()
    relisted = run.relists("pods") > relists
    over = cluster.overcommitted()
    if not c.expect(
        not pending and not over and relisted,
        passed=f"410 Gone: {victim} was deleted while its watch was down; after the 410 relist the waiting pod-5 "
               f"was bound in its place ({_show(await cluster.bound())})",
        failed=(f"pod bound to a node without capacity after the relist: {over}" if over else
                f"{victim} was deleted while your scheduler's pod watch was down; after the 410 Gone its informer "
                f"listed again, but {', '.join(pending)} stayed Pending although {NODES[0]} has room: the "
                f"deletion arrived as a DeletedFinalStateUnknown tombstone{_stuck(run)}"
                if relisted else "the grader could not make your pod informer list again (a bug in the grader)"),
        hint=hints("tombstones",
                   "who tells a waiting pod that room freed up? What does pod_deleted get after a relist?",
                   "pod_deleted gets a DeletedFinalStateUnknown (key, obj) after a relist, not a dict: use "
                   "meta_namespace_key(obj), then self.retry_unschedulable()",
                   "key = meta_namespace_key(obj); self.assumed.pop(key, None); self.unschedulable.discard(key); "
                   "self.retry_unschedulable()"),
    ):
        return

    # 3. The API server is killed; a pod freed before and a pod created after must meet.
    bound = await cluster.bound()
    with contextlib.suppress(NotFound):
        await admin.delete("pods", bound[NODES[1]][0] if NODES[1] in bound else "pod-2", namespace=NAMESPACE,
                           grace_period_seconds=0)
    await kill_api_server(lab, admin)
    await _retry(lambda: admin.create("pods", _pod("pod-6"), namespace=NAMESPACE), timeout=20)
    await poll(lambda: _no_pending(cluster), timeout=25)
    pending = await cluster.pending()
    over = cluster.overcommitted()
    c.expect(
        not pending and not over,
        passed=f"API server killed and restarted: the new pod-6 was bound ({_show(await cluster.bound())})",
        failed=(f"pod bound to a node without capacity after the API server restart: {over}" if over else
                f"pods stayed Pending after the API server restart: {', '.join(pending)}{_stuck(run)}"),
        hint=hints("restart",
                   "a bind that fails while the API server is down must be tried again: does sync let the error "
                   "out (the work queue retries with backoff)?",
                   "on an error other than Conflict, forget the assumed node (self.assumed.pop(key)) and raise",
                   "see the except clauses of sync in labs/solutions/pod_scheduler.py"),
    )


async def _all_bound(cluster: _Cluster, count: int) -> bool:
    pods = await cluster.pods()
    return len(pods) >= count and all(p["spec"].get("nodeName") for p in pods)


async def _no_pending(cluster: _Cluster) -> bool:
    return not await cluster.pending()


def _show(bound: dict[str, list[str]]) -> str:
    return "; ".join(f"{node}: {', '.join(sorted(pods))}" for node, pods in sorted(bound.items()))


async def _retry(write: Any, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await write()
            return
        except AlreadyExists:
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
