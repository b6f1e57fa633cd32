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
    *,
    result_hint: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(messages, tools) to hand to the chat template; `result_hint` closes a conversation that ends
    with tool results with RESULT_HINT (a template that refuses a late system message raises)."""
    tools = [t.as_template_tool() for t in req.tools] if req else None
    if req and req.mode == "auto":
        messages = _with_system(list(messages), AUTO_HINT)
        if result_hint and messages[-1]["role"] == "tool":
            # At the end, not in the first system message: earlier turns stay a reusable KV prefix.
            messages = [*messages, {"role": "system", "content": RESULT_HINT}]
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
# The second sentence's "at once, one call per item, rather than explaining them": Qwen2.5-Coder-1.5B
# otherwise answers a request for several calls with prose describing them ("call X twice…"). Chosen on
# the dev split (bench/decision_probe.py, BFCL cases 20-39: call openings of parallel cases 12 → 17 of
# 20, irrelevance unchanged 13); on the test split (cases 0-19, end to end) BFCL mean 72 → 78 %,
# parallel 45 → 65 %, irrelevance unchanged 80 %; bench/agent_tasks.py 19 → 20 of 36. "Respond with the
# call itself" instead made every irrelevance case a call (0 of 20 on dev) and was dropped.
AUTO_HINT = (
    "Call a function only when the request needs one of the listed functions; otherwise answer "
    "directly in plain text. If the request needs several calls, make all of them at once, one call per "
    "item, rather than explaining them."
)


# After tool results, for the answer only: once the model's own first-token probabilities (without this
# sentence) chose text over a further call (tools/decision.py), the answer is written with it. Without it
# Qwen2.5-Coder-1.5B hovers between answering, explaining how it would call a function, and echoing the
# prompt's tool list (on bench/scenarios.py, 10 of 36 final answers lacked the results they had been
# given). With it in the prompt of the decision as well, every further call the dev tasks needed lost:
# the call-class share of the first token fell below 0.05 on all 13, from 0.1 and more without
# (bench/decision_probe.py --result-hint; also with "Call further functions if the request still needs
# them; otherwise answer …"). So the decision is made without it, and only a text answer gets it.
RESULT_HINT = "Answer the user's request using the function results above."


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
