"""The asyncio client against the real server."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from code_executor import (
    AsyncCodeExecutorClient,
    Finished,
    InvalidArgumentError,
    Outcome,
    Started,
    Stderr,
    Stdout,
)

SLEEPER = "import time\nprint('ready', flush=True)\ntime.sleep(60)\n"


def run(coro):
    return asyncio.run(coro)


def test_async_run(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120) as c:
            return await c.run(
                "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(5)",
                files={"in.txt": b"x"},
            )

    result = run(main())
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    assert result.exit_code == 5 and result.outcome is Outcome.NONZERO_EXIT
    assert result.started.backend == "gvisor-local"


def test_async_stream(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120) as c:
            return [e async for e in c.stream("print('a')\nprint('b')", timeout_seconds=30)]

    events = run(main())
    assert isinstance(events[0], Started)
    assert isinstance(events[-1], Finished) and events[-1].ok
    assert all(isinstance(e, (Stdout, Stderr)) for e in events[1:-1])
    assert b"".join(e.data for e in events if isinstance(e, Stdout)) == b"a\nb\n"


def test_async_runs_concurrently(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target, timeout=120) as c:
            return await asyncio.gather(*(c.run(f"print({i} * 2)") for i in range(3)))

    results = run(main())
    assert [r.stdout for r in results] == ["0\n", "2\n", "4\n"]
    assert len({r.execution_id for r in results}) == 3


def test_async_invalid_argument(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target) as c:
            await c.run("print(1)", cpu_limit="lots")

    with pytest.raises(InvalidArgumentError) as info:
        run(main())
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.field == "limits.cpu_limit"


def test_async_aclose_cancels(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target) as c:
            stream = c.stream(SLEEPER)
            async for event in stream:
                if isinstance(event, Stdout):
                    break
            await stream.aclose()
            return stream

    start = time.monotonic()
    stream = run(main())
    assert stream.finished is None
    server.wait_inflight_zero()
    assert time.monotonic() - start < 30


def test_async_task_cancellation_cancels(server):
    async def main():
        async with AsyncCodeExecutorClient(server.target) as c:
            seen = asyncio.Event()

            async def consume():
                async with c.stream(SLEEPER) as stream:
                    async for event in stream:
                        if isinstance(event, Stdout):
                            seen.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(seen.wait(), 60)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(main())
    server.wait_inflight_zero()
