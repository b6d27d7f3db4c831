"""Everything one API server process holds while it runs, built by app.py's lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import Request

from orchestrator.apiserver.auth import TokenAuthenticator, User
from orchestrator.apiserver.handlers import Registry
from orchestrator.apiserver.logs import LogProxy
from orchestrator.apiserver.settings import Settings
from orchestrator.storage.store import Store
from orchestrator.storage.watchcache import WatchCache


@dataclass
class ServerState:
    settings: Settings
    store: Store
    watch_cache: WatchCache
    authenticator: TokenAuthenticator
    registry: Registry
    logs: LogProxy
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    open_watches: int = 0  # counted against settings.max_watches by routes/resources.py

    def authenticate(self, request: Request) -> User:
        return self.authenticator.authenticate(request.headers.get("authorization"))
