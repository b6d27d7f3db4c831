"""Reference solution of exercise "pod-scheduler" (labs/exercises/pod_scheduler.py): try first.

Grade it with ``labs.check("pod-scheduler", lab=lab, scheduler="labs.solutions.pod_scheduler:PodScheduler")``.
"""

from __future__ import annotations

from orchestrator.api.errors import Conflict
from orchestrator.api.quantity import cpu_millis
from orchestrator.client.informer import DeletedFinalStateUnknown, meta_namespace_key, split_key
from orchestrator.controllers.controller import Controller, ControllerContext, Object

SCHEDULER_NAME = "my-scheduler"


def pod_cpu(pod: Object) -> int:
    """The pod's CPU request in millicores (the sum over its containers)."""
    return sum(cpu_millis(((c.get("resources") or {}).get("requests") or {}).get("cpu", "0"))
               for c in pod["spec"].get("containers") or [])


def node_cpu(node: Object) -> int:
    """The node's allocatable CPU in millicores."""
    return cpu_millis(((node.get("status") or {}).get("allocatable") or {}).get("cpu", "0"))


class PodScheduler(Controller):
    """Binds the pods that ask for ``schedulerName: my-scheduler`` to the least requested node that has room."""

    name = "my-scheduler"
    default_workers = 1  # one scheduling decision at a time, as kube-scheduler's scheduling cycle

    def __init__(self, ctx: ControllerContext, *, node_selector: str | None = None,
                 workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers)
        self.pods = ctx.factory.informer("pods", namespace=ctx.namespace)
        self.nodes = ctx.factory.informer("nodes", label_selector=node_selector)
        self.assumed: dict[str, str] = {}  # pod key -> node: bound by us, not yet seen bound in the cache
        self.unschedulable: set[str] = set()  # fit nowhere; tried again when room frees up
        self.pods.add_handler(on_add=self.pod_changed, on_update=lambda old, new: self.pod_changed(new),
                              on_delete=self.pod_deleted)
        self.nodes.add_handler(on_add=lambda node: self.retry_unschedulable(),
                               on_update=lambda old, new: self.retry_unschedulable())

    def resync_all(self) -> None:
        for pod in self.pods.list():
            self.pod_changed(pod)

    # --- handlers ---------------------------------------------------------------------------

    def pod_changed(self, pod: Object) -> None:
        key = meta_namespace_key(pod)
        if pod["spec"].get("nodeName"):
            self.assumed.pop(key, None)  # the cache caught up with the binding
        elif pod["spec"].get("schedulerName") == SCHEDULER_NAME and not pod["metadata"].get("deletionTimestamp"):
            self.queue.add(key)

    def pod_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        key = meta_namespace_key(obj)  # a tombstone has the key too
        self.assumed.pop(key, None)
        self.unschedulable.discard(key)
        self.retry_unschedulable()  # its room is free now

    def retry_unschedulable(self) -> None:
        for key in self.unschedulable:
            self.queue.add(key)
        self.unschedulable.clear()

    # --- scheduling -------------------------------------------------------------------------

    def requested(self, node_name: str) -> int:
        """Millicores requested on the node: pods the cache shows there, plus the ones we bound there."""
        total = 0
        for pod in self.pods.list():
            if (pod["spec"].get("nodeName") or self.assumed.get(meta_namespace_key(pod))) == node_name:
                total += pod_cpu(pod)
        return total

    def pick_node(self, pod: Object) -> str | None:
        need = pod_cpu(pod)
        fits = []
        for node in self.nodes.list():
            used = self.requested(node["metadata"]["name"])
            if used + need <= node_cpu(node):
                fits.append((used, node["metadata"]["name"]))
        return min(fits)[1] if fits else None

    async def sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None or pod["spec"].get("nodeName") or key in self.assumed:
            return
        node = self.pick_node(pod)
        if node is None:
            self.unschedulable.add(key)
            return
        self.assumed[key] = node  # before the bind: the next decision must count this pod already
        namespace, name = split_key(key)
        try:
            await self.client.bind(namespace or "default", name, node)
        except Conflict:
            return  # bound already (by an earlier try whose answer we lost): the cache will show it
        except Exception:
            self.assumed.pop(key, None)
            raise
