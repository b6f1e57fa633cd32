"""Hermes / Qwen2.5 / Qwen3 tool calls: one `<tool_call>\\n{"name": …, "arguments": …}\\n</tool_call>` block
per call (one call object per line inside a block is accepted too).

Qwen2.5-Coder in `auto` mode often writes its call as a Markdown ```json fence instead of the tags: the
parser accepts a fenced call at the start of an answer, and under a grammar the fence's opening is
rewritten into `<tool_call>` form as soon as it names a declared tool (tools/grammar.py). Qwen3
(and QwQ) may open the answer with a `<think>…</think>` block: that is reasoning, never content or calls.
"""

from __future__ import annotations

from dataclasses import replace

from fncall.tools.formats.base import Calls, Tok, ToolFormat, json_call
from fncall.tools.syntax import CallSyntax

SYNTAX = CallSyntax(open="<tool_call>", close="</tool_call>", fence=True)
THINK = ("<think>", "</think>")


def _instructions(tools_json: str) -> str:
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        f"{tools_json}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


def _spell(calls: Calls) -> str:
    return "\n".join(f"<tool_call>\n{json_call(name, args)}\n</tool_call>" for name, args in calls)


def _calls_rules(tok: Tok, parallel: bool) -> list[str]:
    # Qwen writes several calls either as one block each or as one JSON object per line inside a single
    # block, and often ends the turn right after the last object without the close tag (seen on
    # Qwen2.5-Coder, BFCL parallel cases): both are admitted, so the grammar never forces an extra call.
    # Whitespace after the last call must be allowed too, or the grammar forces yet another call.
    open_, close = tok(SYNTAX.open), tok(SYNTAX.close)
    if not parallel:
        return [f'calls: {open_} "\\n" body ("\\n" {close})? TRAILING_WS', "TRAILING_WS: /\\n?/"]
    return [
        f'block: {open_} "\\n" body ("\\n" body)*',
        f'calls: block ("\\n" {close} "\\n" block)* ("\\n" {close})? TRAILING_WS',
        "TRAILING_WS: /\\n?/",
    ]


def _json_tagged(template: str) -> bool:
    """`<tool_call>` blocks holding JSON (not GLM's `<arg_key>`, Qwen3-Coder's `<function=` XML or
    Apriel's `<tool_calls>[…]` list)."""
    xml = any(tag in template for tag in ("<arg_key>", "<function=", "<parameter=", "<tool_calls>"))
    return "<tool_call>" in template and '"arguments"' in template.replace('\\"', '"') and not xml


HERMES = ToolFormat(
    name="hermes",
    tokens=("<tool_call>",),
    syntax=SYNTAX,
    rule='template has <tool_call> and "arguments" (no <function=, <arg_key>, <tool_calls>), and no <think>',
    detects=lambda t: _json_tagged(t) and "<think>" not in t,
    instructions=_instructions,
    spell=_spell,
    calls_rules=_calls_rules,
)

QWEN3 = replace(
    HERMES,
    name="qwen3",
    tokens=("<tool_call>", "<think>"),
    syntax=replace(SYNTAX, think=THINK),
    rule='as hermes, and the template has <think>: leading reasoning becomes "reasoning_content"',
    detects=lambda t: _json_tagged(t) and "<think>" in t,
)
