"""From a metric's recommendation to the replicas an HPA sets: stabilization, rate limits, min/max.

The replica calculator (replicacalculator.py) says what the metrics ask for *now*; acting on every
such answer would make a target flap. `Normalizer` keeps, per HPA, the recent recommendations and
the recent scale events (in memory, as upstream does: a restarted controller manager starts with
the current replica count as its only recommendation) and applies, in order:

1. **stabilization** -- within the scale-down window (default 300 s) the *highest* recent
   recommendation wins, so a dip must last the whole window before replicas go; within the
   scale-up window (default 0 s) the *lowest* wins. Reasons: ScaleDownStabilized / ScaleUpStabilized
   (AbleToScale), else ReadyForNewScale.
2. **rate limits** -- with ``spec.behavior`` (always filled in by the API server when given): each
   policy allows ``value`` pods (or ``value`` percent of the replicas at the start of the period)
   per ``periodSeconds``, counting the scale events inside the period; ``selectPolicy`` Max takes
   the most permissive policy, Min the least, Disabled forbids that direction. Without a behavior,
   the legacy rule: up to ``max(2 * current, 4)`` replicas at once, no scale-down limit.
3. **min/max** -- reasons TooFewReplicas / TooManyReplicas, or ScaleUpLimit / ScaleDownLimit when a
   rate limit bound it (ScalingLimited True), else DesiredWithinRange (ScalingLimited False).

Worked example (defaults, 1 replica, the metric asks for 10): scale-up limit = max(1 + 4 pods,
1 * 200%) = 5, so 5 now (ScaleUpLimit) and up to 10 fifteen seconds later. Then the load drops and
the metric asks for 2: the scale-down window holds 10 for 300 s after the last high recommendation.

Time comes from an injected clock (`Clock.now()`, seconds): tests turn it by hand.

Kubernetes equivalent: pkg/controller/podautoscaler/horizontal.go (normalizeDesiredReplicas,
normalizeDesiredReplicasWithBehaviors, stabilizeRecommendation*, convertDesiredReplicasWith*,
calculateScale{Up,Down}Limit*, storeScaleEvent)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_DOWNSCALE_STABILIZATION", "Decision", "Normalizer"]

DEFAULT_DOWNSCALE_STABILIZATION = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization
SCALE_UP_LIMIT_FACTOR = 2.0  # the legacy rule without spec.behavior
SCALE_UP_LIMIT_MINIMUM = 4.0


@dataclass
class _Sample:
    value: int  # a recommendation, or a replica change (+ up, - down)
    at: float
    outdated: bool = False


@dataclass(frozen=True)
class Decision:
    """What to set, and the conditions that explain it: (status, reason, message) per condition type."""

    replicas: int
    able_to_scale: tuple[str, str, str]
    scaling_limited: tuple[str, str, str]


@dataclass
class _State:
    recommendations: list[_Sample] = field(default_factory=list)
    scale_up_events: list[_Sample] = field(default_factory=list)
    scale_down_events: list[_Sample] = field(default_factory=list)


class Normalizer:
    """Per-HPA memory of recommendations and scale events, and the rules that use it."""

    def __init__(self, *, now: Callable[[], float],
                 downscale_stabilization: float = DEFAULT_DOWNSCALE_STABILIZATION) -> None:
        self.now = now
        self.downscale_stabilization = downscale_stabilization
        self._state: dict[str, _State] = {}

    def forget(self, key: str) -> None:
        """The HPA is gone: drop what was remembered for it."""
        self._state.pop(key, None)

    def record_initial(self, key: str, current_replicas: int) -> None:
        """recordInitialRecommendation: the first thing known is the current count."""
        state = self._state.setdefault(key, _State())
        if not state.recommendations:
            state.recommendations.append(_Sample(current_replicas, self.now()))

    # --- the legacy path (no spec.behavior) ----------------------------------------------------

    def normalize(self, key: str, *, current: int, desired: int, minimum: int, maximum: int) -> Decision:
        """normalizeDesiredReplicas."""
        stabilized = self._stabilize_down_only(key, desired)
        if stabilized != desired:
            able = ("True", "ScaleDownStabilized", "recent recommendations were higher than current one, applying "
                                                   "the highest recent recommendation")
        else:
            able = ("True", "ReadyForNewScale", "recommended size matches current size")
        scale_up_limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
        if maximum > scale_up_limit:
            top, reason, message = scale_up_limit, "ScaleUpLimit", ("the desired replica count is increasing "
                                                                    "faster than the maximum scale rate")
        else:
            top, reason, message = maximum, "TooManyReplicas", "the desired replica count is more than the " \
                                                               "maximum replica count"
        if stabilized < minimum:
            result, reason, message = minimum, "TooFewReplicas", ("the desired replica count is less than the "
                                                                  "minimum replica count")
        elif stabilized > top:
            result = top
        else:
            result, reason, message = stabilized, "DesiredWithinRange", "the desired count is within the " \
                                                                        "acceptable range"
        limited = ("False" if result == stabilized else "True", reason, message)
        return Decision(result, able, limited)

    def _stabilize_down_only(self, key: str, desired: int) -> int:
        """stabilizeRecommendation: the highest recommendation of the downscale window."""
        now = self.now()
        state = self._state.setdefault(key, _State())
        cutoff = now - self.downscale_stabilization
        result = desired
        oldest: _Sample | None = None
        for sample in state.recommendations:
            if sample.at > cutoff:
                result = max(result, sample.value)
            elif oldest is None:
                oldest = sample  # reuse one expired slot rather than grow the list
        if oldest is not None:
            oldest.value, oldest.at = desired, now
        else:
            state.recommendations.append(_Sample(desired, now))
        return result

    # --- with spec.behavior -----------------------------------------------------------------------

    def normalize_with_behavior(self, key: str, *, current: int, desired: int, minimum: int, maximum: int,
                                behavior: Mapping[str, Any]) -> Decision:
        """normalizeDesiredReplicasWithBehaviors (`behavior` as defaulted by the API server)."""
        up = dict(behavior.get("scaleUp") or {})
        down = dict(behavior.get("scaleDown") or {})
        if down.get("stabilizationWindowSeconds") is None:  # maybeInitScaleDownStabilizationWindow
            down["stabilizationWindowSeconds"] = self.downscale_stabilization
        stabilized, reason, message = self._stabilize(key, current=current, desired=desired,
                                                      up_window=float(up.get("stabilizationWindowSeconds") or 0),
                                                      down_window=float(down["stabilizationWindowSeconds"]))
        able = (("True", reason, message) if stabilized != desired
                else ("True", "ReadyForNewScale", "recommended size matches current size"))
        result, reason, message = self._rate_limited(key, current=current, desired=stabilized, minimum=minimum,
                                                     maximum=maximum, up=up, down=down)
        limited = ("False" if result == stabilized else "True", reason, message)
        return Decision(result, able, limited)

    def _stabilize(self, key: str, *, current: int, desired: int, up_window: float,
                   down_window: float) -> tuple[int, str, str]:
        """stabilizeRecommendationWithBehaviors."""
        now = self.now()
        state = self._state.setdefault(key, _State())
        up_cutoff, down_cutoff = now - up_window, now - down_window
        up_rec = down_rec = desired
        reusable: _Sample | None = None
        for sample in state.recommendations:
            if sample.at > up_cutoff:
                up_rec = min(up_rec, sample.value)
            if sample.at > down_cutoff:
                down_rec = max(down_rec, sample.value)
            if sample.at < up_cutoff and sample.at < down_cutoff:
                reusable = sample
        recommendation = max(current, up_rec)
        recommendation = min(recommendation, down_rec)
        if reusable is not None:
            reusable.value, reusable.at = desired, now
        else:
            state.recommendations.append(_Sample(desired, now))
        if desired >= current:
            return (recommendation, "ScaleUpStabilized", "recent recommendations were lower than current one, "
                                                         "applying the lowest recent recommendation")
        return (recommendation, "ScaleDownStabilized", "recent recommendations were higher than current one, "
                                                       "applying the highest recent recommendation")

    def _changes_in(self, events: list[_Sample], period: float) -> int:
        """getReplicasChangePerPeriod."""
        cutoff = self.now() - period
        return sum(e.value for e in events if e.at > cutoff)

    def _period_start(self, key: str, current: int, period: float) -> int:
        state = self._state.setdefault(key, _State())
        added = self._changes_in(state.scale_up_events, period)
        deleted = self._changes_in(state.scale_down_events, period)
        return current - added + deleted

    def scale_up_limit(self, key: str, current: int, rules: Mapping[str, Any]) -> int:
        """calculateScaleUpLimitWithScalingRules."""
        select = rules.get("selectPolicy") or "Max"
        if select == "Disabled":
            return current
        proposals = []
        for policy in rules.get("policies") or []:
            start = self._period_start(key, current, float(policy.get("periodSeconds") or 0))
            if policy.get("type") == "Pods":
                proposals.append(start + int(policy.get("value") or 0))
            else:
                proposals.append(math.ceil(start * (1 + int(policy.get("value") or 0) / 100)))
        if not proposals:
            return current
        return min(proposals) if select == "Min" else max(proposals)

    def scale_down_limit(self, key: str, current: int, rules: Mapping[str, Any]) -> int:
        """calculateScaleDownLimitWithBehaviors."""
        select = rules.get("selectPolicy") or "Max"
        if select == "Disabled":
            return current
        proposals = []
        for policy in rules.get("policies") or []:
            start = self._period_start(key, current, float(policy.get("periodSeconds") or 0))
            if policy.get("type") == "Pods":
                proposals.append(start - int(policy.get("value") or 0))
            else:
                proposals.append(int(start * (1 - int(policy.get("value") or 0) / 100)))
        if not proposals:
            return current
        return max(proposals) if select == "Min" else min(proposals)

    def _rate_limited(self, key: str, *, current: int, desired: int, minimum: int, maximum: int,
                      up: Mapping[str, Any], down: Mapping[str, Any]) -> tuple[int, str, str]:
        """convertDesiredReplicasWithBehaviorRate."""
        if desired > current:
            limit = max(self.scale_up_limit(key, current, up), current)
            if maximum > limit:
                top, reason, message = limit, "ScaleUpLimit", ("the desired replica count is increasing faster "
                                                               "than the maximum scale rate")
            else:
                top, reason, message = maximum, "TooManyReplicas", ("the desired replica count is more than the "
                                                                     "maximum replica count")
            if desired > top:
                return top, reason, message
        elif desired < current:
            limit = min(self.scale_down_limit(key, current, down), current)
            if minimum < limit:
                bottom, reason, message = limit, "ScaleDownLimit", ("the desired replica count is decreasing "
                                                                    "faster than the maximum scale rate")
            else:
                bottom, reason, message = minimum, "TooFewReplicas", ("the desired replica count is less than "
                                                                      "the minimum replica count")
            if desired < bottom:
                return bottom, reason, message
        return desired, "DesiredWithinRange", "the desired count is within the acceptable range"

    def record_scale(self, key: str, behavior: Mapping[str, Any] | None, previous: int, new: int) -> None:
        """storeScaleEvent: remember a rescale for the rate limits (only with a behavior)."""
        if behavior is None or previous == new:
            return
        state = self._state.setdefault(key, _State())
        up = new > previous
        rules = behavior.get("scaleUp" if up else "scaleDown") or {}
        longest = max((float(p.get("periodSeconds") or 0) for p in rules.get("policies") or []), default=0.0)
        events = state.scale_up_events if up else state.scale_down_events
        cutoff = self.now() - longest
        for event in events:
            event.outdated = event.at <= cutoff
        change = abs(new - previous)
        slot = next((e for e in events if e.outdated), None)
        if slot is not None:
            slot.value, slot.at, slot.outdated = change, self.now(), False
        else:
            events.append(_Sample(change, self.now()))
