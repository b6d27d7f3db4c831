"""The two exceptions a notebook sees from `labs`: something failed, or something never happened.

    LabError          a lab operation failed (kubectl exited non-zero, a component is unknown, ...);
    └── LabTimeout    a condition did not become true in time (`wait_for`); the message says what
                      was awaited and the last value seen, so a learner knows where to look.

Both carry a one-paragraph message meant to be read in a notebook, not a stack of internals.
"""

from __future__ import annotations


class LabError(Exception):
    """A lab operation failed; ``str(err)`` says which and why."""


class LabTimeout(LabError):
    """`wait_for` gave up: ``what`` was awaited for ``timeout`` seconds; ``last`` is the last value seen."""

    def __init__(self, message: str, *, what: str, timeout: float, last: object) -> None:
        super().__init__(message)
        self.what = what
        self.timeout = timeout
        self.last = last
