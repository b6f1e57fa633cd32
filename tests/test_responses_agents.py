"""The OpenAI Agents SDK (`openai-agents`) running a two-tool agent against fncall's /v1/responses.

On the tiny model every turn is forced to call (`tool_choice="required"`, kept by `reset_tool_choice=
False`): left to choose after a result, at temperature 0 it writes a degenerate text to max_output_tokens,
which is the 135M model's judgement, not the route's. The run ends when two tool results are in (or when
the server answers a repeated call with text, see translate.Plan.retry).
"""

from __future__ import annotations

import asyncio
from typing import Any

import agents
import openai
from agents import (
    Agent,
    FunctionToolResult,
    ModelSettings,
    OpenAIResponsesModel,
    RunContextWrapper,
    Runner,
    ToolsToFinalOutputResult,
    function_tool,
)

from tests.conftest import Server

CALLED: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    CALLED.append(f"get_weather({city})")
    return f"It is 18 C and sunny in {city}."


@function_tool
def get_time(timezone: str) -> str:
    """Current time in a timezone."""
    CALLED.append(f"get_time({timezone})")
    return "It is 10:00."


def after_two_results(
    context: RunContextWrapper[None], results: list[FunctionToolResult]
) -> ToolsToFinalOutputResult:
    done = len(CALLED) >= 2
    return ToolsToFinalOutputResult(is_final_output=done, final_output=" ".join(CALLED) if done else None)


def test_a_two_tool_agent_calls_a_tool_and_finishes(tiny_server: Server) -> None:
    agents.set_tracing_disabled(True)  # no trace upload: nothing leaves the machine
    client = openai.AsyncOpenAI(base_url=tiny_server.base_url, api_key="unused", max_retries=0)
    agent = Agent(
        name="weather",
        instructions="Answer with the tools.",
        tools=[get_weather, get_time],
        model=OpenAIResponsesModel(model="tiny", openai_client=client),
        tool_use_behavior=after_two_results,
        reset_tool_choice=False,
        model_settings=ModelSettings(
            tool_choice="required", parallel_tool_calls=False, temperature=0, max_tokens=300
        ),
    )
    CALLED.clear()

    async def run() -> Any:
        async with client:  # closes its connections: an unclosed socket is a warning, and warnings fail
            return await Runner.run(agent, "What's the weather in Paris?", max_turns=4)

    result = asyncio.run(run())
    assert CALLED and CALLED[0].startswith(("get_weather(", "get_time("))
    kinds = [item.type for item in result.new_items]
    assert kinds[:2] == ["tool_call_item", "tool_call_output_item"]
    # Either two results are in, or the tiny model repeated its call: the server then answers from the
    # results without tools (Plan.retry), where it writes nothing at all (an empty output, final_output "").
    assert isinstance(result.final_output, str) and len(result.raw_responses) == 2
