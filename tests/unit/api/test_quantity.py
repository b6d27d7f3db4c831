"""Quantities parse, round and print back the way Kubernetes does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orchestrator.api.quantity import (
    ERR_FORMAT_WRONG,
    ERR_NUMERIC,
    ERR_SUFFIX,
    canonical,
    cpu_millis,
    format_quantity,
    memory_bytes,
    parse_quantity,
    quantity_format,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", Decimal(0)),
        ("1", Decimal(1)),
        ("100m", Decimal("0.1")),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
        ("+2", Decimal(2)),
        ("-1", Decimal(-1)),
        ("5n", Decimal("5e-9")),
        ("5u", Decimal("5e-6")),
        ("2k", Decimal(2000)),
        ("3M", Decimal(3_000_000)),
        ("1G", Decimal(10**9)),
        ("1T", Decimal(10**12)),
        ("1P", Decimal(10**15)),
        ("1E", Decimal(10**18)),
        ("1Ki", Decimal(1024)),
        ("128Mi", Decimal(128 * 2**20)),
        ("1.5Gi", Decimal(1536 * 2**20)),
        ("1Ti", Decimal(2**40)),
        ("1Pi", Decimal(2**50)),
        ("1Ei", Decimal(2**60)),
        ("1e3", Decimal(1000)),
        ("5E-1", Decimal("0.5")),
        ("1.5e+3", Decimal(1500)),
        (" 250m ", Decimal("0.25")),
        (2, Decimal(2)),
        (0.5, Decimal("0.5")),
    ],
)
def test_valid_quantities_parse_to_their_exact_value(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ERR_FORMAT_WRONG),
        ("abc", ERR_FORMAT_WRONG),
        ("1Gb", ERR_FORMAT_WRONG),
        ("1 Gi", ERR_FORMAT_WRONG),
        ("1.2.3", ERR_FORMAT_WRONG),
        ("Mi", ERR_FORMAT_WRONG),
        ("1K", ERR_SUFFIX),
        ("1e", ERR_SUFFIX),
        ("1iM", ERR_SUFFIX),
        (".", ERR_NUMERIC),
        (True, ERR_FORMAT_WRONG),
        (float("nan"), ERR_NUMERIC),
        (float("inf"), ERR_NUMERIC),
    ],
)
def test_invalid_quantities_raise_kubernetes_message(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_quantity(text)
    assert str(caught.value) == message


def test_format_error_quotes_the_upstream_regular_expression() -> None:
    assert ERR_FORMAT_WRONG == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_values_below_one_nano_round_up_to_one_nano() -> None:
    assert parse_quantity("0.1n") == Decimal("1e-9")


@pytest.mark.parametrize(
    ("text", "millis"),
    [("250m", 250), ("1", 1000), ("1.5", 1500), ("0.1m", 1), ("1n", 1), ("2k", 2_000_000)],
)
def test_cpu_millis_rounds_up(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "size"),
    [("128Mi", 134_217_728), ("1k", 1000), ("1Gi", 2**30), ("0.5", 1), ("1e3", 1000)],
)
def test_memory_bytes_rounds_up(text: str, size: int) -> None:
    assert memory_bytes(text) == size


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1500", "1500"),
        ("2000", "2k"),
        ("1024Ki", "1Mi"),
        ("1.5Gi", "1536Mi"),
        ("512", "512"),
        ("1e3", "1e3"),
        ("5E-1", "500e-3"),
        ("0", "0"),
        (1, "1"),
        (0.25, "250m"),
    ],
)
def test_canonical_form_keeps_the_writers_suffix_family(text: str | int | float, printed: str) -> None:
    assert canonical(text) == printed


def test_binary_value_that_is_not_whole_prints_as_decimal() -> None:
    assert format_quantity(Decimal("0.5"), "BinarySI") == "500m"


def test_format_of_each_suffix_family_is_reported() -> None:
    assert [quantity_format(t) for t in ("1k", "1Ki", "1e3", 3)] == [
        "DecimalSI", "BinarySI", "DecimalExponent", "DecimalSI",
    ]
