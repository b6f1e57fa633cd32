"""The persistent prefix cache without a model: entry files, the LRU index, the save/load rule."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from fncall.engine.prefix_disk import DiskCacheConfig, DiskPrefixCache
from fncall.engine.prefix_index import CorruptEntry, Entry, PrefixIndex, entry_name, model_key, pack, unpack


def _file(model: str, tokens: list[int], state: bytes) -> bytes:
    return b"".join(bytes(chunk) for chunk in pack(model, tokens, state))


def test_entry_round_trips() -> None:
    data = _file("m", [1, 2, 3], b"state")
    assert bytes(unpack(data, "m", [1, 2, 3])) == b"state"
    assert bytes(unpack(bytearray(data), "m", (1, 2, 3))) == b"state"


@pytest.mark.parametrize(
    ("damage", "model", "tokens", "why"),
    [
        (lambda d: d[:-1], "m", [1, 2, 3], "checksum"),
        (lambda d: d[:20], "m", [1, 2, 3], "too short"),
        (lambda d: d[:-2] + bytes([d[-2] ^ 1]) + d[-1:], "m", [1, 2, 3], "checksum"),
        (lambda d: b"XXXX" + d[4:], "m", [1, 2, 3], "magic"),
        (lambda d: d, "other", [1, 2, 3], "another model"),
        (lambda d: d, "m", [1, 2, 4], "other tokens"),
        (lambda d: d, "m", [1, 2], "other tokens"),
    ],
)  # fmt: skip
def test_a_damaged_or_foreign_entry_is_refused(damage, model: str, tokens: list[int], why: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CorruptEntry, match=why):
        unpack(damage(_file("m", [1, 2, 3], b"state" * 10)), model, tokens)


def test_names_address_model_and_tokens() -> None:
    names = {
        entry_name("a", [1, 2]),
        entry_name("b", [1, 2]),
        entry_name("a", [1, 2, 3]),
        entry_name("a", [2, 1]),
    }
    assert len(names) == 4
    assert entry_name("a", (1, 2)) == entry_name("a", [1, 2])


def test_model_key_follows_path_size_and_mtime(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + bytes(10))
    key = model_key(model)
    assert model_key(model) == key
    os.utime(model, ns=(1, 1))
    assert model_key(model) != key
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(model.read_bytes())
    os.utime(copy, ns=(1, 1))
    assert model_key(copy) != model_key(model)


def _add(index: PrefixIndex, name: str, size: int, *, model: str = "m", path: str = "/m") -> list[str]:
    return index.add(name, Entry(model, path, [1], size, time.time()), [bytes(size)])


def test_the_bound_evicts_least_recently_used(tmp_path: Path) -> None:
    index = PrefixIndex(tmp_path, max_bytes=300)
    for name in "abc":
        assert _add(index, name, 100) == []
    index.touch("a")  # b is now the oldest
    assert _add(index, "d", 100) == ["b"]
    assert set(index.refresh()) == {"a", "c", "d"}
    assert sorted(p.stem for p in tmp_path.glob("*.kv")) == ["a", "c", "d"]
    assert _add(index, "huge", 301) == [] and not index.path("huge").exists()
    assert index.total_bytes == 300


def test_a_model_change_invalidates_its_entries_only(tmp_path: Path) -> None:
    index = PrefixIndex(tmp_path, max_bytes=10_000)
    _add(index, "old", 10, model="k1", path="/models/a.gguf")
    _add(index, "other", 10, model="k9", path="/models/b.gguf")
    stray = tmp_path / "stray.kv"
    stray.write_bytes(b"x")
    os.utime(stray, (0, 0))  # old enough not to be another process's file about to be indexed
    young = tmp_path / "young.kv"
    young.write_bytes(b"x")
    removed = index.invalidate("k2", "/models/a.gguf")
    assert sorted(removed) == ["old", "stray.kv"]
    assert set(index.refresh()) == {"other"}
    assert not index.path("old").exists() and young.exists()


def _writer(root: str, who: int) -> None:
    index = PrefixIndex(Path(root), max_bytes=10**9)
    for i in range(20):
        _add(index, f"p{who}-{i}", 10)


def test_processes_sharing_the_directory_lose_no_entries(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), who)) for who in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(PrefixIndex(tmp_path, max_bytes=1).refresh()) == 60
    assert not list(tmp_path.glob(".*.tmp"))


class FakeState:
    """Slots as byte strings: a state is the slot's bytes."""

    def __init__(self) -> None:
        self.slots: dict[int, bytes] = {}
        self.refuse = False

    def seq_state(self, seq_id: int) -> bytearray:
        return bytearray(self.slots.get(seq_id, b""))

    def load_seq_state(self, seq_id: int, data: memoryview) -> bool:
        if self.refuse:
            self.slots.pop(seq_id, None)
            return False
        self.slots[seq_id] = bytes(data)
        return True

    def clear_all(self) -> None:
        self.slots.clear()

    def truncate(self, seq_id: int, n: int) -> bool:
        if n == 0:
            self.slots.pop(seq_id, None)
        elif seq_id in self.slots:
            self.slots[seq_id] += f" cut to {n}".encode()
        return True


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return path


