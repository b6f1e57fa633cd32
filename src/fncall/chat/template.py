"""Renders a model's own Jinja chat template the way Hugging Face transformers does.

Same environment as `transformers`' `apply_chat_template`: sandboxed, `trim_blocks`/`lstrip_blocks`,
loop controls, a `tojson` filter with `ensure_ascii=False`, and the globals `raise_exception` and
`strftime_now`. Templates come from untrusted GGUF files, hence the immutable sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateMissing(Exception):
    """The model has no chat template and none was given."""


class TemplateRenderError(ValueError):
    """The template refused the conversation (e.g. `raise_exception('roles must alternate')`)."""


def _raise_exception(message: str) -> None:
    raise TemplateRenderError(message)


def _tojson(
    value: Any,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
    ensure_ascii: bool = False,
) -> str:
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


class _Generation(Extension):
    """`{% generation %}…{% endgeneration %}` (transformers marks assistant tokens with it): its body."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, _Generation]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


class ChatTemplate:
    """A compiled chat template plus the special-token strings it refers to."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "") -> None:
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        try:
            self._template = _environment().from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateRenderError(f"the chat template does not compile: {exc}") from exc

    @classmethod
    def load(
        cls, embedded: str | None, *, override: Path | None, bos_token: str, eos_token: str
    ) -> ChatTemplate:
        """The override file if given, else the template embedded in the GGUF."""
        if override is not None:
            return cls(override.read_text(encoding="utf-8"), bos_token=bos_token, eos_token=eos_token)
        if not embedded:
            raise TemplateMissing(
                "this model has no chat template (tokenizer.chat_template); pass --chat-template FILE"
            )
        return cls(embedded, bos_token=bos_token, eos_token=eos_token)

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        **extra: Any,
    ) -> str:
        """Renders a conversation; raises TemplateRenderError for conversations the template rejects.

        Many templates cannot take `content: null` (OpenAI's assistant turn with only tool calls): when
        rendering fails on one, it is rendered again with empty strings, as llama.cpp's server does.
        """
        try:
            return self._render(messages, tools, add_generation_prompt, extra)
        except TemplateRenderError:
            if not any(m.get("content", "") is None for m in messages):
                raise
        blank = [{**m, "content": ""} if m.get("content", "") is None else m for m in messages]
        return self._render(blank, tools, add_generation_prompt, extra)

    def _render(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        add_generation_prompt: bool,
        extra: dict[str, Any],
    ) -> str:
        try:
            return self._template.render(
                messages=list(messages),
                tools=list(tools) if tools else None,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                **extra,
            )
        except TemplateRenderError:
            raise
        except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
            # Data the template cannot handle (a content list it expects as a string, …) is the
            # conversation's shape, not a server fault.
            raise TemplateRenderError(f"the chat template could not render this conversation: {exc}") from exc
