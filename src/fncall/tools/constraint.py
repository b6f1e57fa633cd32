"""The llguidance adapter: compiles tool grammars for a model's vocabulary and masks tokens per step.

The only module that imports llguidance. User grammar errors (a pathological schema) surface as
`GrammarError` at compile time; a matcher that errs while decoding ends the sequence, never the engine.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import llguidance
import llguidance.llamacpp
import numpy as np
import numpy.typing as npt

from fncall.engine.llama import LlamaModel
from fncall.engine.sequence import Constraint
from fncall.tools.decision import CALL_OPENERS, NEITHER, CallDecision, softmax
from fncall.tools.grammar import GrammarPlan

# Bounds so that a hostile schema costs a 400, not a stalled engine.
LIMITS = llguidance.LLParserLimits(
    max_grammar_size=500_000, initial_lexer_fuel=1_000_000, max_lexer_states=100_000
)
log = logging.getLogger(__name__)
CACHE_SIZE = 64
PREFIX_WINDOW = 160  # characters of output within which a prefix trigger must fire (a fence head + name)


class GrammarError(ValueError):
    """The grammar built from the request's tools cannot be compiled within the limits."""


@dataclass(slots=True)
class GrammarConstraint:
    """Engine `Constraint` backed by an llguidance matcher (one per sequence)."""

    matcher: llguidance.LLMatcher
    n_vocab: int

    def allowed(self) -> npt.NDArray[np.bool_] | None:
        bits = np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8)
        return np.unpackbits(bits, bitorder="little")[: self.n_vocab].astype(bool)

    def accept(self, token: int) -> None:
        self.matcher.consume_token(token)

    def forced(self) -> list[int]:
        if self.done():
            return []
        return list(
            self.matcher.compute_ff_tokens()
        )  # canonical: stops short where a longer token could span

    def done(self) -> bool:
        return self.matcher.is_stopped() or self.matcher.is_error()

    def rewrite(self) -> list[int] | None:
        return None

    def steer(
        self, logits: npt.NDArray[np.float32], allowed: npt.NDArray[np.bool_] | None
    ) -> npt.NDArray[np.bool_] | None:
        return None


@dataclass(slots=True, frozen=True)
class Trigger:
    """A compiled grammar.PrefixTrigger."""

    pattern: re.Pattern[str]
    matcher: llguidance.LLMatcher
    rewrite: tuple[int, ...]  # empty: keep the output


