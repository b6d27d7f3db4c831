"""Label and field selectors: parse them, print them, and test objects against them. No I/O.

A *label selector* filters objects by ``metadata.labels``. Its string form is what
``kubectl get pods -l 'app=web,tier in (fe,be),!canary'`` sends as ``?labelSelector=``;
its structured form is the ``metav1.LabelSelector`` inside a ReplicaSet or Deployment
(``spec.selector: {matchLabels: ..., matchExpressions: [...]}``). Both become the same
`LabelSelector`: an AND of `Requirement`s.

    requirement     matches when the labels ...
    a=b, a==b       have key a with value b
    a!=b            lack key a, or have it with another value
    a in (x,y)      have key a with value x or y
    a notin (x,y)   lack key a, or have it with a value other than x and y
    a               have key a (any value)
    !a              lack key a
    a>3, a<3        have key a with an integer value greater / less than 3

A *field selector* filters by a few well-known fields (``?fieldSelector=spec.nodeName=node-1``)
with only ``=``, ``==`` and ``!=``. Which fields may be used depends on the resource, and
asking for another is an error (``field label not supported: spec.foo``) rather than an
empty list, exactly like Kubernetes — a typo must not look like "no such pods".

Invariants:

- The empty selector (``""`` or ``None``) matches everything.
- ``parse(str(s)) == s`` for every parsed selector (the string form is canonical:
  requirements sorted, ``in`` values sorted and de-duplicated, field ``==`` printed as ``=``).
- A structured selector that is ``None`` matches *nothing* (Kubernetes: a nil selector
  selects no objects, so a ReplicaSet without a selector never adopts every pod in the
  namespace), while ``{}`` matches everything. Beware: like ``labels.Nothing().String()``
  in Kubernetes, the nothing-selector prints as ``""``, which parses back to *everything*;
  check `LabelSelector.matches_nothing` before sending a selector over the wire.
- Bad input raises `BadRequest` (strings from a request) or `Invalid` (a structured
  selector inside an object, with a `Cause` naming the field).

Kubernetes equivalent: k8s.io/apimachinery/pkg/labels/selector.go,
k8s.io/apimachinery/pkg/fields/selector.go, pkg/apis/meta/v1/helpers.go (LabelSelectorAsSelector)
and the per-kind field label conversion functions in pkg/apis/core/v1/conversion.go.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestrator.api.errors import BadRequest, Cause, Invalid

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "escape_field_value",
    "supported_fields",
    "validate_label_key",
    "validate_label_value",
]


# --------------------------------------------------------------------------------------------
# Label keys and values
# --------------------------------------------------------------------------------------------

_NAME_MAX = 63
_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS1123_SUBDOMAIN_MAX = 253
_DNS1123_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_VALUE_RE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

# The messages are Kubernetes' own (k8s.io/apimachinery/pkg/util/validation), so a learner
# who pastes one into a search engine lands on the upstream explanation.
_NAME_FMT_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_QUALIFIED_NAME_MSG = (
    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
    "subdomain prefix and '/' (e.g. 'example.com/MyName')"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_VALUE_FMT_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?"
    "[A-Za-z0-9])?')"
)


def validate_label_key(key: str) -> list[str]:
    """Why `key` is not a valid label key (``[prefix/]name``); empty when it is valid."""
    parts = key.split("/")
    if len(parts) == 1:
        prefix, name = "", parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
    else:
        return [_QUALIFIED_NAME_MSG]
    errors: list[str] = []
    if prefix:
        if len(prefix) > _DNS1123_SUBDOMAIN_MAX:
            errors.append(f"prefix part must be no more than {_DNS1123_SUBDOMAIN_MAX} characters")
        if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
            errors.append(f"prefix part {_DNS1123_SUBDOMAIN_MSG}")
    if not name:
        errors.append("name part must be non-empty")
    else:
        if len(name) > _NAME_MAX:
            errors.append(f"name part must be no more than {_NAME_MAX} characters")
        if not _NAME_RE.fullmatch(name):
            errors.append(_NAME_FMT_MSG)
    return errors


def validate_label_value(value: str) -> list[str]:
    """Why `value` is not a valid label value; empty when it is valid (``""`` is valid)."""
    errors: list[str] = []
    if len(value) > _NAME_MAX:
        errors.append(f"must be no more than {_NAME_MAX} characters")
    if not _VALUE_RE.fullmatch(value):
        errors.append(_VALUE_FMT_MSG)
    return errors


def _quote(value: Any) -> str:
    """Go's %q for the strings we print, close enough for messages."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[]string{" + ", ".join(_quote(v) for v in value) + "}"
    return repr(value)


