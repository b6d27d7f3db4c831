"""batch/v1 Jobs and CronJobs: defaults, the selector and labels a Job's pods get, validation (a Job's pods
may only restart Never or OnFailure; a CronJob's schedule must parse), and what an update may change.

- create: SetDefaults_Job (parallelism and completions 1, backoffLimit 6, completionMode NonIndexed,
  suspend false, podReplacementPolicy) and the pod template's pod defaults; then, unless
  ``spec.manualSelector``, the generated selector ``batch.kubernetes.io/controller-uid=<uid>`` and the
  template labels ``batch.kubernetes.io/controller-uid``, ``batch.kubernetes.io/job-name``,
  ``controller-uid`` and ``job-name`` (the legacy pair, still set in 1.32); a Job without labels gets
  its template's. The uid exists only after the system fields are filled, so this happens in
  `validate`, as upstream's jobStrategy.Validate does.
- update: selector, template, completionMode and completions are immutable.
- CronJob: SetDefaults_CronJob (concurrencyPolicy Allow, suspend false, history limits 3 and 1); the
  schedule is standard 5-field cron or a macro (``@hourly``), parsed with croniter; ``timeZone`` must
  be a tz database name; the job template may not carry a selector (it is generated per Job).

Kubernetes equivalent: pkg/registry/batch/job/strategy.go, pkg/registry/batch/cronjob/strategy.go,
pkg/apis/batch/validation/validation.go, pkg/apis/batch/v1/defaults.go
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter

from orchestrator.api import printing as tables
from orchestrator.api.errors import Cause, Invalid
from orchestrator.api.models.batch import (
    CONTROLLER_UID_LABEL,
    JOB_NAME_LABEL,
    LEGACY_CONTROLLER_UID_LABEL,
    LEGACY_JOB_NAME_LABEL,
)
from orchestrator.api.resources import by_group_resource
from orchestrator.api.selectors import LabelSelector
from orchestrator.apiserver.registry.base import BaseStrategy
from orchestrator.apiserver.registry.strategy import Obj
from orchestrator.apiserver.validation import (
    FieldErrors,
    canonicalize_pod_spec,
    default_pod_spec,
    int32,
    non_negative,
    validate_labels,
    validate_pod_spec,
)

__all__ = ["CronJobStrategy", "JobStrategy", "parse_schedule"]

COMPLETION_MODES = ("NonIndexed", "Indexed")
RESTART_POLICIES = ("OnFailure", "Never")
POD_FAILURE_ACTIONS = ("FailJob", "Ignore", "Count")  # FailIndex needs backoffLimitPerIndex: not served
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
MAX_INDEXED_COMPLETIONS = 100_000  # upstream maxParallelismForIndexedJob / completions
CRONJOB_NAME_MAX = 52  # 63 minus the 11 characters of "-<unix minutes>" a Job name adds


# --- defaults ------------------------------------------------------------------------------------


def default_job_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_Job, in place."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    for rule in (spec.get("podFailurePolicy") or {}).get("rules") or []:
        for pattern in (rule or {}).get("onPodConditions") or []:
            if isinstance(pattern, dict):
                pattern.setdefault("status", "True")
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"], for_pod=False)


def generate_selector(job: Obj) -> None:
    """The selector and pod labels a Job without ``manualSelector`` gets (upstream generateSelector)."""
    spec = job.get("spec") or {}
    meta = job.get("metadata") or {}
    uid, name = meta.get("uid"), meta.get("name")
    if spec.get("manualSelector") is True or not uid or not isinstance(spec.get("template"), dict):
        return
    tmeta = spec["template"].setdefault("metadata", {})
    labels = tmeta.get("labels") or {}
    # Upstream keeps a label the user set (validation then reports the mismatch), adds the others.
    for key, value in ((LEGACY_CONTROLLER_UID_LABEL, uid), (LEGACY_JOB_NAME_LABEL, name),
                       (CONTROLLER_UID_LABEL, uid), (JOB_NAME_LABEL, name)):
        labels.setdefault(key, value)
    tmeta["labels"] = labels
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {CONTROLLER_UID_LABEL: uid}}


# --- validation ----------------------------------------------------------------------------------


def parse_schedule(schedule: str) -> str | None:
    """None when `schedule` is standard cron (5 fields, or a macro such as ``@hourly``); else why not,
    worded like robfig/cron's ParseStandard, which Kubernetes uses."""
    text = schedule.strip()
    if not text:
        return "empty spec string"
    if "TZ" in text:
        return "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    if text.startswith("@"):
        if text in ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"):
            return None
        return f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{text}]"
    try:
        croniter(text)
    except (CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, ValueError) as err:
        return str(err)
    return None


