"""Exercise of notebook 01: predict the resourceVersion of the next write.

Every write in the cluster takes the next value of ONE global revision counter, and the
object's ``metadata.resourceVersion`` becomes that revision. Work out which resourceVersion
the next write will get, *before* it happens, then:

    labs.check("predict-revision", lab=lab, prediction=<your number>)

The check makes one write (it creates or relabels the pod ``revision-probe``) and compares. It is
exact on a quiet lab, where nothing else writes (notebook 01 starts one); when other components
write between your prediction and the check (lease renewals), it says so.
"""

from __future__ import annotations

from typing import Any

from labs import inspect
from labs.checks import Checker, register

PROBE = "revision-probe"


@register("predict-revision", title="Predict the next resourceVersion", notebook="01-etcd-simulation")
def check(c: Checker, *, lab: Any, prediction: Any = None, namespace: str = "default") -> None:
    if not c.expect(
        isinstance(prediction, int) or (isinstance(prediction, str) and prediction.isdigit()),
        passed=f"you predicted {prediction}",
        failed=f"prediction should be a whole number (a revision), got {prediction!r}",
        hint="look at the revision counter (labs.inspect.revision(lab)) and think about what one more "
        "write does to it",
    ):
        return
    predicted = int(prediction)
    before = inspect.revision(lab)
    with lab.http() as client:
        existing = client.get(f"/api/v1/namespaces/{namespace}/pods/{PROBE}")
        probe_rv = int(existing.json()["metadata"]["resourceVersion"]) if existing.status_code == 200 else None
        if probe_rv is None:
            written = client.post(f"/api/v1/namespaces/{namespace}/pods", json=_probe_pod())
        else:
            written = client.patch(
                f"/api/v1/namespaces/{namespace}/pods/{PROBE}",
                json={"metadata": {"labels": {"check": str(before)}}},
                headers={"Content-Type": "application/merge-patch+json"},
            )
    written.raise_for_status()
    actual = int(written.json()["metadata"]["resourceVersion"])
    others = actual - before - 1  # writes by other components between our read and our write
    if predicted == actual or (predicted == before + 1 and others > 0):
        c.expect(
            True,
            passed=f"right: the write got resourceVersion {actual}"
            + (f" (another component wrote {others} time(s) in between, so {predicted} was right "
               "when you predicted it)" if predicted != actual else ""),
            failed="",
        )
        return
    if predicted == before:
        hint = f"{before} is the revision of the last write that already happened; the next write takes the next one"
    elif probe_rv is not None and predicted == probe_rv + 1:
        hint = (f"{probe_rv} + 1 counts this object's writes, but the counter is global: every write to "
                "any object moves it")
    elif predicted < before:
        hint = f"the counter only moves forward; it is already at {before}"
    else:
        hint = "each write moves the counter by exactly one: read labs.inspect.revision(lab) and add one"
    if others > 0:
        hint += (f" (note: other components wrote {others} time(s) while the check ran; in notebook 01's "
                 "quiet lab only you write)")
    c.expect(False, passed="", failed=f"you predicted {predicted}, the write got resourceVersion {actual}", hint=hint)


def _probe_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": PROBE, "labels": {"app": "revision-probe"}},
        "spec": {"containers": [{"name": "main", "image": "busybox:latest", "command": ["sleep", "3600"]}]},
    }
