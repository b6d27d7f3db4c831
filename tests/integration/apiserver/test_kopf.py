"""An off-the-shelf operator framework against the lab: kopf reconciles a custom resource.

``labs/operators/kopf_crontab.py`` runs as learners would run it (``kopf run`` with the lab's
kubeconfig). It has to discover the CRD's resource, list and watch it, patch the status
subresource and post an Event: if any piece of the API machinery is missing, it never reacts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.factories import crontab_crd
from tests.support.lab import Lab
from tests.support.skips import require_kubectl

pytestmark = pytest.mark.kubectl

OPERATOR = Path(__file__).resolve().parents[3] / "labs" / "operators" / "kopf_crontab.py"


@pytest.fixture(autouse=True)
def _kubectl_installed() -> None:
    require_kubectl()


def _wait(what: str, check: Any, timeout: float, operator: subprocess.Popen[str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if operator is not None and operator.poll() is not None:
            raise AssertionError(f"kopf exited ({operator.returncode}) before {what}:\n{operator.stdout.read() if operator.stdout else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.3)


def test_a_kopf_operator_writes_the_status_and_an_event_of_a_new_custom_object(lab: Lab, namespace: str,
                                                                               tmp_path: Path) -> None:
    pytest.importorskip("kopf")
    group = f"k{uuid.uuid4().hex[:8]}.example.com"
    crd = crontab_crd(group=group)
    lab.kubectl("apply", "-f", "-", input=json.dumps(crd))
    _wait("the CRD to be served",
          lambda: "crontabs" in lab.kubectl("api-resources", "--api-group", group, "-o", "name").stdout, 20)
    env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig), HOME=str(tmp_path), CRONTAB_GROUP=group)
    kopf = [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", namespace, "--verbose", str(OPERATOR)]
    operator = subprocess.Popen(kopf, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        cron = {"apiVersion": f"{group}/v1", "kind": "CronTab", "metadata": {"name": "nightly"},
                "spec": {"cronSpec": "0 3 * * *", "image": "backup:1"}}
        lab.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(cron))

        def status_message() -> str | None:
            obj = json.loads(lab.kubectl("get", "-n", namespace, f"crontabs.{group}", "nightly", "-o", "json").stdout)
            return (obj.get("status") or {}).get("message")

        assert _wait("kopf to write the status", status_message, 60, operator) == "scheduled backup:1 at '0 3 * * *'"

        def scheduled_event() -> list[dict[str, Any]]:
            events = json.loads(lab.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
            return [e for e in events if e.get("reason") == "Scheduled"
                    and (e.get("involvedObject") or {}).get("name") == "nightly"]

        event = _wait("kopf's Event", scheduled_event, 30, operator)[0]
        assert event["involvedObject"]["kind"] == "CronTab" and event["message"].startswith("scheduled backup:1")
    finally:
        operator.send_signal(signal.SIGINT)
        try:
            output, _ = operator.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            operator.kill()
            output, _ = operator.communicate()
        print(output[-6000:])  # shown by pytest when the test failed
        lab.kubectl("delete", "crd", f"crontabs.{group}", "--timeout=60s", check=False)
    # kopf must not have met server errors on its way (500s, unparseable answers)
    assert "Traceback" not in output, output[-6000:]
