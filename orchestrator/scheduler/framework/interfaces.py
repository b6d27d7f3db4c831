"""The scheduling framework's vocabulary: Status, CycleState, and one Protocol per extension point.

A plugin implements only the extension points it needs. The framework finds them structurally
(`isinstance(plugin, FilterPlugin)` works because the Protocols are runtime-checkable), so a
student's plugin needs no base class: a class with `name` and a `filter` method is a Filter plugin.

The order of extension points in one scheduling cycle:

    PreFilter -> Filter (per node) -> [PostFilter if no node fits]
              -> PreScore -> Score (per feasible node) -> NormalizeScore -> select host
              -> Reserve -> (binding cycle) Bind

"Does not fit" is an expected outcome and therefore a returned `Status`, never an exception;
an exception from a plugin is a bug and fails the cycle.

Kubernetes equivalent: pkg/scheduler/framework/interface.go, pkg/scheduler/framework/cycle_state.go
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from orchestrator.scheduler.framework.nodeinfo import NodeInfo

Pod = dict[str, Any]
"""A pod as it travels everywhere: a plain JSON dict in Kubernetes shape."""

MAX_NODE_SCORE = 100
"""Scores are normalized into 0..MAX_NODE_SCORE before weights are applied (upstream MaxNodeScore)."""
MIN_NODE_SCORE = 0


class Code(enum.Enum):
    """The outcome of running one plugin. Only SUCCESS and SKIP let a cycle continue unchanged."""

    SUCCESS = "Success"
    ERROR = "Error"
    """Something went wrong inside the plugin; the pod is retried after backoff."""
    UNSCHEDULABLE = "Unschedulable"
    """The pod does not fit now, but preemption or a cluster change might make it fit."""
    UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"
    """The pod does not fit and preempting other pods would not help (e.g. a taint, a selector)."""
    SKIP = "Skip"
    """From PreFilter/PreScore: this plugin has nothing to do for this pod; skip its Filter/Score."""


@dataclass(frozen=True, slots=True)
class Status:
    """The result of a plugin call: a code, human-readable reasons, and the plugin that said so.

    Reasons are the exact strings upstream uses ("Insufficient cpu"), because they are counted
    into the FailedScheduling message users read in `kubectl describe pod`.
    """

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @staticmethod
    def unschedulable(*reasons: str, plugin: str = "") -> Status:
        return Status(Code.UNSCHEDULABLE, reasons, plugin)

    @staticmethod
    def unresolvable(*reasons: str, plugin: str = "") -> Status:
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons, plugin)

    @staticmethod
    def error(message: str, *, plugin: str = "") -> Status:
        return Status(Code.ERROR, (message,), plugin)

    def is_success(self) -> bool:
        return self.code is Code.SUCCESS

    def is_skip(self) -> bool:
        return self.code is Code.SKIP

    def is_rejected(self) -> bool:
        """True for both kinds of "does not fit"."""
        return self.code is Code.UNSCHEDULABLE or self.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def with_plugin(self, plugin: str) -> Status:
        """The same status, stamped with the plugin that returned it (done by the framework)."""
        return self if self.plugin == plugin else Status(self.code, self.reasons, plugin)


SUCCESS = Status()
"""The one success value; plugins return it instead of building a new Status per node."""
SKIP = Status(Code.SKIP)


class CycleState:
    """Scratch space for one scheduling cycle of one pod, shared by that cycle's plugins.

    A PreFilter plugin computes something once (the pod's requests) and its Filter reads it for
    every node. Nothing survives the cycle. Keys are plugin-chosen strings, by convention the
    plugin name plus a suffix ("PreFilterNodeResourcesFit").
    """

    __slots__ = ("_data", "skip_filter_plugins", "skip_score_plugins")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter_plugins: set[str] = set()
        self.skip_score_plugins: set[str] = set()

    def read(self, key: str) -> Any:
        """The value a plugin wrote earlier in this cycle; KeyError if none (a plugin ordering bug)."""
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value


@dataclass(frozen=True, slots=True)
class PreFilterResult:
    """A PreFilter may narrow the candidate nodes; None means all nodes (upstream PreFilterResult)."""

    node_names: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Handle:
    """What the framework gives plugins at construction: the means to act on the cluster.

    `bind_pod(pod, node_name)` posts the Binding through the API server; it is injected by the
    process that owns the network client, so plugins stay free of I/O code.
    """

    bind_pod: Callable[[Pod, str], Awaitable[None]] | None = None


PluginArgs = Mapping[str, Any]
PluginFactory = Callable[[PluginArgs, Handle], "Plugin"]
"""Every plugin class is its own factory: `Class(args, handle)`."""


@runtime_checkable
class Plugin(Protocol):
    """Every plugin has a name, the one used in the configuration and in Status.plugin."""

    name: str


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: Pod) -> tuple[PreFilterResult | None, Status]:
        """Called once per cycle before any Filter. May write to `state` for its Filter to read.

        Return SKIP to have the framework skip this plugin's Filter for this pod (e.g. NodePorts
        for a pod with no host ports); a rejected Status rejects the pod on every node.
        Must not mutate the pod.
        """
        ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> Status:
        """Called per candidate node: SUCCESS if the pod may run there, else a rejected Status
        whose reasons say why. Runs for hundreds of nodes per cycle, so keep it cheap; read the
        precomputed numbers of NodeInfo. Must not mutate the pod or the NodeInfo."""
        ...


@dataclass(frozen=True, slots=True)
class PostFilterResult:
    nominated_node_name: str | None = None


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    def post_filter(
        self, state: CycleState, pod: Pod, node_statuses: Mapping[str, Status]
    ) -> tuple[PostFilterResult | None, Status]:
        """Called only when no node fits (upstream: preemption). Its message is appended to the
        FailedScheduling message."""
        ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    def pre_score(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> Status:
        """Called once with the feasible nodes before scoring. Return SKIP to skip this plugin's
        Score for this pod."""
        ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: Pod, node_info: NodeInfo) -> int:
        """Called per feasible node; returns a raw score. Without `normalize_score` the raw score
        must already be within 0..MAX_NODE_SCORE. Must not mutate anything."""
        ...


@runtime_checkable
class ScoreExtensions(Protocol):
    def normalize_score(self, state: CycleState, pod: Pod, scores: list[int]) -> list[int]:
        """Optional, on a ScorePlugin: map this plugin's raw scores (aligned with the feasible
        nodes) into 0..MAX_NODE_SCORE, e.g. `default_normalize_score`."""
        ...


@runtime_checkable
class BatchFilterExtension(Protocol):
    def filter_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[Status]:
        """Optional, on a FilterPlugin: `filter` for many nodes at once, returning exactly
        `[filter(state, pod, n) for n in nodes]`, only faster.

        Not an upstream extension point: Go runs Filter on 16 goroutines, while Python pays
        ~0.3 us per method call, which at 1,000 nodes x 6 plugins is most of a cycle. A list
        comprehension over precomputed NodeInfo numbers avoids that. Plugins without it are
        called per node, so a student's plugin needs only `filter`."""
        ...


