"""The service-account controller: every active namespace has a ``default`` ServiceAccount.

Pods that name no ServiceAccount run as ``default`` (ServiceAccount admission), so it must exist
in every namespace: this controller creates it when a namespace appears and again whenever
someone deletes it. A namespace that is Terminating is left alone (the API server refuses new
objects in it anyway, and the namespace controller is emptying it).

Only ``default`` is watched (a field selector), so the cache holds one object per namespace.

Kubernetes equivalent: pkg/controller/serviceaccount/serviceaccounts_controller.go
"""

from __future__ import annotations

import logging

from orchestrator.api.errors import AlreadyExists, Forbidden, NotFound
from orchestrator.client.informer import DeletedFinalStateUnknown
from orchestrator.controllers.controller import Controller, ControllerContext, Object
from orchestrator.controllers.ownerrefs import meta

__all__ = ["DEFAULT_SERVICE_ACCOUNT", "ServiceAccountsController"]

log = logging.getLogger(__name__)

DEFAULT_SERVICE_ACCOUNT = "default"


class ServiceAccountsController(Controller):
    name = "serviceaccount"
    default_workers = 1  # --concurrent-serviceaccount-syncs is 1 upstream

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers)
        ns_field = f"metadata.name={ctx.namespace}" if ctx.namespace else None
        self.ns_informer = ctx.factory.informer("namespaces", field_selector=ns_field)
        self.sa_informer = ctx.factory.informer("serviceaccounts", namespace=ctx.namespace,
                                                field_selector=f"metadata.name={DEFAULT_SERVICE_ACCOUNT}")
        # The key is the namespace's name: "does this namespace have its accounts?"
        self.ns_informer.add_handler(on_add=self.enqueue, on_update=lambda old, cur: self.enqueue(cur))
        self.sa_informer.add_handler(on_delete=self._account_deleted)

    def _account_deleted(self, sa: Object | DeletedFinalStateUnknown) -> None:
        obj = sa.obj if isinstance(sa, DeletedFinalStateUnknown) else sa
        namespace = meta(obj).get("namespace") if isinstance(obj, dict) else None
        if namespace:
            self.queue.add(namespace)

    def resync_all(self) -> None:
        for ns in self.ns_informer.list():
            self.enqueue(ns)

    async def sync(self, key: str) -> None:
        ns = self.ns_informer.get(key)
        if ns is None or meta(ns).get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            return
        if self.sa_informer.get(f"{key}/{DEFAULT_SERVICE_ACCOUNT}") is not None:
            return
        body = {"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": key}}
        try:
            await self.client.create("serviceaccounts", body, namespace=key)
        except AlreadyExists:
            return  # the cache was behind
        except (NotFound, Forbidden) as err:
            # The namespace went away or started terminating since the cache saw it.
            log.info("%s: no default ServiceAccount in %s: %s", self.name, key, err)
            return
        log.info("%s: created ServiceAccount %s/%s", self.name, key, DEFAULT_SERVICE_ACCOUNT)
