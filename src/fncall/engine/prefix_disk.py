"""A prefix cache that survives restarts: long prompt prefixes seen more than once are saved to disk as
llama.cpp sequence states and loaded into a slot when a later request (in this process or the next)
starts with one.

The rule (what is worth a file). A prefix is saved the second time it is seen: when the scheduler gives
a request a slot that already holds at least `min_tokens` of its prompt from an earlier request (a tool
preamble or a system prompt resent with a new question, an agent's previous turn), those shared tokens
are saved, once. Skipped when a saved prefix already shares all but fewer than `min_tokens` of them (the
same prefix, a longer one, or one it extends by little: an agent loop writes a file per `min_tokens` of
growth, not per turn).

Loading. At admission, the entry sharing the longest prefix with the prompt is loaded, if that shares at
least `min_tokens` and more than any slot holds, and cut to the shared part: the boundary of a saved
prefix is where two prompts happened to part (often a few words into the question), so a third prompt
may share all of it but the last few tokens.

Costs. Saving copies the slot's state out on the engine thread (llama_state_seq_get_data: a memcpy of
about 23–28 KiB per token for the packaged models); checksumming and writing happen on a writer thread.
Loading reads and checks the whole file on the engine thread, then copies it into the KV cache; both
happen at admission, instead of that prefix's prefill.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fncall.engine.prefix_index import CorruptEntry, Entry, PrefixIndex, entry_name, model_key, pack, unpack

log = logging.getLogger(__name__)

_MAX_PENDING = 2  # saves queued for the writer; more are skipped rather than held in memory


@dataclass(slots=True, frozen=True, kw_only=True)
class DiskCacheConfig:
    root: Path  # the directory (shared by every server using the same cache directory)
    max_bytes: int  # bound on all entries' files, every model together (LRU)
    min_tokens: int = 256  # shortest prefix worth a file

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if self.min_tokens < 1:
            raise ValueError("min_tokens must be at least 1")


@dataclass(slots=True, frozen=True)
class DiskCacheStats:
    hits: int  # prefixes loaded from disk
    misses: int  # admissions of prompts >= min_tokens the slots did not cover and the disk could not help
    saves: int
    corrupt: int  # files found corrupt (removed)
    evictions: int  # files removed by the size bound (by this process)
    entries: int  # in the directory, every model
    bytes: int
    bytes_read: int
    bytes_written: int
    load_seconds: float  # engine-thread time spent loading
    save_seconds: float  # engine-thread time spent copying state out for saves


class StateIO(Protocol):
    """What the cache needs of the context (implemented by engine.llama.LlamaContext)."""

    def seq_state(self, seq_id: int) -> bytearray: ...

    def load_seq_state(self, seq_id: int, data: memoryview) -> bool: ...

    def truncate(self, seq_id: int, n: int) -> bool: ...


class DiskPrefixCache:
    """Implements the scheduler's PrefixStore on a directory; used by the engine thread only (its
    writer thread owns the saves)."""

    def __init__(self, config: DiskCacheConfig, model_path: Path, state: StateIO) -> None:
        self.config = config
        self.model = model_key(model_path)
        self.model_path = str(model_path.resolve())
        self.index = PrefixIndex(config.root, config.max_bytes)
        removed = self.index.invalidate(self.model, self.model_path)
        if removed:
            log.info(
                "prefix disk cache: removed %d stale files (model changed or never indexed)", len(removed)
            )
        self._state = state
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fncall-prefix-disk")
        self._pending: set[str] = set()
        self._refused: set[str] = set()  # entries llama.cpp would not load here
        self._entries: dict[str, Entry] = {}
        self._arrays: dict[str, npt.NDArray[np.int32]] = {}  # this model's entries' tokens
        self._hits = self._misses = self._saves = self._corrupt = self._evictions = 0
        self._read = self._written = 0
        self._load_s = self._save_s = 0.0

    def close(self) -> None:
        """Waits for queued saves to be written."""
        self._writer.shutdown(wait=True)

    # -- the scheduler's hooks (engine thread) -----------------------------------------------------

    def restore(self, slot: int, prompt: Sequence[int], have: int, limit: int) -> int | None:
        """Loads the saved prefix sharing the most of prompt[:limit] (more than `have` tokens, and at
        least min_tokens) into `slot`, cut to the shared part. Returns how many tokens the slot then
        holds, None when nothing was loaded and the slot is untouched, or 0 when llama.cpp refused the
        state (the slot is then empty). A file that fails its checksum is removed."""
        if limit < self.config.min_tokens:
            return None
        found = self._best(prompt[:limit], have)
        if found is None:
            self._misses += have < self.config.min_tokens
            return None
        n, name, entry = found
        start = time.perf_counter()
        data = self._read_entry(name, entry.tokens)  # counts the bytes read
        if data is None:
            self._misses += 1
            return None
        ok = self._state.load_seq_state(slot, data)
        ok = ok and (n == entry.n_tokens or self._state.truncate(slot, n))
        self._load_s += time.perf_counter() - start
        if not ok:  # the file checked out, so most likely no contiguous room in the cache: kept on disk
            log.warning("prefix disk cache: llama.cpp refused %s; not tried again by this process", name)
            self._state.truncate(slot, 0)
            self._refused.add(name)
            self._misses += 1
            return 0
        self._hits += 1
        self._writer.submit(self.index.touch, name)
        return n

    def offer(self, slot: int, prefix: Sequence[int]) -> None:
        """`slot` holds `prefix`, computed for an earlier request: saves it if the rule says so."""
        n = len(prefix)
        if n < self.config.min_tokens or len(self._pending) >= _MAX_PENDING:
            return
        found = self._best(prefix, n - self.config.min_tokens)
        if found is not None:  # a saved prefix already holds all but fewer than min_tokens of it
            self._writer.submit(self.index.touch, found[1])
            return
        name = entry_name(self.model, prefix)
        if name in self._pending:
            return
        start = time.perf_counter()
        state = self._state.seq_state(slot)
        self._save_s += time.perf_counter() - start
        self._pending.add(name)
        self._writer.submit(self._write, name, tuple(prefix), state)

    def stats(self) -> DiskCacheStats:
        entries = self.index.entries
        return DiskCacheStats(
            hits=self._hits,
            misses=self._misses,
            saves=self._saves,
            corrupt=self._corrupt,
            evictions=self._evictions,
            entries=len(entries),
            bytes=sum(e.bytes for e in entries.values()),
            bytes_read=self._read,
            bytes_written=self._written,
            load_seconds=self._load_s,
            save_seconds=self._save_s,
        )

    # -- internals ---------------------------------------------------------------------------------

    def _best(self, tokens: Sequence[int], more_than: int) -> tuple[int, str, Entry] | None:
        """This model's entry sharing the longest prefix with `tokens` (more than `more_than` tokens and
        at least min_tokens), as (tokens shared, name, entry); the shortest entry on ties."""
        entries = self.index.refresh()
        if entries is not self._entries:  # re-read: rebuild the token arrays
            self._entries = entries
            self._arrays = {
                n: np.asarray(e.tokens, np.int32) for n, e in entries.items() if e.model == self.model
            }
        want = np.asarray(tokens, np.int32)
        best: tuple[int, int, str] | None = None
        for name, saved in self._arrays.items():
            if name in self._refused:
                continue
            m = min(len(saved), len(want))
            differ = np.flatnonzero(saved[:m] != want[:m])
            shared = int(differ[0]) if differ.size else m
            if shared > more_than and shared >= self.config.min_tokens:
                key = (shared, -len(saved), name)
                best = max(best, key) if best else key
        return (best[0], best[2], entries[best[2]]) if best else None

    def _read_entry(self, name: str, tokens: Sequence[int]) -> memoryview | None:
        """The state in an entry's file, checked; None (and the file removed) if it is missing or bad."""
        path = self.index.path(name)
        try:
            with path.open("rb") as fh:
                data = bytearray(path.stat().st_size)
                self._read += fh.readinto(data)
            return unpack(data, self.model, tokens)
        except FileNotFoundError:  # evicted by another process since we read the index
            return None
        except (OSError, CorruptEntry) as exc:
            log.warning("prefix disk cache: %s is unusable (%s); removed", path.name, exc)
            self._corrupt += 1
            self._drop(name)
            return None

    def _drop(self, name: str) -> None:
        self.index.path(name).unlink(missing_ok=True)
        self._writer.submit(self.index.remove, [name])

    def _write(self, name: str, prefix: tuple[int, ...], state: bytearray) -> None:
        try:
            payload = pack(self.model, prefix, state)
            size = sum(len(chunk) for chunk in payload)
            entry = Entry(self.model, self.model_path, list(prefix), size, time.time())
            evicted = self.index.add(name, entry, payload)
            if name in self.index.entries:
                self._saves += 1
                self._written += size
            self._evictions += len(evicted)
        except OSError as exc:
            log.warning("prefix disk cache: could not save a %d-token prefix: %s", len(prefix), exc)
        finally:
            self._pending.discard(name)
