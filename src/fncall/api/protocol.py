"""Pydantic models of the request bodies we accept, mirroring OpenAI's `CreateChatCompletionRequest`.

Parsed in strict JSON mode, so `"temperature": "1"` is a 400 as it is on OpenAI, not a silent coercion.
Unknown top-level fields are ignored, as OpenAI-compatible servers do for forward compatibility.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag


def _integral(value: Any) -> Any:
    # JSON Schema counts 2.0 as an integer (so do SDKs that send floats); strict pydantic alone would not.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Bounds go before it in `Annotated` (`Annotated[int, Field(ge=1), Integral]`), or the published JSON
# schema would carry pydantic's `ge` instead of `minimum`.
Integral = BeforeValidator(_integral)


class _Strict(BaseModel):
    # NaN and Infinity (Python's json accepts them) are refused: no parameter means anything with them.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class OtherPart(_Strict):
    """Image, audio, file and refusal parts: recognised so the error can say they are unsupported."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)
    type: Literal["image_url", "input_audio", "file", "refusal"]


# A plain union, not a tagged one: pydantic puts a tagged union's tag into error locations, where it
# would read as a field name in the error's `param`.
ContentPart = TextPart | OtherPart


class FunctionCall(_Strict):
    name: str
    arguments: str


class ToolCall(_Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


# One model per role, as OpenAI's schema has them, so the published document says what each role needs.
class SystemMessage(_Strict):
    role: Literal["system", "developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(_Strict):
    role: Literal["user"]
    content: str | list[ContentPart]
    name: str | None = None


class AssistantMessage(_Strict):
    role: Literal["assistant"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None  # deprecated: a past call in the legacy shape


class ToolMessage(_Strict):
    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str


class FunctionMessage(_Strict):
    """Deprecated by OpenAI; read as a tool result."""

    role: Literal["function"]
    content: str | None
    name: str


_ROLES = {
    "system": "SystemMessage",
    "developer": "SystemMessage",
    "user": "UserMessage",
    "assistant": "AssistantMessage",
    "tool": "ToolMessage",
    "function": "FunctionMessage",
}


def _role_tag(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "UserMessage"  # whose validation then says "Input should be an object"
    role = value.get("role")
    return _ROLES.get(role) if isinstance(role, str) else None


Message = Annotated[
    Annotated[SystemMessage, Tag("SystemMessage")]
    | Annotated[UserMessage, Tag("UserMessage")]
    | Annotated[AssistantMessage, Tag("AssistantMessage")]
    | Annotated[ToolMessage, Tag("ToolMessage")]
    | Annotated[FunctionMessage, Tag("FunctionMessage")],
    Discriminator(
        _role_tag,
        custom_error_type="invalid_role",
        custom_error_message=f"Input should be one of {', '.join(map(repr, _ROLES))}",
        custom_error_context={"field": "role"},  # the error's param is messages[i].role
    ),
]


class StreamOptions(_Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class ResponseFormat(_Strict):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)
    type: Literal["text", "json_object", "json_schema"]


class SamplingFields(_Strict):
    """What chat and legacy text completions share: sampling, stops, length, choices and streaming."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: Annotated[int, Field(ge=1, le=128), Integral] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    max_tokens: Annotated[int, Field(ge=1), Integral] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    seed: Annotated[int, Field(ge=-(2**63), le=2**63 - 1), Integral] | None = None  # int64, as OpenAI
    user: str | None = None
    # Extensions many OpenAI-compatible servers accept (vLLM, llama.cpp).
    top_k: Annotated[int, Field(ge=0), Integral] | None = None
    min_p: float | None = Field(default=None, ge=0, le=1)
    repetition_penalty: float | None = Field(default=None, gt=0, le=2)  # vLLM's name; llama.cpp-style


class ChatCompletionRequest(SamplingFields):
    model: str
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: Annotated[int, Field(ge=1), Integral] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20), Integral] | None = None
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    modalities: list[str] | None = None


class CompletionRequest(SamplingFields):
    """Legacy text completions (`POST /v1/completions`): a prompt continued as is, no chat template."""

    model: str
    prompt: str | list[str] | list[Annotated[int, Field(ge=0)]] | list[list[Annotated[int, Field(ge=0)]]]
    max_tokens: Annotated[int, Field(ge=1), Integral] | None = 16  # OpenAI's default here
    echo: bool | None = None
    logprobs: Annotated[int, Field(ge=0, le=5), Integral] | None = None
    suffix: str | None = None
    best_of: Annotated[int, Field(ge=1, le=128), Integral] | None = None
