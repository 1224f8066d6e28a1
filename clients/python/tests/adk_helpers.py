"""A scripted ADK model (no network) and a helper that runs an agent in memory."""

from __future__ import annotations

from typing import Any, AsyncGenerator

from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import InMemoryRunner
from google.genai import types
from pydantic import Field

APP = "code-executor-tests"
USER = "tester"


class ScriptedLlm(BaseLlm):
    """Answers turn N with replies[N] (the last one repeats) and keeps the requests."""

    model: str = "scripted"
    replies: list[str]
    requests: list[Any] = Field(default_factory=list)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.requests.append(llm_request)
        text = self.replies[min(len(self.requests), len(self.replies)) - 1]
        yield LlmResponse(
            content=types.Content(role="model", parts=[types.Part(text=text)])
        )

    def request_text(self, index: int) -> str:
        """All text the model was sent in its index-th request."""
        return "\n".join(
            part.text or ""
            for content in self.requests[index].contents
            for part in content.parts or []
        )


def code_reply(code: str, preface: str = "Let me compute that.") -> str:
    return f"{preface}\n```python\n{code}\n```"


async def run_agent(agent, message: str):
    """Runs one user turn; returns (events, runner, session)."""
    runner = InMemoryRunner(agent=agent, app_name=APP)
    session = await runner.session_service.create_session(app_name=APP, user_id=USER)
    events = []
    async for event in runner.run_async(
        user_id=USER,
        session_id=session.id,
        new_message=types.Content(role="user", parts=[types.Part(text=message)]),
    ):
        events.append(event)
    return events, runner, session


def execution_results(events) -> list[types.CodeExecutionResult]:
    return [
        part.code_execution_result
        for event in events
        if event.content
        for part in event.content.parts or []
        if part.code_execution_result
    ]


def executable_code(events) -> list[str]:
    return [
        part.executable_code.code
        for event in events
        if event.content
        for part in event.content.parts or []
        if part.executable_code
    ]