def _aggregate(messages: Sequence[str]) -> str:
    """Kubernetes' utilerrors.Aggregate: one error as itself, several as ``[a, b]``."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


# --------------------------------------------------------------------------------------------
# Label selector values
# --------------------------------------------------------------------------------------------


class Operator(StrEnum):
    """A requirement's operator; the values are Kubernetes' ``selection.Operator`` strings."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_SET_OPERATORS = (Operator.IN, Operator.NOT_IN)
_EXACT_OPERATORS = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS)
_NUMERIC_OPERATORS = (Operator.GREATER_THAN, Operator.LESS_THAN)
_UNARY_OPERATORS = (Operator.EXISTS, Operator.DOES_NOT_EXIST)


def _parse_int64(text: str) -> int | None:
    # Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits, no spaces or '_'.
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector: `key` `operator` `values`.

    `values` is sorted and de-duplicated for ``in``/``notin``, has exactly one element for
    ``=``, ``==``, ``!=``, ``gt``, ``lt``, and is empty for ``exists`` and ``!``.
    Build one with `Requirement.new` to have it validated.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: Operator | str, values: Sequence[str] = ()) -> Requirement:
        """A validated requirement; raises `ValueError` with Kubernetes' wording otherwise.

        The caller turns the message into `BadRequest` or `Invalid`: which one depends on
        where the selector came from (a query string or an object's spec).
        """
        if operator in _SET_OPERATORS:
            # Sorted before validating, so "values[i]" in a message indexes the canonical order.
            values = sorted(set(values))
        errors = cls._validate(key, operator, values)
        if errors:
            raise ValueError(_aggregate(errors))
        return cls(key, Operator(operator), tuple(values))

    @staticmethod
    def _validate(key: str, operator: Operator | str, values: Sequence[str]) -> list[str]:
        errors: list[str] = []
        key_problems = validate_label_key(key)
        if key_problems:
            errors.append(f"key: Invalid value: {_quote(key)}: {'; '.join(key_problems)}")
        try:
            op = Operator(operator)
        except ValueError:
            supported = ", ".join(_quote(o.value) for o in Operator)
            return [
                *errors,
                f"operator: Unsupported value: {_quote(str(operator))}: supported values: {supported}",
            ]
        listed = _quote(list(values))
        if op in _SET_OPERATORS and not values:
            errors.append(
                f"values: Invalid value: {listed}: for 'in', 'notin' operators, values set can't be empty"
            )
        elif op in _EXACT_OPERATORS and len(values) != 1:
            errors.append(
                f"values: Invalid value: {listed}: exact-match compatibility requires one single value"
            )
        elif op in _UNARY_OPERATORS and values:
            errors.append(
                f"values: Invalid value: {listed}: values set must be empty for exists and does not exist"
            )
        elif op in _NUMERIC_OPERATORS:
            if len(values) != 1:
                errors.append(
                    f"values: Invalid value: {listed}: for 'Gt', 'Lt' operators, exactly one value is required"
                )
            for i, value in enumerate(values):
                if _parse_int64(value) is None:
                    errors.append(
                        f"values[{i}]: Invalid value: {_quote(value)}: "
                        "for 'Gt', 'Lt' operators, the value must be an integer"
                    )
        for i, value in enumerate(values):
            problems = validate_label_value(value)
            if problems:
                errors.append(f"values[{i}]: Invalid value: {_quote(value)}: {'; '.join(problems)}")
        return errors

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether these labels satisfy this one requirement (absent keys pass ``!=``/``notin``)."""
        present = self.key in labels
        op = self.operator
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        # gt / lt: a label value that is not an integer never matches, it is not an error.
        if not present:
            return False
        have = _parse_int64(labels[self.key])
        want = _parse_int64(self.values[0]) if len(self.values) == 1 else None
        if have is None or want is None:
            return False
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        if op in _SET_OPERATORS:
            return f"{self.key} {op.value} ({','.join(self.values)})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{self.values[0] if self.values else ''}"


# --------------------------------------------------------------------------------------------
# The label selector string grammar
# --------------------------------------------------------------------------------------------
#
#   selector     = [ requirement { "," requirement } ]
#   requirement  = [ "!" ] key | key set_op "(" [ values ] ")" | key exact_op [ value ]
#   set_op       = "in" | "notin"
#   exact_op     = "=" | "==" | "!=" | ">" | "<"
#
# The lexer is Kubernetes': whitespace separates tokens, the symbols are = ! ( ) , > <, and
# anything else up to the next symbol or whitespace is one identifier. "in" and "notin" are
# keywords only where an operator is expected, so a label may be called "in".

_SYMBOLS = "=!(),><"
_TWO_CHAR_SYMBOLS = ("==", "!=")
_WHITESPACE = " \t\r\n"

_IDENT, _BANG, _NEQ, _EQ, _DEQ, _COMMA, _LPAREN, _RPAREN, _GT, _LT, _IN, _NOTIN, _END = (
    "identifier", "!", "!=", "=", "==", ",", "(", ")", ">", "<", "in", "notin", "end of string",
)  # fmt: skip

_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


@dataclass(frozen=True)
class _Token:
    kind: str
    literal: str
    position: int  # 0-based offset into the selector text, for error messages


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _WHITESPACE:
            i += 1
        elif ch in _SYMBOLS:
            symbol = text[i : i + 2] if text[i : i + 2] in _TWO_CHAR_SYMBOLS else ch
            tokens.append(_Token(symbol, symbol, i))
            i += len(symbol)
        else:
            start = i
            while i < len(text) and text[i] not in _SYMBOLS and text[i] not in _WHITESPACE:
                i += 1
            word = text[start:i]
            tokens.append(_Token(word if word in (_IN, _NOTIN) else _IDENT, word, start))
    tokens.append(_Token(_END, "", len(text)))
    return tokens


class _SyntaxError(Exception):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class _Parser:
    """A recursive-descent parser that reports errors in Kubernetes' words."""

    def __init__(self, text: str) -> None:
        self._tokens = _lex(text)
        self._next = 0

    def _peek(self, *, values: bool = True) -> _Token:
        return self._as_context(self._tokens[self._next], values=values)

    def _take(self, *, values: bool = True) -> _Token:
        token = self._tokens[self._next]
        if token.kind != _END:
            self._next += 1
        return self._as_context(token, values=values)

    @staticmethod
    def _as_context(token: _Token, *, values: bool) -> _Token:
        # Where a key or value is expected, the keywords are plain identifiers.
        if values and token.kind in (_IN, _NOTIN):
            return _Token(_IDENT, token.literal, token.position)
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token = self._peek()
            if token.kind == _END:
                return requirements
            if token.kind not in (_IDENT, _BANG):
                raise _SyntaxError(
                    f"found '{token.literal}', expected: !, identifier, or 'end of string'", token.position
                )
            requirements.append(self._requirement())
            token = self._take()
            if token.kind == _END:
                return requirements
            if token.kind != _COMMA:
                raise _SyntaxError(
                    f"found '{token.literal}', expected: ',' or 'end of string'", token.position
                )
            after = self._peek()
            if after.kind not in (_IDENT, _BANG):
                raise _SyntaxError(f"found '{after.literal}', expected: identifier after ','", after.position)

    def _requirement(self) -> Requirement:
        start = self._peek().position
        try:
            key, operator = self._key_and_inferred_operator()
            if operator is None:
                operator, values = self._operator_and_values()
            else:
                values = []
            try:
                return Requirement.new(key, operator, values)
            except ValueError as err:
                raise _SyntaxError(str(err), start) from None
        except _SyntaxError as err:
            raise _SyntaxError(f"unable to parse requirement: {err.message}", err.position) from None

    def _key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        operator: Operator | None = None
        token = self._take()
        if token.kind == _BANG:
            operator = Operator.DOES_NOT_EXIST
            token = self._take()
        if token.kind != _IDENT:
            raise _SyntaxError(f"found '{token.literal}', expected: identifier", token.position)
        problems = validate_label_key(token.literal)
        if problems:
            raise _SyntaxError(
                f"key: Invalid value: {_quote(token.literal)}: {'; '.join(problems)}", token.position
            )
        after = self._peek()
        if after.kind in (_END, _COMMA):
            return token.literal, operator or Operator.EXISTS
        if operator is Operator.DOES_NOT_EXIST:
            # "!a=b" — the negation applies to a key alone, it is not an operator.
            raise _SyntaxError(f"found '{after.literal}', expected: ',' or 'end of string'", after.position)
        return token.literal, None

    def _operator_and_values(self) -> tuple[Operator, list[str]]:
        token = self._take(values=False)
        operator = {
            _IN: Operator.IN, _NOTIN: Operator.NOT_IN, _EQ: Operator.EQUALS, _DEQ: Operator.DOUBLE_EQUALS,
            _NEQ: Operator.NOT_EQUALS, _GT: Operator.GREATER_THAN, _LT: Operator.LESS_THAN,
        }.get(token.kind)  # fmt: skip
        if operator is None:
            raise _SyntaxError(f"found '{token.literal}', expected: {_BINARY_OPERATORS}", token.position)
        if operator in _SET_OPERATORS:
            return operator, self._set_values(operator)
        return operator, [self._exact_value()]

    def _set_values(self, operator: Operator) -> list[str]:
        token = self._take()
        if token.kind != _LPAREN:
            raise _SyntaxError(
                f"found '{token.literal}', expected: '(': values must be in parentheses, "
                f"e.g. 'env {operator.value} (prod,staging)'",
                token.position,
            )
        token = self._peek()
        if token.kind == _RPAREN:
            self._take()
            return [""]  # "a in ()" means the empty value, as in Kubernetes
        if token.kind not in (_IDENT, _COMMA):
            raise _SyntaxError(f"found '{token.literal}', expected: ',', ')' or identifier", token.position)
        values = self._identifier_list()
        token = self._take()
        if token.kind != _RPAREN:
            raise _SyntaxError(f"found '{token.literal}', expected: ')'", token.position)
        return values

    def _identifier_list(self) -> list[str]:
        # An empty slot between commas, "(,a)" or "(a,,b)" or "(a,)", is the empty value.
        values: list[str] = []
        while True:
            token = self._take()
            if token.kind == _IDENT:
                values.append(token.literal)
                after = self._peek()
                if after.kind == _RPAREN:
                    return values
                if after.kind != _COMMA:
                    raise _SyntaxError(f"found '{after.literal}', expected: ',' or ')'", after.position)
            elif token.kind == _COMMA:
                if not values:
                    values.append("")
                after = self._peek()
                if after.kind == _RPAREN:
                    values.append("")
                    return values
                if after.kind == _COMMA:
                    self._take()
                    values.append("")
            else:
                raise _SyntaxError(f"found '{token.literal}', expected: ',', or identifier", token.position)

    def _exact_value(self) -> str:
        token = self._peek()
        if token.kind in (_END, _COMMA):
            return ""  # "a=" selects the empty value
        token = self._take()
        if token.kind != _IDENT:
            raise _SyntaxError(f"found '{token.literal}', expected: identifier", token.position)
        return token.literal


