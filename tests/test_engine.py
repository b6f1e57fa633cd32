"""The engine on the real tiny model: determinism, limits, stops, UTF-8, batching and cancellation."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from fncall.engine.engine import Engine, EngineConfig, PromptTooLong
from fncall.engine.llama import BatchEntry, LlamaContext, LlamaError, LlamaModel
from fncall.engine.sampling import SamplingParams
from fncall.engine.sequence import Event, Finished, GenerationRequest, Sequence, TextDelta

PROMPT = (
    "<|im_start|>user\nWrite a short story about a robot who learns to paint.<|im_end|>\n"
    "<|im_start|>assistant\n"
)


@dataclass
class Result:
    deltas: list[str]
    done: Finished
    seq: Sequence

    @property
    def text(self) -> str:
        return "".join(self.deltas)


def submit(
    engine: Engine, prompt: list[int], params: SamplingParams, **kw: object
) -> tuple[Sequence, queue.SimpleQueue[Event]]:
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    seq = engine.submit(GenerationRequest(tuple(prompt), params, **kw), events.put)  # type: ignore[arg-type]
    return seq, events


def collect(seq: Sequence, events: queue.SimpleQueue[Event]) -> Result:
    deltas = []
    while True:
        event = events.get(timeout=120)
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            return Result(deltas, event, seq)


def generate(engine: Engine, prompt: list[int], params: SamplingParams, **kw: object) -> Result:
    return collect(*submit(engine, prompt, params, **kw))


@pytest.fixture(scope="module")
def prompt(tiny_model: LlamaModel) -> list[int]:
    return tiny_model.tokenize(PROMPT, add_special=False)


def test_greedy_is_deterministic(tiny_engine: Engine, prompt: list[int]) -> None:
    params = SamplingParams(temperature=0, max_tokens=24)
    first, second = generate(tiny_engine, prompt, params), generate(tiny_engine, prompt, params)
    assert first.text and first.text == second.text
    assert first.done.reason == "length" and first.done.completion_tokens == 24
    assert first.done.prompt_tokens == len(prompt)


def test_seed_reproduces_sampling(tiny_engine: Engine, prompt: list[int]) -> None:
    runs = [
        generate(tiny_engine, prompt, SamplingParams(temperature=1.0, seed=s, max_tokens=20))
        for s in (5, 5, 6)
    ]
    assert runs[0].seq.output == runs[1].seq.output
    assert runs[0].seq.output != runs[2].seq.output


def test_max_tokens_gives_length(tiny_engine: Engine, prompt: list[int]) -> None:
    result = generate(tiny_engine, prompt, SamplingParams(temperature=0, max_tokens=3))
    assert (result.done.reason, result.done.completion_tokens, len(result.seq.output)) == ("length", 3, 3)


def test_stop_string_ends_generation_and_is_not_leaked(tiny_engine: Engine, prompt: list[int]) -> None:
    full = generate(tiny_engine, prompt, SamplingParams(temperature=0, max_tokens=40)).text
    words = full.split()
    assert len(words) > 4
    stop = words[3]
    cut = generate(tiny_engine, prompt, SamplingParams(temperature=0, max_tokens=40, stop=(stop,)))
    assert cut.done.reason == "stop"
    assert cut.text == full[: full.index(stop)]
    assert stop not in cut.text


def test_natural_end_of_generation_is_stop(tiny_engine: Engine, tiny_model: LlamaModel) -> None:
    short = tiny_model.tokenize(
        "<|im_start|>user\nSay yes.<|im_end|>\n<|im_start|>assistant\n", add_special=False
    )
    result = generate(tiny_engine, short, SamplingParams(temperature=0, max_tokens=200))
    assert result.done.reason == "stop"
    assert result.done.completion_tokens < 200


@dataclass
class ForceTokens:
    """A constraint that allows exactly one token at each step (a stand-in for a grammar)."""

    tokens: list[int]
    n_vocab: int
    pos: int = 0

    def allowed(self) -> np.ndarray:
        mask = np.zeros(self.n_vocab, dtype=bool)
        mask[self.tokens[self.pos]] = True
        return mask

    def accept(self, token: int) -> None:
        assert token == self.tokens[self.pos]
        self.pos += 1

    def done(self) -> bool:
        return self.pos == len(self.tokens)

    def steer(self, logits: object, allowed: object) -> None:
        return None

    def rewrite(self) -> list[int] | None:
        return None


def test_utf8_split_across_tokens_is_never_emitted_broken(
    tiny_engine: Engine, tiny_model: LlamaModel, prompt: list[int]
) -> None:
    text = "日本語の猫 🐱 café"
    tokens = tiny_model.tokenize(text, add_special=False)
    pieces = [tiny_model.piece(t) for t in tokens]
    assert any(_broken(p) for p in pieces), "expected some token to hold a partial UTF-8 character"
    result = generate(
        tiny_engine,
        prompt,
        SamplingParams(temperature=0, max_tokens=100),
        constraint_factory=lambda: ForceTokens(tokens, tiny_model.n_vocab),
    )
    assert result.seq.output == tokens
    assert result.text == text
    assert all("\ufffd" not in d for d in result.deltas)


def _broken(piece: bytes) -> bool:
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_concurrent_sequences_match_solo_runs(tiny_engine: Engine, tiny_model: LlamaModel) -> None:
    prompts = [
        tiny_model.tokenize(f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n", add_special=False)
        for q in ("Name three colors.", "What is the capital of France?", "Count from one to five.")
    ]
    params = SamplingParams(temperature=0, max_tokens=16)
    solo = [generate(tiny_engine, p, params).seq.output for p in prompts]
    pending = [submit(tiny_engine, p, params) for p in prompts]
    together = [collect(*item).seq.output for item in pending]
    assert together == solo


def test_cancel_frees_the_slot_and_its_cache(tiny_engine: Engine, prompt: list[int]) -> None:
    seq, events = submit(tiny_engine, prompt, SamplingParams(temperature=0, max_tokens=500))
    first = events.get(timeout=120)
    assert isinstance(first, TextDelta)
    seq.cancel()
    result = collect(seq, events)
    assert result.done.reason == "cancelled"
    assert result.done.completion_tokens < 500
    assert tiny_engine.n_running == 0 and tiny_engine.n_waiting == 0
    assert_kv_matches_books(
        tiny_engine
    )  # what the cancelled sequence decoded stays only as a reusable prefix
    again = generate(tiny_engine, prompt, SamplingParams(temperature=0, max_tokens=4))
    assert again.done.reason == "length"
    assert again.done.cached_tokens == len(prompt) - 1


def test_prompt_longer_than_context_is_refused(tiny_engine: Engine) -> None:
    with pytest.raises(PromptTooLong):
        tiny_engine.submit(GenerationRequest((1,) * 2000, SamplingParams()), lambda e: None)


def test_max_tokens_is_capped_by_remaining_context(tiny_engine: Engine) -> None:
    n_ctx = tiny_engine.config.n_ctx
    seq, events = submit(tiny_engine, [1] * (n_ctx - 5), SamplingParams(temperature=0, max_tokens=100))
    result = collect(seq, events)
    assert result.done.reason in ("length", "stop")
    assert result.done.completion_tokens <= 5


class NothingAllowed:
    def allowed(self) -> np.ndarray:
        return np.zeros(49152, dtype=bool)

    def accept(self, token: int) -> None:
        raise AssertionError("nothing can be accepted")

    def done(self) -> bool:
        return False

    def steer(self, logits: object, allowed: object) -> None:
        return None

    def rewrite(self) -> list[int] | None:
        return None


class Broken(NothingAllowed):
    def allowed(self) -> np.ndarray:
        raise RuntimeError("constraint bug")


def test_constraint_that_admits_nothing_ends_the_sequence(tiny_engine: Engine, prompt: list[int]) -> None:
    result = generate(tiny_engine, prompt, SamplingParams(max_tokens=10), constraint_factory=NothingAllowed)
    assert (result.done.reason, result.done.completion_tokens) == ("stop", 0)


def test_a_failing_sequence_does_not_stop_the_engine(tiny_engine: Engine, prompt: list[int]) -> None:
    broken = generate(tiny_engine, prompt, SamplingParams(max_tokens=10), constraint_factory=Broken)
    assert broken.done.reason == "error" and "constraint bug" in (broken.done.error or "")
    assert tiny_engine.n_running == 0
    assert tiny_engine.ctx.sequence_length(broken.seq.slot) == 0  # a failed sequence leaves no cells behind
    assert_kv_matches_books(tiny_engine)
    assert generate(tiny_engine, prompt, SamplingParams(temperature=0, max_tokens=3)).done.reason == "length"


# -- prompt-prefix reuse ----------------------------------------------------------------------------


def assert_kv_matches_books(engine: Engine) -> None:
    """With the engine idle, llama.cpp's cache holds exactly what the scheduler believes each slot holds."""
    stats = engine.stats()
    assert (stats.running, stats.waiting, stats.free_slots) == (0, 0, engine.config.n_slots)
    for slot in range(engine.config.n_slots):
        assert engine.ctx.sequence_length(slot) == len(engine.scheduler.cached[slot]), slot
    assert stats.retained_tokens == sum(len(c) for c in engine.scheduler.cached)


