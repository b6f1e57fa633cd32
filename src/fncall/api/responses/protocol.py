"""OpenAI's `CreateResponse` request, and its translation into the chat request the pipeline plans.

Top-level fields are validated by pydantic (errors name them); input items and tools are read here
and refused with a 400 naming `input[i].…` or `tools[i].…` when they mean nothing to this server.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fncall.api.errors import APIError
from fncall.api.protocol import ChatCompletionRequest, Integral
from fncall.api.responses.items import request_items
from fncall.tools.custom import INPUT

HOSTED = "only 'function' and 'custom' tools run on this server"


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    type: Literal["text", "json_object", "json_schema"]


class TextConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    format: TextFormat | None = None


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)
    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: Annotated[int, Field(ge=1), Integral] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: bool | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    text: TextConfig | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None


def to_chat(req: ResponsesRequest, history: Sequence[dict[str, Any]] = ()) -> ChatCompletionRequest:
    """The chat request this Responses request means, after `history` (the stored items of the
    `previous_response_id` chain); refuses what has no meaning here."""
    messages: list[dict[str, Any]] = []
    if req.instructions:
        messages.append({"role": "system", "content": req.instructions})
    for item in history:
        _add_item(messages, item, "previous_response_id")
    for i, item in enumerate(request_items(req.input)):
        _add_item(messages, item, f"input[{i}]")
    body: dict[str, Any] = {"model": req.model, "messages": messages}
    if req.tools is not None:
        body["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(req.tools)]
    if req.tool_choice is not None:
        body["tool_choice"] = _tool_choice(req.tool_choice)
    given = {
        "parallel_tool_calls": req.parallel_tool_calls,
        "max_tokens": req.max_output_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
    }
    body |= {k: v for k, v in given.items() if v is not None}
    fmt = req.text.format if req.text else None
    if fmt is not None and fmt.type != "text":
        body["response_format"] = _response_format(fmt)
    return ChatCompletionRequest.model_validate(body)


def _response_format(fmt: TextFormat) -> dict[str, Any]:
    """Responses' flat `text.format` as chat's `response_format` (whose checks then apply)."""
    if fmt.type == "json_object":
        return {"type": "json_object"}
    extra = fmt.model_extra or {}
    spec = {k: extra[k] for k in ("name", "schema", "strict", "description") if k in extra}
    return {"type": "json_schema", "json_schema": spec}


def chat_error(exc: APIError) -> APIError:
    """An error planning the chat request, naming what the Responses request called it."""
    param, message = exc.param, exc.message
    if param and param.startswith("response_format"):
        param = "text.format" + param.removeprefix("response_format").removeprefix(".json_schema")
    elif param == "messages" and "'response_format'" in message:  # json_object without the word JSON
        param, message = "input", message.replace("'messages'", "'input'")
    else:
        return exc
    message = message.replace("'response_format'", "'text.format'")
    return APIError(
        message, status=exc.status, type=exc.type, param=param, code=exc.code, headers=exc.headers
    )


def _add_item(messages: list[dict[str, Any]], item: dict[str, Any], where: str) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "system", "developer", "assistant"):
            raise APIError(f"Invalid value for '{where}.role': {role!r}.", param=f"{where}.role")
        messages.append({"role": role, "content": _content(item.get("content"), f"{where}.content")})
    elif kind == "function_call":
        call = {
            "id": _string(item, "call_id", where),
            "type": "function",
            "function": {
                "name": _string(item, "name", where),
                "arguments": _string(item, "arguments", where),
            },
        }
        _add_call(messages, call)
    elif kind == "custom_tool_call":
        arguments = json.dumps({INPUT: _string(item, "input", where)}, ensure_ascii=False)
        call = {"id": _string(item, "call_id", where), "type": "function"}
        call["function"] = {"name": _string(item, "name", where), "arguments": arguments}
        _add_call(messages, call)
    elif kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        content = output if isinstance(output, str) else _content(output, f"{where}.output")
        messages.append({"role": "tool", "tool_call_id": _string(item, "call_id", where), "content": content})
    elif kind != "reasoning":  # earlier reasoning is not replayed to the model, as chat templates drop it
        raise APIError(
            f"'{where}.type' {kind!r} is not supported; "
            "send message, function_call, function_call_output, custom_tool_call and "
            "custom_tool_call_output items.",
            param=f"{where}.type",
        )


def _add_call(messages: list[dict[str, Any]], call: dict[str, Any]) -> None:
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":  # one assistant turn for its text and calls
        last.setdefault("tool_calls", []).append(call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _content(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise APIError(f"Invalid value for '{where}': expected a string or a list of parts.", param=where)
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("input_text", "output_text", "text") or not isinstance(part.get("text"), str):
            raise APIError(
                f"'{where}[{j}]': only text parts (input_text, output_text) are supported; got {kind!r}.",
                param=f"{where}[{j}]",
            )
        texts.append(part["text"])
    return "".join(texts)


def _string(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise APIError(f"Missing or invalid '{where}.{key}': expected a string.", param=f"{where}.{key}")
    return value


def _tool(tool: dict[str, Any], where: str) -> dict[str, Any]:
    kind = tool.get("type") if isinstance(tool, dict) else None
    if kind == "custom":
        return {"type": "custom", "custom": _custom(tool, where)}
    if kind != "function":
        raise APIError(f"'{where}.type' {kind!r} is not supported: {HOSTED}.", param=f"{where}.type")
    function = {k: tool[k] for k in ("name", "description", "parameters") if tool.get(k) is not None}
    # Responses' function tools are strict unless they say otherwise (chat's are not).
    return {"type": "function", "function": function | {"strict": tool.get("strict") is not False}}


def _custom(tool: dict[str, Any], where: str) -> dict[str, Any]:
    """Responses' flat custom tool in chat's spelling (`format.grammar.{syntax, definition}`)."""
    spec = {k: tool[k] for k in ("name", "description") if tool.get(k) is not None}
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar":
        grammar = {k: fmt.get(k) for k in ("syntax", "definition")}
        return spec | {"format": {"type": "grammar", "grammar": grammar}}
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise APIError(
            f'Invalid \'{where}.format\': use {{"type": "text"}} or {{"type": "grammar", '
            '"syntax": "lark" | "regex", "definition"}.',
            param=f"{where}.format",
        )
    return spec


def _tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, str):
        return choice
    kind = choice.get("type")
    if kind in ("function", "custom"):
        return {"type": "function", "function": {"name": choice.get("name")}}
    if kind == "allowed_tools":
        spec = {"mode": choice.get("mode", "auto"), "tools": choice.get("tools") or []}
        return {"type": "allowed_tools", "allowed_tools": spec}
    raise APIError(f"'tool_choice.type' {kind!r} is not supported: {HOSTED}.", param="tool_choice.type")
