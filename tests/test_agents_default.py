"""An OpenAI Agents SDK agent on the real default model (Qwen2.5-Coder-1.5B), through /v1/responses, left
to decide (`tool_choice` auto): a two-tool task done in two steps.

The agent runs with `parallel_tool_calls=False`: one call per step, so after the first result the model
has to decide to call again (the post-result decision, tools/decision.py) and then answer from both
results. (A find-then-act task, where the second call's argument comes from the first result, is where
this model fails: asked for the weather "at the office where Ada works", it calls
get_weather("Ada's Office") at once; bench/agent_tasks.py measures that category.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import agents
import openai
import pytest
from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool

from tests.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.default_model

CALLED: list[tuple[str, str]] = []


@function_tool
def get_local_time(city: str) -> str:
    """Current local time in a city."""
    CALLED.append(("get_local_time", city))
    return f"It is 16:45 in {city}."


@function_tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    CALLED.append(("get_weather", city))
    return f"Rain, 9 degrees Celsius in {city}." if "lyon" in city.lower() else f"No data for {city}."


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    server = start_server("--model", "default", "--ctx", "4096", "--parallel", "1")
    yield server
    stop_server(server)


def test_an_agent_makes_two_calls_in_two_steps_and_answers_from_both(server: Server) -> None:
    agents.set_tracing_disabled(True)  # no trace upload: nothing leaves the machine
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=600)
    agent = Agent(
        name="assistant",
        instructions="You are a helpful assistant. Use the tools to answer.",
        tools=[get_weather, get_local_time],
        model=OpenAIResponsesModel(model="default", openai_client=client),
        model_settings=ModelSettings(parallel_tool_calls=False, temperature=0, max_tokens=200),
    )
    CALLED.clear()

    async def run() -> Any:
        async with client:
            return await Runner.run(
                agent, "What is the weather like in Lyon right now, and what time is it there?", max_turns=6
            )

    result = asyncio.run(run())
    assert sorted(name for name, _ in CALLED) == ["get_local_time", "get_weather"], CALLED
    assert all("lyon" in city.lower() for _, city in CALLED), CALLED
    assert len(result.raw_responses) == 3  # a call, a call, the answer: one call per step
    answer = str(result.final_output).lower()
    assert ("rain" in answer or "9" in answer) and "16:45" in answer, answer