def forget_everything(engine: Engine) -> None:
    """Empties every slot's cache (engine idle), so the next prompt is decoded from scratch."""
    assert engine.stats().running == 0
    for slot in range(engine.config.n_slots):
        engine.ctx.clear_sequence(slot)
        engine.scheduler.forget(slot)


def chat(model: LlamaModel, system: str, question: str) -> list[int]:
    text = f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
    return model.tokenize(text + "<|im_start|>assistant\n", add_special=False)


SYSTEM = "You are a helpful assistant. " * 20


def test_repeated_prompt_reuses_all_but_one_token(tiny_engine: Engine, tiny_model: LlamaModel) -> None:
    prompt = chat(tiny_model, SYSTEM, "Name a fruit.")
    params = SamplingParams(temperature=0, max_tokens=12)
    cold = generate(tiny_engine, prompt, params)
    warm = generate(tiny_engine, prompt, params)
    assert warm.done.cached_tokens == len(prompt) - 1  # the last token is decoded again for its logits
    assert warm.seq.slot == cold.seq.slot
    assert_kv_matches_books(tiny_engine)


def test_shared_prefix_is_reused(tiny_engine: Engine, tiny_model: LlamaModel) -> None:
    first = chat(tiny_model, SYSTEM + "Be brief.", "Name a fruit.")
    second = chat(tiny_model, SYSTEM + "Be brief.", "Name a planet.")
    shared = next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
    params = SamplingParams(temperature=0, max_tokens=12)
    generate(tiny_engine, first, params)
    reused = generate(tiny_engine, second, params)
    assert reused.done.cached_tokens == shared
    assert reused.done.prompt_tokens == len(second)
    assert_kv_matches_books(tiny_engine)


