"""The Job controller: run pods until ``spec.completions`` of them succeed, or give up.

`sync(key)` in named steps, as upstream's syncJob:

1. **claim pods** — the Job's pods by its selector (adopting orphans, releasing strays), all of
   them, finished ones too: they are what the Job has done so far;
2. **count** — active (not finished, not being deleted), ready, terminating, succeeded, and failed —
   a failed pod is first matched against ``spec.podFailurePolicy`` (rules in order, on container
   exit codes or pod conditions): ``Ignore`` does not count it, ``FailJob`` fails the Job at once,
   ``Count`` (and no match) counts it. With ``restartPolicy: OnFailure`` container restarts of
   active pods count towards the back-off limit too;
3. **decide whether it is finished** — failed: a FailJob rule matched, more failures than
   ``backoffLimit`` (reason BackoffLimitExceeded), or active longer than ``activeDeadlineSeconds``
   (DeadlineExceeded); complete: ``completions`` pods succeeded (every index, for an Indexed Job;
   for a work-queue Job without completions: one succeeded and none active). As in 1.31+, the
   interim condition (FailureTarget, SuccessCriteriaMet) is written first, the final one (Failed,
   Complete) once no pod of the Job still runs; active pods of a finished Job are deleted;
4. **manage pods** — unless finished or suspended (then active pods are deleted), and only when
   the key's `expectations` are met: create ``min(parallelism, completions - succeeded) - active``
   pods (for an Indexed Job, the lowest indexes that have no succeeded or active pod), or delete
   the surplus. After failures, new pods wait out the exponential back-off: 10 s, 20 s, 40 s, ...
   capped at 6 minutes, counted from the last failure (only failures since the last success count);
   with ``podReplacementPolicy: Failed`` a pod still being deleted is replaced only once it is gone;
5. **update status** — active, ready, terminating, succeeded, failed, completedIndexes, startTime,
   completionTime, conditions; only if changed;
6. **TTL** — a finished Job with ``ttlSecondsAfterFinished`` is deleted (Foreground, so the
   garbage collector removes its pods first) that many seconds after it finished.

The pods a Job makes: its template, generateName ``<job>-`` (``<job>-<index>-`` when Indexed), the
template's labels (the generated ``batch.kubernetes.io/controller-uid`` and ``job-name``), a
controller reference; an Indexed Job's pod also gets the ``batch.kubernetes.io/job-completion-index``
annotation and label, the hostname ``<job>-<index>``, and ``JOB_COMPLETION_INDEX`` in each
container's environment, read from that annotation through the downward API.

Counting differs from 1.32 in one way: upstream puts a ``batch.kubernetes.io/job-tracking``
finalizer on every pod and moves finished pods through ``status.uncountedTerminatedPods`` so a
count survives the pod's deletion; here a finished pod counts while it exists (the "legacy
tracking" before 1.26), so deleting a Job's finished pods by hand lowers its counts.

Kubernetes equivalent: pkg/controller/job/job_controller.go, backoff_utils.go, pod_failure_policy.go,
indexed_job_utils.go, pkg/controller/ttlafterfinished/ttlafterfinished_controller.go
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.api.errors import ApiError, Conflict, Forbidden, Invalid, NotFound
from orchestrator.api.models.batch import JOB_COMPLETION_INDEX, JOB_COMPLETION_INDEX_ENV
from orchestrator.api.selectors import LabelSelector
from orchestrator.api.timestamps import rfc3339, utc_now
from orchestrator.client.informer import DeletedFinalStateUnknown, deleted_object, meta_namespace_key
from orchestrator.controllers.controller import (
    Controller,
    ControllerContext,
    Object,
    by_namespace,
    ensure_indexer,
)
from orchestrator.controllers.expectations import Expectations
from orchestrator.controllers.ownerrefs import (
    claim,
    controller_ref,
    is_pod_ready,
    meta,
    new_controller_ref,
    parse_time,
)
from orchestrator.controllers.replicaset import slow_start_batch

__all__ = ["DEFAULT_BACKOFF", "MAX_BACKOFF", "JobController", "backoff_delay", "format_indexes", "pod_failure_action"]

log = logging.getLogger(__name__)

DEFAULT_BACKOFF = 10.0  # upstream DefaultJobPodFailureBackOff
MAX_BACKOFF = 360.0  # upstream MaxJobPodFailureBackOff: 6 minutes
MAX_POD_CREATE_DELETE_PER_SYNC = 500  # upstream MaxPodCreateDeletePerSync






def backoff_delay(failures: int, *, base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF) -> float:
    """Seconds a new pod waits after `failures` consecutive failures: 0, then base, 2 base, 4 base, ...

    Worked example (defaults): 1 failure -> 10 s, 2 -> 20 s, 3 -> 40 s, 6 -> 320 s, 7 and more -> 360 s.
    """
    if failures <= 0:
        return 0.0
    return min(base * 2 ** min(failures - 1, 30), cap)


def format_indexes(indexes: set[int]) -> str:
    """``{0, 1, 2, 4}`` -> ``"0-2,4"``: status.completedIndexes' interval notation."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _phase(pod: Object) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def completion_index(pod: Object) -> int | None:
    raw = (meta(pod).get("annotations") or {}).get(JOB_COMPLETION_INDEX)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _finished_at(pod: Object) -> dt.datetime | None:
    """When the pod finished: its last container's finishedAt, else its Ready condition's last change."""
    latest: dt.datetime | None = None
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        at = parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        if at is not None and (latest is None or at > latest):
            latest = at
    if latest is None:
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Ready":
                latest = parse_time(cond.get("lastTransitionTime"))
    return latest


