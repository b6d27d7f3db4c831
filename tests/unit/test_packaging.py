"""The docker compose stack, the orchestrator image and the conda environment: what can be checked here.

The compose file must name every component, each with a command the image's entrypoint maps to a
module that exists and flags that module accepts; the credentials it starts from must be what the
components read; every image it names must be one docker/build-images.sh makes offline (no registry
image anywhere). Building the images and running the stack is
tests/integration/test_compose_stack.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
BUILD_SCRIPT = DOCKER / "build-images.sh"
COMPONENTS = ("apiserver", "relay", "scheduler", "controller-manager", "node-1", "node-2")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


@cache
def entrypoints() -> dict[str, list[str]]:
    """entrypoint.sh's table: component name → the command it execs (without "$@")."""
    table = {}
    for name, command in re.findall(r"^\s*([a-z-]+)\)\s+exec (.+?) \"\$@\" ;;$", (DOCKER / "entrypoint.sh").read_text(),
                                    flags=re.M):
        table[name] = shlex.split(command)
    return table


def _orchestrator_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if s.get("image", "").startswith("labkit/orchestrator")}


def test_compose_runs_every_component_with_real_postgres_and_redis() -> None:
    services = compose()["services"]
    assert set(COMPONENTS) <= set(services)
    assert services["postgres"]["image"] == "labkit/postgres:compose"
    assert services["redis"]["image"] == "labkit/redis:compose"
    for node in ("node-1", "node-2"):
        assert "/var/run/docker.sock:/var/run/docker.sock" in services[node]["volumes"]
        assert "--runtime=docker" in services[node]["command"]


def test_every_compose_command_is_an_entrypoint_whose_module_exists() -> None:
    table = entrypoints()
    assert {"apiserver", "relay", "scheduler", "controllers", "nodeagent", "labctl", "credentials"} <= set(table)
    for service, spec in _orchestrator_services().items():
        command = spec["command"]
        assert command[0] in table, f"{service}: {command[0]!r} is not in docker/entrypoint.sh"
    for name, argv in table.items():
        assert argv[0] == "python", (name, argv)
        if argv[1] == "-m":
            assert importlib.util.find_spec(argv[2]) is not None, f"{name}: no module {argv[2]}"
        else:  # a script docker/build-images.sh installs into the image
            script = Path(argv[1])
            assert (DOCKER / script.name).is_file(), f"{name}: no docker/{script.name}"
            assert f"/src/{script.name} {script}" in BUILD_SCRIPT.read_text(), f"{script} is not installed"


# Prints {target: its --help text} for each target (a module, or a script path) given as an argument;
# one interpreter for all of them, as each start costs seconds on a busy machine.
HELP_TEXTS = """
import contextlib, io, json, runpy, sys
texts = {}
for target in sys.argv[1:]:
    out = io.StringIO()
    sys.argv = [target, "--help"]
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        if target.endswith(".py"):
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    texts[target] = out.getvalue()
print(json.dumps(texts))
"""


def test_every_flag_in_the_compose_file_is_one_the_component_accepts() -> None:
    table = entrypoints()
    targets = {}
    for service, spec in _orchestrator_services().items():
        argv = table[spec["command"][0]]
        targets[service] = argv[2] if argv[1] == "-m" else str(DOCKER / Path(argv[1]).name)
    result = subprocess.run([sys.executable, "-c", HELP_TEXTS, *sorted(set(targets.values()))], capture_output=True,
                            text=True, timeout=300, cwd=REPO, env=dict(os.environ, LABKIT_HOME="/nonexistent"))
    assert result.returncode == 0, result.stderr
    texts = json.loads(result.stdout)
    for service, target in targets.items():
        assert "usage:" in texts[target], (target, texts[target])
        for arg in _orchestrator_services()[service]["command"][1:]:
            if arg.startswith("--"):
                flag = arg.split("=", 1)[0]
                assert re.search(rf"{re.escape(flag)}\b", texts[target]), f"{service}: {flag} is not a flag of {target}"


def test_components_read_the_credentials_the_init_service_writes(tmp_path: Path) -> None:
    home = tmp_path / "lab"
    result = subprocess.run([sys.executable, str(DOCKER / "credentials.py"), "--nodes", "2"], capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, LABKIT_HOME=str(home)))
    assert result.returncode == 0, result.stderr
    paths = [arg.split("=", 1)[1] for spec in _orchestrator_services().values() for arg in spec["command"]
             if arg.split("=", 1)[0].endswith(("-file", "kubeconfig", "-config")) and "=" in arg]
    assert paths
    for path in paths:
        assert path.startswith("/lab/"), path
        assert (home / path.removeprefix("/lab/")).is_file(), f"{path} is not written by docker/credentials.py"
    cert = x509.load_pem_x509_certificate((home / "pki" / "apiserver.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert "apiserver" in names  # the service name the components connect to
    inside = yaml.safe_load((home / "kubeconfigs" / "scheduler.kubeconfig").read_text())
    outside = yaml.safe_load((home / "host-admin.kubeconfig").read_text())
    assert inside["clusters"][0]["cluster"]["server"] == "https://apiserver:6443"
    assert outside["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    again = subprocess.run([sys.executable, str(DOCKER / "credentials.py")], capture_output=True, text=True,
                           timeout=120, env=dict(os.environ, LABKIT_HOME=str(home)))
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load((home / "host-admin.kubeconfig").read_text()) == outside  # idempotent: same token, same CA


def test_every_image_of_the_stack_is_one_the_offline_build_tags() -> None:
    script = BUILD_SCRIPT.read_text()
    assert "STACK_TAG=compose" in script
    for service, spec in compose()["services"].items():
        assert "build" not in spec, f"{service}: the images come from docker/build-images.sh, not a Dockerfile"
        repository, tag = spec["image"].split(":")
        assert tag == "compose", f"{service}: {spec['image']} is not a tag docker/build-images.sh makes"
        assert f'"{repository}:$' in script, f"{service}: docker/build-images.sh does not build {repository}"
    # Nothing comes from a registry: the only base is the root filesystem mmdebstrap makes.
    assert "docker pull" not in script and "FROM " not in script
    assert "mmdebstrap --quiet --variant=minbase" in script and "docker import" in script


def test_environment_yml_is_conda_forge_python_postgresql_redis_and_this_package() -> None:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    assert {"python=3.11", "postgresql=16", "redis-server=7", "pip"} <= {d for d in deps if isinstance(d, str)}
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pip == ["-e .[lab]"]
