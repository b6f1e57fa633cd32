"""`POST /v1/completions`: OpenAI's legacy text completions, a translation at the edge like the others.

The prompt (a string, a list of strings, or token ids) is tokenized as is, without the chat template, and
each prompt × `n` choice is one completion on the same engine and `Generation` as chat (choice index
`prompt_index * n + j`, as OpenAI numbers them). Not supported, with a 400 naming the parameter:
`suffix` (no fill-in-the-middle), `best_of` other than `n`. `echo` with `logprobs` scores the prompt's
tokens too (eval harnesses' loglikelihood requests), recomputing the prompt.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, cast

import anyio.to_thread
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fncall.api.access_log import access_record
from fncall.api.choices import Delta, merged_logprobs
from fncall.api.completions import GenerationStream, Meta, cancel_on_disconnect, check_n, new_generation
from fncall.api.errors import APIError, from_validation_error, model_not_found, server_error
from fncall.api.fanout import interleave, start_all, total_usage
from fncall.api.generation import Done, Generation
from fncall.api.logprobs import legacy
from fncall.api.protocol import CompletionRequest
from fncall.api.sse import DONE, sse_event
from fncall.api.translate import Plan, for_choice, sampling_params
from fncall.config import ServerConfig
from fncall.engine.engine import PromptTooLong
from fncall.engine.sampling import TokenLogprob
from fncall.engine.sequence import GenerationRequest
from fncall.runtime import Runtime


async def completions(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    req = await _parse(request)
    record = access_record(request)
    if record is not None:
        record.model = req.model
    if req.model not in rt.names:
        raise model_not_found(req.model)
    check_n(req.n, request.app.state.config)
    plans, echoes = await anyio.to_thread.run_sync(text_plans, rt, req)
    n = req.n or 1
    _check_total(len(plans) * n, request.app.state.config)
    generations = [new_generation(request, rt, for_choice(plan, j)) for plan in plans for j in range(n)]
    start_all(generations)
    meta = Meta(f"cmpl-{secrets.token_urlsafe(18)}", int(time.time()), req.model, rt.fingerprint)
    writer = _Writer(rt, req, plans, echoes)
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        return GenerationStream(writer.stream(meta, generations, include_usage), *generations)
    watcher = asyncio.create_task(cancel_on_disconnect(request, *generations))
    try:
        body = await writer.complete(meta, generations)
    finally:
        watcher.cancel()
    return JSONResponse(body)


async def _parse(request: Request) -> CompletionRequest:
    try:
        return CompletionRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        error = from_validation_error(exc)
        if error.param is not None and error.param.startswith("prompt["):
            # the union's members each blame some item; what the client needs is what a prompt may be
            error = APIError(_PROMPT_TYPES, param="prompt", code="invalid_value")
        elif error.param == "prompt" and error.code == "invalid_value":
            error.message = _PROMPT_TYPES
        raise error from None


_PROMPT_TYPES = (
    "Invalid value for 'prompt': expected a string, a list of strings, or token ids (non-negative "
    "integers: a list, or a list of lists)."
)


def text_plans(rt: Runtime, req: CompletionRequest) -> tuple[list[Plan], list[str]]:
    """One plan per prompt, and each prompt's text (for `echo`); blocking (tokenization)."""
    _check_supported(req)
    params = sampling_params(
        req, rt.model.n_vocab, rt.sampling, max_tokens=req.max_tokens, logprobs=req.logprobs
    )
    if req.echo and req.logprobs is not None:  # the prompt's tokens are scored too (no prefix reuse)
        params = replace(params, prompt_logprobs=True)
    plans, echoes = [], []
    for tokens, text in _prompts(rt, req.prompt):
        plans.append(Plan(GenerationRequest(tuple(tokens), params), None))
        echoes.append(text)
    return plans, echoes


def _check_total(total: int, config: ServerConfig) -> None:
    """More completions than may wait for a slot could never all start: a 400 now, not a 429 forever."""
    if total > config.max_waiting:
        raise APIError(
            f"{total} completions (prompts x n) exceed this server's limit of {config.max_waiting} per "
            "request (--max-waiting); send fewer prompts per request.",
            param="prompt",
            code="invalid_value",
        )


def _check_supported(req: CompletionRequest) -> None:
    if req.suffix is not None:
        raise APIError(
            "Unsupported value for 'suffix': insertion (fill-in-the-middle) is not supported.",
            param="suffix",
            code="unsupported_value",
        )
    if req.best_of is not None and req.best_of != (req.n or 1):
        raise APIError(
            "Unsupported value for 'best_of': only best_of equal to n is supported.",
            param="best_of",
            code="unsupported_value",
        )


Prompt = str | list[str] | list[int] | list[list[int]]


def _items(prompt: Prompt) -> list[str | list[int]]:
    """The prompts of a request: one string, strings, one list of token ids, or lists of them."""
    if isinstance(prompt, str):
        return [prompt]
    if prompt and all(isinstance(t, int) for t in prompt):
        return [cast(list[int], prompt)]
    return [item for item in cast(list[str] | list[list[int]], prompt)]