# --------------------------------------------------------------------------------------------
# LabelSelector
# --------------------------------------------------------------------------------------------

_STRUCTURED_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


@dataclass(frozen=True)
class LabelSelector:
    """An AND of label requirements. Build it with `parse` or `from_structured`."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        """The selector of a nil ``metav1.LabelSelector``: no object matches it."""
        return cls(matches_nothing=True)

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the string form (``?labelSelector=``); ``None`` and ``""`` select everything.

        >>> str(LabelSelector.parse("tier in (fe, be),app = web, !canary"))
        'app=web,!canary,tier in (be,fe)'
        """
        if not text or not text.strip():
            return cls()
        try:
            requirements = _Parser(text).parse()
        except _SyntaxError as err:
            raise BadRequest(
                f"invalid label selector {_quote(text)} at position {err.position}: {err.message}"
            ) from None
        # Kubernetes sorts by key (stably), which is what makes the string form canonical.
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @classmethod
    def from_structured(
        cls, selector: Mapping[str, Any] | None, *, field_path: str = "spec.selector"
    ) -> LabelSelector:
        """Convert a ``metav1.LabelSelector`` (``matchLabels`` + ``matchExpressions``).

        ``None`` matches nothing and ``{}`` matches everything, as in Kubernetes. A malformed
        selector raises `Invalid` with one `Cause` per problem, fields under `field_path`.
        """
        if selector is None:
            return cls.nothing()
        causes: list[Cause] = []
        requirements: list[Requirement] = []
        if not isinstance(selector, Mapping):
            causes.append(Cause(field_path, f"Invalid value: {_quote(selector)}: must be an object"))
            raise _invalid(causes)
        match_labels = selector.get("matchLabels") or {}
        labels_path = f"{field_path}.matchLabels"
        if not isinstance(match_labels, Mapping):
            causes.append(Cause(labels_path, f"Invalid value: {_quote(match_labels)}: must be an object"))
            match_labels = {}
        for key, value in match_labels.items():
            if not isinstance(key, str) or not isinstance(value, str):
                causes.append(
                    Cause(labels_path, f"Invalid value: {_quote(value)}: label values must be strings")
                )
                continue
            key_problems = validate_label_key(key)
            if key_problems:
                causes.append(Cause(labels_path, f"Invalid value: {_quote(key)}: {'; '.join(key_problems)}"))
            value_problems = validate_label_value(value)
            if value_problems:
                causes.append(
                    Cause(labels_path, f"Invalid value: {_quote(value)}: {'; '.join(value_problems)}")
                )
            if not key_problems and not value_problems:
                requirements.append(Requirement(key, Operator.EQUALS, (value,)))
        expressions = selector.get("matchExpressions") or []
        if not isinstance(expressions, list):
            causes.append(
                Cause(
                    f"{field_path}.matchExpressions", f"Invalid value: {_quote(expressions)}: must be a list"
                )
            )
            expressions = []
        for i, expression in enumerate(expressions):
            requirement = _structured_requirement(expression, f"{field_path}.matchExpressions[{i}]", causes)
            if requirement is not None:
                requirements.append(requirement)
        if causes:
            raise _invalid(causes)
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @property
    def empty(self) -> bool:
        """True for the match-everything selector (no requirements)."""
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.matches_nothing:
            return False
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)

    def exact(self, key: str) -> str | None:
        """The value `key` must equal (``key=v`` or ``key in (v)``), if the selector pins one.

        Kubernetes: labels.Selector.RequiresExactMatch — lets a store use an index.
        """
        for r in self.requirements:
            if r.key == key and r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN):
                if len(r.values) == 1:
                    return r.values[0]
        return None

    def to_structured(self) -> dict[str, Any] | None:
        """The ``metav1.LabelSelector`` equivalent; ``None`` for the nothing-selector.

        Raises `ValueError` for ``!=``, ``gt`` and ``lt``, which the structured form cannot say.
        """
        if self.matches_nothing:
            return None
        match_labels: dict[str, str] = {}
        expressions: list[dict[str, Any]] = []
        names = {v: k for k, v in _STRUCTURED_OPERATORS.items()}
        for r in self.requirements:
            if r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS) and r.key not in match_labels:
                match_labels[r.key] = r.values[0]
            elif r.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS):
                expressions.append({"key": r.key, "operator": "In", "values": list(r.values)})
            elif r.operator in names:
                expression: dict[str, Any] = {"key": r.key, "operator": names[r.operator]}
                if r.values:
                    expression["values"] = list(r.values)
                expressions.append(expression)
            else:
                raise ValueError(f"operator {r.operator.value!r} has no structured form")
        out: dict[str, Any] = {}
        if match_labels:
            out["matchLabels"] = match_labels
        if expressions:
            out["matchExpressions"] = expressions
        return out

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        if self.matches_nothing:
            return "LabelSelector.nothing()"
        return f"LabelSelector.parse({str(self)!r})"


