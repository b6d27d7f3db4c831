"""`labctl up --bind-address`: where the API server listens (a classroom's students reach it from
other machines); every other component stays on loopback. Bad values are refused by name."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from orchestrator.cli.main import app
from orchestrator.lab.home import LabHome
from orchestrator.lab.up import LabContext, control_plane


def _argv(ctx: LabContext, name: str) -> list[str]:
    return next(spec.argv for spec in control_plane(ctx) if spec.name == name)


def _ctx(tmp_path: Path, **kwargs: str) -> LabContext:
    return LabContext(home=LabHome(tmp_path), database_url="postgresql://x/y", redis_url="redis://x",
                      apiserver_port=6443, nodes=0, runtime="simulated", **kwargs)  # type: ignore[arg-type]


def _bind(argv: list[str]) -> str:
    return argv[argv.index("--bind-address") + 1]


def test_the_api_server_listens_on_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    assert _bind(_argv(_ctx(tmp_path), "apiserver")) == "127.0.0.1"
    wide = _ctx(tmp_path, bind_address="0.0.0.0")
    assert _bind(_argv(wide, "apiserver")) == "0.0.0.0"
    assert _bind(_argv(wide, "scheduler")) == "127.0.0.1"  # only the API server faces the room


def test_a_bind_address_that_is_not_an_ip_is_one_error_naming_the_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["up", "--bind-address", "everywhere"], env={"LABKIT_HOME": str(tmp_path)})
    assert result.exit_code == 1
    assert "--bind-address 'everywhere' is not an IP address" in result.stderr
    assert not (tmp_path / "run").exists()  # refused before anything started
