"""Pieces that need no server: request building, event mapping, errors, CLI args."""

from __future__ import annotations

import pathlib

import grpc
import pytest
from google.protobuf import duration_pb2

from code_executor import (
    CodeExecutorError,
    File,
    Finished,
    InvalidArgumentError,
    Outcome,
    ResourceExhaustedError,
    Started,
    Stderr,
    Stdout,
    Timings,
)
from code_executor._proto.codeexecutor.v1 import code_executor_pb2 as pb
from code_executor.cli import build_parser, exit_status
from code_executor.errors import from_rpc_error
from code_executor.types import ResultBuilder, build_request, event_from_proto


def test_build_request_leaves_unset_fields_to_the_server():
    req = build_request("print(1)")
    assert req == pb.ExecuteRequest(code="print(1)")
    assert not req.HasField("limits")


def test_build_request_maps_every_option():
    req = build_request(
        "x", language="bash", stdin="in", env={"A": "1"},
        files=[File("a.txt", b"A"), ("b/c.bin", b"\x00")],
        timeout_seconds=5, cpu_requested="100m", cpu_limit="1",
        memory_requested="64Mi", memory_limit="128Mi", max_output_bytes=1000,
        client_request_id="r1",
    )
    assert req.language == "bash" and req.stdin == b"in" and dict(req.env) == {"A": "1"}
    assert [(f.path, f.content) for f in req.files] == [("a.txt", b"A"), ("b/c.bin", b"\x00")]
    assert req.limits == pb.Limits(
        timeout_seconds=5, cpu_requested="100m", cpu_limit="1",
        memory_requested="64Mi", memory_limit="128Mi", max_output_bytes=1000)
    assert req.client_request_id == "r1"
    assert build_request("x", files={"p": "text"}).files[0].content == b"text"


def test_events_from_proto():
    started = event_from_proto(pb.ExecuteResponse(started=pb.Started(
        execution_id="ce-0123456789ab", backend="gvisor-local", sandbox_name="s",
        queue_wait=duration_pb2.Duration(nanos=250_000_000))))
    assert started == Started("ce-0123456789ab", "gvisor-local", "s", 0.25, "")
    out = event_from_proto(pb.ExecuteResponse(output=pb.Output(stream=pb.Output.STDOUT, data=b"o")))
    err = event_from_proto(pb.ExecuteResponse(output=pb.Output(stream=pb.Output.STDERR, data=b"e")))
    assert (type(out), out.stream, out.text) == (Stdout, "stdout", "o")
    assert (type(err), err.stream, err.data) == (Stderr, "stderr", b"e")
    fin = event_from_proto(pb.ExecuteResponse(finished=pb.Finished(
        exit_code=3, outcome=pb.Finished.NONZERO_EXIT, message="m",
        timings=pb.PhaseTimings(total=duration_pb2.Duration(seconds=1)),
        output_files=[pb.File(path="o.txt", content=b"x")])))
    assert isinstance(fin, Finished) and fin.outcome is Outcome.NONZERO_EXIT
    assert fin.timings == Timings(total=1.0)  # absent phases are None
    assert fin.output_files == (File("o.txt", b"x"),)
    assert event_from_proto(pb.ExecuteResponse()) is None


def test_output_file_names_that_are_not_utf8_keep_their_exact_bytes():
    fin = event_from_proto(pb.ExecuteResponse(finished=pb.Finished(output_files=[
        pb.File(path="bad\ufffd\ufffd.txt", content=b"x", raw_path=b"bad\xff\xfe.txt"),
        pb.File(path="ok.txt", content=b"y")])))
    bad, ok = fin.output_files
    assert bad == File("bad\ufffd\ufffd.txt", b"x", b"bad\xff\xfe.txt")
    assert bad.path_bytes == b"bad\xff\xfe.txt"
    assert bad.fs_path == "bad\udcff\udcfe.txt"  # os.fsdecode's surrogateescape
    assert ok.raw_path is None and ok.path_bytes == b"ok.txt" and ok.fs_path == "ok.txt"


def test_result_builder_joins_chunks():
    b = ResultBuilder()
    for e in [Stdout(b"a"), Stderr(b"x"), Stdout("é".encode()[:1]), Stdout("é".encode()[1:]),
              Finished(0, Outcome.OK, "", Timings(), False, (), False)]:
        b.add(e)
    r = b.build()
    assert (r.stdout, r.stderr, r.ok) == ("aé", "x", True)  # split UTF-8 rejoined


def test_every_proto_outcome_has_a_python_name():
    for value in pb.Finished.Outcome.values():
        assert Outcome.from_proto(value).value == pb.Finished.Outcome.Name(value)


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


def test_errors_are_typed():
    e = from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT,
                                    'limits.memory_limit: invalid quantity "abc"'))
    assert isinstance(e, InvalidArgumentError) and isinstance(e, CodeExecutorError)
    assert e.code is grpc.StatusCode.INVALID_ARGUMENT and e.field == "limits.memory_limit"
    assert str(e) == 'INVALID_ARGUMENT: limits.memory_limit: invalid quantity "abc"'
    assert isinstance(from_rpc_error(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "full")),
                      ResourceExhaustedError)
    other = from_rpc_error(FakeRpcError(grpc.StatusCode.ABORTED, "x"))
    assert type(other) is CodeExecutorError and other.message == "x"
    assert InvalidArgumentError(grpc.StatusCode.INVALID_ARGUMENT, "no field here").field is None


def test_cli_parses_options(tmp_path):
    args = build_parser().parse_args([
        "run", "prog.py", "--target", "h:1", "-l", "bash", "-e", "A=1", "-e", "B=x=y",
        "-f", "data/in.csv=local.csv", "-f", "same.txt", "-t", "7",
        "--cpu-requested", "100m", "--cpu-limit", "1", "--memory-requested", "1Mi",
        "--memory-limit", "2Mi", "--max-output-bytes", "99", "-o", str(tmp_path),
    ])
    assert args.file == "prog.py" and args.target == "h:1" and args.language == "bash"
    assert args.env == [("A", "1"), ("B", "x=y")]
    assert args.files == [("data/in.csv", pathlib.Path("local.csv")),
                          ("same.txt", pathlib.Path("same.txt"))]
    assert (args.timeout, args.max_output_bytes) == (7, 99)
    assert (args.cpu_requested, args.cpu_limit) == ("100m", "1")
    assert (args.memory_requested, args.memory_limit) == ("1Mi", "2Mi")
    assert args.output_dir == tmp_path


def test_cli_target_from_env(monkeypatch):
    monkeypatch.setenv("CODE_EXECUTOR_TARGET", "env-host:7")
    assert build_parser().parse_args(["run", "-"]).target == "env-host:7"


@pytest.mark.parametrize("argv", [["run"], ["run", "f", "-e", "NOEQUALS"], ["run", "f", "-t", "0"]])
def test_cli_usage_errors(argv):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2


@pytest.mark.parametrize("outcome,code,want", [
    (Outcome.OK, 0, 0), (Outcome.NONZERO_EXIT, 3, 3), (Outcome.NONZERO_EXIT, 256, 1),
    (Outcome.TIMEOUT, 137, 124), (Outcome.CANCELLED, 0, 130),
    (Outcome.OOM_KILLED, 137, 137), (Outcome.SANDBOX_ERROR, 0, 1),
])
def test_cli_exit_status(outcome, code, want):
    assert exit_status(Finished(code, outcome, "", Timings(), False, (), False)) == want
