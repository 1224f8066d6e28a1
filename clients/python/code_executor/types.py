"""Typed events and results of code-executor, and their mapping to the proto."""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Iterable, Mapping
from typing import Union

from ._proto.codeexecutor.v1 import code_executor_pb2 as pb

__all__ = [
    "Outcome",
    "File",
    "Timings",
    "Started",
    "Output",
    "Stdout",
    "Stderr",
    "Finished",
    "Event",
    "ExecutionResult",
    "FilesArg",
]


class Outcome(str, enum.Enum):
    """How a run ended (``Finished.outcome``)."""

    UNSPECIFIED = "OUTCOME_UNSPECIFIED"
    OK = "OK"
    NONZERO_EXIT = "NONZERO_EXIT"
    TIMEOUT = "TIMEOUT"
    OOM_KILLED = "OOM_KILLED"
    OUTPUT_LIMIT = "OUTPUT_LIMIT"
    CANCELLED = "CANCELLED"
    SANDBOX_ERROR = "SANDBOX_ERROR"

    @classmethod
    def from_proto(cls, value: int) -> Outcome:
        try:
            return cls(pb.Finished.Outcome.Name(value))
        except ValueError:  # a value newer than this client
            return cls.UNSPECIFIED


@dataclasses.dataclass(frozen=True)
class File:
    """A file in the sandbox's workspace; ``path`` is relative to it.

    ``raw_path`` is set (output files only) when the program named the file
    with bytes that are not valid UTF-8: it holds the exact name, and ``path``
    the same with U+FFFD for each invalid sequence.
    """

    path: str
    content: bytes
    raw_path: bytes | None = None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    @property
    def path_bytes(self) -> bytes:
        """The exact name: ``raw_path`` if set, else ``path`` as UTF-8."""
        return self.raw_path if self.raw_path is not None else self.path.encode()

    @property
    def fs_path(self) -> str:
        """The exact name as the OS's ``str`` form (``os.fsdecode``)."""
        return os.fsdecode(self.path_bytes)


@dataclasses.dataclass(frozen=True)
class Timings:
    """Seconds spent in each phase; None for a phase the backend lacks."""

    queue: float | None = None
    create: float | None = None
    schedule: float | None = None
    start: float | None = None
    run: float | None = None
    cleanup: float | None = None
    total: float | None = None

    @classmethod
    def from_proto(cls, msg: pb.PhaseTimings) -> Timings:
        return cls(
            **{
                f.name: _seconds(msg, f.name)
                for f in dataclasses.fields(cls)
            }
        )


def _seconds(msg, field: str) -> float | None:
    if not msg.HasField(field):
        return None
    d = getattr(msg, field)
    return d.seconds + d.nanos / 1e9


@dataclasses.dataclass(frozen=True)
class Started:
    """The run was accepted and its sandbox is being created."""

    execution_id: str
    backend: str
    sandbox_name: str
    queue_wait: float | None
    client_request_id: str


@dataclasses.dataclass(frozen=True)
class Output:
    """A chunk the program wrote; ``stream`` is "stdout" or "stderr"."""

    data: bytes
    stream = ""  # set by the subclasses

    @property
    def text(self) -> str:
        """The chunk decoded as UTF-8 (a chunk may split a character)."""
        return self.data.decode("utf-8", errors="replace")


@dataclasses.dataclass(frozen=True)
class Stdout(Output):
    stream = "stdout"


@dataclasses.dataclass(frozen=True)
class Stderr(Output):
    stream = "stderr"


@dataclasses.dataclass(frozen=True)
class Finished:
    """The run ended; the last event of a stream."""

    exit_code: int
    outcome: Outcome
    message: str
    timings: Timings
    truncated: bool
    output_files: tuple[File, ...]
    output_files_truncated: bool
    # A session's cell: the session ended with it (``message`` says why).
    session_ended: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


Event = Union[Started, Stdout, Stderr, Finished]


def event_from_proto(msg: pb.ExecuteResponse) -> Event | None:
    """Maps one response; None for an event kind this client does not know."""
    kind = msg.WhichOneof("event")
    if kind == "started":
        s = msg.started
        return Started(
            execution_id=s.execution_id,
            backend=s.backend,
            sandbox_name=s.sandbox_name,
            queue_wait=_seconds(s, "queue_wait"),
            client_request_id=s.client_request_id,
        )
    if kind == "output":
        o = msg.output
        if o.stream == pb.Output.STDERR:
            return Stderr(o.data)
        return Stdout(o.data)
    if kind == "finished":
        f = msg.finished
        return Finished(
            exit_code=f.exit_code,
            outcome=Outcome.from_proto(f.outcome),
            message=f.message,
            timings=Timings.from_proto(f.timings),
            truncated=f.truncated,
            output_files=tuple(
                File(x.path, x.content, x.raw_path or None) for x in f.output_files
            ),
            output_files_truncated=f.output_files_truncated,
            session_ended=f.session_ended,
        )
    return None


@dataclasses.dataclass(frozen=True)
class ExecutionResult:
    """Everything one run produced (what ``run()`` returns)."""

    stdout_bytes: bytes
    stderr_bytes: bytes
    exit_code: int
    outcome: Outcome
    message: str
    output_files: tuple[File, ...]
    timings: Timings
    truncated: bool
    output_files_truncated: bool
    started: Started | None
    # A session's cell ended its session (interpreter exited, sandbox died).
    session_ended: bool = False

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def execution_id(self) -> str:
        return self.started.execution_id if self.started else ""

    def file(self, path: str) -> File | None:
        """The output file at ``path``, or None."""
        return next((f for f in self.output_files if f.path == path), None)


