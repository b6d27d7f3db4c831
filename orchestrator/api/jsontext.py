"""Which JSON text can be stored: PostgreSQL's jsonb (like Kubernetes' etcd, which holds UTF-8)
cannot hold the NUL character or unpaired UTF-16 surrogates, which Python's json module accepts
(``"\\ud800"``, or surrogate bytes in a body). Checked where a body is decoded, so such a request
is a 400 and never reaches storage."""

from __future__ import annotations

from typing import Any

from orchestrator.api.errors import BadRequest


def check_storable_text(value: Any, path: str = "") -> None:
    """PostgreSQL's jsonb holds any JSON except the NUL character and unpaired UTF-16 surrogates
    (which Python's json module lets through); refuse those with a clear error instead of a
    failed transaction."""
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
            check_storable_text(key, path)
            check_storable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_storable_text(item, f"{path}[{i}]")
