"""`labctl classroom` on one live lab: 30 students, each with the official Python client and the
kubeconfig the classroom wrote, working in parallel — each writes in its own namespace, none may
write in another's (403), each may read another's (``view``). Also: re-running `create` changes
nothing, `status` shows each student's work and progress, `delete` revokes a student's token, and
bad options are one error line that names the flag.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from orchestrator.classroom import PROGRESS_CONFIGMAP, PROGRESS_KEY, STUDENT_LABEL
from orchestrator.client.rest import ApiClient
from orchestrator.lab.embedded.ports import free_port
from tests.labctl import run_labctl
from tests.support.polling import wait_until

T = TypeVar("T")
STUDENTS = 30




def admin(home: Path, call: Callable[[ApiClient], Any]) -> Any:
    async def main() -> Any:
        async with ApiClient.from_kubeconfig(home / "admin.kubeconfig") as client:
            return await call(client)

    return asyncio.run(main())


def student(i: int) -> str:
    return f"student-{i:02d}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("classroom")
    up = run_labctl(home, "up", "--nodes", "1", "--runtime", "simulated", "--port", str(free_port()))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        created = run_labctl(home, "classroom", "create", "--students", str(STUDENTS))
        assert created.returncode == 0, created.stdout + created.stderr
        assert f"{STUDENTS} students (student-01 .. student-30)" in created.stdout, created.stdout
        # Both quota kinds are served: nothing is skipped.
        assert "not served by this lab" not in created.stdout, created.stdout
        yield home
    finally:
        down = run_labctl(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr


def test_create_makes_one_namespace_identity_and_kubeconfig_per_student_and_rerunning_changes_nothing(
        home: Path) -> None:
    def census() -> dict[str, Any]:
        async def count(c: ApiClient) -> dict[str, Any]:
            return {
                "namespaces": sorted(n["metadata"]["name"] for n in
                                     (await c.list("namespaces", label_selector=STUDENT_LABEL))["items"]),
                "bindings": sorted(b["metadata"]["name"] for b in (await c.list(
                    "clusterrolebindings.rbac.authorization.k8s.io", label_selector=STUDENT_LABEL))["items"]),
                "rolebindings": len((await c.list("rolebindings.rbac.authorization.k8s.io",
                                                  label_selector=STUDENT_LABEL))["items"]),
                "serviceaccounts": len((await c.list("serviceaccounts", label_selector=STUDENT_LABEL))["items"]),
                "quotas": sorted(q["metadata"]["namespace"] for q in
                                 (await c.list("resourcequotas", label_selector=STUDENT_LABEL))["items"]),
                "limitranges": len((await c.list("limitranges", label_selector=STUDENT_LABEL))["items"]),
            }
        return admin(home, count)

    before = census()
    assert before["namespaces"] == [student(i) for i in range(1, STUDENTS + 1)]
    assert len(before["bindings"]) == 2 * STUDENTS and before["rolebindings"] == STUDENTS
    assert before["serviceaccounts"] == STUDENTS
    assert before["quotas"] == before["namespaces"] and before["limitranges"] == STUDENTS
    files = {p.name: p.read_bytes() for p in (home / "classroom").glob("*.kubeconfig")}
    assert sorted(files) == [f"{student(i)}.kubeconfig" for i in range(1, STUDENTS + 1)]
    config = yaml.safe_load(files["student-07.kubeconfig"])
    assert config["contexts"][0]["context"]["namespace"] == "student-07"
    assert config["users"][0]["name"] == "system:serviceaccount:student-07:student-07"

    again = run_labctl(home, "classroom", "create", "--students", str(STUDENTS))
    assert again.returncode == 0, again.stderr
    assert "0 new or completed, 0 kubeconfigs written, 30 kept" in again.stdout, again.stdout
    assert census() == before
    # A kubeconfig already handed out stays valid: the same token, byte for byte.
    assert {p.name: p.read_bytes() for p in (home / "classroom").glob("*.kubeconfig")} == files

    printed = run_labctl(home, "classroom", "kubeconfig", "student-03")
    assert printed.returncode == 0 and printed.stdout == files["student-03.kubeconfig"].decode()


def _student_session(home: Path, i: int) -> dict[str, Any]:
    """What one student's official client may and may not do: each try's HTTP status (200: it worked)."""
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    me, neighbour = student(i), student(i % STUDENTS + 1)
    api = config.new_client_from_config(config_file=str(home / "classroom" / f"{me}.kubeconfig"))
    core = client.CoreV1Api(api)

    def status(call: Callable[[], Any]) -> int:
        try:
            call()
        except ApiException as e:
            return int(e.status)
        return 200

    try:
        return {
            "own configmap": status(lambda: core.create_namespaced_config_map(
                me, {"metadata": {"name": "mine"}, "data": {"who": me}})),
            "own pod": status(lambda: core.create_namespaced_pod(me, {
                "metadata": {"name": "hello"},
                "spec": {"containers": [{"name": "main", "image": "labkit/busybox:1.0",
                                         "command": ["sleep", "3600"]}]}})),
            "list neighbour's configmaps": status(lambda: core.list_namespaced_config_map(neighbour)),
            "list neighbour's pods": status(lambda: core.list_namespaced_pod(neighbour)),
            "create in neighbour's": status(lambda: core.create_namespaced_config_map(
                neighbour, {"metadata": {"name": f"from-{me}"}})),
            "delete neighbour's": status(lambda: core.delete_namespaced_config_map("mine", neighbour)),
            "read neighbour's secrets": status(lambda: core.list_namespaced_secret(neighbour)),
            "create a namespace": status(lambda: core.create_namespace({"metadata": {"name": f"{me}-extra"}})),
            "list nodes": status(lambda: core.list_node()),
        }
    finally:
        api.close()


def test_thirty_students_in_parallel_write_only_in_their_own_namespace_and_read_the_others(home: Path) -> None:
    with ThreadPoolExecutor(max_workers=STUDENTS) as pool:
        outcomes = list(pool.map(lambda i: _student_session(home, i), range(1, STUDENTS + 1)))
    expected = {"own configmap": 200, "own pod": 200, "list neighbour's configmaps": 200,
                "list neighbour's pods": 200, "create in neighbour's": 403, "delete neighbour's": 403,
                "read neighbour's secrets": 403, "create a namespace": 403, "list nodes": 200}
    wrong = {student(i + 1): o for i, o in enumerate(outcomes) if o != expected}
    assert not wrong, wrong
    # Every neighbour's configmap survived everyone's attempt to delete it.
    cms = admin(home, lambda c: c.list("configmaps", label_selector=None))["items"]
    assert {cm["metadata"]["namespace"] for cm in cms if cm["metadata"]["name"] == "mine"} == {
        student(i) for i in range(1, STUDENTS + 1)}
    assert not [cm for cm in cms if cm["metadata"]["name"].startswith("from-")]


def test_status_shows_each_students_pods_activity_and_passed_checks(home: Path) -> None:
    # The progress document labs.check writes (labs/progress.py), written here as student-02 would.
    async def record(c: ApiClient) -> None:
        await c.create("configmaps", {"metadata": {"name": PROGRESS_CONFIGMAP, "namespace": "student-02"},
                                      "data": {PROGRESS_KEY: json.dumps({"checks": {
                                          "predict-revision": {"passed": True, "notebook": "01"},
                                          "scheduler-plugin": {"passed": False, "notebook": "03"}}})}})

    admin(home, record)
    wait_until("every student's pod to run", lambda: sum(
        1 for p in admin(home, lambda c: c.list("pods"))["items"]
        if p["metadata"]["name"] == "hello" and (p.get("status") or {}).get("phase") == "Running") == STUDENTS)
    shown = run_labctl(home, "classroom", "status")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["STUDENT", "NAMESPACE", "PODS", "LAST", "ACTIVITY", "PASSED", "CHECKS",
                                "KUBECONFIG"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == [student(i) for i in range(1, STUDENTS + 1)]
    assert all("1/1 running" in row and " ago " in row for row in rows.values()), shown.stdout
    assert "1: predict-revision" in rows["student-02"]
    assert "1: " not in rows["student-01"]


def test_a_student_notebook_connects_by_kubeconfig_and_works_in_its_namespace(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import labs
    from labs.checks import run_check
    from labs.solutions import first_pod

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))  # the student's own lab home: progress.json

    lab = labs.connect(kubeconfig=home / "classroom" / "student-05.kubeconfig", show=False)
    try:
        assert lab.user == "system:serviceaccount:student-05:student-05" and lab.namespace == "student-05"
        [stored] = lab.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-notebook"},
                              "data": {"k": "v"}})
        assert stored["metadata"]["namespace"] == "student-05"
        assert "from-notebook" in lab.kubectl("get", "configmaps", "-o", "name", quiet=True)
        assert [p.metadata.name for p in lab.core_v1().list_namespaced_pod("student-05").items] == ["hello"]
        refused = lab.kubectl("delete", "configmap", "mine", "-n", "student-06", check=False, quiet=True)
        assert "Forbidden" in refused
        # Notebook 00's exercise, done the way a student would: it lands in, and is checked in, their namespace.
        lab.apply(first_pod.MANIFEST)
        labs.wait_for(lambda: run_check("first-pod", lab=lab) or None, timeout=60, what="my-first-pod to run")
        assert labs.check("first-pod", lab=lab)
        assert json.loads((tmp_path / "progress.json").read_text())["checks"]["first-pod"]["passed"]
        shown = run_labctl(home, "classroom", "status").stdout
        assert "1: first-pod" in next(line for line in shown.splitlines() if line.startswith("student-05"))
        with pytest.raises(labs.LabError, match="needs the machine that runs the lab"):
            lab.status()
        with pytest.raises(labs.LabError, match="needs the machine that runs the lab"):
            _ = lab.database_url
    finally:
        lab.stop()
    assert admin(home, lambda c: c.get("namespaces", "student-05"))["status"]["phase"] == "Active"


def test_delete_revokes_a_students_token_and_removes_the_classroom(home: Path) -> None:
    kubeconfig = home / "classroom" / "student-30.kubeconfig"

    def whoami_code() -> int:
        async def ask() -> int:
            async with ApiClient.from_kubeconfig(kubeconfig, read_retries=0) as c:
                try:
                    await c.list("configmaps", namespace="student-30")
                except Exception as e:  # noqa: BLE001 - the status code is what is asserted
                    return int(getattr(e, "code", 0))
                return 200
        return asyncio.run(ask())

    assert whoami_code() == 200
    saved = kubeconfig.read_text()
    gone = run_labctl(home, "classroom", "delete", "student-30")
    assert gone.returncode == 0 and "deleted 1 students" in gone.stdout, gone.stdout + gone.stderr
    assert not kubeconfig.exists()
    kubeconfig.write_text(saved)  # a copy the student kept
    assert wait_until("the deleted student's token to be refused", lambda: whoami_code() == 401, timeout=20)
    import labs

    with pytest.raises(labs.LabError, match="refused the token"):
        labs.connect(kubeconfig=kubeconfig, show=False)
    kubeconfig.unlink()

    unknown = run_labctl(home, "classroom", "delete", "student-99")
    assert unknown.returncode == 1 and "no student student-99" in unknown.stderr

    everyone = run_labctl(home, "classroom", "delete")
    assert everyone.returncode == 0 and f"deleted {STUDENTS - 1} students" in everyone.stdout
    # The namespaces go at the namespace controller's pace (emptying 29 namespaces); that they are
    # on their way is what `delete` promises, and the bindings that gave the rights are gone now.
    left = admin(home, lambda c: c.list("namespaces", label_selector=STUDENT_LABEL))["items"]
    assert all(ns["metadata"].get("deletionTimestamp") for ns in left), [ns["metadata"]["name"] for ns in left]
    assert not admin(home, lambda c: c.list("clusterrolebindings.rbac.authorization.k8s.io",
                                            label_selector=STUDENT_LABEL))["items"]
    assert not list((home / "classroom").glob("*.kubeconfig"))
    status = run_labctl(home, "classroom", "status").stdout
    assert "no classroom on this lab" in status or all(
        line.split()[1] == "Terminating" for line in status.splitlines()[1:]), status


@pytest.mark.parametrize(("args", "flag"), [
    (("--students", "0"), "--students"),
    (("--students", "3", "--prefix", "Bad_"), "--prefix"),
    (("--students", "3", "--token-days", "0"), "--token-days"),
    (("--students", "3", "--server", "http://10.0.0.5:6443"), "--server"),
])
def test_bad_options_are_one_error_line_naming_the_flag(home: Path, args: tuple[str, ...], flag: str) -> None:
    result = run_labctl(home, "classroom", "create", *args)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("error: ") and flag in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
