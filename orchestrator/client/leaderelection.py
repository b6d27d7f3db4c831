"""Leader election on a Lease: of several replicas of a component, exactly one acts at a time.

Every candidate loops on one ``coordination.k8s.io/v1`` Lease (e.g. ``kube-system/kube-scheduler``):

- **Acquire** when the lease does not exist (create it), has no holder (released), or has not
  changed for ``leaseDurationSeconds`` *as measured by our own clock since we saw it change*.
  The remote ``renewTime`` is never compared with our clock: clocks of two hosts differ, but
  both measure durations alike. So a standby that starts late waits a full lease duration
  before taking over, even if the lease's timestamps look old — as client-go does.
- **Renew** every `retry_period` while leading, by writing ``renewTime``. Every write carries
  the resourceVersion we read, so two candidates cannot both win: the loser gets 409 Conflict,
  reads again and sees the other holder.
- **Give up** when no renewal succeeded for `renew_deadline`: `is_leader` turns false and
  ``on_stopped_leading`` is called, and the component must stop acting. Because
  ``renew_deadline < lease_duration``, the old leader stops before any standby can take over
  (with the defaults, it stops at most 2 + 10 = 12 s after its last renewal; standbys wait 15 s).
- **Takeover** writes ``acquireTime`` and increments ``leaseTransitions``.
- **Release** on clean shutdown (the `run` task cancelled while leading): the holder is set to
  ``""`` with a 1 s duration, so a standby takes over at its next try instead of after 15 s
  (client-go's ``ReleaseOnCancel``).

Times in the Lease are MicroTime: RFC 3339 with microseconds, ``2024-05-01T12:00:00.123456Z``.

`run` returns when leadership is lost (as client-go's ``Run``; Kubernetes components then exit
and are restarted as a candidate). The callbacks are synchronous and called from `run`'s task.

Kubernetes equivalent: k8s.io/client-go/tools/leaderelection (leaderelection.go,
resourcelock/leaselock.go).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable
from typing import Any

from orchestrator.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from orchestrator.api.timestamps import parse_rfc3339, rfc3339_micro
from orchestrator.client.clock import Clock, LoopClock
from orchestrator.client.rest import ApiClient, resource_info

__all__ = ["LeaderElector", "format_micro_time", "parse_micro_time"]

log = logging.getLogger(__name__)

LEASES = resource_info("leases.coordination.k8s.io")

JITTER_FACTOR = 1.2  # client-go's: candidates retry at retry_period * (1 + random * 1.2)


format_micro_time = rfc3339_micro  # ``2024-05-01T12:00:00.123456Z`` (metav1.MicroTime on the wire)


parse_micro_time = parse_rfc3339


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _record(spec: dict[str, Any]) -> tuple[Any, ...]:
    """What we compare to notice that the lease changed."""
    return tuple(
        spec.get(k)
        for k in ("holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions")
    )


class LeaderElector:
    """One candidate for the leadership held in a Lease. Run `run` as a task you own."""

    def __init__(
        self,
        client: ApiClient,
        *,
        lease_name: str,
        namespace: str = "kube-system",
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
        clock: Clock | None = None,
        wall_clock: Callable[[], dt.datetime] = _utc_now,
        release_on_cancel: bool = True,
        jitter: float = JITTER_FACTOR,
    ) -> None:
        # The same checks as client-go's NewLeaderElector: the timing argument above needs them.
        if not identity:
            raise ValueError("identity is required (e.g. hostname plus a random suffix)")
        if not lease_name:
            raise ValueError("lease_name is required")
        if lease_duration <= renew_deadline:
            raise ValueError(f"lease_duration ({lease_duration}) must be greater than renew_deadline ({renew_deadline})")
        if renew_deadline <= JITTER_FACTOR * retry_period:
            raise ValueError(
                f"renew_deadline ({renew_deadline}) must be greater than "
                f"{JITTER_FACTOR} * retry_period ({retry_period})"
            )
        if retry_period <= 0:
            raise ValueError(f"retry_period must be positive, got {retry_period}")
        self.client = client
        self.lease_name = lease_name
        self.namespace = namespace
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._wall = wall_clock
        self._release_on_cancel = release_on_cancel
        self._jitter = jitter
        self._lease: dict[str, Any] | None = None  # the last lease we read or wrote
        self._observed_record: tuple[Any, ...] | None = None
        self._observed_time = 0.0
        self._reported_leader: str | None = None
        self._is_leader = False
        self._handover_revision = 0

    def __repr__(self) -> str:
        return f"<LeaderElector {self.namespace}/{self.lease_name} {self.identity} leader={self.is_leader}>"

    @property
    def is_leader(self) -> bool:
        """True while we hold the lease and renewed it within `renew_deadline`."""
        return self._is_leader

    @property
    def handover_revision(self) -> int:
        """Up to which revision a previous leader may have written, once `run` has called
        ``on_started_leading``: 0 if we created the Lease (there was none); the revision of its
        release if the last holder released it (it had stopped acting before); the revision of our
        own taking write if it expired (its holder may have acted until then). A new leader's
        caches must hold that revision before it acts (orchestrator/controllers/manager.py)."""
        return self._handover_revision

    @property
    def leader(self) -> str:
        """The holder identity last seen in the lease ("" if none)."""
        return (self._lease or {}).get("spec", {}).get("holderIdentity") or ""

    async def run(self) -> None:
        """Wait to acquire the lease, lead while renewals succeed, return when leadership is lost.

        Cancelling the task stops it at any point; if it was leading, the lease is released first.
        """
        led = False
        try:
            await self._acquire()
            led = True
            log.info("%s: became leader", self)
            if self._on_started is not None:
                self._on_started()
            await self._renew_until_lost()
            log.warning("%s: leadership lost: could not renew within %ss", self, self.renew_deadline)
        finally:
            if self._is_leader and self._release_on_cancel:
                await self._release()
            self._is_leader = False
            if led and self._on_stopped is not None:
                self._on_stopped()

    # --- the loops -------------------------------------------------------------------------

    async def _acquire(self) -> None:
        while not await self._attempt():
            await self._clock.sleep(self.retry_period * (1 + random.random() * self._jitter))

    async def _renew_until_lost(self) -> None:
        # As client-go: each round polls every retry_period until a renewal succeeds; a round
        # that reaches renew_deadline without one ends the leadership.
        while True:
            await self._clock.sleep(self.retry_period)
            started = self._clock.now()
            while not await self._attempt():
                await self._clock.sleep(self.retry_period)
                if self._clock.now() - started >= self.renew_deadline:
                    self._is_leader = False
                    return

    async def _attempt(self) -> bool:
        try:
            # A hung request must not keep us believing we lead: bound each try (in real time).
            return await asyncio.wait_for(self._try_acquire_or_renew(), timeout=self.renew_deadline)
        except TimeoutError:
            log.info("%s: lease request timed out", self)
            return False
        except ApiError as err:
            log.info("%s: cannot read or write the lease: %s", self, err)
            return False

    async def _try_acquire_or_renew(self) -> bool:
        now = format_micro_time(self._wall())
        try:
            lease = await self.client.get(LEASES, self.lease_name, namespace=self.namespace)
        except NotFound:
            spec = self._spec(acquire_time=now, renew_time=now, transitions=0)
            body = {"metadata": {"name": self.lease_name, "namespace": self.namespace}, "spec": spec}
            try:
                created = await self.client.create(LEASES, body, namespace=self.namespace)
            except AlreadyExists:
                return False  # another candidate created it first
            self._observe(created)
            self._handover_revision = 0
            self._is_leader = True
            return True

        spec = lease.get("spec") or {}
        if _record(spec) != self._observed_record:
            self._observe(lease)
        else:
            self._lease = lease
        holder = spec.get("holderIdentity") or ""
        duration = spec.get("leaseDurationSeconds") or self.lease_duration
        if holder and holder != self.identity and self._observed_time + duration > self._clock.now():
            return False  # held by someone else, who renewed it recently (by our clock)

        if holder == self.identity:
            new_spec = self._spec(
                acquire_time=spec.get("acquireTime") or now,
                renew_time=now,
                transitions=spec.get("leaseTransitions") or 0,
            )
        else:  # taking over: from an expired holder, or a released lease
            new_spec = self._spec(acquire_time=now, renew_time=now, transitions=(spec.get("leaseTransitions") or 0) + 1)
        try:
            # The lease we read carries its resourceVersion: a write since then makes this a 409.
            updated = await self.client.update(LEASES, {**lease, "spec": new_spec}, namespace=self.namespace)
        except Conflict:
            log.info("%s: the lease changed under us; reading it again", self)
            return False
        self._observe(updated)
        if not self._is_leader:  # taking the lead, not renewing it
            self._handover_revision = _revision(lease) if not holder else _revision(updated)
        self._is_leader = True
        return True

    async def _release(self) -> None:
        lease = self._lease
        if lease is None:
            return
        now = format_micro_time(self._wall())
        spec = lease.get("spec") or {}
        released = {
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": spec.get("leaseTransitions") or 0,
        }
        try:
            await asyncio.wait_for(
                self.client.update(LEASES, {**lease, "spec": released}, namespace=self.namespace),
                timeout=self.renew_deadline,
            )
            log.info("%s: released the lease", self)
        except (ApiError, TimeoutError) as err:
            # Not fatal: the standbys take over when the lease expires instead.
            log.warning("%s: could not release the lease: %s", self, err)

    # --- helpers ---------------------------------------------------------------------------

    def _spec(self, *, acquire_time: str, renew_time: str, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": round(self.lease_duration),
            "acquireTime": acquire_time,
            "renewTime": renew_time,
            "leaseTransitions": transitions,
        }

    def _observe(self, lease: dict[str, Any]) -> None:
        """Remember the lease and *when we saw it change*: the basis of every expiry decision."""
        self._lease = lease
        spec = lease.get("spec") or {}
        self._observed_record = _record(spec)
        self._observed_time = self._clock.now()
        holder = spec.get("holderIdentity") or ""
        if holder != self._reported_leader:
            self._reported_leader = holder
            if holder and self._on_new_leader is not None:
                self._on_new_leader(holder)
