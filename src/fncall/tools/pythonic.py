"""Python call syntax for tool calls (Llama 3.2's `[f(a=1, b="x"), g()]`), both ways:

- `KwargsToJson`: the keyword arguments of one call, as the model writes them, translated character by
  character into the JSON object the API returns (so arguments stream, and any chunking gives the same
  text); `True`/`False`/`None` become JSON literals, single-quoted strings and tuples become JSON's;
- `literal_rules`: Lark rules for Python literals of a JSON schema's values, for the grammar.

Bad output is not refused here: it becomes arguments that are not valid JSON, like a truncated call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")
_LITERALS = {"True": "true", "False": "false", "None": "null"}
_CLOSERS = {")": "]", "]": "]", "}": "}"}


@dataclass(slots=True)
class KwargsToJson:
    """Feed the characters after `name(`; `done` is set at the call's closing `)`."""

    expecting_key: bool = True
    first: bool = True
    key: str = ""
    word: str = ""  # a bare value (number, True, …) being read
    depth: int = 0
    quote: str = ""
    escape: bool = False
    done: bool = False
    _out: list[str] = field(default_factory=list)

    def feed(self, ch: str) -> str:
        """JSON text for `ch` (possibly empty while a word or key is being read)."""
        if self.quote:
            return self._string(ch)
        if self.expecting_key:
            return self._key(ch)
        return self._value(ch)

    def _string(self, ch: str) -> str:
        if self.escape:
            self.escape = False
            return "'" if ch == "'" else "\\" + ch
        if ch == "\\":
            self.escape = True
            return ""
        if ch == self.quote:
            self.quote = ""
            return '"'
        return '\\"' if ch == '"' else ch

    def _key(self, ch: str) -> str:
        if ch in " \t\n\r":
            return ""
        if ch == ")":
            self.done = True
            return "}"
        if ch != "=":
            self.key += ch
            return ""
        text = ("" if self.first else ", ") + json.dumps(self.key) + ": "
        self.expecting_key, self.first, self.key = False, False, ""
        return text

    def _value(self, ch: str) -> str:
        if ch in _WORD:
            self.word += ch
            return ""
        word, self.word = _LITERALS.get(self.word, self.word), ""
        if ch in "'\"":
            self.quote = ch
            return word + '"'
        if ch in "([{":
            self.depth += 1
            return word + ("[" if ch == "(" else ch)
        if self.depth == 0 and ch in ",)":
            self.expecting_key = True
            self.done = ch == ")"
            return word + ("}" if self.done else "")
        if ch in _CLOSERS:
            self.depth -= 1
            return word + _CLOSERS[ch]
        if ch in " \t\n\r" and self.depth == 0:
            return word
        return word + ch


def literal_rules(name: str, schema: Mapping[str, Any], root: Mapping[str, Any], depth: int = 0) -> list[str]:
    """Lark rules defining rule `name`: a Python literal valid for `schema` (types, enums, required keys;
    numeric bounds and string patterns are not enforced). `root` resolves `#/$defs/…` references."""
    if depth > 16:
        return [f"{name}: literal", *_GENERIC]
    schema = _resolve(schema, root)
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return [f"{name}: " + " | ".join(json.dumps(python_literal(v)) for v in values)]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            subs = [f"{name}_{i}" for i in range(len(schema[key]))]
            rules = [f"{name}: " + " | ".join(subs)]
            for sub, option in zip(subs, schema[key], strict=True):
                rules += literal_rules(sub, option, root, depth + 1)
            return rules
    kind = schema.get("type")
    if isinstance(kind, list):
        subs = [f"{name}_{i}" for i in range(len(kind))]
        rules = [f"{name}: " + " | ".join(subs)]
        for sub, one in zip(subs, kind, strict=True):
            rules += literal_rules(sub, {**schema, "type": one}, root, depth + 1)
        return rules
    if kind == "object":
        return _object_rules(name, schema, root, depth)
    if kind == "array":
        items = schema.get("items") or {}
        return [
            f'{name}: "[" ({name}_item (", " {name}_item)*)? "]"',
            *literal_rules(f"{name}_item", items, root, depth + 1),
        ]
    simple = {
        "string": "PY_STRING",
        "integer": "PY_INT",
        "number": "PY_NUMBER",
        "boolean": '"True" | "False"',
        "null": '"None"',
    }
    if kind in simple:
        return [f"{name}: {simple[kind]}"]
    return [f"{name}: literal"]


def _object_rules(name: str, schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> list[str]:
    """A dict literal: required keys first, then each optional key or not, in the schema's order."""
    items, rules = _keyed(name, schema, root, depth, lambda key: json.dumps(json.dumps(key) + ": "))
    return [f'{name}: "{{" {_optional(items)} "}}"', *rules]


def kwargs_rules(name: str, schema: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(`name(` … `)` contents, rules): keyword arguments for a tool whose parameters are `schema`."""
    items, rules = _keyed(name, schema, schema, 0, lambda key: json.dumps(f"{key}="))
    return _optional(items), rules


def _keyed(
    name: str, schema: Mapping[str, Any], root: Mapping[str, Any], depth: int, label: Callable[[str], str]
) -> tuple[str | None, list[str]]:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = [k for k in properties if k in (schema.get("required") or [])]
    keys = [*required, *(k for k in properties if k not in required)]
    rules: list[str] = []
    parts = []
    for i, key in enumerate(keys):
        rules += literal_rules(f"{name}_{i}", properties[key], root, depth + 1)
        parts.append(f"{label(key)} {name}_{i}")
    return _sequence(parts[: len(required)], parts[len(required) :]), rules


def _optional(items: str | None) -> str:
    return f"({items})?" if items else ""


def _sequence(required: list[str], optional: list[str]) -> str | None:
    """Comma-separated: every `required` item in order, then any subset of `optional` in order; None
    when that can only be empty."""

    def rest(parts: list[str]) -> list[str]:
        return [f'(", " {p})?' for p in parts]

    if required:
        return " ".join([' ", " '.join(required), *rest(optional)])
    if not optional:
        return None
    alternatives = [" ".join([optional[i], *rest(optional[i + 1 :])]) for i in range(len(optional))]
    return "(" + " | ".join(alternatives) + ")"


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        return node if isinstance(node, Mapping) else {}
    return schema


def python_literal(value: Any) -> str:
    """A JSON value written as a Python literal."""
    if value is True or value is False or value is None:
        return {True: "True", False: "False", None: "None"}[value]
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {python_literal(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


_GENERIC = [
    'literal: PY_STRING | PY_NUMBER | "True" | "False" | "None" | "[" (literal (", " literal)*)? "]"',
]
TERMINALS = [
    'PY_STRING: /"([^"\\\\\\n]|\\\\.){0,256}"/',
    "PY_INT: /-?(0|[1-9][0-9]{0,15})/",
    "PY_NUMBER: /-?(0|[1-9][0-9]{0,15})(\\.[0-9]{1,16})?([eE][-+]?[0-9]{1,3})?/",
    *_GENERIC,
]