def test_prefix_of_a_running_sequence_is_shared(tiny_engine: Engine, tiny_model: LlamaModel) -> None:
    system = SYSTEM + "Answer in French."
    long_run = chat(tiny_model, system, "Tell me a long story.")
    question = chat(tiny_model, system, "Name a color.")
    shared = next(i for i, (a, b) in enumerate(zip(long_run, question, strict=False)) if a != b)
    forget_everything(tiny_engine)
    no_eos = {int(t): -100.0 for t in tiny_model.eog_ids}  # keeps running until cancelled
    running, events = submit(tiny_engine, long_run, SamplingParams(max_tokens=400, logit_bias=no_eos))
    assert isinstance(events.get(timeout=120), TextDelta)  # its prompt is in the cache now
    borrowed = generate(tiny_engine, question, SamplingParams(temperature=0, max_tokens=10))
    assert borrowed.seq.slot != running.slot
    assert borrowed.done.cached_tokens == shared
    running.cancel()
    assert collect(running, events).done.reason == "cancelled"
    assert_kv_matches_books(tiny_engine)


def test_shared_cells_give_the_logits_of_a_fresh_decode(tiny_model: LlamaModel) -> None:
    """Sharing a prefix (llama_memory_seq_cp) and decoding the rest gives the logits of decoding the whole
    prompt, up to the noise llama.cpp shows for the same prompt placed elsewhere in the cache (a tie
    between top tokens can flip, which is why greedy outputs are not compared token for token)."""
    ctx = LlamaContext(tiny_model, n_ctx_seq=512, n_seq=3, n_threads=1, n_batch=256)
    try:
        prompt = chat(tiny_model, SYSTEM, "Name a fruit.")
        other = chat(tiny_model, SYSTEM, "Name a planet.")
        (whole,) = ctx.decode([BatchEntry(0, prompt, 0, True)])
        k = len(prompt) - 12
        ctx.share(0, 1, k)
        (rest,) = ctx.decode([BatchEntry(1, prompt[k:], k, True)])
        (elsewhere,) = ctx.decode([BatchEntry(2, other, 0, True)])
    finally:
        ctx.close()
    assert np.corrcoef(whole, rest)[0, 1] > 0.998 and np.abs(whole - rest).max() < 2.0
    assert np.corrcoef(whole, elsewhere)[0, 1] < 0.98  # the bound above would catch a wrong prefix


