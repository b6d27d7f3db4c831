"""The CronJob controller: create a Job from ``spec.jobTemplate`` at each time the schedule names.

`sync(key)` in named steps, as upstream's syncCronJob:

1. **reconcile active** -- ``status.active`` lists the CronJob's unfinished Jobs: a listed Job that
   finished leaves it (``lastSuccessfulTime`` moves if it completed; event SawCompletedJob), one that
   is gone leaves it (MissingJob), an unfinished Job the list lacks joins it (UnexpectedJob);
2. **clean up history** -- keep the newest ``successfulJobsHistoryLimit`` (3) complete Jobs and
   ``failedJobsHistoryLimit`` (1) failed ones, delete older ones;
3. **find the most recent missed time** -- the schedule's times after ``lastScheduleTime`` (or
   the creation time) and up to now, counted in ``spec.timeZone`` (UTC when unset). Only the
   *most recent* is started: after a controller-manager restart a CronJob that missed ten runs
   gets one catch-up run, not ten. More than 100 missed times also bring a warning event
   (TooManyMissedTimes) -- upstream once refused to schedule at all past 100;
4. **deadline** -- a time more than ``startingDeadlineSeconds`` ago is missed (MissSchedule) and
   not started; the deadline also bounds how far back step 3 looks;
5. **concurrency** -- Allow: start it whatever runs; Forbid: not while a Job of the CronJob is
   active (JobAlreadyActive; ``lastScheduleTime`` stays, so the time is started once the other
   Job finishes, if still within the deadline); Replace: delete the active Jobs first;
6. **create the Job** -- named ``<cronjob>-<scheduled time in minutes since the epoch>`` (the name is
   the lock: a second controller, or a retry, gets AlreadyExists), with the template's labels and
   annotations, the ``batch.kubernetes.io/cronjob-scheduled-timestamp`` annotation and a
   controller reference; then ``status.active`` and ``lastScheduleTime``;
7. **requeue** for the next scheduled time.

``suspend: true`` stops steps 3-6; Jobs already running carry on.

Time comes from `wall_clock`, injected: tests turn the hands of a fake clock and call `sync`
instead of waiting for minutes to pass.

Kubernetes equivalent: pkg/controller/cronjob/cronjob_controllerv2.go, pkg/controller/cronjob/utils.go
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable
from typing import Any

from croniter import croniter

from orchestrator.api.errors import AlreadyExists, Conflict, NotFound
from orchestrator.api.models.batch import CRONJOB_SCHEDULED_TIMESTAMP
from orchestrator.api.timestamps import rfc3339, utc_now
from orchestrator.client.informer import DeletedFinalStateUnknown, deleted_object
from orchestrator.controllers.controller import (
    Controller,
    ControllerContext,
    Object,
    by_namespace,
    ensure_indexer,
)
from orchestrator.controllers.job import is_finished
from orchestrator.controllers.ownerrefs import controller_ref, meta, new_controller_ref, parse_time

__all__ = ["TOO_MANY_MISSED", "CronJobController", "job_name", "missed_schedules", "next_schedule"]

log = logging.getLogger(__name__)

TOO_MANY_MISSED = 100






def _rfc3339_in(moment: dt.datetime, zone: dt.tzinfo) -> str:
    """Go's time.RFC3339 of `moment` on the clock of `zone`: ``Z`` for UTC, else the offset."""
    text = moment.astimezone(zone).replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _zone(cronjob: Object) -> dt.tzinfo:
    name = (cronjob.get("spec") or {}).get("timeZone")
    return zoneinfo.ZoneInfo(name) if name else dt.UTC


