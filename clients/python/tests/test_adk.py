"""RemoteCodeExecutor with the real google-adk: mapping (no server) and agents."""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
from unittest import mock

import grpc
import pytest

pytest.importorskip("google.adk")

from google.adk.agents import LlmAgent  # noqa: E402
from google.adk.code_executors import BaseCodeExecutor  # noqa: E402
from google.adk.code_executors.code_execution_utils import (  # noqa: E402
    CodeExecutionInput,
    CodeExecutionResult,
    File as AdkFile,
)

from adk_helpers import (  # noqa: E402
    ScriptedLlm,
    code_reply,
    executable_code,
    execution_results,
    run_agent,
)
from code_executor import ExecutionResult, File, Outcome, Timings  # noqa: E402
from code_executor.adk import RemoteCodeExecutor, to_code_execution_result  # noqa: E402
from code_executor.errors import ResourceExhaustedError  # noqa: E402


def result(outcome, exit_code=0, stdout=b"", stderr=b"", message="", files=()):
    return ExecutionResult(
        stdout_bytes=stdout, stderr_bytes=stderr, exit_code=exit_code,
        outcome=outcome, message=message, output_files=tuple(files),
        timings=Timings(), truncated=False, output_files_truncated=False,
        started=None,
    )


# ADK releases before 2.x's later ones have no CodeExecutionResult.exit_code;
# the mapping leaves it out there, and the tests accept its absence.
HAS_EXIT_CODE = any(f.name == "exit_code" for f in dataclasses.fields(CodeExecutionResult))


def exit_code(out):
    return out.exit_code if HAS_EXIT_CODE else mock.ANY


class FakeClient:
    def __init__(self, outcome=None, error=None):
        self.calls = []
        self.outcome = outcome or result(Outcome.OK, stdout=b"fake\n")
        self.error = error

    def run(self, code, **options):
        self.calls.append((code, options))
        if self.error:
            raise self.error
        return self.outcome

    def close(self):
        pass


def with_fake(executor, fake):
    executor._holder.client = fake
    return executor


# --- mapping, no server -----------------------------------------------------


def test_is_an_adk_code_executor_with_gke_knobs():
    ex = RemoteCodeExecutor(target="h:1", timeout_seconds=30, cpu_requested="200m",
                            mem_requested="256Mi", cpu_limit="1", mem_limit="512Mi")
    assert isinstance(ex, BaseCodeExecutor)
    assert (ex.cpu_requested, ex.mem_requested, ex.cpu_limit, ex.mem_limit) == (
        "200m", "256Mi", "1", "512Mi")
    assert ex.stateful is False
    assert RemoteCodeExecutor(stateful=True).stateful is True
    LlmAgent(name="a", model=ScriptedLlm(replies=["hi"]), code_executor=ex)


def test_target_defaults_to_env(monkeypatch):
    monkeypatch.delenv("CODE_EXECUTOR_TARGET", raising=False)
    assert RemoteCodeExecutor().target == "localhost:50051"
    monkeypatch.setenv("CODE_EXECUTOR_TARGET", "svc.ns:9000")
    assert RemoteCodeExecutor().target == "svc.ns:9000"


def test_request_mapping():
    fake = FakeClient()
    ex = with_fake(RemoteCodeExecutor(target="h:1", timeout_seconds=30, mem_limit="1Gi",
                                      cpu_requested="100m", env={"A": "b"}), fake)
    files = [
        AdkFile(name="a.csv", content=base64.b64encode(b"x,y\n1,2\n").decode(),
                mime_type="text/csv"),
        AdkFile(name="raw.bin", content=b"\x00\x01"),
    ]
    out = ex.execute_code(None, CodeExecutionInput(code="print(1)", input_files=files))
    assert out.stdout == "fake\n" and out.stderr == ""
    code, options = fake.calls[0]
    assert code == "print(1)"
    assert options["files"] == [("a.csv", b"x,y\n1,2\n"), ("raw.bin", b"\x00\x01")]
    assert options["timeout_seconds"] == 30
    assert options["memory_limit"] == "1Gi" and options["cpu_requested"] == "100m"
    assert options["memory_requested"] is None and options["cpu_limit"] is None
    assert options["env"] == {"A": "b"} and options["language"] == "python"
    assert options["rpc_timeout"] == 90  # the run's timeout plus slack


def test_result_mapping_ok_drops_warnings_from_stderr():
    out = to_code_execution_result(result(Outcome.OK, stdout=b"42\n", stderr=b"Warning\n"))
    assert (out.stdout, out.stderr, exit_code(out)) == ("42\n", "", 0)


