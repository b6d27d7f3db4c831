"""Exercise checks: ``labs.check("name", **answers)`` runs a check and gives kind, specific feedback.

An exercise is a module ``labs/exercises/<name_with_underscores>.py`` that registers its check:

    from labs.checks import Checker, register

    @register("predict-revision", title="Predict the next resourceVersion", notebook="01-etcd-simulation")
    def check(c: Checker, *, lab, prediction) -> None:
        actual = ...
        c.expect(prediction == actual,
                 passed=f"{prediction} is right: every write takes the next revision",
                 failed=f"you predicted {prediction}, the write got {actual}",
                 hint="the next write gets inspect.revision(lab) + 1")

A check function states expectations with `Checker.expect` (each shows as a ✓ or ✗ line); it may
stop early after a failed expectation (`return`), since later steps would only repeat the same
advice. A check that crashes is reported as "the check could not run", never as your mistake.
Reference solutions live apart, in ``labs/solutions/<same name>.py``; tests prove that the
solutions pass and that the starting stubs fail with helpful feedback.
"""

from __future__ import annotations

import html
import importlib
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labs.output import ShownOnce

CheckFunction = Callable[..., None]


@dataclass(frozen=True)
class Step:
    """One expectation of a check: whether it held, what it means, and what to try if it did not."""

    passed: bool
    message: str
    hint: str = ""


@dataclass
class CheckResult(ShownOnce):
    """The outcome of `labs.check(name)`: truthy when every expectation held.

    `labs.check` shows it as it runs; a cell that ends with the call does not show it twice
    (`labs.output.ShownOnce`).
    """

    name: str
    title: str
    steps: list[Step] = field(default_factory=list)
    error: str = ""  # the check itself could not run (not the learner's fault)

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.steps) and all(step.passed for step in self.steps)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def feedback(self) -> str:
        """The whole feedback as plain text (what `labs.check` prints)."""
        lines = [f"{self.title or self.name}: " + ("passed, well done!" if self.passed else "not yet")]
        for step in self.steps:
            lines.append(f"  {'✓' if step.passed else '✗'} {step.message}")
            if not step.passed and step.hint:
                lines.append(f"    try: {step.hint}")
        if self.error:
            lines.append(f"  ! the check could not run: {self.error}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.feedback

    def _mimebundle(self) -> dict[str, Any]:
        return {"text/plain": self.feedback, "text/html": self._repr_html_()}

    def _repr_html_(self) -> str:
        colour = "#2e7d32" if self.passed else "#b26a00"
        items = []
        for step in self.steps:
            mark = "✓" if step.passed else "✗"
            hint = f"<br><i>try:</i> {html.escape(step.hint)}" if not step.passed and step.hint else ""
            items.append(f"<li>{mark} {html.escape(step.message)}{hint}</li>")
        if self.error:
            items.append(f"<li>! the check could not run: <code>{html.escape(self.error)}</code></li>")
        verdict = "passed, well done!" if self.passed else "not yet"
        return (
            f"<div class='labkit-check' style='border-left:4px solid {colour};padding:4px 8px'>"
            f"<b>{html.escape(self.title or self.name)}: {verdict}</b><ul>{''.join(items)}</ul></div>"
        )


class Checker:
    """Handed to a check function to record its expectations."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def expect(self, condition: object, *, passed: str, failed: str, hint: str = "") -> bool:
        """Record one expectation; return whether it held, so the check can stop early."""
        ok = bool(condition)
        self.steps.append(Step(ok, passed if ok else failed, "" if ok else hint))
        return ok


@dataclass(frozen=True)
class RegisteredCheck:
    name: str
    title: str
    function: CheckFunction
    notebook: str = ""  # the notebook's file name without .ipynb, for labs.progress()


_REGISTRY: dict[str, RegisteredCheck] = {}


def register(name: str, *, title: str = "", notebook: str = "") -> Callable[[CheckFunction], CheckFunction]:
    """Register ``function`` as the check called ``name`` (decorator); ``notebook`` is where it is asked."""

    def decorate(function: CheckFunction) -> CheckFunction:
        _REGISTRY[name] = RegisteredCheck(name=name, title=title or name, function=function, notebook=notebook)
        return function

    return decorate


def module_name(name: str) -> str:
    """Where the exercise called ``name`` lives: labs.exercises.<name with underscores>."""
    return "labs.exercises." + name.replace("-", "_")


def lookup(name: str) -> RegisteredCheck:
    """The registered check ``name``, importing its exercise module on first use."""
    if name not in _REGISTRY:
        module = module_name(name)
        try:
            if module in sys.modules:
                # Imported before, yet its check is not registered (the registry was cleared, or
                # the learner's kernel imported it before an error): run the module again.
                importlib.reload(sys.modules[module])
            else:
                importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module_name(name):
                raise
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none loaded yet"
        raise KeyError(f"no exercise check called {name!r} (looked in {module_name(name)}); known: {known}")
    return _REGISTRY[name]


def run_check(name: str, **kwargs: Any) -> CheckResult:
    """Run the check without displaying anything (tests use this)."""
    registered = lookup(name)
    checker = Checker()
    result = CheckResult(name=name, title=registered.title, steps=checker.steps)
    try:
        registered.function(checker, **kwargs)
    except TypeError as err:
        if "argument" in str(err) and not checker.steps:
            result.error = f"{err} (see the exercise's instructions for what to pass to labs.check)"
        else:
            result.error = _one_line(err)
    except Exception as err:  # the check must give feedback, not a traceback
        result.error = _one_line(err)
    if not checker.steps and not result.error:
        result.error = f"the check {name!r} recorded no expectation (a bug in the exercise)"
    return result


def known_checks() -> list[RegisteredCheck]:
    """Every check of every exercise module (imported if it was not yet), in notebook order."""
    import pkgutil

    import labs.exercises

    for info in pkgutil.iter_modules(labs.exercises.__path__):
        importlib.import_module(f"labs.exercises.{info.name}")
    return sorted(_REGISTRY.values(), key=lambda c: (c.notebook, c.name))


def check(name: str, **kwargs: Any) -> CheckResult:
    """Run the exercise check ``name`` with your answers; show the feedback; return the result.

    The outcome is recorded for `labs.progress()` (a pass stays a pass when the check is run again)."""
    result = run_check(name, **kwargs)
    # A from-import: `labs.progress` is the function (labs/__init__.py), the module is labs.progress.
    from labs.progress import record

    record(result, notebook=lookup(name).notebook, lab=kwargs.get("lab"))
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        print(result.feedback)
    else:
        if get_ipython() is not None:
            display(result)
            result.mark_shown()
        else:
            print(result.feedback)
    return result


def _one_line(err: BaseException) -> str:
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    place = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(err).__name__}: {err}{place}"