def _structured_requirement(expression: Any, path: str, causes: list[Cause]) -> Requirement | None:
    """One ``matchExpressions`` entry, or None after appending why it is invalid."""
    if not isinstance(expression, Mapping):
        causes.append(Cause(path, f"Invalid value: {_quote(expression)}: must be an object"))
        return None
    before = len(causes)
    key = expression.get("key")
    operator = expression.get("operator")
    values = expression.get("values") or []
    if not isinstance(key, str) or not key:
        causes.append(Cause(f"{path}.key", "Required value", "FieldValueRequired"))
    else:
        problems = validate_label_key(key)
        if problems:
            causes.append(Cause(f"{path}.key", f"Invalid value: {_quote(key)}: {'; '.join(problems)}"))
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        causes.append(Cause(f"{path}.values", f"Invalid value: {_quote(values)}: must be a list of strings"))
        values = []
    op = _STRUCTURED_OPERATORS.get(operator) if isinstance(operator, str) else None
    if op is None:
        supported = ", ".join(_quote(name) for name in _STRUCTURED_OPERATORS)
        causes.append(
            Cause(
                f"{path}.operator",
                f"Unsupported value: {_quote(operator)}: supported values: {supported}",
                "FieldValueNotSupported",
            )
        )
    elif op in _SET_OPERATORS and not values:
        causes.append(
            Cause(
                f"{path}.values",
                "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "FieldValueRequired",
            )
        )
    elif op in _UNARY_OPERATORS and values:
        causes.append(
            Cause(
                f"{path}.values",
                "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "FieldValueForbidden",
            )
        )
    for i, value in enumerate(values):
        problems = validate_label_value(value)
        if problems:
            causes.append(
                Cause(f"{path}.values[{i}]", f"Invalid value: {_quote(value)}: {'; '.join(problems)}")
            )
    if len(causes) > before or op is None or not isinstance(key, str):
        return None
    return Requirement(key, op, tuple(sorted(set(values))) if op in _SET_OPERATORS else ())


