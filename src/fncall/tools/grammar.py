"""Lark grammars (llguidance dialect) that make tool calls valid by construction.

Tool names are limited to the callable ones and each call's arguments must be JSON valid against that
tool's `parameters` schema. `required` (and a named choice) constrain the output from its first token.
`auto` leaves text free, which keeps plain answers at full speed, and switches to a grammar the moment
the output starts a call: when the call-open token is sampled, or when the output begins the way a call
begins (a fenced call, or a textual open marker).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fncall.tools.formats.base import Markers, ToolFormat
from fncall.tools.spec import Tool, ToolRequest

# Compact, deterministic arguments, the way models were trained on them (json.dumps' separators).
_JSON_STYLE = {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}
# Whitespace is bounded everywhere so a degenerate model cannot loop on it forever.
_WS = "[ \\t\\n]{0,16}"


@dataclass(slots=True, frozen=True)
class PrefixTrigger:
    """If the output so far matches `pattern` (from its start), the whole output must match `grammar`."""

    pattern: str
    grammar: str


@dataclass(slots=True, frozen=True)
class GrammarPlan:
    start: str | None  # constrains from the first token
    on_open_token: str | None  # once the call-open special token is sampled, the rest must match this
    prefixes: tuple[PrefixTrigger, ...] = ()


def plan_grammars(fmt: ToolFormat, req: ToolRequest, markers: Markers, *, open_is_token: bool) -> GrammarPlan:
    rules = _call_rules(fmt, req.callable_tools, markers)
    # Qwen ends a turn of calls with "</tool_call>\n" + EOS: whitespace after the last call must be allowed,
    # or the grammar forces yet another call (an endless loop of calls).
    more = ' ("\\n" call)*' if req.parallel else ""
    calls = [*rules, f"calls: call{more} TRAILING_WS", "TRAILING_WS: /\\n?/"]
    if req.mode == "required":
        return GrammarPlan(start=_grammar("calls", calls), on_open_token=None)
    syntax = fmt.syntax
    lead = _grammar(f"/{_WS}/ calls", calls)
    prefixes = [PrefixTrigger(rf"\s*{re.escape(syntax.open)}", lead)]
    if syntax.fence:
        # Fires only once the model itself wrote `{"name": "…", "arguments":` in the fence, so an echo
        # of a tool result (`{"name": …, "response": …}`) stays text instead of becoming a new call.
        name_key, args_key = (re.escape(json.dumps(k)) for k in (syntax.name_key, syntax.args_key))
        head = rf"\s*```(json)?\s*\{{\s*{name_key}\s*:\s*\"[^\"]*\"\s*,\s*{args_key}"
        fenced = _grammar("FENCE_OPEN body FENCE_CLOSE", [*rules, f"FENCE_OPEN: /{_WS}```(json)?{_WS}/"])
        fenced += f"\nFENCE_CLOSE: /{_WS}```/"
        prefixes.insert(0, PrefixTrigger(head, fenced))
    return GrammarPlan(
        start=None,
        on_open_token=_grammar("calls", calls) if open_is_token else None,
        prefixes=tuple(prefixes),
    )


def _grammar(start: str, rules: list[str]) -> str:
    return "\n".join(["%llguidance {}", f"start: {start}", *rules])


def _call_rules(fmt: ToolFormat, tools: tuple[Tool, ...], markers: Markers) -> list[str]:
    name_key, args_key = json.dumps(fmt.syntax.name_key), json.dumps(fmt.syntax.args_key)
    lines = []
    for i, tool in enumerate(tools):
        # Whitespace around the call object's punctuation is the model's choice (Qwen pretty-prints
        # inside fences); the arguments themselves are compact JSON.
        head = _WS.join(["\\{", name_key, ":", json.dumps(tool.name), ",", args_key, ":", ""])
        lines += [
            f"body_{i}: HEAD_{i} args_{i} CLOSE_BRACE",
            f"HEAD_{i}: /{head}/",
            f"args_{i}: %json {json.dumps(arguments_schema(tool))}",
        ]
    lines.append(f"CLOSE_BRACE: /{_WS}\\}}/")
    lines.append("body: " + " | ".join(f"body_{i}" for i in range(len(tools))))
    lines.append(fmt.call_rule(markers))
    return lines


def arguments_schema(tool: Tool) -> dict[str, Any]:
    """The tool's parameters as llguidance should enforce them.

    Objects get no keys beyond the listed ones unless the schema asks for extra keys explicitly (the
    output stays valid against the schema, and small models cannot ramble on with invented keys);
    `strict` closes every object, as OpenAI's strict mode does.
    """
    schema = dict(_closed(tool.parameters, force=tool.strict))
    schema["x-guidance"] = _JSON_STYLE
    return schema


def _closed(node: Any, *, force: bool) -> Any:
    if isinstance(node, Mapping):
        out = {k: _closed(v, force=force) for k, v in node.items()}
        if out.get("type") == "object" and (force or "additionalProperties" not in out):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(v, force=force) for v in node]
    return node
