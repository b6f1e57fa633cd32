"""Hermes / Qwen2.5 tool calls: one `<tool_call>\\n{"name": …, "arguments": …}\\n</tool_call>` block per call.

Qwen2.5-Coder in `auto` mode often writes its call as a Markdown ```json fence instead of the tags, so
the fence at the start of an answer is a second accepted spelling (grammar and parser alike).
"""

from __future__ import annotations

from fncall.tools.formats.base import Markers, ToolFormat
from fncall.tools.parser import CallSyntax

SYNTAX = CallSyntax(open="<tool_call>", close="</tool_call>", fence=True)


def _instructions(tools_json: str) -> str:
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        f"{tools_json}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


def _call_rule(markers: Markers) -> str:
    return f'call: {markers.open} "\\n" body "\\n" {markers.close}'


HERMES = ToolFormat(
    name="hermes",
    syntax=SYNTAX,
    detects=lambda template: "<tool_call>" in template,
    instructions=_instructions,
    call_rule=_call_rule,
)
