"""SQL is built only with bound parameters: no value reaches a SQL string by f-string, ``%`` or
``.format`` — only fixed identifiers and fragments, each on a justified allowlist.

The scan reads every module of orchestrator/ (the only code that talks to PostgreSQL) and finds
each string that looks like SQL and is built from parts. A part may be:

- a module-level constant of the same module (an UPPER_CASE or _UPPER_CASE name: fixed text,
  e.g. the key condition shared by the write statements), or
- an expression on ALLOWED below, with the reason it cannot carry user data.

Anything else fails the test, naming the file, the line and the expression: put the value in a
bound parameter (``:name`` with SQLAlchemy ``text``, ``$1`` with asyncpg) instead. An allowlist
entry nothing matches any more fails too, so the list stays true.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[3]
PACKAGE = ROOT / "orchestrator"

SQL = re.compile(r"\b(SELECT\s|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|DATABASE|INDEX|ROLE|"
                 r"SEQUENCE|FUNCTION|TRIGGER)|DROP\s+(TABLE|DATABASE|INDEX|ROLE)|ALTER\s+(TABLE|DATABASE|ROLE|SYSTEM)|"
                 r"TRUNCATE\s|pg_notify|LISTEN\s|NOTIFY\s|GRANT\s|COPY\s)")

# (module path, expression as written) -> why it cannot carry a value from a request.
ALLOWED: dict[tuple[str, str], str] = {
    ("orchestrator/storage/store.py", "cond"):
        "' AND '.join(where) of fixed fragments appended in the same function; every value is in params",
    ("orchestrator/storage/store.py", "ev_cond"):
        "' AND '.join(where): the same fixed fragments as cond, without the node filter",
    ("orchestrator/storage/store.py", "prev_node"):
        "either '' or the fixed node filter text with the column data replaced by prev (the node is :node)",
    ("orchestrator/storage/store.py", "limit_sql"):
        "either '' or the fixed text 'LIMIT :limit' (the limit itself is a bound parameter)",
    ("orchestrator/storage/store.py", "ns_sql"):
        "either '' or the fixed text ' AND namespace = :ns' (the namespace is a bound parameter)",
    ("orchestrator/storage/store.py", "printed"):
        "either 'data::text' or one of two fixed jsonb_build_object expressions whose apiVersion and kind "
        "are the bound parameters :av and :kind",
    ("orchestrator/storage/store.py", "sql"):
        "the statement built just above from the fragments allowed here, wrapped in a UNION",
    ("orchestrator/storage/store.py", "NOTIFY_CHANNEL"):
        "the LISTEN/NOTIFY channel name, a constant of orchestrator/storage/streams.py",
    ("orchestrator/storage/store.py", "column"):
        "a column of the revision table, typed Literal['value', 'compacted'] and passed as a literal by "
        "current_revision and compacted_revision",
    ("orchestrator/storage/store.py", "int(last)"):
        "a revision number PostgreSQL returned, forced to int: pg_notify inside the COMMIT round trip",
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    expression: str
    how: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.how} interpolates `{self.expression}` into SQL"


def _constant_text(node: ast.AST) -> str:
    """The literal text of a string expression (the fixed parts of an f-string)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _constant_text(node.left) + _constant_text(node.right)
    return ""


def _is_module_constant(node: ast.AST, constants: set[str]) -> bool:
    return isinstance(node, ast.Name) and node.id in constants


def _module_constants(tree: ast.Module) -> set[str]:
    names = set()
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name) and re.fullmatch(r"_?[A-Z][A-Z0-9_]*", target.id):
                names.add(target.id)
    return names


def scan(path: Path) -> list[Finding]:
    return scan_source(str(path.relative_to(ROOT)), path.read_text())


def scan_source(rel: str, source: str) -> list[Finding]:
    tree = ast.parse(source)
    constants = _module_constants(tree)
    findings: list[Finding] = []

    def report(part: ast.AST, line: int, how: str) -> None:
        if not _is_module_constant(part, constants):
            findings.append(Finding(rel, line, ast.get_source_segment(source, part) or ast.dump(part), how))

    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and SQL.search(_constant_text(node)):
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    report(value.value, node.lineno, "an f-string")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and SQL.search(_constant_text(node.left)):
            parts = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
            for part in parts:
                report(part, node.lineno, "%-formatting")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
              and SQL.search(_constant_text(node.func.value))):
            for part in [*node.args, *(k.value for k in node.keywords)]:
                report(part, node.lineno, ".format()")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and SQL.search(_constant_text(node)):
            for part in (node.left, node.right):
                if not isinstance(part, ast.Constant | ast.JoinedStr | ast.BinOp):
                    report(part, node.lineno, "string concatenation")
    return findings


@functools.cache
def all_findings() -> tuple[Finding, ...]:
    return tuple(f for path in sorted(PACKAGE.rglob("*.py")) if "proto" not in path.parts for f in scan(path))


def test_sql_is_built_only_from_fixed_text_and_bound_parameters() -> None:
    unexplained = [f for f in all_findings() if (f.path, f.expression) not in ALLOWED]
    assert not unexplained, ("SQL built from values; use bound parameters, or (for a fixed identifier) add the "
                             "expression to ALLOWED with the reason:\n" + "\n".join(map(str, unexplained)))


def test_every_allowlist_entry_is_still_needed() -> None:
    used = {(f.path, f.expression) for f in all_findings()}
    assert not set(ALLOWED) - used, sorted(set(ALLOWED) - used)


def test_the_where_fragments_behind_cond_are_fixed_text() -> None:
    """``cond`` is on the allowlist because everything appended to ``where`` is fixed text: prove it."""
    tree = ast.parse((PACKAGE / "storage" / "store.py").read_text())
    appended = [node.args[0] for node in ast.walk(tree)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "where"]
    assert appended, "store.py no longer builds `where`: update ALLOWED"

    def fixed(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return True
        if isinstance(node, ast.IfExp):
            return fixed(node.body) and fixed(node.orelse)
        return False

    for node in appended:
        assert fixed(node), f"store.py line {node.lineno}: where.append of a computed string"
    for node in ast.walk(tree):  # and `where` starts as a list of fixed text
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "where" for t in node.targets):
            assert isinstance(node.value, ast.List) and all(fixed(e) for e in node.value.elts), node.lineno


def test_the_scanner_finds_what_it_is_meant_to_find() -> None:
    """The scan is only worth something if it catches the usual ways values get into SQL."""
    code = '''
TABLE = "objects"
def f(conn, name, ns):
    conn.execute(f"SELECT data FROM objects WHERE name = '{name}'")
    conn.execute("DELETE FROM objects WHERE ns = '%s'" % ns)
    conn.execute("UPDATE objects SET name = '{}'".format(name))
    conn.execute("SELECT 1 FROM objects WHERE name = '" + name + "'")
    conn.execute(f"SELECT data FROM {TABLE} WHERE name = :name", {"name": name})
'''
    found = {(f.expression, f.how) for f in scan_source("probe.py", code)}
    assert found == {("name", "an f-string"), ("ns", "%-formatting"), ("name", ".format()"),
                     ("name", "string concatenation")}, found
