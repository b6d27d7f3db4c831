"""Bearer tokens are compared in constant time and never logged.

Constant time is checked in the code, not with a stopwatch (a timing test on a shared machine
proves nothing): the API server looks a token up by its SHA-256 digest and confirms it with
``hmac.compare_digest``; the node agent's log endpoint compares with ``hmac.compare_digest``; and
no module compares a token with ``==``, ``!=`` or ``in``.

Never logged is checked on the real server: the suite's API server logs every logger at DEBUG
(the access log included) to one file; the test sends requests with every identity's token,
with wrong, truncated and mangled tokens, and makes the server proxy a log request so that it
sends its own kubelet-client token to a node agent; then no token (nor its first half, nor its
Basic-auth encoding) may appear anywhere in the file.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import hmac
import json
import secrets
import uuid
from pathlib import Path

import httpx
import pytest

from orchestrator.apiserver.auth import TokenAuthenticator, User
from tests import factories
from tests.reliability.security.conftest import SecureServer

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).parents[3]
TOKEN_CHECKING_MODULES = ("orchestrator/apiserver/auth.py", "orchestrator/nodeagent/logserver.py")


def _names_a_token(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "token" in name.lower()


@pytest.mark.parametrize("module", TOKEN_CHECKING_MODULES)
def test_no_token_is_compared_with_an_ordinary_operator(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands[:-1], operands[1:], strict=True):
            if not isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn):
                continue
            if isinstance(left, ast.Constant) or isinstance(right, ast.Constant):
                continue  # against a literal ("" or None): no secret on either side
            assert not (_names_a_token(left) or _names_a_token(right)), \
                f"{module} line {node.lineno}: a token compared with {type(op).__name__}; use hmac.compare_digest"


@pytest.mark.parametrize("module", TOKEN_CHECKING_MODULES)
def test_tokens_are_checked_with_compare_digest(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "compare_digest"]
    assert calls, f"{module} checks tokens without hmac.compare_digest"


def test_the_authenticator_keys_tokens_by_digest_and_confirms_with_compare_digest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    token = secrets.token_urlsafe(32)
    auth = TokenAuthenticator()
    auth.add(token, User("someone", "uid", ("group",)))
    for key in auth._users:
        assert isinstance(key, bytes) and len(key) == 32 and token.encode() not in key  # a SHA-256 digest

    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert auth.authenticate(f"Bearer {token}").name == "someone"
    assert compared == [(token.encode(), token.encode())]
    for wrong in (token[:-1], token + "x", token.upper(), ""):
        with pytest.raises(Exception, match="Unauthorized"):
            auth.authenticate(f"Bearer {wrong}")


# -- never logged ---------------------------------------------------------------------------------

async def _fake_node_agent() -> tuple[asyncio.Server, list[str]]:
    """A node agent's log endpoint that records the Authorization header and answers 500."""
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("authorization:"):
                seen.append(line.split(":", 1)[1].strip())
        body = b"the node agent is not well"
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, seen


def _secrets_of(token: str) -> list[str]:
    """The token, its first half, and its encodings a client might send."""
    return [token, token[: max(8, len(token) // 2)], base64.b64encode(f"admin:{token}".encode()).decode()]


async def test_no_token_ever_reaches_the_log(secure_server: SecureServer, admin: httpx.AsyncClient,
                                             namespace: str) -> None:
    wrong = [secrets.token_urlsafe(32) for _ in range(3)]
    admin_token = secure_server.tokens["admin"]
    nearly = admin_token[:-1] + ("A" if admin_token[-1] != "A" else "B")
    headers = [f"Bearer {t}" for t in [*secure_server.tokens.values(), *wrong, nearly, admin_token + " extra"]]
    headers += [f"bearer {admin_token}", f"Basic {base64.b64encode(f'admin:{admin_token}'.encode()).decode()}",
                f"Token {admin_token}", f"Bearer {admin_token[:20]}", f"Bearer  {wrong[0]}"]
    paths = ["/api/v1/namespaces", f"/api/v1/namespaces/{namespace}/pods/missing", "/apis/apps/v1/deployments",
             f"/api/v1/namespaces/{namespace}/pods?labelSelector=a+in+(b", "/metrics", "/version"]
    codes = []
    async with secure_server.client(None) as anonymous:
        for authorization in headers:
            for path in paths:
                r = await anonymous.get(path, headers={"Authorization": authorization})
                codes.append(r.status_code)
            r = await anonymous.post(f"/api/v1/namespaces/{namespace}/pods", headers={"Authorization": authorization},
                                     json=factories.pod(f"tok-{uuid.uuid4().hex[:6]}", namespace=namespace))
            codes.append(r.status_code)
    assert {200, 201, 401, 403, 400, 404} <= set(codes), sorted(set(codes))

    # The server shows its own token to a node agent when it proxies a pod's log.
    agent, seen = await _fake_node_agent()
    try:
        port = agent.sockets[0].getsockname()[1]
        node = factories.node(f"tok-{uuid.uuid4().hex[:6]}")
        node["status"]["addresses"] = [{"type": "InternalIP", "address": "127.0.0.1"}]
        node["status"]["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
        assert (await admin.post("/api/v1/nodes", json=node)).status_code == 201
        pod = factories.pod("logged", namespace=namespace)
        assert (await admin.post(f"/api/v1/namespaces/{namespace}/pods", json=pod)).status_code == 201
        r = await admin.post(f"/api/v1/namespaces/{namespace}/pods/logged/binding",
                             json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "logged"},
                                   "target": {"apiVersion": "v1", "kind": "Node", "name": node["metadata"]["name"]}})
        assert r.status_code == 201, r.text
        r = await admin.get(f"/api/v1/namespaces/{namespace}/pods/logged/log")
        assert 400 <= r.status_code < 500, r.text
    finally:
        agent.close()
        await agent.wait_closed()
    assert seen == [f"Bearer {secure_server.kubelet_client_token}"]

    # The log is not empty by accident: the access log recorded the requests above. Its line is
    # written once the response is sent, so the last one may trail the client by a moment.
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        log = secure_server.log_text()
        access = [json.loads(line.split(": ", 1)[1]) for line in log.splitlines()
                  if "orchestrator.apiserver.access" in line]
        if any(a["path"].endswith("/pods/logged/log") for a in access):
            break
        assert asyncio.get_running_loop().time() < deadline, "no access log line for the pod log request in 10 s"
        await asyncio.sleep(0.1)
    assert sum(1 for a in access if a["code"] == 401) >= len(wrong) * len(paths)
    everything = [*secure_server.tokens.values(), *wrong, nearly, secure_server.kubelet_client_token]
    leaked = [s for token in everything for s in _secrets_of(token) if s in log]
    assert not leaked, f"{len(leaked)} token strings in {secure_server.log_file}"
