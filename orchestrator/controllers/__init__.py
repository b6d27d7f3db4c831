"""Controller manager: reconcile loops that drive actual state toward desired state.

One module per job:

- `controller`: the framework — `Controller` (handlers enqueue keys; N workers call the
  level-triggered, idempotent `sync(key)`; failures retried with per-key exponential backoff),
  `ControllerContext`, `write_status`;
- `expectations`: `Expectations`, so a controller never double-creates while its own creates
  are still arriving through the watch;
- `ownerrefs`: controller references, adopt/release (`claim`), pod readiness;
- `replicaset`, `deployment` (+ `deploymentutil`, the pure rollout arithmetic),
  `garbagecollector`, `namespace`, `nodelifecycle`, `podgc`, `serviceaccounts`, `endpoints` and
  `endpointslice` (+ `endpointsutil`, which pods back a Service): the controllers;
- `manager`: all controllers in one process, acting only while holding the Lease
  kube-system/kube-controller-manager; `service` (gRPC), `metrics` (/metrics), `__main__`.

Kubernetes equivalent: k8s.io/kubernetes/pkg/controller, cmd/kube-controller-manager
"""
