"""Scheduler: the process's loop around the pure core — informers in, Bindings and Events out.

Data flow (upstream's names):

    pods informer  --pending pod of one of our profiles-->  SchedulingQueue.add/update/delete
    pods informer  --assigned pod (spec.nodeName set)--->   Cache.add/update/remove_pod
    nodes informer -------------------------------------->  Cache.add/update/remove_node
    node added or changed, assigned pod deleted/finished -> queue.move_all_to_active_or_backoff

    scheduling cycle (one pod at a time, in `run`):
        pop -> snapshot the cache -> Framework.schedule_one -> assume in the cache -> Reserve
        -> start the binding cycle as a task, and pop the next pod at once
    binding cycle (many at a time, tasks owned by `run`'s TaskGroup):
        Bind (POST pods/{name}/binding) -> finish_binding, event "Scheduled"
        on failure: forget the assumption, Unreserve, back to the queue with backoff

A pod that fits nowhere goes back to the queue (unschedulablePods, or backoffQ if a cluster
event came in meanwhile), gets a `FailedScheduling` Warning event with the FitError message,
and its status gets the condition PodScheduled=False, reason Unschedulable (what
``kubectl get pods`` shows as Pending and ``kubectl describe`` explains).

Why assume before binding: the next cycle starts while the Binding is still on the wire; the
assumed pod makes that cycle count the resources already promised, so two pods never both get
"the last 2 CPUs". Why no double binding: only the leader runs `run` (see __main__), a pod
leaves the queue once assumed, and the API server refuses a Binding for a pod that already has
a node (409), so even a deposed leader's last in-flight Binding cannot move a pod.

Kubernetes equivalent: pkg/scheduler/scheduler.go, schedule_one.go, eventhandlers.go
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from orchestrator.api.errors import ApiError, Conflict
from orchestrator.api.objects import TERMINAL_PHASES
from orchestrator.api.timestamps import now_rfc3339
from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import DeletedFinalStateUnknown, SharedInformerFactory, deleted_object
from orchestrator.client.rest import ApiClient
from orchestrator.scheduler.cache import Cache
from orchestrator.scheduler.config import DEFAULT_SCHEDULER_NAME, SchedulerConfiguration, build_frameworks
from orchestrator.scheduler.framework.interfaces import CycleState, Handle, Pod, Status
from orchestrator.scheduler.framework.nodeinfo import Snapshot, pod_key
from orchestrator.scheduler.framework.runtime import Explanation, Framework
from orchestrator.scheduler.metrics import SchedulerMetrics
from orchestrator.scheduler.queue import (
    ASSIGNED_POD_DELETE,
    NODE_ADD,
    NODE_UPDATE,
    QueuedPodInfo,
    SchedulingQueue,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENT_BINDS = 64
CACHE_CLEANUP_INTERVAL_SECONDS = 1.0


def scheduler_name(pod: Pod) -> str:
    return (pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER_NAME


def _assigned(pod: Pod) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _terminal(pod: Pod) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


def _being_deleted(pod: Pod) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _node_scheduling_view(node: dict[str, Any]) -> tuple[Any, ...]:
    """What of a node can change where pods fit (heartbeat timestamps cannot)."""
    status = node.get("status") or {}
    ready = [c.get("status") for c in status.get("conditions") or () if c.get("type") == "Ready"]
    return (node.get("spec"), (node.get("metadata") or {}).get("labels"), status.get("allocatable"), ready)




class Scheduler:
    """One scheduler: its queue, cache and frameworks, fed by informers, scheduling while `run` runs."""

    def __init__(
        self,
        client: ApiClient,
        *,
        config: SchedulerConfiguration,
        recorder: EventRecorder | None = None,
        max_concurrent_binds: int = DEFAULT_MAX_CONCURRENT_BINDS,
        frameworks: Mapping[str, Framework] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.recorder = recorder
        self.queue = SchedulingQueue(
            initial_backoff_seconds=config.pod_initial_backoff_seconds,
            max_backoff_seconds=config.pod_max_backoff_seconds,
        )
        self.cache = Cache()
        self.frameworks: dict[str, Framework] = (
            dict(frameworks) if frameworks is not None
            else build_frameworks(config, handle=Handle(bind_pod=self._post_binding))
        )
        self.metrics = SchedulerMetrics(self.queue.counts)
        self.counters: collections.Counter[str] = collections.Counter()
        self._bind_slots = asyncio.Semaphore(max_concurrent_binds)
        self._pods_informer_get: Callable[[str], Pod | None] = lambda key: None
        self._tasks: asyncio.TaskGroup | None = None  # run()'s: owns binding and status tasks

    # -- wiring -----------------------------------------------------------------------------

    def attach(self, factory: SharedInformerFactory, *, node_selector: str | None = None) -> None:
        """Register the event handlers on the factory's pod and node informers.

        `node_selector` (a label selector) limits the nodes this scheduler sees: a lab or a
        test can give a scheduler its own part of a shared cluster.
        """
        pods = factory.informer("pods")
        nodes = factory.informer("nodes", label_selector=node_selector)
        pods.add_handler(on_add=self.on_pod_add, on_update=self.on_pod_update, on_delete=self.on_pod_delete)
        nodes.add_handler(on_add=self.on_node_add, on_update=self.on_node_update, on_delete=self.on_node_delete)
        self._pods_informer_get = pods.get

    def responsible_for(self, pod: Pod) -> bool:
        """A pod is ours if its schedulerName is one of our profiles' (upstream responsibleForPod)."""
        return scheduler_name(pod) in self.frameworks

    # -- informer event handlers (upstream eventhandlers.go): compute, enqueue, never block ---

    def on_pod_add(self, pod: Pod) -> None:
        if _assigned(pod):
            self.cache.add_pod(pod)
        elif self.responsible_for(pod) and not _terminal(pod) and not _being_deleted(pod):
            self.queue.add(pod)

    def on_pod_update(self, old: Pod, new: Pod) -> None:
        if _assigned(new):
            if not _assigned(old):
                self.queue.delete(new)  # bound (by us, or by whoever): no longer pending
            self.cache.update_pod(old, new)
            if _terminal(new) and not _terminal(old):
                self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE)
        elif self.responsible_for(new):
            if _terminal(new) or _being_deleted(new):
                self.queue.delete(new)
            else:
                self.queue.update(old, new)

    def on_pod_delete(self, obj: Pod | DeletedFinalStateUnknown) -> None:
        pod = deleted_object(obj)
        if _assigned(pod) or self.cache.get_pod(pod_key(pod)) is not None:
            self.cache.remove_pod(pod)
            self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE)
        self.queue.delete(pod)

    def on_node_add(self, node: dict[str, Any]) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff(NODE_ADD)

    def on_node_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.cache.update_node(old, new)
        if _node_scheduling_view(old) != _node_scheduling_view(new):
            self.queue.move_all_to_active_or_backoff(NODE_UPDATE)

    def on_node_delete(self, obj: dict[str, Any] | DeletedFinalStateUnknown) -> None:
        self.cache.remove_node(deleted_object(obj))

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Schedule pods until cancelled. Binding cycles run as tasks of this TaskGroup, so
        cancelling `run` also ends them (a pod whose Binding was cut off is forgotten and, if
        still pending, scheduled again by whoever leads next)."""
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                while True:
                    info = await self.queue.pop()
                    if info is None:
                        return
                    try:
                        self.schedule_one(info)
                    except Exception as err:  # a bug in a plugin must not stop the scheduler
                        log.exception("scheduling %s failed", info.key)
                        self._failure(info, Status.error(f"scheduler error: {err}"), str(err), ())
                    # Let binding tasks and informer events in between cycles (pop does not
                    # yield while activeQ has pods).
                    await asyncio.sleep(0)
        finally:
            self._tasks = None

    async def housekeeping(self) -> None:
        """Expire assumed pods whose informer event never came; flush the queue's timers."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.queue.run(), name="scheduling-queue-flush")
            while True:
                await asyncio.sleep(CACHE_CLEANUP_INTERVAL_SECONDS)
                for key in self.cache.cleanup_expired_assumed_pods():
                    log.warning("assumed pod %s expired: its bound event never arrived", key)

    def schedule_one(self, info: QueuedPodInfo) -> None:
        """One scheduling cycle for the popped pod (synchronous: the cache cannot change under it)."""
        pod = info.pod
        framework = self.frameworks.get(scheduler_name(pod))
        if framework is None or _being_deleted(pod) or _assigned(pod):
            self.queue.done(info.key)
            return
        started = time.perf_counter()
        result = framework.schedule_one(pod, self.cache.snapshot())
        self.metrics.algorithm_duration.observe(time.perf_counter() - started)
        if not result.scheduled:
            self._failure(info, result.status, result.message, result.diagnosis.unschedulable_plugins)
            return
        host = result.suggested_host
        assert host is not None
        try:
            self.cache.assume_pod(pod, host)
        except Conflict as err:
            self._failure(info, Status.error(err.message), err.message, ())
            return
        state = result.cycle_state if result.cycle_state is not None else CycleState()
        status = framework.run_reserve(state, pod, host)
        if not status.is_success():
            self.cache.forget_pod(pod)
            self._failure(info, status, status.message, ())
            return
        self._spawn(self._binding_cycle(info, framework, state, host, started), name=f"bind:{info.key}")

    async def _binding_cycle(
        self, info: QueuedPodInfo, framework: Framework, state: CycleState, host: str, started: float
    ) -> None:
        pod = info.pod
        try:
            async with self._bind_slots:
                status = await framework.run_bind(state, pod, host)
        except asyncio.CancelledError:
            # Leadership lost or shutting down: take the promise back and leave the pod in the
            # queue (backoffQ), so whoever schedules next finds it (unless it got bound).
            if self.cache.is_assumed(pod):
                self.cache.forget_pod(pod)
            self.queue.add_unschedulable_if_not_present(info, message="binding cancelled")
            raise
        except Exception as err:  # never let one binding take the TaskGroup down
            status = Status.error(f"binding failed: {err}")
        profile = framework.profile_name
        if status.is_success():
            self.cache.finish_binding(pod)
            self.queue.done(info.key)
            self.counters["scheduled"] += 1
            self.metrics.attempts.labels(result="scheduled", profile=profile).inc()
            self.metrics.attempt_duration.labels(result="scheduled", profile=profile).observe(
                time.perf_counter() - started)
            if info.initial_attempt_timestamp is not None:
                loop_now = asyncio.get_running_loop().time()
                self.metrics.pod_scheduling_duration.observe(max(0.0, loop_now - info.initial_attempt_timestamp))
            if self.recorder is not None:
                self.recorder.event(pod, "Normal", "Scheduled", f"Successfully assigned {info.key} to {host}")
            return
        self.counters["bind_errors"] += 1
        if self.cache.is_assumed(pod):
            self.cache.forget_pod(pod)
        framework.run_unreserve(state, pod, host)
        message = f"Binding rejected: {status.message}"
        log.info("%s: %s", info.key, message)
        self._failure(info, Status.error(message), message, ())

    async def _post_binding(self, pod: Pod, node_name: str) -> None:
        """Handle.bind_pod: what DefaultBinder calls."""
        meta = pod["metadata"]
        await self.client.bind(meta.get("namespace") or "default", meta["name"], node_name)

    # -- failures ---------------------------------------------------------------------------

    def _failure(
        self,
        info: QueuedPodInfo,
        status: Status,
        message: str,
        unschedulable_plugins: frozenset[str] | tuple[str, ...],
    ) -> None:
        """Upstream handleSchedulingFailure: requeue, count, event, PodScheduled=False."""
        result = "unschedulable" if status.is_rejected() else "error"
        self.counters[result] += 1
        profile = scheduler_name(info.pod)
        self.metrics.attempts.labels(result=result, profile=profile).inc()
        where = self.queue.add_unschedulable_if_not_present(
            info, message=message, unschedulable_plugins=unschedulable_plugins if result == "unschedulable" else ()
        )
        if where is None:
            return  # deleted or bound meanwhile: nothing to report
        # The freshest copy we have: the informer's (the queued one may be older).
        pod = self._pods_informer_get(info.key) or info.pod
        if _assigned(pod):
            return
        if self.recorder is not None:
            self.recorder.event(pod, "Warning", "FailedScheduling", message)
        reason = "Unschedulable" if result == "unschedulable" else "SchedulerError"
        self._spawn(self._set_pod_scheduled_false(pod, reason=reason, message=message),
                    name=f"pod-condition:{info.key}")

    def _spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run `coro` as a task of run()'s TaskGroup (it must not raise: they catch everything)."""
        if self._tasks is None:
            coro.close()  # not running (a unit test calling schedule_one): nothing to own it
            return
        self._tasks.create_task(coro, name=name)

    async def _set_pod_scheduled_false(self, pod: Pod, *, reason: str, message: str) -> None:
        """Write PodScheduled=False unless the pod already says exactly that (upstream updatePod)."""
        conditions = (pod.get("status") or {}).get("conditions") or []
        current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        if current and (current.get("status"), current.get("reason"), current.get("message")) == (
                "False", reason, message):
            return
        transition = current.get("lastTransitionTime") if current and current.get("status") == "False" else None
        condition = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                     "lastProbeTime": None, "lastTransitionTime": transition or now_rfc3339()}
        meta = pod["metadata"]
        try:
            await self.client.patch(
                "pods", meta["name"], {"status": {"conditions": [condition]}},
                patch_type="strategic", namespace=meta.get("namespace") or "default", subresource="status",
            )
        except ApiError as err:
            log.info("%s: could not set PodScheduled=False: %s", pod_key(pod), err)
        except Exception:
            log.exception("%s: could not set PodScheduled=False", pod_key(pod))

    # -- reading ----------------------------------------------------------------------------

    def explain(self, pod: Pod) -> Explanation:
        """A dry run for `pod` with its profile (or the first profile if it names none of ours).

        A pod already in the cache (bound or assumed) is taken out of the snapshot first, so
        that its own requests do not count against it.
        """
        framework = self.frameworks.get(scheduler_name(pod)) or next(iter(self.frameworks.values()))
        snapshot = self.cache.snapshot()
        key = pod_key(pod)
        cached = self.cache.get_pod(key)
        if cached is not None:
            infos = []
            for info in snapshot.node_infos:
                if key in info.pods:
                    info = info.clone()
                    info.remove_pod(key)
                infos.append(info)
            snapshot = Snapshot(infos)
        pod = {**pod, "spec": {k: v for k, v in (pod.get("spec") or {}).items() if k != "nodeName"}}
        return framework.explain(pod, snapshot)

    def pod_from_informer(self, key: str) -> Pod | None:
        return self._pods_informer_get(key)
