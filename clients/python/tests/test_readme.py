"""The README's agent snippet works as written (with a scripted model)."""

from __future__ import annotations

import asyncio
import re

import pytest

from conftest import CLIENT_DIR

pytest.importorskip("google.adk")

from adk_helpers import ScriptedLlm, code_reply, execution_results, run_agent  # noqa: E402

START = "<!-- snippet:adk-agent:start -->"
END = "<!-- snippet:adk-agent:end -->"


def readme_snippet() -> str:
    text = (CLIENT_DIR / "README.md").read_text(encoding="utf-8")
    block = text.split(START, 1)[1].split(END, 1)[0]
    m = re.fullmatch(r"\s*```python\n(.*?)```\s*", block, re.DOTALL)
    assert m, "the snippet between the markers must be one ```python block"
    return m.group(1)


def test_snippet_is_five_lines():
    assert len(readme_snippet().splitlines()) <= 5


def test_readme_snippet_runs(server, monkeypatch):
    monkeypatch.setenv("CODE_EXECUTOR_TARGET", server.target)
    code = "import platform\nprint('hello from', platform.release())"
    model = ScriptedLlm(replies=[code_reply(code), "Done."])

    namespace = {"model": model}
    exec(compile(readme_snippet(), "README.md snippet", "exec"), namespace)
    agent = namespace["agent"]

    events, _, _ = asyncio.run(run_agent(agent, "Say hello from the sandbox."))
    (result,) = execution_results(events)
    assert "hello from 4.19.0-gvisor" in result.output  # gVisor's kernel release
    assert "hello from 4.19.0-gvisor" in model.request_text(1)