def test_result_mapping_failures_always_explain():
    out = to_code_execution_result(result(Outcome.NONZERO_EXIT, 3, stderr=b"Traceback\n"))
    assert (out.stderr, exit_code(out)) == ("Traceback\n", 3)
    out = to_code_execution_result(result(Outcome.NONZERO_EXIT, 2))
    assert out.stderr == "Code execution exited with status 2."
    out = to_code_execution_result(
        result(Outcome.TIMEOUT, 137, stdout=b"partial\n", message="killed after 5s"))
    assert out.stdout == "partial\n"
    assert out.stderr == "Code execution timed out: killed after 5s"
    out = to_code_execution_result(result(Outcome.SANDBOX_ERROR, message="runsc failed"))
    assert "runsc failed" in out.stderr and exit_code(out) in (None,)
    out = to_code_execution_result(result(Outcome.OOM_KILLED, 137, stderr=b"x"))
    assert out.stderr.startswith("x\n") and "memory" in out.stderr


def test_result_mapping_output_files():
    out = to_code_execution_result(result(
        Outcome.OK, files=[File("plot.png", b"\x89PNG"), File("data/out.csv", b"a\n"),
                           File("noext", b"z")]))
    assert [(f.name, f.mime_type) for f in out.output_files] == [
        ("plot.png", "image/png"), ("data/out.csv", "text/csv"),
        ("noext", "application/octet-stream")]
    assert base64.b64decode(out.output_files[0].content) == b"\x89PNG"


def test_service_error_becomes_stderr():
    fake = FakeClient(error=ResourceExhaustedError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                                   "queue is full"))
    out = with_fake(RemoteCodeExecutor(target="h:1"), fake).execute_code(
        None, CodeExecutionInput(code="print(1)"))
    assert out.stdout == ""
    assert out.stderr == "Code executor service error (RESOURCE_EXHAUSTED): queue is full"


def test_unexpected_error_becomes_stderr():
    fake = FakeClient(error=RuntimeError("kaboom"))
    out = with_fake(RemoteCodeExecutor(target="h:1"), fake).execute_code(
        None, CodeExecutionInput(code="print(1)"))
    assert "kaboom" in out.stderr


def test_copies_do_not_share_or_copy_the_channel():
    ex = RemoteCodeExecutor(target="h:1")
    ex._client()  # creates a real (idle) channel
    clone = copy.deepcopy(ex)
    assert clone._holder.client is None and clone.target == "h:1"
    assert ex.model_copy(deep=True)._holder.client is None
    ex.close()


# --- against the server -----------------------------------------------------

SANDBOX_CODE = (
    "import platform, socket\n"
    "print('kernel', platform.release(), 'host', socket.gethostname())"
)


def test_agent_code_runs_through_code_executor(server):
    model = ScriptedLlm(replies=[code_reply(SANDBOX_CODE), "The sandbox runs gVisor."])
    agent = LlmAgent(name="analyst", model=model,
                     code_executor=RemoteCodeExecutor(target=server.target,
                                                      timeout_seconds=60))
    before = server.metric("codeexec_executions_total")
    events, _, _ = asyncio.run(run_agent(agent, "Which kernel do you run on?"))

    assert executable_code(events) == [SANDBOX_CODE]
    results = execution_results(events)
    assert len(results) == 1
    assert results[0].outcome.name == "OUTCOME_OK"
    # Only the gVisor sandbox reports kernel 4.19.0-gvisor and hostname "sandbox".
    assert "kernel 4.19.0-gvisor host sandbox" in results[0].output
    assert server.metric("codeexec_executions_total") == before + 1
    # The output went back to the model, and its answer ended the turn.
    assert len(model.requests) == 2
    assert "kernel 4.19.0-gvisor host sandbox" in model.request_text(1)
    assert events[-1].content.parts[0].text == "The sandbox runs gVisor."


def test_agent_sees_failures_and_gets_files_as_artifacts(server):
    code = (
        "import pathlib\n"
        "pathlib.Path('report.txt').write_text('all good\\n')\n"
        "print('wrote report')"
    )
    model = ScriptedLlm(replies=[
        code_reply("raise RuntimeError('first try fails')"),
        code_reply(code, "Fixed it."),
        "Done.",
    ])
    agent = LlmAgent(name="writer", model=model,
                     code_executor=RemoteCodeExecutor(target=server.target))
    events, runner, session = asyncio.run(run_agent(agent, "Write a report."))

    first, second = execution_results(events)
    assert first.outcome.name == "OUTCOME_FAILED"
    assert "RuntimeError: first try fails" in first.output
    assert second.outcome.name == "OUTCOME_OK"
    assert "wrote report" in second.output and "report.txt" in second.output

    artifact = asyncio.run(runner.artifact_service.load_artifact(
        app_name=runner.app_name, user_id=session.user_id,
        session_id=session.id, filename="report.txt"))
    assert artifact.inline_data.data == b"all good\n"
    assert artifact.inline_data.mime_type == "text/plain"


