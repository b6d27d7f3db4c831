"""The controller manager's takeover: a new leader's controllers start on caches that hold every
write of the old leader (its watches caught up to the Lease revision, or lists afresh); a
controller that crashes ends the leadership instead of holding the Lease with nothing running."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.api.resources import lookup
from orchestrator.client.leaderelection import LeaderElector
from orchestrator.controllers.manager import ControllerManager, ManagerOptions
from tests.unit.client.test_rest import PODS, FakeApiServer, pod

LEASES = lookup("coordination.k8s.io", "leases")


def _manager(client, **options) -> ControllerManager:  # type: ignore[no-untyped-def]
    return ControllerManager(client, identity="standby",
                             options=ManagerOptions(controllers=("replicaset",), catch_up_patience=0.2, **options))


def _elector(client, manager: ControllerManager) -> LeaderElector:  # type: ignore[no-untyped-def]
    return LeaderElector(client, lease_name="kube-controller-manager", identity="standby", lease_duration=3,
                         renew_deadline=2, retry_period=0.5, on_started_leading=manager.on_started_leading)


async def test_a_new_leader_starts_its_controllers_only_once_its_caches_hold_the_old_leaders_writes() -> None:
    server = FakeApiServer()
    async with server.client() as client:
        manager = _manager(client)
        pod_informer = manager.controller("replicaset").pod_informer  # type: ignore[attr-defined]
        started: list[tuple[bool, int]] = []
        elector = _elector(client, manager)

        async def run_controllers() -> None:
            started.append((pod_informer.get("default/made-by-the-old-leader") is not None, elector.handover_revision))
            await asyncio.Event().wait()

        manager._run_controllers = run_controllers  # type: ignore[method-assign]
        informers = asyncio.create_task(manager.factory.run(), name="test-informers")
        try:
            await asyncio.wait_for(manager.factory.wait_for_sync(), 3)
            # The old leader's last create, which this standby's lagging watch never delivers; the
            # Lease write that makes the standby the leader comes after it.
            server.put(LEASES, {"metadata": {"name": "kube-controller-manager", "namespace": "kube-system"},
                                "spec": {"holderIdentity": "old-leader", "leaseDurationSeconds": 1}})
            made = server.put(PODS, pod("made-by-the-old-leader"), hidden=True)
            leading = asyncio.create_task(manager._lead(elector), name="test-lead")
            async with asyncio.timeout(5):
                while not started:
                    await asyncio.sleep(0.01)
            leading.cancel()
            await asyncio.gather(leading, return_exceptions=True)
        finally:
            informers.cancel()
            await asyncio.gather(informers, return_exceptions=True)
    (seen, handover), = started
    # The old leader's Lease expired: it may have written until our taking write.
    assert handover > int(made["metadata"]["resourceVersion"])
    assert seen, "the controllers started on a pod cache that misses the old leader's pod"


async def test_a_crashed_controller_ends_the_leadership_instead_of_holding_the_lease_idle() -> None:
    server = FakeApiServer()
    async with server.client() as client:
        manager = _manager(client)

        async def run_controllers() -> None:
            raise RuntimeError("a controller's bug")

        manager._run_controllers = run_controllers  # type: ignore[method-assign]
        informers = asyncio.create_task(manager.factory.run(), name="test-informers")
        try:
            await asyncio.wait_for(manager.factory.wait_for_sync(), 3)
            with pytest.raises(RuntimeError, match="a controller's bug"):
                await asyncio.wait_for(manager._lead(_elector(client, manager)), 5)
        finally:
            informers.cancel()
            await asyncio.gather(informers, return_exceptions=True)