def _validate_pod_failure_policy(errs: FieldErrors, spec: Mapping[str, Any], path: str) -> None:
    policy = spec.get("podFailurePolicy")
    if policy is None:
        return
    restart = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if restart != "Never":
        errs.invalid(f"{path}.template.spec.restartPolicy", restart,
                     'only "Never" is supported when podFailurePolicy is specified')
    rules = policy.get("rules")
    if rules is None:
        errs.required(f"{path}.podFailurePolicy.rules")
        return
    for i, rule in enumerate(rules):
        rpath = f"{path}.podFailurePolicy.rules[{i}]"
        action = rule.get("action")
        if action not in POD_FAILURE_ACTIONS:
            errs.not_supported(f"{rpath}.action", action, POD_FAILURE_ACTIONS)
        codes, conditions = rule.get("onExitCodes"), rule.get("onPodConditions")
        if codes is not None and conditions is not None:
            errs.invalid(rpath, "", "specifying both OnExitCodes and OnPodConditions is not supported")
        elif codes is None and conditions is None:
            errs.invalid(rpath, "", "specifying one of OnExitCodes and OnPodConditions is required")
        if codes is not None:
            operator = codes.get("operator")
            if operator not in ("In", "NotIn"):
                errs.not_supported(f"{rpath}.onExitCodes.operator", operator, ("In", "NotIn"))
            values = codes.get("values") or []
            if not values:
                errs.required(f"{rpath}.onExitCodes.values", "at least one value is required")
            for j, value in enumerate(values):
                if operator == "In" and value == 0:
                    errs.invalid(f"{rpath}.onExitCodes.values[{j}]", value, "must not be 0 for the In operator")
                if j > 0 and values[j - 1] >= value:
                    errs.invalid(f"{rpath}.onExitCodes.values[{j}]", value,
                                 "must be ordered" if values[j - 1] > value else "duplicate value")
        for j, pattern in enumerate(conditions or []):
            if not pattern.get("type"):
                errs.required(f"{rpath}.onPodConditions[{j}].type")
            if pattern.get("status") not in ("True", "False", "Unknown"):
                errs.not_supported(f"{rpath}.onPodConditions[{j}].status", pattern.get("status"),
                                   ("True", "False", "Unknown"))


def validate_job_spec(errs: FieldErrors, spec: Mapping[str, Any], path: str, *, in_template: bool = False) -> None:
    """ValidateJobSpec (a Job) or validateJobSpec (a CronJob's jobTemplate, whose selector is generated)."""
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        non_negative(errs, f"{path}.{key}", spec.get(key))
        int32(errs, f"{path}.{key}", spec.get(key))
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in COMPLETION_MODES:
        errs.not_supported(f"{path}.completionMode", mode, COMPLETION_MODES)
    if mode == "Indexed":
        completions = spec.get("completions")
        if completions is None:
            errs.required(f"{path}.completions", "when completion mode is Indexed")
        elif completions > MAX_INDEXED_COMPLETIONS:
            errs.invalid(f"{path}.completions", completions,
                         f"must be less than or equal to {MAX_INDEXED_COMPLETIONS} when completion mode is Indexed")
    policy = spec.get("podReplacementPolicy")
    if policy is not None and policy not in ("TerminatingOrFailed", "Failed"):
        errs.not_supported(f"{path}.podReplacementPolicy", policy, ("TerminatingOrFailed", "Failed"))
    selector: LabelSelector | None = None
    if in_template:
        if spec.get("selector") is not None:
            errs.invalid(f"{path}.selector", spec["selector"], "`selector` will be auto-generated")
        if spec.get("manualSelector") is True:
            errs.not_supported(f"{path}.manualSelector", True, ("nil", "false"))
    elif spec.get("selector") is None:
        errs.required(f"{path}.selector")
    else:
        try:
            selector = LabelSelector.from_structured(spec["selector"], field_path=f"{path}.selector")
        except Invalid as err:
            errs.extend(err.causes)
    template = spec.get("template")
    if not isinstance(template, Mapping):
        errs.required(f"{path}.template")
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    validate_labels(errs, labels, f"{path}.template.metadata.labels")
    if selector is not None and not selector.matches(labels):
        errs.invalid(f"{path}.template.metadata.labels", labels, "`selector` does not match template `labels`")
    pod_spec = template.get("spec") or {}
    validate_pod_spec(errs, pod_spec, f"{path}.template.spec", for_pod=False)
    restart = pod_spec.get("restartPolicy")
    if restart not in RESTART_POLICIES:
        errs.not_supported(f"{path}.template.spec.restartPolicy", restart, RESTART_POLICIES)
    _validate_pod_failure_policy(errs, spec, path)


