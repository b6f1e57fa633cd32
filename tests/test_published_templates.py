"""Every chat template published with llama.cpp, through our rendering path; detection of the families we
support; and their own spelling of past calls parsed back by the format's parser.

The templates come from the llama-cpp-python sdist on PyPI (tests/published_templates.py), fetched once.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from fncall.chat.messages import to_template_messages
from fncall.chat.template import ChatTemplate, TemplateRenderError
from fncall.tools.formats import FALLBACK, FORMATS, ToolFormat, detect, with_reasoning
from fncall.tools.parser import collect, parse
from fncall.tools.render import prompt_inputs
from fncall.tools.spec import ToolRequest, parse_tool_request
from tests.published_templates import template_names, template_source

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["location"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current local time of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TOOLS = [WEATHER, TIME]
CALLS = [("get_current_weather", {"location": "Paris", "unit": "c"}), ("get_time", {"city": "Tokyo"})]
ASK = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Weather in Paris and the time in Tokyo?"},
]
CALL_TURN = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for i, (name, args) in enumerate(CALLS)
    ],
}
RESULTS = [
    {"role": "tool", "tool_call_id": "call_0", "content": '{"temperature": 21, "sky": "clear"}'},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"time": "17:42"}'},
]
PARTS = {"tools": ASK, "calls": [*ASK, CALL_TURN], "results": [*ASK, CALL_TURN, *RESULTS]}

# The families the issue names, by template: detection must pick exactly these.
EXPECTED = {
    "meta-llama-Llama-3.1-8B-Instruct.jinja": "llama3",
    "meta-llama-Llama-3.2-3B-Instruct.jinja": "llama3",
    "meta-llama-Llama-3.3-70B-Instruct.jinja": "llama3",
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja": "hermes",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": "hermes",
    "Qwen-Qwen2.5-7B-Instruct.jinja": "hermes",
    "Qwen-Qwen3-0.6B.jinja": "qwen3",
    "Qwen-QwQ-32B.jinja": "qwen3",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": "mistral",
    "Mistral-Small-3.2-24B-Instruct-2506.jinja": "mistral-v11",
    "unsloth-mistral-Devstral-Small-2507.jinja": "mistral-v11",
    "mistralai-Ministral-3-14B-Reasoning-2512.jinja": "mistral-v11",
    "meetkai-functionary-medium-v3.1.jinja": "functionary-v3.1",
    "meetkai-functionary-medium-v3.2.jinja": "functionary-v3.2",
}
# Other templates in one of those families' syntax (their round trip below proves it); all the rest
# get the fallback.
ALSO = {
    "Bielik-11B-v3.0-Instruct.jinja": "qwen3",
    "MiMo-VL.jinja": "hermes",
    "Reka-Edge.jinja": "qwen3",
    "ibm-granite-granite-4.0.jinja": "hermes",
    "ibm-granite-granite-4.1.jinja": "hermes",
}

# Parts a template genuinely cannot render, with the reason (checked: these xfail strictly).
_GEMMA2 = "Gemma 2's template raises on any system message, and tools need one (ours)"
_COMMAND_R = (
    "the tool_use variant of Command R+ iterates `tools` unconditionally; its own action format is not one"
    " of ours, so the fallback describes tools in a system message and passes none"
)
_FIREFUNCTION = (
    "firefunction-v2's template needs a `functions` variable that apply_chat_template never passes"
)
CANNOT_RENDER: dict[tuple[str, str], str] = {
    **{("google-gemma-2-2b-it.jinja", part): _GEMMA2 for part in PARTS},
    **{("CohereForAI-c4ai-command-r-plus-tool_use.jinja", part): _COMMAND_R for part in PARTS},
    **{("fireworks-ai-llama-3-firefunction-v2.jinja", part): _FIREFUNCTION for part in PARTS},
}

# Templates whose own spelling of past calls is not what the detected format parses, with the reason.
NO_ROUND_TRIP: dict[str, str] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "template_name" in metafunc.fixturenames:
        metafunc.parametrize("template_name", template_names())


def tool_request() -> ToolRequest:
    req = parse_tool_request(TOOLS, None, None)
    assert req is not None
    return req


def render(
    template: ChatTemplate, fmt: ToolFormat, native: bool, messages: list[dict[str, Any]], **kw: Any
) -> str:
    rendered, tools = prompt_inputs(to_template_messages(messages), tool_request(), fmt, native)
    return template.render(rendered, tools=tools, **kw)


def load(name: str) -> tuple[ChatTemplate, ToolFormat, bool]:
    source = template_source(name)
    fmt, native = detect(source)
    return ChatTemplate(source, bos_token="<s>", eos_token="</s>"), fmt, native


@pytest.mark.parametrize("part", list(PARTS))
def test_every_template_renders_tools_calls_and_results(template_name: str, part: str) -> None:
    template, fmt, native = load(template_name)
    if (template_name, part) in CANNOT_RENDER:
        with pytest.raises(TemplateRenderError):
            render(template, fmt, native, PARTS[part])
        pytest.xfail(CANNOT_RENDER[template_name, part])
    text = render(template, fmt, native, PARTS[part])
    assert "get_current_weather" in text and "Tokyo" in text
    if part != "tools":
        assert "Paris" in text  # the first call's arguments
    if part == "results":
        assert "17:42" in text


def test_detection_of_the_named_families(template_name: str) -> None:
    fmt, native = detect(template_source(template_name))
    expected = EXPECTED.get(template_name) or ALSO.get(template_name)
    assert (fmt.name, native) == ((expected, True) if expected else (FALLBACK.name, False))


def test_template_spelling_of_calls_parses_back(template_name: str) -> None:
    """The assistant turn the template writes for our two calls, parsed by the detected format."""
    template, fmt, native = load(template_name)
    if not native:
        pytest.skip("no tool format detected: the fallback spells calls itself (tested in test_tool_formats)")
    if template_name in NO_ROUND_TRIP:
        pytest.xfail(NO_ROUND_TRIP[template_name])
    prompt = render(template, fmt, native, ASK, add_generation_prompt=True)
    full = render(template, fmt, native, [*ASK, CALL_TURN], add_generation_prompt=False)
    # The turn starts where the generation prompt ends. Some generation prompts also close an empty
    # reasoning block (QwQ) that past turns lack: then at the line where the texts part. Mistral Nemo's
    # drops the system message once the user turn is not last: then after the user's text.
    common = len(os.path.commonprefix([prompt, full]))
    if full.startswith(prompt):
        turn = full[len(prompt) :]
    elif common > len(prompt) - 40:
        turn = full[full.rfind("\n", 0, common) + 1 :]
    else:
        question = ASK[-1]["content"]
        turn = full[full.rindex(question) + len(question) :]
    calls = collect(parse(fmt.syntax, [n for n, _ in CALLS], turn)).calls
    expected = CALLS[:1] if fmt.name == "llama3" else CALLS  # Llama: one call per turn (see llama3.py)
    assert [(name, json.loads(args)) for name, args in calls] == expected, turn


def test_formats_are_listed_once() -> None:
    assert len(FORMATS) == len({f.name for f in FORMATS.values()})


@pytest.mark.parametrize(
    ("name", "think", "think_open"),
    [
        ("Qwen-Qwen3-0.6B.jinja", True, False),
        ("Qwen3.5-4B.jinja", True, True),
        ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", True, True),
        ("GLM-4.7-Flash.jinja", True, True),
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", False, False),
        ("Qwen-Qwen2.5-7B-Instruct.jinja", False, False),
    ],
)
def test_reasoning_blocks_are_found_from_the_template(name: str, think: bool, think_open: bool) -> None:
    template, fmt, _ = load(name)
    generation_prompt = template.render([{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    syntax = with_reasoning(fmt, template.source, generation_prompt).syntax
    assert (syntax.think is not None, syntax.think_open) == (think, think_open)
