"""A real lab for integration tests: `labctl up` in a temporary lab home (embedded PostgreSQL and
Redis, the API server over HTTPS with the lab CA and tokens), and `Lab`, the handle tests use to
reach it (httpx clients, kubectl as a lab identity, the lab's PostgreSQL and Redis URLs).

`start_lab` is what the session `lab` fixture (tests/support/fixtures.py) runs; a directory whose
tests need a lab of their own (tests/integration/controllers, tests/integration/nodeagent) runs it
from its own `lab` fixture.

Kubernetes equivalent: test/integration/framework/test_server.go
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.labctl import run_labctl


@dataclass(frozen=True)
class Lab:
    home: Path
    kubeconfig: Path
    server: str
    ca_file: Path
    tokens: dict[str, str]  # user name -> token

    def _ports(self) -> dict[str, int]:
        return json.loads((self.home / "run" / "state.json").read_text())["lab"]["ports"]

    @property
    def database_url(self) -> str:
        """The lab's PostgreSQL: tests may look at rows; components never do."""
        from orchestrator.lab.embedded.postgres import database_url

        return database_url(self._ports()["postgres"])

    @property
    def redis_url(self) -> str:
        from orchestrator.lab.embedded.redis import redis_url

        return redis_url(self._ports()["redis"])

    def kubeconfig_for(self, identity: str) -> Path:
        return self.home / "kubeconfigs" / f"{identity}.kubeconfig"

    def client(self, user: str = "admin", **kwargs) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
        headers = dict(kwargs.pop("headers", None) or {})
        if user:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        verify = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.AsyncClient(base_url=self.server, verify=verify, headers=headers, timeout=30, **kwargs)

    def kubectl(self, *args: str, identity: str = "admin", input: str | None = None,
                check: bool = True, timeout: float = 60, kubeconfig: Path | None = None
                ) -> subprocess.CompletedProcess[str]:
        """kubectl as a lab identity, or with `kubeconfig` (a user's from `labctl kubeconfig --user`)."""
        kubectl = shutil.which("kubectl")
        assert kubectl, "kubectl is required"
        if kubeconfig is None:
            kubeconfig = self.kubeconfig_for(identity) if identity != "admin" else self.kubeconfig
        env = dict(os.environ, KUBECONFIG=str(kubeconfig),
                   HOME=str(self.home))  # its own discovery cache, never the user's
        result = subprocess.run([kubectl, *args], env=env, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


@contextmanager
def start_lab(tmp_path_factory: pytest.TempPathFactory, name: str = "lab", *, nodes: int = 2,
              skip: tuple[str, ...] = ("scheduler", "controller-manager", "nodes")) -> Iterator[Lab]:
    """`labctl up --nodes N` without the `skip`ped components, `labctl down` afterwards. By default: two
    node identities and no scheduler, controller manager or node agents (the tests start their own
    where they need them, so that no cluster-wide one acts on objects another test made)."""
    from orchestrator.lab.embedded.ports import free_port

    home = tmp_path_factory.mktemp(name)
    up = run_labctl(home, "up", "--nodes", str(nodes), "--port", str(free_port()),
                    *(arg for component in skip for arg in ("--skip", component)))
    if up.returncode != 0:
        run_labctl(home, "down")
        raise AssertionError(f"labctl up failed:\n{up.stdout}\n{up.stderr}")
    try:
        kubeconfig = Path(run_labctl(home, "kubeconfig").stdout.strip())
        import yaml

        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        tokens = {row[1]: row[0] for row in csv.reader((home / "tokens.csv").read_text().splitlines()) if row}
        yield Lab(home, kubeconfig, server, home / "pki" / "ca.crt", tokens)
    finally:
        down = run_labctl(home, "down")
        assert down.returncode == 0, down.stdout + down.stderr
