"""A cell shows `labs.check(...)`'s feedback and `lab.kubectl(...)`'s output once, not twice.

Both show their result as they run and return an object a cell may end with; IPython's display
hook must then skip it in that cell, and show it again when a later cell evaluates it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from labs.checks import Checker, register


@pytest.fixture(scope="module")
def shell() -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


def _times_shown(shell: InteractiveShell, code: str, marker: str) -> int:
    with capture_output() as cap:
        result = shell.run_cell(code, store_history=True)
    result.raise_error()
    shown = cap.stdout.count(marker)
    for output in cap.outputs:
        shown += output.data.get("text/plain", "").count(marker)
    return shown


def test_command_output_ending_a_cell_is_shown_once(shell: InteractiveShell) -> None:
    code = (
        "from labs.output import CommandOutput\n"
        "out = CommandOutput('NAME   STATUS\\nnode-1 Ready\\n')\n"
        "print(out, end='')\n"
        "out.mark_shown()\n"
        "out"
    )
    assert _times_shown(shell, code, "node-1 Ready") == 1
    assert _times_shown(shell, "out", "node-1 Ready") == 1  # a later cell shows it again
    assert _times_shown(shell, "'node-1' in out", "node-1 Ready") == 0  # still a str


@register("output-test", title="a check for the display test")
def _check(c: Checker) -> None:
    c.expect(True, passed="SHOWN-ONCE marker", failed="")


def test_a_check_ending_a_cell_is_shown_once(shell: InteractiveShell, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))  # labs.check records progress in the lab home
    assert _times_shown(shell, "import labs\nlabs.check('output-test')", "SHOWN-ONCE") == 1
    assert _times_shown(shell, "result = labs.check('output-test')", "SHOWN-ONCE") == 1
    assert _times_shown(shell, "if True:\n    labs.check('output-test')", "SHOWN-ONCE") == 1
    assert _times_shown(shell, "result", "SHOWN-ONCE") == 1
