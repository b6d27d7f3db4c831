"""Classroom mode: one lab, many students, each with a namespace of their own and a kubeconfig.

For every student ``<prefix>-NN`` (``student-01``, ``student-02``, ...) `ensure_students` makes,
through the API server, as the lab's admin:

    Namespace            student-01              labelled labkit.io/classroom-student=student-01
    ServiceAccount       student-01/student-01   the student's identity: system:serviceaccount:student-01:student-01
    RoleBinding          student-01/labkit-classroom-edit      → ClusterRole edit, in their namespace only
    ClusterRoleBinding   labkit-classroom:student-01:view      → ClusterRole view, every namespace (reads)
    ClusterRoleBinding   labkit-classroom:student-01:cluster-viewer → labkit:cluster-viewer (nodes, leases)
    kubeconfig           <lab home>/classroom/student-01.kubeconfig (a TokenRequest token)

What a student may do, decided by the bindings above and nothing else:

- write (create, update, patch, delete) only in their own namespace (``edit``);
- read every namespace's pods, deployments, configmaps, events (``view`` bound cluster-wide, as
  the issue asks: a classroom learns from looking at a neighbour's broken deployment) — but not
  Secrets nor RBAC objects, which ``view`` leaves out, as in Kubernetes; and nodes and leases, so
  that ``kubectl get nodes`` works as in the lessons;
- nothing on the cluster itself: no namespaces, nodes or roles to create.

    ResourceQuota        student-01/labkit-classroom   `STUDENT_QUOTA`      } only when the API server
    LimitRange           student-01/labkit-classroom   `STUDENT_LIMITS`     } serves the kind

The API server enforces the quota and the LimitRange (orchestrator/apiserver/resourcequota.py,
limitranger.py; docs/quota.md), so one student's 1000-replica Deployment stops at 20 pods instead of
slowing everyone; a lab that does not serve the kinds gets them skipped with a note. The LimitRange
comes with the quota because, in Kubernetes, a quota on requests.cpu refuses every pod that states
no request: its defaults keep a learner's first bare pod working.

Tokens: a TokenRequest of `TOKEN_LIFETIME` (7 days) by default: long enough for a week-long course
without handing out new files, short enough that a kubeconfig left on a student's laptop stops
working after it. `delete_students` revokes at once: the API server refuses the token of a deleted
ServiceAccount (orchestrator/apiserver/serviceaccount_cache.py), and the bindings are gone anyway.

Idempotent: objects that exist are kept; a kubeconfig is kept while its token is valid for at
least another day and names the current ServiceAccount, so re-running `create` never invalidates
a kubeconfig already handed out.

Progress: ``labs.check`` run against a classroom lab records passed checks in the ConfigMap
`PROGRESS_CONFIGMAP` of the student's namespace (key `PROGRESS_KEY`, JSON), where `status` reads
them (labs/progress.py writes it).

Kubernetes equivalent: none in Kubernetes itself; the same steps as a multi-tenant cluster's
onboarding script (kubectl create namespace / serviceaccount / rolebinding; kubectl create token).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from orchestrator.api.errors import AlreadyExists, NotFound
from orchestrator.api.names import dns1123_label
from orchestrator.api.resources import RBAC_GROUP
from orchestrator.api.timestamps import parse_rfc3339
from orchestrator.client.rest import ApiClient
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import write_kubeconfig

STUDENT_LABEL = "labkit.io/classroom-student"
EDIT_BINDING = "labkit-classroom-edit"
# A kubeconfig whose token expires sooner than this is reissued by `create`.
RENEW_BEFORE_SECONDS = 24 * 3600
TOKEN_LIFETIME_DAYS = 7
MAX_STUDENTS = 500
PROGRESS_CONFIGMAP = "labkit-progress"
PROGRESS_KEY = "progress.json"
# What a classroom caps each student with (enforced by the API server's quota admission).
QUOTA_RESOURCES = ("resourcequotas", "limitranges")
QUOTA_NAME = "labkit-classroom"
# Per student: room for every notebook's exercises (the largest runs 10 pods) on a 2-core laptop
# class server with 30 students, not for a scale experiment.
STUDENT_QUOTA = {"pods": "20", "requests.cpu": "2", "requests.memory": "2Gi", "limits.cpu": "4",
                 "limits.memory": "4Gi"}
# The default request is what the scheduler reserves for a bare pod: small, so that 30 students'
# exercise pods fit on a 2-core class server (100m each would stop at 20 pods in all).
STUDENT_LIMITS = [{"type": "Container", "defaultRequest": {"cpu": "10m", "memory": "32Mi"},
                   "default": {"cpu": "500m", "memory": "256Mi"}}]
# A student's objects are made one after the other (each needs the one before); students in
# parallel, this many at a time, so that a class of 30 is ready in about a second.
PARALLEL = 8

Obj = dict[str, Any]


class ClassroomError(ValueError):
    """Bad input to a classroom command; the message names the option and says what to fix."""


@dataclass(frozen=True)
class Student:
    name: str  # also the namespace and the ServiceAccount name

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.name}:{self.name}"

    @property
    def cluster_bindings(self) -> dict[str, str]:
        """ClusterRoleBinding name → ClusterRole, for this student."""
        return {f"labkit-classroom:{self.name}:view": "view",
                f"labkit-classroom:{self.name}:cluster-viewer": "labkit:cluster-viewer"}


def classroom_dir(home: LabHome) -> Path:
    return home.root / "classroom"


def kubeconfig_path(home: LabHome, student: str) -> Path:
    return classroom_dir(home) / f"{student}.kubeconfig"


def roster(count: int, *, prefix: str = "student") -> list[Student]:
    """``student-01 .. student-NN``; zero-padded so that they sort as numbered."""
    if count < 1 or count > MAX_STUDENTS:
        raise ClassroomError(f"--students must be between 1 and {MAX_STUDENTS}, not {count}")
    width = max(2, len(str(count)))
    students = [Student(f"{prefix}-{i:0{width}d}") for i in range(1, count + 1)]
    problems = dns1123_label(students[-1].name)
    if problems:
        raise ClassroomError(f"--prefix {prefix!r} does not make valid namespace names "
                             f"({students[-1].name!r}: {problems[0]}); use lower-case letters, digits and '-'")
    return students


@dataclass
class StudentOutcome:
    student: Student
    created: list[str] = field(default_factory=list)  # "namespace", "serviceaccount", ...
    kubeconfig: Path | None = None
    token_expires: datetime | None = None
    token_reissued: bool = False


@dataclass
class CreateResult:
    students: list[StudentOutcome]
    notes: list[str]


async def ensure_students(client: ApiClient, home: LabHome, students: Sequence[Student], *, server: str,
                          token_lifetime_days: int = TOKEN_LIFETIME_DAYS) -> CreateResult:
    """Create what is missing for every student and write their kubeconfigs (see the module doc)."""
    if not 1 <= token_lifetime_days <= 365:
        raise ClassroomError(f"--token-days must be between 1 and 365, not {token_lifetime_days}")
    served = {info.plural for info in await client.server_resources()}
    notes = [f"{plural} are not served by this lab: skipped (students are not capped)"
             for plural in QUOTA_RESOURCES if plural not in served]
    ca_pem = home.ca_cert.read_bytes()
    classroom_dir(home).mkdir(parents=True, exist_ok=True)
    gate = asyncio.Semaphore(PARALLEL)

    async def one(student: Student) -> StudentOutcome:
        async with gate:
            return await _ensure_student(client, home, student, server=server, ca_pem=ca_pem,
                                         lifetime=token_lifetime_days * 86400, served=served)

    outcomes = await asyncio.gather(*(one(s) for s in students))
    return CreateResult(list(outcomes), notes)


async def _create(what: str, created: list[str], make: Callable[[], Awaitable[Obj]]) -> None:
    try:
        await make()
    except AlreadyExists:
        return
    created.append(what)


async def _ensure_student(client: ApiClient, home: LabHome, student: Student, *, server: str, ca_pem: bytes,
                          lifetime: int, served: set[str]) -> StudentOutcome:
    out = StudentOutcome(student)
    ns, labels = student.name, {STUDENT_LABEL: student.name}
    await _create("namespace", out.created, lambda: client.create(
        "namespaces", {"metadata": {"name": ns, "labels": labels}}))
    await _create("serviceaccount", out.created, lambda: client.create(
        "serviceaccounts", {"metadata": {"name": ns, "namespace": ns, "labels": labels}}, namespace=ns))
    subject = [{"kind": "ServiceAccount", "name": ns, "namespace": ns}]
    await _create("rolebinding edit", out.created, lambda: client.create("rolebindings.rbac.authorization.k8s.io", {
        "metadata": {"name": EDIT_BINDING, "namespace": ns, "labels": labels},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "edit"},
        "subjects": subject}, namespace=ns))
    for name, role in student.cluster_bindings.items():
        await _create(f"clusterrolebinding {role}", out.created, lambda name=name, role=role: client.create(
            "clusterrolebindings.rbac.authorization.k8s.io", {
                "metadata": {"name": name, "labels": labels},
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
                "subjects": subject}))
    # By path: the kinds are not in this lab's resource table (orchestrator/api/resources.py) yet.
    if "resourcequotas" in served:
        await _create("resourcequota", out.created, lambda: client.request_json(
            "POST", f"/api/v1/namespaces/{ns}/resourcequotas", body={
                "apiVersion": "v1", "kind": "ResourceQuota",
                "metadata": {"name": QUOTA_NAME, "namespace": ns, "labels": labels},
                "spec": {"hard": dict(STUDENT_QUOTA)}}))
    if "limitranges" in served:
        await _create("limitrange", out.created, lambda: client.request_json(
            "POST", f"/api/v1/namespaces/{ns}/limitranges", body={
                "apiVersion": "v1", "kind": "LimitRange",
                "metadata": {"name": QUOTA_NAME, "namespace": ns, "labels": labels},
                "spec": {"limits": [dict(limit) for limit in STUDENT_LIMITS]}}))
    sa = await client.get("serviceaccounts", ns, namespace=ns)
    path = kubeconfig_path(home, ns)
    kept = _still_good(path, sa_uid=sa["metadata"].get("uid", ""), server=server)
    if kept is not None:
        out.kubeconfig, out.token_expires = path, kept
        return out
    answer = await client.request_json(
        "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{ns}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": lifetime}})
    status = answer.get("status") or {}
    write_kubeconfig(path, server=server, ca_pem=ca_pem, token=status["token"], user=student.user, namespace=ns)
    out.kubeconfig, out.token_reissued = path, True
    out.token_expires = datetime.strptime(status["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return out


def token_claims(token: str) -> Obj:
    """A ServiceAccount JWT's claims, read without checking the signature (only the API server can)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def read_kubeconfig_token(path: Path) -> tuple[str, str] | None:
    """(server, token) of a kubeconfig written by `ensure_students`, or None when unreadable."""
    import yaml

    try:
        config = yaml.safe_load(path.read_text()) or {}
        return config["clusters"][0]["cluster"]["server"], config["users"][0]["user"]["token"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError):
        return None


