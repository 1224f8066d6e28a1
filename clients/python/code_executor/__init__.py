"""Python client of code-executor: run untrusted code in a fresh gVisor sandbox.

    from code_executor import CodeExecutorClient

    with CodeExecutorClient("localhost:50051") as client:
        result = client.run("print(6 * 7)")
        print(result.stdout, result.exit_code, result.outcome)

``AsyncCodeExecutorClient`` is the asyncio twin; ``code_executor.adk`` holds
the ADK code executor (``pip install 'code-executor-client[adk]'``).
"""

from .aio import AsyncCodeExecutorClient, AsyncExecutionStream, AsyncSession
from .client import CodeExecutorClient, ExecutionStream, Session
from .errors import (
    CallCancelledError,
    CodeExecutorError,
    DeadlineExceededError,
    InternalError,
    InvalidArgumentError,
    PermissionDeniedError,
    ProtocolError,
    ResourceExhaustedError,
    SessionBusyError,
    SessionNotFoundError,
    TokenFileError,
    UnauthenticatedError,
    UnavailableError,
)
from .types import (
    Event,
    ExecutionResult,
    File,
    Finished,
    Outcome,
    Output,
    SessionInfo,
    Started,
    Stderr,
    Stdout,
    Timings,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncCodeExecutorClient",
    "AsyncExecutionStream",
    "AsyncSession",
    "CallCancelledError",
    "CodeExecutorClient",
    "CodeExecutorError",
    "DeadlineExceededError",
    "Event",
    "ExecutionResult",
    "ExecutionStream",
    "File",
    "Finished",
    "InternalError",
    "InvalidArgumentError",
    "Outcome",
    "Output",
    "PermissionDeniedError",
    "ProtocolError",
    "ResourceExhaustedError",
    "Session",
    "SessionBusyError",
    "SessionInfo",
    "SessionNotFoundError",
    "Started",
    "Stderr",
    "Stdout",
    "Timings",
    "TokenFileError",
    "UnauthenticatedError",
    "UnavailableError",
    "__version__",
]
