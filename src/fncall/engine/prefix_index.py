"""The on-disk half of the persistent prefix cache: entry files, their checksums, and an LRU index.

Nothing here knows llama.cpp: an entry's payload is opaque bytes (a sequence's KV state). Layout of the
directory (shared by any number of server processes):

    index.json      {"version": 1, "entries": {name: {model, path, tokens, bytes, used}}}
    index.lock      flock'ed around every read-modify-write of index.json
    <name>.kv       one saved prefix; name = sha256(model key, tokens)[:32]
    .<name>.*.tmp   an entry or index being written (renamed into place when complete)

An entry file is `MAGIC | sha256(body) | body`, body = model key, the prefix's tokens, the state; it is
checked in full before anything is loaded, and a file that fails the check is removed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import struct
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import llama_cpp
import numpy as np

MAGIC = b"FNKV0001"
_DIGEST = 32
_STRAY_AGE = 600.0  # seconds
FORMAT = 1  # part of the model key: a new layout or llama.cpp version never reads old state


class CorruptEntry(ValueError):
    """An entry file is truncated, altered, or not the prefix it is named for."""


def model_key(path: Path) -> str:
    """Identity of a model file without reading it: resolved path, size and mtime (ns), plus the
    llama.cpp version and our format (both decide the state's layout). A model rewritten in place, or
    a new llama-cpp-python, gets a new key; a byte-identical copy elsewhere counts as another model."""
    st = path.stat()
    seed = f"{FORMAT}|{llama_cpp.__version__}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def _token_bytes(tokens: Sequence[int]) -> bytes:
    return np.asarray(tokens, dtype="<i4").tobytes()


def entry_name(model: str, tokens: Sequence[int]) -> str:
    """The content address of a prefix under a model key."""
    return hashlib.sha256(model.encode() + b"\0" + _token_bytes(tokens)).hexdigest()[:32]


def pack(
    model: str, tokens: Sequence[int], state: bytes | bytearray | memoryview
) -> list[bytes | memoryview]:
    """An entry file's bytes, as chunks (the state is not copied)."""
    head = struct.pack("<HI", len(model), len(tokens)) + model.encode() + _token_bytes(tokens)
    digest = hashlib.sha256(head)
    digest.update(state)
    return [MAGIC, digest.digest(), head, memoryview(state)]


def unpack(data: bytes | bytearray, model: str, tokens: Sequence[int]) -> memoryview:
    """The state in an entry file's bytes; CorruptEntry unless the checksum holds and the file is the
    entry for exactly this model and these tokens."""
    view = memoryview(data)
    start = len(MAGIC) + _DIGEST
    if len(data) < start + 6 or view[: len(MAGIC)] != MAGIC:
        raise CorruptEntry("not an entry file (bad magic or too short)")
    if hashlib.sha256(view[start:]).digest() != view[len(MAGIC) : start]:
        raise CorruptEntry("checksum mismatch (truncated or altered)")
    n_model, n_tokens = struct.unpack_from("<HI", data, start)
    pos = start + 6
    if data[pos : pos + n_model] != model.encode():
        raise CorruptEntry("saved for another model")
    pos += n_model
    if data[pos : pos + 4 * n_tokens] != _token_bytes(tokens):
        raise CorruptEntry("saved for other tokens")
    return view[pos + 4 * n_tokens :]


@dataclass(slots=True)
class Entry:
    model: str
    path: str  # the model file it was saved with (a changed model at the same path invalidates it)
    tokens: list[int]  # the prefix (also in the file, where the checksum covers it)
    bytes: int
    used: float  # time.time() of the last save or load: the LRU order, shared by all processes

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


def _atomic_write(dest: Path, chunks: Sequence[bytes | memoryview], *, sync: bool) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            if sync:  # the data reaches the disk before the name does: a crash leaves no torn entry
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class PrefixIndex:
    """The index of one cache directory: which prefixes are saved, for which model, in LRU order.

    Every change happens under an exclusive flock of `index.lock` and is published by renaming a new
    `index.json` into place, so readers (which take no lock) always see a whole index, and two servers
    sharing the directory never lose each other's entries. Costs: each change rewrites the index (a few
    hundred bytes per entry).
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        self._file = root / "index.json"
        self._lock = root / "index.lock"
        self._seen: tuple[int, int, int] | None = None
        self.entries: dict[str, Entry] = {}

    def path(self, name: str) -> Path:
        return self.root / f"{name}.kv"

    def refresh(self) -> dict[str, Entry]:
        """Re-reads index.json if another process (or this one) replaced it; cheap when unchanged."""
        try:
            st = self._file.stat()
        except FileNotFoundError:
            self._seen, self.entries = None, {}
            return self.entries
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if seen != self._seen:
            self.entries = self._read()
            self._seen = seen
        return self.entries

    def _read(self) -> dict[str, Entry]:
        try:
            raw = json.loads(self._file.read_text())
            return {name: Entry(**fields) for name, fields in raw["entries"].items()}
        except (OSError, ValueError, KeyError, TypeError):  # unreadable: start over (files are swept)
            return {}

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Entry]]:
        with self._lock.open("a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                entries = self._read()
                yield entries
                body = {"version": 1, "entries": {n: asdict(e) for n, e in entries.items()}}
                _atomic_write(self._file, [json.dumps(body).encode()], sync=False)
                self._seen = None
                self.refresh()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def add(self, name: str, entry: Entry, payload: Sequence[bytes | memoryview]) -> list[str]:
        """Publishes an entry file (temp file + fsync + rename) and indexes it, then evicts least
        recently used entries (any model) until the directory fits `max_bytes`; returns the evicted
        names. An entry larger than the whole bound is not written."""
        if entry.bytes > self.max_bytes:
            return []
        _atomic_write(self.path(name), payload, sync=True)
        with self._locked() as entries:
            entries[name] = entry
            evicted = _evict(entries, self.max_bytes, keep=name)
        for old in evicted:
            self.path(old).unlink(missing_ok=True)
        return evicted

    def touch(self, name: str) -> None:
        """Marks an entry as just used (LRU)."""
        with self._locked() as entries:
            if name in entries:
                entries[name].used = time.time()

    def remove(self, names: Sequence[str]) -> None:
        """Forgets entries and deletes their files (corrupt, or saved for a model that changed)."""
        for name in names:
            self.path(name).unlink(missing_ok=True)
        with self._locked() as entries:
            for name in names:
                entries.pop(name, None)

    def invalidate(self, model: str, path: str) -> list[str]:
        """Removes every entry saved from the model file at `path` under another key (the file was
        replaced or rewritten), and entry files the index does not list (a crash between rename and
        indexing; a lost index); returns the names removed."""
        with self._locked() as entries:
            stale = [n for n, e in entries.items() if e.path == path and e.model != model]
            for name in stale:
                del entries[name]
            known = set(entries)
            old = time.time() - _STRAY_AGE  # younger files may be another process's, about to be indexed
            stray = [p for p in self.root.glob("*.kv") if p.stem not in known and _mtime(p) < old]
            stray += [p for p in self.root.glob(".*.tmp") if _mtime(p) < old]
            for p in stray:
                p.unlink(missing_ok=True)
        for name in stale:
            self.path(name).unlink(missing_ok=True)
        return stale + [p.name for p in stray]

    @property
    def total_bytes(self) -> int:
        return sum(e.bytes for e in self.entries.values())


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def _evict(entries: dict[str, Entry], max_bytes: int, *, keep: str) -> list[str]:
    total = sum(e.bytes for e in entries.values())
    evicted = []
    for name in sorted(entries, key=lambda n: entries[n].used):
        if total <= max_bytes:
            break
        if name != keep:
            total -= entries.pop(name).bytes
            evicted.append(name)
    return evicted
