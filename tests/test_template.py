"""Chat template rendering against the two real templates we ship models for, plus HF conventions."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from fncall.chat.messages import ConversationError, to_template_messages
from fncall.chat.template import ChatTemplate, TemplateMissing, TemplateRenderError
from fncall.engine.llama import LlamaModel
from fncall.models import resolve_model

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_current_weather", "arguments": '{"location": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21}'},
]


def load_template(spec: str) -> ChatTemplate:
    model = LlamaModel(resolve_model(spec, progress=False).path, vocab_only=True)
    try:
        return ChatTemplate.load(
            model.chat_template,
            override=None,
            bos_token=model.token_text(model.bos_id),
            eos_token=model.token_text(model.eos_id),
        )
    finally:
        model.close()


@pytest.fixture(scope="module")
def smollm() -> ChatTemplate:
    return load_template("tiny")


@pytest.fixture(scope="module")
def qwen() -> ChatTemplate:
    return load_template("default")


def test_smollm_renders_every_role(smollm: ChatTemplate) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
    ]
    assert smollm.render(messages) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
    )


def test_smollm_adds_its_default_system_prompt(smollm: ChatTemplate) -> None:
    text = smollm.render([{"role": "user", "content": "Hi"}], add_generation_prompt=False)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n")


def test_smollm_renders_tool_turns(smollm: ChatTemplate) -> None:
    messages = to_template_messages([*CONVERSATION[:2], {"role": "assistant", "content": "ok"}])
    assert "<|im_start|>assistant\nok<|im_end|>" in smollm.render(messages)


def test_qwen_plain_conversation(qwen: ChatTemplate) -> None:
    assert qwen.render([{"role": "user", "content": "Hi"}]) == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_qwen_tools_calls_and_results(qwen: ChatTemplate) -> None:
    text = qwen.render(to_template_messages(CONVERSATION), tools=[WEATHER_TOOL])
    assert text.startswith("<|im_start|>system\nBe brief.\n\n# Tools\n")
    assert '"name": "get_current_weather"' in text and '"enum": ["celsius", "fahrenheit"]' in text
    # arguments replayed as an object, not a JSON string inside a string
    assert (
        '<tool_call>\n{"name": "get_current_weather", "arguments": {"location": "Paris"}}\n</tool_call>'
        in text
    )
    assert '<|im_start|>user\n<tool_response>\n{"temperature": 21}\n</tool_response><|im_end|>' in text
    assert text.endswith("<|im_start|>assistant\n")


def test_tojson_keeps_unicode_and_supports_indent() -> None:
    template = ChatTemplate("{{ x | tojson }}|{{ x | tojson(indent=2) }}")
    assert template.render([], x={"city": "café"}) == '{"city": "café"}|{\n  "city": "café"\n}'


def test_hf_globals() -> None:
    template = ChatTemplate(
        "{{ bos_token }}{{ strftime_now('%Y') }}{{ eos_token }}", bos_token="<s>", eos_token="</s>"
    )
    assert template.render([]) == f"<s>{datetime.now().year}</s>"
    with pytest.raises(TemplateRenderError, match="roles must alternate"):
        ChatTemplate("{{ raise_exception('roles must alternate') }}").render([])


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # sandbox escape attempt
        "{{ messages.append(1) }}",  # immutable sandbox
        "{{ messages[0]['content'] + 1 }}",  # shape the template cannot handle
    ],
)
def test_unsafe_or_failing_templates_raise_render_errors(source: str) -> None:
    with pytest.raises(TemplateRenderError):
        ChatTemplate(source).render([{"role": "user", "content": "x"}])


def test_syntax_error_is_reported() -> None:
    with pytest.raises(TemplateRenderError, match="does not compile"):
        ChatTemplate("{% for %}")


def test_missing_template_needs_an_override(tmp_path: Path) -> None:
    with pytest.raises(TemplateMissing, match="--chat-template"):
        ChatTemplate.load(None, override=None, bos_token="", eos_token="")
    override = tmp_path / "t.jinja"
    override.write_text("{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}")
    assert (
        ChatTemplate.load(None, override=override, bos_token="", eos_token="").render(
            [{"role": "user", "content": "hi"}]
        )
        == "[user]hi"
    )


def test_messages_normalisation() -> None:
    out = to_template_messages(
        [
            {"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "user", "content": "q", "name": "ann"},
        ]
    )
    assert out == [{"role": "system", "content": "ab"}, {"role": "user", "content": "q", "name": "ann"}]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "tool", "tool_call_id": "nope", "content": "1"}], "messages[0].tool_call_id"),
        ([{"role": "tool", "content": "1"}], "messages[0].tool_call_id"),
        (
            [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{bad"}}
                    ],
                }
            ],
            "messages[0].tool_calls[0].function.arguments",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "messages[0].content[0].type",
        ),
    ],
)
def test_conversation_errors_name_the_param(messages: list[dict[str, object]], param: str) -> None:
    with pytest.raises(ConversationError) as info:
        to_template_messages(messages)
    assert info.value.param == param
