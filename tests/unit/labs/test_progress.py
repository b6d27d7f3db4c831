"""labs.progress: labs.check records each outcome in <lab home>/progress.json; a pass stays a pass;
labs.progress() lists every exercise check per notebook. (The classroom copy, in the student's
namespace: tests/integration/test_labctl_classroom.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import labs
from labs import checks
from labs.checks import Checker, CheckResult, Step, register
from labs.progress import load, merge, progress_file


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def answer_check() -> Any:
    def check(c: Checker, *, answer: int) -> None:
        c.expect(answer == 42, passed="the answer", failed=f"{answer} is not the answer", hint="think bigger")

    register("unit-progress-answer", title="The answer", notebook="99-unit")(check)
    yield "unit-progress-answer"
    checks._REGISTRY.pop("unit-progress-answer", None)


def test_a_check_records_its_outcome_and_a_pass_stays_a_pass(home: Path, answer_check: str) -> None:
    assert not labs.check(answer_check, answer=1)
    entry = load()["checks"][answer_check]
    assert entry["passed"] is False and entry["runs"] == 1 and "first_passed" not in entry
    assert progress_file() == home / "progress.json"

    assert labs.check(answer_check, answer=42)
    first = load()["checks"][answer_check]
    assert first["passed"] is True and first["runs"] == 2 and first["notebook"] == "99-unit"

    assert not labs.check(answer_check, answer=7)  # e.g. re-run on a wiped lab: still passed
    again = load()["checks"][answer_check]
    assert again["passed"] is True and again["runs"] == 3 and again["first_passed"] == first["first_passed"]


def test_progress_lists_every_shipped_check_per_notebook(home: Path, answer_check: str) -> None:
    labs.check(answer_check, answer=42)
    table = labs.progress()
    by_check = {row["check"]: row for row in table}
    assert {"first-pod", "predict-revision", "forbidden-request", "scheduler-plugin", "read-only-role"} <= set(by_check)
    assert by_check["first-pod"]["notebook"] == "00-welcome" and by_check["first-pod"]["status"] == "not tried"
    assert by_check[answer_check]["status"] == "passed" and by_check[answer_check]["runs"] == 1
    assert table.column("notebook") == sorted(table.column("notebook"))
    assert table.title.startswith("your progress: 1 of ")
    assert "99-unit" in repr(table) and "<table" in table._repr_html_()


def test_a_check_that_could_not_run_is_not_counted(home: Path) -> None:
    broken = CheckResult(name="x", title="x", steps=[], error="ConnectionError: lab is down")
    from labs.progress import record

    record(broken, notebook="00-welcome")
    assert not (home / "progress.json").exists()


def test_merge_counts_runs_and_keeps_other_checks() -> None:
    doc = {"checks": {"other": {"passed": True, "runs": 4}}}
    result = CheckResult(name="mine", title="Mine", steps=[Step(True, "ok")])
    merged = merge(doc, result, notebook="01", now=datetime(2026, 12, 6, 14, 0, tzinfo=UTC))
    assert merged["checks"]["other"] == {"passed": True, "runs": 4}
    assert merged["checks"]["mine"]["first_passed"] == "2026-12-06T14:00:00Z"
    assert doc == {"checks": {"other": {"passed": True, "runs": 4}}}  # not modified in place


def test_an_unreadable_or_foreign_file_is_an_empty_record(home: Path) -> None:
    (home / "progress.json").write_text("{half")
    assert load() == {"checks": {}}
    (home / "progress.json").write_text(json.dumps(["not", "a", "record"]))
    assert load() == {"checks": {}}
    recorded = {"checks": {"renamed-exercise": {"passed": True, "runs": 1, "notebook": "05-x", "title": "Old"}}}
    (home / "progress.json").write_text(json.dumps(recorded))
    assert "renamed-exercise" in labs.progress().column("check")
