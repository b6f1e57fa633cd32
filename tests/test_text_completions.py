"""`POST /v1/completions` (legacy text completions) through the official SDK against the real server.

Every body and chunk is checked against OpenAI's `CreateCompletionResponse`; streamed choices (chunks
assembled per `index`) equal the non-streamed ones.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types import Completion

from fncall.engine.llama import LlamaModel
from tests.conftest import Server
from tests.openapi_contract import validate

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def client(tiny_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=tiny_server.base_url, api_key="unused", max_retries=0)


def create(client: openai.OpenAI, **kwargs: Any) -> Completion:
    reply = client.completions.create(model="tiny", **kwargs)
    assert isinstance(reply, Completion)
    validate("CreateCompletionResponse", as_in_the_schema(reply.model_dump(mode="json", exclude_unset=True)))
    return reply


def stream(client: openai.OpenAI, **kwargs: Any) -> list[Completion]:
    chunks = list(client.completions.create(model="tiny", stream=True, **kwargs))
    for chunk in chunks:
        body = chunk.model_dump(mode="json", exclude_unset=True)
        # OpenAI streams `finish_reason: null` until a choice's last chunk, as we do; its schema (one shape
        # for both) does not say so, so the null is checked here and the rest against the schema.
        validate("CreateCompletionResponse", as_in_the_schema(body))
    return chunks


def as_in_the_schema(body: dict[str, Any]) -> dict[str, Any]:
    """What OpenAI sends but its schema (one shape for streamed and not) does not say: `finish_reason`
    null until a choice's last chunk, and with `echo` and `logprobs` a null log probability (and null
    alternatives) for the prompt's first token. Those nulls are checked by the tests; the rest here."""
    for choice in body["choices"]:
        choice["finish_reason"] = choice["finish_reason"] or "stop"
        logprobs = choice.get("logprobs") or {}
        if logprobs.get("token_logprobs") and logprobs["token_logprobs"][0] is None:
            logprobs["token_logprobs"][0], logprobs["top_logprobs"][0] = 0.0, {}
    return body


