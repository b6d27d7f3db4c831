"""Everything one API server process holds while it runs, built by app.py's lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from orchestrator.apiserver.aggregator import Aggregator
from orchestrator.apiserver.auth import TokenAuthenticator
from orchestrator.apiserver.authz.server import Authorization
from orchestrator.apiserver.catalog import ResourceCatalog
from orchestrator.apiserver.kubeletclient import KubeletClient
from orchestrator.apiserver.logs import LogProxy
from orchestrator.apiserver.registry.generic import Registry
from orchestrator.apiserver.serviceaccount_tokens import TokenIssuer
from orchestrator.apiserver.settings import Settings
from orchestrator.storage.store import Store
from orchestrator.storage.watchcache import WatchCache


@dataclass
class ServerState:
    settings: Settings
    store: Store
    watch_cache: WatchCache
    authenticator: TokenAuthenticator
    authz: Authorization  # the authorizer chain, its RBAC cache and the reviews (routes/resources.py)
    registry: Registry
    logs: LogProxy
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    open_watches: int = 0  # counted against settings.max_watches by routes/resources.py
    # The resources served now: built-ins plus Established CRDs, fed by the CRD watch (catalog.py).
    catalog: ResourceCatalog = field(default_factory=ResourceCatalog)
    token_issuer: TokenIssuer | None = None  # signs serviceaccounts/token (None: no signing key given)
    aggregator: Aggregator | None = None  # APIServices: groups proxied to other servers (aggregator.py)
    # How node agents are reached for logs and streams (orchestrator/apiserver/kubeletclient.py).
    kubelet: KubeletClient = field(default_factory=KubeletClient)
