"""Typed exceptions for failures of the code-executor *service*.

A program that fails is not an exception: it is a normal result with its exit
code and outcome. These are raised when the call itself fails, and carry the
gRPC status code and the server's message.
"""

from __future__ import annotations

import grpc

__all__ = [
    "CodeExecutorError",
    "InvalidArgumentError",
    "ResourceExhaustedError",
    "UnavailableError",
    "DeadlineExceededError",
    "PermissionDeniedError",
    "UnauthenticatedError",
    "TokenFileError",
    "CallCancelledError",
    "InternalError",
    "ProtocolError",
    "from_rpc_error",
]


class CodeExecutorError(Exception):
    """The code-executor service failed to run the request.

    Attributes:
      code: the gRPC status code (``grpc.StatusCode``).
      message: the server's message (the status details).
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


class InvalidArgumentError(CodeExecutorError):
    """The request was rejected (INVALID_ARGUMENT).

    ``field`` is the request field the server named at the start of its
    message ("limits.memory_limit: invalid quantity ..." -> "limits.memory_limit"),
    or None when the message names none.
    """

    @property
    def field(self) -> str | None:
        head, sep, _ = self.message.partition(": ")
        if sep and head and " " not in head:
            return head
        return None


class ResourceExhaustedError(CodeExecutorError):
    """The server's queue is full (RESOURCE_EXHAUSTED); retry later."""


class UnavailableError(CodeExecutorError):
    """The server is unreachable or shutting down (UNAVAILABLE)."""


class DeadlineExceededError(CodeExecutorError):
    """The call's deadline passed before the run finished (DEADLINE_EXCEEDED)."""


class PermissionDeniedError(CodeExecutorError):
    """PERMISSION_DENIED: the caller (its client certificate's identity with
    mTLS, its service account with a bearer token) is not in the server's
    ``server.auth.allowedIdentities``; else the server lacks a permission it
    needs (e.g. a Kubernetes verb), named in the message."""


class UnauthenticatedError(CodeExecutorError):
    """UNAUTHENTICATED: the server requires mTLS and the call carried no client
    certificate that its client CA verifies (pass ``private_key`` and
    ``certificate_chain``), or it requires a bearer token and the call carried
    none, or one that is expired or not valid for the server's audience (pass
    ``token_file``), or other credentials were missing or bad."""


class TokenFileError(UnauthenticatedError):
    """The client's own bearer token file (``token_file``) could not be used:
    missing, unreadable, empty, or not a token. Raised by the client before
    the call is sent, so nothing reached the server; ``path`` names the file
    and the code is UNAUTHENTICATED, as the server would answer a call
    without a token."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            grpc.StatusCode.UNAUTHENTICATED,
            f"bearer token file {path}: {reason}",
        )
        self.path = path


class CallCancelledError(CodeExecutorError):
    """The call was cancelled (CANCELLED) before the run finished."""


class SessionNotFoundError(CodeExecutorError):
    """NOT_FOUND: the session is not open (closed, expired, or ended)."""


class SessionBusyError(CodeExecutorError):
    """FAILED_PRECONDITION: another cell of the session is running."""


class InternalError(CodeExecutorError):
    """The server failed internally (INTERNAL, UNKNOWN, ...)."""


class ProtocolError(CodeExecutorError):
    """The server broke the stream contract (e.g. ended without `finished`)."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.INTERNAL, message)


_BY_CODE: dict[grpc.StatusCode, type[CodeExecutorError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.CANCELLED: CallCancelledError,
    grpc.StatusCode.NOT_FOUND: SessionNotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: SessionBusyError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNKNOWN: InternalError,
    grpc.StatusCode.DATA_LOSS: InternalError,
}


def from_rpc_error(error: grpc.RpcError) -> CodeExecutorError:
    """Converts a grpc.RpcError (sync or aio) into the matching typed error."""
    code_fn = getattr(error, "code", None)
    details_fn = getattr(error, "details", None)
    code = code_fn() if callable(code_fn) else None
    details = details_fn() if callable(details_fn) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    cls = _BY_CODE.get(code, CodeExecutorError)
    return cls(code, details or str(error))
