"""The engine: one thread that owns the llama.cpp context and runs schedule → decode → sample → postprocess.

Other threads only call `submit` and `Sequence.cancel`; results come back through each request's
`emit` callback, called on the engine thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence as Seq
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fncall.engine.llama import BatchEntry, LlamaContext, LlamaError, LlamaModel
from fncall.engine.prefix_disk import DiskCacheConfig, DiskCacheStats, DiskPrefixCache
from fncall.engine.prefix_host import HostCacheStats, HostPrefixes
from fncall.engine.sampling import sample, token_logprob
from fncall.engine.scheduler import Scheduler, Work
from fncall.engine.sequence import (
    Emit,
    Finished,
    FinishReason,
    GenerationRequest,
    PromptScored,
    Sequence,
    TextDelta,
)

log = logging.getLogger(__name__)

Mask = npt.NDArray[np.bool_] | None


@dataclass(slots=True, frozen=True, kw_only=True)
class EngineConfig:
    n_ctx: int = 4096  # per sequence
    n_slots: int = 1
    n_threads: int = 2
    n_batch: int = 512  # token budget of one step
    max_waiting: int = 64
    disk_cache: DiskCacheConfig | None = None  # prefixes kept on disk across restarts; None = off
    # Idle slots' prefixes copied to host memory and cleared at each admission (engine/prefix_host.py),
    # bounded by this many bytes; 0 = idle slots keep their cells in the KV cache instead.
    host_cache_bytes: int = 0
    # Append the tokens a constraint forces without sampling them; they are decoded in the next step in
    # one chunk with the last sampled token (see Engine._jump_forward). Not for requests with logprobs.
    jump_forward: bool = False

    def __post_init__(self) -> None:
        for name in ("n_ctx", "n_slots", "n_threads", "n_batch", "max_waiting"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.host_cache_bytes < 0:
            raise ValueError("host_cache_bytes must be at least 0")


@dataclass(slots=True, frozen=True, kw_only=True)
class EngineStats:
    n_slots: int
    running: int  # sequences holding a slot (prefilling or decoding)
    waiting: int  # sequences queued for a slot
    free_slots: int
    retained_tokens: int  # KV kept by free slots for prefix reuse (bounded by n_slots * n_ctx)
    kv_tokens: int  # positions llama.cpp's cache holds over all slots, after the last engine step
    disk: DiskCacheStats | None = None  # the prefix disk cache's counters, when it is on
    host: HostCacheStats | None = None  # prefixes parked in host memory, when that is on


class PromptTooLong(ValueError):
    def __init__(self, n_prompt: int, n_ctx: int) -> None:
        super().__init__(
            f"This model's maximum context length is {n_ctx} tokens. However, your messages resulted in "
            f"{n_prompt} tokens. Please reduce the length of the messages."
        )
        self.n_prompt = n_prompt
        self.n_ctx = n_ctx


def check_prompt(n_prompt: int, config: EngineConfig) -> None:
    """Raises PromptTooLong unless a prompt of `n_prompt` tokens leaves room to generate."""
    if n_prompt == 0 or n_prompt >= config.n_ctx:
        raise PromptTooLong(n_prompt, config.n_ctx)


class Engine:
    def __init__(self, model: LlamaModel, config: EngineConfig) -> None:
        self.model = model
        self.config = config
        self.ctx = LlamaContext(
            model,
            n_ctx_seq=config.n_ctx,
            n_seq=config.n_slots,
            n_threads=config.n_threads,
            n_batch=config.n_batch,
        )
        self.disk = DiskPrefixCache(config.disk_cache, model.path, self.ctx) if config.disk_cache else None
        self.host = HostPrefixes(self.ctx, config.host_cache_bytes) if config.host_cache_bytes else None
        self.scheduler = Scheduler(
            n_slots=config.n_slots,
            token_budget=config.n_batch,
            max_waiting=config.max_waiting,
            memory=self.ctx,
            store=self.disk,
            parking=self.host,
        )
        self._wakeups: queue.SimpleQueue[bool] = queue.SimpleQueue()  # True = stop
        self._lock = threading.Lock()  # guards the scheduler's queue bound between submit and the thread
        self._thread = threading.Thread(target=self._run, name="fncall-engine", daemon=True)
        self._warmed = threading.Event()
        # Grammar masks depend only on tokens already accepted, so they are computed while the batch
        # decodes (llguidance and llama_decode both release the GIL) instead of after it.
        self._kv_tokens = 0
        self._masks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fncall-mask")

    # -- public, thread-safe ----------------------------------------------------------------------

    def start(self) -> None:
        """Starts the engine thread and returns once it has warmed up (see _warm_up)."""
        self._thread.start()
        self._warmed.wait()

    def _warm_up(self) -> None:
        """Decodes one token and drops it before serving, as llama-server does: a process's first
        llama_decode faults in every page of the memory-mapped weights and sets up the threads, which
        otherwise lands on the first request (about 1 s of the default model's first token after a
        restart; README, "Prefixes on disk"). It runs on the engine thread, like every later decode:
        the wheel's llama.cpp runs each decode on an OpenMP team that belongs to the calling thread, and
        a warm-up from the main thread (a second team) left every later step 24 % slower (default
        model, one stream, 2 threads: 12.6 against 16.7 tok/s; README, "Side by side with llama.cpp's
        server", run D)."""
        try:
            self.ctx.decode([BatchEntry(0, (0,), 0, True)])
        except LlamaError:
            log.warning("warm-up decode failed; the first request pays the first decode", exc_info=True)
        finally:
            self.ctx.clear_sequence(0)

    def stop(self) -> None:
        """Cancels everything still queued or running and joins the engine thread."""
        self._wakeups.put(True)
        self._thread.join()
        self._masks.shutdown()
        if self.disk is not None:
            self.disk.close()
        self.ctx.close()

    def check_prompt(self, n_prompt: int) -> None:
        """Raises PromptTooLong unless a prompt of `n_prompt` tokens leaves room to generate."""
        check_prompt(n_prompt, self.config)

    def submit(self, request: GenerationRequest, emit: Emit) -> Sequence:
        """Queues a request; raises PromptTooLong or scheduler.QueueFull (both client-facing)."""
        n_prompt = len(request.prompt)
        self.check_prompt(n_prompt)
        room = self.config.n_ctx - n_prompt
        max_new = min(request.params.max_tokens or room, room)
        seq = Sequence(request=request, emit=emit, max_new_tokens=max_new)
        with self._lock:
            self.scheduler.add(seq)  # bound checked here so the caller gets QueueFull synchronously
        self._wakeups.put(False)
        return seq

    @property
    def n_running(self) -> int:
        return len(self.scheduler.running)

    @property
    def n_waiting(self) -> int:
        return len(self.scheduler.waiting)

    def stats(self) -> EngineStats:
        """A consistent snapshot of the engine's counters (for /metrics and leak checks)."""
        with self._lock:
            return EngineStats(
                n_slots=self.config.n_slots,
                running=len(self.scheduler.running),
                waiting=len(self.scheduler.waiting),
                free_slots=len(self.scheduler.free_slots),
                retained_tokens=self.scheduler.retained_tokens,
                kv_tokens=self._kv_tokens,
                disk=self.disk.stats() if self.disk else None,
                host=self.host.stats() if self.host else None,
            )

    @property
    def alive(self) -> bool:
        """False once the engine thread has ended (stopped, or died)."""
        return self._thread.is_alive()

    def cached_prefixes(self) -> list[tuple[int, ...]]:
        """The tokens each slot's KV cells hold, copied, and the prefixes parked in host memory (for
        routing requests to the engine that holds their prefix). tuple() of a list is atomic under the
        GIL, so a slot being extended is safe."""
        with self._lock:
            parked = self.host.prefixes() if self.host else []
            return [tuple(tokens) for tokens in self.scheduler.cached] + parked

    # -- engine thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._warm_up()
        finally:
            self._warmed.set()
        while True:
            try:  # block only when idle; otherwise just drain the wake-ups of new arrivals
                if self._wakeups.get(block=not self.scheduler.has_work()):
                    break
            except queue.Empty:
                pass
            self.step()
        with self._lock:
            for seq in [*self.scheduler.waiting, *self.scheduler.running]:
                seq.cancel()
        self.step()

    def step(self) -> None:
        try:
            self._step()
        finally:  # llama.cpp's own count, read on this thread (the cache is not thread-safe)
            self._kv_tokens = sum(self.ctx.sequence_length(s) for s in range(self.config.n_slots))

    def _step(self) -> None:
        with self._lock:
            cancelled = self.scheduler.cancelled()
        for seq in cancelled:
            self._finish(seq, "cancelled")
        with self._lock:
            work = self.scheduler.schedule()
        if not work:
            return
        masks = {
            w.seq.id: self._masks.submit(w.seq.constraint.allowed)
            for w in work
            if w.samples and w.seq.constraint is not None
        }
        entries = [BatchEntry(w.seq.slot, w.tokens, w.start_pos, w.samples, w.scores) for w in work]
        try:
            logits = self.ctx.decode(entries)
        except LlamaError as exc:
            log.exception("decode failed")
            self._fail(work, str(exc))
            return
        outputs = iter(logits)
        for w in work:
            self.scheduler.advance(w)
            if w.samples or w.scores:
                out = next(outputs)
                try:
                    if w.scores:
                        self._score(w, out)
                        out = out[-1]
                    if w.samples:
                        self._postprocess(w.seq, out, masks.get(w.seq.id))
                except Exception as exc:  # one sequence's failure must not stop the engine thread
                    log.exception("sampling failed for sequence %d", w.seq.id)
                    self._finish(w.seq, "error", f"{type(exc).__name__}: {exc}")

    def _score(self, w: Work, rows: npt.NDArray[np.float32]) -> None:
        """Log probabilities of the prompt tokens that follow this chunk's tokens (row j of the chunk's
        logits predicts prompt token start_pos + j + 1)."""
        seq = w.seq
        k = seq.request.params.logprobs or 0
        targets = seq.prompt[w.start_pos + 1 : w.start_pos + 1 + len(w.tokens)]
        entries = tuple(token_logprob(rows[j], token, k) for j, token in enumerate(targets))
        seq.emit(PromptScored(w.start_pos + 1, entries))

    def _postprocess(self, seq: Sequence, logits: npt.NDArray[np.float32], mask: Future[Mask] | None) -> None:
        constraint = seq.constraint
        allowed = mask.result() if mask else None
        if constraint is not None and (steered := constraint.steer(logits, allowed)) is not None:
            allowed = steered
        if allowed is not None and not allowed.any():  # the constraint admits nothing more: end here
            self._finish(seq, "stop")
            return
        token = sample(
            logits, seq.request.params, seq.rng, counts=seq.counts, recent=seq.recent(), allowed=allowed
        )
        if constraint:
            constraint.accept(token)
            replacement = constraint.rewrite()
            if replacement is not None:
                self._rewrite(seq, replacement)
                return
        if self.model.is_eog(token):
            self._finish(seq, "stop")
            return
        if seq.request.params.logprobs is not None:  # `sample` left the masked, penalised logits behind
            seq.logprobs.append(token_logprob(logits, token, seq.request.params.logprobs))
        text = self._append(seq, token)
        if not self._ended(seq):
            text += self._jump_forward(seq)
        if text:
            seq.emit(seq.delta(text))
        self._check_end(seq)

    def _append(self, seq: Sequence, token: int) -> str:
        """Adds a token to the output; the text it releases (held back while a character or a possible
        stop string is incomplete)."""
        seq.output.append(token)
        seq.counts[token] += 1
        return seq.stops.feed(seq.utf8.feed(self.model.piece(token)))

    def _jump_forward(self, seq: Sequence) -> str:
        """Appends the tokens the constraint forces, up to max_tokens and the first stop; they are decoded
        in the next step as one chunk whose last token alone gives logits, like a prompt chunk. Greedy
        output is unchanged: llguidance's forced tokens are the ones the mask would have left one at a
        time, in the tokenization sampling reaches (it keeps back tokens a longer one could span)."""
        constraint = seq.constraint
        if not self.config.jump_forward or constraint is None or seq.request.params.logprobs is not None:
            return ""  # a forced token has no logits, so no log probability: sample every one instead
        text = ""
        for token in constraint.forced()[: seq.max_new_tokens - len(seq.output)]:
            if self.model.is_eog(token):
                break
            constraint.accept(token)
            text += self._append(seq, token)
            seq.n_forced += 1
            if self._ended(seq):
                break
        return text

    def _ended(self, seq: Sequence) -> bool:
        stopped = seq.stops.stopped or (seq.constraint is not None and seq.constraint.done())
        return stopped or len(seq.output) >= seq.max_new_tokens

    def _check_end(self, seq: Sequence) -> None:
        if seq.stops.stopped or (seq.constraint and seq.constraint.done()):
            self._finish(seq, "stop")
        elif len(seq.output) >= seq.max_new_tokens:
            self._finish(seq, "length")

    def _rewrite(self, seq: Sequence, tokens: list[int]) -> None:
        """Replaces the whole output with `tokens` (a constraint's rewrite): the cache drops the old
        output and the next steps decode the new one before sampling goes on."""
        with self._lock:
            self.scheduler.rewind(seq)
        seq.restart_output(tokens)
        text = seq.stops.feed(seq.utf8.feed(b"".join(self.model.piece(t) for t in tokens)))
        if not self._ended(seq):
            text += self._jump_forward(seq)
        seq.emit(TextDelta(text, restart=True))
        self._check_end(seq)

    def _finish(self, seq: Sequence, reason: FinishReason, error: str | None = None) -> None:
        if reason in ("stop", "length"):
            tail = seq.stops.feed(seq.utf8.finish()) + seq.stops.finish()
            if tail:  # log probabilities of tokens whose text a stop string swallowed are dropped
                seq.emit(seq.delta(tail))
        with self._lock:
            if reason == "error" and seq.slot >= 0:  # the cells may be half-written: keep nothing
                self.ctx.clear_sequence(seq.slot)
                self.scheduler.forget(seq.slot)
            self.scheduler.retire(seq, reason)
        matched = seq.stops.matched if reason == "stop" else None
        seq.emit(
            Finished(
                reason,
                len(seq.prompt),
                len(seq.output),
                seq.n_reused,
                error,
                stop_sequence=matched,
                forced_tokens=seq.n_forced,
            )
        )

    def _fail(self, work: Seq[Work], message: str) -> None:
        for w in work:
            self._finish(w.seq, "error", message)
