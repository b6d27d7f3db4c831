"""Break-fix mysteries: the lab is put into a broken state; the learner finds out why and fixes it.

    labs.mystery("taint", lab=lab)          # breaks the lab, tells the story (what users see)
    labs.hint("mystery-taint")              # a nudge; called again, a stronger one
    labs.hint("mystery-taint", answer=True) # the answer, only when asked for
    labs.check("mystery-taint", lab=lab, diagnosis="...")   # graded: the diagnosis and the fix

Each mystery is a Deployment ``web`` (2 replicas) in its own namespace ``mystery-<name>`` that does
not come up, for one reason a learner finds with ``kubectl describe``, events and ``labctl status``:

- ``taint``: every node carries a taint nobody tolerates (FailedScheduling says so);
- ``selector``: the pods ask for nodes labelled ``disktype=sdd`` — a typo of the nodes' ``ssd``;
- ``scheduler``: the scheduler is stopped, so the pods are Pending *without any event*;
- ``crash`` (Docker runtime only: the simulated one runs no commands): the container exits at once
  because an environment variable is missing; CrashLoopBackOff, and ``kubectl logs`` says which.

The check grades both halves: the ``diagnosis`` (a sentence that names the cause; graded by the
words that cause cannot be named without) and the fix (both pods Running, the Deployment kept,
and no "fix" that lies, such as labelling a node with a typo). Setting a mystery up again resets it,
so a notebook can be run twice; `reset` undoes one (the taint would otherwise stay on the nodes).
Reference fixes: labs/solutions/mystery_<name>.py.

Mysteries need a lab of your own (`labs.start()`): they change nodes and stop components, which a
classroom student may not do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from labs.checks import Checker
from labs.errors import LabError
from labs.waiting import wait_for

DEPLOYMENT = "web"
REPLICAS = 2
TAINT_KEY = "mystery.labkit.io/maintenance"
DISK_LABEL = "disktype"
CRASH_VARIABLE = "DATABASE_HOST"
# Reads like a real service's start-up: says what it does, fails loudly, else runs.
CRASH_SCRIPT = (f'echo "web: connecting to the database at ${CRASH_VARIABLE}"; '
                f'[ -n "${CRASH_VARIABLE}" ] || {{ echo "web: fatal: {CRASH_VARIABLE} is not set" >&2; exit 1; }}; '
                'exec sleep 3600')


@dataclass(frozen=True)
class Mystery:
    name: str
    title: str
    story: str
    hints: tuple[str, ...]  # from nudge to stronger nudge; never the answer
    answer: str
    break_lab: Callable[[Any, dict[str, Any]], None]  # (lab, deployment manifest): change both
    reset_lab: Callable[[Any], None]
    cause_words: tuple[str, ...]  # a diagnosis names the cause when it has one of these

    @property
    def check_name(self) -> str:
        return f"mystery-{self.name}"

    @property
    def namespace(self) -> str:
        return f"mystery-{self.name}"


# --- the breakages --------------------------------------------------------------------------------


def _nodes(lab: Any) -> list[dict[str, Any]]:
    with lab.http() as client:
        answer = client.get("/api/v1/nodes")
        answer.raise_for_status()
        return list(answer.json().get("items") or [])


def _patch_node(lab: Any, name: str, patch: dict[str, Any]) -> None:
    with lab.http() as client:
        client.patch(f"/api/v1/nodes/{name}", json=patch,
                     headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()


def _taint_nodes(lab: Any, manifest: dict[str, Any]) -> None:
    for node in _nodes(lab):
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") != TAINT_KEY]
        taints.append({"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"})
        _patch_node(lab, node["metadata"]["name"], {"spec": {"taints": taints}})


def _untaint_nodes(lab: Any) -> None:
    for node in _nodes(lab):
        taints = (node.get("spec") or {}).get("taints") or []
        if any(t.get("key") == TAINT_KEY for t in taints):
            _patch_node(lab, node["metadata"]["name"],
                        {"spec": {"taints": [t for t in taints if t.get("key") != TAINT_KEY] or None}})


def _typo_selector(lab: Any, manifest: dict[str, Any]) -> None:
    for node in _nodes(lab):
        _patch_node(lab, node["metadata"]["name"], {"metadata": {"labels": {DISK_LABEL: "ssd"}}})
    manifest["spec"]["template"]["spec"]["nodeSelector"] = {DISK_LABEL: "sdd"}


def _no_reset(lab: Any) -> None:
    for node in _nodes(lab):  # a learner's wrong "fix" of the selector mystery
        if (node["metadata"].get("labels") or {}).get(DISK_LABEL) == "sdd":
            _patch_node(lab, node["metadata"]["name"], {"metadata": {"labels": {DISK_LABEL: "ssd"}}})


def _stop_scheduler(lab: Any, manifest: dict[str, Any]) -> None:
    lab.stop_component("scheduler")


def _crashing_command(lab: Any, manifest: dict[str, Any]) -> None:
    if lab.runtime != "docker":
        raise LabError("the crash mystery needs the Docker runtime (the simulated one runs no commands): "
                       "labs.start(runtime='docker') with a Docker engine")
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["sh", "-c", CRASH_SCRIPT]


def _start_scheduler(lab: Any) -> None:
    if not lab.supervisor.is_running("scheduler"):
        lab.start_component("scheduler")


MYSTERIES: dict[str, Mystery] = {m.name: m for m in (
    Mystery(
        name="taint", title="Nothing runs after maintenance",
        story="The operations team finished maintenance on the nodes an hour ago. Since then the "
              "Deployment web (2 replicas) in namespace mystery-taint does not come up. Find out why, "
              "and make both pods run without deleting the Deployment.",
        hints=("The pods are Pending: who decides where a pod runs, and did it write down why not? "
               "`kubectl describe pod -n mystery-taint` shows the Events at the bottom.",
               "The scheduler's message says what every node has that the pods do not tolerate. "
               "`kubectl describe node` shows it in one of its first lines."),
        answer=f"Every node still carries the maintenance taint {TAINT_KEY}=true:NoSchedule, which no pod "
               f"tolerates (FailedScheduling: '... had untolerated taint'). Maintenance is over, so remove it: "
               f"`kubectl taint nodes --all {TAINT_KEY}-`. (Adding a toleration to the Deployment also makes "
               "the pods run, but would keep them scheduling onto nodes under maintenance.)",
        break_lab=_taint_nodes, reset_lab=_untaint_nodes,
        cause_words=("taint", "noschedule", "toleration", "tolerate"),
    ),
    Mystery(
        name="selector", title="The fast-disk pods never start",
        story="Deployment web (2 replicas) in namespace mystery-selector must run on nodes with fast "
              "disks; every node of this lab has one. Yet no pod starts. Find out why, and make both pods "
              "run on fast-disk nodes.",
        hints=("The pods are Pending. What does the scheduler say about each node? "
               "`kubectl describe pod -n mystery-selector`, Events.",
               "Compare what the pods ask for (`kubectl get deploy web -n mystery-selector -o yaml`, "
               "spec.template.spec.nodeSelector) with the nodes' labels (`kubectl get nodes --show-labels`). "
               "Letter by letter."),
        answer=f"The Deployment's nodeSelector asks for {DISK_LABEL}=sdd, a typo: the nodes are labelled "
               f"{DISK_LABEL}=ssd. Fix the Deployment, not the nodes (a label describes the hardware): "
               "`kubectl patch deploy web -n mystery-selector -p "
               "'{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"disktype\":\"ssd\"}}}}}'`.",
        break_lab=_typo_selector, reset_lab=_no_reset,
        cause_words=("nodeselector", "node selector", "sdd", "typo", "label"),
    ),
    Mystery(
        name="scheduler", title="Pending, and not a word why",
        story="Deployment web (2 replicas) in namespace mystery-scheduler was created; its pods exist "
              "but stay Pending, and not one event explains it. Find out why, and make both pods run.",
        hints=("Compare `kubectl describe pod` of these pods with a pod that ran: which events are missing "
               "— not only the failures, also the first event a pod normally gets?",
               "No Scheduled and no FailedScheduling event: nobody has even looked at the pods. Which "
               "component writes those events, and is it running? (`labctl status`, or lab.status())"),
        answer="The scheduler is stopped: nothing assigns the pods to a node, so nothing says why not. Start it: "
               "`labctl start scheduler` (or lab.start_component('scheduler')); it binds the Pending pods "
               "within a second.",
        break_lab=_stop_scheduler, reset_lab=_start_scheduler,
        cause_words=("scheduler",),
    ),
    Mystery(
        name="crash", title="Up for a second, then down again",
        story="Deployment web (2 replicas) in namespace mystery-crash was scheduled and its containers "
              "start, but the pods never become ready and their RESTARTS keep climbing. Find out why, and "
              "make both pods run.",
        hints=("The pods are on a node and their containers start: the scheduler is fine. What does a "
               "container that exits say before it goes? (`kubectl logs <pod> -n mystery-crash`, "
               "add `--previous` for the run before.)",
               "The log names what it needs. Where does a container get it from? Look at "
               "`kubectl get deploy web -n mystery-crash -o yaml`: spec.template.spec.containers[0]."),
        answer=f"The container's command exits with code 1 because the environment variable {CRASH_VARIABLE} is "
               f"not set ('web: fatal: {CRASH_VARIABLE} is not set' in kubectl logs); with restartPolicy Always "
               f"that is a CrashLoopBackOff. Give it the variable: `kubectl set env deployment/web -n "
               f"mystery-crash {CRASH_VARIABLE}=db.example`; the rollout replaces the pods.",
        break_lab=_crashing_command, reset_lab=lambda lab: None,
        cause_words=(CRASH_VARIABLE.lower(), "environment", "env var", "variable"),
    ),
)}


def _get(name: str) -> Mystery:
    if name.startswith("mystery-"):
        name = name.removeprefix("mystery-")
    if name not in MYSTERIES:
        raise LabError(f"no mystery called {name!r}; the mysteries: {', '.join(MYSTERIES)}")
    return MYSTERIES[name]


def manifest(m: Mystery) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": m.namespace, "labels": {"app": DEPLOYMENT}},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": DEPLOYMENT}},
                 "template": {"metadata": {"labels": {"app": DEPLOYMENT}},
                              "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                  {"name": "web", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                                   "command": ["sleep", "3600"]}]}}},
    }


# --- setting up, hints --------------------------------------------------------------------------

_hints_given: dict[str, int] = {}


def mystery(name: str, *, lab: Any, show: bool = True) -> Mystery:
    """Break the lab for mystery ``name`` (reset first, so a second run starts the same); show the story."""
    from labs.connect import ConnectedLab

    m = _get(name)
    if isinstance(lab, ConnectedLab):
        raise LabError("a mystery changes nodes and components: it needs a lab of your own (labs.start())")
    m.reset_lab(lab)
    with lab.http() as client:
        _ensure_namespace(client, m.namespace)
        _delete_deployment(client, m.namespace)
    body = manifest(m)
    m.break_lab(lab, body)
    with lab.http() as client:
        client.post(f"/apis/apps/v1/namespaces/{m.namespace}/deployments", json=body).raise_for_status()
        wait_for(lambda: len(_pods(client, m.namespace)) >= REPLICAS, timeout=60,
                 what=f"the Deployment's {REPLICAS} pods to be created in {m.namespace}")
    _hints_given[m.check_name] = 0
    if show:
        print(f"🔎 {m.title}\n{m.story}\n\nWhen you have fixed it: labs.check({m.check_name!r}, lab=lab, "
              f"diagnosis=\"<one sentence: what was wrong>\")\nStuck? labs.hint({m.check_name!r})")
    return m


def reset(name: str, *, lab: Any) -> None:
    """Undo mystery ``name``: delete its Deployment and what it changed in the lab (taints, the scheduler)."""
    m = _get(name)
    m.reset_lab(lab)
    with lab.http() as client:
        _delete_deployment(client, m.namespace)


def hint(name: str, *, answer: bool = False) -> str:
    """The next hint for ``name`` (nudge first, stronger next); the answer only with ``answer=True``.

    ``name`` is a mystery, or a check graded under faults (labs/grading.py: the step that failed last)."""
    from labs import grading

    if not name.startswith("mystery-") and name not in MYSTERIES and grading.graded(name):
        return grading.hint(name, answer=answer)
    m = _get(name)
    if answer:
        text = f"answer: {m.answer}"
    else:
        given = _hints_given.get(m.check_name, 0)
        if given < len(m.hints):
            text = f"hint {given + 1} of {len(m.hints)}: {m.hints[given]}"
            _hints_given[m.check_name] = given + 1
        else:
            text = (f"that was the last hint ({m.hints[-1]}). To see the answer: "
                    f"labs.hint({m.check_name!r}, answer=True)")
    print(text)
    return text


def _ensure_namespace(client: httpx.Client, namespace: str) -> None:
    answer = client.post("/api/v1/namespaces", json={"metadata": {"name": namespace}})
    if answer.status_code not in (201, 409):
        answer.raise_for_status()


def _delete_deployment(client: httpx.Client, namespace: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        client.delete(f"/apis/apps/v1/namespaces/{namespace}/deployments/{DEPLOYMENT}",
                      params={"propagationPolicy": "Background"})

    def gone() -> bool:
        # Deleted each round: the old ReplicaSet may make a pod more before the garbage collector
        # removes it.
        pods = _pods(client, namespace, all_=True)
        for pod in pods:
            client.delete(f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}",
                          params={"gracePeriodSeconds": "0"})
        return not pods

    wait_for(gone, timeout=60, interval=0.5, what=f"the pods of an earlier run to be gone from {namespace}")


def _pods(client: httpx.Client, namespace: str, *, all_: bool = False) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": f"app={DEPLOYMENT}"})
    answer.raise_for_status()
    items = answer.json().get("items") or []
    return items if all_ else [p for p in items if not p["metadata"].get("deletionTimestamp")]


# --- grading --------------------------------------------------------------------------------------


def grade(c: Checker, name: str, *, lab: Any, diagnosis: str) -> None:
    """The check of every mystery: the diagnosis names the cause, the Deployment is kept, both pods run,
    and the fix is honest."""
    m = _get(name)
    words = diagnosis.lower() if isinstance(diagnosis, str) else ""
    c.expect(any(w in words for w in m.cause_words),
             passed="your diagnosis names the cause",
             failed="your diagnosis does not name the cause yet" if words else "no diagnosis given",
             hint="pass diagnosis=\"...\": one sentence saying what was wrong (what you read in the events, "
                  f"describe or status that told you); labs.hint({m.check_name!r}) if stuck")
    with lab.http() as client:
        deployment = client.get(f"/apis/apps/v1/namespaces/{m.namespace}/deployments/{DEPLOYMENT}")
        if not c.expect(deployment.status_code == 200, passed="the Deployment web is still there",
                        failed="the Deployment web is gone",
                        hint=f"fix the cause, not the symptom: labs.mystery({m.name!r}, lab=lab) sets it up again"):
            return
        spec = deployment.json()["spec"]
        if not c.expect(spec.get("replicas") == REPLICAS, passed=f"it still asks for {REPLICAS} replicas",
                        failed=f"it asks for {spec.get('replicas')} replicas, not {REPLICAS}",
                        hint=f"scale it back: kubectl scale deploy web -n {m.namespace} --replicas={REPLICAS}"):
            return
        if m.name == "selector":
            _grade_selector(c, lab, spec)
        running = [p for p in _pods(client, m.namespace) if _runs(p)]
    c.expect(len(running) >= REPLICAS,
             passed=f"{REPLICAS} pods of web are Running",
             failed=f"{len(running)} of {REPLICAS} pods of web are Running",
             hint=f"`kubectl get pods -n {m.namespace}` and `kubectl describe pod` on one that is not Running; "
                  "after a fix pods may take a few seconds (run the check again)")


def _runs(pod: dict[str, Any]) -> bool:
    """Running with every container ready: a crash-looping pod is briefly Running too."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    return status.get("phase") == "Running" and bool(statuses) and all(s.get("ready") for s in statuses)


def _grade_selector(c: Checker, lab: Any, spec: dict[str, Any]) -> None:
    mislabelled = [n["metadata"]["name"] for n in _nodes(lab)
                   if (n["metadata"].get("labels") or {}).get(DISK_LABEL) == "sdd"]
    c.expect(not mislabelled, passed="no node carries the typo as a label",
             failed=f"node {', '.join(mislabelled)} now says {DISK_LABEL}=sdd",
             hint="a node's labels describe the machine; correct the Deployment's nodeSelector instead, and "
                  f"label the node back: kubectl label node {' '.join(mislabelled)} {DISK_LABEL}=ssd --overwrite")
    selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    c.expect(selector.get(DISK_LABEL) == "ssd", passed="the pods still ask for fast-disk nodes (disktype=ssd)",
             failed=f"the pods' nodeSelector is {selector or 'gone'}: they would now run on any node",
             hint="keep the nodeSelector and correct its value")