def _still_good(path: Path, *, sa_uid: str, server: str) -> datetime | None:
    """The expiry of the kubeconfig's token if it can stay as it is, else None (reissue)."""
    found = read_kubeconfig_token(path)
    if found is None or found[0] != server:
        return None
    claims = token_claims(found[1])
    sa = ((claims.get("kubernetes.io") or {}).get("serviceaccount") or {})
    expires = claims.get("exp")
    if sa.get("uid") != sa_uid or not isinstance(expires, int):
        return None
    if expires - datetime.now(UTC).timestamp() < RENEW_BEFORE_SECONDS:
        return None
    return datetime.fromtimestamp(expires, UTC)


# --- status --------------------------------------------------------------------------------------

# Where a student's work shows: the newest write to any of these in their namespace.
ACTIVITY_RESOURCES = ("pods", "configmaps", "deployments.apps", "replicasets.apps", "events")


@dataclass(frozen=True)
class StudentStatus:
    name: str
    namespace_phase: str
    pods: int
    running: int
    last_activity: datetime | None
    passed: tuple[str, ...] | None  # None: no progress recorded
    kubeconfig: Path | None


async def student_names(client: ApiClient) -> list[str]:
    """The students of the lab's classroom: namespaces labelled `STUDENT_LABEL`."""
    listed = await client.list("namespaces", label_selector=STUDENT_LABEL)
    return sorted(ns["metadata"]["name"] for ns in listed.get("items") or [])


