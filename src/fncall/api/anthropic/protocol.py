"""Anthropic's `CreateMessageRequest`, and its translation into the chat request the pipeline plans.

The body is validated here first, so errors name Anthropic's fields (`max_tokens`, `messages[1].content`);
what is left to check (tool schemas, the template, the context) is checked by the chat path itself.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fncall.api.errors import APIError, from_validation_error
from fncall.api.protocol import ChatCompletionRequest, Integral

MAX_STOP_SEQUENCES = 4  # the engine's limit, as for chat's `stop`


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)


class TextBlock(_Strict):
    type: Literal["text"]
    text: str


class ToolUseBlock(_Strict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(_Strict):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[TextBlock] = ""
    is_error: bool | None = None


class OtherBlock(_Strict):
    """Images, documents, thinking: recognised so the error can say they are unsupported."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)
    type: Literal["image", "document", "thinking", "redacted_thinking", "server_tool_use", "search_result"]


Block = TextBlock | ToolUseBlock | ToolResultBlock | OtherBlock


class Message(_Strict):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class Tool(_Strict):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)
    type: str | None = None  # "custom" or absent; server tools (`web_search_…`, `bash_…`) are refused
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class ToolChoice(_Strict):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class MessagesRequest(_Strict):
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: Annotated[int, Field(ge=1), Integral]
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: Annotated[int, Field(ge=0), Integral] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    metadata: dict[str, Any] | None = None


class CountTokensRequest(_Strict):
    model: str
    messages: list[Message] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None


def parse(body: bytes, model: type[MessagesRequest] | type[CountTokensRequest]) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def to_chat(req: MessagesRequest | CountTokensRequest) -> ChatCompletionRequest:
    """The chat request this Messages request means; refuses what has no meaning here."""
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": _text(req.system)})
    for i, message in enumerate(req.messages):
        messages += _messages(message, f"messages[{i}]")
    body: dict[str, Any] = {"model": req.model, "messages": messages}
    if req.tools is not None:
        body["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(req.tools)]
    if req.tool_choice is not None:
        body |= _tool_choice(req.tool_choice)
    if isinstance(req, MessagesRequest):
        body |= _sampling(req)
    return ChatCompletionRequest.model_validate(body)


def _sampling(req: MessagesRequest) -> dict[str, Any]:
    stop = req.stop_sequences or []
    if len(stop) > MAX_STOP_SEQUENCES or not all(stop):
        raise APIError(
            f"stop_sequences: at most {MAX_STOP_SEQUENCES} non-empty strings are supported.",
            param="stop_sequences",
        )
    out: dict[str, Any] = {"max_tokens": req.max_tokens, "stream": bool(req.stream)}
    given = {"temperature": req.temperature, "top_p": req.top_p, "top_k": req.top_k}
    out |= {k: v for k, v in given.items() if v is not None}
    return out | ({"stop": stop} if stop else {})


def _text(content: str | list[TextBlock]) -> str:
    return content if isinstance(content, str) else "".join(block.text for block in content)


def _messages(message: Message, where: str) -> list[dict[str, Any]]:
    """One Anthropic turn → chat messages: a user turn's tool results become `tool` messages (first,
    as the calls they answer come just before), an assistant turn's tool_use blocks its tool_calls."""
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for j, block in enumerate(message.content):
        param = f"{where}.content[{j}]"
        if isinstance(block, OtherBlock):
            raise APIError(f"{param}: '{block.type}' blocks are not supported; send text.", param=param)
        if isinstance(block, TextBlock):
            text.append(block.text)
        elif isinstance(block, ToolUseBlock):
            if message.role != "assistant":
                raise APIError(f"{param}: tool_use blocks belong to assistant turns.", param=param)
            arguments = json.dumps(block.input, ensure_ascii=False)
            calls.append(
                {"id": block.id, "type": "function", "function": {"name": block.name, "arguments": arguments}}
            )
        else:
            if message.role != "user":
                raise APIError(f"{param}: tool_result blocks belong to user turns.", param=param)
            content = _text(block.content)
            results.append(
                {"role": "tool", "tool_call_id": block.tool_use_id, "content": _result(content, block)}
            )
    joined = "".join(text)
    if message.role == "assistant":
        turn: dict[str, Any] = {"role": "assistant", "content": joined or None}
        return [turn | ({"tool_calls": calls} if calls else {})]
    return results + ([{"role": "user", "content": joined}] if joined or not results else [])


def _result(content: str, block: ToolResultBlock) -> str:
    return f"Error: {content}" if block.is_error else content


def _tool(tool: Tool, where: str) -> dict[str, Any]:
    if tool.type not in (None, "custom"):
        raise APIError(
            f"{where}.type: '{tool.type}' is a server tool, which this server does not run; "
            "only custom tools (name, description, input_schema) are supported.",
            param=f"{where}.type",
        )
    if tool.input_schema is None:
        raise APIError(f"{where}.input_schema: Field required", param=f"{where}.input_schema")
    function = {"name": tool.name, "parameters": tool.input_schema}
    return {
        "type": "function",
        "function": function | ({"description": tool.description} if tool.description else {}),
    }


def _tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice.type == "tool":
        if not choice.name:
            raise APIError("tool_choice.name: Field required for type 'tool'.", param="tool_choice.name")
        mode: Any = {"type": "function", "function": {"name": choice.name}}
    else:
        mode = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
    out: dict[str, Any] = {"tool_choice": mode}
    if choice.disable_parallel_tool_use is not None:
        out["parallel_tool_calls"] = not choice.disable_parallel_tool_use
    return out
