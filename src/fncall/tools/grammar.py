"""Lark grammars (llguidance dialect) that make tool calls valid by construction.

Tool names are limited to the callable ones and each call's arguments must be JSON valid against that
tool's `parameters` schema. `required` (and a named choice) constrain the output from its first token.
`auto` leaves text free, which keeps plain answers at full speed, and switches to a grammar the moment
the output starts a call: when the call-open token is sampled, or when the output begins the way a call
begins (a textual open marker, an anchored head). A Markdown-fenced call at the start is rewritten into
the format's own call syntax before it goes on (see `PrefixTrigger.rewrite`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fncall.tools.custom import arguments_rule
from fncall.tools.formats.base import Tok, ToolFormat
from fncall.tools.pythonic import TERMINALS, kwargs_rules
from fncall.tools.spec import Tool, ToolRequest
from fncall.tools.syntax import CallSyntax

# Compact, deterministic arguments, the way models were trained on them (json.dumps' separators).
_JSON_STYLE = {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}
# Whitespace is bounded everywhere so a degenerate model cannot loop on it forever.
_WS = "[ \\t\\n]{0,16}"


@dataclass(slots=True, frozen=True)
class PrefixTrigger:
    """If the output so far matches `pattern` (from its start), the whole output must match `grammar`.

    With `rewrite`, the output so far is replaced by that text (which `grammar` must admit) and generation
    goes on from there. Qwen2.5-Coder writes its calls as Markdown ```json fences in `auto` mode, and in a
    fence it stops after one call (P(end) = 1.00 after the closing fence on BFCL's parallel cases); given
    its own `<tool_call>` opening instead it writes every call the request needs.
    """

    pattern: str
    grammar: str
    rewrite: str | None = None


@dataclass(slots=True, frozen=True)
class GrammarPlan:
    start: str | None  # constrains from the first token
    on_open_token: str | None  # once the call-open special token is sampled, the rest must match this
    prefixes: tuple[PrefixTrigger, ...] = ()
    # Characters the answer may not start with in `auto` (after whitespace). After a tool result small
    # models echo a bare JSON pseudo-call, or the prompt's `<tools>` / `<tool_response>` markup, instead
    # of answering; a real call uses the format's own syntax (Llama's calls are bare JSON: nothing banned).
    first_banned: str = "{"
    # `auto` with a call token (tools/decision.py): call or text at the answer's opening by class share
    # against `threshold`, and after a complete call keep the turn open when P(not ending) >= `more`;
    # None = plain sampling there.
    threshold: float | None = None
    more: float | None = None
    defer_text: bool = False  # a text choice at the opening ends the output (another plan answers)


@dataclass(slots=True, frozen=True)
class OutputSchema:
    """Structured output (`response_format`): the whole answer is JSON valid against `schema`."""

    schema: dict[str, Any]
    strict: bool = False


def output_plan(output: OutputSchema) -> GrammarPlan:
    """The answer constrained from its first token; objects closed as for tool arguments (`strict`
    closes every one). Whitespace is the compact style too: a free-whitespace grammar lets a small model
    pad the answer with newlines until max_tokens."""
    return GrammarPlan(start=_grammar("answer", [_answer_rule(output)]), on_open_token=None)


def _answer_rule(output: OutputSchema) -> str:
    schema = dict(_closed(output.schema, force=output.strict))
    schema["x-guidance"] = _JSON_STYLE
    return f"answer: %json {json.dumps(schema)}"


def plan_grammars(
    fmt: ToolFormat,
    req: ToolRequest,
    tok: Tok,
    *,
    open_is_token: bool,
    threshold: float | None = None,
    more: float | None = None,
    defer_text: bool = False,
    output: OutputSchema | None = None,
) -> GrammarPlan:
    """The grammars for a request in a format; `tok` spells a marker (`<[id]>` for a special token)."""
    syntax = fmt.syntax
    rules = [*_body_rules(syntax, req.callable_tools, tok), *fmt.calls_rules(tok, req.parallel)]
    if req.mode == "required":
        return GrammarPlan(start=_grammar("calls", rules), on_open_token=None)
    if output is not None:  # `auto` with structured output: calls, or the JSON answer
        return GrammarPlan(
            start=_grammar("calls | answer", [*rules, _answer_rule(output)]), on_open_token=None
        )
    lead = _grammar(f"/{_WS}/ calls", rules)
    names = "|".join(re.escape(t.name) for t in req.callable_tools)  # triggers fire on declared names only
    if syntax.open_in_prompt:  # the answer starts with a recipient: a declared name means a call
        prefixes = [PrefixTrigger(f"({names}){re.escape(syntax.name_end)}", _grammar("calls", rules))]
    elif syntax.open:
        prefixes = [PrefixTrigger(rf"\s*{re.escape(syntax.open)}", lead)]
    else:  # anchored: the answer starts like a call (optionally after the lead marker)
        before = rf"\s*({re.escape(syntax.lead)})?" if syntax.lead else ""
        head = rf"\s*\[\s*({names})\(" if syntax.pythonic else _head_regex(syntax, names)
        # The model wrote the head before the grammar took over, with whatever whitespace it chose.
        flexible = [
            *_body_rules(syntax, req.callable_tools, tok, strict=False),
            *fmt.calls_rules(tok, req.parallel),
        ]
        prefixes = [PrefixTrigger(before + head, _grammar(f"/{_WS}/ calls", flexible))]
    if syntax.fence:
        # Fires only once the model itself wrote `{"name": "<declared>", "arguments"` in the fence, so an
        # echo of a tool result (`{"name": …, "response": …}`) stays text instead of becoming a new call.
        head = _head_regex(syntax, names)
        opening = f'{syntax.open}\n{{{json.dumps(syntax.name_key)}: "'
        # A fenced JSON list of calls (`[{"name": …}, …]`, seen once on BFCL) is rewritten the same way.
        fence = r"\s*```(json)?\s*\[?"
        prefixes.insert(0, PrefixTrigger(fence + head, _grammar("calls", rules), rewrite=opening))
    return GrammarPlan(
        start=None,
        on_open_token=_grammar("calls", rules) if open_is_token else None,
        prefixes=tuple(prefixes),
        first_banned=_first_banned(syntax, open_is_token=open_is_token),
        # Reasoning models open with <think>: the decisions were calibrated without one (not measured).
        threshold=threshold if open_is_token and syntax.think is None else None,
        more=more if open_is_token and syntax.think is None and req.parallel else None,
        defer_text=defer_text,
    )


def _first_banned(syntax: CallSyntax, *, open_is_token: bool) -> str:
    if not syntax.open:
        return ""
    # With a special-token call opener (Qwen's <tool_call>) no call starts with a plain `<`, and a reply
    # that does is the Hermes prompt's markup coming back (seen on Qwen2.5-Coder after a tool result).
    # Not with reasoning: a `<think>` that is plain text in the vocabulary starts with `<` too.
    markup = open_is_token and syntax.open.startswith("<") and syntax.think is None
    return "{<" if markup else "{"


def _head_regex(syntax: CallSyntax, names: str) -> str:
    name_key, args_key = (re.escape(json.dumps(k)) for k in (syntax.name_key, syntax.args_key))
    return rf"\s*\{{\s*{name_key}\s*:\s*\"({names})\"\s*,\s*{args_key}"


def _grammar(start: str, rules: list[str]) -> str:
    return "\n".join(["%llguidance {}", f"start: {start}", *rules])


def _body_rules(syntax: CallSyntax, tools: tuple[Tool, ...], tok: Tok, *, strict: bool = True) -> list[str]:
    """`body`: one call's name and arguments, as the syntax writes them (without the call markers).

    `strict`: the call object's punctuation is spaced as json.dumps spaces it, so that once the name is
    unique the grammar admits one continuation up to the first argument's value, which jump-forward
    appends without sampling; else whitespace there is the model's choice (for a head it already wrote).
    """
    name_key, args_key = json.dumps(syntax.name_key), json.dumps(syntax.args_key)
    lines = []
    if syntax.pythonic:
        for i, tool in enumerate(tools):
            inner, rules = kwargs_rules(f"kw_{i}", tool.parameters)
            lines += [f'body_{i}: {json.dumps(tool.name + "(")} {inner} ")"', *rules]
        return [*lines, *TERMINALS, "body: " + " | ".join(f"body_{i}" for i in range(len(tools)))]
    for i, tool in enumerate(tools):
        if tool.custom is not None:  # checked when the request was read: the param is never named here
            lines.append(arguments_rule(f"args_{i}", tool.custom, _JSON_STYLE, "tools"))
        else:
            lines.append(f"args_{i}: %json {json.dumps(arguments_schema(tool))}")
        if syntax.name_end:
            lines.append(f"body_{i}: {json.dumps(tool.name)} {tok(syntax.name_end)} args_{i}")
            continue
        # The arguments themselves are compact JSON. (A pretty-printed fenced call from Qwen is rewritten
        # into the format's own opening before the grammar takes over.)
        parts = ["\\{", name_key, ":", json.dumps(tool.name), ",", args_key, ":", ""]
        head = "".join(p + (" " if p in (",", ":") else "") for p in parts) if strict else _WS.join(parts)
        lines += [f"body_{i}: HEAD_{i} args_{i} CLOSE_BRACE", f"HEAD_{i}: /{head}/"]
    if not syntax.name_end:
        lines.append(f"CLOSE_BRACE: /{'' if strict else _WS}\\}}/")
    lines.append("body: " + " | ".join(f"body_{i}" for i in range(len(tools))))
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
