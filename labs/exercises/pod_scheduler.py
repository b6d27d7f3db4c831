"""Exercise "pod-scheduler" (notebook 12): write a scheduler that never overcommits a node, whatever fails.

Your scheduler binds every pod that asks for it (``spec.schedulerName: my-scheduler``) to a node
with enough CPU left: the node's allocatable CPU minus the CPU requests of the pods already on
it. Of the nodes that fit, take the least requested one. A pod that fits nowhere waits until room
frees up (a pod is deleted, a node added) — not in a busy loop.

It is built like the lab's controllers (orchestrator/controllers/controller.py): informers on pods
and nodes, a work queue of pod keys, one worker calling `sync(key)`, which reads the caches and
binds (``await self.client.bind(namespace, name, node)``, the POST of a Binding that
orchestrator/scheduler does too). Its workers run only while it holds a Lease: the grader starts
it as a standby and hands it the Lease, as notebook 06's scheduler drill does. Your three TODOs:

1. ``pick_node``: the least requested node (``self.requested(name)``) where the pod's request
   (``pod_cpu(pod)``) still fits in ``node_cpu(node)``; None when none fits.
2. ``requested``: the CPU of the pods on a node. Your informer cache lags behind your own
   bindings: right after a bind the cache still shows the pod unbound, and the next decision would
   put a second pod in the same room. So remember what you bound (``self.assumed[key] = node``,
   set in sync before the bind) and count a pod on the node its cache copy names *or* the node
   you assumed for it — the scheduler cache of orchestrator/scheduler/cache.py calls it "assume".
3. ``pod_deleted``: room freed up — forget the pod (``self.assumed``, ``self.unschedulable``) and
   try the waiting pods again (``self.retry_unschedulable()``). After a lost watch the informer
   lists again and reports the pods that vanished meanwhile as ``DeletedFinalStateUnknown``
   tombstones, not dicts: ``meta_namespace_key(obj)`` works for both, ``obj["spec"]`` does not.

Grade it (on a lab started in the notebook; it re-reads this file each time):

    labs.check("pod-scheduler", lab=lab)

The grader hands your scheduler the Lease while its pod watch lags, cuts the watch after
compacting the history (410 Gone), kills the API server, and says which invariant broke. The hint
of a failed step grows with each attempt; ``labs.hint("pod-scheduler", answer=True)`` gives the
answer for the step that failed. A reference solution is in labs/solutions/ — try first.
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

    def pod_changed(self, pod: Object) -> None:
        key = meta_namespace_key(pod)
        if pod["spec"].get("nodeName"):
            self.assumed.pop(key, None)  # the cache caught up with the binding
        elif pod["spec"].get("schedulerName") == SCHEDULER_NAME and not pod["metadata"].get("deletionTimestamp"):
            self.queue.add(key)

    def pod_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        # TODO 3: forget the pod (key = meta_namespace_key(obj)) and retry the unschedulable pods.
        pass

    def retry_unschedulable(self) -> None:
        for key in self.unschedulable:
            self.queue.add(key)
        self.unschedulable.clear()

    def requested(self, node_name: str) -> int:
        # TODO 2: the sum of pod_cpu(pod) over the cached pods on node_name — by their
        #         spec.nodeName, or by self.assumed.get(meta_namespace_key(pod)) when not yet bound.
        return 0

    def pick_node(self, pod: Object) -> str | None:
        # TODO 1: the least requested node with room for pod_cpu(pod); None if none fits.
        raise NotImplementedError("TODO 1: write PodScheduler.pick_node")

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


# ---------------------------------------------------------------------------------------------
# The automatic check. Nothing to edit below this line.
# ---------------------------------------------------------------------------------------------

from labs.exercises.pod_scheduler_check import check  # noqa: E402,F401  (registers the check)
