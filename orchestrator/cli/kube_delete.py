"""``labctl delete``: delete named objects, those a selector matches, or those a manifest names.

Like kubectl, it waits (``--wait``, the default) until each object is really gone: a pod first
gets a deletionTimestamp and lives on through its grace period while the node agent stops its
containers, and an object with finalizers lives until they are removed. Waiting polls GET until
404 or until the name belongs to a new object (another uid: a controller replaced it).

Kubernetes equivalent: staging/src/k8s.io/kubectl/pkg/cmd/delete/delete.go
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from orchestrator.api.errors import NotFound
from orchestrator.api.resources import ResourceInfo
from orchestrator.cli.errors import CliError
from orchestrator.client.rest import ApiClient

Cascade = Literal["Background", "Foreground", "Orphan"]
CASCADES: dict[str, Cascade] = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan"}


def cascade_policy(value: str) -> Cascade:
    try:
        return CASCADES[value.lower()]
    except KeyError:
        raise CliError(f"unknown --cascade {value!r}: use one of {', '.join(CASCADES)}") from None


def deleted_line(info: ResourceInfo, name: str) -> str:
    """kubectl's confirmation: ``pod "web-1" deleted``, ``deployment.apps "web" deleted``."""
    kind = f"{info.kind.lower()}.{info.group}" if info.group else info.kind.lower()
    return f'{kind} "{name}" deleted'


async def delete_one(client: ApiClient, info: ResourceInfo, name: str, *, namespace: str | None,
                     cascade: Cascade, grace_period: int | None) -> dict[str, Any]:
    return await client.delete(info, name, namespace=namespace, propagation_policy=cascade,
                               grace_period_seconds=grace_period)


async def wait_gone(client: ApiClient, info: ResourceInfo, name: str, *, namespace: str | None,
                    uid: str | None, timeout: float) -> bool:
    """True once the object (this uid) is gone; False if it is still there after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            obj = await client.get(info, name, namespace=namespace)
        except NotFound:
            return True
        if uid and (obj.get("metadata") or {}).get("uid") != uid:
            return True
        await asyncio.sleep(0.5)
    return False


async def names_matching(client: ApiClient, info: ResourceInfo, *, namespace: str | None,
                         selector: str | None) -> list[str]:
    listed = await client.list(info, namespace=namespace, label_selector=selector)
    return [(o.get("metadata") or {}).get("name", "") for o in listed.get("items") or []]
