"""`labs.progress()`: which exercise checks this learner has passed, per notebook.

Every `labs.check(...)` records its outcome in one small JSON file, ``<lab home>/progress.json``
(``$LABKIT_HOME``, else ``<repo>/.labkit``; `labs.start(fresh=True)` keeps it: it wipes the lab's
data, not the learner's record). Its shape, also that of the classroom copy:

    {"checks": {"first-pod": {"title": "Your first pod", "notebook": "00-welcome", "passed": true,
                              "first_passed": "2026-12-06T14:02:11Z", "last_run": "...", "runs": 3}}}

A pass stays a pass: running a passed check again (say, after the lab was wiped, when its objects
are gone) updates ``last_run`` and ``runs`` only. A check that could not run (the check's fault, not
the learner's) is not counted as a run.

In classroom mode — the check was given a lab from `labs.connect(kubeconfig=...)`, or one is
connected in this kernel — the same document is also written to the ConfigMap ``labkit-progress``
of the student's namespace, where ``labctl classroom status`` reads it (orchestrator/classroom.py).
Recording never breaks a check: a failure to record is one printed line.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labs.checks import CheckResult, known_checks
from labs.lab import lab_home
from labs.table import Table
from orchestrator.api.timestamps import rfc3339
from orchestrator.classroom import PROGRESS_CONFIGMAP, PROGRESS_KEY


def progress_file() -> Path:
    return lab_home().root / "progress.json"


def load(path: Path | None = None) -> dict[str, Any]:
    """The progress document (an empty one when there is none yet or it is unreadable)."""
    path = path or progress_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"checks": {}}
    if not isinstance(data, dict) or not isinstance(data.get("checks"), dict):
        return {"checks": {}}
    return data


def merge(document: dict[str, Any], result: CheckResult, *, notebook: str, now: datetime) -> dict[str, Any]:
    """`document` with `result` recorded: a pass is never undone by a later failure."""
    stamp = rfc3339(now)
    entry = dict(document["checks"].get(result.name) or {})
    passed_before = bool(entry.get("passed"))
    entry.update(title=result.title, notebook=notebook or entry.get("notebook", ""), last_run=stamp,
                 runs=int(entry.get("runs") or 0) + 1, passed=passed_before or result.passed)
    if result.passed and not passed_before:
        entry["first_passed"] = stamp
    return {**document, "checks": {**document["checks"], result.name: entry}}


def record(result: CheckResult, *, notebook: str, lab: Any = None, path: Path | None = None) -> None:
    """Record one check's outcome in the progress file (and the classroom ConfigMap, if connected)."""
    if result.error:
        return
    path = path or progress_file()
    try:
        document = merge(load(path), result, notebook=notebook, now=datetime.now(UTC))
        _write_atomically(path, document)
    except OSError as err:
        print(f"(your progress could not be saved in {path}: {err.strerror or err})")
        return
    from labs.connect import ConnectedLab, current

    target = lab if isinstance(lab, ConnectedLab) else current()
    if target is not None:
        try:
            _publish(target, document)
        except Exception as err:  # noqa: BLE001 - the check's feedback matters more than the copy
            print(f"(your progress could not be shared with the classroom: {err})")


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    # A kernel killed mid-write must not leave half a file: write a sibling, then rename over.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".progress-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _publish(lab: Any, document: dict[str, Any]) -> None:
    """The progress document into ConfigMap labkit-progress of the student's namespace (create or replace)."""
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": PROGRESS_CONFIGMAP, "namespace": lab.namespace},
            "data": {PROGRESS_KEY: json.dumps(document, sort_keys=True)}}
    base = f"/api/v1/namespaces/{lab.namespace}/configmaps"
    with lab.http() as client:
        # A merge patch needs no resourceVersion: the latest write wins, which is right for a copy.
        answer = client.patch(f"{base}/{PROGRESS_CONFIGMAP}", json={"data": body["data"]},
                              headers={"Content-Type": "application/merge-patch+json"})
        if answer.status_code == 404:
            answer = client.post(base, json=body)
        answer.raise_for_status()


def progress(path: Path | None = None) -> Table:
    """Every exercise check, per notebook: passed, tried (not yet), or not tried; with when and how often."""
    checks = load(path)["checks"]
    rows = []
    known = known_checks()
    for registered in known:
        entry = checks.get(registered.name) or {}
        rows.append(_row(registered.notebook, registered.name, registered.title, entry))
    for name, entry in sorted(checks.items()):  # recorded, but no longer shipped (renamed exercises)
        if all(r.name != name for r in known):
            rows.append(_row(entry.get("notebook", ""), name, entry.get("title", name), entry))
    rows.sort(key=lambda r: (r["notebook"], r["check"]))
    passed = sum(1 for r in rows if r["status"] == "passed")
    return Table(rows, title=f"your progress: {passed} of {len(rows)} exercise checks passed",
                 columns=("notebook", "check", "title", "status", "first passed", "runs"))


def _row(notebook: str, name: str, title: str, entry: dict[str, Any]) -> dict[str, Any]:
    status = "passed" if entry.get("passed") else "tried, not yet" if entry.get("runs") else "not tried"
    return {"notebook": notebook, "check": name, "title": title, "status": status,
            "first passed": entry.get("first_passed"), "runs": int(entry.get("runs") or 0)}
