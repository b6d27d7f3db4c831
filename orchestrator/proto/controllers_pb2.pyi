from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListControllersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ControllerInfo(_message.Message):
    __slots__ = ("name", "workers", "queue_depth", "in_flight", "delayed", "reconciles", "errors", "last_error", "last_error_key", "last_sync_unix", "retries")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    DELAYED_FIELD_NUMBER: _ClassVar[int]
    RECONCILES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_KEY_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNC_UNIX_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    workers: int
    queue_depth: int
    in_flight: int
    delayed: int
    reconciles: int
    errors: int
    last_error: str
    last_error_key: str
    last_sync_unix: float
    retries: int
    def __init__(self, name: _Optional[str] = ..., workers: _Optional[int] = ..., queue_depth: _Optional[int] = ..., in_flight: _Optional[int] = ..., delayed: _Optional[int] = ..., reconciles: _Optional[int] = ..., errors: _Optional[int] = ..., last_error: _Optional[str] = ..., last_error_key: _Optional[str] = ..., last_sync_unix: _Optional[float] = ..., retries: _Optional[int] = ...) -> None: ...

class ListControllersResponse(_message.Message):
    __slots__ = ("controllers",)
    CONTROLLERS_FIELD_NUMBER: _ClassVar[int]
    controllers: _containers.RepeatedCompositeFieldContainer[ControllerInfo]
    def __init__(self, controllers: _Optional[_Iterable[_Union[ControllerInfo, _Mapping]]] = ...) -> None: ...

class ReconcileRequest(_message.Message):
    __slots__ = ("controller", "namespace", "name", "timeout_seconds")
    CONTROLLER_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    controller: str
    namespace: str
    name: str
    timeout_seconds: float
    def __init__(self, controller: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ..., timeout_seconds: _Optional[float] = ...) -> None: ...

class ReconcileResponse(_message.Message):
    __slots__ = ("key", "ok", "error")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    key: str
    ok: bool
    error: str
    def __init__(self, key: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("identity", "leader", "leader_election", "leader_identity", "controllers")
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    LEADER_ELECTION_FIELD_NUMBER: _ClassVar[int]
    LEADER_IDENTITY_FIELD_NUMBER: _ClassVar[int]
    CONTROLLERS_FIELD_NUMBER: _ClassVar[int]
    identity: str
    leader: bool
    leader_election: bool
    leader_identity: str
    controllers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, identity: _Optional[str] = ..., leader: _Optional[bool] = ..., leader_election: _Optional[bool] = ..., leader_identity: _Optional[str] = ..., controllers: _Optional[_Iterable[str]] = ...) -> None: ...