async def classroom_status(client: ApiClient, home: LabHome) -> list[StudentStatus]:
    listed = await client.list("namespaces", label_selector=STUDENT_LABEL)
    gate = asyncio.Semaphore(PARALLEL)

    async def one(ns: Obj) -> StudentStatus:
        async with gate:
            return await _student_status(client, home, ns)

    rows = await asyncio.gather(*(one(ns) for ns in listed.get("items") or []))
    return sorted(rows, key=lambda r: r.name)


async def _student_status(client: ApiClient, home: LabHome, ns: Obj) -> StudentStatus:
    name = ns["metadata"]["name"]
    newest: datetime | None = None
    pods: list[Obj] = []
    for resource in ACTIVITY_RESOURCES:
        items = (await client.list(resource, namespace=name)).get("items") or []
        if resource == "pods":
            pods = items
        for item in items:
            if resource == "configmaps" and item["metadata"].get("name") in ("kube-root-ca.crt",):
                continue
            for stamp in _write_times(item):
                newest = stamp if newest is None or stamp > newest else newest
    path = kubeconfig_path(home, name)
    return StudentStatus(
        name=name, namespace_phase=(ns.get("status") or {}).get("phase", "Active"), pods=len(pods),
        running=sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running"),
        last_activity=newest, passed=await _passed(client, name), kubeconfig=path if path.exists() else None)


