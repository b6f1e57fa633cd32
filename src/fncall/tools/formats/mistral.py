"""Mistral tool calls, in both generations of its templates:

- `mistral` (Nemo, v3 tokenizer): one `[TOOL_CALLS][{"name": …, "arguments": {…}}, …]` list per turn;
- `mistral-v11` (Small 3.2, Devstral, Ministral 3): `[TOOL_CALLS]name[ARGS]{…}` per call.

Their templates raise unless every call id is exactly 9 alphanumeric characters, so calls we return get
such ids, and other ids in a conversation are mapped (stably) to such ids before rendering.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from typing import Any

from fncall.tools.formats.base import Calls, Messages, Tok, ToolFormat, json_call, random_id
from fncall.tools.syntax import CallSyntax

TOOL_CALLS = "[TOOL_CALLS]"
ARGS = "[ARGS]"
ID_LENGTH = 9
_ID = re.compile(rf"^[a-zA-Z0-9]{{{ID_LENGTH}}}$")


def mistral_id(call_id: str) -> str:
    """The id itself if Mistral accepts it, else a stable 9-character alphanumeric stand-in."""
    if _ID.match(call_id):
        return call_id
    return hashlib.sha256(call_id.encode()).hexdigest()[:ID_LENGTH]


def _mistral_ids(messages: Messages) -> Messages:
    out: Messages = []
    for message in messages:
        item: dict[str, Any] = dict(message)
        if message.get("tool_calls"):
            item["tool_calls"] = [c | {"id": mistral_id(c["id"])} for c in message["tool_calls"]]
        if "tool_call_id" in message:
            item["tool_call_id"] = mistral_id(message["tool_call_id"])
        out.append(item)
    return out


def _instructions(tools_json: str) -> str:
    return (
        f"[AVAILABLE_TOOLS]\n{tools_json}\n[/AVAILABLE_TOOLS]\n\nTo call functions, answer with "
        f'{TOOL_CALLS} followed by a JSON list of calls: {TOOL_CALLS}[{{"name": <function-name>, '
        '"arguments": <args-json-object>}]'
    )


def _spell(calls: Calls) -> str:
    return TOOL_CALLS + "[" + ", ".join(json_call(name, args) for name, args in calls) + "]"


def _calls_rules(tok: Tok, parallel: bool) -> list[str]:
    more = ' (", " body)*' if parallel else ""
    return [f'calls: {tok(TOOL_CALLS)} "[" body{more} "]"']


MISTRAL = ToolFormat(
    name="mistral",
    tokens=(TOOL_CALLS,),
    syntax=CallSyntax(open=TOOL_CALLS, listed=True),
    rule="template has [TOOL_CALLS] and no [ARGS]",
    detects=lambda t: TOOL_CALLS in t and ARGS not in t,
    instructions=_instructions,
    spell=_spell,
    calls_rules=_calls_rules,
    prepare=_mistral_ids,
    new_call_id=lambda: random_id(ID_LENGTH),
)


def _instructions_v11(tools_json: str) -> str:
    return (
        f"[AVAILABLE_TOOLS]\n{tools_json}\n[/AVAILABLE_TOOLS]\n\nTo call a function, answer with "
        f"{TOOL_CALLS}<function-name>{ARGS}<args-json-object>, once per call."
    )


def _spell_v11(calls: Calls) -> str:
    return "".join(f"{TOOL_CALLS}{name}{ARGS}{json.dumps(args, ensure_ascii=False)}" for name, args in calls)


def _calls_rules_v11(tok: Tok, parallel: bool) -> list[str]:
    return [f"call: {tok(TOOL_CALLS)} body", "calls: call+" if parallel else "calls: call"]


MISTRAL_V11 = replace(
    MISTRAL,
    name="mistral-v11",
    tokens=(TOOL_CALLS, ARGS),
    # Small 3.2's template writes past calls with `[CALL_ID]id` after the name; Devstral's without.
    syntax=CallSyntax(open=TOOL_CALLS, name_end=ARGS, name_id="[CALL_ID]"),
    rule="template has [TOOL_CALLS] and [ARGS]",
    detects=lambda t: TOOL_CALLS in t and ARGS in t,
    instructions=_instructions_v11,
    spell=_spell_v11,
    calls_rules=_calls_rules_v11,
)
