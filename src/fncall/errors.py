"""Errors the core raises for client mistakes; the API turns them into OpenAI-shaped 400s."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class InvalidParam(ValueError):
    """A request value is invalid; `param` names it OpenAI-style (e.g. `messages[2].tool_call_id`)."""

    message: str
    param: str

    def __str__(self) -> str:
        return self.message
