"""The CUDA sources compile with plain nvcc on this CPU-only machine, cleanly and without spills.

Every ``csrc/cuda/*.cu`` uses raw pointers and the CUDA runtime only, so it compiles without PyTorch's
CUDA headers. Each is compiled for sm_80 and sm_90 with all warnings as errors (device and host), and
``ptxas -v`` must report zero spill stores and loads for every kernel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CUDA_SOURCES = sorted((ROOT / "csrc" / "cuda").glob("*.cu"))
ARCHS = ("80", "90")


def _nvcc() -> str | None:
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and (Path(home) / "bin" / "nvcc").exists():
        return str(Path(home) / "bin" / "nvcc")
    return shutil.which("nvcc")


NVCC = _nvcc()
needs_nvcc = pytest.mark.skipif(
    NVCC is None, reason="nvcc not found (set CUDA_HOME or add it to PATH)"
)


def test_there_are_cuda_sources():
    assert CUDA_SOURCES, "csrc/cuda/ holds no .cu file"


@pytest.mark.parametrize("source", CUDA_SOURCES, ids=lambda p: p.name)
def test_cu_files_include_no_torch_headers(source):
    includes = re.findall(r'#include\s*[<"]([^>"]+)[>"]', source.read_text())
    banned = [inc for inc in includes if inc.split("/")[0] in {"torch", "ATen", "c10"}]
    assert not banned, (
        f"{source.name} includes torch headers {banned}; keep them in the binding .cpp"
    )


@needs_nvcc
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("source", CUDA_SOURCES, ids=lambda p: p.name)
def test_nvcc_compiles_without_warnings_or_spills(source, arch, tmp_path):
    cmd = [
        NVCC, "-c", "-std=c++17", "-O3",
        f"-I{ROOT / 'csrc' / 'include'}", f"-I{source.parent}",
        "-gencode", f"arch=compute_{arch},code=sm_{arch}",
        "-Werror", "all-warnings", "-Xcompiler", "-Wall,-Wextra,-Werror",
        "-Xptxas", "-v",
        str(source), "-o", str(tmp_path / "out.o"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"nvcc failed for {source.name} sm_{arch}:\n{log}"
    spills = re.findall(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log)
    assert spills, f"ptxas -v printed no resource usage for {source.name}:\n{log}"
    assert all(s == "0" and ld == "0" for s, ld in spills), f"register spills:\n{log}"