def next_schedule(schedule: str, after: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The first time of `schedule` strictly after `after`, read on the clock of `zone`."""
    return croniter(schedule, after.astimezone(zone)).get_next(dt.datetime)  # type: ignore[no-any-return]


def missed_schedules(schedule: str, *, earliest: dt.datetime, now: dt.datetime, zone: dt.tzinfo,
                     limit: int = TOO_MANY_MISSED + 1) -> tuple[dt.datetime | None, int]:
    """(the most recent time of `schedule` in (earliest, now], how many such times, counted up to `limit`).

    Worked example: ``*/5 * * * *``, earliest 10:02, now 10:31 -> (10:30, 6): 10:05, 10:10, ... 10:30
    were all missed, and only 10:30 will be started.
    """
    if earliest >= now:
        return None, 0
    it = croniter(schedule, earliest.astimezone(zone))
    count = 0
    while count < limit:
        t = it.get_next(dt.datetime)
        if t > now:
            break
        count += 1
    if count == 0:
        return None, 0
    # The most recent time, exactly (counting may have stopped at `limit`).
    latest = croniter(schedule, (now + dt.timedelta(seconds=1)).astimezone(zone)).get_prev(dt.datetime)
    if latest > now:  # `now` sits inside the second after a scheduled time
        latest = croniter(schedule, now.astimezone(zone)).get_prev(dt.datetime)
    return latest, count


def job_name(cronjob: Object, scheduled: dt.datetime) -> str:
    """``<cronjob>-<minutes since the epoch>``: one name per scheduled time (upstream getJobName)."""
    return f"{meta(cronjob)['name']}-{int(scheduled.timestamp()) // 60}"


def _job_ref(job: Object) -> dict[str, Any]:
    m = meta(job)
    return {"kind": "Job", "namespace": m.get("namespace"), "name": m.get("name"), "uid": m.get("uid"),
            "apiVersion": "batch/v1", "resourceVersion": m.get("resourceVersion")}


class CronJobController(Controller):
    name = "cronjob"
    default_workers = 5  # kube-controller-manager's --concurrent-cron-job-syncs

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None,
                 wall_clock: Callable[[], dt.datetime] = utc_now) -> None:
        super().__init__(ctx, workers=workers)
        self.wall_clock = wall_clock
        self.cronjob_informer = ctx.factory.informer("cronjobs.batch", namespace=ctx.namespace)
        self.job_informer = ctx.factory.informer("jobs.batch", namespace=ctx.namespace)
        ensure_indexer(self.job_informer, "namespace", by_namespace)
        self.cronjob_informer.add_handler(on_add=self.enqueue, on_update=lambda old, cur: self.enqueue(cur),
                                          on_delete=self.enqueue)
        self.job_informer.add_handler(on_add=self._job_changed, on_update=lambda old, cur: self._job_changed(cur),
                                      on_delete=self._job_changed)

    def resync_all(self) -> None:
        for cj in self.cronjob_informer.list():
            self.enqueue(cj)

    def _job_changed(self, obj: Object | DeletedFinalStateUnknown) -> None:
        job = deleted_object(obj)
        ref = controller_ref(job)
        if ref is not None and ref.get("kind") == "CronJob":
            self.queue.add(f"{meta(job).get('namespace')}/{ref.get('name')}")

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        cronjob = self.cronjob_informer.get(key)
        if cronjob is None:
            return
        now = self.wall_clock()
        uid = meta(cronjob).get("uid")
        jobs = [j for j in self.job_informer.by_index("namespace", meta(cronjob).get("namespace") or "")
                if (controller_ref(j) or {}).get("uid") == uid]
        status = copy.deepcopy(cronjob.get("status") or {})
        await self._reconcile_active(cronjob, jobs, status)
        await self._clean_up_history(cronjob, jobs)
        requeue = await self._schedule(key, cronjob, jobs, status, now)
        if status != (cronjob.get("status") or {}):
            # No blind retry over a newer resourceVersion: the newer status may hold a Job this
            # sync did not see (controller.write_status would overwrite it). A 409 fails the sync
            # and the retry starts from a cache that has caught up.
            await self.client.update_status("cronjobs.batch", {**cronjob, "status": status})
        if requeue is not None:
            self.queue.add_after(key, max(requeue, 0.0) + 0.1)

    async def _reconcile_active(self, cronjob: Object, jobs: list[Object], status: dict[str, Any]) -> None:
        by_uid = {meta(j).get("uid"): j for j in jobs}
        active = []
        for ref in status.get("active") or []:
            job = by_uid.get(ref.get("uid"))
            if job is None:
                # Not in the cache: confirm with the server before forgetting it.
                try:
                    job = await self.client.get("jobs.batch", ref.get("name"), namespace=ref.get("namespace"))
                except NotFound:
                    self.recorder.event(cronjob, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
                    continue
                if meta(job).get("uid") != ref.get("uid"):
                    continue
            finished = is_finished(job)
            if finished:
                self.recorder.event(cronjob, "Normal", "SawCompletedJob",
                                    f"Saw completed job: {meta(job)['name']}, status: {finished['type']}")
                if finished["type"] == "Complete":
                    done = (job.get("status") or {}).get("completionTime")
                    last = status.get("lastSuccessfulTime")
                    if done and (not last or done > last):
                        status["lastSuccessfulTime"] = done
                continue
            active.append(ref)
        listed = {ref.get("uid") for ref in active}
        fresh_active: set[str] | None = None
        for job in jobs:
            if meta(job).get("uid") in listed or is_finished(job) or meta(job).get("deletionTimestamp"):
                continue
            if fresh_active is None:
                # The cache may not have our own status write yet: ask the server before calling
                # the Job unexpected (upstream re-reads the CronJob here too).
                m = meta(cronjob)
                fresh = await self.client.get("cronjobs.batch", m["name"], namespace=m.get("namespace"))
                fresh_active = {ref.get("uid") for ref in (fresh.get("status") or {}).get("active") or []}
            if meta(job).get("uid") in fresh_active:
                m = meta(cronjob)
                raise Conflict(f"the cache of cronjob {m.get('namespace')}/{m['name']} is behind; retrying")
            self.recorder.event(cronjob, "Warning", "UnexpectedJob",
                                f"Saw a job that the controller did not create or forgot: {meta(job)['name']}")
            active.append(_job_ref(job))
        if active:
            status["active"] = active
        else:
            status.pop("active", None)

    async def _clean_up_history(self, cronjob: Object, jobs: list[Object]) -> None:
        spec = cronjob.get("spec") or {}
        for type_, limit in (("Complete", spec.get("successfulJobsHistoryLimit")),
                             ("Failed", spec.get("failedJobsHistoryLimit"))):
            if limit is None:
                continue
            done = [j for j in jobs if (is_finished(j) or {}).get("type") == type_
                    and not meta(j).get("deletionTimestamp")]
            done.sort(key=lambda j: (j.get("status") or {}).get("startTime") or meta(j).get("creationTimestamp") or "")
            for job in done[:max(0, len(done) - limit)]:
                await self._delete_job(cronjob, job)

    async def _delete_job(self, cronjob: Object, job: Object) -> None:
        m = meta(job)
        try:
            await self.client.delete("jobs.batch", m["name"], namespace=m.get("namespace"),
                                     propagation_policy="Background", preconditions={"uid": m["uid"]})
        except (NotFound, Conflict):
            return
        self.recorder.event(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {m['name']}")

    async def _schedule(self, key: str, cronjob: Object, jobs: list[Object], status: dict[str, Any],
                        now: dt.datetime) -> float | None:
        """Steps 3-6; returns the seconds until the next scheduled time (None: do not requeue)."""
        spec = cronjob.get("spec") or {}
        if meta(cronjob).get("deletionTimestamp") or spec.get("suspend"):
            return None
        schedule = spec.get("schedule") or ""
        try:
            zone = _zone(cronjob)
            next_schedule(schedule, now, zone)
        except (ValueError, KeyError, zoneinfo.ZoneInfoNotFoundError) as err:
            self.recorder.event(cronjob, "Warning", "UnparseableSchedule", f"unparseable schedule: {schedule!r}: {err}")
            return None
        earliest = parse_time(status.get("lastScheduleTime")) or parse_time(meta(cronjob).get("creationTimestamp")) \
            or now
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - dt.timedelta(seconds=deadline))
        scheduled, missed = missed_schedules(schedule, earliest=earliest, now=now, zone=zone)
        until_next = (next_schedule(schedule, now, zone) - now).total_seconds()
        if missed > TOO_MANY_MISSED:
            self.recorder.event(cronjob, "Warning", "TooManyMissedTimes",
                                f"too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds "
                                "or check clock skew")
        if scheduled is None:
            return until_next
        if deadline is not None and (now - scheduled).total_seconds() > deadline:
            self.recorder.event(cronjob, "Warning", "MissSchedule",
                                f"Missed scheduled time to start a job: {scheduled.isoformat()}")
            return until_next
        name = job_name(cronjob, scheduled)
        if any(meta(j).get("name") == name for j in jobs) \
                or any(ref.get("name") == name for ref in status.get("active") or []):
            return until_next  # this time was started already
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and status.get("active"):
            self.recorder.event(cronjob, "Normal", "JobAlreadyActive",
                                "Not starting job because prior execution is running and concurrency policy is Forbid")
            return until_next
        if policy == "Replace":
            by_uid = {meta(j).get("uid"): j for j in jobs}
            for ref in status.get("active") or []:
                job = by_uid.get(ref.get("uid"))
                if job is not None:
                    await self._delete_job(cronjob, job)
            status.pop("active", None)
        try:
            created = await self.client.create("jobs.batch", self._job_for(cronjob, name, scheduled, zone))
        except AlreadyExists:
            return until_next  # another sync (or controller) made it: the name is the lock
        self.recorder.event(cronjob, "Normal", "SuccessfulCreate", f"Created job {meta(created)['name']}")
        status["active"] = [*(status.get("active") or []), _job_ref(created)]
        status["lastScheduleTime"] = rfc3339(scheduled)
        return until_next

    @staticmethod
    def _job_for(cronjob: Object, name: str, scheduled: dt.datetime, zone: dt.tzinfo) -> Object:
        template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
        tmeta = template.get("metadata") or {}
        annotations = dict(tmeta.get("annotations") or {})
        annotations[CRONJOB_SCHEDULED_TIMESTAMP] = _rfc3339_in(scheduled, zone)
        return {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": meta(cronjob).get("namespace"),
                         "labels": dict(tmeta.get("labels") or {}), "annotations": annotations,
                         "ownerReferences": [new_controller_ref(cronjob, api_version="batch/v1", kind="CronJob")]},
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
