"""The parts of classroom mode that need no server: names, progress documents, and when a handed-out
kubeconfig is kept rather than reissued (the live behaviour: tests/integration/test_labctl_classroom.py)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from orchestrator.classroom import ClassroomError, _still_good, passed_checks, roster
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import write_kubeconfig


def test_roster_names_sort_as_numbered_and_are_namespace_names() -> None:
    assert [s.name for s in roster(3)] == ["student-01", "student-02", "student-03"]
    assert roster(120, prefix="cs101")[-1].name == "cs101-120"
    assert roster(2)[0].user == "system:serviceaccount:student-01:student-01"


@pytest.mark.parametrize(("count", "prefix", "flag"), [(0, "student", "--students"), (501, "student", "--students"),
                                                       (2, "Room_A", "--prefix"), (2, "x" * 70, "--prefix")])
def test_roster_refuses_what_makes_no_valid_classroom_naming_the_option(count: int, prefix: str, flag: str) -> None:
    with pytest.raises(ClassroomError, match=flag):
        roster(count, prefix=prefix)


def test_passed_checks_reads_only_passed_entries_and_survives_garbage() -> None:
    doc = json.dumps({"checks": {"b": {"passed": True}, "a": {"passed": True}, "c": {"passed": False}}})
    assert passed_checks(doc) == ("a", "b")
    for garbage in ("", "not json", "[]", json.dumps({"checks": [1, 2]})):
        assert passed_checks(garbage) == ()


def _kubeconfig(path: Path, *, uid: str, expires_in: float, server: str = "https://127.0.0.1:6443") -> None:
    claims = {"exp": int(time.time() + expires_in),
              "kubernetes.io": {"namespace": "s", "serviceaccount": {"name": "s", "uid": uid}}}
    token = jwt.encode(claims, "not-the-lab-key-only-a-test-one-32-bytes+", algorithm="HS256")
    write_kubeconfig(path, server=server, ca_pem=b"ca", token=token, user="system:serviceaccount:s:s", namespace="s")


def test_a_kubeconfig_is_kept_only_while_its_token_lasts_a_day_and_names_the_current_account(tmp_path: Path) -> None:
    path = LabHome(tmp_path).root / "s.kubeconfig"
    _kubeconfig(path, uid="u1", expires_in=3 * 86400)
    assert _still_good(path, sa_uid="u1", server="https://127.0.0.1:6443") is not None
    assert _still_good(path, sa_uid="u2", server="https://127.0.0.1:6443") is None  # account recreated
    assert _still_good(path, sa_uid="u1", server="https://10.0.0.5:6443") is None  # --server changed
    _kubeconfig(path, uid="u1", expires_in=3600)
    assert _still_good(path, sa_uid="u1", server="https://127.0.0.1:6443") is None  # expires within a day
    assert _still_good(tmp_path / "missing", sa_uid="u1", server="https://127.0.0.1:6443") is None


class FakeServer:
    """Just enough API server for `ensure_students`, behind httpx.MockTransport (the client's test seam):
    discovery of the core group with or without the quota kinds, and every POST remembered."""

    def __init__(self, *, quotas: bool) -> None:
        self.quotas = quotas
        self.posts: list[tuple[str, dict]] = []
        self.stored: set[str] = set()

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/apis":
            return httpx.Response(200, json={"kind": "APIGroupList", "groups": []})
        if path == "/api/v1":
            names = ["namespaces", "pods", "serviceaccounts"] + (["resourcequotas", "limitranges"] if self.quotas else [])
            return httpx.Response(200, json={"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": n, "singularName": n[:-1], "namespaced": n != "namespaces", "kind": n.title(),
                 "verbs": ["create", "get", "list"]} for n in names]})
        if request.method == "GET" and "/serviceaccounts/" in path:
            return httpx.Response(200, json={"kind": "ServiceAccount", "metadata": {"name": "s", "uid": "u"}})
        if request.method == "POST" and path.endswith("/token"):
            return httpx.Response(201, json={"kind": "TokenRequest", "status": {
                "token": jwt.encode({"exp": int(time.time()) + 86400 * 7,
                                     "kubernetes.io": {"serviceaccount": {"name": "s", "uid": "u"}}},
                                    "k" * 32, algorithm="HS256"),
                "expirationTimestamp": "2030-01-01T00:00:00Z"}})
        if request.method == "POST":
            body = json.loads(request.content)
            key = f"{path}/{body['metadata']['name']}"
            if key in self.stored:
                return httpx.Response(409, json={"kind": "Status", "status": "Failure", "reason": "AlreadyExists",
                                                 "code": 409, "message": f"{key} already exists"})
            self.stored.add(key)
            self.posts.append((path, body))
            return httpx.Response(201, json=body)
        return httpx.Response(404, json={"kind": "Status", "reason": "NotFound", "code": 404, "message": path})


def _create(tmp_path: Path, server: FakeServer) -> Any:
    from orchestrator.classroom import ensure_students
    from orchestrator.client.rest import ApiClient

    home = LabHome(tmp_path)
    home.ensure()
    home.ca_cert.write_bytes(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")

    async def main() -> Any:
        async with ApiClient("https://lab.test", transport=httpx.MockTransport(server.handle)) as client:
            return await ensure_students(client, home, roster(2), server="https://lab.test")

    return asyncio.run(main())


def test_quota_and_limits_are_made_per_student_once_the_lab_serves_them(tmp_path: Path) -> None:
    from orchestrator.classroom import STUDENT_LIMITS, STUDENT_QUOTA

    server = FakeServer(quotas=True)
    result = _create(tmp_path, server)
    assert result.notes == []
    quotas = [b for p, b in server.posts if p.endswith("/resourcequotas")]
    limits = [b for p, b in server.posts if p.endswith("/limitranges")]
    assert [q["metadata"]["namespace"] for q in quotas] == ["student-01", "student-02"]
    assert quotas[0]["spec"]["hard"] == STUDENT_QUOTA and limits[0]["spec"]["limits"] == STUDENT_LIMITS
    assert all("resourcequota" in o.created and "limitrange" in o.created for o in result.students)

    before = len(server.posts)
    again = _create(tmp_path, server)  # idempotent: everything exists, the kubeconfigs are kept
    assert len(server.posts) == before and not any(o.created or o.token_reissued for o in again.students)


def test_without_the_quota_kinds_create_says_so_and_skips_them(tmp_path: Path) -> None:
    server = FakeServer(quotas=False)
    result = _create(tmp_path, server)
    assert result.notes == ["resourcequotas are not served by this lab: skipped (students are not capped)",
                            "limitranges are not served by this lab: skipped (students are not capped)"]
    assert not [p for p, _ in server.posts if p.endswith(("/resourcequotas", "/limitranges"))]
