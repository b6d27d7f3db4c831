"""The parts of classroom mode that need no server: names, progress documents, and when a handed-out
kubeconfig is kept rather than reissued (the live behaviour: tests/integration/test_labctl_classroom.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest

from orchestrator.classroom import ClassroomError, _still_good, passed_checks, roster
from orchestrator.labhome import LabHome
from orchestrator.pki import write_kubeconfig


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
