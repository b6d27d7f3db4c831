"""The horizontal pod autoscaler controller: set each target's replicas from its pods' metrics.

Every HPA is synced when it changes and again every ``sync_period`` seconds (default 15, the
--horizontal-pod-autoscaler-sync-period): metrics move without any object changing, so this
controller polls, as upstream's does. `sync(key)` in named steps, as upstream's reconcileAutoscaler:

1. **scale** -- GET the target's ``/scale`` subresource (``scaleTargetRef`` names the kind; any
   served kind with a scale subresource works). Failure: AbleToScale False, FailedGetScale.
2. **the easy cases** -- a target at 0 replicas is left alone (ScalingActive False,
   ScalingDisabled); one outside [minReplicas, maxReplicas] is brought to the nearest bound.
3. **metrics** -- for each metric: the pods the scale's ``status.selector`` selects (from the pod
   informer; pods another HPA's target also selects stop it: AmbiguousSelector), their PodMetrics (GET ``/apis/metrics.k8s.io/v1beta1/namespaces/NS/pods``, through
   the API server's aggregation), their requests, and the replica calculator's proposal
   (replicacalculator.py). The largest proposal wins. If every metric fails, or some fail and the
   others would scale down, nothing changes (ScalingActive False with the first failure's reason,
   e.g. FailedGetResourceMetric); else ScalingActive True, ValidMetricFound.
4. **normalize** -- stabilization windows, scale rate policies, min/max (hpabehavior.py); the
   AbleToScale and ScalingLimited conditions say which rule decided.
5. **rescale** -- PUT the new ``spec.replicas`` to ``/scale``; event SuccessfulRescale
   ("New size: 4; reason: cpu resource utilization (percentage of request) above target"),
   ``status.lastScaleTime``.
6. **status** -- currentReplicas, desiredReplicas, currentMetrics and the conditions, written to
   ``/status`` only when they changed.

Only resource metrics (``Resource``, ``ContainerResource``) are served: this lab has no custom or
external metrics API, so ``Pods``, ``Object`` and ``External`` metrics fail with the reasons upstream
uses when those APIs are missing (FailedGetPodsMetric, FailedGetObjectMetric, FailedGetExternalMetric).

Kubernetes equivalent: pkg/controller/podautoscaler/horizontal.go,
pkg/controller/podautoscaler/metrics/client.go (the resource metrics client)
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from orchestrator.api.errors import ApiError, Invalid
from orchestrator.api.quantity import format_quantity
from orchestrator.api.resources import by_kind
from orchestrator.api.selectors import LabelSelector
from orchestrator.api.timestamps import parse_rfc3339, rfc3339, utc_now
from orchestrator.client.informer import DeletedFinalStateUnknown, meta_namespace_key
from orchestrator.client.metrics import list_pod_metrics, pod_metric
from orchestrator.controllers.controller import (
    Controller,
    ControllerContext,
    Object,
    by_namespace,
    ensure_indexer,
)
from orchestrator.controllers.hpabehavior import DEFAULT_DOWNSCALE_STABILIZATION, Normalizer
from orchestrator.controllers.ownerrefs import meta
from orchestrator.controllers.replicacalculator import (
    DEFAULT_CPU_INITIALIZATION_PERIOD,
    DEFAULT_INITIAL_READINESS_DELAY,
    DEFAULT_TOLERANCE,
    MetricsError,
    PodMetric,
    ReplicaProposal,
    milli_value,
    plain_metric_replicas,
    resource_replicas,
)

__all__ = ["DEFAULT_SYNC_PERIOD", "HorizontalController", "controlling_hpas", "pod_metrics_from"]

log = logging.getLogger(__name__)

HPA_RESOURCE = "horizontalpodautoscalers.autoscaling"
DEFAULT_SYNC_PERIOD = 15.0  # --horizontal-pod-autoscaler-sync-period
_UNSERVED_SOURCES = {"Pods": ("FailedGetPodsMetric", "custom.metrics.k8s.io"),
                     "Object": ("FailedGetObjectMetric", "custom.metrics.k8s.io"),
                     "External": ("FailedGetExternalMetric", "external.metrics.k8s.io")}

Condition = tuple[str, str, str]  # (status, reason, message)


def pod_metrics_from(items: list[dict[str, Any]], resource: str, container: str = "") -> dict[str, PodMetric]:
    """getPodMetrics: each pod's usage of `resource` (orchestrator/client/metrics.py reads one item).

    A pod with no containers, or a container without the resource, gives no metric (it counts as
    missing, which the calculator treats conservatively)."""
    found: dict[str, PodMetric] = {}
    for item in items:
        try:
            metric = pod_metric(item, resource, container=container or None)  # type: ignore[arg-type]
        except ValueError:
            continue  # a window that is not a duration: no usable sample
        if metric is None:
            continue
        try:
            at = parse_rfc3339(metric.timestamp)
        except ValueError:
            continue
        found[meta(item).get("name", "")] = PodMetric(metric.value_milli, at, metric.window_seconds)
    return found


def controlling_hpas(pods: list[Object], selectors: dict[str, tuple[str, LabelSelector]]) -> list[str]:
    """hpasControllingPodsUnderSelector: the keys of the HPAs whose target selects any of `pods`."""
    keys: set[str] = set()
    for pod in pods:
        namespace, labels = meta(pod).get("namespace") or "", meta(pod).get("labels") or {}
        keys.update(key for key, (ns, selector) in selectors.items() if ns == namespace and selector.matches(labels))
    return sorted(keys)


@dataclass
class _MetricResult:
    replicas: int
    name: str
    status: dict[str, Any]


class _MetricFailure(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class HorizontalController(Controller):
    name = "horizontalpodautoscaling"
    default_workers = 2

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None,
                 sync_period: float = DEFAULT_SYNC_PERIOD,
                 downscale_stabilization: float = DEFAULT_DOWNSCALE_STABILIZATION,
                 tolerance: float = DEFAULT_TOLERANCE,
                 cpu_initialization_period: float = DEFAULT_CPU_INITIALIZATION_PERIOD,
                 initial_readiness_delay: float = DEFAULT_INITIAL_READINESS_DELAY,
                 wall_clock: Callable[[], dt.datetime] = utc_now) -> None:
        super().__init__(ctx, workers=workers)
        if sync_period <= 0:
            raise ValueError(f"sync_period must be > 0 seconds, got {sync_period}")
        self.sync_period = sync_period
        self.tolerance = tolerance
        self.cpu_initialization_period = cpu_initialization_period
        self.initial_readiness_delay = initial_readiness_delay
        self.wall_clock = wall_clock
        self.normalizer = Normalizer(now=ctx.clock.now, downscale_stabilization=downscale_stabilization)
        # Each HPA's target selector, as last read (upstream's hpaSelectors): two HPAs on the same
        # pods would fight over them, so neither acts while they overlap.
        self.selectors: dict[str, tuple[str, LabelSelector]] = {}
        self.hpa_informer = ctx.factory.informer(HPA_RESOURCE, namespace=ctx.namespace)
        self.pod_informer = ctx.factory.informer("pods", namespace=ctx.namespace)
        ensure_indexer(self.pod_informer, "namespace", by_namespace)
        # Only HPA changes queue a sync; pods and metrics are read when the periodic sync comes.
        self.hpa_informer.add_handler(on_add=self.enqueue, on_update=self._updated, on_delete=self._deleted)

    def resync_all(self) -> None:
        for hpa in self.hpa_informer.list():
            self.enqueue(hpa)

    def _updated(self, old: Object, cur: Object) -> None:
        if old.get("spec") != cur.get("spec") or meta(old).get("labels") != meta(cur).get("labels"):
            self.enqueue(cur)  # our own status writes do not need another sync

    def _deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        self._forget(meta_namespace_key(obj))

    def _forget(self, key: str) -> None:
        self.normalizer.forget(key)
        self.selectors.pop(key, None)

    # --- sync ------------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        hpa = self.hpa_informer.get(key)
        if hpa is None:
            self._forget(key)
            return
        try:
            await self._reconcile(key, copy.deepcopy(hpa))
        finally:
            # The next look comes after a sync period whatever happened (upstream's queue does the
            # same with a fixed-interval rate limiter): metrics change without any event.
            if self.hpa_informer.get(key) is not None:
                self.queue.add_after(key, self.sync_period)

    async def _reconcile(self, key: str, hpa: Object) -> None:
        original = copy.deepcopy(hpa.get("status") or {})
        status: dict[str, Any] = copy.deepcopy(original)
        spec = hpa.get("spec") or {}
        namespace = meta(hpa).get("namespace") or ""
        ref = spec.get("scaleTargetRef") or {}
        reference = f"{ref.get('kind')}/{ref.get('name')}"

        # 1. scale
        info = by_kind(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
        try:
            if info is None or "scale" not in info.subresources:
                group = str(ref.get("apiVersion") or "").rpartition("/")[0]
                raise _MetricFailure("FailedGetScale", f'unable to determine resource for scale target reference: '
                                                       f'no matches for kind "{ref.get("kind")}" in group "{group}"')
            scale_path = info.object_path(namespace, str(ref.get("name"))) + "/scale"
            scale = await self.client.request_json("GET", scale_path)
        except (ApiError, _MetricFailure) as err:
            self.recorder.event(hpa, "Warning", "FailedGetScale", str(err))
            self._set(status, "AbleToScale", ("False", "FailedGetScale", f"the HPA controller was unable to get the "
                                                                         f"target's current scale: {err}"))
            await self._write(hpa, original, status)
            log.info("%s: failed to query scale subresource for %s: %s", key, reference, err)
            return
        self._set(status, "AbleToScale", ("True", "SucceededGetScale",
                                          "the HPA controller was able to get the target's current scale"))
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        self.normalizer.record_initial(key, current)
        minimum = int(spec.get("minReplicas") or 1)
        maximum = int(spec.get("maxReplicas") or 0)
        metric_statuses: list[dict[str, Any]] = []
        rescale_reason = ""

        # 2. the easy cases, 3. metrics, 4. normalize
        if current == 0 and minimum != 0:
            desired = 0
            self._set(status, "ScalingActive", ("False", "ScalingDisabled",
                                                "scaling is disabled since the replica count of the target is zero"))
        elif current > maximum:
            rescale_reason, desired = "Current number of replicas above Spec.MaxReplicas", maximum
        elif current < minimum:
            rescale_reason, desired = "Current number of replicas below Spec.MinReplicas", minimum
        else:
            proposal, metric_name, metric_statuses, failure = await self._replicas_for_metrics(
                hpa, scale, current, status)
            if proposal is None:
                self._metrics_status(status, current, metric_statuses)
                await self._write(hpa, original, status)
                log.info("%s: failed to compute desired number of replicas based on listed metrics for %s: %s",
                         key, reference, failure)
                return
            desired = max(0, proposal)
            if desired > current:
                rescale_reason = f"{metric_name} above target"
            elif desired < current:
                rescale_reason = "All metrics below target"
            behavior = spec.get("behavior")
            if behavior is None:
                decision = self.normalizer.normalize(key, current=current, desired=desired, minimum=minimum,
                                                     maximum=maximum)
            else:
                decision = self.normalizer.normalize_with_behavior(key, current=current, desired=desired,
                                                                   minimum=minimum, maximum=maximum,
                                                                   behavior=behavior)
            desired = decision.replicas
            self._set(status, "AbleToScale", decision.able_to_scale)
            self._set(status, "ScalingLimited", decision.scaling_limited)

        # 5. rescale
        if desired != current and not (current == 0 and minimum != 0):
            try:
                await self.client.request_json("PUT", scale_path, body={**scale, "spec": {
                    **(scale.get("spec") or {}), "replicas": desired}})
            except ApiError as err:
                self.recorder.event(hpa, "Warning", "FailedRescale",
                                    f"New size: {desired}; reason: {rescale_reason}; error: {err}")
                self._set(status, "AbleToScale", ("False", "FailedUpdateScale",
                                                  f"the HPA controller was unable to update the target scale: {err}"))
                self._metrics_status(status, current, metric_statuses)
                await self._write(hpa, original, status)
                raise
            self._set(status, "AbleToScale", ("True", "SucceededRescale",
                                              f"the HPA controller was able to update the target scale to {desired}"))
            self.recorder.event(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {rescale_reason}")
            self.normalizer.record_scale(key, spec.get("behavior"), current, desired)
            status["lastScaleTime"] = rfc3339(self.wall_clock())
            log.info("%s: rescaled %s from %d to %d (%s)", key, reference, current, desired, rescale_reason)
        else:
            desired = current

        # 6. status
        self._metrics_status(status, current, metric_statuses)
        status["desiredReplicas"] = desired
        await self._write(hpa, original, status)

    # --- metrics ---------------------------------------------------------------------------------

    async def _replicas_for_metrics(self, hpa: Object, scale: Object, current: int, status: dict[str, Any],
                                    ) -> tuple[int | None, str, list[dict[str, Any]], str]:
        """computeReplicasForMetrics: (the largest proposal or None, its metric, statuses, first error)."""
        selector_text = (scale.get("status") or {}).get("selector") or ""
        if not selector_text:
            self.recorder.event(hpa, "Warning", "SelectorRequired", "selector is required")
            self._set(status, "ScalingActive", ("False", "InvalidSelector",
                                                "the HPA target's scale is missing a selector"))
            return None, "", [], "selector is required"
        try:
            selector = LabelSelector.parse(selector_text)
        except Invalid as err:
            message = f"couldn't convert selector into a corresponding internal selector object: {err}"
            self.recorder.event(hpa, "Warning", "InvalidSelector", message)
            self._set(status, "ScalingActive", ("False", "InvalidSelector", message))
            return None, "", [], message
        namespace = meta(hpa).get("namespace") or ""
        pods = [p for p in self.pod_informer.by_index("namespace", namespace)
                if selector.matches(meta(p).get("labels") or {})]
        self.selectors[meta_namespace_key(hpa)] = (namespace, selector)
        controlling = controlling_hpas(pods, self.selectors)
        if len(controlling) > 1:
            message = f"pods by selector {selector_text} are controlled by multiple HPAs: [{' '.join(controlling)}]"
            self.recorder.event(hpa, "Warning", "AmbiguousSelector", message)
            self._set(status, "ScalingActive", ("False", "AmbiguousSelector", message))
            return None, "", [], message
        specs = (hpa.get("spec") or {}).get("metrics") or []
        statuses: list[dict[str, Any]] = [{} for _ in specs]
        best: _MetricResult | None = None
        failures: list[_MetricFailure] = []
        listed: list[dict[str, Any]] | ApiError | None = None
        for i, metric in enumerate(specs):
            try:
                if metric.get("type") not in ("Resource", "ContainerResource"):
                    reason, api = _UNSERVED_SOURCES.get(str(metric.get("type")), ("InvalidMetricSourceType", ""))
                    raise _MetricFailure(reason, f"unable to get metric of type {metric.get('type')}: "
                                                 f"no {api or 'such'} API is served by this cluster")
                if listed is None:
                    listed = await self._list_pod_metrics(namespace, selector_text)
                result = self._resource_proposal(metric, current, pods, listed)
            except _MetricFailure as failure:
                self.recorder.event(hpa, "Warning", failure.reason, str(failure))
                failures.append(failure)
                continue
            statuses[i] = result.status
            if best is None or result.replicas > best.replicas:
                best = result
        current_metrics = [s for s in statuses if s]
        if failures and (best is None or best.replicas < current):
            first = failures[0]
            self._set(status, "ScalingActive", ("False", first.reason,
                                                f"the HPA was unable to compute the replica count: {first}"))
            return None, "", current_metrics, (f"invalid metrics ({len(failures)} invalid out of {len(specs)}), "
                                               f"first error is: {first}")
        assert best is not None
        self._set(status, "ScalingActive", ("True", "ValidMetricFound",
                                            f"the HPA was able to successfully calculate a replica count from "
                                            f"{best.name}"))
        return best.replicas, best.name, current_metrics, ""

    async def _list_pod_metrics(self, namespace: str, selector: str) -> list[dict[str, Any]] | ApiError:
        """The PodMetrics of the selected pods, or why they could not be read (the same failure for
        every resource metric of this sync, each reporting it with its own reason)."""
        try:
            return await list_pod_metrics(self.client, namespace, label_selector=selector)
        except ApiError as err:
            return err

    def _resource_proposal(self, metric: dict[str, Any], current: int, pods: list[Object],
                           listed: list[dict[str, Any]] | ApiError) -> _MetricResult:
        """computeStatusForResourceMetric / computeStatusForContainerResourceMetric."""
        container_metric = metric.get("type") == "ContainerResource"
        source = metric.get("containerResource" if container_metric else "resource") or {}
        resource = str(source.get("name") or "")
        container = str(source.get("container") or "") if container_metric else ""
        target = source.get("target") or {}
        reason = "FailedGetContainerResourceMetric" if container_metric else "FailedGetResourceMetric"
        if isinstance(listed, ApiError):
            raise _MetricFailure(reason, f"unable to get metrics for resource {resource}: unable to fetch metrics "
                                         f"from resource metrics API: {listed}")
        metrics = pod_metrics_from(listed, resource, container)
        now = self.wall_clock()
        knobs = {"tolerance": self.tolerance, "cpu_initialization_period": self.cpu_initialization_period,
                 "initial_readiness_delay": self.initial_readiness_delay}
        try:
            if target.get("averageValue") is not None:
                proposal: ReplicaProposal = plain_metric_replicas(
                    current_replicas=current, target_average=milli_value(target["averageValue"]),
                    resource=resource, pods=pods, metrics=metrics, now=now, **knobs)
                name = f"{resource} resource"
            elif target.get("averageUtilization") is not None:
                proposal = resource_replicas(current_replicas=current,
                                             target_utilization=int(target["averageUtilization"]),
                                             resource=resource, pods=pods, metrics=metrics, container=container,
                                             now=now, **knobs)
                name = f"{resource} resource utilization (percentage of request)"
            else:
                raise MetricsError("invalid resource metric source: neither an average utilization target nor "
                                   "an average value (usage) target was set")
        except MetricsError as err:
            raise _MetricFailure(reason, str(err)) from None
        if container_metric:
            name = f"{resource} container resource utilization (percentage of request)" \
                if target.get("averageUtilization") is not None else f"{resource} container resource"
        # resource.NewMilliQuantity(raw, DecimalSI).String(): 250m, 1, 64M, 67108864
        current_value: dict[str, Any] = {"averageValue": format_quantity(Decimal(proposal.raw_average) / 1000)}
        if proposal.utilization is not None:
            current_value = {"averageUtilization": proposal.utilization, **current_value}
        body: dict[str, Any] = {"name": resource, "current": current_value}
        if container_metric:
            body["container"] = container
        key = "containerResource" if container_metric else "resource"
        return _MetricResult(proposal.replicas, name, {"type": metric.get("type"), key: body})

    # --- status ----------------------------------------------------------------------------------

    @staticmethod
    def _metrics_status(status: dict[str, Any], current: int, metric_statuses: list[dict[str, Any]]) -> None:
        """setCurrentReplicasAndMetricsInStatus."""
        status["currentReplicas"] = current
        if metric_statuses:
            status["currentMetrics"] = metric_statuses
        else:
            status.pop("currentMetrics", None)
        status.setdefault("desiredReplicas", 0)

    def _set(self, status: dict[str, Any], type_: str, condition: Condition) -> None:
        """setCondition: lastTransitionTime moves only when the status does."""
        value, reason, message = condition
        conditions = list(status.get("conditions") or [])
        old = next((c for c in conditions if c.get("type") == type_), None)
        moved = old is None or old.get("status") != value
        new = {"type": type_, "status": value,
               "lastTransitionTime": rfc3339(self.wall_clock()) if moved else old.get("lastTransitionTime"),
               "reason": reason, "message": message}
        if old is None:
            conditions.append(new)
        else:
            conditions[conditions.index(old)] = new
        status["conditions"] = conditions

    async def _write(self, hpa: Object, original: dict[str, Any], status: dict[str, Any]) -> None:
        """updateStatusIfNeeded."""
        if status == original:
            return
        try:
            await self.client.update_status(HPA_RESOURCE, {**hpa, "status": status})
        except ApiError as err:
            self.recorder.event(hpa, "Warning", "FailedUpdateStatus", str(err))
            raise

