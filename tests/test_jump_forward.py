"""Jump-forward: tokens a grammar forces are appended without sampling, and greedy output stays the same
token for token, for every tool format on the tiny model and for the seed's weather call on the default
model (every format in process, and the seed's call through the SDK, streamed and not); a forced run never
passes max_tokens or a stop string."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import openai
import pytest

from fncall.api.choices import ChoiceBuilder, merge
from fncall.api.protocol import ChatCompletionRequest
from fncall.api.translate import generation_plan
from fncall.chat.template import ChatTemplate
from fncall.engine.engine import Engine, EngineConfig
from fncall.engine.llama import LlamaModel
from fncall.engine.sampling import SamplingParams
from fncall.engine.sequence import Event, Finished, GenerationRequest, TextDelta
from fncall.models import resolve_model
from fncall.runtime import Runtime
from fncall.tools.constraint import GrammarCompiler
from fncall.tools.formats import FORMATS, choose
from tests.conftest import Server, start_server, stop_server
from tests.test_engine import PROMPT, ForceTokens, assert_kv_matches_books
from tests.test_tool_grammars import ASK, TOOLS
from tests.test_tool_grammars import runtime as runtime  # noqa: F401  (the fixture, on tiny_engine)

pytestmark = pytest.mark.filterwarnings("ignore:llama_token_get_attr is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def engines(tiny_model: LlamaModel) -> Iterator[dict[bool, Engine]]:
    """An engine with jump-forward and one without, each seeing the same requests in the same order."""
    made = {
        jf: Engine(tiny_model, EngineConfig(n_ctx=1024, n_slots=1, n_threads=1, n_batch=256, jump_forward=jf))
        for jf in (False, True)
    }
    for engine in made.values():
        engine.start()
    yield made
    for engine in made.values():
        engine.stop()


@dataclass
class Outcome:
    tokens: list[int]
    text: str
    message: dict[str, Any]  # from the deltas as they came (streamed)
    whole: dict[str, Any]  # from the whole text at once (non-streamed)
    done: Finished


def complete(rt: Runtime, engine: Engine, **body: Any) -> Outcome:
    body = {"model": "tiny", "messages": ASK, "tools": TOOLS, "temperature": 0, "max_tokens": 120} | body
    plan = generation_plan(rt, ChatCompletionRequest.model_validate(body))
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    seq = engine.submit(plan.generation, events.put)
    syntax, new_id = rt.tool_format.syntax, rt.tool_format.new_call_id
    builder = ChoiceBuilder(plan.tools, syntax, plan.answered, new_id=new_id)
    deltas, text = [], ""
    while isinstance(event := events.get(timeout=300), TextDelta):
        if event.restart:
            builder, deltas, text = ChoiceBuilder(plan.tools, syntax, plan.answered, new_id=new_id), [], ""
        text += event.text
        deltas += builder.feed(event.text)
    deltas += builder.finish()
    once = ChoiceBuilder(plan.tools, syntax, plan.answered, new_id=new_id)
    whole = merge([*once.feed(text), *once.finish()])
    return Outcome(list(seq.output), text, merge(deltas), whole, event)


def without_ids(message: dict[str, Any]) -> dict[str, Any]:
    calls = [{k: v for k, v in c.items() if k != "id"} for c in message.get("tool_calls") or []]
    return message | {"tool_calls": calls}


CHOICES = [
    pytest.param({"tool_choice": "required"}, id="required"),
    pytest.param({"tool_choice": {"type": "function", "function": {"name": "get_time"}}}, id="named"),
    pytest.param({"tool_choice": "required", "parallel_tool_calls": False}, id="one-call"),
]


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("body", CHOICES)
def test_greedy_output_is_the_same_with_jump_forward(
    runtime: Runtime,  # noqa: F811
    engines: dict[bool, Engine],
    name: str,
    body: dict[str, Any],
) -> None:
    rt = replace(runtime, tool_format=choose(runtime.template.source, name)[0])
    off, on = (complete(rt, engines[jf], **body) for jf in (False, True))
    assert on.tokens == off.tokens, (off.text, on.text)
    assert on.text == off.text
    assert (on.done.reason, on.done.completion_tokens) == (off.done.reason, off.done.completion_tokens)
    assert without_ids(on.message) == without_ids(off.message) == without_ids(on.whole)
    assert off.done.forced_tokens == 0
    assert on.done.forced_tokens > 0 or name == "llama3-pythonic", on.text  # its call opens with a sample
    assert on.message.get("tool_calls"), on.text


class ForceAll(ForceTokens):
    """ForceTokens that also reports the rest as forced: each token is the only one allowed, all forced."""

    def allowed(self) -> np.ndarray:
        mask = np.zeros(self.n_vocab, dtype=bool)
        mask[self.tokens[min(self.pos, len(self.tokens) - 1)]] = True
        return mask

    def forced(self) -> list[int]:
        return self.tokens[self.pos :]


def run_forced(engine: Engine, model: LlamaModel, text: str, params: SamplingParams) -> tuple[str, Finished]:
    tokens = model.tokenize(text, add_special=False)
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    prompt = tuple(model.tokenize(PROMPT, add_special=False))
    engine.submit(GenerationRequest(prompt, params, lambda: ForceAll(tokens, model.n_vocab)), events.put)
    out = ""
    while isinstance(event := events.get(timeout=120), TextDelta):
        out += event.text
    return out, event


TEXT = "one two three four five six seven eight nine ten"


def test_a_forced_run_stops_at_max_tokens(engines: dict[bool, Engine], tiny_model: LlamaModel) -> None:
    text, done = run_forced(engines[True], tiny_model, TEXT, SamplingParams(temperature=0, max_tokens=4))
    assert (done.reason, done.completion_tokens, done.forced_tokens) == ("length", 4, 3)
    assert text == "".join(
        p.decode() for p in map(tiny_model.piece, tiny_model.tokenize(TEXT, add_special=False)[:4])
    )
    assert_kv_matches_books(engines[True])


def test_a_forced_run_stops_at_a_stop_string(engines: dict[bool, Engine], tiny_model: LlamaModel) -> None:
    params = SamplingParams(temperature=0, max_tokens=50, stop=("four",))
    text, done = run_forced(engines[True], tiny_model, TEXT, params)
    assert (text, done.reason, done.stop_sequence) == ("one two three ", "stop", "four")
    assert (
        done.completion_tokens == done.forced_tokens + 1 < len(tiny_model.tokenize(TEXT, add_special=False))
    )
    assert_kv_matches_books(engines[True])


def test_the_whole_forced_run_is_decoded_and_counted(
    engines: dict[bool, Engine], tiny_model: LlamaModel
) -> None:
    n = len(tiny_model.tokenize(TEXT, add_special=False))
    text, done = run_forced(engines[True], tiny_model, TEXT, SamplingParams(temperature=0, max_tokens=50))
    assert (text, done.reason, done.completion_tokens, done.forced_tokens) == (TEXT, "stop", n, n - 1)
    assert_kv_matches_books(engines[True])


def test_logprobs_turn_jump_forward_off(engines: dict[bool, Engine], tiny_model: LlamaModel) -> None:
    n = len(tiny_model.tokenize(TEXT, add_special=False))
    params = SamplingParams(temperature=0, max_tokens=50, logprobs=0)
    text, done = run_forced(engines[True], tiny_model, TEXT, params)
    assert (text, done.completion_tokens, done.forced_tokens) == (TEXT, n, 0)


@dataclass
class RewriteThenForce(ForceAll):
    """After the first token, the output is rewritten to the first two tokens (as a fenced call's head
    is); everything after them is forced."""

    rewritten: bool = False

    def rewrite(self) -> list[int] | None:
        if self.rewritten:
            return None
        self.rewritten, self.pos = True, 2
        return self.tokens[:2]


def test_a_rewritten_output_is_jumped_forward_too(
    engines: dict[bool, Engine], tiny_model: LlamaModel
) -> None:
    tokens = tiny_model.tokenize(TEXT, add_special=False)
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    prompt = tuple(tiny_model.tokenize(PROMPT, add_special=False))
    params = SamplingParams(temperature=0, max_tokens=50)
    factory = lambda: RewriteThenForce(tokens, tiny_model.n_vocab)  # noqa: E731
    seq = engines[True].submit(GenerationRequest(prompt, params, factory), events.put)
    deltas = []
    while isinstance(event := events.get(timeout=120), TextDelta):
        deltas.append(event)
    assert deltas[-1].restart and deltas[-1].text == TEXT
    assert seq.output == tokens
    assert (event.reason, event.completion_tokens, event.forced_tokens) == (
        "stop",
        len(tokens),
        len(tokens) - 2,
    )
    assert_kv_matches_books(engines[True])


# -- the default model, through the server and the SDK ---------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}


@pytest.fixture(scope="module")
def default_servers() -> Iterator[dict[bool, Server]]:
    flags = ("--model", "default", "--ctx", "2048", "--parallel", "1", "--threads", "1")
    servers = {
        jf: start_server(*flags, "--jump-forward" if jf else "--no-jump-forward") for jf in (False, True)
    }
    yield servers
    for server in servers.values():
        stop_server(server)


def weather_call(server: Server, *, stream: bool) -> tuple[list[tuple[str, str]], str | None, int]:
    """(calls, finish reason, completion tokens) of the seed's question, greedy."""
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=600)
    kwargs: dict[str, Any] = {
        "model": "default",
        "messages": [{"role": "user", "content": "What is the weather in San Francisco?"}],
        "tools": [WEATHER],
        "temperature": 0,
    }
    if not stream:
        reply = client.chat.completions.create(**kwargs)
        message, usage = reply.choices[0].message, reply.usage
        calls = [(c.function.name, c.function.arguments) for c in message.tool_calls or []]  # type: ignore[union-attr]
        return calls, reply.choices[0].finish_reason, usage.completion_tokens if usage else 0
    parts: dict[int, list[str]] = {}
    finish, tokens = None, 0
    for chunk in client.chat.completions.create(
        **kwargs, stream=True, stream_options={"include_usage": True}
    ):
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                entry = parts.setdefault(call.index, ["", ""])
                entry[0] += (call.function and call.function.name) or ""
                entry[1] += (call.function and call.function.arguments) or ""
    return [(name, args) for name, args in parts.values()], finish, tokens


