"""Exercise of notebook 11: a Job that runs 5 completions, 2 at a time, giving up after 2 failures.

Write a ``batch/v1`` Job called ``crunch`` in the notebook's namespace that needs **5** successful
pods, runs at most **2** at once, and is marked Failed after more than **2** failed pods. Its pods
run on the simulated runtime, so give the pod template the annotation
``sim.labkit.io/run-seconds: "1"`` (otherwise a simulated container runs until it is stopped and
the Job never finishes):

    labs.check("parallel-job", lab=lab, namespace=NS)

The check reads the Job back, waits for it to complete, and then reads the revision log (the
`events` table) to prove that the Job controller never had more than 2 pods active at a time.
"""

from __future__ import annotations

import json
import time
from typing import Any

from labs import inspect
from labs.checks import Checker, register

NAME = "crunch"
COMPLETIONS, PARALLELISM, BACKOFF_LIMIT = 5, 2, 2
RUN_SECONDS = "sim.labkit.io/run-seconds"


@register("parallel-job", title="A Job: 5 completions, 2 at a time, backoffLimit 2")
def check(c: Checker, *, lab: Any, namespace: str, timeout: float = 60.0) -> None:
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{NAME}"
    with lab.http() as api:
        found = api.get(path)
        if not c.expect(
            found.status_code == 200,
            passed=f"the Job {NAME} is in {namespace}",
            failed=f"there is no Job called {NAME!r} in {namespace}",
            hint='write a dict with "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "crunch"} '
                 "and a spec like the Job `squares` above, then lab.apply(my_job)",
        ):
            return
        job = found.json()
        spec = job["spec"]
        c.expect(
            spec.get("completions") == COMPLETIONS,
            passed=f"spec.completions is {COMPLETIONS}: the Job is done after {COMPLETIONS} successful pods",
            failed=f"spec.completions is {spec.get('completions')}, not {COMPLETIONS}",
            hint="how many pods must succeed is one field of the Job's spec; parallelism is another",
        )
        c.expect(
            spec.get("parallelism") == PARALLELISM,
            passed=f"spec.parallelism is {PARALLELISM}: at most {PARALLELISM} pods at a time",
            failed=f"spec.parallelism is {spec.get('parallelism')}, not {PARALLELISM}",
            hint=f'"parallelism": {PARALLELISM} in the Job\'s spec (not in the pod template)',
        )
        if not c.expect(
            spec.get("backoffLimit") == BACKOFF_LIMIT,
            passed=f"spec.backoffLimit is {BACKOFF_LIMIT}: a third failed pod fails the Job",
            failed=f"spec.backoffLimit is {spec.get('backoffLimit')} (the default is 6), not {BACKOFF_LIMIT}",
            hint=f'"backoffLimit": {BACKOFF_LIMIT} in the Job\'s spec; the Job is Failed once more than that '
                 "many of its pods failed",
        ):
            return
        annotations = (job["spec"]["template"].get("metadata") or {}).get("annotations") or {}
        if not c.expect(
            RUN_SECONDS in annotations,
            passed=f"its pods exit by themselves on the simulated runtime ({RUN_SECONDS}: {annotations.get(RUN_SECONDS)!r})",
            failed=f"the pod template has no {RUN_SECONDS} annotation: its simulated pods would run forever",
            hint=f'spec.template.metadata.annotations: {{"{RUN_SECONDS}": "1"}}; since the Job\'s template '
                 f"cannot be changed, delete it (lab.delete(\"job\", \"{NAME}\", namespace=NS)) and apply it again",
        ):
            return
        deadline = time.monotonic() + timeout
        conditions: dict[str, str] = {}
        while time.monotonic() < deadline:
            job = api.get(path).json()
            conditions = {x["type"]: x["status"] for x in job.get("status", {}).get("conditions") or []}
            if conditions.get("Complete") == "True" or conditions.get("Failed") == "True":
                break
            time.sleep(0.5)
        status = job.get("status", {})
        if not c.expect(
            conditions.get("Complete") == "True" and status.get("succeeded") == COMPLETIONS,
            passed=f"the Job is Complete: {status.get('succeeded')} pods succeeded",
            failed=f"the Job is not Complete after {timeout:.0f} s (succeeded {status.get('succeeded', 0)}, "
                   f"failed {status.get('failed', 0)}, conditions {conditions or 'none'})",
            hint=f"look at kubectl get pods -n NS -l job-name={NAME} and kubectl describe job {NAME} -n NS: "
                 "do the pods fail (an exit-code annotation?) or never end?",
        ):
            return
    rows = inspect.query(lab, "SELECT object::text AS object FROM events WHERE resource = 'jobs.batch' AND namespace = $1 "
                              "AND name = $2 AND object->'metadata'->>'uid' = $3", namespace, NAME,
                         job["metadata"]["uid"])
    most = max((json.loads(r["object"]).get("status", {}).get("active") or 0 for r in rows), default=0)
    c.expect(
        0 < most <= PARALLELISM,
        passed=f"the revision log shows at most {most} pods active at any status write ({len(rows)} revisions)",
        failed=f"the revision log shows {most} pods active at once",
        hint=f"parallelism caps the active pods at {PARALLELISM}",
    )
