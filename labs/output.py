"""Show a helper's result exactly once in a notebook, whether or not the cell ends with the call.

`labs.check(...)` and `lab.kubectl(...)` show their output as they run (so a call inside an `if`,
or assigned to a name, still shows it), and return an object that a cell may end with. IPython
would then show that object a second time. Objects made here remember the cell (IPython's
execution count) in which they were shown, and the display hook skips them in that same cell;
in a later cell, evaluating the name shows them again.
"""

from __future__ import annotations

from typing import Any


def current_cell() -> int | None:
    """IPython's execution count of the running cell, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else int(shell.execution_count)


class ShownOnce:
    """Mixin: `_ipython_display_` skips the object in the cell that already showed it."""

    _shown_in: int | None = None

    def mark_shown(self) -> None:
        self._shown_in = current_cell()

    def _ipython_display_(self) -> None:
        if self._shown_in is not None and self._shown_in == current_cell():
            return
        from IPython.display import display

        display(self._mimebundle(), raw=True)

    def _mimebundle(self) -> dict[str, Any]:
        return {"text/plain": str(self)}


class CommandOutput(str, ShownOnce):
    """A command's stdout (a `str`: compare, search and split it) that a cell shows as text, once."""

    def __repr__(self) -> str:
        # Outside IPython (a script, a plain REPL) the text itself, not a quoted one-line string.
        return str(self)

    def _mimebundle(self) -> dict[str, Any]:
        return {"text/plain": str(self)}
