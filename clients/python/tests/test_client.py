"""The sync client against the real server (gvisor-local backend)."""

from __future__ import annotations

import gc
import platform
import socket
import time

import grpc
import pytest

from code_executor import (
    CodeExecutorClient,
    Finished,
    InvalidArgumentError,
    Outcome,
    Started,
    Stderr,
    Stdout,
    UnavailableError,
)

SLEEPER = "import time\nprint('ready', flush=True)\ntime.sleep(60)\nprint('late')\n"


def test_run_hello(client):
    result = client.run("print('hello')")
    assert result.stdout == "hello\n"
    assert result.stderr == ""
    assert result.exit_code == 0
    assert result.outcome is Outcome.OK and result.ok
    assert result.started is not None
    assert result.started.backend == "gvisor-local"
    assert result.execution_id.startswith("ce-")
    assert result.timings.total is not None and result.timings.total > 0


def test_runs_in_gvisor(client):
    result = client.run(
        "import platform, socket\nprint(platform.release(), socket.gethostname())"
    )
    assert result.ok, result
    assert result.stdout.split() == ["4.19.0-gvisor", "sandbox"]
    assert platform.release() != "4.19.0-gvisor"  # so that the check above means something


def test_stdout_and_stderr_are_separate(client):
    code = (
        "import sys\n"
        "print('out1', flush=True); print('err1', file=sys.stderr, flush=True)\n"
        "print('out2', flush=True); print('err2', file=sys.stderr, flush=True)\n"
    )
    result = client.run(code)
    assert result.stdout == "out1\nout2\n"
    assert result.stderr == "err1\nerr2\n"


def test_stream_events_arrive_live_and_in_order(client):
    code = "import time\nprint('first', flush=True)\ntime.sleep(2)\nprint('second')\n"
    arrivals = []
    with client.stream(code, client_request_id="req-42") as stream:
        for event in stream:
            arrivals.append((time.monotonic(), event))
    events = [e for _, e in arrivals]
    assert isinstance(events[0], Started)
    assert events[0].client_request_id == "req-42"
    assert isinstance(events[-1], Finished) and events[-1].outcome is Outcome.OK
    assert all(isinstance(e, (Stdout, Stderr)) for e in events[1:-1])
    assert b"".join(e.data for e in events if isinstance(e, Stdout)) == b"first\nsecond\n"
    first_at = next(t for t, e in arrivals if isinstance(e, Stdout) and b"first" in e.data)
    assert arrivals[-1][0] - first_at > 1.0, "stdout was not streamed before the end"
    assert stream.started is events[0] and stream.finished is events[-1]


def test_exit_code(client):
    result = client.run("import sys\nprint('bye')\nsys.exit(3)")
    assert result.outcome is Outcome.NONZERO_EXIT
    assert result.exit_code == 3
    assert result.stdout == "bye\n"


def test_uncaught_exception(client):
    result = client.run("raise ValueError('boom')")
    assert result.exit_code == 1
    assert result.outcome is Outcome.NONZERO_EXIT
    assert "ValueError: boom" in result.stderr


def test_stdin_and_env(client):
    code = "import os, sys\nprint(sys.stdin.read().upper(), os.environ['GREETING'])"
    result = client.run(code, stdin="abc", env={"GREETING": "hi"})
    assert result.stdout == "ABC hi\n"


def test_bash(client):
    result = client.run("echo out; echo err >&2; exit 4", language="bash")
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 4)


def test_timeout(client):
    start = time.monotonic()
    result = client.run(SLEEPER, timeout_seconds=2)
    elapsed = time.monotonic() - start
    assert result.outcome is Outcome.TIMEOUT, result
    assert result.stdout == "ready\n"
    assert elapsed < 20


def test_files_in_and_out(client):
    blob = bytes(range(256))
    code = (
        "import pathlib\n"
        "text = pathlib.Path('data/in.txt').read_text()\n"
        "blob = pathlib.Path('blob.bin').read_bytes()\n"
        "pathlib.Path('out.txt').write_text(text.upper())\n"
        "pathlib.Path('sub').mkdir()\n"
        "pathlib.Path('sub/rev.bin').write_bytes(blob[::-1])\n"
        "print(len(blob))\n"
    )
    result = client.run(code, files={"data/in.txt": "hello\n", "blob.bin": blob})
    assert result.ok, result
    assert result.stdout == "256\n"
    assert result.file("out.txt").content == b"HELLO\n"
    assert result.file("sub/rev.bin").content == blob[::-1]
    # Only files the program created or changed come back.
    assert result.file("data/in.txt") is None
    assert result.file("blob.bin") is None


def test_file_names_and_stderr_that_are_not_utf8(client):
    code = (
        "import sys\n"
        "open(b'bad\\xff\\xfe.txt', 'wb').write(bytes(range(256)))\n"
        "sys.stderr.buffer.write(b'oops \\xff\\n')\n"
        "sys.exit(3)\n"
    )
    result = client.run(code)
    assert (result.outcome, result.exit_code) == (Outcome.NONZERO_EXIT, 3), result
    assert result.stderr_bytes == b"oops \xff\n"
    f = result.file("bad\ufffd\ufffd.txt")
    assert f is not None, result.output_files
    assert (f.raw_path, f.content) == (b"bad\xff\xfe.txt", bytes(range(256)))


def test_invalid_argument_is_typed(client):
    with pytest.raises(InvalidArgumentError) as info:
        client.run("")
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.message.startswith("code:")
    assert info.value.field == "code"

    with pytest.raises(InvalidArgumentError) as info:
        client.run("print(1)", memory_limit="abc")
    assert info.value.field == "limits.memory_limit"
    assert "abc" in info.value.message


def test_closing_the_stream_cancels_the_run(client, server):
    start = time.monotonic()
    stream = client.stream(SLEEPER)
    for event in stream:
        if isinstance(event, Stdout) and b"ready" in event.data:
            break
    assert server.metric("codeexec_inflight") >= 1
    stream.close()
    server.wait_inflight_zero()
    assert time.monotonic() - start < 30
    assert stream.finished is None
    assert list(stream) == []  # a closed stream is exhausted


def test_leaving_with_block_or_dropping_the_stream_cancels(client, server):
    with client.stream(SLEEPER) as stream:
        for event in stream:
            if isinstance(event, Stdout):
                break
    server.wait_inflight_zero()

    def start_and_abandon():
        for event in client.stream(SLEEPER):
            if isinstance(event, Stdout):
                return  # the stream is dropped here

    start_and_abandon()
    gc.collect()
    server.wait_inflight_zero()


def test_run_after_cancel_still_works(client):
    assert client.run("print(1 + 1)").stdout == "2\n"


def test_unreachable_server_is_typed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with CodeExecutorClient(f"127.0.0.1:{port}", timeout=10) as c:
        with pytest.raises(UnavailableError) as info:
            c.run("print(1)")
    assert info.value.code is grpc.StatusCode.UNAVAILABLE
