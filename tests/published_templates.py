"""The chat templates published in the llama-cpp-python sdist (llama.cpp's `models/templates/*.jinja`).

Fetched from PyPI once with `pip download` (the same version as installed), and only the templates are
kept, under the fncall cache directory; concurrent test runs wait on a file lock and never see a
half-extracted directory. No template text lives in this repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path

from fncall.models.assembly import file_lock, lock_path
from fncall.models.provision import default_cache_dir

_MEMBER = "/vendor/llama.cpp/models/templates/"


def templates_dir() -> Path:
    """Directory of the published `*.jinja` templates; downloads the sdist (about 75 MB) on first use."""
    llama_cpp_version = version("llama-cpp-python")
    dest = default_cache_dir() / f"chat-templates-{llama_cpp_version}"
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(dest), progress=False):
        if dest.is_dir():  # another process finished it while we waited
            return dest
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            staging = Path(tmp) / "templates"
            staging.mkdir()
            _extract(_download(llama_cpp_version, Path(tmp)), staging)
            os.replace(staging, dest)  # atomic: readers see all templates or none
    return dest


def _download(llama_cpp_version: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        + [f"llama-cpp-python=={llama_cpp_version}", "-d", str(into)],
        check=True,
    )
    (archive,) = into.glob("llama_cpp_python-*.tar.gz")
    return archive


def _extract(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() and _MEMBER in member.name and member.name.endswith(".jinja"):
                source = tar.extractfile(member)
                assert source is not None
                (into / Path(member.name).name).write_bytes(source.read())


def template_names() -> list[str]:
    return sorted(p.name for p in templates_dir().glob("*.jinja"))


def template_source(name: str) -> str:
    return (templates_dir() / name).read_text(encoding="utf-8")
