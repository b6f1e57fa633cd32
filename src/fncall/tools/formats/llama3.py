"""Llama 3.1 / 3.2 / 3.3 JSON tool calls: the answer is `{"name": …, "parameters": {…}}` itself.

There is no open marker: a call may only begin the answer (optionally after `<|python_tag|>`, which 3.1
emits before calls in ipython mode) or follow another call. The templates render tool results with the
`ipython` role themselves, and refuse an assistant turn with more than one call, so such a turn is
given to them as consecutive one-call turns.
"""

from __future__ import annotations

from fncall.tools.formats.base import Calls, Messages, Tok, ToolFormat, json_call
from fncall.tools.pythonic import python_literal
from fncall.tools.syntax import CallSyntax

PYTHON_TAG = "<|python_tag|>"
SYNTAX = CallSyntax(open="", args_key="parameters", lead=PYTHON_TAG)


def _instructions(tools_json: str) -> str:
    return (
        "Given the following functions, please respond with a JSON for a function call with its proper "
        "arguments that best answers the given prompt.\n\n"
        'Respond in the format {"name": function name, "parameters": dictionary of argument name and its '
        "value}. Do not use variables.\n\n" + tools_json
    )


def _spell(calls: Calls) -> str:
    return "\n".join(json_call(name, args, args_key="parameters") for name, args in calls)


def _calls_rules(tok: Tok, parallel: bool) -> list[str]:
    more = ' ("\\n" body)*' if parallel else ""
    return [f"calls: lead? body{more}", f"lead: {tok(PYTHON_TAG)}"]


def _one_call_per_turn(messages: Messages) -> Messages:
    out: Messages = []
    for message in messages:
        calls = message.get("tool_calls") or []
        if len(calls) <= 1:
            out.append(message)
            continue
        for i, call in enumerate(calls):
            out.append(
                message | {"content": message.get("content") if i == 0 else None, "tool_calls": [call]}
            )
    return out


def _detects(template: str) -> bool:
    return "<|start_header_id|>ipython<|end_header_id|>" in template or PYTHON_TAG in template


LLAMA3 = ToolFormat(
    name="llama3",
    tokens=(PYTHON_TAG,),
    syntax=SYNTAX,
    rule="template has <|python_tag|> or an `ipython` header (after the Functionary checks)",
    detects=_detects,
    instructions=_instructions,
    spell=_spell,
    calls_rules=_calls_rules,
    prepare=_one_call_per_turn,
)


# Llama 3.2 (1B, 3B) was also trained on Python-style calls, prompted by a system message rather than by
# its template (which renders JSON): `[get_weather(city="Paris"), get_time(city="Tokyo")]`.
PYTHONIC_SYNTAX = CallSyntax(open="", pythonic=True, lead=PYTHON_TAG)


def _instructions_pythonic(tools_json: str) -> str:
    return (
        "You are an expert in composing functions. You are given a question and a set of possible "
        "functions. Based on the question, you will need to make one or more function/tool calls to "
        "achieve the purpose.\n"
        "If you decide to invoke any of the function(s), you MUST put it in the format of "
        "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]\n"
        "You SHOULD NOT include any other text in the response.\n\n"
        f"Here is a list of functions in JSON format that you can invoke.\n\n{tools_json}"
    )


def _spell_pythonic(calls: Calls) -> str:
    def kwargs(arguments: dict[str, object]) -> str:
        return ", ".join(f"{key}={python_literal(value)}" for key, value in arguments.items())

    return "[" + ", ".join(f"{name}({kwargs(args)})" for name, args in calls) + "]"


def _calls_rules_pythonic(tok: Tok, parallel: bool) -> list[str]:
    more = ' (", " body)*' if parallel else ""
    return [f'calls: lead? "[" body{more} "]"', f"lead: {tok(PYTHON_TAG)}"]


LLAMA3_PYTHONIC = ToolFormat(
    name="llama3-pythonic",
    syntax=PYTHONIC_SYNTAX,
    rule="never detected (no template writes it): --tool-format llama3-pythonic",
    detects=lambda t: False,
    instructions=_instructions_pythonic,
    spell=_spell_pythonic,
    calls_rules=_calls_rules_pythonic,
)