def _cache(root: Path, model: Path, state: FakeState, **kw: int) -> DiskPrefixCache:
    config = DiskCacheConfig(
        root=root, max_bytes=kw.get("max_bytes", 10**6), min_tokens=kw.get("min_tokens", 4)
    )
    return DiskPrefixCache(config, model, state)


def test_a_reused_prefix_is_saved_and_loads_after_a_restart(tmp_path: Path, model_file: Path) -> None:
    state = FakeState()
    cache = _cache(tmp_path / "kv", model_file, state)
    prompt = tuple(range(10))
    assert cache.restore(0, prompt, 0, 9) is None  # nothing saved yet
    state.slots[0] = b"kv of 6"
    cache.offer(0, prompt[:6])
    cache.close()
    assert cache.stats().saves == 1 and cache.stats().misses == 1
    again = _cache(tmp_path / "kv", model_file, fresh := FakeState())
    assert again.restore(2, prompt, 3, 9) == 6
    assert fresh.slots[2] == b"kv of 6"
    assert again.restore(2, prompt, 6, 9) is None  # not longer than what the slot has
    assert again.restore(2, (99, *prompt[1:]), 0, 9) is None  # another prompt
    assert again.restore(2, (*prompt[:5], 99), 0, 5) == 5  # shares 5 of the 6: loaded, then cut
    assert fresh.slots[2] == b"kv of 6 cut to 5"
    assert again.restore(2, prompt, 0, 3) is None  # shares fewer than min_tokens
    stats = again.stats()
    assert (stats.hits, stats.entries, stats.bytes_read) == (2, 1, 2 * stats.bytes)
    again.close()


def test_the_rule_skips_short_known_and_barely_longer_prefixes(tmp_path: Path, model_file: Path) -> None:
    state = FakeState()
    cache = _cache(tmp_path, model_file, state, min_tokens=4)
    prompt = tuple(range(100))
    # 3: short; second 6: saved; 9: adds 3 < 4 tokens to 6; 8: a saved prefix holds all of it
    for n in (3, 6, 6, 9, 10, 20, 8):
        state.slots[0] = f"kv{n}".encode()
        cache.offer(0, prompt[:n])
        cache._writer.submit(lambda: None).result()  # one at a time, as a real engine's steps are
    cache.close()
    assert sorted(e.n_tokens for e in cache.index.refresh().values()) == [6, 10, 20]


@pytest.mark.parametrize("damage", ["truncate", "flip", "refuse"])
def test_a_bad_entry_is_never_loaded(tmp_path: Path, model_file: Path, damage: str) -> None:
    state = FakeState()
    cache = _cache(tmp_path, model_file, state)
    prompt = tuple(range(10))
    state.slots[0] = b"good kv state"
    cache.offer(0, prompt[:8])
    cache.close()
    (path,) = tmp_path.glob("*.kv")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:-3])
    elif damage == "flip":
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 0x40]))
    fresh = FakeState()
    fresh.refuse = damage == "refuse"
    again = _cache(tmp_path, model_file, fresh)
    assert again.restore(1, prompt, 0, 9) == (0 if damage == "refuse" else None)
    again.close()
    assert 1 not in fresh.slots
    assert again.stats().misses == 1 and again.stats().corrupt == (damage != "refuse")
    if damage == "refuse":  # the file checked out (no room in the cache?): kept, not tried again here
        assert path.exists() and again.restore(1, prompt, 0, 9) is None
    else:
        assert not path.exists() and again.index.refresh() == {}


def test_a_changed_model_file_invalidates_its_entries(tmp_path: Path, model_file: Path) -> None:
    state = FakeState()
    cache = _cache(tmp_path / "kv", model_file, state)
    state.slots[0] = b"kv"
    cache.offer(0, tuple(range(5)))
    cache.close()
    os.utime(model_file, ns=(5, 5))
    again = _cache(tmp_path / "kv", model_file, FakeState())
    assert again.index.refresh() == {} and not list((tmp_path / "kv").glob("*.kv"))
    assert again.restore(0, tuple(range(10)), 0, 9) is None
    again.close()


def test_config_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        DiskCacheConfig(root=tmp_path, max_bytes=0)
    with pytest.raises(ValueError, match="min_tokens"):
        DiskCacheConfig(root=tmp_path, max_bytes=1, min_tokens=0)
