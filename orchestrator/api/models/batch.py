"""The batch/v1 kinds: Job and CronJob.

Kubernetes equivalent: k8s.io/api/batch/v1/types.go
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.api.models.core import ObjectReference, PodTemplateSpec
from orchestrator.api.models.meta import (
    K8sModel,
    LabelSelector,
    ObjectMeta,
    Time,
    TypedModel,
    doc,
    merge_list,
)

# Labels and annotations of the batch API (k8s.io/api/batch/v1/types.go constants).
LABEL_PREFIX = "batch.kubernetes.io/"
CONTROLLER_UID_LABEL = LABEL_PREFIX + "controller-uid"
JOB_NAME_LABEL = LABEL_PREFIX + "job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"  # still set next to the prefixed ones in 1.32
LEGACY_JOB_NAME_LABEL = "job-name"
JOB_COMPLETION_INDEX = LABEL_PREFIX + "job-completion-index"  # annotation and label of an Indexed Job's pod
JOB_COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
CRONJOB_SCHEDULED_TIMESTAMP = LABEL_PREFIX + "cronjob-scheduled-timestamp"  # annotation of a CronJob's Job


class _Batch(K8sModel):
    openapi_package: ClassVar[str] = "io.k8s.api.batch.v1"


class PodFailurePolicyOnExitCodesRequirement(_Batch):
    """Describes the requirement for handling a failed pod based on its container exit codes."""

    required_fields = ("operator", "values")

    container_name: str | None = doc("Restricts the check for exit codes to the container with the specified name.")
    operator: str | None = doc("Represents the relationship between the container exit code(s) and the specified "
                               "values: In, NotIn.")
    values: list[int] | None = doc("Specifies the set of values. Each returned container exit code is checked "
                                   "against this set of values with respect to the operator.")


class PodFailurePolicyOnPodConditionsPattern(_Batch):
    """Describes a pattern for matching an actual pod condition type."""

    required_fields = ("type", "status")

    type: str | None = doc("Specifies the required Pod condition type.")
    status: str | None = doc("Specifies the required Pod condition status. Defaults to True.")


class PodFailurePolicyRule(_Batch):
    """Describes how a pod failure is handled when the requirements are met."""

    required_fields = ("action",)

    action: str | None = doc("Specifies the action taken on a pod failure when the requirements are satisfied: "
                             "FailJob, FailIndex, Ignore, Count.")
    on_exit_codes: PodFailurePolicyOnExitCodesRequirement | None = doc("Represents the requirement on the "
                                                                       "container exit codes.")
    on_pod_conditions: list[PodFailurePolicyOnPodConditionsPattern] | None = doc(
        "Represents the requirement on the pod conditions.")


class PodFailurePolicy(_Batch):
    """PodFailurePolicy describes how failed pods influence the backoffLimit."""

    required_fields = ("rules",)

    rules: list[PodFailurePolicyRule] | None = doc("A list of pod failure policy rules. The rules are evaluated in "
                                                   "order.")


class JobSpec(_Batch):
    """JobSpec describes how the job execution will look like."""

    required_fields = ("template",)

    parallelism: int | None = doc("Specifies the maximum desired number of pods the job should run at any given "
                                  "time. Defaults to 1.")
    completions: int | None = doc("Specifies the desired number of successfully finished pods the job should be "
                                  "run with.")
    active_deadline_seconds: int | None = doc("Specifies the duration in seconds relative to the startTime that "
                                              "the job may be continuously active before the system tries to "
                                              "terminate it.")
    pod_failure_policy: PodFailurePolicy | None = doc("Specifies the policy of handling failed pods.")
    backoff_limit: int | None = doc("Specifies the number of retries before marking this job failed. Defaults "
                                    "to 6.")
    selector: LabelSelector | None = doc("A label query over pods that should match the pod count.")
    manual_selector: bool | None = doc("manualSelector controls generation of pod labels and pod selectors.")
    template: PodTemplateSpec | None = doc("Describes the pod that will be created when executing a job.")
    ttl_seconds_after_finished: int | None = doc("ttlSecondsAfterFinished limits the lifetime of a Job that has "
                                                 "finished execution (either Complete or Failed).")
    completion_mode: str | None = doc("completionMode specifies how Pod completions are tracked: NonIndexed "
                                      "(default) or Indexed.")
    suspend: bool | None = doc("suspend specifies whether the Job controller should create Pods or not.")
    pod_replacement_policy: str | None = doc("podReplacementPolicy specifies when to create replacement Pods: "
                                             "TerminatingOrFailed (default) or Failed.")


class JobCondition(_Batch):
    """JobCondition describes current state of a job."""

    required_fields = ("type", "status")

    type: str | None = doc("Type of job condition, Complete or Failed.")
    status: str | None = doc("Status of the condition, one of True, False, Unknown.")
    last_probe_time: Time | None = doc("Last time the condition was checked.")
    last_transition_time: Time | None = doc("Last time the condition transit from one status to another.")
    reason: str | None = doc("(brief) reason for the condition's last transition.")
    message: str | None = doc("Human readable message indicating details about last transition.")


class UncountedTerminatedPods(_Batch):
    """UncountedTerminatedPods holds UIDs of Pods that have terminated but haven't been accounted in Job
    status counters."""

    succeeded: list[str] | None = doc("succeeded holds UIDs of succeeded Pods.")
    failed: list[str] | None = doc("failed holds UIDs of failed Pods.")


class JobStatus(_Batch):
    """JobStatus represents the current state of a Job."""

    conditions: list[JobCondition] | None = merge_list("type", description="The latest available observations "
                                                                             "of an object's current state.")
    start_time: Time | None = doc("Represents time when the job controller started processing a job.")
    completion_time: Time | None = doc("Represents time when the job was completed.")
    active: int | None = doc("The number of pending and running pods which are not terminating.")
    succeeded: int | None = doc("The number of pods which reached phase Succeeded.")
    failed: int | None = doc("The number of pods which reached phase Failed.")
    terminating: int | None = doc("The number of pods which are terminating.")
    completed_indexes: str | None = doc("completedIndexes holds the completed indexes when "
                                        ".spec.completionMode = \"Indexed\" in a text format.")
    failed_indexes: str | None = doc("FailedIndexes holds the failed indexes when spec.backoffLimitPerIndex is set.")
    uncounted_terminated_pods: UncountedTerminatedPods | None = doc("uncountedTerminatedPods holds the UIDs of "
                                                                    "Pods that have terminated but the job "
                                                                    "controller hasn't yet accounted for.")
    ready: int | None = doc("The number of active pods which have a Ready condition and are not terminating.")


class Job(_Batch, TypedModel):
    """Job represents the configuration of a single job."""

    gvk = ("batch", "v1", "Job")

    metadata: ObjectMeta | None = None
    spec: JobSpec | None = None
    status: JobStatus | None = None


class JobTemplateSpec(_Batch):
    """JobTemplateSpec describes the data a Job should have when created from a template."""

    metadata: ObjectMeta | None = doc("Standard object's metadata of the jobs created from this template.")
    spec: JobSpec | None = doc("Specification of the desired behavior of the job.")


class CronJobSpec(_Batch):
    """CronJobSpec describes how the job execution will look like and when it will actually run."""

    required_fields = ("schedule", "jobTemplate")

    schedule: str | None = doc("The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.")
    time_zone: str | None = doc("The time zone name for the given schedule, see "
                                "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.")
    starting_deadline_seconds: int | None = doc("Optional deadline in seconds for starting the job if it misses "
                                                "scheduled time for any reason.")
    concurrency_policy: str | None = doc("Specifies how to treat concurrent executions of a Job: Allow (default), "
                                         "Forbid, Replace.")
    suspend: bool | None = doc("This flag tells the controller to suspend subsequent executions. Defaults to "
                               "false.")
    job_template: JobTemplateSpec | None = doc("Specifies the job that will be created when executing a CronJob.")
    successful_jobs_history_limit: int | None = doc("The number of successful finished jobs to retain. Defaults "
                                                    "to 3.")
    failed_jobs_history_limit: int | None = doc("The number of failed finished jobs to retain. Defaults to 1.")


class CronJobStatus(_Batch):
    """CronJobStatus represents the current state of a cron job."""

    active: list[ObjectReference] | None = doc("A list of pointers to currently running jobs.")
    last_schedule_time: Time | None = doc("Information when was the last time the job was successfully "
                                          "scheduled.")
    last_successful_time: Time | None = doc("Information when was the last time the job successfully completed.")


class CronJob(_Batch, TypedModel):
    """CronJob represents the configuration of a single cron job."""

    gvk = ("batch", "v1", "CronJob")

    metadata: ObjectMeta | None = None
    spec: CronJobSpec | None = None
    status: CronJobStatus | None = None