def assembled(chunks: list[Completion]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            item = out.setdefault(choice.index, {"text": "", "tokens": [], "finish": None})
            item["text"] += choice.text
            if choice.logprobs is not None:
                item["tokens"] += choice.logprobs.tokens or []
            item["finish"] = choice.finish_reason or item["finish"]
    return out


def whole(reply: Completion) -> dict[int, dict[str, Any]]:
    return {
        c.index: {
            "text": c.text,
            "tokens": (c.logprobs.tokens or []) if c.logprobs else [],
            "finish": c.finish_reason,
        }
        for c in reply.choices
    }


def test_a_prompt_is_continued_without_the_chat_template(
    client: openai.OpenAI, tiny_model: LlamaModel
) -> None:
    reply = create(client, prompt=PROMPT, max_tokens=5, temperature=0)
    assert reply.object == "text_completion" and reply.id.startswith("cmpl-")
    choice = reply.choices[0]
    assert choice.text and choice.index == 0 and choice.finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == len(tiny_model.tokenize(PROMPT, add_special=tiny_model.add_bos))
    assert reply.usage.completion_tokens == 5


def test_max_tokens_defaults_to_16(client: openai.OpenAI) -> None:
    reply = create(client, prompt="Once upon a time", temperature=0, logit_bias={"0": -100, "2": -100})
    assert reply.usage is not None and reply.usage.completion_tokens <= 16
    assert reply.choices[0].finish_reason == "length" or reply.usage.completion_tokens < 16


def test_token_ids_are_a_prompt_too(client: openai.OpenAI, tiny_model: LlamaModel) -> None:
    ids = tiny_model.tokenize(PROMPT, add_special=tiny_model.add_bos)
    by_text = create(client, prompt=PROMPT, max_tokens=6, temperature=0)
    by_ids = create(client, prompt=ids, max_tokens=6, temperature=0)
    assert by_ids.choices[0].text == by_text.choices[0].text
    both = create(client, prompt=[ids, ids[:-1]], max_tokens=2, temperature=0)
    assert [c.index for c in both.choices] == [0, 1]


def test_prompts_times_n_choices_are_numbered_and_counted(client: openai.OpenAI) -> None:
    reply = create(client, prompt=[PROMPT, "One, two, three,"], n=2, max_tokens=3, temperature=0, logprobs=0)
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    assert reply.choices[0].text == reply.choices[1].text  # greedy: the two choices of one prompt agree
    singles = [create(client, prompt=p, max_tokens=1).usage for p in (PROMPT, "One, two, three,")]
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == sum(u.prompt_tokens for u in singles if u)  # each prompt once
    assert reply.usage.completion_tokens == sum(
        len(c.logprobs.tokens or []) for c in reply.choices if c.logprobs
    )


def test_legacy_logprobs_shape(client: openai.OpenAI) -> None:
    reply = create(client, prompt=PROMPT, max_tokens=6, temperature=0, logprobs=3)
    choice = reply.choices[0]
    lp = choice.logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs and lp.text_offset
    assert "".join(lp.tokens) == choice.text
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 6
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert 1 <= len(top) <= 3 and top[token] == pytest.approx(logprob)  # greedy: the best is taken
        assert logprob == pytest.approx(max(top.values()))


def test_echo_puts_the_prompt_first(client: openai.OpenAI) -> None:
    reply = create(client, prompt=PROMPT, max_tokens=3, temperature=0, echo=True)
    plain = create(client, prompt=PROMPT, max_tokens=3, temperature=0)
    assert reply.choices[0].text == PROMPT + plain.choices[0].text
    assert assembled(stream(client, prompt=PROMPT, max_tokens=3, temperature=0, echo=True)) == whole(reply)


def test_stop_ends_the_text_without_it(client: openai.OpenAI) -> None:
    reply = create(client, prompt="1, 2, 3, 4,", max_tokens=30, temperature=0, stop=[" 7"])
    choice = reply.choices[0]
    assert " 7" not in choice.text and choice.finish_reason == "stop"


def test_streamed_equals_non_streamed(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {"prompt": [PROMPT, "Water is"], "n": 2, "max_tokens": 8, "temperature": 0}
    kwargs |= {"logprobs": 2, "stop": ["."]}
    chunks = stream(client, **kwargs, stream_options={"include_usage": True})
    reply = create(client, **kwargs)
    assert assembled(chunks) == whole(reply)
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None and reply.usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        reply.usage.prompt_tokens,
        reply.usage.completion_tokens,
    )


def test_also_under_v1_openai(tiny_server: Server) -> None:
    client = openai.OpenAI(base_url=tiny_server.root + "/v1/openai", api_key="unused", max_retries=0)
    assert create(client, prompt=PROMPT, max_tokens=1).choices[0].finish_reason in ("length", "stop")


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"prompt": PROMPT, "suffix": "!"}, "suffix"),
        ({"prompt": PROMPT, "best_of": 3}, "best_of"),
        ({"prompt": PROMPT, "logprobs": 6}, "logprobs"),
    ],
)
def test_unsupported_parameters_are_typed_errors(
    client: openai.OpenAI, kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.completions.create(model="tiny", **kwargs)
    assert refused.value.param == param


def test_echo_with_logprobs_scores_the_prompt_as_eval_harnesses_ask(
    client: openai.OpenAI, tiny_model: LlamaModel
) -> None:
    """lm-eval's loglikelihood request: the prompt's tokens with their log probabilities (the first
    null), then the completion's; the prompt is recomputed, so its scores do not depend on the cache."""
    context, continuation = "The capital of France is", " Paris"
    reply = create(client, prompt=context + continuation, max_tokens=1, temperature=0, logprobs=1, echo=True)
    lp = reply.choices[0].logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs and lp.text_offset
    n_prompt = len(tiny_model.tokenize(context + continuation, add_special=tiny_model.add_bos))
    assert len(lp.tokens) == n_prompt + 1 and lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert "".join(lp.tokens) == reply.choices[0].text
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
    # the continuation's score equals the logprob of generating it after the context (batching aside)
    generated = create(client, prompt=context, max_tokens=1, temperature=0, logprobs=1)
    glp = generated.choices[0].logprobs
    assert glp is not None and glp.tokens == [continuation] and glp.token_logprobs
    assert lp.tokens[n_prompt - 1] == continuation
    assert lp.token_logprobs[n_prompt - 1] == pytest.approx(glp.token_logprobs[0], abs=0.1)
    again = create(client, prompt=context + continuation, max_tokens=1, temperature=0, logprobs=1, echo=True)
    assert again.choices[0].logprobs is not None
    assert again.choices[0].logprobs.token_logprobs == pytest.approx(lp.token_logprobs, abs=0.1)


def test_echo_with_logprobs_streamed_equals_non_streamed(client: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {"prompt": [PROMPT, "Hi"], "max_tokens": 3, "temperature": 0, "logprobs": 2}
    kwargs |= {"echo": True}
    chunks = stream(client, **kwargs)
    reply = create(client, **kwargs)
    assert assembled(chunks) == whole(reply)
    first = [c for c in chunks if c.choices and c.choices[0].index == 0][0].choices[0]
    assert first.text == PROMPT and first.logprobs is not None and first.logprobs.token_logprobs
    assert first.logprobs.token_logprobs[0] is None  # the echoed prompt comes first, scored
