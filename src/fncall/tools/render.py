"""Puts tools into the prompt: through the model's own template when it renders `tools`, otherwise as
a system message we write in the fallback format (and past calls spelled in that format as text).
In `auto` mode a short system hint tells the model when not to call (and to make every needed call)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fncall.tools.formats.base import ToolFormat
from fncall.tools.spec import ToolRequest


def prompt_inputs(
    messages: Sequence[dict[str, Any]],
    req: ToolRequest | None,
    fmt: ToolFormat,
    native: bool,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(messages, tools) to hand to the chat template."""
    tools = [t.as_template_tool() for t in req.tools] if req else None
    if req and req.mode == "auto":
        messages = _with_system(list(messages), AUTO_HINT)
    if native:
        return fmt.prepare(list(messages)), tools
    out = _spell_results([_spell_calls(m, fmt) for m in messages])
    if tools:
        listing = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
        text = fmt.instructions(listing)
        if out and out[0]["role"] == "system":
            out[0] = out[0] | {"content": f"{out[0]['content']}\n\n{text}"}
        else:
            out.insert(0, {"role": "system", "content": text})
    return out, None


# Measured on BFCL (bench/bfcl.py, 10 cases each): irrelevance 30 % → 80 % with simple_python and
# multiple unchanged at 80 %; small models otherwise call some tool for questions no tool answers.
AUTO_HINT = (
    "Call a function only when the request needs one of the listed functions; otherwise answer "
    "directly in plain text. If the request needs several calls, make all of them."
)


# No system text after tool results. A closing sentence ("Answer the user's request using the function
# results above.", and also "Call further functions if the request still needs them; otherwise answer …")
# moved Qwen2.5-Coder-1.5B's first-token mass from calls to prose after every result: on the dev half of
# bench/scenarios.py, the 13 answers that needed a further call got a call-class share below 0.05 with
# either sentence and at least 0.1 without (bench/decision_probe.py --result-hint). The call/text choice
# after results is tools/decision.py's, and a repeat of an answered call is caught (api/generation.py).


def _with_system(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    if messages and messages[0]["role"] == "system":
        return [messages[0] | {"content": f"{messages[0]['content']}\n\n{text}"}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def _spell_calls(message: dict[str, Any], fmt: ToolFormat) -> dict[str, Any]:
    """An assistant turn with tool_calls, written out the way the model is told to write calls."""
    calls = message.get("tool_calls")
    if not calls:
        return message
    spelled = fmt.spell([(c["function"]["name"], c["function"]["arguments"]) for c in calls])
    text = "\n".join(filter(None, [message.get("content"), spelled]))
    return {k: v for k, v in message.items() if k != "tool_calls"} | {"content": text}


def _spell_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool results as one user turn per run of results, `<tool_response>`-tagged as Hermes templates do:
    templates without tool support drop or refuse the `tool` role."""
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if message["role"] != "tool":
            out.append(message)
            continue
        text = f"<tool_response>\n{message.get('content') or ''}\n</tool_response>"
        if i and messages[i - 1]["role"] == "tool":
            out[-1] = out[-1] | {"content": f"{out[-1]['content']}\n{text}"}
        else:
            out.append({"role": "user", "content": text})
    return out