def _immutable(errs: FieldErrors, new: Mapping[str, Any], old: Mapping[str, Any], path: str, *keys: str) -> None:
    for key in keys:
        if new.get(key) != old.get(key):
            errs.invalid(f"{path}.{key}", new.get(key), "field is immutable")


# --- strategies ----------------------------------------------------------------------------------


class JobStrategy(BaseStrategy):
    printer = tables.JOB
    has_generation = True

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        default_job_spec(obj.setdefault("spec", {}))
        obj["status"] = {}

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        default_job_spec(new.setdefault("spec", {}))
        super().prepare_for_update(new, old, now=now)

    def canonicalize(self, obj: Obj) -> None:
        canonicalize_pod_spec(((obj.get("spec") or {}).get("template") or {}).get("spec"))

    def validate(self, obj: Mapping[str, Any]) -> list[Cause]:
        if isinstance(obj, dict):
            if not (obj.get("spec") or {}).get("selector"):
                generate_selector(obj)  # the uid is known from here on (see the module docstring)
            # SetDefaults_Job: a Job without labels wears its pod template's (upstream applies the
            # defaults on every read, so they include the generated ones).
            meta = obj.setdefault("metadata", {})
            labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
            if labels and not meta.get("labels"):
                meta["labels"] = dict(labels)
        return super().validate(obj)

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        validate_job_spec(errs, obj.get("spec") or {}, "spec")

    def validate_update(self, new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
        errs = FieldErrors()
        _immutable(errs, new.get("spec") or {}, old.get("spec") or {}, "spec",
                   "selector", "template", "completionMode", "completions")
        return errs.causes


class CronJobStrategy(BaseStrategy):
    printer = tables.CRONJOB
    has_generation = True

    @staticmethod
    def _default(obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_template = spec.get("jobTemplate")
        if isinstance(job_template, dict) and isinstance(job_template.get("spec"), dict):
            template = job_template["spec"].get("template")
            if isinstance(template, dict) and isinstance(template.get("spec"), dict):
                default_pod_spec(template["spec"], for_pod=False)

    def prepare_for_create(self, obj: Obj, *, now: datetime) -> None:
        self._default(obj)
        obj["status"] = {}

    def prepare_for_update(self, new: Obj, old: Mapping[str, Any], *, now: datetime) -> None:
        self._default(new)
        super().prepare_for_update(new, old, now=now)

    def canonicalize(self, obj: Obj) -> None:
        job_spec = (((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {})
        canonicalize_pod_spec((job_spec.get("template") or {}).get("spec"))

    def validate_fields(self, errs: FieldErrors, obj: Mapping[str, Any]) -> None:
        name = (obj.get("metadata") or {}).get("name") or ""
        if len(name) > CRONJOB_NAME_MAX:
            errs.invalid("metadata.name", name, f"must be no more than {CRONJOB_NAME_MAX} characters")
        spec = obj.get("spec") or {}
        schedule = spec.get("schedule")
        if not schedule:
            errs.required("spec.schedule")
        elif (problem := parse_schedule(schedule)) is not None:
            errs.invalid("spec.schedule", schedule, problem)
        zone = spec.get("timeZone")
        if zone is not None:
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                errs.invalid("spec.timeZone", zone, f"unknown time zone {zone}")
        policy = spec.get("concurrencyPolicy")
        if policy not in CONCURRENCY_POLICIES:
            errs.not_supported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES)
        for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            non_negative(errs, f"spec.{key}", spec.get(key))
            int32(errs, f"spec.{key}", spec.get(key))
        job_template = spec.get("jobTemplate")
        if not isinstance(job_template, Mapping):
            errs.required("spec.jobTemplate")
            return
        validate_labels(errs, (job_template.get("metadata") or {}).get("labels") or {},
                        "spec.jobTemplate.metadata.labels")
        validate_job_spec(errs, job_template.get("spec") or {}, "spec.jobTemplate.spec", in_template=True)


STRATEGIES = (
    JobStrategy(by_group_resource("jobs.batch")),
    CronJobStrategy(by_group_resource("cronjobs.batch")),
)
