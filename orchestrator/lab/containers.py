"""The lab's pod containers on the Docker engine, for `labctl down` (stop them) and `labctl delete`
(remove them).

A container belongs to this lab when it carries ``labkit.cluster=<this lab's id>``: the id every
node agent of the lab derives from the lab's CA (orchestrator/nodeagent/cluster.py), so another
lab's containers on the same engine — even its ``node-1``'s — are never touched. The node agents
are stopped first, so none starts a container again behind `down`'s back; the next `labctl up`
starts its agents, which find their pods' containers exited and start them again as the pods'
restartPolicy says (a node that was powered off and on, as with ``minikube stop`` / ``start``).

No Docker engine (a simulated lab, or dockerd not running) means no container to stop: that is
not an error.

Kubernetes equivalent: none in Kubernetes itself; what ``minikube stop`` / ``minikube delete``
and ``kind delete cluster`` do to a cluster's node containers.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.lab.home import LabHome
from orchestrator.nodeagent.cluster import cluster_id_from
from orchestrator.nodeagent.runtimes.base import (
    LABEL_CLUSTER,
    LABEL_CONTAINER_NAME,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
)

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)

# Seconds between SIGTERM and SIGKILL for each container (they stop in parallel): short, because
# `down` is a power-off; a pod's own terminationGracePeriodSeconds is for deletes.
STOP_TIMEOUT = 5


@dataclass(frozen=True)
class LabContainer:
    id: str
    name: str  # <namespace>/<pod>/<container>, what a learner recognises
    running: bool


def lab_cluster_id(home: LabHome) -> str | None:
    """The cluster id the lab's node agents label containers with; None before the lab has a CA."""
    try:
        return cluster_id_from(ca_pem=home.ca_cert.read_bytes(), server="")
    except OSError:
        return None


def _client() -> docker.DockerClient | None:
    # Imported here: `labctl` verbs that never touch Docker should not pay for the SDK.
    import docker
    import docker.errors
    import requests

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return None
    return client


def _list(client: docker.DockerClient, cluster: str) -> list[LabContainer]:
    found = []
    for c in client.containers.list(all=True, filters={"label": f"{LABEL_CLUSTER}={cluster}"}, ignore_removed=True):
        labels = c.labels or {}
        name = "/".join(labels.get(k, "?") for k in (LABEL_POD_NAMESPACE, LABEL_POD_NAME, LABEL_CONTAINER_NAME))
        found.append(LabContainer(c.id, name, c.status == "running"))
    return found


def stop_lab_containers(home: LabHome) -> list[LabContainer]:
    """Stop the lab's running pod containers (kept, so `up` can start them again); returns them."""
    return _each(home, running_only=True, action="stop")


def remove_lab_containers(home: LabHome) -> list[LabContainer]:
    """Remove every container of the lab, running or not; returns them."""
    return _each(home, running_only=False, action="remove")


def _each(home: LabHome, *, running_only: bool, action: str) -> list[LabContainer]:
    cluster = lab_cluster_id(home)
    if cluster is None:
        return []
    client = _client()
    if client is None:
        return []
    import docker.errors

    try:
        targets = [c for c in _list(client, cluster) if c.running or not running_only]

        def act(container: LabContainer) -> None:
            with contextlib.suppress(docker.errors.NotFound):  # gone meanwhile: what we wanted
                if action == "stop":
                    client.api.stop(container.id, timeout=STOP_TIMEOUT)
                else:
                    client.api.remove_container(container.id, force=True, v=True)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(act, targets))
        return targets
    finally:
        client.close()
