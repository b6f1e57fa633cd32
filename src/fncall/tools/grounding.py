"""Is a call's content taken from the conversation, or made up?

A 1.5B model that has decided to call often fills the arguments it does not have with placeholders:
`"product_id": "12345"` before the search that would find the id has run, `"city": "YourCityName"`,
`determine_body_mass_index(weight=70, height=1.8)` for a question about a triangle. Such a call is
seldom what the user asked for: the values it carries appear nowhere in what the user, the system or
earlier tool results said. `ungrounded` names that case; what happens to such a call is decided where
calls are assembled (api/choices.py), and measured (README, "Call decisions"). The cost: a call whose
figures come from general knowledge (52 cards and 4 kings for "the probability of drawing a king")
looks made up too; 1 right call of the BFCL dev split.

Only values that carry information count: numbers other than 0 and 1, and strings with a word in
them; booleans, nulls, and strings the tool's own schema spells (an enum member, a documented example)
say nothing about where the model got them, even when the user said them too: the model may have
copied them from the schema. (Counting such a string as grounded when the user said it too cleared 3
made-up calls of the BFCL dev split, `sport: "cricket"` with a made-up date among them, and no real
one.) A string is grounded when one of its words (three or more characters, or any run of digits)
occurs in the conversation, or its letters and digits run together do (`"Q3.txt"`); a number when it
occurs as a number there, or as a percentage of one (2 % → 0.02). A call is ungrounded when it has
informative values and none of them is grounded: one value the user gave is enough to clear it, since
real calls often add a unit or a default the user never wrote (flagging a call with any made-up value
would have dropped 7 right calls of the BFCL dev split, world-knowledge figures such as a country's
population among them, against 1 with this rule).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

_WORD = re.compile(r"[^\W_]+")
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "dozen": 12, "twenty": 20, "fifty": 50, "hundred": 100,
    "thousand": 1000,
}  # fmt: skip
_STOP = frozenset({"the", "and", "for", "with", "from", "your", "you", "are", "was", "this", "that"})


class Conversation:
    """The words and numbers a conversation contains: what a call's values may be taken from."""

    def __init__(self, texts: Iterable[str], schema_texts: Iterable[str] = ()) -> None:
        joined = "\n".join(texts).casefold()
        self._words = {w for w in _WORD.findall(joined)}
        self._squashed = "".join(_WORD.findall(joined))
        self._numbers = {_number(m) for m in _NUMBER.findall(joined)}
        self._numbers |= {float(n) for w, n in _NUMBER_WORDS.items() if w in self._words}
        self._schema = "\n".join(schema_texts).casefold()

    def grounded(self, value: Any) -> bool | None:
        """True or False for an informative value, None for one that says nothing either way."""
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int | float):
            if value in (0, 1):
                return None
            return any(_close(value, n) or _close(value * 100, n) for n in self._numbers)
        if isinstance(value, str):
            text = value.casefold().strip()
            words = [w for w in _WORD.findall(text) if (len(w) >= 3 or w.isdigit()) and w not in _STOP]
            if not words or (len(text) > 1 and text in self._schema):
                return None
            squashed = "".join(_WORD.findall(text))
            return any(w in self._words for w in words) or squashed in self._squashed
        return None

    def ungrounded(self, arguments: str) -> bool:
        """The call's arguments (JSON) carry information and none of it occurs in the conversation."""
        try:
            values = list(_leaves(json.loads(arguments)))
        except json.JSONDecodeError:
            return False
        verdicts = [v for v in map(self.grounded, values) if v is not None]
        return bool(verdicts) and not any(verdicts)


def from_messages(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]) -> Conversation:
    """A conversation as chat templates get it (tools/render.py's input): every message's text and the
    arguments of the calls already made; `tools` (template tools) give the schema's own spellings."""
    texts = []
    for message in messages:
        texts.append(message.get("content") or "")
        texts += [json.dumps(c["function"]["arguments"]) for c in message.get("tool_calls") or ()]
    return Conversation(texts, [json.dumps(t, ensure_ascii=False) for t in tools])


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