@pytest.mark.default_model
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_seed_weather_call_is_the_same_on_the_default_model(
    default_servers: dict[bool, Server], stream: bool
) -> None:
    off, on = (weather_call(default_servers[jf], stream=stream) for jf in (False, True))
    assert on == off
    assert off[0] and off[0][0][0] == "get_current_weather" and off[1] == "tool_calls", off


@pytest.fixture(scope="module")
def default_rig() -> Iterator[tuple[Runtime, dict[bool, Engine]]]:
    """The default model in process: a runtime for planning, and an engine each way."""
    model = LlamaModel(resolve_model("default", progress=False).path)
    template = ChatTemplate(
        model.chat_template or "",
        bos_token=model.token_text(model.bos_id) if model.bos_id >= 0 else "",
        eos_token=model.token_text(model.eos_id),
    )
    made = {
        jf: Engine(model, EngineConfig(n_ctx=2048, n_slots=1, n_threads=1, n_batch=512, jump_forward=jf))
        for jf in (False, True)
    }
    for engine in made.values():
        engine.start()
    fmt, native = choose(template.source, None)
    rt = Runtime(
        model=model,
        template=template,
        engine=made[False],
        model_id="default",
        names=frozenset({"default"}),
        fingerprint="fp_test",
        created=0,
        tool_format=fmt,
        native_tools=native,
        grammars=GrammarCompiler(model),
    )
    yield rt, made
    for engine in made.values():
        engine.stop()
    model.close()


@pytest.mark.default_model
@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("body", CHOICES[1:])
def test_greedy_output_is_the_same_with_jump_forward_on_the_default_model(
    default_rig: tuple[Runtime, dict[bool, Engine]], name: str, body: dict[str, Any]
) -> None:
    runtime, engines = default_rig
    fmt, native = choose(runtime.template.source, name)
    rt = replace(runtime, tool_format=fmt, native_tools=native)
    off, on = (complete(rt, engines[jf], **body, model="default") for jf in (False, True))
    assert on.tokens == off.tokens, (off.text, on.text)
    assert without_ids(on.message) == without_ids(off.message) == without_ids(on.whole)
    assert on.done.completion_tokens == off.done.completion_tokens
    assert on.done.forced_tokens > 0 or name == "llama3-pythonic", on.text