@dataclass
class RewriteAfter:
    """Unconstrained, except that after `after` tokens the output is replaced by `tokens` once (as the
    fenced-call rewrite does)."""

    after: int
    tokens: list[int]
    seen: int = 0
    pending: list[int] | None = None

    def allowed(self) -> None:
        return None

    def accept(self, token: int) -> None:
        self.seen += 1
        if self.seen == self.after:
            self.pending = list(self.tokens)

    def done(self) -> bool:
        return False

    def steer(self, logits: object, allowed: object) -> None:
        return None

    def rewrite(self) -> list[int] | None:
        out, self.pending = self.pending, None
        return out


def test_a_constraint_can_rewrite_the_output(
    tiny_engine: Engine, tiny_model: LlamaModel, prompt: list[int]
) -> None:
    replacement = tiny_model.tokenize("Once upon a time, a robot named", add_special=False)
    seq, events = submit(
        tiny_engine,
        prompt,
        SamplingParams(temperature=0, max_tokens=20),
        constraint_factory=lambda: RewriteAfter(6, replacement),
    )
    texts: list[list[str]] = [[]]
    while isinstance(event := events.get(timeout=120), TextDelta):
        if event.restart:
            texts.append([])
        texts[-1].append(event.text)
    assert len(texts) == 2 and texts[1][0] == "Once upon a time, a robot named"
    assert (event.reason, event.completion_tokens) == ("length", 20)
    assert seq.output[: len(replacement)] == replacement and len(seq.output) == 20
    assert "".join(texts[1]) == b"".join(tiny_model.piece(t) for t in seq.output).decode()
    # llama.cpp's cache holds the prompt and the new output (the last sampled token is never decoded)
    assert tiny_engine.scheduler.cached[seq.slot] == [*prompt, *seq.output[:-1]]
    assert_kv_matches_books(tiny_engine)


def test_start_warms_up_and_leaves_the_cache_empty(tiny_model: LlamaModel) -> None:
    """start() decodes one token before serving (the process's first decode) and drops it: no slot holds
    anything, and the first request reuses nothing it did not send."""
    engine = Engine(tiny_model, EngineConfig(n_ctx=256, n_slots=2, n_threads=1, n_batch=64))
    engine.start()
    try:
        assert [engine.ctx.sequence_length(s) for s in range(2)] == [0, 0]
        result = generate(
            engine, tiny_model.tokenize("Hello", add_special=False), SamplingParams(max_tokens=2)
        )
        assert result.done.cached_tokens == 0
    finally:
        engine.stop()


