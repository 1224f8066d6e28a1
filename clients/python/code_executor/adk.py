"""ADK integration: run an agent's code through a code-executor service.

    from google.adk.agents import LlmAgent
    from code_executor.adk import RemoteCodeExecutor

    agent = LlmAgent(name="analyst", model="gemini-2.5-flash",
                     code_executor=RemoteCodeExecutor(target="code-executor:50051"))

A drop-in replacement for ADK's ``GkeCodeExecutor``: the same resource knobs
(timeout_seconds, cpu_requested, mem_requested, cpu_limit, mem_limit), but the
sandbox is created by a shared service, stdout and stderr stay apart, a timed
out run is killed, input files go in and output files come back. With
``stateful=True`` the code blocks of one ADK session share an interpreter
(a code-executor session), as with ADK's Vertex AI executor.

Requires the ``adk`` extra: ``pip install 'code-executor-client[adk]'``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import mimetypes
import os
import pathlib
import threading
from typing import TYPE_CHECKING, Any, Optional

from pydantic import Field, PrivateAttr, field_validator

try:
    from google.adk.code_executors.base_code_executor import BaseCodeExecutor
    from google.adk.code_executors.code_execution_utils import (
        CodeExecutionInput,
        CodeExecutionResult,
        File as AdkFile,
    )
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "code_executor.adk needs google-adk: "
        "pip install 'code-executor-client[adk]'"
    ) from e

from .client import CodeExecutorClient
from .errors import CodeExecutorError, SessionNotFoundError
from .types import ExecutionResult, Outcome

if TYPE_CHECKING:
    from google.adk.agents.invocation_context import InvocationContext

__all__ = ["RemoteCodeExecutor", "to_code_execution_result", "DEFAULT_TARGET"]

logger = logging.getLogger(__name__)

# Where RemoteCodeExecutor() connects when given no target.
DEFAULT_TARGET = "localhost:50051"
TARGET_ENV = "CODE_EXECUTOR_TARGET"

# Older ADK releases have no exit_code on CodeExecutionResult.
_HAS_EXIT_CODE = any(
    f.name == "exit_code" for f in dataclasses.fields(CodeExecutionResult)
)

# Slack added to the run's timeout for the call's deadline: queueing, sandbox
# start-up and cleanup happen outside the program's own wall-clock limit.
_DEADLINE_SLACK_SECONDS = 60


class _ClientHolder:
    """Holds the lazily created gRPC client and, when stateful, which
    code-executor session serves which ADK session; a copy of the executor
    gets none of them.

    ADK and pydantic copy agents (``model_copy(deep=True)``), and a gRPC
    channel cannot be copied, so a copy simply connects again on first use
    (and opens its own sessions).
    """

    def __init__(self) -> None:
        self.client: Any = None
        self.sessions: dict[str, str] = {}  # ADK execution_id -> session_id
        self.lock = threading.Lock()

    def __deepcopy__(self, memo: dict) -> _ClientHolder:
        return _ClientHolder()

    def __copy__(self) -> _ClientHolder:
        return _ClientHolder()


class RemoteCodeExecutor(BaseCodeExecutor):
    """Executes the agent's code in a fresh gVisor sandbox of a code-executor service.

    Each ``execute_code`` is one ``Execute`` call: a new sandbox, nothing kept
    between runs. With ``stateful=True`` the blocks of one ADK session (ADK
    passes its id as ``CodeExecutionInput.execution_id``) run as cells of one
    code-executor session, created on the first block: variables, imports and
    workspace files stay. Such a session lives until it is idle for
    ``session_idle_timeout_seconds`` (server default 10 min), reaches
    ``session_max_lifetime_seconds`` (default 1 h), its interpreter exits, or
    ``close()``; the next block then starts a new one and its stderr begins
    with a note that the earlier state is gone. A failure of the service
    itself (unreachable, queue full, request rejected) does not raise: it comes
    back as a result whose stderr says what failed, as ADK's own executors do,
    so the agent can react to it.

    None, the default of every limit, means the server's default.
    """

    target: str = Field(default_factory=lambda: os.environ.get(TARGET_ENV, DEFAULT_TARGET))
    """gRPC target "host:port" of the service; defaults to $CODE_EXECUTOR_TARGET,
    else localhost:50051."""

    secure: bool = False
    """Use TLS (with the system's roots unless root_certificates is set)."""

    root_certificates: Optional[bytes] = Field(default=None, repr=False)
    """PEM root certificates for TLS; implies secure."""

    private_key: Optional[bytes] = Field(default=None, repr=False)
    certificate_chain: Optional[bytes] = Field(default=None, repr=False)
    """PEM key and certificate chain of the client certificate, for a server
    that requires mTLS (its URI SAN is the caller's identity); both or neither;
    implies secure."""

    token_file: Optional[pathlib.Path] = None
    """File of a bearer token (e.g. a Kubernetes projected ServiceAccount
    token) for a server with ``server.auth.mode=token``; read again for every
    call, so a rotated token is picked up. Over plaintext the token can be
    read by anyone on the network path: use TLS outside a trusted network."""

    metadata: dict[str, str] = Field(default_factory=dict, repr=False, exclude=True)
    """gRPC metadata sent with every call (e.g. an authorization header)."""

    language: str = "python"
    """Language profile of the server to run the code with."""

    timeout_seconds: Optional[int] = None
    """Wall-clock limit of one run; the sandbox is killed when it is reached."""

    cpu_requested: Optional[str] = None
    mem_requested: Optional[str] = None
    cpu_limit: Optional[str] = None
    mem_limit: Optional[str] = None
    """Kubernetes quantities, as in GkeCodeExecutor: "200m", "256Mi", ..."""

    max_output_bytes: Optional[int] = None
    """Cap on stdout + stderr of one run."""

    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables of the program."""

    rpc_timeout_seconds: Optional[float] = None
    """Deadline of the gRPC call; None = timeout_seconds plus a minute of slack
    (no deadline when timeout_seconds is None too)."""

    stateful: bool = False
    """Run the blocks of one ADK session in one interpreter (see above)."""

    session_idle_timeout_seconds: Optional[float] = None
    session_max_lifetime_seconds: Optional[float] = None
    """Bounds of a stateful session; None = the server's defaults (each is
    capped by the server's maximum)."""

    _holder: _ClientHolder = PrivateAttr(default_factory=_ClientHolder)

    @field_validator("token_file", mode="before")
    @classmethod
    def _fspath(cls, value: Any) -> Any:
        """Any os.PathLike, not only pathlib.Path, names the file."""
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    def _client(self) -> CodeExecutorClient:
        holder = self._holder
        with holder.lock:
            if holder.client is None:
                holder.client = CodeExecutorClient(
                    self.target,
                    secure=self.secure,
                    root_certificates=self.root_certificates,
                    private_key=self.private_key,
                    certificate_chain=self.certificate_chain,
                    token_file=self.token_file,
                    metadata=self.metadata or None,
                )
            return holder.client

    def close(self) -> None:
        """Closes the sessions this executor opened and the connection; the
        next execution opens a new one."""
        holder = self._holder
        with holder.lock:
            client, holder.client = holder.client, None
            sessions, holder.sessions = holder.sessions, {}
        if client is None:
            return
        for session_id in sessions.values():
            try:
                client.close_session(session_id)
            except CodeExecutorError as e:  # expired meanwhile: nothing to do
                logger.debug("closing session %s: %s", session_id, e)
        client.close()

    def _open_session(self, key: str, request_id: str | None) -> str:
        info = self._client().create_session(
            language=self.language,
            env=self.env or None,
            timeout_seconds=self.timeout_seconds,
            cpu_requested=self.cpu_requested,
            cpu_limit=self.cpu_limit,
            memory_requested=self.mem_requested,
            memory_limit=self.mem_limit,
            max_output_bytes=self.max_output_bytes,
            idle_timeout=self.session_idle_timeout_seconds,
            max_lifetime=self.session_max_lifetime_seconds,
            client_request_id=request_id,
        )
        with self._holder.lock:
            self._holder.sessions[key] = info.session_id
        logger.debug("ADK session %s: code-executor session %s", key, info.session_id)
        return info.session_id

    def _forget_session(self, key: str, session_id: str) -> None:
        with self._holder.lock:
            if self._holder.sessions.get(key) == session_id:
                del self._holder.sessions[key]

    def _run_cell(
        self, key: str, code: str, files: list, request_id: str | None
    ) -> tuple[ExecutionResult, str]:
        """Runs code in the session of ADK session `key`; returns the result
        and a note for its stderr when the session's state was lost."""
        with self._holder.lock:
            session_id = self._holder.sessions.get(key)
        note = ""
        for attempt in range(2):
            if session_id is None:
                session_id = self._open_session(key, request_id)
            try:
                result = self._client().run(
                    code,
                    session_id=session_id,
                    files=files,
                    timeout_seconds=self.timeout_seconds,
                    client_request_id=request_id,
                    rpc_timeout=self._rpc_timeout(),
                )
                break
            except SessionNotFoundError:
                if attempt == 1:
                    raise
                self._forget_session(key, session_id)
                session_id = None
                note = (
                    "Note: the code-executor session of this conversation had "
                    "ended (idle timeout, max lifetime or a restart); its "
                    "variables and files are gone, and this code ran in a new "
                    "session.\n"
                )
        if result.session_ended:
            self._forget_session(key, session_id)
        return result, note

    def _rpc_timeout(self) -> float | None:
        if self.rpc_timeout_seconds is not None:
            return self.rpc_timeout_seconds
        if self.timeout_seconds:
            return self.timeout_seconds + _DEADLINE_SLACK_SECONDS
        return None

    def execute_code(
        self,
        invocation_context: InvocationContext,
        code_execution_input: CodeExecutionInput,
    ) -> CodeExecutionResult:
        logger.debug("Executing code:\n```\n%s\n```", code_execution_input.code)
        files = [
            (f.name, _input_file_bytes(f.content))
            for f in code_execution_input.input_files or []
        ]
        request_id = (getattr(invocation_context, "invocation_id", None) or "")[:128]
        key = code_execution_input.execution_id if self.stateful else None
        note = ""
        try:
            if key:
                result, note = self._run_cell(
                    key, code_execution_input.code, files, request_id or None
                )
            else:
                result = self._client().run(
                    code_execution_input.code,
                    language=self.language,
                    env=self.env or None,
                    files=files,
                    timeout_seconds=self.timeout_seconds,
                    cpu_requested=self.cpu_requested,
                    cpu_limit=self.cpu_limit,
                    memory_requested=self.mem_requested,
                    memory_limit=self.mem_limit,
                    max_output_bytes=self.max_output_bytes,
                    client_request_id=request_id or None,
                    rpc_timeout=self._rpc_timeout(),
                )
        except CodeExecutorError as e:
            logger.error("code-executor at %s failed: %s", self.target, e)
            return CodeExecutionResult(
                stderr=f"Code executor service error ({e.code.name}): {e.message}"
            )
        except Exception as e:  # never let the agent's turn crash on us
            logger.exception("Unexpected error calling code-executor")
            return CodeExecutionResult(
                stderr=f"An unexpected executor error occurred: {e}"
            )
        logger.debug(
            "Execution %s ended: %s (exit code %s)",
            result.execution_id, result.outcome.value, result.exit_code,
        )
        converted = to_code_execution_result(result)
        if note:
            converted.stderr = note + converted.stderr
        return converted


def _input_file_bytes(content: str | bytes) -> bytes:
    """ADK's convention: bytes are the content, a str is base64 of it."""
    if isinstance(content, (bytes, bytearray)):
        return bytes(content)
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return content.encode("utf-8")


def _describe_end(result: ExecutionResult) -> str:
    what = {
        Outcome.TIMEOUT: "Code execution timed out",
        Outcome.OOM_KILLED: "Code execution ran out of memory and was killed",
        Outcome.OUTPUT_LIMIT: "Code execution produced too much output and was stopped",
        Outcome.CANCELLED: "Code execution was cancelled",
        Outcome.SANDBOX_ERROR: "The sandbox failed",
    }.get(result.outcome, f"Code execution ended with {result.outcome.value}")
    return f"{what}: {result.message}" if result.message else f"{what}."


def to_code_execution_result(result: ExecutionResult) -> CodeExecutionResult:
    """Maps a code-executor result to ADK's CodeExecutionResult.

    ADK takes a non-empty stderr to mean the run failed (it then shows the
    model only stderr, and counts an error towards ``error_retry_attempts``).
    So, like ADK's UnsafeLocalCodeExecutor: a run that exited 0 reports no
    stderr (warnings are not failures); a failed run always has a stderr that
    says why, even when the program wrote none.
    """
    stderr = result.stderr
    if result.outcome is Outcome.OK:
        stderr = ""
    elif result.outcome is Outcome.NONZERO_EXIT:
        if not stderr:
            stderr = f"Code execution exited with status {result.exit_code}."
    else:
        note = _describe_end(result)
        stderr = f"{stderr}\n{note}" if stderr else note

    output_files = [
        AdkFile(
            name=f.path,
            # base64 text is what every ADK release decodes into an artifact.
            content=base64.b64encode(f.content).decode("ascii"),
            mime_type=mimetypes.guess_type(f.path)[0] or "application/octet-stream",
        )
        for f in result.output_files
    ]
    kwargs: dict[str, Any] = dict(
        stdout=result.stdout, stderr=stderr, output_files=output_files
    )
    if _HAS_EXIT_CODE:
        ran = result.outcome not in (Outcome.SANDBOX_ERROR, Outcome.UNSPECIFIED)
        kwargs["exit_code"] = result.exit_code if ran else None
    return CodeExecutionResult(**kwargs)
