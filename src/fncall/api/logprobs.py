"""Token log probabilities in OpenAI's two shapes: chat's `logprobs.content[]` and the legacy
completions' `{tokens, token_logprobs, top_logprobs, text_offset}`.

The engine sends token ids with their log probabilities (engine.sampling.TokenLogprob); the text of a
token is its vocabulary piece, `bytes` its exact bytes (a piece may hold part of a UTF-8 character).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fncall.engine.sampling import TokenLogprob

Piece = Callable[[int], bytes]


def _token(piece: Piece, token: int, logprob: float) -> dict[str, Any]:
    raw = piece(token)
    return {"token": raw.decode("utf-8", errors="replace"), "logprob": logprob, "bytes": list(raw)}


def chat_content(entries: Sequence[TokenLogprob], piece: Piece) -> list[dict[str, Any]]:
    """`choices[].logprobs.content` entries: each token with its `top_logprobs` alternatives."""
    return [
        _token(piece, e.token, e.logprob) | {"top_logprobs": [_token(piece, t, lp) for t, lp in e.top]}
        for e in entries
    ]


def chat_logprobs(entries: Sequence[TokenLogprob] | None, piece: Piece) -> dict[str, Any] | None:
    """A choice's (or chunk's) `logprobs` object; None when the request asked for none."""
    if entries is None:
        return None
    return {"content": chat_content(entries, piece), "refusal": None}


def legacy(
    entries: Sequence[TokenLogprob], piece: Piece, offset: int = 0, *, first: int | None = None
) -> dict[str, Any]:
    """The legacy completions' `logprobs` for entries whose text starts at character `offset`; `first` is
    a token before them that has no log probability (an echoed prompt's first token: null, as OpenAI)."""

    def text(token: int) -> str:
        return piece(token).decode("utf-8", errors="replace")

    out: dict[str, list[Any]] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}

    def add(token: int, logprob: float | None, top: dict[str, float] | None) -> None:
        nonlocal offset
        out["tokens"].append(text(token))
        out["token_logprobs"].append(logprob)
        out["top_logprobs"].append(top)
        out["text_offset"].append(offset)
        offset += len(out["tokens"][-1])

    if first is not None:
        add(first, None, None)
    for entry in entries:
        add(entry.token, entry.logprob, {text(t): lp for t, lp in entry.top})
    return out
