"""The limits the hostile-input and slow-client tests rely on, without a server: the flags that
set them, and the document limits (depth, integer range) applied to every decoded body."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.api.errors import BadRequest
from orchestrator.api.jsontext import MAX_DEPTH, check_json_limits
from orchestrator.apiserver.settings import Settings


def _args(tmp_path: Path, *extra: str) -> list[str]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("t,admin,admin,system:masters\n")
    return ["--database-url", "postgresql://x@127.0.0.1/x", "--redis-url", "redis://127.0.0.1/0",
            "--token-auth-file", str(tokens), *extra]


def test_the_limits_default_to_kube_apiservers_request_timeout_and_4096_watches(tmp_path: Path) -> None:
    settings = Settings.from_args(_args(tmp_path))
    assert (settings.request_timeout_seconds, settings.max_watches) == (60.0, 4096)


def test_the_limits_are_set_by_flags(tmp_path: Path) -> None:
    settings = Settings.from_args(_args(tmp_path, "--request-timeout", "2.5", "--max-watches", "10"))
    assert (settings.request_timeout_seconds, settings.max_watches) == (2.5, 10)


@pytest.mark.parametrize(("flag", "value"), [("--request-timeout", "0"), ("--request-timeout", "-1"),
                                             ("--max-watches", "0"), ("--max-watches", "many")])
def test_a_limit_that_cannot_work_is_refused_naming_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             flag: str, value: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        Settings.from_args(_args(tmp_path, flag, value))
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth - 1):
        value = [value]
    return value


def test_documents_up_to_the_depth_limit_pass_and_deeper_ones_are_400() -> None:
    check_json_limits(nested(MAX_DEPTH))
    with pytest.raises(BadRequest, match="nested too deeply"):
        check_json_limits(nested(MAX_DEPTH + 2))


def test_the_depth_check_does_not_recurse() -> None:
    with pytest.raises(BadRequest, match="nested too deeply"):
        check_json_limits(nested(100_000))  # far beyond Python's recursion limit


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30, float("inf"), float("nan")])
def test_numbers_no_int64_or_finite_float_can_be_are_400_naming_the_field(value: float) -> None:
    with pytest.raises(BadRequest, match=r"spec\.replicas"):
        check_json_limits({"spec": {"replicas": value}})


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 0, 1.5, True, "9" * 40])
def test_int64_values_floats_booleans_and_strings_pass(value: object) -> None:
    check_json_limits({"spec": {"replicas": value}})