def _prompts(rt: Runtime, prompt: Prompt) -> list[tuple[list[int], str]]:
    """(tokens, text) per prompt; token ids checked against the vocabulary, lengths against the context."""
    items = _items(prompt)
    if not items:
        raise APIError("'prompt' must not be an empty list.", param="prompt", code="invalid_value")
    out = []
    for i, item in enumerate(items):
        param = "prompt" if len(items) == 1 else f"prompt[{i}]"
        if isinstance(item, str):
            tokens, text = rt.model.tokenize(item, add_special=rt.model.add_bos, parse_special=True), item
        elif any(t >= rt.model.n_vocab for t in item):
            raise APIError(
                f"'{param}' holds a token id beyond the vocabulary.", param=param, code="invalid_value"
            )
        else:
            tokens, text = item, b"".join(map(rt.model.piece, item)).decode("utf-8", errors="replace")
        if not tokens:
            raise APIError(
                f"'{param}' is empty: there is nothing to continue.", param=param, code="invalid_value"
            )
        try:
            rt.engine.check_prompt(len(tokens))
        except PromptTooLong as exc:
            message = str(exc).replace("your messages", "your prompt").replace("the messages", "the prompt")
            raise APIError(message, param=param, code="context_length_exceeded") from exc
        out.append((tokens, text))
    return out


class _Writer:
    """The legacy shape: `text_completion` objects, streamed and not, with the legacy `logprobs`.

    With `echo` and `logprobs` the prompt's tokens lead the log probabilities (the first one null); the
    echoed prompt is then streamed once the prompt is scored, with them."""

    def __init__(self, rt: Runtime, req: CompletionRequest, plans: list[Plan], echoes: list[str]) -> None:
        self._piece = rt.model.piece
        self._logprobs = req.logprobs is not None
        self._n = n = req.n or 1
        self._firsts = [plan.generation.prompt[0] for plan in plans for _ in range(n)]
        self._echoes = [echo for echo in echoes for _ in range(n)] if req.echo else [""] * len(self._firsts)
        self._scored = bool(req.echo) and self._logprobs

    def _choice(
        self,
        index: int,
        text: str,
        entries: list[TokenLogprob],
        finish: str | None,
        *,
        offset: int = 0,
        prompt: list[TokenLogprob] | None = None,
    ) -> dict[str, Any]:
        logprobs = None
        if self._logprobs:
            first = self._firsts[index] if prompt is not None else None
            logprobs = legacy([*(prompt or ()), *entries], self._piece, offset, first=first)
        return {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish}

    async def complete(self, meta: Meta, generations: list[Generation]) -> dict[str, Any]:
        deltas: list[list[Delta]] = [[] for _ in generations]
        done: dict[int, Done] = {}
        async for index, item in interleave(generations):
            if isinstance(item, APIError):
                raise item
            if isinstance(item, Done):
                if item.error is not None:
                    raise server_error(f"The engine failed while generating: {item.error}")
                done[index] = item
            else:
                deltas[index].append(item)
        if len(done) < len(generations):
            raise server_error("A completion ended without its result.")
        choices = []
        for i, ds in enumerate(deltas):
            text = self._echoes[i] + "".join(d.get("content", "") for d in ds)
            prompt = [e for d in ds for e in d.get("prompt_logprobs", ())] if self._scored else None
            choices.append(self._choice(i, text, merged_logprobs(ds), done[i].finish_reason, prompt=prompt))
        usage = total_usage([done[i].usage for i in range(len(generations))], self._n)
        return meta.envelope("text_completion") | {"choices": choices, "usage": usage}

    async def stream(
        self, meta: Meta, generations: list[Generation], include_usage: bool
    ) -> AsyncIterator[str]:
        def chunk(choice: dict[str, Any]) -> str:
            return sse_event(meta.envelope("text_completion") | {"choices": [choice]})

        offsets = [len(echo) for echo in self._echoes]
        usages: list[dict[str, Any]] = [{}] * len(generations)
        # echoed prompts still waiting for their scores (sent before the choice's first text)
        held: list[list[TokenLogprob] | None] = [[] if self._scored else None for _ in generations]
        try:
            for index, echo in enumerate(self._echoes):
                if echo and not self._scored:
                    yield chunk(self._choice(index, echo, [], None))
            async for index, item in interleave(generations):
                if isinstance(item, APIError):
                    yield sse_event(item.body())
                    return
                prompt = held[index]
                if prompt is not None:
                    if not isinstance(item, Done) and "prompt_logprobs" in item:
                        prompt += item["prompt_logprobs"]
                        continue
                    held[index] = None
                    yield chunk(self._choice(index, self._echoes[index], [], None, prompt=prompt))
                if isinstance(item, Done):
                    if item.error is not None:
                        error = server_error(f"The engine failed while generating: {item.error}")
                        yield sse_event(error.body())
                        return
                    usages[index] = item.usage
                    yield chunk(self._choice(index, "", [], item.finish_reason, offset=offsets[index]))
                elif "content" in item:
                    entries = item.get("logprobs", [])
                    yield chunk(self._choice(index, item["content"], entries, None, offset=offsets[index]))
                    offsets[index] += len(item["content"])
            if include_usage:
                usage = total_usage(usages, self._n)
                yield sse_event(meta.envelope("text_completion") | {"choices": [], "usage": usage})
            yield DONE
        finally:
            for generation in generations:
                generation.cancel()