def _invalid(causes: list[Cause]) -> Invalid:
    message = _aggregate([f"{c.field}: {c.message}" for c in causes])
    return Invalid(f"invalid label selector: {message}", causes=causes)


# --------------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------------

# field label -> (path into the JSON object, the value when the path is absent).
# The defaults are what Kubernetes' per-kind field-set functions produce for a zero Go value:
# an unset bool is "false", an unset int is "0", an unset string is "".
_FieldPath = tuple[tuple[str, ...], str]

_COMMON_FIELDS: dict[str, _FieldPath] = {
    "metadata.name": (("metadata", "name"), ""),
    "metadata.namespace": (("metadata", "namespace"), ""),
}

_RESOURCE_FIELDS: dict[str, dict[str, _FieldPath]] = {
    "pods": {
        "spec.nodeName": (("spec", "nodeName"), ""),
        "spec.restartPolicy": (("spec", "restartPolicy"), ""),
        "spec.schedulerName": (("spec", "schedulerName"), ""),
        "spec.serviceAccountName": (("spec", "serviceAccountName"), ""),
        "status.phase": (("status", "phase"), ""),
        "status.podIP": (("status", "podIP"), ""),
        "status.nominatedNodeName": (("status", "nominatedNodeName"), ""),
    },
    "nodes": {
        "spec.unschedulable": (("spec", "unschedulable"), "false"),
    },
    "events": {
        "involvedObject.kind": (("involvedObject", "kind"), ""),
        "involvedObject.namespace": (("involvedObject", "namespace"), ""),
        "involvedObject.name": (("involvedObject", "name"), ""),
        "involvedObject.uid": (("involvedObject", "uid"), ""),
        "involvedObject.apiVersion": (("involvedObject", "apiVersion"), ""),
        "involvedObject.resourceVersion": (("involvedObject", "resourceVersion"), ""),
        "involvedObject.fieldPath": (("involvedObject", "fieldPath"), ""),
        "reason": (("reason",), ""),
        "reportingComponent": (("reportingComponent",), ""),
        # Kubernetes maps the field label "source" to Event.source.component.
        "source": (("source", "component"), ""),
        "type": (("type",), ""),
    },
    "namespaces": {
        "status.phase": (("status", "phase"), ""),
    },
    "secrets": {
        "type": (("type",), ""),
    },
    "replicasets.apps": {
        "status.replicas": (("status", "replicas"), "0"),
    },
}


