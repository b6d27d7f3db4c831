"""From a pod to a stream on its node agent: which container, which node, and the upgrade.

The API server never runs anything itself. It checks what it can from the stored pod (is it
scheduled, is the container one of its own, has it finished), then opens a connection to the
node agent named by the Node's ``status.daemonEndpoints.kubeletEndpoint.Port`` and
``InternalIP`` — the same address, TLS context and client certificate as ``pods/x/log``
(orchestrator/apiserver/kubeletclient.py) — and asks for an upgrade to `AGENT_UPGRADE`. Whatever the
agent refuses comes back as its Status (404 pod not on this node, 400 container not running,
429 too many streams), which the route passes on to the client unchanged.

Kubernetes equivalent: pkg/registry/core/pod/strategy.go (ExecLocation, AttachLocation,
PortForwardLocation), k8s.io/apimachinery/pkg/util/proxy/upgradeaware.go.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import quote, urlencode

from orchestrator.api.errors import BadRequest, Unavailable, from_status
from orchestrator.api.streaming import AGENT_UPGRADE, RELAY_BUFFER, FramedPortWriter
from orchestrator.apiserver.kubeletclient import KubeletClient
from orchestrator.storage.store import Store

CONNECT_TIMEOUT = 10.0
MAX_HEAD = 16 * 1024


def pick_container(pod: dict[str, Any], container: str | None) -> str:
    """The container a stream goes to: the one named, or the pod's only one."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    names = [c.get("name") for c in spec.get("containers") or []]
    if not container:
        default = (meta.get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
        if default in names:
            return str(default)
        if len(names) != 1:
            raise BadRequest(f'a container name must be specified for pod {meta.get("name")}, choose one of: {names}')
        return str(names[0])
    if container not in names:
        raise BadRequest(f'container {container} is not valid for pod {meta.get("name")}')
    return container


def check_running(pod: dict[str, Any], verb: str) -> str:
    """The pod's node, if `verb` (exec, attach, port-forward) can reach it now."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise BadRequest(f"cannot {verb} into a container in a completed pod; current phase is {phase}")
    node = spec.get("nodeName")
    if not node:
        raise BadRequest(f'pod {meta.get("name")} does not have a host assigned: it is not scheduled yet')
    return str(node)


async def open_stream(store: Store, kubelet: KubeletClient, *, node_name: str, path: str,
                      params: list[tuple[str, str]]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Upgrade a connection to `node_name`'s agent at `path`; raises the agent's refusal as an ApiError."""
    endpoint = await kubelet.locate(store, node_name, what="streams")
    address, port = endpoint.address, endpoint.port
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(address, port, limit=RELAY_BUFFER, **kubelet.connect_kwargs(endpoint)), CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as err:  # ssl.SSLError (a certificate the CA did not sign) is an OSError
        raise Unavailable(f"the node agent of {node_name} is not reachable at {address}:{port}: {err}") from err
    target = quote(path) + ("?" + urlencode(params) if params else "")
    head = [f"GET {target} HTTP/1.1", f"Host: {address}:{port}", "Connection: Upgrade", f"Upgrade: {AGENT_UPGRADE}"]
    head += [f"{k}: {v}" for k, v in kubelet.headers().items()]
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CONNECT_TIMEOUT)
        code = int(response.split(b" ", 2)[1])
        if code == 101:
            return reader, writer
        length = next((int(line.split(b":", 1)[1]) for line in response.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        # The agent sends Content-Length and closes; without one, the body ends with the connection.
        body = await asyncio.wait_for(reader.readexactly(min(length, MAX_HEAD)) if length is not None
                                      else reader.read(MAX_HEAD), CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
            IndexError) as err:
        writer.close()
        raise Unavailable(f"the node agent of {node_name} did not open the stream: {err!r}") from err
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    try:
        raise from_status(json.loads(body))
    except (ValueError, AttributeError):
        raise Unavailable(f"the node agent of {node_name} answered {code}: "
                          f"{body.decode(errors='replace')[:200]}") from None


async def close_quietly(writer: asyncio.StreamWriter | FramedPortWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


