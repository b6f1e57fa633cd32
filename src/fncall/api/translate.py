"""A validated request → what the engine runs (prompt tokens and sampling parameters).

Parameter values we cannot honour are refused here with a 400 naming the parameter, never ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fncall.api import legacy_functions
from fncall.api.choices import canonical_json
from fncall.api.errors import APIError, unsupported
from fncall.api.protocol import ChatCompletionRequest, SamplingFields
from fncall.api.response_format import output_schema
from fncall.chat.messages import to_template_messages
from fncall.chat.template import TemplateRenderError
from fncall.engine.sampling import SamplingParams
from fncall.engine.sequence import Constraint, GenerationRequest
from fncall.errors import InvalidParam
from fncall.models.sampling import OPENAI, SamplingDefaults
from fncall.runtime import Runtime
from fncall.tools import grounding
from fncall.tools.constraint import GrammarError
from fncall.tools.grammar import OutputSchema
from fncall.tools.grounding import Conversation
from fncall.tools.render import prompt_inputs
from fncall.tools.spec import ToolRequest, parse_tool_request

MIN_TEMPERATURE = 1e-4


@dataclass(slots=True, frozen=True)
class Plan:
    """What the engine runs, plus the tool request the response must parse calls against."""

    generation: GenerationRequest
    tools: ToolRequest | None
    # Calls (name, canonical arguments) the conversation already made and got results for.
    answered: frozenset[tuple[str, str]] = frozenset()
    # What to run instead if the model only repeats an answered call: the conversation without the
    # tool definitions, where small models answer from the results they were given.
    retry: Plan | None = None
    # After tool results with the call/text decision on (tools/decision.py): the decision is made on the
    # conversation as it is and a text choice ends that attempt at once, unseen; this plan then writes
    # the answer, with the closing sentence that keeps answers to the results (tools/render.py).
    answer: Plan | None = None
    # auto mode (Runtime.ground_calls): the conversation's words and numbers, against which a call whose
    # values are all made up is recognised (tools/grounding.py, api/choices.py) ...
    grounds: Conversation | None = None
    # ... and what runs when the answer's first call is such a call: the conversation without the tools
    # (after tool results, the answer's plan, whose own `text` is `retry`).
    text: Plan | None = None


def check_supported(req: ChatCompletionRequest) -> None:
    if req.modalities and set(req.modalities) != {"text"}:
        raise unsupported("modalities", "only text output is supported.")


def choice_seed(seed: int, index: int) -> int:
    """The seed of choice `index` of a request seeded with `seed`: choice 0 keeps it (so n=1 and the first
    of n choices agree), the others get independent streams derived from (seed, index)."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0])


def for_choice(plan: Plan, index: int) -> Plan:
    """The plan of choice `index` of several (`n`): the same, but for its own seed stream (unseeded
    requests draw fresh entropy per sequence anyway)."""
    seed = plan.generation.params.seed
    if index == 0 or seed is None:
        return plan
    params = replace(plan.generation.params, seed=choice_seed(seed, index))
    return replace(
        plan,
        generation=replace(plan.generation, params=params),
        retry=None if plan.retry is None else for_choice(plan.retry, index),
        answer=None if plan.answer is None else for_choice(plan.answer, index),
        text=None if plan.text is None else for_choice(plan.text, index),
    )


def chat_sampling(
    req: ChatCompletionRequest, n_vocab: int, defaults: SamplingDefaults = OPENAI
) -> SamplingParams:
    """A chat request's sampling; a parameter it omits takes the model's default (models/sampling.py)."""
    if req.top_logprobs and not req.logprobs:
        raise APIError(
            "'top_logprobs' needs 'logprobs' set to true.", param="top_logprobs", code="invalid_value"
        )
    return sampling_params(
        req,
        n_vocab,
        defaults,
        max_tokens=req.max_completion_tokens or req.max_tokens,
        logprobs=(req.top_logprobs or 0) if req.logprobs else None,
    )


def sampling_params(
    req: SamplingFields,
    n_vocab: int,
    defaults: SamplingDefaults = OPENAI,
    *,
    max_tokens: int | None = None,
    logprobs: int | None = None,
) -> SamplingParams:
    """The request's sampling; a parameter it omits takes the model's default (models/sampling.py)."""
    stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
    if len(stop) > 4 or not all(stop):
        raise APIError("'stop' takes at most 4 non-empty strings.", param="stop", code="invalid_value")
    top_p = _given(req.top_p, defaults.top_p, 1.0)
    try:
        return SamplingParams(
            temperature=_temperature(_given(req.temperature, defaults.temperature, 1.0)),
            top_p=1.0 if top_p == 0 else top_p,
            top_k=int(_given(req.top_k, defaults.top_k, 0)),
            min_p=_given(req.min_p, defaults.min_p, 0.0),
            seed=None if req.seed is None else req.seed % 2**64,  # numpy seeds are unsigned
            max_tokens=max_tokens,
            stop=stop,
            presence_penalty=req.presence_penalty or 0.0,
            frequency_penalty=req.frequency_penalty or 0.0,
            repetition_penalty=_given(req.repetition_penalty, defaults.repetition_penalty, 1.0),
            repetition_window=int(_given(None, defaults.repetition_window, 64)),
            logit_bias=_logit_bias(req, n_vocab),
            logprobs=logprobs,
        )
    except ValueError as exc:
        raise APIError(str(exc), code="invalid_value") from exc


def _given(value: float | None, default: float | None, openai: float) -> float:
    return value if value is not None else default if default is not None else openai


def _temperature(value: float) -> float:
    # Below this, sampling is greedy in all but name, and dividing logits by it overflows to NaN.
    return 0.0 if value < MIN_TEMPERATURE else value


