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
k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/default.go, the rule matching in
k8s.io/apiserver/pkg/util/flowcontrol/rule.go. The schemas and levels are written as read-only
FlowSchema and PriorityLevelConfiguration objects at start-up (``FlowController.objects``), so
kubectl shows them and the headers carry their uids. Not built: editing them (the configuration
is this module's), shuffle sharding (one queue per flow instead), work estimation (every request
is one seat), borrowing between levels.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from orchestrator.api.errors import TooManyRequests
from orchestrator.api.resources import FLOWCONTROL_GROUP
from orchestrator.apiserver import metrics
from orchestrator.apiserver.auth import User
from orchestrator.apiserver.authz.chain import Attributes, groups_of

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

    def to_object(self, queue_length: int) -> dict[str, Any]:
        """The PriorityLevelConfiguration that shows this level (kubectl get prioritylevelconfigurations).
        No ``queues`` or ``handSize``: the lab keeps one queue per flow instead of shuffle sharding."""
        if self.exempt:
            spec: dict[str, Any] = {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0}}
        else:
            spec = {"type": "Limited", "limited": {
                "nominalConcurrencyShares": self.shares,
                "limitResponse": {"type": "Queue", "queuing": {"queueLengthLimit": queue_length}}}}
        return {"apiVersion": f"{FLOWCONTROL_GROUP}/v1", "kind": "PriorityLevelConfiguration",
                "metadata": {"name": self.name, "annotations": dict(_AUTOUPDATE)}, "spec": spec}


ALL = "*"


@dataclass(frozen=True)
class Subject:
    """Who a rule is about: ``Subject("User", "alice")``, ``Subject("Group", "system:nodes")``;
    ``"*"`` matches every name."""

    kind: str  # "User" or "Group"
    name: str

    def matches(self, user: User, groups: tuple[str, ...]) -> bool:
        if self.kind == "User":
            return self.name in (ALL, user.name)
        return self.name == ALL or self.name in groups

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, self.kind.lower(): {"name": self.name}}


@dataclass(frozen=True)
class ResourceRule:
    """Matches resource requests: each list holds the accepted values, ``"*"`` any; ``resources``
    names a subresource as ``nodes/status``; a request without a namespace matches only with
    ``cluster_scope``."""

    verbs: tuple[str, ...] = (ALL,)
    api_groups: tuple[str, ...] = (ALL,)
    resources: tuple[str, ...] = (ALL,)
    namespaces: tuple[str, ...] = (ALL,)
    cluster_scope: bool = True

    def matches(self, a: Attributes) -> bool:
        resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        return (_among(a.verb, self.verbs) and _among(a.api_group, self.api_groups)
                and _among(resource, self.resources)
                and (self.cluster_scope if not a.namespace else _among(a.namespace, self.namespaces)))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verbs": list(self.verbs), "apiGroups": list(self.api_groups),
                               "resources": list(self.resources)}
        if self.cluster_scope:
            out["clusterScope"] = True
        if self.namespaces:
            out["namespaces"] = list(self.namespaces)
        return out


@dataclass(frozen=True)
class NonResourceRule:
    """Matches requests for a path that names no resource (``/healthz``)."""

    verbs: tuple[str, ...] = (ALL,)
    urls: tuple[str, ...] = (ALL,)

    def matches(self, a: Attributes) -> bool:
        return _among(a.verb, self.verbs) and _among(a.path, self.urls)

    def to_dict(self) -> dict[str, Any]:
        return {"verbs": list(self.verbs), "nonResourceURLs": list(self.urls)}


@dataclass(frozen=True)
class Rule:
    """Matches when one of the subjects is the requester and one of the rules (of the request's
    kind, resource or non-resource) matches what it asks."""

    subjects: tuple[Subject, ...]
    resource_rules: tuple[ResourceRule, ...] = ()
    non_resource_rules: tuple[NonResourceRule, ...] = ()

    def matches(self, a: Attributes, groups: tuple[str, ...]) -> bool:
        if not any(s.matches(a.user, groups) for s in self.subjects):
            return False
        rules: tuple[ResourceRule, ...] | tuple[NonResourceRule, ...] = (
            self.resource_rules if a.resource_request else self.non_resource_rules)
        return any(r.matches(a) for r in rules)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"subjects": [s.to_dict() for s in self.subjects]}
        if self.resource_rules:
            out["resourceRules"] = [r.to_dict() for r in self.resource_rules]
        if self.non_resource_rules:
            out["nonResourceRules"] = [r.to_dict() for r in self.non_resource_rules]
        return out


def _among(value: str, accepted: tuple[str, ...]) -> bool:
    return value in accepted or ALL in accepted


