from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExplainRequest(_message.Message):
    __slots__ = ("namespace", "name", "pod_json")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POD_JSON_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    pod_json: str
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., pod_json: _Optional[str] = ...) -> None: ...

class PluginScore(_message.Message):
    __slots__ = ("plugin", "raw", "normalized", "weight", "weighted")
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    WEIGHTED_FIELD_NUMBER: _ClassVar[int]
    plugin: str
    raw: int
    normalized: int
    weight: int
    weighted: int
    def __init__(self, plugin: _Optional[str] = ..., raw: _Optional[int] = ..., normalized: _Optional[int] = ..., weight: _Optional[int] = ..., weighted: _Optional[int] = ...) -> None: ...

class NodeExplanation(_message.Message):
    __slots__ = ("node_name", "feasible", "code", "plugin", "reasons", "total_score", "scores")
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    FEASIBLE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SCORE_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    node_name: str
    feasible: bool
    code: str
    plugin: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    total_score: int
    scores: _containers.RepeatedCompositeFieldContainer[PluginScore]
    def __init__(self, node_name: _Optional[str] = ..., feasible: _Optional[bool] = ..., code: _Optional[str] = ..., plugin: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., total_score: _Optional[int] = ..., scores: _Optional[_Iterable[_Union[PluginScore, _Mapping]]] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("pod", "profile", "chosen_node", "message", "nodes")
    POD_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_NODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    pod: str
    profile: str
    chosen_node: str
    message: str
    nodes: _containers.RepeatedCompositeFieldContainer[NodeExplanation]
    def __init__(self, pod: _Optional[str] = ..., profile: _Optional[str] = ..., chosen_node: _Optional[str] = ..., message: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[NodeExplanation, _Mapping]]] = ...) -> None: ...

class ListQueueRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueuedPod(_message.Message):
    __slots__ = ("pod", "queue", "attempts", "last_failure")
    POD_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILURE_FIELD_NUMBER: _ClassVar[int]
    pod: str
    queue: str
    attempts: int
    last_failure: str
    def __init__(self, pod: _Optional[str] = ..., queue: _Optional[str] = ..., attempts: _Optional[int] = ..., last_failure: _Optional[str] = ...) -> None: ...

class ListQueueResponse(_message.Message):
    __slots__ = ("pods",)
    PODS_FIELD_NUMBER: _ClassVar[int]
    pods: _containers.RepeatedCompositeFieldContainer[QueuedPod]
    def __init__(self, pods: _Optional[_Iterable[_Union[QueuedPod, _Mapping]]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("identity", "leader", "leader_election", "leader_identity", "profiles", "counters", "queue", "nodes", "pods")
    class CountersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class QueueEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LEADER_ELECTION_FIELD_NUMBER: _ClassVar[int]
    LEADER_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    PODS_FIELD_NUMBER: _ClassVar[int]
    identity: str
    leader: bool
    leader_election: bool
    leader_identity: str
    profiles: _containers.RepeatedScalarFieldContainer[str]
    counters: _containers.ScalarMap[str, int]
    queue: _containers.ScalarMap[str, int]
    nodes: int
    pods: int
    def __init__(self, identity: _Optional[str] = ..., leader: _Optional[bool] = ..., leader_election: _Optional[bool] = ..., leader_identity: _Optional[str] = ..., profiles: _Optional[_Iterable[str]] = ..., counters: _Optional[_Mapping[str, int]] = ..., queue: _Optional[_Mapping[str, int]] = ..., nodes: _Optional[int] = ..., pods: _Optional[int] = ...) -> None: ...