def _logit_bias(req: SamplingFields, n_vocab: int) -> dict[int, float]:
    bias: dict[int, float] = {}
    for key, value in (req.logit_bias or {}).items():
        if not key.isdigit() or int(key) >= n_vocab:
            raise APIError(
                f"Invalid token id '{key}' in 'logit_bias'.", param="logit_bias", code="invalid_value"
            )
        if not -100 <= value <= 100:
            raise APIError("'logit_bias' values must be between -100 and 100.", param="logit_bias")
        bias[int(key)] = value
    return bias


def generation_plan(rt: Runtime, req: ChatCompletionRequest) -> Plan:
    """Validates and renders a request; blocking (tokenization, grammar compile): run off the event loop."""
    check_supported(req)
    original, req = req, legacy_functions.as_tools(req)
    params = chat_sampling(req, rt.model.n_vocab, rt.sampling)
    try:
        tools = parse_tool_request(req.tools, req.tool_choice, req.parallel_tool_calls)
        output = output_schema(req, tools)
        messages = to_template_messages([m.model_dump(exclude_none=True) for m in req.messages])
        after_results = bool(tools and tools.mode == "auto" and messages[-1]["role"] == "tool")
        decides = after_results and tools is not None and rt.decides(tools)
        generation = _generation(rt, messages, tools, params, hint=after_results and not decides)
        if output is not None and (tools is None or tools.mode in ("auto", "none")):
            generation = replace(generation, constraint_factory=_output_constraint(rt, output, tools))
        retry = answer = text = grounds = None
        if after_results and tools is not None and output is None:
            retry = _text_plan(rt, messages, tools, params)
            if decides:
                answer = _answer_plan(rt, messages, tools, params, retry)
        if tools is not None and output is None and rt.grounds_calls(tools):
            grounds = grounding.from_messages(messages, [t.as_template_tool() for t in tools.tools])
            if answer is not None:
                answer = replace(answer, grounds=grounds, text=retry)
            text = answer or retry or _text_plan(rt, messages, tools, params)
    except InvalidParam as exc:
        param = legacy_functions.param(exc.param) if legacy_functions.is_legacy(original) else exc.param
        raise APIError(exc.message, param=param, code="invalid_value") from exc
    except TemplateRenderError as exc:
        raise APIError(str(exc), param="messages", code="invalid_value") from exc
    except GrammarError as exc:
        raise APIError(
            f"The tools' parameter schemas could not be compiled into a grammar: {exc}", param="tools"
        ) from exc
    return Plan(generation, tools, answered_calls(messages), retry, answer, grounds, text)


def _text_plan(
    rt: Runtime, messages: list[dict[str, Any]], tools: ToolRequest, params: SamplingParams
) -> Plan:
    """The conversation without the tool definitions (calls barred): `retry` after results, and the
    text answer for a made-up first call. With the tools in the prompt and calls barred, the model
    writes the call it wanted as a JSON block in its text instead."""
    return Plan(_generation(rt, messages, None, params, ban=replace(tools, mode="none")), None)


def _output_constraint(
    rt: Runtime, output: OutputSchema, tools: ToolRequest | None
) -> Callable[[], Constraint]:
    """The JSON answer's constraint; with tools in `auto`, calls or the JSON answer from the first token."""
    try:
        if tools is not None and tools.mode == "auto":
            return rt.tool_constraint(tools, output=output)
        return rt.output_constraint(output)
    except GrammarError as exc:
        raise APIError(
            f"The response_format schema could not be compiled into a grammar: {exc}",
            param="response_format",
            code="invalid_value",
        ) from exc


def _answer_plan(
    rt: Runtime, messages: list[dict[str, Any]], tools: ToolRequest, params: SamplingParams, retry: Plan
) -> Plan | None:
    try:
        generation = _generation(rt, messages, tools, params, hint=True, decide=False)
    except TemplateRenderError:  # a template that allows a system message only first: no closing hint
        generation = _generation(rt, messages, tools, params, decide=False)
    return Plan(generation, tools, answered_calls(messages), retry)


def _generation(
    rt: Runtime,
    messages: list[dict[str, Any]],
    tools: ToolRequest | None,
    params: SamplingParams,
    *,
    ban: ToolRequest | None = None,
    hint: bool = False,
    decide: bool = True,
) -> GenerationRequest:
    try:
        rendered, template_tools = prompt_inputs(
            messages, tools, rt.tool_format, rt.native_tools, result_hint=hint
        )
        prompt = rt.prompt_tokens(rendered, template_tools)
    except TemplateRenderError:
        if not hint:
            raise
        # a template that allows a system message only first: the conversation without the hint
        rendered, template_tools = prompt_inputs(messages, tools, rt.tool_format, rt.native_tools)
        prompt = rt.prompt_tokens(rendered, template_tools)
    constrained = tools or ban
    after_results = messages[-1]["role"] == "tool"
    constraint = None
    if constrained:
        constraint = rt.tool_constraint(constrained, after_results=after_results, decide=decide)
    return GenerationRequest(prompt=tuple(prompt), params=params, constraint_factory=constraint)


def answered_calls(messages: list[dict[str, Any]]) -> frozenset[tuple[str, str]]:
    # Legacy `function` results become `tool` messages without an id; they answer no call.
    results = {m["tool_call_id"] for m in messages if m["role"] == "tool" and "tool_call_id" in m}
    return frozenset(
        (call["function"]["name"], canonical_json(call["function"]["arguments"]))  # arguments parsed already
        for m in messages
        for call in m.get("tool_calls") or ()
        if call["id"] in results
    )
