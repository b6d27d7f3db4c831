"""No test module or conftest imports a pytest fixture from another module.

An imported fixture is registered again where it is imported, and pytest keeps a separate instance
per registration: importing the session `lab` is how the integration directories each came to start
a lab of their own. Fixtures shared by several directories live in tests/support/fixtures.py,
registered once by tests/conftest.py (``pytest_plugins``); helpers are imported, fixtures never.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Attribute) and target.attr == "fixture") or (
        isinstance(target, ast.Name) and target.id == "fixture")


def _fixtures_by_module() -> dict[str, set[str]]:
    fixtures: dict[str, set[str]] = {}
    for path in TESTS.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                 and any(_is_fixture(d) for d in node.decorator_list)}
        if names:
            fixtures[_module_name(path)] = names
    return fixtures


def test_no_module_imports_a_fixture() -> None:
    fixtures = _fixtures_by_module()
    assert "lab" in fixtures["tests.support.fixtures"]  # the scan sees the fixtures it guards
    imported = []
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module in fixtures:
                imported += [f"{path.relative_to(TESTS.parent)}:{node.lineno} imports fixture {alias.name} "
                             f"from {node.module}" for alias in node.names if alias.name in fixtures[node.module]]
    assert not imported, "\n".join(imported)


def test_pytest_plugins_registers_the_shared_fixtures_once() -> None:
    declaring = [path.relative_to(TESTS.parent) for path in TESTS.rglob("*.py")
                 if any(isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytest_plugins" for t in node.targets)
                        for node in ast.parse(path.read_text()).body)]
    assert [str(p) for p in declaring] == ["tests/conftest.py"]
