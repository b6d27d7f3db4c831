"""The scheduler: picks a node for every pod that has none, and says why when it cannot.

One scheduling cycle takes the pod with the highest priority from the queue, looks at a
snapshot of the cluster, keeps the nodes every Filter plugin accepts, ranks them with the
Score plugins, assumes the pod onto the best node in the cache and binds it through the API
server. A pod that fits nowhere goes back to the queue with a `FailedScheduling` message such
as "0/3 nodes are available: 1 node(s) had untolerated taint {gpu: true}, 2 Insufficient cpu."

Layout (the same as kube-scheduler's, so the upstream source is easy to cross-reference):

    framework/interfaces.py   Status, CycleState and one Protocol per extension point
    framework/nodeinfo.py     NodeInfo: a node plus the pods on it, totals kept incrementally
    framework/runtime.py      Framework: runs a profile's plugins for one pod over a snapshot
    plugins/<name>/           one package per plugin, named as upstream (noderesources, ...)
    registry.py               the table plugin name -> constructor
    config.py                 the YAML configuration (profiles, weights, backoff)
    cache.py                  nodes and pods as the scheduler sees them, with assumed pods
    queue.py                  the scheduling queue: activeQ, backoffQ, unschedulablePods

Everything here is pure and synchronous except `SchedulingQueue.pop()`; network I/O (the
informers, binding through the API, the gRPC service) lives outside these modules.

Kubernetes equivalent: pkg/scheduler
"""