def test_every_decode_runs_on_the_engine_thread(tiny_model: LlamaModel) -> None:
    """The warm-up decodes on the engine thread too: a decode from another thread gives llama.cpp a
    second OpenMP team, which slowed every later step by a quarter (see Engine._warm_up)."""
    engine = Engine(tiny_model, EngineConfig(n_ctx=256, n_slots=2, n_threads=1, n_batch=64))
    threads: list[str] = []
    decode = engine.ctx.decode

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return decode(*args, **kwargs)

    engine.ctx.decode = recording  # type: ignore[method-assign]
    engine.start()
    try:
        assert threads == ["fncall-engine"]  # start() returned after the warm-up, not before
        generate(engine, tiny_model.tokenize("Hello", add_special=False), SamplingParams(max_tokens=3))
        assert len(threads) > 1 and set(threads) == {"fncall-engine"}
    finally:
        engine.stop()


def test_a_batch_over_n_batch_is_refused_before_it_is_written(tiny_model: LlamaModel) -> None:
    ctx = LlamaContext(tiny_model, n_ctx_seq=256, n_seq=1, n_threads=1, n_batch=8)
    try:
        with pytest.raises(LlamaError, match="exceeds n_batch=8"):
            ctx.decode([BatchEntry(0, list(range(5)), 0, False), BatchEntry(0, list(range(5)), 5, True)])
        assert ctx.sequence_length(0) == 0
        ctx.decode([BatchEntry(0, list(range(1, 9)), 0, True)])  # the context is still usable
        assert ctx.sequence_length(0) == 8
    finally:
        ctx.close()


def test_idle_prefixes_are_parked_in_host_memory_and_reused(tiny_model: LlamaModel) -> None:
    """With a host-memory tier, an admission leaves no idle slot holding cells (they would slow everyone's
    attention), and a prompt that starts with a parked prefix still skips its prefill."""
    config = EngineConfig(n_ctx=512, n_slots=2, n_threads=1, n_batch=128, host_cache_bytes=64 << 20)
    engine = Engine(tiny_model, config)
    engine.start()
    try:
        first = chat(tiny_model, SYSTEM, "Name a fruit.")
        second = chat(tiny_model, SYSTEM, "Name a planet.")
        shared = next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
        params = SamplingParams(temperature=0, max_tokens=8)
        cold = generate(engine, first, params)
        other = generate(engine, tiny_model.tokenize("Count to ten.", add_special=False), params)
        assert other.seq.slot != cold.seq.slot
        assert engine.ctx.sequence_length(cold.seq.slot) == 0  # parked when `other` was admitted
        assert engine.stats().host.entries == 1  # type: ignore[union-attr]
        warm = generate(engine, second, params)
        assert warm.done.cached_tokens == shared
        again = generate(engine, first, params)
        assert again.done.cached_tokens == len(first) - 1 and again.text == cold.text
        assert_kv_matches_books(engine)
        host = engine.stats().host
        assert host is not None and host.hits >= 1 and host.bytes > 0
        assert any(p[:shared] == tuple(first[:shared]) for p in engine.cached_prefixes())
    finally:
        engine.stop()


def test_a_parked_state_gives_the_logits_of_a_fresh_decode(tiny_model: LlamaModel) -> None:
    """A sequence's cells copied out (llama_state_seq_get_data), loaded into another slot, cut, and the
    rest decoded there: the logits of decoding the whole prompt, within llama.cpp's placement noise."""
    ctx = LlamaContext(tiny_model, n_ctx_seq=512, n_seq=3, n_threads=1, n_batch=256)
    try:
        prompt = chat(tiny_model, SYSTEM, "Name a fruit.")
        (whole,) = ctx.decode([BatchEntry(0, prompt, 0, True)])
        state = ctx.seq_state(0)
        ctx.clear_sequence(0)
        ctx.decode([BatchEntry(1, chat(tiny_model, SYSTEM, "Name a planet."), 0, False)])  # other cells
        k = len(prompt) - 12
        assert ctx.load_seq_state(2, memoryview(state)) and ctx.truncate(2, k)
        assert ctx.sequence_length(2) == k
        (rest,) = ctx.decode([BatchEntry(2, prompt[k:], k, True)])
    finally:
        ctx.close()
    assert np.corrcoef(whole, rest)[0, 1] > 0.998 and np.abs(whole - rest).max() < 2.0
