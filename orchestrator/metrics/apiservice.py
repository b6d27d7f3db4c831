"""The APIService that puts the metrics server behind the API server: ``v1beta1.metrics.k8s.io``.

metrics-server's manifest carries the same object, pointing at its Service
(``kube-system/metrics-server``); the lab's metrics server runs on the host, so it names the
address with the labkit extension ``spec.url`` (orchestrator/apiserver/aggregator.py).
``labctl up`` writes it with the admin's credentials once the metrics server answers
(`register`): creating it, or updating its address if the server moved to another port.

Kubernetes equivalent: metrics-server's manifests/base/apiservice.yaml
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any

from orchestrator.api.errors import Conflict, NotFound
from orchestrator.client.rest import ApiClient
from orchestrator.metrics.convert import GROUP, VERSION

NAME = f"{VERSION}.{GROUP}"
RESOURCE = "apiservices.apiregistration.k8s.io"
CONFLICT_RETRIES = 5


def apiservice(url: str) -> dict[str, Any]:
    """The APIService object for a metrics server reachable at `url` (``http://127.0.0.1:4443``)."""
    return {
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": NAME, "labels": {"k8s-app": "metrics-server"}},
        "spec": {"group": GROUP, "version": VERSION, "url": url, "insecureSkipTLSVerify": url.startswith("https:"),
                 "groupPriorityMinimum": 100, "versionPriority": 100},
    }


async def register(client: ApiClient, url: str) -> dict[str, Any]:
    """Create the APIService, or point the existing one at `url`; returns the stored object."""
    wanted = apiservice(url)
    # The API server's availability check writes this object's status (the old address no longer
    # answers after a restart), so an update can lose the race: read again and retry, as client-go's
    # retry.RetryOnConflict does.
    attempt = 0
    while True:
        try:
            current = await client.get(RESOURCE, NAME)
        except NotFound:
            return await client.create(RESOURCE, wanted)
        if current.get("spec") == wanted["spec"]:
            return current
        current["spec"] = wanted["spec"]
        try:
            return await client.update(RESOURCE, current)
        except Conflict:
            attempt += 1
            if attempt == CONFLICT_RETRIES:
                raise
            await asyncio.sleep(0.1 * attempt)


def register_with_kubeconfig(kubeconfig: Path, url: str) -> None:
    """`register` from synchronous code (``labctl up``), also when the caller runs an event loop
    (a notebook): on a thread of its own."""
    async def run() -> None:
        async with ApiClient.from_kubeconfig(kubeconfig, user_agent="labctl") as client:
            await register(client, url)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=60)


__all__ = ["NAME", "apiservice", "register", "register_with_kubeconfig"]
