"""The one adapter over llama.cpp's low-level C API (llama-cpp-python's ctypes bindings).

Everything that touches `llama_cpp` lives here: loading a GGUF, the vocabulary, tokenization, and a
context that decodes one batch holding tokens of several sequences. Not thread-safe: the engine
thread owns every object made here.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import llama_cpp
import numpy as np
import numpy.typing as npt

_backend_lock = threading.Lock()
_backend_ready = False
_llama_log = logging.getLogger("fncall.llama_cpp")
# ggml.h: 1 debug, 2 info, 3 warn, 4 error, 5 continuation of the previous line. Its "info" is
# load-time chatter, shown with `--log-level debug` only.
_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}
_last_level = logging.DEBUG


def _forward_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    # llama.cpp prints every load step to stderr by default; route it through logging instead.
    global _last_level
    _last_level = _LEVELS.get(level, _last_level)
    message = text.decode("utf-8", errors="replace").rstrip()
    if message:
        _llama_log.log(_last_level, "%s", message)


_forward_log_c = llama_cpp.llama_log_callback(_forward_log)  # kept referenced: C holds the pointer


class _ThreadpoolParams(ctypes.Structure):
    """ggml.h `struct ggml_threadpool_params` (not bound by llama-cpp-python)."""

    _fields_ = [
        ("cpumask", ctypes.c_bool * 512),  # GGML_MAX_N_THREADS
        ("n_threads", ctypes.c_int),
        ("prio", ctypes.c_int),
        ("poll", ctypes.c_uint32),
        ("strict_cpu", ctypes.c_bool),
        ("paused", ctypes.c_bool),
    ]


class Threadpool:
    """A persistent ggml CPU threadpool attached to a context.

    Without one, every llama_decode starts and joins fresh worker threads; on a busy machine their start
    is delayed by the scheduler, and each step waits for the slowest. llama.cpp's own server keeps one
    pool per context the same way (common_threadpools).
    """

    def __init__(self, ctx: ctypes.c_void_p, n_threads: int) -> None:
        libdir = Path(llama_cpp.__file__).parent / "lib"
        self._cpu = ctypes.CDLL(str(next(libdir.glob("libggml-cpu.*"))))
        base = ctypes.CDLL(str(next(libdir.glob("libggml-base.*"))))
        base.ggml_threadpool_params_default.restype = _ThreadpoolParams
        base.ggml_threadpool_params_default.argtypes = [ctypes.c_int]
        self._cpu.ggml_threadpool_new.restype = ctypes.c_void_p
        self._cpu.ggml_threadpool_new.argtypes = [ctypes.POINTER(_ThreadpoolParams)]
        self._cpu.ggml_threadpool_free.argtypes = [ctypes.c_void_p]
        attach = llama_cpp.llama_cpp._lib.llama_attach_threadpool
        attach.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        params = base.ggml_threadpool_params_default(n_threads)
        self._pool = self._cpu.ggml_threadpool_new(ctypes.byref(params))
        if not self._pool:
            raise LlamaError(f"ggml could not start a threadpool of {n_threads} threads")
        attach(ctx, self._pool, self._pool)  # one pool for prompt and decode batches, as n_threads match

    def free(self) -> None:
        """Call after the context that uses the pool is freed."""
        if self._pool:
            self._cpu.ggml_threadpool_free(self._pool)
            self._pool = None


def _init_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            llama_cpp.llama_log_set(_forward_log_c, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()
            _backend_ready = True


class LlamaError(RuntimeError):
    """llama.cpp refused an operation (model load, context creation, decode)."""


class LlamaModel:
    """A loaded GGUF: weights, vocabulary and metadata.

    Loading memory-maps the file; it costs about a second per GB on first touch.
    """

    def __init__(self, path: Path, *, vocab_only: bool = False) -> None:
        _init_backend()
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = vocab_only
        params.n_gpu_layers = 0
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        if not model:
            raise LlamaError(f"llama.cpp could not load the model file {path}")
        self.path = path
        self._model = model
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab: int = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.n_ctx_train: int = llama_cpp.llama_model_n_ctx_train(model)
        self.bos_id: int = llama_cpp.llama_vocab_bos(self._vocab)
        self.eos_id: int = llama_cpp.llama_vocab_eos(self._vocab)
        self.add_bos: bool = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        self._eog = np.array(
            [bool(llama_cpp.llama_vocab_is_eog(self._vocab, t)) for t in range(self.n_vocab)], dtype=bool
        )

    def close(self) -> None:
        if self._model:
            llama_cpp.llama_model_free(self._model)
            self._model = None

    @property
    def vocab_handle(self) -> llama_cpp.llama_vocab_p:
        """The raw vocabulary pointer, for libraries that read it directly (llguidance)."""
        return cast(llama_cpp.llama_vocab_p, self._vocab)

    def single_token(self, text: str) -> int | None:
        """The id of `text` if the vocabulary has it as one (special) token, else None."""
        tokens = self.tokenize(text, add_special=False, parse_special=True)
        return tokens[0] if len(tokens) == 1 else None

    # -- metadata -------------------------------------------------------------------------------

    def metadata(self, key: str) -> str | None:
        size = llama_cpp.llama_model_meta_val_str(self._model, key.encode(), None, 0)
        if size < 0:
            return None
        buf = ctypes.create_string_buffer(size + 1)
        llama_cpp.llama_model_meta_val_str(self._model, key.encode(), buf, size + 1)
        return buf.value.decode("utf-8", errors="replace")

    @property
    def chat_template(self) -> str | None:
        return self.metadata("tokenizer.chat_template")

    @property
    def description(self) -> str:
        buf = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(self._model, buf, 256)
        return buf.value.decode("utf-8", errors="replace")

    # -- vocabulary -----------------------------------------------------------------------------

    def is_eog(self, token: int) -> bool:
        return bool(self._eog[token])

    @property
    def eog_ids(self) -> npt.NDArray[np.intp]:
        return np.flatnonzero(self._eog)

    def token_text(self, token: int) -> str:
        """The vocabulary's text of a token (special tokens included), e.g. '<|im_end|>'."""
        return self.piece(token, special=True).decode("utf-8", errors="replace")

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes a token contributes to the output; control tokens give b'' unless special."""
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        tokens = (llama_cpp.llama_token * capacity)()
        n = llama_cpp.llama_tokenize(
            self._vocab, data, len(data), tokens, capacity, add_special, parse_special
        )
        if n < 0:
            capacity = -n
            tokens = (llama_cpp.llama_token * capacity)()
            n = llama_cpp.llama_tokenize(
                self._vocab, data, len(data), tokens, capacity, add_special, parse_special
            )
        return list(tokens[:n])


@dataclass(slots=True, frozen=True)
class BatchEntry:
    """Tokens of one sequence to decode this step; logits are wanted for the last one if `want_logits`,
    or for each of them if `all_logits`."""

    seq_id: int
    tokens: Sequence[int]
    start_pos: int
    want_logits: bool
    all_logits: bool = False  # logits for every token (to score a prompt): a 2-D array, one row each


class LlamaContext:
    """A llama.cpp context with a KV cache shared by up to `n_seq` sequences of `n_ctx_seq` tokens each."""

    def __init__(
        self, model: LlamaModel, *, n_ctx_seq: int, n_seq: int, n_threads: int, n_batch: int
    ) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx_seq * n_seq
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, 512)
        params.n_seq_max = n_seq
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.kv_unified = True  # one cache for all sequences, so prefixes can be shared later
        params.no_perf = True
        ctx = llama_cpp.llama_init_from_model(model._model, params)
        if not ctx:
            raise LlamaError("llama.cpp could not create a context (out of memory?)")
        self.model = model
        self.n_seq = n_seq
        self.n_ctx_seq = n_ctx_seq
        self.n_batch = n_batch
        self._ctx = ctx
        self._mem = llama_cpp.llama_get_memory(ctx)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._pool: Threadpool | None = None
        try:
            self._pool = Threadpool(ctx, n_threads)
        except (OSError, AttributeError, StopIteration, LlamaError) as exc:  # a build without the symbols
            _llama_log.warning("no persistent threadpool (%s); llama.cpp starts threads per decode", exc)

    def close(self) -> None:
        if self._ctx:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
            if self._pool:
                self._pool.free()

    def clear_sequence(self, seq_id: int) -> None:
        llama_cpp.llama_memory_seq_rm(self._mem, seq_id, -1, -1)

    def clear_all(self) -> None:
        """Empties every sequence's cells and puts the cache's next free cell back at 0."""
        llama_cpp.llama_memory_clear(self._mem, True)

    def truncate(self, seq_id: int, n: int) -> bool:
        """Drops positions n.. of a sequence; False when the cache type cannot remove a suffix."""
        return bool(llama_cpp.llama_memory_seq_rm(self._mem, seq_id, n, -1))

    def share(self, src: int, dst: int, n: int) -> None:
        """dst sees src's first n positions; with the unified cache the cells are shared, not copied."""
        llama_cpp.llama_memory_seq_cp(self._mem, src, dst, 0, n)

    def seq_state(self, seq_id: int) -> bytearray:
        """A copy of one sequence's KV state (llama_state_seq_get_data): one memcpy, about 23-28 KiB
        per cached token for the packaged models."""
        size = llama_cpp.llama_state_seq_get_size(self._ctx, seq_id)
        buf = bytearray(size)
        dst = (ctypes.c_uint8 * size).from_buffer(buf)
        if llama_cpp.llama_state_seq_get_data(self._ctx, dst, size, seq_id) != size:
            raise LlamaError(f"llama.cpp could not copy out the state of sequence {seq_id}")
        return buf

    def load_seq_state(self, seq_id: int, data: memoryview) -> bool:
        """Replaces a sequence's cells with a state from `seq_state` (same model and cache types; the
        buffer must be writable, as ctypes maps it without a copy). False when llama.cpp refuses it
        (malformed, or no room in the cache); the sequence is then empty."""
        src = (ctypes.c_uint8 * len(data)).from_buffer(data)
        if llama_cpp.llama_state_seq_set_data(self._ctx, src, len(data), seq_id) == len(data):
            return True
        self.clear_sequence(seq_id)
        return False

    def sequence_length(self, seq_id: int) -> int:
        """Number of positions cached for a sequence (0 when empty)."""
        return int(llama_cpp.llama_memory_seq_pos_max(self._mem, seq_id)) + 1

    def decode(self, entries: Sequence[BatchEntry]) -> list[npt.NDArray[np.float32]]:
        """Decode one batch; returns a copy of the logits for each entry that wanted them, in order (a
        row per token for `all_logits` entries).

        Blocks for the whole forward pass (the expensive call of the engine step).
        """
        total = sum(len(e.tokens) for e in entries)
        if total > self.n_batch:  # checked before writing: the batch's arrays hold n_batch tokens
            raise LlamaError(f"batch of {total} tokens exceeds n_batch={self.n_batch}")
        batch = self._batch
        n = 0
        wanted: list[list[int]] = []  # batch rows whose logits each entry wants
        for entry in entries:
            rows: list[int] = []
            for offset, token in enumerate(entry.tokens):
                batch.token[n] = token
                batch.pos[n] = entry.start_pos + offset
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = entry.seq_id
                last = offset == len(entry.tokens) - 1
                out = entry.all_logits or (last and entry.want_logits)
                batch.logits[n] = 1 if out else 0
                if out:
                    rows.append(n)
                n += 1
            if rows:
                wanted.append(rows if entry.all_logits else rows[-1:])
        batch.n_tokens = n
        rc = llama_cpp.llama_decode(self._ctx, batch)
        if rc != 0:
            raise LlamaError(f"llama_decode failed with code {rc}")
        n_vocab = self.model.n_vocab

        def row(i: int) -> npt.NDArray[np.float32]:
            return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._ctx, i), shape=(n_vocab,))

        wanting = (e for e in entries if e.all_logits or e.want_logits)
        return [
            np.stack([row(i) for i in rows]) if entry.all_logits else row(rows[0]).copy()
            for entry, rows in zip(wanting, wanted, strict=True)
        ]
