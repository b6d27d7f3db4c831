"""Exercise of notebook 06: predict what the node lifecycle controller evicts when every node
agent goes silent at once.

Before drill 1b you write down how many of the Deployment's pods will be evicted while every
node agent is frozen for longer than the grace period plus the default toleration; after the
drill, pass your number and what the timeline counted:

    labs.check("predict-fleet-outage", prediction=<your number>, evicted=<evictions counted>)

The check compares and explains; it tells nothing before the drill has run (``evicted`` is the
drill's outcome), so the answer is never shown next to the question.
"""

from __future__ import annotations

from typing import Any

from labs.checks import Checker, register


@register("predict-fleet-outage", title="Predict what a whole-fleet outage evicts")
def check(c: Checker, *, prediction: Any = None, evicted: Any = None, pods: int | None = None) -> None:
    if not c.expect(
        isinstance(evicted, int) and evicted >= 0,
        passed="the drill ran",
        failed=f"run drill 1b first and pass the evictions it counted (evicted=...), got {evicted!r}",
        hint="evicted=len(evictions), the TaintManagerEviction events on the timeline since the freeze",
    ):
        return
    if not c.expect(
        isinstance(prediction, int) and not isinstance(prediction, bool) and prediction >= 0,
        passed=f"you predicted {prediction} eviction(s)",
        failed=f"the prediction should be a number of pods (0 or more), got {prediction!r}",
        hint="set my_prediction before the drill: how many pods did drill 1 evict from one silent node? "
        "Is a whole silent zone the same story?",
    ):
        return
    if prediction == evicted:
        c.expect(True, passed=f"right: {evicted} pod(s) evicted"
                 + (" -- every node of the zone was Unknown, so the zone was in FullDisruption and the "
                    "controller stopped evicting (a whole zone going silent at once is more likely the "
                    "network or the control plane than every machine)" if evicted == 0 else ""), failed="")
        return
    if pods is not None and prediction >= pods:
        hint = ("drill 1 evicted every pod of one silent node; but when no node of a zone is Ready the zone is "
                "in FullDisruption, and with every zone in FullDisruption the controller lifts the NoExecute "
                "taints and evicts nothing")
    else:
        hint = ("read the ZoneStateChanged events on the timeline: which state did the zone enter, and what "
                "does the controller do about evictions in it?")
    c.expect(False, passed="", failed=f"you predicted {prediction}, the controller evicted {evicted}", hint=hint)
