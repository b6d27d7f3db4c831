"""One HTTP call to the API server, classified by what the caller may conclude from it.

The product's `ApiClient` raises `Unavailable` for every transport error; a fault test must tell
apart the two kinds it hides:

- ``refused``: the request never reached the server (connection refused, TLS handshake or
  connect timeout). Nothing happened; repeating it is safe.
- ``ambiguous``: the request may have been received (connection dropped after sending, read
  timeout, or a 5xx: the server may have committed and then failed to answer). Its outcome is
  unknown, so it must not be counted as acknowledged, nor as not applied.

``ok`` is a 2xx (acknowledged), ``rejected`` a 4xx (the server decided: nothing applied).
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

Outcome = Literal["ok", "rejected", "refused", "ambiguous"]
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    status: int | None
    body: Any
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class Api:
    def __init__(self, *, server: str, token: str, ca_file: str, timeout: float = 10.0, connect_timeout: float = 3.0,
                 max_connections: int = 50) -> None:
        self.http = httpx.AsyncClient(
            base_url=server,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            verify=ssl.create_default_context(cafile=ca_file),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            # Below uvicorn's 5 s keep-alive: a connection the server is closing as idle must not
            # be reused, or a request sent at that moment dies with "server disconnected".
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                                keepalive_expiry=2.0),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None,
                   content_type: str = "application/json") -> Answer:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else None
        t0 = time.monotonic()
        try:
            r = await self.http.request(method, path, content=content, headers=headers, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
            return Answer("refused", None, None, f"{type(err).__name__}: {err}", time.monotonic() - t0)
        except httpx.TransportError as err:
            return Answer("ambiguous", None, None, f"{type(err).__name__}: {err}", time.monotonic() - t0)
        seconds = time.monotonic() - t0
        try:
            decoded = r.json()
        except ValueError:
            decoded = r.text[:200]
        if r.is_success:
            return Answer("ok", r.status_code, decoded, seconds=seconds)
        if r.status_code >= 500:
            return Answer("ambiguous", r.status_code, decoded, f"HTTP {r.status_code}", seconds)
        return Answer("rejected", r.status_code, decoded, f"HTTP {r.status_code}", seconds)


def pods_path(namespace: str, name: str | None = None) -> str:
    base = f"/api/v1/namespaces/{namespace}/pods"
    return f"{base}/{name}" if name else base


def deployments_path(namespace: str, name: str | None = None) -> str:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    return f"{base}/{name}" if name else base


def path_for(kind: str, namespace: str, name: str | None = None) -> str:
    return pods_path(namespace, name) if kind == "pods" else deployments_path(namespace, name)