@runtime_checkable
class BatchScoreExtension(Protocol):
    def score_nodes(self, state: CycleState, pod: Pod, nodes: Sequence[NodeInfo]) -> list[int]:
        """Optional, on a ScorePlugin: `[score(state, pod, n) for n in nodes]`, only faster."""
        ...


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    def reserve(self, state: CycleState, pod: Pod, node_name: str) -> Status:
        """Called after a node is chosen and before binding, to claim per-node state."""
        ...

    def unreserve(self, state: CycleState, pod: Pod, node_name: str) -> None:
        """Undo `reserve` when a later step fails. Must be idempotent and must not fail."""
        ...


@runtime_checkable
class BindPlugin(Plugin, Protocol):
    async def bind(self, state: CycleState, pod: Pod, node_name: str) -> Status:
        """Bind the pod to the node. Return SKIP to let the next Bind plugin handle this pod."""
        ...


EXTENSION_POINTS: dict[str, type] = {
    "preFilter": PreFilterPlugin,
    "filter": FilterPlugin,
    "postFilter": PostFilterPlugin,
    "preScore": PreScorePlugin,
    "score": ScorePlugin,
    "reserve": ReservePlugin,
    "bind": BindPlugin,
}
"""Configuration key of each extension point -> the Protocol a plugin implements for it."""


def default_normalize_score(scores: list[int], *, reverse: bool) -> list[int]:
    """Scale scores so the highest becomes MAX_NODE_SCORE; with `reverse`, lower raw is better.

    Worked example: raw [0, 2, 4] -> [0, 50, 100]; reversed -> [100, 50, 0]. All zeros stay 0,
    or become 100 each when reversed (no node is worse than another).

    Kubernetes equivalent: pkg/scheduler/framework/plugins/helper/normalize_score.go
    """
    highest = max(scores, default=0)
    if highest == 0:
        return [MAX_NODE_SCORE] * len(scores) if reverse else list(scores)
    if reverse:
        return [MAX_NODE_SCORE - MAX_NODE_SCORE * s // highest for s in scores]
    return [MAX_NODE_SCORE * s // highest for s in scores]