def test_rejected_request_reaches_the_agent_as_stderr(server):
    ex = RemoteCodeExecutor(target=server.target, mem_limit="abc")
    out = ex.execute_code(None, CodeExecutionInput(code="print(1)"))
    assert out.stderr.startswith("Code executor service error (INVALID_ARGUMENT): "
                                 "limits.memory_limit:")
    ex.close()


def test_input_files_reach_the_sandbox(server):
    ex = RemoteCodeExecutor(target=server.target)
    csv = base64.b64encode(b"a,b\n1,2\n").decode()
    out = ex.execute_code(None, CodeExecutionInput(
        code="print(open('data.csv').read().splitlines()[1])",
        input_files=[AdkFile(name="data.csv", content=csv, mime_type="text/csv")]))
    assert (out.stdout, out.stderr, exit_code(out)) == ("1,2\n", "", 0)
    ex.close()


async def _two_turns(agent, first: str, second: str):
    """Two user turns in one ADK session; returns the events of each."""
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    runner = InMemoryRunner(agent=agent, app_name="stateful-test")
    session = await runner.session_service.create_session(
        app_name="stateful-test", user_id="tester")
    turns = []
    for text in (first, second):
        events = []
        async for event in runner.run_async(
            user_id="tester", session_id=session.id,
            new_message=types.Content(role="user", parts=[types.Part(text=text)]),
        ):
            events.append(event)
        turns.append(events)
    return turns, session


def test_stateful_agent_keeps_its_variables_from_turn_to_turn(server):
    model = ScriptedLlm(replies=[
        code_reply("import hashlib\nrows = [b'\\xff' * 3, b'ok']\nprint('loaded')"),
        "Loaded.",
        code_reply("print(len(rows), hashlib.sha256(b''.join(rows)).hexdigest())"),
        "Done.",
    ])
    ex = RemoteCodeExecutor(target=server.target, stateful=True,
                            session_idle_timeout_seconds=120)
    agent = LlmAgent(name="analyst", model=model, code_executor=ex)
    created = server.metric("codeexec_sessions_created_total")
    (first, second), session = asyncio.run(
        _two_turns(agent, "Load the rows.", "How many rows are there?"))

    assert [r.output for r in execution_results(first)] == [
        "Code execution result:\nloaded\n\n"]
    # The second turn's code used `rows` from the first: one interpreter.
    import hashlib
    digest = hashlib.sha256(b"\xff" * 3 + b"ok").hexdigest()
    (answer,) = execution_results(second)
    assert answer.outcome.name == "OUTCOME_OK", answer.output
    assert f"2 {digest}" in answer.output
    assert server.metric("codeexec_sessions_created_total") == created + 1
    assert list(ex._holder.sessions) == [session.id]  # ADK's execution_id
    assert server.metric("codeexec_sessions_open") >= 1
    ex.close()
    assert ex._holder.sessions == {}


def test_stateful_executor_starts_a_new_session_and_says_so(server):
    ex = RemoteCodeExecutor(target=server.target, stateful=True)
    out = ex.execute_code(None, CodeExecutionInput(code="x = 1", execution_id="adk-1"))
    assert (out.stdout, out.stderr) == ("", "")
    # The session ends behind the executor's back (as by its idle timeout).
    session_id = ex._holder.sessions["adk-1"]
    ex._client().close_session(session_id)
    out = ex.execute_code(None, CodeExecutionInput(
        code="print('x' in globals())", execution_id="adk-1"))
    assert out.stdout == "False\n"
    assert out.stderr.startswith("Note: the code-executor session of this "
                                 "conversation had ended")
    assert ex._holder.sessions["adk-1"] != session_id
    # Another ADK session gets a session of its own.
    out = ex.execute_code(None, CodeExecutionInput(code="print(1)", execution_id="adk-2"))
    assert out.stdout == "1\n"
    assert len(set(ex._holder.sessions.values())) == 2
    # sys.exit ends the interpreter: the next block starts a new session.
    ex.execute_code(None, CodeExecutionInput(code="import sys; sys.exit(0)",
                                             execution_id="adk-2"))
    assert "adk-2" not in ex._holder.sessions
    ex.close()
