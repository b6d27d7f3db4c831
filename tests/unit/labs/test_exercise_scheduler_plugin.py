"""Exercise "scheduler-plugin": the reference solution passes, the stub and typical mistakes fail with
feedback that names the mistake and the fix."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from labs.checks import CheckResult, run_check
from orchestrator.scheduler.framework import MAX_NODE_SCORE, MIN_NODE_SCORE

SOLUTION = "labs.solutions.scheduler_plugin:PreferFastZone"


def failed_step(result: CheckResult) -> str:
    """The first failed step's message and hint, as one text to assert on."""
    step = next(s for s in result.steps if not s.passed)
    return f"{step.message} | try: {step.hint}"


class KeyErrorOnPlainNodes:
    name = "PreferFastZone"

    def __init__(self, args=None, handle=None):
        self.zone = (args or {}).get("zone", "fast")

    def score(self, state, pod, node_info):
        return MAX_NODE_SCORE if node_info.labels["zone"] == self.zone else MIN_NODE_SCORE


class IgnoresArgs:
    name = "PreferFastZone"

    def __init__(self, args=None, handle=None):
        self.zone = "fast"

    def score(self, state, pod, node_info):
        return MAX_NODE_SCORE if node_info.labels.get("zone") == self.zone else MIN_NODE_SCORE


class ReturnsAFraction:
    name = "PreferFastZone"

    def __init__(self, args=None, handle=None):
        self.zone = (args or {}).get("zone", "fast")

    def score(self, state, pod, node_info):
        return 1.0 if node_info.labels.get("zone") == self.zone else 0.0


class NoName:
    def __init__(self, args=None, handle=None):
        pass

    def score(self, state, pod, node_info):
        return 0


class NoArgsConstructor:
    name = "PreferFastZone"

    def __init__(self):
        pass

    def score(self, state, pod, node_info):
        return 0


def test_the_reference_solution_passes_every_step() -> None:
    result = run_check("scheduler-plugin", plugin=SOLUTION)
    assert result.passed, result.feedback
    assert not result.error
    messages = " ".join(s.message for s in result.steps)
    assert "zone=fast node scores 100" in messages
    assert "pluginConfig works" in messages
    assert "goes to the busier zone=fast node" in messages


def test_the_stub_fails_at_the_first_todo_and_says_which() -> None:
    result = run_check("scheduler-plugin")
    assert not result.passed
    assert not result.error, "a stub is the learner's starting point, not a broken check"
    assert [s.passed for s in result.steps][:3] == [True, True, True], result.feedback
    text = failed_step(result)
    assert "NotImplementedError" in text and "TODO 1" in text, text
    assert "not yet" in result.feedback


def test_indexing_labels_fails_on_a_node_without_the_label_with_a_hint_to_use_get() -> None:
    result = run_check("scheduler-plugin", plugin=KeyErrorOnPlainNodes)
    assert not result.passed
    text = failed_step(result)
    assert "KeyError" in text and ".get" in text, text


def test_ignoring_the_plugin_args_fails_at_the_second_todo() -> None:
    result = run_check("scheduler-plugin", plugin=IgnoresArgs)
    assert not result.passed
    text = failed_step(result)
    assert "zone=blue" in text and "TODO 2" in text, text


def test_a_score_that_is_not_an_int_is_explained() -> None:
    result = run_check("scheduler-plugin", plugin=ReturnsAFraction)
    assert not result.passed
    assert "returned 1.0 (float)" in failed_step(result)


def test_a_class_without_a_name_is_not_a_plugin() -> None:
    result = run_check("scheduler-plugin", plugin=NoName)
    assert not result.passed
    assert "class attribute `name`" in failed_step(result)


def test_a_constructor_without_args_and_handle_is_reported() -> None:
    result = run_check("scheduler-plugin", plugin=NoArgsConstructor)
    assert not result.passed
    assert "__init__ takes (self, args, handle)" in failed_step(result)


def test_a_file_that_does_not_import_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_fast_zone.py").write_text(
        "class PreferFastZone:\n    name = 'PreferFastZone'\n    def score(\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    result = run_check("scheduler-plugin", plugin="broken_fast_zone:PreferFastZone")
    assert not result.passed
    assert not result.error
    assert "does not load: SyntaxError" in failed_step(result)


def test_the_check_re_reads_the_file_after_an_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    source = tmp_path / "edited_fast_zone.py"
    stub = textwrap.dedent(
        """
        class PreferFastZone:
            name = "PreferFastZone"

            def __init__(self, args=None, handle=None):
                self.zone = (args or {}).get("zone", "fast")

            def score(self, state, pod, node_info):
                raise NotImplementedError("TODO 1")
        """
    )
    source.write_text(stub)
    assert not run_check("scheduler-plugin", plugin="edited_fast_zone:PreferFastZone").passed
    source.write_text(
        stub.replace(
            'raise NotImplementedError("TODO 1")',
            'return 100 if node_info.labels.get("zone") == self.zone else 0',
        )
    )
    result = run_check("scheduler-plugin", plugin="edited_fast_zone:PreferFastZone")
    assert result.passed, result.feedback
