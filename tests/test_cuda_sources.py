"""The CUDA sources compile with plain nvcc on this CPU-only machine, cleanly and without spills.

Every ``csrc/cuda/*.cu`` uses raw pointers and the CUDA runtime only, so it compiles without PyTorch's
CUDA headers. Each is compiled for sm_80 and sm_90 with all warnings as errors (device and host), and
``ptxas -v`` must report zero spill stores and loads for every kernel, and report every ``__global__``
kernel of the source (so the resource table of ``reproduce/cuda_resources.py``, which uses the same
compile command and parser, is complete).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

import cuda_resources  # noqa: E402  (reproduce/cuda_resources.py)

CUDA_SOURCES = cuda_resources.cuda_sources()
ARCHS = cuda_resources.ARCHS
NVCC = cuda_resources.find_nvcc()
needs_nvcc = pytest.mark.skipif(
    NVCC is None, reason="nvcc not found (set CUDA_HOME or add it to PATH)"
)


def test_there_are_cuda_sources():
    assert CUDA_SOURCES, "csrc/cuda/ holds no .cu file"
    for source in CUDA_SOURCES:
        assert cuda_resources.source_kernels(source), f"{source.name} defines no __global__ kernel"


@pytest.mark.parametrize("source", CUDA_SOURCES, ids=lambda p: p.name)
def test_cu_files_include_no_torch_headers(source):
    includes = re.findall(r'#include\s*[<"]([^>"]+)[>"]', source.read_text())
    banned = [inc for inc in includes if inc.split("/")[0] in {"torch", "ATen", "c10"}]
    assert not banned, (
        f"{source.name} includes torch headers {banned}; keep them in the binding .cpp"
    )


def test_ptxas_report_is_parsed():
    mangled = "_ZN9ads_bench12_GLOBAL__N_115tb_log_w_kernelIfLi32EEEvPKT_S4_PKblPS2_lll"
    log = (
        "ptxas info    : 0 bytes gmem\n"
        f"ptxas info    : Compiling entry function '{mangled}' for 'sm_90'\n"
        f"ptxas info    : Function properties for {mangled}\n"
        "    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n"
        "ptxas info    : Used 40 registers, used 1 barriers, 16 bytes smem, 440 bytes cmem[0]\n"
    )
    (row,) = cuda_resources.parse_ptxas(log)
    assert row == {"mangled": mangled, "arch": "sm_90", "registers": 40, "shared_bytes": 16,
                   "stack_bytes": 8, "spill_stores": 4, "spill_loads": 12, "barriers": 1}  # fmt: skip
    names = ["tb_log_w_kernel", "tb_loss_kernel"]
    assert cuda_resources.kernel_base(mangled, names) == "tb_log_w_kernel"
    full = "void ads_bench::(anonymous namespace)::tb_log_w_kernel<float, 32>(float const*, long)"
    assert cuda_resources.short_name(full, "tb_log_w_kernel") == "tb_log_w_kernel<float, 32>"


@needs_nvcc
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("source", CUDA_SOURCES, ids=lambda p: p.name)
def test_nvcc_compiles_without_warnings_or_spills(source, arch):
    code, log = cuda_resources.compile_source(NVCC, source, arch)
    assert code == 0, f"nvcc failed for {source.name} sm_{arch}:\n{log}"
    kernels = cuda_resources.parse_ptxas(log)
    assert kernels, f"ptxas -v printed no resource usage for {source.name}:\n{log}"
    assert {k["arch"] for k in kernels} == {f"sm_{arch}"}
    spilled = [k["mangled"] for k in kernels if k["spill_stores"] or k["spill_loads"]]
    assert not spilled, f"register spills in {spilled}:\n{log}"
    # Every __global__ kernel of the source appears (at least one instantiation), and nothing else.
    found = {cuda_resources.kernel_base(k["mangled"], cuda_resources.source_kernels(source))
             for k in kernels}  # fmt: skip
    assert found == set(cuda_resources.source_kernels(source)), log


@needs_nvcc
def test_resource_report_lists_every_kernel(tmp_path):
    # The compiles above are cached: this reuses them.
    assert cuda_resources.main(["--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "cuda_resources.json").read_text())
    table = (tmp_path / "cuda_resources.md").read_text()
    for source in CUDA_SOURCES:
        for kernel in cuda_resources.source_kernels(source):
            for arch in ARCHS:
                assert any(r["kernel"] == kernel and r["arch"] == f"sm_{arch}"
                           for r in data["rows"]), (kernel, arch)  # fmt: skip
            assert f"`{kernel}" in table
    assert all(r["spill_stores"] == 0 and r["spill_loads"] == 0 for r in data["rows"])
