import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExecuteRequest(_message.Message):
    __slots__ = ("code", "language", "stdin", "env", "files", "limits", "client_request_id", "session_id")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    code: str
    language: str
    stdin: bytes
    env: _containers.ScalarMap[str, str]
    files: _containers.RepeatedCompositeFieldContainer[File]
    limits: Limits
    client_request_id: str
    session_id: str
    def __init__(self, code: _Optional[str] = ..., language: _Optional[str] = ..., stdin: _Optional[bytes] = ..., env: _Optional[_Mapping[str, str]] = ..., files: _Optional[_Iterable[_Union[File, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., client_request_id: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("language", "env", "files", "limits", "idle_timeout", "max_lifetime", "client_request_id")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MAX_LIFETIME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    language: str
    env: _containers.ScalarMap[str, str]
    files: _containers.RepeatedCompositeFieldContainer[File]
    limits: Limits
    idle_timeout: _duration_pb2.Duration
    max_lifetime: _duration_pb2.Duration
    client_request_id: str
    def __init__(self, language: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., files: _Optional[_Iterable[_Union[File, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., idle_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_lifetime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., client_request_id: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("session_id", "language", "limits", "idle_timeout", "max_lifetime", "backend", "sandbox_name", "client_request_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MAX_LIFETIME_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    language: str
    limits: Limits
    idle_timeout: _duration_pb2.Duration
    max_lifetime: _duration_pb2.Duration
    backend: str
    sandbox_name: str
    client_request_id: str
    def __init__(self, session_id: _Optional[str] = ..., language: _Optional[str] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., idle_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_lifetime: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., backend: _Optional[str] = ..., sandbox_name: _Optional[str] = ..., client_request_id: _Optional[str] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ("cells",)
    CELLS_FIELD_NUMBER: _ClassVar[int]
    cells: int
    def __init__(self, cells: _Optional[int] = ...) -> None: ...

class File(_message.Message):
    __slots__ = ("path", "content", "raw_path")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    RAW_PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    content: bytes
    raw_path: bytes
    def __init__(self, path: _Optional[str] = ..., content: _Optional[bytes] = ..., raw_path: _Optional[bytes] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("timeout_seconds", "cpu_requested", "cpu_limit", "memory_requested", "memory_limit", "max_output_bytes")
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CPU_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    timeout_seconds: int
    cpu_requested: str
    cpu_limit: str
    memory_requested: str
    memory_limit: str
    max_output_bytes: int
    def __init__(self, timeout_seconds: _Optional[int] = ..., cpu_requested: _Optional[str] = ..., cpu_limit: _Optional[str] = ..., memory_requested: _Optional[str] = ..., memory_limit: _Optional[str] = ..., max_output_bytes: _Optional[int] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("started", "output", "finished")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    started: Started
    output: Output
    finished: Finished
    def __init__(self, started: _Optional[_Union[Started, _Mapping]] = ..., output: _Optional[_Union[Output, _Mapping]] = ..., finished: _Optional[_Union[Finished, _Mapping]] = ...) -> None: ...

class Started(_message.Message):
    __slots__ = ("execution_id", "backend", "sandbox_name", "queue_wait", "client_request_id")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_WAIT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    backend: str
    sandbox_name: str
    queue_wait: _duration_pb2.Duration
    client_request_id: str
    def __init__(self, execution_id: _Optional[str] = ..., backend: _Optional[str] = ..., sandbox_name: _Optional[str] = ..., queue_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., client_request_id: _Optional[str] = ...) -> None: ...

class Output(_message.Message):
    __slots__ = ("stream", "data")
    class Stream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STREAM_UNSPECIFIED: _ClassVar[Output.Stream]
        STDOUT: _ClassVar[Output.Stream]
        STDERR: _ClassVar[Output.Stream]
    STREAM_UNSPECIFIED: Output.Stream
    STDOUT: Output.Stream
    STDERR: Output.Stream
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    stream: Output.Stream
    data: bytes
    def __init__(self, stream: _Optional[_Union[Output.Stream, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Finished(_message.Message):
    __slots__ = ("exit_code", "outcome", "message", "timings", "truncated", "output_files", "output_files_truncated", "session_ended")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[Finished.Outcome]
        OK: _ClassVar[Finished.Outcome]
        NONZERO_EXIT: _ClassVar[Finished.Outcome]
        TIMEOUT: _ClassVar[Finished.Outcome]
        OOM_KILLED: _ClassVar[Finished.Outcome]
        OUTPUT_LIMIT: _ClassVar[Finished.Outcome]
        CANCELLED: _ClassVar[Finished.Outcome]
        SANDBOX_ERROR: _ClassVar[Finished.Outcome]
    OUTCOME_UNSPECIFIED: Finished.Outcome
    OK: Finished.Outcome
    NONZERO_EXIT: Finished.Outcome
    TIMEOUT: Finished.Outcome
    OOM_KILLED: Finished.Outcome
    OUTPUT_LIMIT: Finished.Outcome
    CANCELLED: Finished.Outcome
    SANDBOX_ERROR: Finished.Outcome
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILES_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    SESSION_ENDED_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    outcome: Finished.Outcome
    message: str
    timings: PhaseTimings
    truncated: bool
    output_files: _containers.RepeatedCompositeFieldContainer[File]
    output_files_truncated: bool
    session_ended: bool
    def __init__(self, exit_code: _Optional[int] = ..., outcome: _Optional[_Union[Finished.Outcome, str]] = ..., message: _Optional[str] = ..., timings: _Optional[_Union[PhaseTimings, _Mapping]] = ..., truncated: _Optional[bool] = ..., output_files: _Optional[_Iterable[_Union[File, _Mapping]]] = ..., output_files_truncated: _Optional[bool] = ..., session_ended: _Optional[bool] = ...) -> None: ...

class PhaseTimings(_message.Message):
    __slots__ = ("queue", "create", "schedule", "start", "run", "cleanup", "total")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    CLEANUP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    queue: _duration_pb2.Duration
    create: _duration_pb2.Duration
    schedule: _duration_pb2.Duration
    start: _duration_pb2.Duration
    run: _duration_pb2.Duration
    cleanup: _duration_pb2.Duration
    total: _duration_pb2.Duration
    def __init__(self, queue: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., create: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., schedule: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., start: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., run: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cleanup: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., total: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
