"""Sessions through the asyncio client: against the real server (gvisor-local)
state kept between cells, an exception that ends a cell but not the session,
closing, the errors a caller gets for a closed session or a second cell at
once, and a cell's output arriving byte for byte; with a fake stub, what the
calls send and that a session starts only when awaited or entered."""

from __future__ import annotations

import asyncio
import hashlib

import grpc
import pytest

from code_executor import (
    AsyncCodeExecutorClient,
    AsyncSession,
    Outcome,
    SessionBusyError,
    SessionInfo,
    SessionNotFoundError,
    Stdout,
)
from code_executor._proto.codeexecutor.v1 import code_executor_pb2 as pb
from code_executor.types import build_session_request


def run(coro):
    return asyncio.run(coro)


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


class FakeSessionStub:
    """Answers CreateSession with a session and CloseSession with NOT_FOUND,
    recording each call (the aio stub's calls are awaitables)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def CreateSession(self, request, *, timeout, metadata):
        self.calls.append(("CreateSession", request, timeout, metadata))

        async def reply():
            return pb.Session(session_id="cs-1", language=request.language)

        return reply()

    def CloseSession(self, request, *, timeout, metadata):
        self.calls.append(("CloseSession", request, timeout, metadata))

        async def reply():
            raise FakeRpcError(grpc.StatusCode.NOT_FOUND, "session cs-1 is not open")

        return reply()


def test_async_session_calls_without_a_server():
    async def main():
        c = AsyncCodeExecutorClient("127.0.0.1:1", timeout=9, metadata={"A": "1"})
        c._stub = stub = FakeSessionStub()
        try:
            start = c.session(language="python", idle_timeout=30, rpc_timeout=5)
            assert stub.calls == []  # nothing until awaited or entered
            async with start as session:
                assert session.info == SessionInfo(
                    "cs-1", "python", "", "", None, None, "", "")
            # __aexit__ closed it; NOT_FOUND there is swallowed, not here:
            with pytest.raises(SessionNotFoundError) as error:
                await c.close_session("cs-1", metadata={"b": "2"})
            assert error.value.code is grpc.StatusCode.NOT_FOUND
            return stub.calls
        finally:
            await c.close()

    create, close_on_exit, close = run(main())
    assert create == (
        "CreateSession",
        build_session_request(language="python", idle_timeout=30),
        5,
        (("a", "1"),),
    )
    assert close_on_exit == (
        "CloseSession", pb.CloseSessionRequest(session_id="cs-1"), 9, (("a", "1"),))
    assert close[3] == (("a", "1"), ("b", "2"))


def test_async_session_keeps_state_between_cells(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120) as c:
            async with c.session(idle_timeout=60) as session:
                assert isinstance(session, AsyncSession)
                assert session.session_id.startswith("cs-")
                assert session.info.backend == "gvisor-local"
                assert session.info.idle_timeout == 60
                first = await session.run("count = 41\nnames = ['a']")
                second = await session.run("count += 1\nnames.append('b')\nprint(count, names)")
                return session, first, second

    session, first, second = run(main())
    assert first.outcome is Outcome.OK, first.stderr
    assert second.outcome is Outcome.OK, second.stderr
    assert second.stdout == "42 ['a', 'b']\n"
    assert second.started.sandbox_name == session.info.sandbox_name
    assert not second.session_ended


def test_async_session_survives_an_exception_cell(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120) as c:
            async with c.session() as session:
                await session.run("x = 'kept'")
                failed = await session.run("raise KeyError('k')")
                after = await session.run("print(x)")
                return failed, after

    failed, after = run(main())
    assert failed.outcome is Outcome.NONZERO_EXIT
    assert failed.exit_code != 0
    assert failed.stderr.endswith("KeyError: 'k'\n")
    assert not failed.session_ended
    assert after.outcome is Outcome.OK, after.stderr
    assert after.stdout == "kept\n"


def test_async_session_closed_then_run_is_not_found(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120) as c:
            session = await c.session()  # awaited, not entered: closed by hand
            await session.run("print(1)")
            await session.run("print(2)")
            cells = await session.close()
            with pytest.raises(SessionNotFoundError):
                await session.run("print(3)")
            with pytest.raises(SessionNotFoundError):
                await session.close()
            # Leaving `async with` closes the session too.
            async with c.session() as entered:
                await entered.run("print(1)")
            with pytest.raises(SessionNotFoundError):
                await c.run("print(1)", session_id=entered.session_id)
            return cells

    assert run(main()) == 2


def test_async_session_is_closed_when_the_block_raises(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120) as c:
            with pytest.raises(RuntimeError, match="boom"):
                async with c.session() as session:
                    await session.run("print(1)")
                    raise RuntimeError("boom")
            with pytest.raises(SessionNotFoundError):
                await c.close_session(session.session_id)

    run(main())


def test_async_session_one_cell_at_a_time(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120) as c:
            async with c.session() as session:
                slow = session.stream(
                    "import time\nprint('ready', flush=True)\ntime.sleep(2)\nprint('done')"
                )
                async for event in slow:
                    if isinstance(event, Stdout):
                        break  # the first cell is running now
                with pytest.raises(SessionBusyError):
                    await session.run("print('second')")
                first = await slow.result()
                # A refused cell leaves the session as it was.
                after = await session.run("print('third')")
                return first, after

    first, after = run(main())
    assert first.outcome is Outcome.OK, first.stderr
    assert first.stdout == "ready\ndone\n"  # result() includes what was iterated
    assert after.stdout == "third\n"


def test_async_session_runs_race_and_one_is_busy(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120) as c:
            async with c.session() as session:
                slow = asyncio.create_task(session.run("import time\ntime.sleep(3)"))
                await asyncio.sleep(1.5)
                second = asyncio.create_task(session.run("print(1)"))
                return await asyncio.gather(slow, second, return_exceptions=True)

    slow, second = run(main())
    assert not isinstance(slow, BaseException), slow
    assert slow.outcome is Outcome.OK, slow.stderr
    assert isinstance(second, SessionBusyError)


CELL_WRITES_BYTES = """\
import hashlib, os, sys
data = os.urandom((1 << 20) + 7)
with open('out.bin', 'wb') as f:
    f.write(data)
noise = os.urandom(300_000)
sys.stdout.buffer.write(noise)
sys.stdout.flush()
print(hashlib.sha256(data).hexdigest(), len(data), file=sys.stderr)
print(hashlib.sha256(noise).hexdigest(), len(noise), file=sys.stderr)
"""


def test_async_session_cell_output_is_byte_exact(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120) as c:
            async with c.session() as session:
                return await session.run(CELL_WRITES_BYTES, timeout_seconds=60)

    result = run(main())
    assert result.outcome is Outcome.OK, result.stderr
    (file_line, stdout_line) = result.stderr.splitlines()
    file_sha, file_len = file_line.split()
    out = result.file("out.bin")
    assert out is not None, [f.path for f in result.output_files]
    assert len(out.content) == int(file_len) == (1 << 20) + 7
    assert hashlib.sha256(out.content).hexdigest() == file_sha
    stdout_sha, stdout_len = stdout_line.split()
    assert len(result.stdout_bytes) == int(stdout_len) == 300_000
    assert hashlib.sha256(result.stdout_bytes).hexdigest() == stdout_sha
    assert not result.truncated and not result.output_files_truncated
