"""Join model parts into one verified file: streamed, hashed while copying, atomically published.

Nothing here knows about packages or model names; `provision.py` decides which parts and where.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

CHUNK = 4 * 1024 * 1024  # large enough to amortise syscalls, small enough to never hold the model in memory


class IntegrityError(ValueError):
    """The parts or a cached file do not have the expected size or sha256."""


def stamp_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".verified")


def lock_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".lock")


def sha256_file(path: Path) -> str:
    """Hash a file in chunks. Costs ~1 s per GB; `verify_cached` avoids it when the stamp matches."""
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with path.open("rb") as src:
        while n := src.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def _stamp_for(dest: Path, sha256: str) -> dict[str, object]:
    st = dest.stat()
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def write_stamp(dest: Path, sha256: str) -> None:
    stamp_path(dest).write_text(json.dumps(_stamp_for(dest, sha256)) + "\n")


def _stamp_matches(dest: Path, sha256: str) -> bool:
    try:
        recorded = json.loads(stamp_path(dest).read_text())
    except (OSError, ValueError):
        return False
    return bool(recorded == _stamp_for(dest, sha256))


def verify_cached(dest: Path, size: int, sha256: str) -> bool:
    """True if `dest` holds exactly the expected bytes.

    Trusts a stamp whose size and mtime_ns still match the file; otherwise re-hashes (~1 s per GB)
    and refreshes the stamp when the content is right.
    """
    if not dest.is_file() or dest.stat().st_size != size:
        return False
    if _stamp_matches(dest, sha256):
        return True
    if sha256_file(dest) != sha256:
        return False
    write_stamp(dest, sha256)
    return True


def _tmp_prefix(dest: Path) -> str:
    return f".{dest.name}."


def discard(dest: Path) -> None:
    """Remove a cached file, its stamp and any temporary files a killed assembly left (call under the lock).

    The stamp goes first, so a crash never leaves a stamp vouching for junk.
    """
    stamp_path(dest).unlink(missing_ok=True)
    dest.unlink(missing_ok=True)
    for leftover in dest.parent.glob(f"{_tmp_prefix(dest)}*.tmp"):
        leftover.unlink(missing_ok=True)


@contextmanager
def file_lock(path: Path, *, progress: bool = True) -> Iterator[None]:
    """Exclusive advisory lock (POSIX flock) so concurrent processes never assemble the same file twice."""
    with path.open("a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                print(f"fncall: waiting for another process to finish {path.stem}", file=sys.stderr)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_inputs(parts: Sequence[Path], dest: Path, size: int) -> None:
    if not parts:
        raise ValueError("assemble needs at least one part")
    total = sum(p.stat().st_size for p in parts)
    if total != size:  # fail before copying a gigabyte
        raise IntegrityError(f"parts total {total} bytes, expected {size}")
    free = shutil.disk_usage(dest.parent).free
    if free < size:
        raise OSError(errno.ENOSPC, f"need {size} bytes free in {dest.parent}, have {free}")


def _copy_hashing(parts: Sequence[Path], out: Path, *, size: int, desc: str, progress: bool) -> str:
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    bar = tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        file=sys.stderr,
        disable=not progress,
    )
    with bar, out.open("wb") as sink:
        for part in parts:
            with part.open("rb") as src:
                while n := src.readinto(buf):
                    digest.update(view[:n])
                    sink.write(view[:n])
                    bar.update(n)
        sink.flush()
        os.fsync(sink.fileno())  # the stamp written later must never vouch for unflushed bytes
    return digest.hexdigest()


def assemble(parts: Sequence[Path], dest: Path, *, size: int, sha256: str, progress: bool) -> Path:
    """Concatenate `parts` in the given order into `dest`, verify size and sha256, then publish atomically.

    Streams in 4 MiB chunks through a temporary file next to `dest`; on any failure the temporary file is
    removed and `dest` is left untouched. Raises IntegrityError on a size or hash mismatch. Writes the
    `.verified` stamp so later `verify_cached` calls skip re-hashing. Callers should hold `file_lock`.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    _check_inputs(parts, dest, size)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=_tmp_prefix(dest), suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared $FNCALL_CACHE must stay readable by other users
    try:
        got = _copy_hashing(parts, tmp, size=size, desc=dest.name, progress=progress)
        if got != sha256:
            raise IntegrityError(f"assembled sha256 {got}, expected {sha256}")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    write_stamp(dest, sha256)
    return dest
