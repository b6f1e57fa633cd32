"""Model text → OpenAI message deltas (plain content, or tool calls parsed as they are generated).

Streaming sends each delta as a chunk; non-streaming merges the very same deltas into one message, so
both answers are equal by construction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from fncall.engine.sampling import TokenLogprob
from fncall.tools.grounding import Conversation
from fncall.tools.parser import CallArgs, CallBegin, CallSyntax, Content, Event, Reasoning, ToolCallParser
from fncall.tools.spec import ToolRequest

Delta = dict[str, Any]


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


class ChoiceBuilder:
    """Deltas for one generation.

    With `answered` calls (the conversation already has their results), output is held back until it
    is clear the model is not merely repeating one of them: text releases it at once, a first call
    releases it when complete and different. A repeat sets `repeated` and yields nothing.

    With `grounds` (auto mode, tools/grounding.py) the same holding applies to every answer, and each
    later call of the answer is held too until it is complete: a first call whose values are all made up
    sets `ungrounded` and yields nothing (the caller runs the plan's text answer instead); a later one
    sets `cut` and nothing of it or after it is yielded (the caller ends the turn with the calls before).
    So does a later call that repeats one of the same answer with the same arguments: Qwen2.5-Coder,
    once done, writes its calls over again in a loop (ten calls for two circles, until `max_tokens`
    cut the last one in half). Calls without arguments are exempt (`roll_die()` twice is two rolls). A
    later call still incomplete when the output ends (`max_tokens`) is dropped, as it was never shown.

    Token log probabilities (`feed`'s `logprobs`) go to content only, as OpenAI's do: a content delta
    carries, under "logprobs", those of the tokens whose text it shows; tokens whose text became a call,
    markup or reasoning are dropped.
    """

    def __init__(
        self,
        tools: ToolRequest | None,
        syntax: CallSyntax,
        answered: frozenset[tuple[str, str]] = frozenset(),
        *,
        grounds: Conversation | None = None,
        new_id: Callable[[], str] = new_call_id,
    ) -> None:
        parse = tools is not None and tools.mode != "none"  # "none": nothing is converted
        self._parser = ToolCallParser(syntax, tools.allowed) if parse and tools else None
        self._answered = answered
        self._new_id = new_id  # the format's call ids (Mistral's templates accept only 9 characters)
        self._grounds = grounds if self._parser else None
        self._held: list[Delta] | None = [] if (answered or self._grounds) and self._parser else None
        self._later: list[Delta] | None = None  # a later call being held until it is complete
        self._later_arguments = ""
        self._later_name = ""
        self._made: set[tuple[str, str]] = set()  # the answer's calls so far (name, canonical arguments)
        self._pending: list[tuple[str, Sequence[TokenLogprob]]] = []  # fed text not yet shown as content
        self.n_calls = 0
        self.repeated = False
        self.ungrounded = False
        self.cut = False

    def feed(self, text: str, logprobs: Sequence[TokenLogprob] = ()) -> list[Delta]:
        if logprobs or self._pending:
            self._pending.append((text, logprobs))
        if self._parser is None:
            return self._attach([{"content": text}] if text else [])
        deltas = [self._delta(event) for event in self._parser.feed(text)]
        return self._release(self._attach(deltas), final=False)

    def finish(self) -> list[Delta]:
        if self._parser is None:
            return []
        deltas = self._attach([self._delta(event) for event in self._parser.finish()])
        self._pending = []
        return self._release(deltas, final=True)

    def _attach(self, deltas: list[Delta]) -> list[Delta]:
        """Gives the first content delta the log probabilities of the fed text it releases: the last
        pieces fed whose text covers it (earlier held pieces were markup, e.g. `</think>`, and are
        dropped). Text that became a call or reasoning drops what is pending; no delta yet: it waits."""
        if not self._pending:
            return deltas
        first: Delta | None = None
        length = 0
        for delta in deltas:
            if "content" in delta:
                first = first or delta
                length += len(delta["content"])
            elif "tool_calls" in delta or "reasoning_content" in delta:
                break
        if first is not None:
            k, covered = len(self._pending), 0
            while k > 0 and covered < length:
                k -= 1
                covered += len(self._pending[k][0])
            first["logprobs"] = [entry for _, entries in self._pending[k:] for entry in entries]
        if first is not None or len(deltas) > 0:
            self._pending = []
        return deltas

    def _release(self, deltas: list[Delta], *, final: bool) -> list[Delta]:
        if self._held is None:
            return self._hold_later(deltas, final=final)
        self._held += deltas
        message = merge(self._held)
        calls = message.get("tool_calls", [])
        if calls and _complete(calls[0]["function"]["arguments"]):
            first = calls[0]["function"]
            self.repeated = _key(first["name"], first["arguments"]) in self._answered
            grounds = self._grounds
            made_up = grounds is not None and grounds.ungrounded(first["arguments"])
            self.ungrounded = not self.repeated and made_up
            self._made.add(_key(first["name"], first["arguments"]))
        elif not (final or (message["content"] or "").strip()):
            return []  # still undecided: keep holding
        held, self._held = self._held, None
        return [] if self.repeated or self.ungrounded else self._hold_later(held, final=final)

    def _hold_later(self, deltas: list[Delta], *, final: bool) -> list[Delta]:
        """`deltas`, less any later call not yet complete (held) or made up (`cut`, with all after it)."""
        if self._grounds is None:
            return deltas
        out: list[Delta] = []
        index = self.n_calls - 1  # of the call being held, set when it begins
        for delta in deltas:
            if self.cut:
                break
            parts = delta.get("tool_calls", ())
            if parts and "id" in parts[0] and parts[0]["index"] >= 1:
                out += self._later or []
                self._later, self._later_arguments, index = [], "", parts[0]["index"]
                self._later_name = parts[0]["function"]["name"]
            if self._later is None:
                out.append(delta)
                continue
            self._later.append(delta)
            self._later_arguments += "".join(p["function"]["arguments"] for p in parts)
            if parts and _complete(self._later_arguments):
                key = _key(self._later_name, self._later_arguments)
                repeat = key in self._made and key[1] != "{}"
                if repeat or self._grounds.ungrounded(self._later_arguments):
                    self.cut, self.n_calls = True, index  # the calls before it
                else:
                    out += self._later
                    self._made.add(key)
                self._later = None
        if final and self._later and not self.cut:
            self.n_calls, self._later = index, None  # cut short by max_tokens: never shown, dropped
        return out

    def finish_reason(self, engine_reason: str) -> str:
        return "tool_calls" if self.n_calls and engine_reason == "stop" else engine_reason

    def _delta(self, event: Event) -> Delta:
        match event:
            case Content(text=text):
                return {"content": text}
            case Reasoning(text=text):
                return {"reasoning_content": text}
            case CallBegin(index=index, name=name):
                self.n_calls += 0 if self.cut else 1
                call = {"index": index, "id": self._new_id(), "type": "function"}
                return {"tool_calls": [call | {"function": {"name": name, "arguments": ""}}]}
            case CallArgs(index=index, text=text):
                return {"tool_calls": [{"index": index, "function": {"arguments": text}}]}


def merge(deltas: list[Delta]) -> dict[str, Any]:
    """The assistant message the deltas add up to: content None when only calls were made."""
    content: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for delta in deltas:
        if "content" in delta:
            content.append(delta["content"])
        if "reasoning_content" in delta:
            reasoning.append(delta["reasoning_content"])
        for part in delta.get("tool_calls", ()):
            if "id" in part:
                calls.append({"id": part["id"], "type": "function", "function": dict(part["function"])})
            else:
                calls[part["index"]]["function"]["arguments"] += part["function"]["arguments"]
    text = "".join(content)
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    message |= {"refusal": None, "annotations": []}
    if reasoning:  # the field DeepSeek and vLLM use for reasoning kept out of content
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    return message


def merged_logprobs(deltas: list[Delta]) -> list[TokenLogprob]:
    """The content log probabilities the deltas carry, in order."""
    return [entry for delta in deltas for entry in delta.get("logprobs", ())]


def _complete(arguments: str) -> bool:
    try:
        json.loads(arguments)
    except json.JSONDecodeError:
        return False
    return True


def _key(name: str, arguments: str) -> tuple[str, str]:
    return name, canonical_json(json.loads(arguments))


def canonical_json(value: Any) -> str:
    """One spelling per JSON value, to compare calls whatever their key order or spacing."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
