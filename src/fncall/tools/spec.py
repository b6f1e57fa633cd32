"""What a request asks of function calling: its tools, `tool_choice` and `parallel_tool_calls`, validated.

Input is the request's JSON (already type-checked by the API's pydantic models); everything a client
can get wrong here raises `ToolSpecError` naming the parameter, OpenAI-style.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema

from fncall.errors import InvalidParam
from fncall.tools import custom
from fncall.tools.custom import CustomFormat

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_TOOLS = 128
MAX_SCHEMA_DEPTH = 32
MAX_SCHEMA_BYTES = 64 * 1024
EMPTY_PARAMETERS: Mapping[str, Any] = {"type": "object", "properties": {}}


class ToolSpecError(InvalidParam):
    """The tools or tool_choice are invalid."""


@dataclass(slots=True, frozen=True)
class Tool:
    name: str
    description: str | None
    parameters: Mapping[str, Any]
    strict: bool
    custom: CustomFormat | None = None  # a custom tool: one `input` string, maybe held to a grammar

    def as_template_tool(self) -> dict[str, Any]:
        """The OpenAI tool object, as chat templates expect it under `tools` (a custom tool as a function
        of one `input` string, its grammar in the description)."""
        function: dict[str, Any] = {"name": self.name}
        description = self.description or ""
        if self.custom is not None and self.custom.syntax != "text":
            rule = f"The input must match this {self.custom.syntax} grammar:\n{self.custom.definition}"
            description = f"{description}\n\n{rule}".strip()
        if description:
            function["description"] = description
        function["parameters"] = self.parameters
        return {"type": "function", "function": function}


Mode = Literal["auto", "none", "required"]


@dataclass(slots=True, frozen=True)
class ToolRequest:
    """Tools plus the policy: which may be called (`allowed`), whether one must be, and how many."""

    tools: tuple[Tool, ...]
    mode: Mode
    allowed: tuple[str, ...]
    parallel: bool

    @property
    def callable_tools(self) -> tuple[Tool, ...]:
        return tuple(t for t in self.tools if t.name in self.allowed)


def parse_tool_request(
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: str | Mapping[str, Any] | None,
    parallel_tool_calls: bool | None,
) -> ToolRequest | None:
    """None when the request has no tools (then `tool_choice` must be absent or 'none')."""
    if not tools:
        if tool_choice not in (None, "none"):
            raise ToolSpecError("'tool_choice' is only allowed when 'tools' are specified.", "tool_choice")
        return None
    if len(tools) > MAX_TOOLS:
        raise ToolSpecError(f"At most {MAX_TOOLS} tools are supported, got {len(tools)}.", "tools")
    parsed = tuple(_tool(tool, i) for i, tool in enumerate(tools))
    names = [t.name for t in parsed]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ToolSpecError(f"Duplicate tool name '{name}'.", f"tools[{i}].function.name")
    mode, allowed = _choice(tool_choice, names)
    parallel = True if parallel_tool_calls is None else parallel_tool_calls
    if isinstance(tool_choice, Mapping) and tool_choice.get("type") == "function":
        parallel = False  # a named choice means exactly one call to that function
    return ToolRequest(tools=parsed, mode=mode, allowed=allowed, parallel=parallel)


def _tool(tool: Mapping[str, Any], i: int) -> Tool:
    if tool.get("type") == "custom" and isinstance(tool.get("custom"), Mapping):
        return _custom_tool(tool["custom"], i)
    if tool.get("type") != "function" or not isinstance(tool.get("function"), Mapping):
        raise ToolSpecError(
            "Only tools of type 'function' (with a 'function' object) or 'custom' (with a 'custom' "
            "object) are supported.",
            f"tools[{i}].type",
        )
    function = tool["function"]
    name = function.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ToolSpecError(
            f"Invalid tool name {name!r}: it must match ^[a-zA-Z0-9_-]{{1,64}}$.", f"tools[{i}].function.name"
        )
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise ToolSpecError("'description' must be a string.", f"tools[{i}].function.description")
    strict = function.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise ToolSpecError("'strict' must be a boolean.", f"tools[{i}].function.strict")
    parameters = function.get("parameters", EMPTY_PARAMETERS)
    _check_schema(parameters, f"tools[{i}].function.parameters")
    return Tool(name=name, description=description, parameters=parameters, strict=bool(strict))


def _custom_tool(spec: Mapping[str, Any], i: int) -> Tool:
    """OpenAI's chat spelling of a custom tool: `{"name", "description", "format": {"type": "text"} |
    {"type": "grammar", "grammar": {"syntax": "lark" | "regex", "definition"}}}`."""
    name = spec.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ToolSpecError(
            f"Invalid tool name {name!r}: it must match ^[a-zA-Z0-9_-]{{1,64}}$.", f"tools[{i}].name"
        )
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        raise ToolSpecError("'description' must be a string.", f"tools[{i}].description")
    fmt = _custom_format(spec.get("format"), f"tools[{i}].format")
    if fmt.syntax != "text":
        custom.check(fmt, f"tools[{i}].format")
    return Tool(name=name, description=description, parameters=custom.parameters(), strict=True, custom=fmt)


def _custom_format(fmt: Any, param: str) -> CustomFormat:
    if fmt is None or (isinstance(fmt, Mapping) and fmt.get("type") == "text"):
        return CustomFormat()
    grammar = fmt.get("grammar") if isinstance(fmt, Mapping) and fmt.get("type") == "grammar" else None
    if not isinstance(grammar, Mapping):
        raise ToolSpecError(
            '\'format\' must be {"type": "text"} or {"type": "grammar", "grammar": {...}}.', param
        )
    syntax, definition = grammar.get("syntax"), grammar.get("definition")
    if syntax not in ("lark", "regex"):
        raise ToolSpecError(
            f"Unsupported grammar syntax {syntax!r}: use 'lark' or 'regex'.", f"{param}.syntax"
        )
    if not isinstance(definition, str) or not definition.strip():
        raise ToolSpecError("'definition' must be a non-empty string.", f"{param}.definition")
    return CustomFormat(syntax=syntax, definition=definition)


def _check_schema(schema: Any, param: str) -> None:
    if not isinstance(schema, Mapping):
        raise ToolSpecError("Function parameters must be a JSON Schema object.", param)
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        raise ToolSpecError(f"Function parameters schema is larger than {MAX_SCHEMA_BYTES} bytes.", param)
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        raise ToolSpecError(f"Function parameters schema is nested deeper than {MAX_SCHEMA_DEPTH}.", param)
    if schema.get("type", "object") != "object":
        raise ToolSpecError("Function parameters must be a schema of type 'object'.", param)
    try:
        validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator.check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        raise ToolSpecError(f"Invalid JSON Schema in function parameters: {exc.message}", param) from exc


def _depth(node: Any) -> int:
    if isinstance(node, Mapping):
        return 1 + max((_depth(v) for v in node.values()), default=0)
    if isinstance(node, list):
        return 1 + max((_depth(v) for v in node), default=0)
    return 0


def _choice(choice: str | Mapping[str, Any] | None, names: list[str]) -> tuple[Mode, tuple[str, ...]]:
    if choice is None or choice in ("auto", "none", "required"):
        return (choice or "auto"), tuple(names)  # type: ignore[return-value]
    if isinstance(choice, str):
        raise ToolSpecError(
            f"Invalid 'tool_choice' {choice!r}: use 'auto', 'none', 'required' or a function object.",
            "tool_choice",
        )
    kind = choice.get("type")
    if kind == "function":
        name = (choice.get("function") or {}).get("name")
        return "required", (_declared(name, names, "tool_choice.function.name"),)
    if kind == "allowed_tools":
        spec = choice.get("allowed_tools") or {}
        mode = spec.get("mode", "auto")
        if mode not in ("auto", "required"):
            raise ToolSpecError(
                "'allowed_tools.mode' must be 'auto' or 'required'.", "tool_choice.allowed_tools.mode"
            )
        listed = spec.get("tools") or []
        if not listed:
            raise ToolSpecError(
                "'allowed_tools.tools' must list at least one tool.", "tool_choice.allowed_tools.tools"
            )
        allowed = tuple(
            _declared(
                (t.get("function") or {}).get("name") or t.get("name"),
                names,
                f"tool_choice.allowed_tools.tools[{i}]",
            )
            for i, t in enumerate(listed)
        )
        return mode, allowed
    raise ToolSpecError(f"Unsupported 'tool_choice' type {kind!r}.", "tool_choice.type")


def _declared(name: Any, names: list[str], param: str) -> str:
    if name not in names:
        raise ToolSpecError(f"Tool choice names '{name}', which is not among the declared tools.", param)
    return str(name)