class ResultBuilder:
    """Accumulates events into an ExecutionResult."""

    def __init__(self) -> None:
        self.started: Started | None = None
        self.finished: Finished | None = None
        self._out: list[bytes] = []
        self._err: list[bytes] = []

    def add(self, event: Event) -> None:
        if isinstance(event, Started):
            self.started = event
        elif isinstance(event, Stdout):
            self._out.append(event.data)
        elif isinstance(event, Stderr):
            self._err.append(event.data)
        elif isinstance(event, Finished):
            self.finished = event

    def build(self) -> ExecutionResult:
        f = self.finished
        assert f is not None, "build() before the stream finished"
        return ExecutionResult(
            stdout_bytes=b"".join(self._out),
            stderr_bytes=b"".join(self._err),
            exit_code=f.exit_code,
            outcome=f.outcome,
            message=f.message,
            output_files=f.output_files,
            timings=f.timings,
            truncated=f.truncated,
            output_files_truncated=f.output_files_truncated,
            started=self.started,
            session_ended=f.session_ended,
        )


# Input files: a mapping {path: content} or an iterable of File / (path, content).
FilesArg = Union[
    Mapping[str, Union[bytes, str]],
    Iterable[Union[File, tuple[str, Union[bytes, str]]]],
]


def _to_bytes(value: bytes | str | bytearray | memoryview) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _files(files: FilesArg | None) -> list[pb.File]:
    if not files:
        return []
    items = files.items() if isinstance(files, Mapping) else files
    out = []
    for item in items:
        path, content = (item.path, item.content) if isinstance(item, File) else item
        out.append(pb.File(path=path, content=_to_bytes(content)))
    return out


def build_request(
    code: str,
    *,
    language: str | None = None,
    stdin: bytes | str | None = None,
    env: Mapping[str, str] | None = None,
    files: FilesArg | None = None,
    timeout_seconds: int | None = None,
    cpu_requested: str | None = None,
    cpu_limit: str | None = None,
    memory_requested: str | None = None,
    memory_limit: str | None = None,
    max_output_bytes: int | None = None,
    client_request_id: str | None = None,
    session_id: str | None = None,
) -> pb.ExecuteRequest:
    """Builds an ExecuteRequest; None (the default) leaves a field to the server."""
    limits = pb.Limits(
        timeout_seconds=int(timeout_seconds or 0),
        cpu_requested=cpu_requested or "",
        cpu_limit=cpu_limit or "",
        memory_requested=memory_requested or "",
        memory_limit=memory_limit or "",
        max_output_bytes=int(max_output_bytes or 0),
    )
    request = pb.ExecuteRequest(
        code=code,
        language=language or "",
        stdin=_to_bytes(stdin) if stdin is not None else b"",
        env=dict(env or {}),
        files=_files(files),
        client_request_id=client_request_id or "",
        session_id=session_id or "",
    )
    if limits.ByteSize():
        request.limits.CopyFrom(limits)
    return request


@dataclasses.dataclass(frozen=True)
class SessionInfo:
    """An open session (``create_session``): its id and what the server applied."""

    session_id: str
    language: str
    backend: str
    sandbox_name: str
    idle_timeout: float  # seconds
    max_lifetime: float  # seconds
    memory_limit: str
    cpu_limit: str

    @staticmethod
    def from_proto(s: pb.Session) -> SessionInfo:
        return SessionInfo(
            session_id=s.session_id,
            language=s.language,
            backend=s.backend,
            sandbox_name=s.sandbox_name,
            idle_timeout=_seconds(s, "idle_timeout"),
            max_lifetime=_seconds(s, "max_lifetime"),
            memory_limit=s.limits.memory_limit,
            cpu_limit=s.limits.cpu_limit,
        )


def build_session_request(
    *,
    language: str | None = None,
    env: Mapping[str, str] | None = None,
    files: FilesArg | None = None,
    timeout_seconds: int | None = None,
    cpu_requested: str | None = None,
    cpu_limit: str | None = None,
    memory_requested: str | None = None,
    memory_limit: str | None = None,
    max_output_bytes: int | None = None,
    idle_timeout: float | None = None,
    max_lifetime: float | None = None,
    client_request_id: str | None = None,
) -> pb.CreateSessionRequest:
    """Builds a CreateSessionRequest; None leaves a field to the server."""
    template = build_request(
        "",
        language=language,
        env=env,
        files=files,
        timeout_seconds=timeout_seconds,
        cpu_requested=cpu_requested,
        cpu_limit=cpu_limit,
        memory_requested=memory_requested,
        memory_limit=memory_limit,
        max_output_bytes=max_output_bytes,
        client_request_id=client_request_id,
    )
    request = pb.CreateSessionRequest(
        language=template.language,
        env=dict(template.env),
        files=list(template.files),
        client_request_id=template.client_request_id,
    )
    if template.HasField("limits"):
        request.limits.CopyFrom(template.limits)
    if idle_timeout:
        request.idle_timeout.FromNanoseconds(int(idle_timeout * 1e9))
    if max_lifetime:
        request.max_lifetime.FromNanoseconds(int(max_lifetime * 1e9))
    return request