@dataclass(frozen=True)
class FlowSchema:
    name: str
    precedence: int
    level: str
    rules: tuple[Rule, ...]

    @property
    def uid(self) -> str:
        return _uid("flowschema/" + self.name)

    def matches(self, a: Attributes, groups: tuple[str, ...]) -> bool:
        return any(rule.matches(a, groups) for rule in self.rules)

    def to_object(self) -> dict[str, Any]:
        """The FlowSchema object that shows this schema (kubectl get flowschemas)."""
        return {"apiVersion": f"{FLOWCONTROL_GROUP}/v1", "kind": "FlowSchema",
                "metadata": {"name": self.name, "annotations": dict(_AUTOUPDATE)},
                "spec": {"priorityLevelConfiguration": {"name": self.level}, "matchingPrecedence": self.precedence,
                         "distinguisherMethod": {"type": "ByUser"}, "rules": [r.to_dict() for r in self.rules]},
                # The level it names exists: kubectl's MISSINGPL column says False.
                "status": {"conditions": [{"type": "Dangling", "status": "False", "reason": "Found",
                                           "message": f"This FlowSchema references the PriorityLevelConfiguration "
                                                      f"object named {self.level!r} and it exists"}]}}


# Upstream marks its suggested objects so; here nothing may edit them at all (the resources are read-only).
_AUTOUPDATE = {"apf.kubernetes.io/autoupdate-spec": "true"}
_EVERYTHING = (ResourceRule(),)
_EVERY_PATH = (NonResourceRule(),)


def _users(*names: str) -> tuple[Subject, ...]:
    return tuple(Subject("User", n) for n in names)


def _groups(*names: str) -> tuple[Subject, ...]:
    return tuple(Subject("Group", n) for n in names)


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

_LEASES = {"api_groups": ("coordination.k8s.io",), "resources": ("leases",), "cluster_scope": False}

FLOW_SCHEMAS: tuple[FlowSchema, ...] = tuple(sorted((
    FlowSchema("exempt", 1, "exempt", (Rule(_groups("system:masters"), _EVERYTHING, _EVERY_PATH),)),
    FlowSchema("probes", 2, "exempt", (Rule(_groups("system:unauthenticated", "system:authenticated"),
                                            non_resource_rules=(NonResourceRule(("get",), ("/healthz", "/readyz",
                                                                                           "/livez")),)),)),
    # Upstream's rule names the verbs get, create and update: leader election never patches.
    FlowSchema("system-leader-election", 100, "leader-election", (
        Rule(_users("system:kube-controller-manager", "system:kube-scheduler"),
             (ResourceRule(verbs=("get", "create", "update"), **_LEASES),)),)),
    FlowSchema("system-node-high", 400, "node-high", (
        Rule(_groups("system:nodes"), (ResourceRule(api_groups=("",), resources=("nodes", "nodes/status")),
                                       ResourceRule(**_LEASES))),)),
    # Not upstream's: a simulated fleet (orchestrator/nodeagent/fleet.py) acts for 250 nodes with the
    # controller manager's identity (a node's token may act only for its own node), so its Lease
    # renewals are node heartbeats and get the level a kubelet's get. Without this they waited at
    # leader-election (10 shares) and a 30,000-pod backlog made them 429 until nodes went NotReady.
    FlowSchema("node-fleets", 450, "node-high", (
        Rule(_users("system:kube-controller-manager"),
             (ResourceRule(verbs=("patch", "update"), **{**_LEASES, "namespaces": ("kube-node-lease",)}),)),)),
    FlowSchema("system-nodes", 500, "system", (Rule(_groups("system:nodes"), _EVERYTHING, _EVERY_PATH),)),
    FlowSchema("kube-controller-manager", 800, "workload-high",
               (Rule(_users("system:kube-controller-manager"), _EVERYTHING, _EVERY_PATH),)),
    FlowSchema("kube-scheduler", 800, "workload-high",
               (Rule(_users("system:kube-scheduler"), _EVERYTHING, _EVERY_PATH),)),
    FlowSchema("service-accounts", 9000, "workload-low",
               (Rule(_groups("system:serviceaccounts"), _EVERYTHING, _EVERY_PATH),)),
    FlowSchema("global-default", 9900, "global-default",
               (Rule(_groups("system:authenticated"), _EVERYTHING, _EVERY_PATH),)),
    FlowSchema("catch-all", 10000, "catch-all",
               (Rule(_groups("system:unauthenticated", "system:authenticated"), _EVERYTHING, _EVERY_PATH),)),
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
        # What the X-Kubernetes-PF-*-UID headers say: the stored objects' uids once `use_stored_uids`
        # has read them (the objects are written at start-up), name-based ones until then.
        self.schema_uids = {s.name: s.uid for s in schemas}
        self.level_uids = {lv.name: lv.uid for lv in levels}

    def objects(self) -> list[dict[str, Any]]:
        """The PriorityLevelConfigurations, then the FlowSchemas that refer to them, as API objects."""
        return ([lv.config.to_object(self.queue_length) for lv in self.levels.values()]
                + [s.to_object() for s in self.schemas])

    def use_stored_uids(self, stored: list[dict[str, Any]]) -> None:
        """Answer with the uids of the stored objects, so a header names the object kubectl shows."""
        for obj in stored:
            meta = obj.get("metadata") or {}
            uids = self.schema_uids if obj.get("kind") == "FlowSchema" else self.level_uids
            if meta.get("name") in uids and meta.get("uid"):
                uids[meta["name"]] = meta["uid"]

    def classify(self, attrs: Attributes) -> FlowSchema:
        groups = groups_of(attrs.user)
        for schema in self.schemas:
            if schema.matches(attrs, groups):
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
