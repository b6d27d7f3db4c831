"""The grader of exercise "replicaset-controller": does your PodSet controller keep its count under failures?

    labs.check("replicaset-controller", lab=lab)        # your copy (my_replicaset_controller.py, made by
                                                        # labs.exercise("replicaset_controller")), else the stub
    labs.check("replicaset-controller", lab=lab, controller="pkg.module:Class")   # any controller class

It runs your class on the lab (labs/grading.py: informers, work queue, workers while it holds a
Lease) in namespace ``grade-podset`` and checks one invariant per step, stopping at the first
that breaks — later steps would only repeat it:

1. **steady state**: a PodSet of 3 gets exactly 3 pods, and no more.
2. **lagging watch** (expectations): its pod watch is held back, the PodSet scaled to 5 and then
   touched; the controller must not create again for pods it already created but cannot see yet.
3. **410 Gone** (relist and tombstones): the pod watch is held, 2 pods are deleted, the history is
   compacted and the watch ends; the informer's re-watch gets 410, it lists again and reports the
   two as `DeletedFinalStateUnknown` tombstones; the controller must replace them.
4. **API server killed**: SIGKILL, restarted by the supervisor; then scaled to 2; the controller
   must get there (its informers list again; its sync retries what failed meanwhile).

Its pods have ``schedulerName: labkit-grader`` (no scheduler binds them: the grade is about
counting, and nothing else in the lab has to work for it). Each step's hint grows with each
failed attempt (a nudge, then where to look); the answer only on request,
``labs.hint("replicaset-controller", answer=True)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from labs import aio
from labs.checks import Checker, register
from labs.grading import Hints, compact, delete_all, kill_api_server, load_class, own_lab, running, settle
from labs.podset import CRD, PODSETS, owner_key, podset
from orchestrator.api.errors import AlreadyExists, NotFound
from orchestrator.client.rest import ApiClient

EXERCISE = "labs.exercises.replicaset_controller:PodSetController"
NAMESPACE = "grade-podset"
NAME = "web"
KEY = f"{NAMESPACE}/{NAME}"
SCHEDULER_NAME = "labkit-grader"

hints = Hints("replicaset-controller")


def _learner_controller() -> tuple[str, Path | None]:
    from labs.exercises import copy_name, learner_copy

    path = learner_copy("replicaset_controller")
    if path is None:
        return EXERCISE, None
    return f"{copy_name('replicaset_controller')}:PodSetController", path.parent


@register("replicaset-controller", title="Write a ReplicaSet-like controller that survives failures",
          notebook="12-write-your-own")
def check(c: Checker, *, lab: Any, controller: Any = None) -> None:
    where: Path | None = None
    if controller is None:
        controller, where = _learner_controller()
    try:
        cls, name = load_class(controller, default=EXERCISE, where=where)
        error = ""
    except Exception as err:  # a SyntaxError or ImportError in the learner's file
        cls, name, error = None, str(controller), f"{type(err).__name__}: {err}"
    if not c.expect(cls is not None, passed=f"{name} loads", failed=f"{name} does not load: {error}",
                    hint="fix the line the error names, then run the check again"):
        return
    if not c.expect(own_lab(lab), passed="the lab is your own: the grader may break it",
                    failed="the grader kills the API server and compacts the history: it needs a lab of your own",
                    hint="lab = labs.start(nodes=0, skip=(\"scheduler\", \"controller-manager\")), not labs.connect(...)"):
        return
    aio.run(_grade(c, lab, cls))


class _Pods:
    """The PodSet's pods as the API server has them (not as the controller's cache does)."""

    def __init__(self, admin: ApiClient) -> None:
        self.admin = admin
        self.created: set[str] = set()  # every pod uid ever seen: extra creations show here

    async def active(self) -> int:
        listed = await self.admin.list("pods", namespace=NAMESPACE)
        count = 0
        for pod in listed.get("items") or []:
            if owner_key(pod) != KEY:
                continue
            self.created.add(pod["metadata"]["uid"])
            if not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get("phase") not in (
                    "Succeeded", "Failed"):
                count += 1
        return count

    async def names(self) -> list[str]:
        listed = await self.admin.list("pods", namespace=NAMESPACE)
        return sorted(p["metadata"]["name"] for p in listed.get("items") or [] if owner_key(p) == KEY)


async def _prepare(admin: ApiClient) -> None:
    """The CRD (once per lab), the namespace, and nothing left of an earlier run in it."""
    with contextlib.suppress(AlreadyExists):
        await admin.create("customresourcedefinitions.apiextensions.k8s.io", CRD)
    with contextlib.suppress(AlreadyExists):
        await admin.create("namespaces", {"metadata": {"name": NAMESPACE}})
    deadline = time.monotonic() + 15
    while True:  # the CRD is served once the API server's catalog has it
        try:
            await delete_all(admin, PODSETS, NAMESPACE)
            break
        except NotFound:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    await delete_all(admin, "pods", NAMESPACE)
    await delete_all(admin, "leases.coordination.k8s.io", NAMESPACE)


async def _scale(admin: ApiClient, replicas: int) -> None:
    await admin.patch(PODSETS, NAME, {"spec": {"replicas": replicas}}, namespace=NAMESPACE)


def _stuck(run: Any) -> str:
    """What the controller itself reports: its last sync error, or a crash of its workers."""
    stats = run.component.stats
    if run.crashed:
        return f"; your controller crashed: {run.crashed[-1]}"
    if stats.last_error:
        return f"; its last sync failed with {stats.last_error}"
    if not run.leading.is_set():
        return "; it never became leader (its workers did not run)"
    return f"; it ran {stats.reconciles} syncs without error"


async def _grade(c: Checker, lab: Any, cls: type) -> None:
    async with ApiClient.from_kubeconfig(lab.kubeconfig) as admin:
        await _prepare(admin)
        try:
            async with running(lab, cls, namespace=NAMESPACE, lease="podset-controller") as run:
                await _steps(c, lab, admin, run)
        except Exception as err:
            if not c.steps or c.steps[-1].passed:
                c.expect(False, passed="", failed=f"your controller could not be run: {type(err).__name__}: {err}",
                         hint="PodSetController(ctx) must build without error: keep the __init__ of the stub")
        finally:
            with contextlib.suppress(Exception):
                await delete_all(admin, PODSETS, NAMESPACE)
                await delete_all(admin, "pods", NAMESPACE)


async def _steps(c: Checker, lab: Any, admin: ApiClient, run: Any) -> None:
    pods = _Pods(admin)
    await admin.create(PODSETS, podset(NAME, NAMESPACE, replicas=3, scheduler_name=SCHEDULER_NAME),
                       namespace=NAMESPACE)
    count = await settle(pods.active, want=3, timeout=15, give_up=run.failing)
    if len(pods.created) > 3:
        c.expect(False, passed="",
                 failed=f"your controller created {len(pods.created) - 3} extra pod(s) for a PodSet of 3 "
                        f"({len(pods.created)} created, {count} active now): a sync ran before its cache had seen "
                        "the pods it had just created, and counted too few — it does not use expectations",
                 hint=_expectations_hint())
        return
    if not c.expect(
        count == 3,
        passed="steady state: the PodSet of 3 got exactly 3 pods",
        failed=f"the PodSet web asks for 3 pods; {count} are active{_stuck(run)}",
        hint=hints("steady",
                   "does your sync create pods at all? Every change of a pod must put its PodSet's key in the "
                   "queue (TODO 1), and sync must create replicas minus the active pods it counts (TODO 3)",
                   "in sync: pods = [p for p in self.pods.list() if owner_key(p) == key and is_pod_active(p)]; "
                   "diff = podset['spec']['replicas'] - len(pods); create diff pods with new_pod(podset)",
                   "labs/solutions/replicaset_controller.py, methods pod_added and sync"),
    ):
        return

    # 2. The pod watch lags: the controller cannot see the 2 pods it is about to create.
    before = len(pods.created)
    run.faults.hold("pods")
    await _scale(admin, 5)
    await settle(pods.active, want=5, timeout=10, stable=0.2)
    # A second reason to sync while the creations are still invisible (as a status write would be).
    await admin.patch(PODSETS, NAME, {"metadata": {"annotations": {"grader/touched": str(time.time())}}},
                      namespace=NAMESPACE)
    await asyncio.sleep(1.0)
    await pods.active()
    run.faults.release("pods")
    count = await settle(pods.active, want=5, timeout=15)
    extra = len(pods.created) - before - 2
    if not c.expect(
        extra == 0 and count == 5,
        passed="lagging watch: scaled 3 → 5 while its pod watch lagged, it created exactly 2 pods "
               "(it waits for its own creations to show up: expectations)",
        failed=(f"after its pod watch lagged your controller created {extra} extra pod(s) "
                f"({len(pods.created) - before} for a scale from 3 to 5): it counted the pods in its cache, which "
                "had not yet seen the ones it had just created — it does not use expectations"
                if extra > 0 else
                f"scaled from 3 to 5 while its pod watch lagged: {count} active pods after the watch caught up"
                f"{_stuck(run)}"),
        hint=_expectations_hint(),
    ):
        return

    # 3. The pod watch is lost and its history compacted: 410 Gone, relist, tombstones.
    relists = run.relists("pods")
    run.faults.hold("pods")
    victims = (await pods.names())[:2]
    for victim in victims:
        with contextlib.suppress(NotFound):
            await admin.delete("pods", victim, namespace=NAMESPACE, grace_period_seconds=0)
    await asyncio.sleep(0.5)  # the relay publishes the deletions before the compaction
    await compact(lab)
    run.faults.end("pods")
    count = await settle(pods.active, want=5, timeout=15)
    relisted = run.relists("pods") > relists
    if not c.expect(
        count == 5 and relisted,
        passed=f"410 Gone: 2 pods deleted while its watch was down; after the 410 its informer listed again and "
               f"the controller replaced them ({count} active)",
        failed=(f"2 pods ({', '.join(victims)}) were deleted while your controller's pod watch was down; after the "
                f"410 Gone its informer listed again, but {count} of 5 pods are active: it did not replace them — "
                f"after a relist a deletion arrives as a DeletedFinalStateUnknown tombstone{_stuck(run)}"
                if relisted else "the grader could not make your pod informer list again (a bug in the grader)"),
        hint=hints("tombstones",
                   "what does your delete handler receive after a relist? Read the docstring of "
                   "orchestrator/client/informer.py, step 3",
                   "in pod_deleted, obj is a DeletedFinalStateUnknown (key, obj), not a dict: "
                   "pod = deleted_object(obj) works for both",
                   "pod = deleted_object(obj); key = owner_key(pod); if key: "
                   "self.expectations.deletion_observed(key, meta_namespace_key(obj)); self.queue.add(key)"),
    ):
        return

    # 4. The API server is killed and comes back.
    await kill_api_server(lab, admin)
    await settle(pods.active, want=5, timeout=20, stable=0.2)
    await _retry(lambda: _scale(admin, 2), timeout=20)
    count = await settle(pods.active, want=2, timeout=25)
    c.expect(
        count == 2,
        passed="API server killed and restarted: then scaled 5 → 2, the controller got there",
        failed=f"after the API server restart the PodSet was scaled to 2; {count} pods are active after 25 s: "
               f"pods stayed after the API server restart{_stuck(run)}",
        hint=hints("restart",
                   "a write that fails while the API server is down must be tried again: does your sync let the "
                   "error out (the work queue retries with backoff) or swallow it?",
                   "do not catch exceptions in sync except NotFound on a delete; the framework requeues the key "
                   "with backoff (orchestrator/controllers/controller.py, process)",
                   "delete the surplus: victims = pods[:len(pods) - replicas]; expect_deletions(key, their keys); "
                   "await self.client.delete('pods', name, namespace=...) for each"),
    )


def _expectations_hint() -> str:
    return hints("expectations",
                 "your cache lags behind your own writes. How does the ReplicaSet controller avoid counting "
                 "too few right after it created pods? (orchestrator/controllers/expectations.py)",
                 "before creating: self.expectations.expect_creations(key, diff); in pod_added: "
                 "creation_observed(key); and first thing in sync: return while not satisfied(key)",
                 "in sync: `if not self.expectations.satisfied(key): return` before counting, and "
                 "`self.expectations.expect_creations(key, diff)` before the creates "
                 "(labs/solutions/replicaset_controller.py)")


async def _retry(write: Any, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await write()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
