"""Jobs, CronJobs and PodDisruptionBudgets on a whole lab (`labctl up`: API server, scheduler,
controller manager, two simulated nodes), driven with the real kubectl as the Kubernetes
documentation's workload pages do: a Job runs to completion (`kubectl wait`, `kubectl logs job/`),
a Job whose pod fails exhausts its backoffLimit, `kubectl create job|cronjob` and
`create job --from=cronjob/`, and `kubectl drain` held back by a PodDisruptionBudget, then allowed.

The simulated runtime decides what a container does from the pod's annotations
(``sim.labkit.io/run-seconds``, ``sim.labkit.io/exit-code``; docs/nodeagent-runtimes.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.labctl import simulated_lab
from tests.support.kubectl import kubectl, kubectl_get
from tests.support.polling import wait_until

pytestmark = pytest.mark.kubectl

JOB_PI = """
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  backoffLimit: 4
  template:
    metadata:
      annotations: {sim.labkit.io/run-seconds: "1"}
    spec:
      restartPolicy: Never
      containers:
      - {name: pi, image: "busybox:1.36", command: ["sh", "-c", "echo 3.14159"]}
"""

JOB_FAILING = """
apiVersion: batch/v1
kind: Job
metadata: {name: broken}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations: {sim.labkit.io/run-seconds: "1", sim.labkit.io/exit-code: "1"}
    spec:
      restartPolicy: Never
      containers:
      - {name: main, image: "busybox:1.36"}
"""

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: "busybox:1.36"}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with simulated_lab(tmp_path_factory, "workloads", nodes=2) as home:
        yield home


def test_a_job_runs_to_completion_and_kubectl_waits_gets_and_reads_its_logs(cluster: Path) -> None:
    kubectl(cluster, "apply", "-f", "-", input=JOB_PI)
    waited = kubectl(cluster, "wait", "--for=condition=complete", "job/pi", "--timeout=60s")
    assert "job.batch/pi condition met" in waited.stdout
    table = kubectl(cluster, "get", "jobs").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table[1].split()[:3] == ["pi", "Complete", "1/1"]
    logs = kubectl(cluster, "logs", "job/pi").stdout
    assert "started busybox:1.36 as pi" in logs and "exited with code 0" in logs
    job = kubectl_get(cluster, "job/pi")
    assert job["status"]["succeeded"] == 1 and job["status"]["completionTime"]

    kubectl(cluster, "apply", "-f", "-", input=JOB_FAILING)
    waited = kubectl(cluster, "wait", "--for=condition=failed", "job/broken", "--timeout=60s")
    assert "job.batch/broken condition met" in waited.stdout
    failed = next(c for c in kubectl_get(cluster, "job/broken")["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert "Failed" in kubectl(cluster, "get", "job/broken").stdout

    # Deleting the Job takes its pods with it (ownerReferences + the garbage collector).
    kubectl(cluster, "delete", "job/pi", "job/broken")
    wait_until("the Jobs' pods gone", lambda: not kubectl_get(cluster, "pods", "-l", "batch.kubernetes.io/job-name")["items"])


def test_kubectl_create_job_cronjob_and_a_job_from_the_cronjob(cluster: Path) -> None:
    kubectl(cluster, "create", "job", "once", "--image=busybox:1.36", "--", "echo", "hi")
    job = kubectl_get(cluster, "job/once")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    wait_until("the Job's pod", lambda: kubectl_get(cluster, "pods", "-l", "batch.kubernetes.io/job-name=once")["items"])

    kubectl(cluster, "create", "cronjob", "hello", "--image=busybox:1.36", "--schedule=*/1 * * * *", "--", "date")
    table = kubectl(cluster, "get", "cronjobs").stdout.splitlines()
    assert table[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert table[1].split()[:7] == ["hello", "*/1", "*", "*", "*", "*", "<none>"]
    kubectl(cluster, "create", "job", "manual", "--from=cronjob/hello")
    manual = kubectl_get(cluster, "job/manual")
    cronjob = kubectl_get(cluster, "cronjob/hello")
    assert manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert manual["metadata"]["ownerReferences"][0]["uid"] == cronjob["metadata"]["uid"]
    bad = kubectl(cluster, "create", "cronjob", "bad", "--image=busybox:1.36", "--schedule=every minute", check=False)
    assert bad.returncode != 0 and "spec.schedule" in bad.stderr
    kubectl(cluster, "delete", "cronjob/hello", "job/once")


def test_drain_is_held_back_by_a_pod_disruption_budget_then_allowed(cluster: Path) -> None:
    kubectl(cluster, "apply", "-f", "-", input=DEPLOYMENT)
    kubectl(cluster, "rollout", "status", "deploy/web", "--timeout=60s")
    kubectl(cluster, "create", "pdb", "web", "--selector=app=web", "--min-available=2")
    wait_until("the budget counted 2 healthy pods",
               lambda: kubectl_get(cluster, "pdb/web").get("status", {}).get("currentHealthy") == 2)
    assert kubectl(cluster, "get", "pdb").stdout.splitlines()[1].split()[:4] == ["web", "2", "N/A", "0"]
    node = kubectl_get(cluster, "pods", "-l", "app=web")["items"][0]["spec"]["nodeName"]

    held = kubectl(cluster, "drain", node, "--ignore-daemonsets", "--timeout=5s", check=False, timeout=60)
    assert held.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in held.stderr

    kubectl(cluster, "patch", "pdb/web", "--type=merge", "-p", '{"spec": {"minAvailable": 1}}')
    wait_until("one disruption allowed", lambda: kubectl_get(cluster, "pdb/web").get("status", {}).get("disruptionsAllowed") == 1)
    done = kubectl(cluster, "drain", node, "--ignore-daemonsets", "--timeout=60s", timeout=90)
    assert f"node/{node} drained" in done.stdout, done.stdout + done.stderr
    kubectl(cluster, "uncordon", node)
    kubectl(cluster, "delete", "deploy/web", "pdb/web")