def _write_times(obj: Obj) -> list[datetime]:
    meta = obj.get("metadata") or {}
    stamps = [meta.get("creationTimestamp")] + [m.get("time") for m in meta.get("managedFields") or []]
    stamps += [obj.get("lastTimestamp"), obj.get("eventTime")]
    out = []
    for stamp in stamps:
        if isinstance(stamp, str):
            try:
                out.append(parse_rfc3339(stamp))
            except ValueError:
                continue
    return out


async def _passed(client: ApiClient, namespace: str) -> tuple[str, ...] | None:
    try:
        cm = await client.get("configmaps", PROGRESS_CONFIGMAP, namespace=namespace)
    except NotFound:
        return None
    return passed_checks((cm.get("data") or {}).get(PROGRESS_KEY, ""))


def passed_checks(document: str) -> tuple[str, ...]:
    """The names of the passed checks in a progress document (labs/progress.py's format)."""
    try:
        data = json.loads(document or "{}")
    except ValueError:
        return ()
    checks = data.get("checks") if isinstance(data, dict) else None
    if not isinstance(checks, dict):
        return ()
    return tuple(sorted(name for name, entry in checks.items() if isinstance(entry, dict) and entry.get("passed")))


# --- delete --------------------------------------------------------------------------------------


async def delete_students(client: ApiClient, home: LabHome, names: Sequence[str] | None = None) -> list[str]:
    """Delete the students named (all of the classroom's when None): bindings, namespace, kubeconfig.

    The namespace controller then deletes what is inside the namespace (pods, the ServiceAccount).
    Returns the students deleted."""
    known = await student_names(client)
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ClassroomError(f"no student {', '.join(unknown)} in this classroom; students: "
                                 f"{', '.join(known) or 'none'}")
    chosen = list(names) if names else known
    gate = asyncio.Semaphore(PARALLEL)

    async def one(name: str) -> None:
        async with gate:
            await _delete_student(client, home, name)

    await asyncio.gather(*(one(name) for name in chosen))
    return chosen


async def _delete_student(client: ApiClient, home: LabHome, name: str) -> None:
    for binding in Student(name).cluster_bindings:
        try:
            await client.delete("clusterrolebindings.rbac.authorization.k8s.io", binding)
        except NotFound:
            pass
    try:
        # The ServiceAccount first: its deletion is what makes the API server refuse the token
        # at once; the namespace's contents go later, at the namespace controller's pace.
        await client.delete("serviceaccounts", name, namespace=name)
    except NotFound:
        pass
    try:
        await client.delete("namespaces", name)
    except NotFound:
        pass
    kubeconfig_path(home, name).unlink(missing_ok=True)