def pod_failure_action(job: Object, pod: Object) -> tuple[str, str]:
    """(action, message) of the first podFailurePolicy rule a failed pod matches; ("Count", "") if none.

    A rule on exit codes looks at the containers that terminated with a non-zero code (only
    ``containerName``'s, if it names one); a rule on conditions at the pod's conditions.
    """
    rules = (((job.get("spec") or {}).get("podFailurePolicy") or {}).get("rules")) or []
    status = pod.get("status") or {}
    m = meta(pod)
    for index, rule in enumerate(rules):
        action = rule.get("action") or "Count"
        codes = rule.get("onExitCodes")
        if codes is not None:
            wanted = set(codes.get("values") or [])
            for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
                terminated = (cs.get("state") or {}).get("terminated")
                if not terminated or not terminated.get("exitCode"):
                    continue
                if codes.get("containerName") and codes["containerName"] != cs.get("name"):
                    continue
                code = terminated["exitCode"]
                if (code in wanted) == (codes.get("operator") == "In"):
                    return action, (f"Container {cs.get('name')} for pod {m.get('namespace')}/{m.get('name')} failed "
                                    f"with exit code {code} matching {action} rule at index {index}")
        for pattern in rule.get("onPodConditions") or []:
            for cond in status.get("conditions") or []:
                if cond.get("type") == pattern.get("type") and cond.get("status") == (pattern.get("status") or "True"):
                    return action, (f"Pod {m.get('namespace')}/{m.get('name')} has condition {cond.get('type')} "
                                    f"matching {action} rule at index {index}")
    return "Count", ""


@dataclass
class _Counts:
    """What a Job's pods add up to (step 2)."""

    active: list[Object] = field(default_factory=list)
    ready: int = 0
    terminating: int = 0
    succeeded: int = 0
    failed: int = 0
    restarts: int = 0  # container restarts of active pods (restartPolicy OnFailure)
    succeeded_indexes: set[int] = field(default_factory=set)
    fail_job: str = ""  # the message of the FailJob rule a pod matched
    last_success: dt.datetime | None = None
    failure_times: list[dt.datetime] = field(default_factory=list)


def _set_condition(conditions: list[dict[str, Any]], type_: str, status: str, reason: str, message: str,
                   now: dt.datetime) -> list[dict[str, Any]]:
    """The conditions with `type_` set; probe and transition times move only when something changed."""
    old = next((c for c in conditions if c.get("type") == type_), None)
    if old is not None and old.get("status") == status and old.get("reason") == reason \
            and old.get("message") == message:
        return conditions
    stamp = rfc3339(now)
    cond = {"type": type_, "status": status, "lastProbeTime": stamp,
            "lastTransitionTime": old["lastTransitionTime"] if old is not None and old.get("status") == status
            and old.get("lastTransitionTime") else stamp,
            "reason": reason, "message": message}
    return [c for c in conditions if c.get("type") != type_] + [cond]


