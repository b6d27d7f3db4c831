"""The API server process with --encryption-provider-config on a database of its own: a key the
configuration lost stops the start with a message naming it; a rotation with
--rewrite-encrypted-resources re-encrypts every Secret with the new key."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

from orchestrator.apiserver.encryption import new_key_secret, render_config
from orchestrator.lab.components import ApiServer
from orchestrator.lab.embedded.ports import free_port

TOKEN = "admin-token-for-this-test"


def _config(tmp_path: Path, name: str, *keys: tuple[str, str]) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(render_config(list(keys)))
    return path


def _argv(database_url: str, redis_url: str, tmp_path: Path, port: int, config: Path, *extra: str) -> list[str]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f'{TOKEN},admin,admin,"system:masters"\n')
    return ApiServer(database_url=database_url, redis_url=redis_url, secure_port=port, token_auth_file=tokens,
                     encryption_provider_config=config, extra=extra).argv()


@contextmanager
def _apiserver(argv: list[str], port: int) -> Iterator[httpx.Client]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.communicate()[0]
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the API server did not become ready"
                time.sleep(0.2)
            yield client
    finally:
        proc.terminate()
        proc.wait(15)


async def _run_to_exit(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60)


async def _key_names(database_url: str) -> set[str]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT data->>'k8s:enc' FROM objects WHERE resource = 'secrets'")
    finally:
        await conn.close()
    return {r[0].split(":")[4] for r in rows}


async def test_a_lost_key_stops_the_start_and_a_rotation_rewrites_every_secret(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    key1, key2 = ("key1", new_key_secret()), ("key2", new_key_secret())
    port = free_port()
    with _apiserver(_argv(database_url, redis_url, tmp_path, port, _config(tmp_path, "one", key1)), port) as api:
        for name in ("a", "b"):
            r = api.post("/api/v1/namespaces/default/secrets", json={
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "data": {"pw": base64.b64encode(b"hunter2").decode()}})
            assert r.status_code == 201, r.text
    assert await _key_names(database_url) == {"key1"}

    lost = await _run_to_exit(_argv(database_url, redis_url, tmp_path, free_port(), _config(tmp_path, "lost", key2)))
    assert lost.returncode != 0
    assert 'was encrypted with aesgcm key "key1", which the encryption configuration' in lost.stdout + lost.stderr

    wrong = await _run_to_exit(_argv(database_url, redis_url, tmp_path, free_port(),
                                     _config(tmp_path, "wrong", ("key1", new_key_secret()))))
    assert wrong.returncode != 0 and "not the one it was written with" in wrong.stdout + wrong.stderr

    port = free_port()
    rotated = _argv(database_url, redis_url, tmp_path, port, _config(tmp_path, "rotated", key2, key1),
                    "--rewrite-encrypted-resources")
    with _apiserver(rotated, port) as api:
        assert await _key_names(database_url) == {"key2"}
        got = api.get("/api/v1/namespaces/default/secrets/a").json()
        assert base64.b64decode(got["data"]["pw"]) == b"hunter2"
    port = free_port()
    with _apiserver(_argv(database_url, redis_url, tmp_path, port, _config(tmp_path, "only2", key2)), port) as api:
        assert json.loads(api.get("/api/v1/namespaces/default/secrets").text)["items"][1]["metadata"]["name"] == "b"
