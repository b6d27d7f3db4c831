"""``labctl logs``: a pod container's log through the API server, or a lab component's own log file.

A pod's log travels as with kubectl: ``GET pods/{name}/log`` on the API server, which proxies
to the node agent running the pod. A pod with several containers needs ``-c``, or the first one
is taken with a note on stderr (kubectl's "Defaulted container").

``--component NAME`` reads ``$LABKIT_HOME/logs/NAME.log`` (the API server, scheduler, a node
agent, PostgreSQL...): the lab writes those files itself, so they are read directly, also after
the lab is down. ``-f`` keeps printing what is appended, until Ctrl-C.

Kubernetes equivalent: staging/src/k8s.io/kubectl/pkg/cmd/logs/logs.go; for the components,
`journalctl -u kubelet` on a node.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.cli.errors import CliError
from orchestrator.client.rest import ApiClient
from orchestrator.lab.home import LabHome

FOLLOW_POLL_SECONDS = 0.3


def components(home: LabHome) -> list[str]:
    """The components that have a log file in this lab home, by name."""
    if not home.logs_dir.is_dir():
        return []
    return sorted(p.stem for p in home.logs_dir.glob("*.log"))


def component_log(home: LabHome, name: str) -> Path:
    """The log file of `name`, or a CliError listing the known components."""
    known = components(home)
    if name not in known:
        listing = ", ".join(known) if known else f"none yet in {home.logs_dir} (run `labctl up` first)"
        raise CliError(f"unknown component {name!r}; components with a log: {listing}")
    return home.log_file(name)


def tail(path: Path, lines: int | None) -> tuple[str, int]:
    """The last `lines` lines of the file (all if None) and the offset its end was at."""
    with path.open("rb") as f:
        if lines is None:
            data = f.read()
        elif lines <= 0:
            f.seek(0, 2)
            data = b""
        else:
            data = b"".join(deque(f, maxlen=lines))
        return data.decode("utf-8", errors="replace"), f.seek(0, 2)


def follow_file(path: Path, offset: int, write: Callable[[str], None]) -> None:
    """Print what is appended after `offset`, forever (a truncated file is read from its start)."""
    while True:
        size = path.stat().st_size if path.exists() else 0
        if size < offset:
            offset = 0  # the lab home was reset under us
        if size > offset:
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read(size - offset)
            offset += len(chunk)
            write(chunk.decode("utf-8", errors="replace"))
        time.sleep(FOLLOW_POLL_SECONDS)


def pick_container(pod: dict[str, Any], container: str | None, *, note: Callable[[str], None]) -> str:
    name = (pod.get("metadata") or {}).get("name", "")
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    names += [c.get("name", "") for c in (pod.get("spec") or {}).get("initContainers") or []]
    if container is not None:
        if container not in names:
            raise CliError(f"container {container!r} is not in pod {name!r}; its containers: {', '.join(names)}")
        return container
    if not names:
        raise CliError(f"pod {name!r} has no containers")
    if len(names) > 1:
        note(f'Defaulted container "{names[0]}" out of: {", ".join(names)}')
    return names[0]


async def pod_logs(client: ApiClient, pod_name: str, *, namespace: str, container: str | None, follow: bool,
                   tail_lines: int | None, previous: bool, timestamps: bool, note: Callable[[str], None]) -> None:
    pod = await client.get("pods", pod_name, namespace=namespace)
    chosen = pick_container(pod, container, note=note)
    if follow:
        async for line in client.stream_log(namespace, pod_name, container=chosen, tail_lines=tail_lines,
                                            timestamps=timestamps):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        return
    text = await client.get_log(namespace, pod_name, container=chosen, tail_lines=tail_lines,
                                timestamps=timestamps, previous=previous)
    sys.stdout.write(text)
    sys.stdout.flush()