@dataclass(slots=True)
class LazyGrammar:
    """`auto`: free until the output starts a call, then the call grammar (no mask cost for plain text).

    The first token may not begin with the plan's banned characters (`first`): after a tool result, small
    models echo a pseudo call (`{"name": …}`) or the prompt's markup as text instead of answering; a
    real call uses the format's own syntax. A trigger with rewrite tokens replaces the output so far with
    them (a fenced call becomes the format's call opening; see grammar.PrefixTrigger).

    With a `decision` (tools/decision.py), the opening token (while the output is still blank) is chosen
    by class, the format's call token or text without call-shaped openers; and after each complete call
    the turn may be kept open for the next one: decided after the whitespace that follows the call's
    object, not at its closing brace (see `steer`).
    """

    open_token: int | None
    on_open: llguidance.LLMatcher | None
    prefixes: list[Trigger]
    piece: Callable[[int], bytes]
    first: npt.NDArray[np.bool_] | None
    n_vocab: int
    decision: CallDecision | None = None
    active: GrammarConstraint | None = None
    opening: bool = True  # nothing but whitespace written yet
    after_body: bool = False  # the last token closed a call's object (the turn may end here)
    gap: bool = False  # the last token was whitespace after a call's object (or ended one with it)
    pending: bool = False  # the keep-open decision of the call just closed waits for the gap
    call_text: bytes = b""  # what the call grammar wrote since the last call closed
    calls: set[bytes] = field(default_factory=set)  # the calls closed so far, normalised (`_same_call`)
    repeated: bool = False  # a call repeated an earlier one of this answer: no more keeping open
    tokens: list[int] = field(default_factory=list)
    text: bytes = b""
    replacement: list[int] | None = None

    def allowed(self) -> npt.NDArray[np.bool_] | None:
        if self.active:
            return self.active.allowed()
        return None if self.tokens else self.first

    def accept(self, token: int) -> None:
        if self.active:
            self.active.accept(token)
            piece = self.piece(token)
            self.call_text += piece
            closes = piece.rstrip().endswith(b"}")
            self.gap = (self.after_body and not piece.strip()) or (closes and piece[-1:].isspace())
            self.pending = self.pending and self.gap
            self.after_body = closes
            return
        self.tokens.append(token)
        self.opening = self.opening and not self.piece(token).strip()
        if token == self.open_token and self.on_open is not None:
            self._activate(self.on_open, [token])
        elif self.prefixes:
            self.text += self.piece(token)
            text = self.text.decode("utf-8", errors="ignore")
            hit = next((t for t in self.prefixes if t.pattern.match(text)), None)
            if hit is not None:
                self._activate(hit.matcher, list(hit.rewrite) or self.tokens)
                if self.active and hit.rewrite:
                    self.replacement = list(hit.rewrite)
            if self.active or len(text) > PREFIX_WINDOW:
                self.prefixes = []

    def _activate(self, template: llguidance.LLMatcher, tokens: list[int]) -> None:
        matcher = template.deep_copy()
        # A trigger whose text the grammar cannot continue (e.g. an undeclared tool name) stays free text.
        if matcher.consume_tokens(tokens) and not matcher.is_error():
            self.active = GrammarConstraint(matcher, self.n_vocab)

    def done(self) -> bool:
        return self.active.done() if self.active else False

    def forced(self) -> list[int]:
        return self.active.forced() if self.active else []

    def rewrite(self) -> list[int] | None:
        out, self.replacement = self.replacement, None
        return out

    def steer(
        self, logits: npt.NDArray[np.float32], allowed: npt.NDArray[np.bool_] | None
    ) -> npt.NDArray[np.bool_] | None:
        if self.decision is None:
            return None
        if self.active is None:
            return self.decision.opening(logits) if self.opening else None
        if allowed is None or not allowed[self.decision.end].any():
            return None
        if self.after_body:
            # A call just closed: the turn may end here. Kept open after every call, not only the first:
            # several-item requests lost their third or fourth call to the model's own end (README, "Call
            # decisions"). Until a call repeats one of this answer: that is a model with nothing left to
            # call, and keeping it open ran some dev tasks on to 16 calls of one tool.
            call = _same_call(self.call_text)
            self.call_text, self.repeated = b"", self.repeated or call in self.calls
            self.calls.add(call)
            if self.repeated:
                return None
            blank = self.decision.blank
            if not self.gap and blank is not None and (allowed & blank).any():
                # Not at the closing brace itself: there Qwen2.5-Coder puts 0.995-0.999 on ending, the
                # same whether a next call is wanted or not (it skips its own `</tool_call>`). After the
                # newline it spreads over ending and a next call (a fence, `{"`, the call token), and
                # that split is what the decision reads (README, "Call decisions").
                self.pending = True
                return allowed & blank
            return self._after_call(logits, allowed)
        if self.pending:
            self.pending = False
            return self._after_call(logits, allowed)
        return None

    def _after_call(
        self, logits: npt.NDArray[np.float32], allowed: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_] | None:
        assert self.decision is not None
        kept = self.decision.after_call(logits, allowed)
        if log.isEnabledFor(logging.DEBUG):
            end = float(softmax(logits)[self.decision.end].sum())
            log.debug(
                "after call %d: P(not ending) %.4f, kept open: %s", len(self.calls), 1 - end, kept is not None
            )
        return kept


def _same_call(text: bytes) -> bytes:
    """A call's text from its object on, without whitespace: equal for two calls with the same name and
    arguments in every JSON-bodied format (the separators before the object differ between a first and a
    later call). Formats that write the name before the object compare arguments only: a repeat found
    there wrongly ends the keeping open, never a call."""
    start = text.find(b"{")
    return b"".join(text[max(start, 0) :].split())


@dataclass(slots=True)
class BannedTokens:
    """`tool_choice: none`: the call marker can never be sampled."""

    mask: npt.NDArray[np.bool_]

    def allowed(self) -> npt.NDArray[np.bool_] | None:
        return self.mask

    def accept(self, token: int) -> None:
        pass

    def forced(self) -> list[int]:
        return []

    def done(self) -> bool:
        return False

    def rewrite(self) -> list[int] | None:
        return None

    def steer(
        self, logits: npt.NDArray[np.float32], allowed: npt.NDArray[np.bool_] | None
    ) -> npt.NDArray[np.bool_] | None:
        return None


def grammar_error(grammar: str) -> str:
    """Why llguidance cannot compile `grammar` (within the limits), or "" if it can; no vocabulary."""
    error = llguidance.LLMatcher.validate_grammar(grammar, limits=LIMITS)
    return "" if not error or error.startswith("WARNING") else error.strip().splitlines()[0]


