"""API Priority and Fairness, small: which requests wait when the API server is busy, and for how long.

Every authenticated request is classified by the first *flow schema* that matches it (lowest
precedence number first) into a *priority level*. Each level has its own share of the server's
concurrency (``--max-requests-inflight``, split by nominal concurrency shares as Kubernetes does),
so a flood at one level never takes the seats of another: a thousand pod-status writes from node
agents wait at ``system`` while the same agents' Lease renewals go through at ``node-high``.

Inside a level, requests over its seats wait in one FIFO queue per *flow* (the schema plus the
user's name), and a freed seat goes to the next flow in turn (round robin), so one noisy client
cannot starve a quiet one at the same level. A request that would make its flow's queue longer
than ``queue_length`` or that waits longer than ``queue_timeout`` gets 429 with ``Retry-After``,
which the official clients and kubectl retry.

The schemas and levels are Kubernetes' suggested configuration (the same names, precedences and
shares), reduced to what the lab's identities need:

    precedence  flow schema               matches                                         → level
    1           exempt                    group system:masters                              exempt
    2           probes                    /healthz /readyz /livez                           exempt
    100         system-leader-election    scheduler, controller manager: get/create/update  leader-election
                                          of leases
    400         system-node-high          group system:nodes: nodes, leases                 node-high
    450         node-fleets (this lab's)  controller manager: Leases in kube-node-lease     node-high
    500         system-nodes              group system:nodes: everything else               system
    800         kube-controller-manager   user system:kube-controller-manager               workload-high
    800         kube-scheduler            user system:kube-scheduler                        workload-high
    9000        service-accounts          group system:serviceaccounts                      workload-low
    9900        global-default            group system:authenticated                        global-default
    10000       catch-all                 everyone                                          catch-all

A seat is held until the response starts, so a watch or a followed log holds one only while it is
set up (as Kubernetes counts a watch's initialization); WebSocket streams (exec, attach,
port-forward) are long-running requests and are not queued, as in Kubernetes. Every response
says where it was classified (``X-Kubernetes-PF-FlowSchema-UID``, ``X-Kubernetes-PF-PriorityLevel-UID``),
and ``kubectl get --raw /debug/api_priority_and_fairness/dump_priority_levels`` shows the levels.
docs/flowcontrol.md walks through it.

Kubernetes equivalent: k8s.io/apiserver/pkg/util/flowcontrol (apf_controller.go, fairqueuing),
k8s.io/apiserver/pkg/server/filters/priority-and-fairness.go, the bootstrap configuration in
k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/default.go. Not built: FlowSchema and
PriorityLevelConfiguration as API objects (the configuration is fixed), shuffle sharding (one
queue per flow instead), work estimation (every request is one seat), borrowing between levels.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.api.errors import TooManyRequests
from orchestrator.apiserver import metrics
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import ANONYMOUS, SERVICE_ACCOUNT_PREFIX, Attributes

DEFAULT_MAX_REQUESTS_INFLIGHT = 600  # kube-apiserver: --max-requests-inflight 400 + --max-mutating-requests-inflight 200
DEFAULT_QUEUE_LENGTH = 50
DEFAULT_QUEUE_TIMEOUT = 15.0  # kube-apiserver: a quarter of --request-timeout (1m)
_UID_NAMESPACE = uuid.UUID("5f1d2a47-3c1e-4b8e-9a43-0f6a3a7b9c21")


def _uid(name: str) -> str:
    return str(uuid.uuid5(_UID_NAMESPACE, name))


@dataclass(frozen=True)
class PriorityLevel:
    name: str
    shares: int  # nominalConcurrencyShares; 0 with exempt
    exempt: bool = False

    @property
    def uid(self) -> str:
        return _uid("prioritylevel/" + self.name)


@dataclass(frozen=True)
class FlowSchema:
    name: str
    precedence: int
    level: str
    matches: Callable[[Attributes], bool]

    @property
    def uid(self) -> str:
        return _uid("flowschema/" + self.name)


def _group(name: str) -> Callable[[Attributes], bool]:
    return lambda a: name in a.user.groups


def _users(*names: str) -> Callable[[Attributes], bool]:
    return lambda a: a.user.name in names


PRIORITY_LEVELS: tuple[PriorityLevel, ...] = (
    PriorityLevel("exempt", 0, exempt=True),
    PriorityLevel("system", 30),
    PriorityLevel("node-high", 40),
    PriorityLevel("leader-election", 10),
    PriorityLevel("workload-high", 40),
    PriorityLevel("workload-low", 100),
    PriorityLevel("global-default", 20),
    PriorityLevel("catch-all", 5),
)

FLOW_SCHEMAS: tuple[FlowSchema, ...] = tuple(sorted((
    FlowSchema("exempt", 1, "exempt", _group("system:masters")),
    FlowSchema("probes", 2, "exempt",
               lambda a: not a.resource_request and a.path in ("/healthz", "/readyz", "/livez")),
    # Upstream's rule names the verbs get, create and update: leader election never patches.
    FlowSchema("system-leader-election", 100, "leader-election",
               lambda a: a.user.name in ("system:kube-controller-manager", "system:kube-scheduler")
               and a.resource == "leases" and a.api_group == "coordination.k8s.io"
               and a.verb in ("get", "create", "update")),
    FlowSchema("system-node-high", 400, "node-high",
               lambda a: "system:nodes" in a.user.groups and a.resource_request
               and (a.resource == "nodes" or (a.resource == "leases" and a.api_group == "coordination.k8s.io"))),
    # Not upstream's: a simulated fleet (orchestrator/nodeagent/fleet.py) acts for 250 nodes with the
    # controller manager's identity (a node's token may act only for its own node), so its Lease
    # renewals are node heartbeats and get the level a kubelet's get. Without this they waited at
    # leader-election (10 shares) and a 30,000-pod backlog made them 429 until nodes went NotReady.
    FlowSchema("node-fleets", 450, "node-high",
               lambda a: a.user.name == "system:kube-controller-manager" and a.resource == "leases"
               and a.api_group == "coordination.k8s.io" and a.namespace == "kube-node-lease"
               and a.verb in ("patch", "update")),
    FlowSchema("system-nodes", 500, "system", _group("system:nodes")),
    FlowSchema("kube-controller-manager", 800, "workload-high", _users("system:kube-controller-manager")),
    FlowSchema("kube-scheduler", 800, "workload-high", _users("system:kube-scheduler")),
    # The next two are groups every authenticator adds (authz/chain.py groups_of); matched by name
    # here rather than building the group list for every request.
    FlowSchema("service-accounts", 9000, "workload-low", lambda a: a.user.name.startswith(SERVICE_ACCOUNT_PREFIX)),
    FlowSchema("global-default", 9900, "global-default", lambda a: a.user.name != ANONYMOUS),
    FlowSchema("catch-all", 10000, "catch-all", lambda a: True),
), key=lambda s: s.precedence))


@dataclass
class _Level:
    config: PriorityLevel
    seats: int
    executing: int = 0
    queued: int = 0
    dispatched: int = 0
    rejected: int = 0
    timed_out: int = 0
    # Flow → its waiting requests; dict order is the round-robin order of the flows.
    flows: dict[str, deque[asyncio.Future[None]]] = field(default_factory=dict)
    # The level's metric children, bound once (a labels() lookup per request costs).
    m_executing: Any = None
    m_inqueue: Any = None
    m_wait: Any = None

    def __post_init__(self) -> None:
        name = self.config.name
        self.m_executing = metrics.FLOWCONTROL_EXECUTING.labels(name)
        self.m_inqueue = metrics.FLOWCONTROL_INQUEUE.labels(name)
        self.m_wait = metrics.FLOWCONTROL_WAIT.labels(name)
        metrics.FLOWCONTROL_SEATS.labels(name).set(self.seats)


@dataclass(frozen=True)
class Ticket:
    """What `FlowController.admit` gave a request: release it once, when the response starts."""

    schema: FlowSchema
    level: _Level
    holds_seat: bool


class FlowController:
    """The priority levels of one API-server process and the requests waiting at each."""

    def __init__(self, *, max_requests_inflight: int = DEFAULT_MAX_REQUESTS_INFLIGHT,
                 queue_length: int = DEFAULT_QUEUE_LENGTH, queue_timeout: float = DEFAULT_QUEUE_TIMEOUT,
                 levels: tuple[PriorityLevel, ...] = PRIORITY_LEVELS,
                 schemas: tuple[FlowSchema, ...] = FLOW_SCHEMAS) -> None:
        if max_requests_inflight < 1 or queue_length < 0 or queue_timeout <= 0:
            raise ValueError("max_requests_inflight must be >= 1, queue_length >= 0 and queue_timeout > 0")
        total_shares = sum(lv.shares for lv in levels if not lv.exempt)
        # kube-apiserver: NominalCL(l) = ceil(ServerCL * NCS(l) / sum(NCS)); every level gets at least one seat.
        self.levels = {lv.name: _Level(lv, 0 if lv.exempt else max(1, math.ceil(
            max_requests_inflight * lv.shares / total_shares))) for lv in levels}
        self.schemas = schemas
        self.queue_length = queue_length
        self.queue_timeout = queue_timeout

    def classify(self, attrs: Attributes) -> FlowSchema:
        for schema in self.schemas:
            if schema.matches(attrs):
                return schema
        return self.schemas[-1]

    async def admit(self, attrs: Attributes) -> Ticket:
        """Wait for a seat at the request's level; TooManyRequests (429) when its flow's queue is full or
        the wait was too long."""
        schema = self.classify(attrs)
        level = self.levels[schema.level]
        if level.config.exempt:
            level.dispatched += 1
            return Ticket(schema, level, holds_seat=False)
        if level.executing < level.seats and not level.queued:
            level.executing += 1
            level.dispatched += 1
            level.m_executing.set(level.executing)
            return Ticket(schema, level, holds_seat=True)
        flow = f"{schema.name}/{attrs.user.name}"
        queue = level.flows.get(flow)
        if queue is not None and len(queue) >= self.queue_length or self.queue_length == 0:
            self._reject(level, schema, "queue-full")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        level.flows.setdefault(flow, deque()).append(waiter)
        level.queued += 1
        level.m_inqueue.set(level.queued)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.queue_timeout):
                await waiter
        except BaseException as err:
            if waiter.done() and not waiter.cancelled():
                # Dispatched a moment before the client went away or the timer fired: give the seat on.
                self._release(level)
            else:
                self._forget(level, flow, waiter)
            if isinstance(err, TimeoutError):
                level.timed_out += 1
                self._reject(level, schema, "time-out")
            raise
        level.m_wait.observe(time.perf_counter() - started)
        return Ticket(schema, level, holds_seat=True)

    def release(self, ticket: Ticket) -> None:
        if ticket.holds_seat:
            self._release(ticket.level)

    def _release(self, level: _Level) -> None:
        level.executing -= 1
        while level.queued and level.executing < level.seats:
            flow, queue = next(iter(level.flows.items()))
            waiter = queue.popleft()
            del level.flows[flow]
            if queue:
                level.flows[flow] = queue  # to the back of the round robin
            level.queued -= 1
            level.executing += 1
            level.dispatched += 1
            waiter.set_result(None)
        level.m_executing.set(level.executing)
        level.m_inqueue.set(level.queued)

    def _forget(self, level: _Level, flow: str, waiter: asyncio.Future[None]) -> None:
        queue = level.flows.get(flow)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            level.queued -= 1
            if not queue:
                del level.flows[flow]
            level.m_inqueue.set(level.queued)

    def _reject(self, level: _Level, schema: FlowSchema, reason: str) -> None:
        level.rejected += 1
        metrics.FLOWCONTROL_REJECTED.labels(level.config.name, reason).inc()
        raise TooManyRequests(f"Too many requests, please try again later (priority level {level.config.name!r}, "
                              f"flow schema {schema.name!r}: {reason})", retry_after_seconds=1)

    def dump_priority_levels(self) -> str:
        """kube-apiserver's /debug/api_priority_and_fairness/dump_priority_levels, as a text table."""
        rows = [("PriorityLevelName", "Seats", "ActiveQueues", "IsIdle", "WaitingRequests", "ExecutingRequests",
                 "DispatchedRequests", "RejectedRequests", "TimedoutRequests")]
        for name, lv in self.levels.items():
            rows.append((name, "exempt" if lv.config.exempt else str(lv.seats), str(len(lv.flows)),
                         str(lv.executing == 0 and lv.queued == 0).lower(), str(lv.queued), str(lv.executing),
                         str(lv.dispatched), str(lv.rejected), str(lv.timed_out)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join(",  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows) + "\n"


def user_of(scope: dict[str, Any]) -> User | None:
    user = (scope.get("state") or {}).get("user")
    return user if isinstance(user, User) else None
