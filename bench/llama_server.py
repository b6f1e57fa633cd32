"""Build llama.cpp's `llama-server` from the llama.cpp tree vendored in the llama-cpp-python sdist we run on.

Same llama.cpp source as our engine, so a side-by-side benchmark compares servers, not kernels. The sdist
comes from PyPI (`pip download --no-binary`), the build is cached under $FNCALL_CACHE (or ~/.cache/fncall)
and reused by later runs. Run as a script to build ahead of time: `python bench/llama_server.py`.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path

from fncall.models.provision import default_cache_dir

# Same flags as the Makefile's llama-cpp-python build: AMX kernels segfault on this workplace's CPUs.
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def _cmake_flags() -> list[str]:
    flags = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_BUILD_SERVER=ON",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DBUILD_SHARED_LIBS=OFF",
    ]
    if platform.machine() == "x86_64":
        flags += [f"-DCMAKE_C_FLAGS={NO_AMX}", f"-DCMAKE_CXX_FLAGS={NO_AMX}"]
    return flags


def _fetch_sdist(llama_cpp_version: str, into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        + [f"llama-cpp-python=={llama_cpp_version}", "-d", str(into)],
        check=True,
    )
    (archive,) = into.glob("llama_cpp_python-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / f"llama_cpp_python-{llama_cpp_version}" / "vendor" / "llama.cpp"


def llama_server_path(*, build: bool = True) -> Path:
    """Path to a cached `llama-server` matching the installed llama-cpp-python, built on first use."""
    llama_cpp_version = version("llama-cpp-python")
    home = default_cache_dir() / f"llama-server-{llama_cpp_version}"
    binary = home / "llama-server"
    if binary.exists() or not build:
        return binary
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home) as tmp:
        source = _fetch_sdist(llama_cpp_version, Path(tmp))
        out = Path(tmp) / "build"
        subprocess.run(["cmake", "-S", str(source), "-B", str(out), *_cmake_flags()], check=True)
        jobs = str(os.cpu_count() or 2)
        subprocess.run(["cmake", "--build", str(out), "--target", "llama-server", "-j", jobs], check=True)
        shutil.copy2(out / "bin" / "llama-server", binary.with_suffix(".tmp"))
        binary.with_suffix(".tmp").rename(binary)
    return binary


if __name__ == "__main__":
    print(llama_server_path())