class GrammarCompiler:
    """Per model: the llguidance tokenizer (built once, about a second) and an LRU of compiled grammars."""

    def __init__(self, model: LlamaModel) -> None:
        self._model = model
        self.on_compile: Callable[[float], None] | None = None  # observer of compile seconds (metrics)
        self._lock = threading.Lock()
        self._tokenizer: llguidance.LLTokenizer | None = None
        self._cache: OrderedDict[str, llguidance.LLMatcher] = OrderedDict()
        self._starts: dict[tuple[str, ...], npt.NDArray[np.bool_]] = {}
        self._blank: npt.NDArray[np.bool_] | None = None
        self._warm_thread: threading.Thread | None = None

    def start_warm_up(self) -> None:
        """Runs `warm_up` on a background thread; `join_warm_up` before the model is freed, since the
        thread reads its vocabulary (freeing it mid-read crashes the process)."""
        self._warm_thread = threading.Thread(target=self.warm_up, name="fncall-grammar-warm-up", daemon=True)
        self._warm_thread.start()

    def join_warm_up(self) -> None:
        if self._warm_thread is not None:
            self._warm_thread.join()

    def warm_up(self) -> None:
        """Builds the per-model parts now (about 1.5 s for a 150k vocabulary) instead of in the first
        request with tools; safe to run on a background thread."""
        self._llg_tokenizer()
        self._first_mask("{")
        self._first_mask("{<")
        self._starts_mask(CALL_OPENERS)
        self._starts_mask(NEITHER)
        self._blank_mask()

    def factory(self, plan: GrammarPlan, open_token: int | None) -> Callable[[], Constraint]:
        """Compiles (or reuses) the plan's grammars; each call of the result serves one sequence.

        Blocks for the compile (milliseconds; up to ~1 s for huge schemas): call it off the event loop.
        """
        n_vocab = self._model.n_vocab
        if plan.start is not None:
            start = self._compiled(plan.start)
            return lambda: GrammarConstraint(start.deep_copy(), n_vocab)
        on_open = self._compiled(plan.on_open_token) if plan.on_open_token else None
        prefixes = [
            Trigger(re.compile(t.pattern), self._compiled(t.grammar), self._rewrite_tokens(t.rewrite))
            for t in plan.prefixes
        ]
        piece, first = self._model.piece, self._first_mask(plan.first_banned) if plan.first_banned else None
        decision = self._decision(plan, open_token) if on_open is not None else None
        return lambda: LazyGrammar(open_token, on_open, list(prefixes), piece, first, n_vocab, decision)

    def _decision(self, plan: GrammarPlan, open_token: int | None) -> CallDecision | None:
        if open_token is None or (plan.threshold is None and plan.more is None):
            return None
        n_vocab = self._model.n_vocab
        call = self._starts_mask(CALL_OPENERS).copy()
        call[open_token] = True
        force = np.zeros(n_vocab, dtype=bool)
        force[open_token] = True
        end = np.zeros(n_vocab, dtype=bool)
        end[self._model.eog_ids] = True
        text_class = ~call & ~self._starts_mask(NEITHER)
        # Below the threshold an answer to a user opens as sampled (forcing text there barred fences that
        # were right, see tools/decision.py); after tool results text is deferred to the answer's plan.
        text = end if plan.defer_text else None
        return CallDecision(plan.threshold, plan.more, call, text_class, force, text, end, self._blank_mask())

    def ban(self, tokens: Collection[int]) -> Callable[[], Constraint]:
        mask = np.ones(self._model.n_vocab, dtype=bool)
        mask[list(tokens)] = False
        return lambda: BannedTokens(mask)

    def _rewrite_tokens(self, text: str | None) -> tuple[int, ...]:
        return tuple(self._model.tokenize(text, add_special=False)) if text else ()

    def _first_mask(self, banned: str) -> npt.NDArray[np.bool_]:
        """Mask of tokens that do not begin (after whitespace) with one of `banned`'s characters."""
        return ~self._starts_mask(tuple(banned))

    def _starts_mask(self, prefixes: tuple[str, ...]) -> npt.NDArray[np.bool_]:
        """Mask of tokens that begin (after whitespace) with one of `prefixes`; once per model (~1 s)."""
        with self._lock:
            if prefixes not in self._starts:
                encoded = tuple(p.encode() for p in prefixes)
                pieces = (self._model.piece(t).lstrip() for t in range(self._model.n_vocab))
                self._starts[prefixes] = np.fromiter((p.startswith(encoded) for p in pieces), dtype=bool)
            return self._starts[prefixes]

    def _blank_mask(self) -> npt.NDArray[np.bool_]:
        """Mask of the tokens that are whitespace only (`\n`, `  \n`, …); once per model."""
        with self._lock:
            if self._blank is None:
                pieces = (self._model.piece(t) for t in range(self._model.n_vocab))
                self._blank = np.fromiter((bool(p) and p.isspace() for p in pieces), dtype=bool)
            return self._blank

    def _compiled(self, grammar: str) -> llguidance.LLMatcher:
        key = hashlib.sha256(grammar.encode()).hexdigest()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        tokenizer = self._llg_tokenizer()
        started = time.perf_counter()
        matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0, limits=LIMITS)
        if self.on_compile is not None:
            self.on_compile(time.perf_counter() - started)
        if matcher.is_error():
            raise GrammarError(matcher.get_error())
        with self._lock:
            self._cache[key] = matcher
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return matcher

    def _llg_tokenizer(self) -> llguidance.LLTokenizer:
        with self._lock:
            if self._tokenizer is None:
                eog = [int(t) for t in self._model.eog_ids]
                self._tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(
                    self._model.vocab_handle, eos_token=eog
                )
            return self._tokenizer
