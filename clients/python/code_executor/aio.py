"""asyncio client of the code-executor gRPC service (grpc.aio)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Generator, Mapping, Sequence
from typing import Any

import grpc
import grpc.aio

from . import _channel
from ._proto.codeexecutor.v1 import code_executor_pb2_grpc as pb_grpc
from ._proto.codeexecutor.v1 import code_executor_pb2 as pb
from .errors import ProtocolError, from_rpc_error
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

__all__ = ["AsyncCodeExecutorClient", "AsyncExecutionStream", "AsyncSession"]


class AsyncExecutionStream(AsyncIterator[Event]):
    """The events of one run, for ``async for``.

    Closing it before ``Finished`` (``await aclose()``, leaving an
    ``async with`` block, or cancelling the task that iterates it) cancels the
    call, and the server kills the sandbox.
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

    def __aiter__(self) -> AsyncExecutionStream:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        while True:
            try:
                msg = await self._call.read()
            except grpc.RpcError as e:
                self._done = True
                raise from_rpc_error(e) from None
            except BaseException:
                # Typically asyncio.CancelledError: the caller gave up.
                self.cancel()
                raise
            if msg is grpc.aio.EOF:
                self._done = True
                if self._builder.finished is None:
                    raise ProtocolError("stream ended without a finished event")
                raise StopAsyncIteration
            event = event_from_proto(msg)
            if event is None:
                continue
            self._builder.add(event)
            return event

    async def result(self) -> ExecutionResult:
        """Consumes the remaining events and returns the whole run's result."""
        try:
            async for _ in self:
                pass
        finally:
            self.cancel()
        return self._builder.build()

    def cancel(self) -> None:
        """Cancels the run if it has not finished; safe to call at any time."""
        if self._builder.finished is None:
            self._call.cancel()
        self._done = True

    async def aclose(self) -> None:
        self.cancel()

    async def __aenter__(self) -> AsyncExecutionStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()

    def __del__(self) -> None:
        try:
            self.cancel()
        except Exception:
            pass


class AsyncCodeExecutorClient:
    """The asyncio twin of ``CodeExecutorClient``; same arguments.

    Create it inside the event loop that uses it; ``await close()`` (or
    ``async with``) when done. ``token_file`` is read (a small local file,
    without awaiting) when each call starts.
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
            self._channel = grpc.aio.insecure_channel(target, options=opts)
        else:
            self._channel = grpc.aio.secure_channel(target, creds, options=opts)
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
    ) -> AsyncExecutionStream:
        """Starts a run; iterate the result with ``async for``.

        Same options as ``CodeExecutorClient.stream``. With ``session_id`` the
        code runs as the next cell of that open session (``create_session``),
        which fixes language, env, stdin and resources.
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
        return AsyncExecutionStream(call)

    async def run(self, code: str, **options: Any) -> ExecutionResult:
        """Runs ``code`` to completion; same options as ``stream()``."""
        return await self.stream(code, **options).result()

    async def create_session(
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
            reply = await self._stub.CreateSession(
                build_session_request(**options),
                timeout=rpc_timeout if rpc_timeout is not None else self.timeout,
                metadata=_channel.call_metadata(self._token, self._metadata, metadata),
            )
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        return SessionInfo.from_proto(reply)

    async def close_session(
        self, session_id: str, *, metadata: _channel.Metadata | None = None
    ) -> int:
        """Ends a session and deletes its sandbox; returns how many cells it ran.
        Raises ``SessionNotFoundError`` if it is not open."""
        try:
            reply = await self._stub.CloseSession(
                pb.CloseSessionRequest(session_id=session_id),
                timeout=self.timeout,
                metadata=_channel.call_metadata(self._token, self._metadata, metadata),
            )
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        return reply.cells

    def session(self, **options: Any) -> AsyncSessionStart:
        """``create_session(**options)`` as an async context manager that
        closes it: ``async with client.session() as s``, or ``s = await
        client.session()`` and ``await s.close()``."""
        return AsyncSessionStart(self, options)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncCodeExecutorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncSession:
    """An open session of an ``AsyncCodeExecutorClient``: ``run()`` and
    ``stream()`` send cells to it; ``await close()`` (or leaving the
    ``async with`` block) ends it."""

    def __init__(self, client: AsyncCodeExecutorClient, info: SessionInfo) -> None:
        self.client = client
        self.info = info

    @property
    def session_id(self) -> str:
        return self.info.session_id

    def stream(self, code: str, **options: Any) -> AsyncExecutionStream:
        return self.client.stream(code, session_id=self.session_id, **options)

    async def run(self, code: str, **options: Any) -> ExecutionResult:
        return await self.client.run(code, session_id=self.session_id, **options)

    async def close(self) -> int:
        return await self.client.close_session(self.session_id)

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.close()
        except Exception:
            pass  # already gone (expired, or ended with a cell)


class AsyncSessionStart(Awaitable[AsyncSession]):
    """What ``AsyncCodeExecutorClient.session()`` returns: await it for the
    ``AsyncSession``, or use it in ``async with``, which closes the session
    on exit. The session is created when awaited or entered, not before."""

    def __init__(self, client: AsyncCodeExecutorClient, options: dict[str, Any]) -> None:
        self._client = client
        self._options = options
        self._session: AsyncSession | None = None

    async def _start(self) -> AsyncSession:
        info = await self._client.create_session(**self._options)
        return AsyncSession(self._client, info)

    def __await__(self) -> Generator[Any, None, AsyncSession]:
        return self._start().__await__()

    async def __aenter__(self) -> AsyncSession:
        self._session = await self._start()
        return self._session

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.__aexit__(*exc)
