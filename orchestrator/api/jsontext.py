"""Which JSON text can be stored: PostgreSQL's jsonb (like Kubernetes' etcd, which holds UTF-8)
cannot hold the NUL character or unpaired UTF-16 surrogates, which Python's json module accepts
(``"\\ud800"``, or surrogate bytes in a body). Checked where a body is decoded, so such a request
is a 400 and never reaches storage.

And which JSON the API serves at all (``check_json_limits``): nested at most MAX_DEPTH deep (the
server's code walks documents recursively; real objects are about 10 deep), and every integer an
int64, as Kubernetes' types are (Go clients cannot decode a bigger one: one stored object with
``replicas: 1e30`` would break every ``kubectl get``)."""

from __future__ import annotations

import json
from typing import Any

import orjson

from orchestrator.api.errors import BadRequest

MAX_DEPTH = 100
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def storable_json_text(value: Any) -> str | None:
    """``value`` as compact JSON text (not ASCII-escaped) when it holds only text PostgreSQL's
    jsonb can store, else None; one encode in C (orjson) instead of a walk in Python. The text is
    what the store writes, so the check costs nothing more there. orjson refuses an unpaired
    surrogate and writes NUL as the escape ``\\u0000``; what it refuses for other reasons (an integer
    beyond 64 bits, a key that is not a string) is also None: the caller walks the document."""
    try:
        raw = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None
    # NUL is written as \u0000; a backslash before it (the text "\\u0000") only sends us to the walk
    return None if b"\\u0000" in raw else raw.decode()


def loads_stored(text: str | bytes) -> Any:
    """Decode JSON text the server wrote itself (a stored document, as PostgreSQL prints it) with
    orjson, in C and about 2-3x as fast as the json module. One difference: orjson reads an integer
    beyond 64 bits as a float, where the json module gives an int. The limits keep such integers out
    of every write (``check_json_limits``); a float that large (``1e+20``) is read back as a float,
    as it was sent. Text orjson refuses is decoded by the json module."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps_compact(value: Any) -> bytes:
    """``value`` as compact JSON bytes, by orjson (about 5x the json module on a large answer). It
    writes non-ASCII text as UTF-8 rather than \\u escapes; both are the same JSON. What orjson refuses
    (an integer beyond 64 bits, an unpaired surrogate) is encoded by the json module, as before."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":")).encode()


class _NeedsCheck(Exception):
    """A number the limits may refuse: decode again and walk the document for the message."""


def _int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _NeedsCheck
    return value


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NeedsCheck
    return value


def _constant(text: str) -> float:
    raise _NeedsCheck  # NaN, Infinity, -Infinity


def loads_checked(raw: bytes) -> Any:
    """``json.loads`` of a request body, then check_json_limits and check_storable_text, with the
    walks of the whole document only where a cheap look cannot settle them: numbers are checked as
    they are parsed, depth by counting brackets, and text that is ASCII without a ``\\u`` escape
    can hold neither NUL nor a surrogate (a raw control character is already a decoding error)."""
    try:
        value = json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _NeedsCheck:
        value = json.loads(raw)
        check_json_limits(value)
    else:
        if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
            check_json_limits(value)
    if not raw.isascii() or b"\\u" in raw:
        check_storable_text(value)
    return value


def check_json_limits(value: Any) -> None:
    """Refuse a decoded document nested deeper than MAX_DEPTH or holding a number no int64 or
    finite float64 can be. Iterative, so a deep document cannot exhaust the stack here."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise BadRequest(f"the object is nested too deeply: more than {MAX_DEPTH} levels at {(path or 'the top')[:120]}")
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(child, dict | list | int | float) and not isinstance(child, bool):
                    child_path = f"{path}[{key}]" if isinstance(item, list) else (f"{path}.{key}" if path else str(key))
                    stack.append((child, depth + 1, child_path))
        elif isinstance(item, int) and not isinstance(item, bool):
            if not INT64_MIN <= item <= INT64_MAX:
                raise BadRequest(f"{path or 'the object'}: {item} is out of range (integers are 64-bit)")
        elif isinstance(item, float) and (item != item or item in (float("inf"), float("-inf"))):
            raise BadRequest(f"{path or 'the object'}: {item} is not a finite number")


def check_storable_text(value: Any, path: str = "") -> None:
    """PostgreSQL's jsonb holds any JSON except the NUL character and unpaired UTF-16 surrogates
    (which Python's json module lets through); refuse those with a clear error instead of a
    failed transaction."""
    if isinstance(value, dict | list) and storable_json_text(value) is not None:
        return  # the common case, proven in C; the walk below finds the field to name
    _walk_storable_text(value, path)


def _walk_storable_text(value: Any, path: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise BadRequest(f"{path or 'the object'}: strings may not contain the NUL character (\\u0000)")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f"{path or 'the object'}: strings must be valid Unicode "
                             "(an unpaired surrogate such as \\ud800 is not)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk_storable_text(key, path)
            _walk_storable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk_storable_text(item, f"{path}[{i}]")
