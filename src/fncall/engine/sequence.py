"""One generation request inside the engine: its state, and the events it sends back."""

from __future__ import annotations

import enum
import itertools
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from fncall.engine.sampling import SamplingParams, TokenLogprob, new_rng
from fncall.engine.text import StopMatcher, Utf8Stream

FinishReason = Literal["stop", "length", "cancelled", "error"]


class Constraint(Protocol):
    """A token-level constraint (e.g. a grammar) consulted before each sample."""

    def allowed(self) -> npt.NDArray[np.bool_] | None:
        """Mask over the vocabulary for the next token; None means unconstrained."""

    def accept(self, token: int) -> None: ...

    def done(self) -> bool:
        """True when the constraint admits nothing more, so generation must end."""

    def rewrite(self) -> list[int] | None:
        """Asked right after `accept`: tokens that replace the whole output so far (already accepted by
        the constraint), or None. Given once; the engine recomputes the cache from the prompt's end."""

    def steer(
        self, logits: npt.NDArray[np.float32], allowed: npt.NDArray[np.bool_] | None
    ) -> npt.NDArray[np.bool_] | None:
        """Given this step's raw logits and `allowed()`'s mask: a mask to use instead (a decision made on
        the model's own probabilities, e.g. call or text), or None to keep `allowed`."""

    def forced(self) -> list[int]:
        """Tokens the constraint admits as the only continuation from here (not yet accepted), in the
        tokenization sampling would reach: none where a longer token could span their end. The engine
        appends them without sampling (jump-forward) and passes each to `accept`."""


@dataclass(slots=True, frozen=True)
class GenerationRequest:
    prompt: tuple[int, ...]
    params: SamplingParams
    constraint_factory: Callable[[], Constraint] | None = None


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str
    restart: bool = False  # the output so far was replaced (Constraint.rewrite): `text` starts it anew
    # With params.logprobs: the tokens sampled since the previous delta, whose text this delta releases
    # (a token whose text is held back, a split character or a possible stop string, comes with a later one).
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(slots=True, frozen=True)
class Finished:
    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    error: str | None = None
    # With `error`: the request was refused for lack of room before it started (a remote engine's full
    # queue); the API answers it as it answers scheduler.QueueFull, with a 429.
    refused: bool = False
    stop_sequence: str | None = None  # with reason "stop": the request's stop string that ended it
    forced_tokens: int = 0  # of completion_tokens, appended without sampling (jump-forward)


@dataclass(slots=True, frozen=True)
class PromptScored:
    """With params.prompt_logprobs: log probabilities of prompt tokens `start`.. (each given the tokens
    before it), sent as each prefill chunk is decoded, before any TextDelta."""

    start: int
    logprobs: tuple[TokenLogprob, ...]


Event = TextDelta | PromptScored | Finished
Emit = Callable[[Event], None]


class Status(enum.Enum):
    WAITING = "waiting"
    PREFILL = "prefill"
    DECODING = "decoding"
    FINISHED = "finished"


_ids = itertools.count(1)


@dataclass(slots=True, eq=False)
class Sequence:
    """Engine-side state of a request; only the scheduler changes `status` and `slot`."""

    request: GenerationRequest
    emit: Emit
    max_new_tokens: int
    id: int = field(default_factory=lambda: next(_ids))
    status: Status = Status.WAITING
    slot: int = -1
    n_cached: int = 0  # prompt tokens already in the KV cache
    n_reused: int = 0  # of which were shared from an earlier request
    n_forced: int = 0  # output tokens appended without sampling (jump-forward)
    output: list[int] = field(default_factory=list)
    counts: Counter[int] = field(default_factory=Counter)
    logprobs: list[TokenLogprob] = field(default_factory=list)  # sampled, not yet sent with a TextDelta
    finish_reason: FinishReason | None = None
    _cancel: threading.Event = field(default_factory=threading.Event)
    utf8: Utf8Stream = field(default_factory=Utf8Stream)
    stops: StopMatcher = field(init=False)
    rng: np.random.Generator = field(init=False)
    constraint: Constraint | None = field(init=False)

    def __post_init__(self) -> None:
        self.stops = StopMatcher(self.request.params.stop)
        self.rng = new_rng(self.request.params.seed)
        factory = self.request.constraint_factory
        self.constraint = factory() if factory else None

    @property
    def prompt(self) -> tuple[int, ...]:
        return self.request.prompt

    @property
    def length(self) -> int:
        """Tokens this sequence holds or will hold in the KV cache after the next decode."""
        return len(self.prompt) + len(self.output)

    @property
    def n_output(self) -> int:
        return len(self.output)

    def recent(self) -> list[int]:
        """The repetition penalty's window: the last tokens of prompt and output (none when it is off)."""
        params = self.request.params
        n = params.repetition_window
        if params.repetition_penalty == 1.0 or n == 0:
            return []
        tail = self.output[-n:]
        if len(tail) == n:
            return tail
        return [*self.prompt[max(0, len(self.prompt) - (n - len(tail))) :], *tail]

    def restart_output(self, tokens: list[int]) -> None:
        """The output is now `tokens` (not yet in the KV cache), with text and stop matching begun anew."""
        self.output = list(tokens)
        self.n_forced = 0
        self.counts = Counter(tokens)
        self.logprobs = []
        self.utf8 = Utf8Stream()
        self.stops = StopMatcher(self.request.params.stop)

    def delta(self, text: str) -> TextDelta:
        """A TextDelta of `text` carrying the log probabilities gathered since the last one."""
        logprobs, self.logprobs = tuple(self.logprobs), []
        return TextDelta(text, logprobs=logprobs)

    def cancel(self) -> None:
        """Thread-safe: the engine finishes the sequence at its next step."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()