def supported_fields(group_resource: str) -> tuple[str, ...]:
    """The field labels a field selector may use on this resource, in a stable order."""
    return (*_COMMON_FIELDS, *_RESOURCE_FIELDS.get(_normalize_group_resource(group_resource), {}))


def _normalize_group_resource(group_resource: str) -> str:
    # "replicasets" alone is accepted too: callers sometimes drop the group for apps resources.
    return "replicasets.apps" if group_resource == "replicasets" else group_resource


def _field_path(group_resource: str, field: str) -> _FieldPath | None:
    return _COMMON_FIELDS.get(field) or _RESOURCE_FIELDS.get(
        _normalize_group_resource(group_resource), {}
    ).get(field)


def _selectable_value(obj: Mapping[str, Any], path: _FieldPath) -> str:
    keys, default = path
    node: Any = obj
    for key in keys:
        if not isinstance(node, Mapping) or node.get(key) is None:
            return default
        node = node[key]
    if isinstance(node, bool):  # before int: bool is an int in Python
        return "true" if node else "false"
    if isinstance(node, int | float | str):
        return str(node)
    return default


def escape_field_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` so a value can sit inside a field selector string."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(text: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            if ch not in "\\,=":
                raise BadRequest(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise BadRequest(f"invalid field selector: unescaped character in value: {ch}")
        else:
            out.append(ch)
    if escaped:
        raise BadRequest("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped; the escapes stay in the terms."""
    terms: list[str] = []
    start = 0
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


_FIELD_OPERATORS = ("!=", "==", "=")  # "==" before "=" so "a==b" does not leave "=b"


@dataclass(frozen=True)
class FieldRequirement:
    """``field = value`` (`operator` ``"="``; ``==`` is read as ``=``) or ``field != value``."""

    field: str
    operator: str
    value: str

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of field requirements on one resource. Build it with `parse`."""

    group_resource: str = ""
    requirements: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None, *, group_resource: str) -> FieldSelector:
        """Parse ``?fieldSelector=`` for `group_resource` (``pods``, ``replicasets.apps``, ...).

        >>> str(FieldSelector.parse("status.phase!=Failed,spec.nodeName==n1", group_resource="pods"))
        'spec.nodeName=n1,status.phase!=Failed'
        """
        if not text:
            return cls(group_resource)
        requirements: list[FieldRequirement] = []
        # Kubernetes sorts the raw terms, which is what makes the string form canonical.
        for term in sorted(_split_terms(text)):
            if not term:
                continue
            split = _split_term(term)
            if split is None:
                raise BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
            field, operator, raw_value = split
            value = _unescape_field_value(raw_value)
            if _field_path(group_resource, field) is None:
                raise BadRequest(f"field label not supported: {field}")
            requirements.append(FieldRequirement(field, "!=" if operator == "!=" else "=", value))
        return cls(group_resource, tuple(requirements))

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        for r in self.requirements:
            path = _field_path(self.group_resource, r.field)
            have = _selectable_value(obj, path) if path is not None else ""
            if (have == r.value) != (r.operator == "="):
                return False
        return True

    def exact(self, field: str) -> str | None:
        """The value an ``=`` requirement pins `field` to, if any.

        The store uses it to push ``metadata.name``/``metadata.namespace``/``spec.nodeName``
        down into SQL. It must still apply `matches` to the rows: ``a=x,a=y`` pins ``x`` here
        but matches nothing. Kubernetes: fields.Selector.RequiresExactMatch.
        """
        for r in self.requirements:
            if r.field == field and r.operator == "=":
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector.parse({str(self)!r}, group_resource={self.group_resource!r})"


def _split_term(term: str) -> tuple[str, str, str] | None:
    # Field names cannot be escaped, so the first operator found is the split point.
    for i in range(len(term)):
        for op in _FIELD_OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None
