"""Reference solution of the `predict-revision` exercise (notebook 01)."""

from __future__ import annotations

from typing import Any

from labs import inspect


def predict(lab: Any) -> int:
    # One global counter: the next write, to any object, gets the current value plus one.
    return inspect.revision(lab) + 1
