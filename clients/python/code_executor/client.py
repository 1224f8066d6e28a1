"""Synchronous client of the code-executor gRPC service."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import grpc

from . import _channel
from ._proto.codeexecutor.v1 import code_executor_pb2_grpc as pb_grpc
from .errors import ProtocolError, from_rpc_error
from ._proto.codeexecutor.v1 import code_executor_pb2 as pb
from .types import (
    Event,
    ExecutionResult,
    FilesArg,
    Finished,
    ResultBuilder,
    SessionInfo,
    Started,
    build_request,
    build_session_request,
    event_from_proto,
)

__all__ = ["CodeExecutorClient", "ExecutionStream", "Session"]


class ExecutionStream(Iterator[Event]):
    """The events of one run: ``Started``, ``Stdout``/``Stderr`` chunks, ``Finished``.

    Iterate it, or call ``result()`` to collect the rest. Closing it before
    ``Finished`` arrived (``close()``, leaving a ``with`` block, or dropping the
    last reference) cancels the call, and the server kills the sandbox.
    A service failure is raised from ``next()`` as a ``CodeExecutorError``.
    """

    def __init__(self, call: Any) -> None:
        self._call = call
        self._builder = ResultBuilder()
        self._done = False

    @property
    def started(self) -> Started | None:
        return self._builder.started

    @property
    def finished(self) -> Finished | None:
        return self._builder.finished

    def __iter__(self) -> ExecutionStream:
        return self

    def __next__(self) -> Event:
        if self._done:
            raise StopIteration
        while True:
            try:
                msg = next(self._call)
            except StopIteration:
                self._done = True
                if self._builder.finished is None:
                    raise ProtocolError("stream ended without a finished event") from None
                raise
            except grpc.RpcError as e:
                self._done = True
                raise from_rpc_error(e) from None
            event = event_from_proto(msg)
            if event is None:
                continue  # an event kind newer than this client
            self._builder.add(event)
            return event

    def result(self) -> ExecutionResult:
        """Consumes the remaining events and returns the whole run's result."""
        try:
            for _ in self:
                pass
        finally:
            self.close()
        return self._builder.build()

    def cancel(self) -> None:
        """Cancels the run if it has not finished; safe to call at any time."""
        if self._builder.finished is None:
            self._call.cancel()
        self._done = True

    close = cancel

    def __enter__(self) -> ExecutionStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class CodeExecutorClient:
    """Runs code through a code-executor server.

    Args:
      target: "host:port" of the server (any gRPC target string).
      secure: use TLS (the system's roots unless ``root_certificates``).
      root_certificates: PEM roots for TLS; implies ``secure``.
      private_key, certificate_chain: the PEM key and certificate chain of a
        client certificate, for a server that requires mTLS (its URI SAN is
        the caller's identity); give both or neither; implies ``secure``.
      token_file: a file holding a bearer token, e.g. a Kubernetes projected
        ServiceAccount token, for a server with ``server.auth.mode=token``:
        every call sends ``authorization: Bearer <token>``. The file is read
        again for each call (surrounding whitespace stripped), so a token the
        kubelet rotated is used from the next call on; a missing, unreadable
        or empty file raises ``TokenFileError`` (naming it) before the call is
        sent. It works with TLS and plaintext alike, but over plaintext anyone
        on the network path can read the token and call as you until it
        expires: use TLS outside a trusted network.
      metadata: gRPC metadata sent with every call, e.g. {"x-team": ...} (an
        ``authorization`` entry is refused together with ``token_file``).
      timeout: default deadline of each call in seconds (None = no deadline;
        the server still applies the run's own timeout).
      options: extra gRPC channel options.

    Use it as a context manager or call ``close()``. It is thread-safe.
    """

    def __init__(
        self,
        target: str,
        *,
        secure: bool = False,
        root_certificates: bytes | str | None = None,
        private_key: bytes | str | None = None,
        certificate_chain: bytes | str | None = None,
        token_file: str | os.PathLike | None = None,
        metadata: _channel.Metadata | None = None,
        timeout: float | None = None,
        options: Sequence[tuple[str, Any]] | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._metadata = metadata
        self._token = _channel.TokenFile(token_file) if token_file is not None else None
        creds = _channel.credentials(
            grpc, secure, root_certificates, private_key, certificate_chain
        )
        opts = _channel.channel_options(options)
        if creds is None:
            self._channel = grpc.insecure_channel(target, options=opts)
        else:
            self._channel = grpc.secure_channel(target, creds, options=opts)
        self._stub = pb_grpc.CodeExecutorStub(self._channel)

    def stream(
        self,
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
        rpc_timeout: float | None = None,
        metadata: _channel.Metadata | None = None,
    ) -> ExecutionStream:
        """Starts a run and returns its events as they happen.

        Request options mirror the proto's ExecuteRequest and Limits; None
        leaves a field to the server's default. ``files`` is {path: content}
        or a list of ``File``. ``rpc_timeout`` overrides the client's deadline
        for this call; ``metadata`` is added to the client's. With
        ``session_id`` the code runs as the next cell of that open session
        (``create_session``), which fixes language, env, stdin and resources.
        Raises ``CodeExecutorError`` (from iterating) if the service fails;
        ``TokenFileError`` (from this call) if ``token_file`` is unusable.
        """
        request = build_request(
            code,
            language=language,
            stdin=stdin,
            env=env,
            files=files,
            timeout_seconds=timeout_seconds,
            cpu_requested=cpu_requested,
            cpu_limit=cpu_limit,
            memory_requested=memory_requested,
            memory_limit=memory_limit,
            max_output_bytes=max_output_bytes,
            client_request_id=client_request_id,
            session_id=session_id,
        )
        call = self._stub.Execute(
            request,
            timeout=rpc_timeout if rpc_timeout is not None else self.timeout,
            metadata=_channel.call_metadata(self._token, self._metadata, metadata),
        )
        return ExecutionStream(call)

    def run(self, code: str, **options: Any) -> ExecutionResult:
        """Runs ``code`` to completion; same options as ``stream()``.

        Returns the result whatever the program did (see ``outcome`` and
        ``exit_code``); raises ``CodeExecutorError`` if the service fails.
        """
        return self.stream(code, **options).result()

    def create_session(
        self,
        *,
        rpc_timeout: float | None = None,
        metadata: _channel.Metadata | None = None,
        **options: Any,
    ) -> SessionInfo:
        """Starts a session (one sandbox for several cells) and returns it once
        its sandbox is ready. Options: ``language``, ``env``, ``files``, the
        limits of ``stream()``, ``idle_timeout`` and ``max_lifetime`` (seconds),
        ``client_request_id``. Python cells share one interpreter.
        """
        try:
            reply = self._stub.CreateSession(
                build_session_request(**options),
                timeout=rpc_timeout if rpc_timeout is not None else self.timeout,
                metadata=_channel.call_metadata(self._token, self._metadata, metadata),
            )
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        return SessionInfo.from_proto(reply)

    def close_session(
        self, session_id: str, *, metadata: _channel.Metadata | None = None
    ) -> int:
        """Ends a session and deletes its sandbox; returns how many cells it ran.
        Raises ``SessionNotFoundError`` if it is not open."""
        try:
            reply = self._stub.CloseSession(
                pb.CloseSessionRequest(session_id=session_id),
                timeout=self.timeout,
                metadata=_channel.call_metadata(self._token, self._metadata, metadata),
            )
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        return reply.cells

    def session(self, **options: Any) -> Session:
        """``create_session(**options)`` as a context manager that closes it."""
        return Session(self, self.create_session(**options))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> CodeExecutorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Session:
    """An open session of a ``CodeExecutorClient``: ``run()`` and ``stream()``
    send cells to it; ``close()`` (or leaving the ``with`` block) ends it."""

    def __init__(self, client: CodeExecutorClient, info: SessionInfo) -> None:
        self.client = client
        self.info = info

    @property
    def session_id(self) -> str:
        return self.info.session_id

    def stream(self, code: str, **options: Any) -> ExecutionStream:
        return self.client.stream(code, session_id=self.session_id, **options)

    def run(self, code: str, **options: Any) -> ExecutionResult:
        return self.client.run(code, session_id=self.session_id, **options)

    def close(self) -> int:
        return self.client.close_session(self.session_id)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        except Exception:
            pass  # already gone (expired, or ended with a cell)
