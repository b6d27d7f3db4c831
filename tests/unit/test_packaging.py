"""The docker compose stack, the orchestrator image and the conda environment: what can be checked here.

The compose file must name every component, each with a command the image's entrypoint maps to a
module that exists and flags that module accepts; the credentials it starts from must be what the
components read. Building the image needs the `python:3.11-slim` base image, which cannot be pulled
on machines without a registry: that test builds only when the base image is already present.
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

import pytest
import yaml
from cryptography import x509

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
BASE_IMAGE = "python:3.11-slim"
COMPONENTS = ("apiserver", "relay", "scheduler", "controller-manager", "node-1", "node-2", "jupyter")


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
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    for node in ("node-1", "node-2"):
        assert "/var/run/docker.sock:/var/run/docker.sock" in services[node]["volumes"]
        assert "--runtime=docker" in services[node]["command"]


def test_every_compose_command_is_an_entrypoint_whose_module_exists() -> None:
    table = entrypoints()
    assert {"apiserver", "relay", "scheduler", "controllers", "nodeagent", "labctl", "credentials", "jupyter"} <= set(table)
    for service, spec in _orchestrator_services().items():
        command = spec["command"]
        assert command[0] in table, f"{service}: {command[0]!r} is not in docker/entrypoint.sh"
    for name, argv in table.items():
        assert argv[0] == "python", (name, argv)
        if argv[1] == "-m":
            assert importlib.util.find_spec(argv[2]) is not None, f"{name}: no module {argv[2]}"
        else:  # a script the Dockerfile copies into the image
            script = Path(argv[1])
            assert (DOCKER / script.name).is_file(), f"{name}: no docker/{script.name}"
            assert f"COPY docker/{script.name} ./docker/{script.name}" in (DOCKER / "Dockerfile").read_text()


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
        if spec["command"][0] != "jupyter":  # JupyterLab's flags are traitlets its --help does not list
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
             if arg.split("=", 1)[0].endswith(("-file", "kubeconfig")) and "=" in arg]
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


def test_dockerfile_builds_the_one_image_on_the_slim_base_with_the_entrypoint() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert re.search(rf"^FROM {re.escape(BASE_IMAGE)}$", dockerfile, flags=re.M)
    assert "COPY docker/entrypoint.sh /usr/local/bin/labkit-entrypoint" in dockerfile
    assert 'ENTRYPOINT ["labkit-entrypoint"]' in dockerfile
    assert "pip install -e '.[lab]'" in dockerfile
    for spec in _orchestrator_services().values():
        assert spec["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}


def test_environment_yml_is_conda_forge_python_postgresql_redis_and_this_package() -> None:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    assert {"python=3.11", "postgresql=16", "redis-server=7", "pip"} <= {d for d in deps if isinstance(d, str)}
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pip == ["-e .[lab]"]


def test_the_image_builds_when_its_base_image_is_here(tmp_path: Path) -> None:
    try:
        present = subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        present = False
    if not present:
        pytest.skip(reason=f"the base image {BASE_IMAGE} is not on this machine and no registry can be reached to "
                           "pull it; the build is checked where it can be had")
    tag = f"labkit/orchestrator:test-{os.getpid()}"
    build = subprocess.run(["docker", "build", "-f", str(DOCKER / "Dockerfile"), "-t", tag, str(REPO)],
                           capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    try:
        run = subprocess.run(["docker", "run", "--rm", tag, "apiserver", "--help"], capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0 and "--database-url" in run.stdout, run.stdout + run.stderr
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=120)
