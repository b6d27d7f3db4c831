"""Client side shared by every component: REST client, informers, work queue.

Components (scheduler, controller manager, node agent, labctl) reach cluster state only through
this package — never through storage/, as Kubernetes components reach etcd only through the API
server. One module per job:

- `rest`: `ApiClient`, the Kubernetes REST verbs by resource (get, list, create, update,
  update_status, patch, delete, bind, logs, watch); every failure a typed error from
  orchestrator.api.errors.
- `informer`: `Informer` (list, then watch, into a local indexed cache; handlers on change;
  relist on 410) and `SharedInformerFactory` (one informer per resource and selectors).
- `workqueue`: `WorkQueue`, the fair, de-duplicating, rate-limited queue of keys for controllers.
- `leaderelection`: `LeaderElector`, one active replica at a time, on a Lease.
- `events`: `EventRecorder`, the Events that ``kubectl describe`` shows.

The usual shape of a controller::

    async with ApiClient.from_kubeconfig(path) as client:
        factory = SharedInformerFactory(client)
        pods = factory.informer("pods")
        pods.add_handler(on_add=lambda p: queue.add(meta_namespace_key(p)), ...)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(factory.run(), name="informers")
            await factory.wait_for_sync()
            ...  # workers: key = await queue.get(); sync(key); queue.done(key)

Kubernetes equivalent: k8s.io/client-go
"""

from orchestrator.client.events import EventRecorder
from orchestrator.client.informer import (
    DeletedFinalStateUnknown,
    Indexer,
    Informer,
    SharedInformerFactory,
    deleted_object,
    meta_namespace_key,
    split_key,
)
from orchestrator.client.leaderelection import LeaderElector
from orchestrator.client.rest import ApiClient, KubeconfigError, WatchEvent
from orchestrator.client.workqueue import QueueShutDown, WorkQueue

__all__ = [
    "ApiClient",
    "DeletedFinalStateUnknown",
    "EventRecorder",
    "Indexer",
    "Informer",
    "KubeconfigError",
    "LeaderElector",
    "QueueShutDown",
    "SharedInformerFactory",
    "WatchEvent",
    "WorkQueue",
    "deleted_object",
    "meta_namespace_key",
    "split_key",
]
