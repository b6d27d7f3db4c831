"""labs.check: the exercise check framework, and the offline parts of the exercises' checks.

Checks that need a live cluster (solutions pass, stubs fail) are in
tests/integration/test_labs_exercises.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from labs import checks
from labs.checks import Checker, register, run_check
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import ensure_tokens


@pytest.fixture
def registered() -> Any:
    names: list[str] = []

    def add(name: str, function: Any, **kwargs: Any) -> None:
        register(name, **kwargs)(function)
        names.append(name)

    yield add
    for name in names:
        checks._REGISTRY.pop(name, None)


def test_a_check_passes_when_every_expectation_holds(registered: Any) -> None:
    def check(c: Checker, *, answer: int) -> None:
        c.expect(answer > 0, passed="positive", failed="not positive", hint="try 1")
        c.expect(answer == 42, passed="the answer", failed=f"{answer} is not the answer", hint="think bigger")

    registered("unit-answer", check, title="The answer")
    passed = run_check("unit-answer", answer=42)
    assert passed.passed and bool(passed)
    assert passed.feedback == "The answer: passed, well done!\n  ✓ positive\n  ✓ the answer"

    failed = run_check("unit-answer", answer=7)
    assert not failed.passed and not failed
    assert failed.feedback == (
        "The answer: not yet\n  ✓ positive\n  ✗ 7 is not the answer\n    try: think bigger"
    )
    assert [s.passed for s in failed.steps] == [True, False]


def test_a_crashing_check_is_reported_as_the_checks_problem_not_the_learners(registered: Any) -> None:
    def check(c: Checker) -> None:
        c.expect(True, passed="started", failed="")
        raise RuntimeError("database unreachable")

    registered("unit-crash", check)
    result = run_check("unit-crash")
    assert not result.passed
    assert result.error.startswith("RuntimeError: database unreachable (at test_checks.py:")
    assert "the check could not run" in result.feedback


def test_a_missing_argument_says_what_to_pass(registered: Any) -> None:
    def check(c: Checker, *, lab: Any, prediction: int) -> None:
        c.expect(True, passed="", failed="")

    registered("unit-args", check)
    result = run_check("unit-args", lab=None)
    assert "prediction" in result.error and "what to pass to labs.check" in result.error


def test_a_check_that_records_nothing_is_a_bug_not_a_pass(registered: Any) -> None:
    registered("unit-empty", lambda c: None)
    result = run_check("unit-empty")
    assert not result.passed and "recorded no expectation" in result.error


def test_an_unknown_check_names_where_it_looked_and_the_known_ones(registered: Any) -> None:
    registered("unit-known", lambda c: c.expect(True, passed="", failed=""))
    with pytest.raises(KeyError, match=r"no exercise check called 'no-such-thing' \(looked in "
                                      r"labs.exercises.no_such_thing\); known: .*unit-known"):  # fmt: skip
        run_check("no-such-thing")


def test_check_loads_the_exercise_module_named_after_the_check() -> None:
    checks._REGISTRY.pop("forbidden-request", None)
    result = run_check("forbidden-request", lab=None, response=None)
    assert result.title == "Get a 403 Forbidden" and not result.passed
    assert "should be an httpx.Response" in result.feedback


def test_check_prints_the_feedback_outside_jupyter(registered: Any, capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))  # labs.check records progress in the lab home
    registered("unit-print", lambda c: c.expect(False, passed="", failed="nope", hint="do it"))
    result = checks.check("unit-print")
    assert capsys.readouterr().out == "unit-print: not yet\n  ✗ nope\n    try: do it\n"
    assert "<b>unit-print: not yet</b>" in result._repr_html_() and "labkit-check" in result._repr_html_()


# --- forbidden-request, judged on real httpx responses (no cluster needed) ----------------------


class TokenLab:
    """Just what the forbidden-request check reads from a lab: its token file."""

    def __init__(self, root: Path) -> None:
        self.home = LabHome(root)
        self.tokens = ensure_tokens(self.home, nodes=1)


def _response(lab: TokenLab, identity: str | None, *, status: int, method: str = "POST",
              body: dict[str, Any] | None = None) -> httpx.Response:  # fmt: skip
    headers = {"Authorization": f"Bearer {lab.tokens[identity]}"} if identity else {}
    request = httpx.Request(method, "https://127.0.0.1:6443/api/v1/namespaces/default/pods", headers=headers)
    return httpx.Response(status, json=body or {}, request=request)


def test_forbidden_request_passes_for_a_viewer_403_status(tmp_path: Path) -> None:
    lab = TokenLab(tmp_path)
    body = {"kind": "Status", "reason": "Forbidden", "code": 403, "message": 'User "viewer" cannot create pods'}
    result = run_check("forbidden-request", lab=lab, response=_response(lab, "viewer", status=403, body=body))
    assert result.passed, result.feedback
    assert "authenticated as viewer" in result.feedback


@pytest.mark.parametrize(
    ("identity", "status", "method", "advice"),
    [
        ("admin", 201, "POST", "admin may do anything"),
        ("viewer", 200, "GET", "reads are allowed to viewer"),
        (None, 401, "POST", "401 means the API server does not know who you are"),
        ("admin", 422, "POST", "authorization happens first"),
    ],
)
def test_forbidden_request_explains_each_near_miss(
    tmp_path: Path, identity: str | None, status: int, method: str, advice: str
) -> None:
    lab = TokenLab(tmp_path)
    result = run_check("forbidden-request", lab=lab, response=_response(lab, identity, status=status, method=method))
    assert not result.passed
    assert advice in result.feedback
