"""Functionary (MeetKai) tool calls:

- `functionary-v3.1` (Llama 3.1 based): `<function=NAME>{…}</function>` per call;
- `functionary-v3.2`: the generation prompt ends with `>>>`; the answer names its recipient first,
  `all\\n` for text to the user or `NAME\\n{…}` for a call, and each further part starts with `>>>`.
  Its template concatenates the arguments as they are, so they are handed to it as JSON text.
"""

from __future__ import annotations

import json
from typing import Any

from fncall.tools.formats.base import Calls, Messages, Tok, ToolFormat
from fncall.tools.syntax import CallSyntax

V31 = CallSyntax(open="<function=", name_end=">", close="</function>")
V32 = CallSyntax(open=">>>", name_end="\n", open_in_prompt=True, text_name="all")


def _args(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, ensure_ascii=False)


def _instructions_v31(tools_json: str) -> str:
    return (
        f"You have access to the following functions:\n\n{tools_json}\n\n"
        "If you choose to call a function ONLY reply in the following format:\n"
        "<function={function_name}>{parameters}</function>\n"
        'Here is an example,\n<function=example_function_name>{"example_name": "example_value"}</function>'
    )


def _spell_v31(calls: Calls) -> str:
    return "".join(f"<function={name}>{_args(args)}</function>" for name, args in calls)


def _calls_rules_v31(tok: Tok, parallel: bool) -> list[str]:
    return [f"call: {tok(V31.open)} body {tok(V31.close)}", "calls: call+" if parallel else "calls: call"]


FUNCTIONARY_V31 = ToolFormat(
    name="functionary-v3.1",
    syntax=V31,
    rule="template has <function= and <|python_tag|>",
    detects=lambda t: "<function=" in t and "<|python_tag|>" in t,
    instructions=_instructions_v31,
    spell=_spell_v31,
    calls_rules=_calls_rules_v31,
)


def _instructions_v32(tools_json: str) -> str:
    return (
        f"Available functions:\n{tools_json}\n\nRespond in this format:\n>>>${{recipient}}\n${{content}}\n"
        "where the recipient is `all` for a message to the user, or a function name followed by its "
        "arguments as JSON."
    )


def _spell_v32(calls: Calls) -> str:
    # The prompt supplies the first `>>>`.
    return ">>>".join(f"{name}\n{_args(args)}" for name, args in calls)


def _calls_rules_v32(tok: Tok, parallel: bool) -> list[str]:
    more = f" ({tok(V32.open)} body)*" if parallel else ""
    return [f"calls: body{more}"]


def _arguments_as_text(messages: Messages) -> Messages:
    def call(c: dict[str, Any]) -> dict[str, Any]:
        return c | {"function": c["function"] | {"arguments": _args(c["function"]["arguments"])}}

    return [
        m | {"tool_calls": [call(c) for c in m["tool_calls"]]} if m.get("tool_calls") else m for m in messages
    ]


FUNCTIONARY_V32 = ToolFormat(
    name="functionary-v3.2",
    syntax=V32,
    rule="template has >>>all",
    detects=lambda t: ">>>all" in t,
    instructions=_instructions_v32,
    spell=_spell_v32,
    calls_rules=_calls_rules_v32,
    prepare=_arguments_as_text,
)
