"""An API server of the suite's own, over HTTPS with the lab's tokens, on the session's PostgreSQL
and Redis (tests/conftest.py) but in its own database and Redis database.

Its own process rather than the `labctl up` lab of tests/integration/apiserver, for three reasons:
the limits under test are small here (``--request-timeout``, ``--max-watches``) so that exceeding
them is cheap; its log goes to one file at DEBUG (every logger, the access log included), which
the token-leak test scans; and nothing but these tests talks to it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from orchestrator.lab.embedded.ports import free_port
from orchestrator.lab.home import LabHome
from orchestrator.lab.pki import (
    ensure_encryption_config,
    ensure_pki,
    ensure_service_account_key,
    ensure_tokens,
)
from tests.conftest import Servers

REQUEST_TIMEOUT_SECONDS = 3.0
MAX_WATCHES = 100
NODES = 3  # node-1 and node-2 act in the tests; node-3 is a bystander whose objects nobody else may touch
# A Redis database no other fixture flushes (tests/conftest.py's redis_url empties database 1).
REDIS_DB = 7

# Every logger at DEBUG, so that anything the server could ever log about a request is in the file.
_RUN_SERVER = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
from orchestrator.apiserver.__main__ import main
main(sys.argv[1:])
"""


@dataclass(frozen=True)
class SecureServer:
    url: str
    ca_file: Path
    tokens: dict[str, str]  # identity name (admin, viewer, scheduler, controller-manager, node-N) -> token
    users: dict[str, str]  # identity name -> the user name the server sees
    log_file: Path
    kubelet_client_token: str  # what the server shows node agents when it proxies pods/x/log
    request_timeout_seconds: float = REQUEST_TIMEOUT_SECONDS
    max_watches: int = MAX_WATCHES

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1].rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self, identity: str | None = "admin", **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client authenticated as ``identity`` (None: anonymous)."""
        headers = dict(kwargs.pop("headers", None) or {})
        if identity:
            headers["Authorization"] = f"Bearer {self.tokens[identity]}"
        kwargs.setdefault("timeout", 30)
        return httpx.AsyncClient(base_url=self.url, verify=self.ssl_context(), headers=headers, **kwargs)

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace")


def _create_database(admin_url: str, name: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')  # name: generated hex, not input
        finally:
            await conn.close()
    asyncio.run(run())


def _drop_database(admin_url: str, name: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
    asyncio.run(run())


def _wait_ready(url: str, ca_file: Path, process: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + 90
    context = ssl.create_default_context(cafile=str(ca_file))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the API server exited with {process.returncode}:\n{log_file.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", verify=context, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the API server did not become ready in 90s:\n{log_file.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def secure_server(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureServer]:
    from orchestrator.lab.home import lab_identities

    home = LabHome(tmp_path_factory.mktemp("security-lab"))
    ensure_pki(home)
    ensure_service_account_key(home)
    ensure_encryption_config(home)
    tokens = ensure_tokens(home, nodes=NODES)
    users = {i.name: i.user for i in lab_identities(nodes=NODES)}
    db_name = f"sec_{uuid.uuid4().hex[:12]}"
    _create_database(servers.database_url, db_name)
    redis_url = servers.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    # Streams left by an earlier session (an external Redis) hold revisions this new database has not reached.
    flush = redis.Redis.from_url(redis_url)
    flush.flushdb()
    flush.close()
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    log_file = home.root / "apiserver.log"
    kubelet_token = secrets.token_urlsafe(32)
    kubelet_token_file = home.root / "kubelet-client.token"
    kubelet_token_file.write_text(kubelet_token)
    argv = [sys.executable, "-c", _RUN_SERVER,
            "--database-url", servers.database(db_name),
            "--redis-url", redis_url,
            "--bind-address", "127.0.0.1", "--secure-port", str(port),
            "--tls-cert-file", str(home.apiserver_cert), "--tls-private-key-file", str(home.apiserver_key),
            "--token-auth-file", str(home.token_file),
            "--kubelet-client-token-file", str(kubelet_token_file),
            "--service-account-signing-key-file", str(home.service_account_key),
            "--encryption-provider-config", str(home.encryption_config),
            "--request-timeout", str(REQUEST_TIMEOUT_SECONDS), "--max-watches", str(MAX_WATCHES)]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    with log_file.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).parents[3])
    try:
        _wait_ready(url, home.ca_cert, process, log_file)
        yield SecureServer(url, home.ca_cert, tokens, users, log_file, kubelet_token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        _drop_database(servers.database_url, db_name)


@pytest.fixture
async def admin(secure_server: SecureServer) -> Any:
    async with secure_server.client("admin") as client:
        yield client


@pytest.fixture
async def namespace(admin: httpx.AsyncClient) -> str:
    name = f"s-{uuid.uuid4().hex[:8]}"
    r = await admin.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name