def _condition_true(job: Object, type_: str) -> dict[str, Any] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_ and cond.get("status") == "True":
            return dict(cond)
    return None


def is_finished(job: Object) -> dict[str, Any] | None:
    """The Complete or Failed condition that is True, if any."""
    return _condition_true(job, "Complete") or _condition_true(job, "Failed")


class JobController(Controller):
    name = "job"
    default_workers = 5  # kube-controller-manager's --concurrent-job-syncs

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None,
                 backoff_base: float = DEFAULT_BACKOFF, backoff_cap: float = MAX_BACKOFF,
                 wall_clock: Callable[[], dt.datetime] = utc_now) -> None:
        super().__init__(ctx, workers=workers)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.wall_clock = wall_clock
        self.expectations: Expectations = Expectations(clock=ctx.clock)
        self.job_informer = ctx.factory.informer("jobs.batch", namespace=ctx.namespace)
        self.pod_informer = ctx.factory.informer("pods", namespace=ctx.namespace)
        ensure_indexer(self.job_informer, "namespace", by_namespace)
        ensure_indexer(self.pod_informer, "namespace", by_namespace)
        self.job_informer.add_handler(on_add=self.enqueue, on_update=lambda old, cur: self.enqueue(cur),
                                      on_delete=self._delete_job)
        self.pod_informer.add_handler(on_add=self._add_pod, on_update=self._update_pod, on_delete=self._delete_pod)

    def resync_all(self) -> None:
        for job in self.job_informer.list():
            self.enqueue(job)

    # --- handlers: compute keys, never reconcile ---------------------------------------------

    def _delete_job(self, obj: Object | DeletedFinalStateUnknown) -> None:
        key = meta_namespace_key(obj)
        self.expectations.delete(key)
        self.queue.add(key)

    def _owner_key(self, pod: Object) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "Job" or not str(ref.get("apiVersion", "")).startswith("batch/"):
            return None
        key = f"{meta(pod).get('namespace')}/{ref.get('name')}"
        job = self.job_informer.get(key)
        if job is None or meta(job).get("uid") != ref.get("uid"):
            return None
        return key

    def _add_pod(self, pod: Object) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _update_pod(self, old: Object, cur: Object) -> None:
        if meta(old).get("resourceVersion") == meta(cur).get("resourceVersion"):
            return
        for pod in (old, cur):
            key = self._owner_key(pod)
            if key is not None:
                if pod is cur and meta(cur).get("deletionTimestamp") and not meta(old).get("deletionTimestamp"):
                    self.expectations.deletion_observed(key, meta_namespace_key(cur))
                self.queue.add(key)

    def _delete_pod(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = deleted_object(obj)
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, meta_namespace_key(pod))
            self.queue.add(key)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        job = self.job_informer.get(key)
        if job is None:
            self.expectations.delete(key)
            return
        now = self.wall_clock()
        if is_finished(job):
            await self._handle_ttl(key, job, now)
            return
        spec = job.get("spec") or {}
        needs_sync = self.expectations.satisfied(key)
        pods = await self._claim_pods(job)
        counts = self._count(job, pods)
        status = copy.deepcopy(job.get("status") or {})
        conditions: list[dict[str, Any]] = list(status.get("conditions") or [])
        suspended = bool(spec.get("suspend"))

        # startTime: set when the Job starts running, cleared while suspended, set again on resume.
        if suspended:
            status.pop("startTime", None)
        elif not status.get("startTime"):
            status["startTime"] = rfc3339(now)
        started = parse_time(status.get("startTime"))

        failure = self._failure(job, counts, started, now)
        complete = failure is None and self._complete(job, counts)
        manage_error: ApiError | None = None
        if failure is not None:
            reason, message = failure
            conditions = _set_condition(conditions, "FailureTarget", "True", reason, message, now)
            await self._delete_pods(job, counts.active)
            if not counts.active and not counts.terminating:
                conditions = _set_condition(conditions, "Failed", "True", reason, message, now)
                self.recorder.event(job, "Warning", reason, message)
        elif complete:
            conditions = _set_condition(conditions, "SuccessCriteriaMet", "True", "CompletionsReached",
                                        "Reached expected number of succeeded pods", now)
            await self._delete_pods(job, counts.active)
            if not counts.active and not counts.terminating:
                conditions = _set_condition(conditions, "Complete", "True", "CompletionsReached",
                                            "Reached expected number of succeeded pods", now)
                status["completionTime"] = rfc3339(now)
                self.recorder.event(job, "Normal", "Completed", "Job completed")
        elif suspended:
            if not _condition_true(job, "Suspended"):
                self.recorder.event(job, "Normal", "Suspended", "Job suspended")
            conditions = _set_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", now)
            await self._delete_pods(job, counts.active)
        else:
            if _condition_true(job, "Suspended"):
                conditions = _set_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", now)
                self.recorder.event(job, "Normal", "Resumed", "Job resumed")
            if needs_sync and not meta(job).get("deletionTimestamp"):
                try:
                    await self._manage(key, job, counts, now)
                except ApiError as err:
                    manage_error = err
            if spec.get("activeDeadlineSeconds") is not None and started is not None:
                left = spec["activeDeadlineSeconds"] - (now - started).total_seconds()
                self.queue.add_after(key, max(left, 0.0) + 0.05)  # fail it on time even if nothing else moves

        status.update({
            "active": len(counts.active), "ready": counts.ready, "succeeded": counts.succeeded,
            "failed": counts.failed, "terminating": counts.terminating,
            "uncountedTerminatedPods": status.get("uncountedTerminatedPods") or {},
        })
        if spec.get("completionMode") == "Indexed":
            status["completedIndexes"] = format_indexes(counts.succeeded_indexes)
        for zero in ("active", "succeeded", "failed"):  # omitempty, as the Go type writes them
            if not status[zero]:
                del status[zero]
        if conditions:
            status["conditions"] = conditions
        if status != (job.get("status") or {}):
            # A 409 fails the sync rather than writing over the newer status (as controller.write_status
            # would): a status computed from a stale Job could drop a condition or move completionTime.
            await self.client.update_status("jobs.batch", {**job, "status": status})
        if manage_error is not None:
            raise manage_error

    async def _claim_pods(self, job: Object) -> list[Object]:
        try:
            selector = LabelSelector.from_structured((job.get("spec") or {}).get("selector"))
        except Invalid:
            return []
        namespace_pods = self.pod_informer.by_index("namespace", meta(job).get("namespace") or "")

        async def can_adopt() -> None:
            m = meta(job)
            fresh = await self.client.get("jobs.batch", m["name"], namespace=m.get("namespace"))
            if meta(fresh).get("uid") != m.get("uid"):
                raise Conflict(f"original Job {m.get('namespace')}/{m['name']} is gone: got uid "
                               f"{meta(fresh).get('uid')}, wanted {m.get('uid')}")

        return await claim(client=self.client, resource="pods", owner=job, owner_api_version="batch/v1",
                           owner_kind="Job", selector=selector, candidates=namespace_pods, can_adopt=can_adopt)

    def _count(self, job: Object, pods: list[Object]) -> _Counts:
        counts = _Counts()
        indexed = (job.get("spec") or {}).get("completionMode") == "Indexed"
        completions = (job.get("spec") or {}).get("completions")
        for pod in pods:
            phase = _phase(pod)
            if phase == "Succeeded":
                counts.succeeded += 1
                index = completion_index(pod)
                if indexed and index is not None and 0 <= index < (completions or 0):
                    counts.succeeded_indexes.add(index)
                finished = _finished_at(pod)
                if finished is not None and (counts.last_success is None or finished > counts.last_success):
                    counts.last_success = finished
            elif phase == "Failed":
                action, message = pod_failure_action(job, pod)
                if action == "Ignore":
                    continue
                counts.failed += 1
                if action == "FailJob" and not counts.fail_job:
                    counts.fail_job = message
                finished = _finished_at(pod)
                if finished is not None:
                    counts.failure_times.append(finished)
            elif meta(pod).get("deletionTimestamp"):
                counts.terminating += 1
            else:
                counts.active.append(pod)
                if is_pod_ready(pod):
                    counts.ready += 1
                counts.restarts += sum(cs.get("restartCount") or 0
                                       for cs in (pod.get("status") or {}).get("containerStatuses") or [])
        if indexed:
            counts.succeeded = len(counts.succeeded_indexes) if completions else counts.succeeded
        return counts

    def _failure(self, job: Object, counts: _Counts, started: dt.datetime | None,
                 now: dt.datetime) -> tuple[str, str] | None:
        """(reason, message) when the Job has failed (step 3)."""
        spec = job.get("spec") or {}
        if _condition_true(job, "FailureTarget"):
            cond = _condition_true(job, "FailureTarget") or {}
            return cond.get("reason") or "BackoffLimitExceeded", cond.get("message") or ""
        if counts.fail_job:
            return "PodFailurePolicy", counts.fail_job
        backoff_limit = spec.get("backoffLimit")
        backoff_limit = 6 if backoff_limit is None else backoff_limit
        # With restartPolicy OnFailure failures are container restarts inside active pods
        # (upstream pastBackoffLimitOnFailure).
        on_failure = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") == "OnFailure"
        past_on_failure = on_failure and (counts.restarts > 0 if backoff_limit == 0
                                          else counts.restarts >= backoff_limit)
        if counts.failed > backoff_limit or past_on_failure:
            return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and started is not None and (now - started).total_seconds() >= deadline:
            return "DeadlineExceeded", "Job was active longer than specified deadline"
        return None

    @staticmethod
    def _complete(job: Object, counts: _Counts) -> bool:
        spec = job.get("spec") or {}
        completions = spec.get("completions")
        if _condition_true(job, "SuccessCriteriaMet"):
            return True
        if completions is None:  # a work queue: done when one succeeded and the others have stopped
            return counts.succeeded > 0 and not counts.active
        if spec.get("completionMode") == "Indexed":
            return len(counts.succeeded_indexes) >= completions
        return counts.succeeded >= completions

    async def _manage(self, key: str, job: Object, counts: _Counts, now: dt.datetime) -> None:
        """Create or delete pods towards the wanted number of active pods (step 4)."""
        spec = job.get("spec") or {}
        parallelism = spec.get("parallelism", 1) or 0
        completions = spec.get("completions")
        indexed = spec.get("completionMode") == "Indexed"
        active = counts.active
        if completions is None:
            want = 0 if counts.succeeded > 0 else parallelism
        else:
            want = max(0, min(parallelism, completions - counts.succeeded))
        if len(active) > want:
            surplus = sorted(active, key=lambda p: (is_pod_ready(p), _phase(p) == "Running",
                                                    -(parse_time(meta(p).get("creationTimestamp")) or now).timestamp()))
            await self._delete_pods(job, surplus[:len(active) - want])
            return
        # podReplacementPolicy Failed: a pod being deleted is replaced only once it is gone.
        terminating = counts.terminating if spec.get("podReplacementPolicy") == "Failed" else 0
        missing = min(want - len(active) - terminating, MAX_POD_CREATE_DELETE_PER_SYNC)
        if missing <= 0:
            return
        # Back-off: only failures after the last success count, from the last one's time.
        recent = [t for t in counts.failure_times if counts.last_success is None or t > counts.last_success]
        if recent:
            wait = backoff_delay(len(recent), base=self.backoff_base, cap=self.backoff_cap)
            left = (max(recent) + dt.timedelta(seconds=wait) - now).total_seconds()
            if left > 0:
                self.queue.add_after(key, left)
                return
        indexes: list[int | None] = [None] * missing
        if indexed:
            taken = counts.succeeded_indexes | {i for p in active if (i := completion_index(p)) is not None}
            indexes = [i for i in range(completions or 0) if i not in taken][:missing]  # type: ignore[misc]
            if not indexes:
                return
        self.expectations.expect_creations(key, len(indexes))
        pending = list(indexes)
        attempted = 0

        async def create_one() -> None:
            nonlocal attempted
            attempted += 1
            index = pending.pop(0)
            try:
                created = await self.client.create("pods", pod_for_job(job, index))
            except ApiError as err:
                self.expectations.creation_observed(key)
                if isinstance(err, Forbidden) and "being terminated" in str(err):
                    return
                self.recorder.event(job, "Warning", "FailedCreate", f"Error creating: {err}")
                raise
            self.recorder.event(job, "Normal", "SuccessfulCreate", f"Created pod: {meta(created)['name']}")

        _, error = await slow_start_batch(len(indexes), create_one)
        self.expectations.lower_expectations(key, add=len(indexes) - attempted)
        if error is not None:
            raise error

    async def _delete_pods(self, job: Object, pods: list[Object]) -> None:
        if not pods:
            return
        key = meta_namespace_key(job)
        self.expectations.expect_deletions(key, [meta_namespace_key(p) for p in pods])

        async def delete_one(pod: Object) -> None:
            m = meta(pod)
            try:
                await self.client.delete("pods", m["name"], namespace=m.get("namespace"),
                                         preconditions={"uid": m["uid"]})
            except NotFound:
                self.expectations.deletion_observed(key, meta_namespace_key(pod))
                return
            except ApiError as err:
                self.expectations.deletion_observed(key, meta_namespace_key(pod))
                self.recorder.event(job, "Warning", "FailedDelete", f"Error deleting: {err}")
                raise
            self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {m['name']}")

        results = await asyncio.gather(*(delete_one(p) for p in pods), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _handle_ttl(self, key: str, job: Object, now: dt.datetime) -> None:
        """Delete a finished Job ``ttlSecondsAfterFinished`` after it finished (the TTL controller)."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None or meta(job).get("deletionTimestamp"):
            return
        finished = parse_time((job.get("status") or {}).get("completionTime")) \
            or parse_time((is_finished(job) or {}).get("lastTransitionTime"))
        if finished is None:
            return
        left = (finished + dt.timedelta(seconds=ttl) - now).total_seconds()
        if left > 0:
            self.queue.add_after(key, left)
            return
        m = meta(job)
        try:
            await self.client.delete("jobs.batch", m["name"], namespace=m.get("namespace"),
                                     propagation_policy="Foreground", preconditions={"uid": m["uid"]})
        except (NotFound, Conflict):
            return
        log.info("%s: deleted %s, finished %ss ago (ttlSecondsAfterFinished %s)", self.name, key,
                 int((now - finished).total_seconds()), ttl)


def pod_for_job(job: Object, index: int | None) -> Object:
    """The pod a Job creates (for `index` when Indexed): see the module docstring."""
    template = (job.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    m = meta(job)
    pod_meta: dict[str, Any] = {
        "generateName": f"{m['name']}-" if index is None else f"{m['name']}-{index}-",
        "namespace": m.get("namespace"),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [new_controller_ref(job, api_version="batch/v1", kind="Job")],
    }
    annotations = dict(tmeta.get("annotations") or {})
    spec = copy.deepcopy(template.get("spec") or {})
    if index is not None:
        annotations[JOB_COMPLETION_INDEX] = str(index)
        pod_meta["labels"][JOB_COMPLETION_INDEX] = str(index)
        spec["hostname"] = f"{m['name']}-{index}"
        env_var = {"name": JOB_COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
            "apiVersion": "v1", "fieldPath": f"metadata.annotations['{JOB_COMPLETION_INDEX}']"}}}
        for key in ("initContainers", "containers"):
            for container in spec.get(key) or []:
                env = [e for e in container.get("env") or [] if e.get("name") != JOB_COMPLETION_INDEX_ENV]
                container["env"] = [env_var, *env]
    if annotations:
        pod_meta["annotations"] = annotations
    if tmeta.get("finalizers"):
        pod_meta["finalizers"] = list(tmeta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}
