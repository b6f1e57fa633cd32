"""The deprecated `functions` / `function_call` API, as a pair of translations at the edge.

Requests: `functions` become `tools` and `function_call` becomes `tool_choice` (`"none"`, `"auto"`, or
`{"name": X}` → that function), with at most one call (the legacy shape has room for one).
Responses: the call is `message.function_call` (`delta.function_call` when streamed) and the finish
reason `function_call`, as OpenAI still answers such requests.
"""

from __future__ import annotations

import re
from typing import Any

from fncall.api.errors import APIError
from fncall.api.protocol import ChatCompletionRequest


def is_legacy(req: ChatCompletionRequest) -> bool:
    return req.functions is not None


def as_tools(req: ChatCompletionRequest) -> ChatCompletionRequest:
    """The request with `functions` / `function_call` mapped onto `tools` / `tool_choice`."""
    if req.functions is None:
        if req.function_call is not None:
            raise _bad("function_call", "'function_call' is only allowed when 'functions' are given.")
        return req
    if req.tools is not None or req.tool_choice is not None:
        raise _bad("functions", "send either 'functions' (deprecated) or 'tools', not both.")
    if not req.functions:
        raise _bad("functions", "'functions' must list at least one function.")
    if any(not isinstance(f, dict) for f in req.functions):
        raise _bad("functions", "each of 'functions' must be an object with a 'name'.")
    tools = [{"type": "function", "function": f} for f in req.functions]
    update = {"tools": tools, "tool_choice": _choice(req.function_call), "parallel_tool_calls": False}
    return req.model_copy(update=update | {"functions": None, "function_call": None})


def _choice(value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    if value is None or value in ("none", "auto"):
        return value
    if isinstance(value, dict) and set(value) == {"name"} and isinstance(value["name"], str):
        return {"type": "function", "function": {"name": value["name"]}}
    raise _bad("function_call", "'function_call' must be 'none', 'auto' or {\"name\": NAME}.")


def param(name: str) -> str:
    """A tool parameter's name as the legacy request spelled it (`tools[0].function.name` →
    `functions[0].name`, `tool_choice…` → `function_call…`)."""
    name = re.sub(r"^tools\[(\d+)\]\.function", r"functions[\1]", name)
    return re.sub(r"^tool_choice(\.function)?", "function_call", name)


def message(message: dict[str, Any]) -> dict[str, Any]:
    """A merged assistant message in the legacy shape."""
    calls = message.pop("tool_calls", None)
    if calls:
        message["function_call"] = calls[0]["function"]
    return message


def delta(delta: dict[str, Any]) -> dict[str, Any]:
    """A stream delta in the legacy shape: a call's name first, then its arguments as they grow."""
    parts = delta.pop("tool_calls", None)
    if parts:
        function = parts[0]["function"]
        delta["function_call"] = {k: function[k] for k in ("name", "arguments") if k in function}
    return delta


def finish_reason(reason: str) -> str:
    return "function_call" if reason == "tool_calls" else reason


def _bad(param: str, text: str) -> APIError:
    return APIError(text, param=param, code="invalid_value")
