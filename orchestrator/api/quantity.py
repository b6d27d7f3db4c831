"""Resource quantities: ``500m`` CPU, ``128Mi`` memory, ``1e3`` anything.

A quantity is a decimal number with an optional suffix. Three suffix families exist and the
family chosen by the writer is kept when the quantity is printed again (its *format*):

    decimal SI   n u m "" k M G T P E      ``1500m`` = 1.5,  ``2k`` = 2000
    binary SI    Ki Mi Gi Ti Pi Ei         ``1Gi``  = 1024**3 = 1073741824
    exponent     e<n> / E<n>               ``1e3``  = 1000,  ``5E-1`` = 0.5

Worked example: ``parse_quantity("1.5Gi")`` is ``Decimal(1610612736)``; its canonical form
(``canonical("1.5Gi")``) is ``"1536Mi"``, because Kubernetes prints the largest suffix that
keeps the number whole; ``canonical("0.5")`` is ``"500m"``; ``cpu_millis("0.1m")`` is 1,
because a request is never rounded *down* to less than was asked for.

Kubernetes equivalent: k8s.io/apimachinery/pkg/api/resource/quantity.go
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation, localcontext
from functools import lru_cache
from typing import Literal

Format = Literal["DecimalSI", "BinarySI", "DecimalExponent"]

SPLIT_RE = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_DECIMAL_SUFFIXES: dict[str, int] = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}
_BINARY_SUFFIXES: dict[str, int] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_EXPONENT_RE = re.compile(r"^[eE]([-+]?[0-9]+)$")
# The number, then whatever follows it; the suffix is checked against the tables above.
_NUMBER_RE = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$", re.DOTALL)
_SUFFIX_CHARS_RE = re.compile(r"^[eEinumkKMGTP]*[-+]?[0-9]*$")
_NANO = Decimal("1e-9")


def _split(value: str) -> tuple[Decimal, Format]:
    """The value and the format the writer used, or ValueError with Kubernetes' message."""
    if not value:
        raise ValueError(ERR_FORMAT_WRONG)
    match = _NUMBER_RE.match(value)
    assert match is not None  # the pattern accepts every string
    sign, whole, fraction, suffix = match.groups()
    if not whole and not fraction:
        # "." and "+" have no digit at all; "Mi" has no number.
        raise ValueError(ERR_FORMAT_WRONG if not value.startswith(".") else ERR_NUMERIC)
    if not _SUFFIX_CHARS_RE.match(suffix):
        raise ValueError(ERR_FORMAT_WRONG)
    number = Decimal(f"{sign}{whole or '0'}.{fraction or '0'}")
    if suffix in _DECIMAL_SUFFIXES:
        return number.scaleb(_DECIMAL_SUFFIXES[suffix]), "DecimalSI"
    if suffix in _BINARY_SUFFIXES:
        return number * (1 << _BINARY_SUFFIXES[suffix]), "BinarySI"
    exponent = _EXPONENT_RE.match(suffix)
    if exponent is not None:
        return number.scaleb(int(exponent.group(1))), "DecimalExponent"
    raise ValueError(ERR_SUFFIX)


def _coerce(value: str | int | float | Decimal) -> tuple[Decimal, Format]:
    if isinstance(value, bool):
        # JSON true is not a number; Kubernetes rejects it while decoding.
        raise ValueError(ERR_FORMAT_WRONG)
    if isinstance(value, int):
        return Decimal(value), "DecimalSI"
    if isinstance(value, float | Decimal):
        # A JSON number like 0.5 is read as its decimal text, as Kubernetes does.
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(ERR_NUMERIC) from None
        if not number.is_finite():
            raise ValueError(ERR_NUMERIC)
        return number, "DecimalSI"
    if isinstance(value, str):
        # JSON decoding trims surrounding spaces before parsing, as upstream UnmarshalJSON does.
        return _split(value.strip())
    raise ValueError(ERR_FORMAT_WRONG)


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """The exact value of a quantity; ``ValueError`` with Kubernetes' message when malformed.

    Values below one nano unit are rounded up to it, as Kubernetes does ("0.1n" is 1n).
    """
    if type(value) is str:
        return _parse_text(value)
    number, _ = _coerce(value)
    return _round_up_to_nano(number)


# Every pod's create parses and prints the same few quantities ("100m", "64Mi") several times:
# remembered, as decimal arithmetic is slow in Python. Decimals and strings are immutable, and a
# malformed text raises every time (exceptions are not cached).
@lru_cache(maxsize=4096)
def _parse_text(value: str) -> Decimal:
    number, _ = _coerce(value)
    return _round_up_to_nano(number)


@lru_cache(maxsize=4096)
def _canonical_text(value: str) -> str:
    number, fmt = _coerce(value)
    return format_quantity(number, fmt)


def quantity_format(value: str | int | float | Decimal) -> Format:
    """Which suffix family the writer used (kept when the quantity is printed again)."""
    return _coerce(value)[1]


def _round_up_to_nano(number: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        rounded = number.quantize(_NANO, rounding=ROUND_CEILING)
    return rounded.normalize() if rounded != 0 else Decimal(0)


def _ceil_int(number: Decimal) -> int:
    with localcontext() as ctx:
        ctx.prec = 60
        return int(number.to_integral_value(rounding=ROUND_CEILING))


def cpu_millis(quantity: str | int | float | Decimal) -> int:
    """CPU in thousandths of a core, rounded up: ``"250m"`` → 250, ``"1.5"`` → 1500."""
    return _ceil_int(parse_quantity(quantity) * 1000)


def memory_bytes(quantity: str | int | float | Decimal) -> int:
    """Bytes, rounded up: ``"128Mi"`` → 134217728, ``"1k"`` → 1000."""
    return _ceil_int(parse_quantity(quantity))


def format_quantity(value: Decimal | int, fmt: Format = "DecimalSI") -> str:
    """The canonical text of a value, with the largest suffix that keeps the number whole.

    ``format_quantity(Decimal("0.5"))`` is ``"500m"``; ``format_quantity(1536 * 2**20, "BinarySI")``
    is ``"1536Mi"``; a BinarySI value below 1024 or not whole falls back to DecimalSI, like upstream.
    """
    number = _round_up_to_nano(Decimal(value))
    if number == 0:
        return "0"
    if fmt == "BinarySI" and number == number.to_integral_value() and abs(number) >= 1024:
        whole = int(number)
        for suffix, shift in reversed(_BINARY_SUFFIXES.items()):
            if whole % (1 << shift) == 0:
                return f"{whole >> shift}{suffix}"
        return str(whole)
    # Find the largest power of 1000 (from nano up to exa) that leaves a whole mantissa.
    exponent = -9
    for candidate in range(18, -10, -3):
        if (number.scaleb(-candidate)) == number.scaleb(-candidate).to_integral_value():
            exponent = candidate
            break
    mantissa = int(number.scaleb(-exponent))
    if fmt == "DecimalExponent":
        return f"{mantissa}" if exponent == 0 else f"{mantissa}e{exponent}"
    suffix = next(s for s, e in _DECIMAL_SUFFIXES.items() if e == exponent)
    return f"{mantissa}{suffix}"


def canonical(value: str | int | float | Decimal) -> str:
    """How Kubernetes prints a quantity back: ``"0.5"`` → ``"500m"``, ``"1024Ki"`` → ``"1Mi"``."""
    if type(value) is str:
        return _canonical_text(value)
    number, fmt = _coerce(value)
    return format_quantity(number, fmt)
