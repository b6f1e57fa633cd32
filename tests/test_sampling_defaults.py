"""Per-model sampling defaults: GGUF keys, packaged entries, the operator's override, and the request."""

from __future__ import annotations

import pytest

from fncall.api.protocol import ChatCompletionRequest
from fncall.api.translate import sampling_params
from fncall.engine.sampling import SamplingParams
from fncall.engine.sequence import GenerationRequest, Sequence
from fncall.models import DEFAULT_MODEL, TINY_MODEL
from fncall.models.sampling import OPENAI, SamplingDefaults, parse, resolve

QWEN = DEFAULT_MODEL.sampling


def no_keys(key: str) -> str | None:
    return None


def request(**fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    )


def test_packaged_default_model_has_qwens_published_sampling() -> None:
    defaults = resolve(metadata=no_keys, packaged=QWEN, override=None)
    assert defaults.values() == {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.1}
    assert "generation config" in defaults.source
    assert TINY_MODEL.sampling == {}  # no published defaults: OpenAI's apply
    assert resolve(metadata=no_keys, packaged={}, override=None) == OPENAI


def test_gguf_keys_win_over_the_packaged_entry() -> None:
    keys = {
        "general.sampling.temp": "0.6",
        "general.sampling.top_k": "40",
        "general.sampling.penalty_last_n": "128",
    }
    defaults = resolve(metadata=keys.get, packaged=QWEN, override=None)
    assert defaults.values() == {"temperature": 0.6, "top_k": 40, "repetition_window": 128}
    assert "GGUF" in defaults.source


def test_nonsense_gguf_values_fall_back_to_openai() -> None:
    bad = {"general.sampling.temp": "7.5"}.get
    assert resolve(metadata=bad, packaged={}, override=None) == OPENAI
    unreadable = {"general.sampling.temp": "hot"}.get
    assert resolve(metadata=unreadable, packaged=QWEN, override=None).values()["temperature"] == 0.7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("temperature=0.2,top_k=10", {"temperature": 0.2, "top_k": 10}),
        ('{"top_p": 0.9, "repetition_penalty": 1.05}', {"top_p": 0.9, "repetition_penalty": 1.05}),
        (" min_p = 0.05 ", {"min_p": 0.05}),
    ],
)
def test_override_syntax(text: str, expected: dict[str, float]) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["tempature=1", "temperature=hot", "top_k=1.5", "temperature=3", '["top_p"]', "{bad json", "top_p=0"],
)
def test_bad_overrides_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text)


def test_override_merges_over_the_models_values_and_openai_switches_them_off() -> None:
    merged = resolve(metadata=no_keys, packaged=QWEN, override="temperature=0.3")
    assert merged.values() == {"temperature": 0.3, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.1}
    assert resolve(metadata=no_keys, packaged=QWEN, override="openai") == OPENAI


def test_request_values_win_and_omitted_ones_take_the_defaults() -> None:
    defaults = SamplingDefaults(temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.1)
    omitted = sampling_params(request(), 100, defaults)
    assert (omitted.temperature, omitted.top_p, omitted.top_k, omitted.repetition_penalty) == (
        0.7,
        0.8,
        20,
        1.1,
    )
    given = sampling_params(request(temperature=0, top_p=1, top_k=0, repetition_penalty=1.0), 100, defaults)
    assert (given.temperature, given.top_p, given.top_k, given.repetition_penalty) == (0.0, 1.0, 0, 1.0)
    openai = sampling_params(request(), 100)
    assert (openai.temperature, openai.top_p, openai.top_k, openai.repetition_penalty) == (1.0, 1.0, 0, 1.0)


def test_penalty_window_spans_the_prompt_tail_and_the_output() -> None:
    params = SamplingParams(repetition_penalty=1.1, repetition_window=4)
    seq = Sequence(
        request=GenerationRequest(prompt=(1, 2, 3, 4, 5), params=params),
        emit=lambda e: None,
        max_new_tokens=8,
    )
    assert seq.recent() == [2, 3, 4, 5]
    seq.output += [6, 7]
    assert seq.recent() == [4, 5, 6, 7]
    seq.output += [8, 9, 10]
    assert seq.recent() == [7, 8, 9, 10]
    off = Sequence(
        request=GenerationRequest(prompt=(1, 2), params=SamplingParams()),
        emit=lambda e: None,
        max_new_tokens=8,
    )
    assert off.recent() == []
